"""ARPA backoff files (the text format of SRILM and KenLM) <-> `NGramLM` tables.

Shapes: M_n number of n-grams of order n, n the order.

    \\data\\
    ngram 1=M_1
    ...
    \\1-grams:
    log10 p <TAB> w <TAB> log10 bow
    ...
    \\end\\

Natural logs inside the model, log10 in the file. `<s>`, `</s>`, `<unk>` are rnnlab's
`<bos>`, `<eos>`, `<unk>`. A probability of 0 (mle) is written as -99, SRILM's convention, and
read back as 0. `<s>` is never predicted, whatever the file says (KenLM writes 0 for it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnlab.errors import RnnlabError, expect
from rnnlab.models.ngram import NGramLM, _target_logp
from rnnlab.models.ngram_counts import lookup
from rnnlab.tokenizers import BOS, BOS_ID, EOS, PAD_ID, SPECIALS, UNK

ARPA_NAMES = {BOS: "<s>", EOS: "</s>", UNK: "<unk>"}
FROM_ARPA = {"<s>": BOS, "</s>": EOS, "<unk>": UNK}
LN10 = float(np.log(10.0))
ZERO_LOG10 = -99.0


def _tokens_per_order(keys_per_order: list[np.ndarray], V: int) -> list[np.ndarray]:
    """Unpack trie keys into the token ids of every stored n-gram: (M_n, n) per order."""
    out = [keys_per_order[0][:, None]]
    for keys in keys_per_order[1:]:
        out.append(np.concatenate([out[-1][keys // V], (keys % V)[:, None]], axis=1))
    return out


def write_arpa(model: NGramLM, path: str, itos: Sequence[str]) -> None:
    """Write `model` (an NGramLM) to `path`; `itos[i]` is the string of token id i."""
    tables, V = model.tables(), model.vocab_size
    expect(len(itos) == V, f"itos must have vocab_size={V} entries, got {len(itos)}")
    names = np.array([ARPA_NAMES.get(t, t) for t in itos], dtype=object)
    tokens = _tokens_per_order([keys for keys, _, _ in tables], V)
    rows = []
    for n, ((_, logp, logbow), toks) in enumerate(zip(tables, tokens, strict=True), start=1):
        # <pad> is not a word; n-grams over <s> only (add-k/mle contexts) stay as contexts.
        keep = ~np.any(toks == PAD_ID, axis=1)
        lp = np.maximum(logp / LN10, ZERO_LOG10)
        lp[toks[:, -1] == BOS_ID] = ZERO_LOG10
        text = [" ".join(ws) for ws in names[toks[keep]].tolist()]
        if n < len(tables):
            bow = logbow[keep] / LN10
            body = [
                f"{p:.7g}\t{w}\t{b:.7g}"
                for p, w, b in zip(lp[keep].tolist(), text, bow.tolist(), strict=True)
            ]
        else:
            body = [f"{p:.7g}\t{w}" for p, w in zip(lp[keep].tolist(), text, strict=True)]
        rows.append(body)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for n, body in enumerate(rows, start=1):
            f.write(f"ngram {n}={len(body)}\n")
        for n, body in enumerate(rows, start=1):
            f.write(f"\n\\{n}-grams:\n")
            f.write("\n".join(body))
            f.write("\n")
        f.write("\n\\end\\\n")


def _parse(path: str) -> list[list[list[str]]]:
    """Lines of each n-gram section, split on whitespace."""
    sections: list[list[list[str]]] = []
    declared: list[int] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line == "\\data\\":
                continue
            if line.startswith("ngram ") and not sections:
                declared.append(int(line.split("=")[1]))
            elif line.startswith("\\") and line.endswith("-grams:"):
                sections.append([])
            elif line == "\\end\\":
                break
            elif sections:
                sections[-1].append(line.split())
    if not sections or [len(s) for s in sections] != declared:
        raise RnnlabError(
            f"{path} is not a valid ARPA file: header counts {declared}, sections "
            f"{[len(s) for s in sections]}; expected a \\data\\ header and matching sections"
        )
    return sections


def read_arpa(path: str) -> tuple[NGramLM, list[str]]:
    """Read an ARPA file -> (NGramLM with smoothing='arpa', itos)."""
    sections = _parse(path)
    order = len(sections)
    itos = list(SPECIALS)
    for fields in sections[0]:
        word = FROM_ARPA.get(fields[1], fields[1])
        if word not in SPECIALS:
            itos.append(word)
    stoi = {w: i for i, w in enumerate(itos)}
    V = len(itos)
    model = NGramLM(V, order, smoothing="arpa")
    # Entries per order as (token ids (M, n), log10 p (M,), log10 bow (M,)).
    raw = []
    for n, lines in enumerate(sections, start=1):
        try:
            toks = np.array([[stoi[FROM_ARPA.get(w, w)] for w in f[1 : n + 1]] for f in lines])
        except KeyError as e:
            raise RnnlabError(f"{path}: {n}-gram word {e} missing from the 1-grams") from None
        lp = np.array([float(f[0]) for f in lines])
        bow = np.array([float(f[n + 1]) if len(f) > n + 1 else 0.0 for f in lines])
        raw.append((toks.reshape(len(lines), n), lp, bow))
    _add_missing_prefixes(raw)
    tables = [_unigram_table(raw[0], V)]
    for n in range(2, order + 1):
        toks, lp, bow = raw[n - 1]
        prefix = _find(tables, toks[:, :-1], V)
        keys = prefix * V + toks[:, -1]
        sort = np.argsort(keys, kind="stable")
        logp = np.where(lp <= ZERO_LOG10, -np.inf, lp * LN10)[sort]
        logp[toks[sort, -1] == BOS_ID] = -np.inf
        tables.append((keys[sort], logp, (bow * LN10)[sort]))
        added = np.isnan(logp)
        if added.any():
            # A prefix the file omitted scores what backing off from it would give.
            h, w = toks[sort][added, :-1], toks[sort][added, -1]
            lower = _target_logp(tables[: n - 1], h[:, 1:], w, V)
            logp[added] = tables[n - 2][2][prefix[sort][added]] + lower
    model._set_tables(tables)
    return model, itos


def _add_missing_prefixes(raw: list) -> None:
    """Pruned (SRILM) files may hold "a b c" without "a b"; add such prefixes, probability
    NaN until computed, so that the trie of every order is prefix-closed."""
    for n in range(len(raw), 1, -1):
        toks = raw[n - 1][0]
        lower, lp, bow = raw[n - 2]
        rows = np.ascontiguousarray(toks[:, :-1])
        have = np.ascontiguousarray(lower)
        as_void = np.dtype((np.void, 8 * (n - 1)))
        new = ~np.isin(rows.view(as_void).ravel(), have.view(as_void).ravel())
        if new.any():
            expect(n > 2, "every word of an ARPA n-gram must be a 1-gram")
            extra = np.unique(rows[new], axis=0)
            raw[n - 2] = (
                np.concatenate([lower, extra]),
                np.concatenate([lp, np.full(len(extra), np.nan)]),
                np.concatenate([bow, np.zeros(len(extra))]),
            )


def _unigram_table(entry: tuple, V: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    toks, lp, bow = entry
    logp = np.full(V, -np.inf)
    logbow = np.zeros(V)
    logp[toks[:, 0]] = np.where(lp <= ZERO_LOG10, -np.inf, lp * LN10)
    logbow[toks[:, 0]] = bow * LN10
    logp[[PAD_ID, BOS_ID]] = -np.inf
    return np.arange(V, dtype=np.int64), logp, logbow


def _find(tables: list, toks: np.ndarray, V: int) -> np.ndarray:
    """Index of each n-gram toks (M, n) in tables[n-1], -1 if absent."""
    idx = toks[:, 0].copy()
    for j in range(1, toks.shape[1]):
        idx = lookup(tables[j][0], idx, toks[:, j], V)
    return idx
