"""rnnlab/data/tokenizers.py: vocabulary order and specials, <unk> handling, reading
direction (r2l reverses each line, <eos> last), punctuation splitting with exact
detokenization."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab.data.readers import (
    read_pairs,
)
from rnnlab.data.tokenizers import (
    BOS_ID,
    EOS_ID,
    JOINER,
    PAD_ID,
    UNK_ID,
    PunctTokenizer,
    Tokenizer,
    Vocab,
    encode_split,
)
from rnnlab.errors import RnnlabError
from rnnlab.runconfig import default_config


def test_vocab_specials_and_frequency_order() -> None:
    v = Vocab.build([list("abracadabra")])
    assert v.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert v.itos[4:] == ["a", "b", "r", "c", "d"]  # 5, 2, 2 (b < r), 1, 1
    assert v.encode("abz") == [4, 5, UNK_ID]
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)


def test_word_tokenizer_maps_literal_unk_to_unk_id() -> None:
    tok = Tokenizer.fit(["the <unk> cat", "the dog"], "word")
    assert tok.encode("the <unk> fish") == [tok.vocab.stoi["the"], UNK_ID, UNK_ID]
    assert Tokenizer.from_dict(tok.to_dict()).vocab.itos == tok.vocab.itos


def test_encode_strict_names_the_unknown_characters() -> None:
    tok = Tokenizer.fit(["abc"], "char")
    with pytest.raises(RnnlabError, match="'z'"):
        tok.encode_strict("abz", "--prompt")


def test_stream_vocabulary_keeps_newlines() -> None:
    from rnnlab.data.tokenizers import encode_split
    from rnnlab.tasks.lm import fit_tokenizer

    cfg = default_config()
    cfg.data.format = "text"
    tok = fit_tokenizer(cfg, "ab\nba\n")
    assert "\n" in tok.vocab
    assert UNK_ID not in encode_split(tok, "text", "ab\nba\n")


def test_r2l_reverses_each_line_and_keeps_its_end_marker_last() -> None:
    tok = Tokenizer.fit(["the cat sat", "a dog"], "word")
    ids = encode_split(tok, "text", "the cat sat\na dog\n", "r2l")
    assert tok.vocab.decode(ids) == ["sat", "cat", "the", "<eos>", "dog", "a", "<eos>"]
    l2r = encode_split(tok, "text", "the cat sat\na dog\n", "l2r")
    assert len(l2r) == len(ids) and l2r.count(EOS_ID) == 2  # one <eos> per line, no extra
    assert encode_split(tok, "lines", ["the cat sat"], "r2l") == [tok.encode("sat cat the")]
    chars = Tokenizer.fit(["abc\nde"], "char")
    assert chars.decode(encode_split(chars, "text", "abc\nde", "r2l")) == "cba\ned"


# 80 Tatoeba lines, 3 columns
PAIRS = Path(__file__).resolve().parents[1] / "fixtures" / "pairs_tiny.tsv"


@pytest.mark.parametrize("text,tokens", [
    ("Go!", ["Go", f"{JOINER}!"]),
    ("Va !", ["Va", "!"]),
    ("J'ai 20 ans.", ["J", f"{JOINER}'{JOINER}", "ai", "20", "ans", f"{JOINER}."]),
    ("Est-ce vrai ?", ["Est", f"{JOINER}-{JOINER}", "ce", "vrai", "?"]),
    ('"Non", dit-il.', [f'"{JOINER}', "Non", f'{JOINER}"', f"{JOINER},", "dit",
                        f"{JOINER}-{JOINER}", "il", f"{JOINER}."]),
    ("C'est « super » !", ["C", f"{JOINER}'{JOINER}", "est", "«", "super", "»", "!"]),
    ("Quoi ?!", ["Quoi", "?", f"{JOINER}!"]),
    ("Tom's 3.5 kg…", ["Tom", f"{JOINER}'{JOINER}", "s", "3", f"{JOINER}.{JOINER}", "5", "kg",
                      f"{JOINER}…"]),
])
def test_punctuation_split_and_exact_detokenization(text, tokens):
    assert PunctTokenizer.split(text) == tokens
    assert PunctTokenizer.join(tokens) == text


def test_detokenization_round_trips_every_fixture_line():
    for s, t in read_pairs(PAIRS):
        for x in (s, t):
            assert PunctTokenizer.join(PunctTokenizer.split(x)) == x
