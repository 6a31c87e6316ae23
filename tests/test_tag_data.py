"""CoNLL-U in and out for tagging: syntactic words only (multiword tokens `1-2` and empty
nodes `8.1` skipped), the tag column written back with every other byte unchanged (comments
that are not `key = value` included), plain text, and one error line for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab.datasets import (
    looks_like_conllu,
    read_conllu,
    read_text,
    read_token_lines,
    write_conllu_tags,
)
from rnnlab.errors import RnnlabError

TINY = Path(__file__).parent / "data" / "tag_tiny.conllu"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PUD = SHARED / "heldout_ud" / "en_pud-ud-test.conllu"


def test_reader_skips_multiword_tokens_and_empty_nodes():
    sents = read_conllu(TINY)
    assert sents[0] == (["Do", "n't", "stop", "the", "music", "."],
                        ["AUX", "PART", "VERB", "DET", "NOUN", "PUNCT"])
    words, tags = sents[1]
    assert len(words) == 9 and words[-2:] == ["too", "."]  # 8.1 `sat` is not a word
    assert read_conllu(TINY, "xpos")[2][1] == ["PRP", "VBP", "JJ", "NNS"]


@pytest.mark.parametrize("column,index", [("upos", 3), ("xpos", 4)])
def test_round_trip_is_byte_identical_except_the_tag_column(column, index):
    raw = read_text(TINY)
    gold = [t for _, t in read_conllu(TINY, column)]
    assert write_conllu_tags(raw, gold, column) == raw  # the gold tags give the file back
    other = [["X"] * len(t) for t in gold]
    out = write_conllu_tags(raw, other, column)
    a, b = raw.split("\n"), out.split("\n")
    assert len(a) == len(b)
    changed = 0
    for x, y in zip(a, b, strict=True):
        if x.split("\t")[0].isdigit():
            cx, cy = x.split("\t"), y.split("\t")
            assert cy[index] == "X"
            assert cx[:index] + cx[index + 1:] == cy[:index] + cy[index + 1:]
            changed += 1
        else:  # comments (also `# Checktree: ...`), 1-2, 8.1 and blank lines: untouched
            assert x == y
    assert changed == sum(len(t) for t in gold)


@pytest.mark.skipif(not PUD.is_file(), reason="needs ../shared/data")
def test_round_trip_of_a_real_file_with_empty_nodes_and_free_comments():
    raw = read_text(PUD)
    assert write_conllu_tags(raw, [t for _, t in read_conllu(PUD)], "upos") == raw


def test_tag_counts_that_do_not_fit_are_refused():
    raw = read_text(TINY)
    gold = [t for _, t in read_conllu(TINY)]
    with pytest.raises(RnnlabError):
        write_conllu_tags(raw, gold[:-1], "upos")
    with pytest.raises(RnnlabError):
        write_conllu_tags(raw, [t[:-1] for t in gold], "upos")


def test_plain_text_and_format_detection(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("The cat sat .\n\nI  like apples\n")
    assert read_token_lines(p) == [["The", "cat", "sat", "."], [], ["I", "like", "apples"]]
    assert not looks_like_conllu(p.read_text())
    assert looks_like_conllu(TINY.read_text())


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"just some words\nand more\n", "not the 10 of CoNLL-U"),
    ("1\tcaf\xe9\t_\tNOUN\t_\t_\t0\troot\t_\t_\n".encode("latin-1"), "not valid UTF-8"),
    (b"1\tthe\tthe\t_\tDT\t_\t0\troot\t_\t_\n\n", "no UPOS"),
    (b"# only a comment\n\n", "no CoNLL-U sentence"),
])
def test_bad_files_give_one_clear_error(tmp_path, content, needle):
    p = tmp_path / "bad.conllu"
    p.write_bytes(content)
    with pytest.raises(RnnlabError, match=needle):
        read_conllu(p, "upos", "--data")
