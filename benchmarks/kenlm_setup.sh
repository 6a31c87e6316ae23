#!/usr/bin/env bash
# Build KenLM's lmplz / query / build_binary outside the repo, from the PyPI source
# distribution of `kenlm` (0.3.0 ships the full C++ tree, lm/builder included).
# Used by benchmarks/ngram.py (it looks in $KENLM_BIN, $PATH, then /tmp/kenlm/build/bin).
# Debian 12; about 3 minutes on 2 cores.
set -euo pipefail
PREFIX=${1:-/tmp/kenlm}
PIP=${PIP:-pip}

apt-get update
apt-get install -y libboost-program-options-dev libboost-system-dev libboost-thread-dev \
    libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev cmake build-essential

work=$(mktemp -d)
# --no-build-isolation: only the sdist is wanted, not its Python build dependencies; pip
# still prepares its metadata with the local setuptools, which needs `wheel` (a fresh venv
# lacks it: "invalid command 'bdist_wheel'").
"$PIP" install -q setuptools wheel
"$PIP" download --no-deps --no-binary :all: --no-build-isolation kenlm==0.3.0 -d "$work"
tar xzf "$work"/kenlm-0.3.0.tar.gz -C "$work"
rm -rf "$PREFIX"
mv "$work"/kenlm-0.3.0 "$PREFIX"
mkdir -p "$PREFIX/build"
cd "$PREFIX/build"
cmake .. -DCMAKE_BUILD_TYPE=Release
make -j"$(nproc)" lmplz query build_binary
echo "KenLM binaries in $PREFIX/build/bin"
