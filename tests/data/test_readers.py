"""rnnlab/data/readers.py: line and text readers, seeded and contiguous splits, the embedded
names; labeled data (tsv and folder readers, cp1252 included, duplicate and conflict counts,
stratified seeded splits and folds); sentence pairs (chosen columns, errors naming file and
line, normalization, the grouped split); CoNLL-U in and out (syntactic words only, the tag
column written back with every other byte unchanged, plain text, one error line for bad
files)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from rnnlab.data.readers import (
    dedupe,
    embedded_names,
    grouped_split,
    looks_like_conllu,
    normalize,
    read_conllu,
    read_labeled_folder,
    read_labeled_tsv,
    read_lines,
    read_pairs,
    read_text,
    read_token_lines,
    source_key,
    split_lines,
    split_text,
    stratified_folds,
    stratified_split,
    write_conllu_tags,
)
from rnnlab.errors import RnnlabError


def test_embedded_names_are_real_spanish_names() -> None:
    names = embedded_names()
    assert 1400 <= len(names) <= 2500
    assert len(set(names)) == len(names)
    assert {"María", "José", "Alejandro"} <= set(names)


def test_split_lines_is_seeded_and_disjoint() -> None:
    lines = [f"n{i}" for i in range(100)]
    train, val, test = split_lines(lines, 7, 10, 20)
    shuffled = list(lines)
    random.Random(7).shuffle(shuffled)
    assert test == shuffled[:20] and val == shuffled[20:30] and train == shuffled[30:]
    assert split_lines(lines, 7, 10, 20) == (train, val, test)


def test_split_text_is_contiguous() -> None:
    text = "".join(f"line {i}\n" for i in range(1000))
    a, b, c = split_text(text, 0.1, 0.1)
    assert a + b + c == text and b.startswith("line") and c.startswith("line")
    assert abs(len(c) / len(text) - 0.1) < 0.01


@pytest.mark.parametrize(
    "content,match",
    [(b"", "empty"), (b"ab\x00cd", "binary"), (b"caf\xe9\n", "not valid UTF-8")],
)
def test_readers_refuse_bad_files(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "f.txt"
    p.write_bytes(content)
    with pytest.raises(RnnlabError, match=match):
        read_text(p)
    with pytest.raises(RnnlabError, match="does not exist"):
        read_lines(tmp_path / "missing.txt")


TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tag_tiny.conllu"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
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


# 80 Tatoeba lines, 3 columns
PAIRS = Path(__file__).resolve().parents[1] / "fixtures" / "pairs_tiny.tsv"


# -- reader ----------------------------------------------------------------------------------
def test_reader_takes_the_chosen_columns_and_ignores_attribution():
    pairs = read_pairs(PAIRS)
    assert len(pairs) == 80
    assert pairs[0] == ("Go.", "Va !")
    assert all("Attribution" not in s + t for s, t in pairs)
    back = read_pairs(PAIRS, src_col=1, tgt_col=0)
    assert back[0] == ("Va !", "Go.")
    assert read_pairs(PAIRS, 0, 2)[0][1].startswith("CC-BY 2.0")


@pytest.mark.parametrize("content,needle", [
    (b"Go.\tVa !\nno tab here\n", "line 2 of"),
    (b"Go.\tVa !\nHi.\t  \n", "line 2 of"),
    (b"Go.\tVa !\n\tSalut !\n", "empty source"),
    (b"Go.\tVa !\nCaf\xe9\tcaf\xe9\n", "line 2 of"),
])
def test_reader_errors_name_the_file_and_line(tmp_path, content, needle):
    f = tmp_path / "bad.tsv"
    f.write_bytes(content)
    with pytest.raises(RnnlabError) as e:
        read_pairs(f)
    assert needle in str(e.value) and "bad.tsv" in str(e.value)


def test_reader_error_kinds(tmp_path):
    f = tmp_path / "p.tsv"
    f.write_bytes(b"Go.\tVa !\nHi.\tSalut !\n")
    with pytest.raises(RnnlabError, match="has 2 columns"):
        read_pairs(f, 0, 2)
    f.write_bytes(b"a\tb\nc d\n")
    with pytest.raises(RnnlabError, match="no tab"):
        read_pairs(f)
    f.write_bytes(b"a\t\n")
    with pytest.raises(RnnlabError, match="empty target"):
        read_pairs(f)
    f.write_bytes(b"\xff\xfe\tb\n")
    with pytest.raises(RnnlabError, match="not valid UTF-8"):
        read_pairs(f)
    with pytest.raises(RnnlabError, match="does not exist"):
        read_pairs(tmp_path / "missing.tsv")


# -- normalization and detokenization --------------------------------------------------------
def test_normalize_keeps_the_text_readable():
    assert normalize("  Tu\u00a0viens\u202f?  C\u2019est\tbien. ") == "Tu viens ? C'est bien."
    assert normalize("Soft\u00adhyphen\u200b") == "Softhyphen"
    assert normalize("Bonjour Tom", lowercase=True) == "bonjour tom"


# -- the grouped split -----------------------------------------------------------------------
def test_grouped_split_keeps_every_source_in_one_part():
    pairs = read_pairs(PAIRS)
    train, val, test = grouped_split(pairs, 7, 0.2, 0.2)
    assert sorted(train + val + test) == sorted(pairs)  # every pair once
    keys = [{source_key(s) for s, _ in part} for part in (train, val, test)]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    n = len({source_key(s) for s, _ in pairs})  # 43 distinct sources
    assert n == 43 and len(keys[2]) == round(0.2 * n) == len(keys[1])
    assert grouped_split(pairs, 7, 0.2, 0.2) == (train, val, test)  # seeded
    assert grouped_split(pairs, 8, 0.2, 0.2) != (train, val, test)


def test_grouped_split_case_folds_and_refuses_an_empty_training_part():
    pairs = [("Hi.", "Salut."), ("hi.", "Salut !"), ("Go.", "Va !"), ("Run!", "Cours !")]
    train, val, test = grouped_split(pairs, 0, 0.0, 0.34)
    assert len(test) in (1, 2) and len({s.lower() for s, _ in test}) == 1
    assert {s.lower() for s, _ in test}.isdisjoint({s.lower() for s, _ in train})
    with pytest.raises(RnnlabError, match="leave no training sources"):
        grouped_split(pairs, 0, 0.5, 0.5)


def test_tsv_reader_takes_the_label_column_and_keeps_other_tabs(tmp_path):
    f = tmp_path / "a.tsv"
    f.write_text("good film\tpos\nbad\tone\tneg\n\n")
    assert read_labeled_tsv(f) == [("good film", "pos"), ("bad\tone", "neg")]
    g = tmp_path / "b.tsv"
    g.write_text("ham\tGo until jurong\nspam\tFree entry\n")
    assert read_labeled_tsv(g, label_column=0) == [("Go until jurong", "ham"),
                                                   ("Free entry", "spam")]


def test_folder_reader_labels_by_stem_or_by_suffix_and_reads_cp1252(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "Arabic.txt").write_text("Khoury\nNahas\n")
    (d / "Irish.txt").write_text("Adam\n")
    (d / "README").write_text("not a class\n")
    assert read_labeled_folder(d) == [("Khoury", "Arabic"), ("Nahas", "Arabic"),
                                      ("Adam", "Irish")]
    mr = tmp_path / "mr"
    mr.mkdir()
    # 0x85 is an ellipsis in cp1252; a form feed is a line break to str.splitlines, not here
    (mr / "rt-polarity.pos").write_bytes(b"a gem \x85 truly\x0c\nfun\n")
    (mr / "rt-polarity.neg").write_bytes("dull\n".encode("cp1252"))
    (mr / "rt-polaritydata.README.1.0.txt").write_text("readme\n")
    got = read_labeled_folder(mr, "rt-polarity.*", "cp1252")
    assert got == [("dull", "neg"), ("a gem \u2026 truly\x0c", "pos"), ("fun", "pos")]


def test_dedupe_counts_duplicates_and_conflicts():
    exs = [("ann", "a"), ("ann", "a"), ("bob", "a"), ("bob", "b"), ("cy", "c"), ("ann", "a")]
    kept, r = dedupe(exs)
    assert kept == [("ann", "a"), ("bob", "a"), ("bob", "b"), ("cy", "c")]
    assert r == {"examples": 6, "distinct": 4, "duplicates": 2, "conflicting_texts": 1,
                 "kept": 4}
    assert dedupe(exs, drop=False)[0] == exs


def test_stratified_split_keeps_proportions_and_is_seeded():
    exs = [(f"x{i}", "big") for i in range(100)] + [(f"y{i}", "small") for i in range(10)] + [
        ("z0", "tiny"), ("z1", "tiny")]
    train, val, test = stratified_split(exs, 7, 0.1, 0.2)
    assert Counter(lab for _, lab in test) == {"big": 20, "small": 2}
    assert Counter(lab for _, lab in val) == {"big": 10, "small": 1}
    assert Counter(lab for _, lab in train)["tiny"] == 2  # too few to split: training only
    assert not {t for t, _ in train} & {t for t, _ in test}
    assert len(train) + len(val) + len(test) == len(exs)
    assert (train, val, test) == stratified_split(exs, 7, 0.1, 0.2)
    assert test != stratified_split(exs, 8, 0.1, 0.2)[2]


def test_stratified_folds_partition_the_data_evenly():
    exs = [(f"x{i}", "a") for i in range(23)] + [(f"y{i}", "b") for i in range(7)]
    folds = stratified_folds(exs, 5, 0)
    assert sorted(ex for f in folds for ex in f) == sorted(exs)
    assert [len(f) for f in folds] == [6] * 5
    for f in folds:
        assert Counter(lab for _, lab in f)["b"] in (1, 2)


@pytest.mark.skipif(not (SHARED / "names_by_language").is_dir(), reason="../shared absent")
def test_names_by_language_duplicates_are_dropped_before_the_split():
    exs = read_labeled_folder(SHARED / "names_by_language")
    assert len(exs) == 20074 and Counter(lab for _, lab in exs)["Arabic"] == 2000
    kept, r = dedupe(exs)
    assert Counter(lab for _, lab in kept)["Arabic"] == 108
    train, _, test = stratified_split(kept, 1337, 0.1, 0.1)
    assert not set(train) & set(test)
