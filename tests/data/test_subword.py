"""Subword units (SentencePiece): exact detokenization, a checkpoint round trip that encodes
the same ids, determinism, unseen words read as known pieces, the optional dependency's
error, and a tiny translation run with --subword bpe through the CLI."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.data.readers import read_pairs
from rnnlab.data.tokenizers import UNK_ID, Tokenizer
from rnnlab.errors import RnnlabError

pytest.importorskip("sentencepiece")

# 80 Tatoeba lines, 3 columns
PAIRS = Path(__file__).resolve().parents[1] / "fixtures" / "pairs_tiny.tsv"


@pytest.fixture(scope="module")
def french() -> list[str]:
    return [t for _, t in read_pairs(str(PAIRS), 0, 1, "--data", False)]


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_pieces_detokenize_exactly_and_survive_a_round_trip(french, kind):
    tok = Tokenizer.fit_subword(french, kind, 120)
    for text in french:
        ids = tok.encode(text)
        assert UNK_ID not in ids
        assert tok.decode(ids) == text
    again = Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.level == "subword" and again.vocab.itos == tok.vocab.itos
    assert all(again.encode(t) == tok.encode(t) for t in french)


def test_training_is_deterministic(french):
    a, b = (Tokenizer.fit_subword(french, "bpe", 100) for _ in range(2))
    assert a.to_dict() == b.to_dict()


def test_an_unseen_word_reads_as_known_pieces(french):
    tok = Tokenizer.fit_subword(french, "bpe", 150)
    word = "Tomtom"  # not in the file; its letters are
    assert all(word not in t for t in french)
    ids = tok.encode(word)
    assert UNK_ID not in ids and len(ids) >= 2 and tok.decode(ids) == word


def test_a_missing_package_is_a_clear_error(monkeypatch, french):
    real = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name == "sentencepiece":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    with pytest.raises(RnnlabError, match=r"pip install 'rnnlab\[subword\]'"):
        Tokenizer.fit_subword(french, "bpe", 100)


TINY = ["--task", "translate", "--data", str(PAIRS), "--hidden-size", "16",
        "--embedding-dim", "8", "--batch-size", "8", "--eval-batch-size", "16", "--threads",
        "1", "--no-progress", "--val-fraction", "0.1", "--test-fraction", "0.1",
        "--final-beams", "2", "--subword", "bpe", "--subword-vocab", "100"]


def test_a_subword_run_trains_evaluates_and_translates(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--max-steps", "4", "--eval-every", "2", "--out",
                 str(out)]) == 0
    final = json.loads((out / "final.json").read_text())
    assert {"test_greedy", "test_beam2"} <= set(final)
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["sentences"] == final["test_greedy"]["sentences"]
    assert m["bleu"] == pytest.approx(final["test_greedy"]["bleu"])
    assert main(["translate", str(out), "Unseenword here.", "--json"]) == 0
    assert capsys.readouterr().out.strip()


def test_subword_vocab_without_subword_is_refused(user_error):
    base = ["train", "--task", "translate", "--data", "x.tsv", "--dry-run"]
    # --defaults auto learns BPE pieces: --subword-vocab alone sizes them
    assert "add --subword bpe" in user_error([*base, "--defaults", "fixed", "--subword-vocab",
                                              "500"])
    assert "add --subword bpe" in user_error([*base, "--subword", "none", "--subword-vocab",
                                              "500"])
    assert "--subword" in user_error([*base, "--subword", "wordpiece"])
    assert "--subword-vocab" in user_error([*base, "--subword", "bpe", "--subword-vocab", "3"])
