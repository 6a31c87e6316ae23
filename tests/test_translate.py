"""Translation's data side and task: the pairs reader and its errors, normalization and the
exact detokenization, the grouped split (no source in two parts), length-bucketed pair
batches, BLEU/chrF equal to sacrebleu called directly with its signature printed, and a
tiny train + evaluate + translate + resume through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnlab.batching import PairBatches
from rnnlab.cli import main
from rnnlab.datasets import grouped_split, normalize, read_pairs, source_key
from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.tokenizers import BOS_ID, EOS_ID, JOINER, PAD_ID, PunctTokenizer

PAIRS = Path(__file__).parent / "data" / "pairs_tiny.tsv"  # 80 Tatoeba lines, 3 columns


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


# -- batches ---------------------------------------------------------------------------------
def test_pair_batches_cover_every_pair_once_and_resume_mid_epoch():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 12, (2, 103), generator=g).tolist()
    src = [torch.randint(4, 50, (n,), generator=g).tolist() for n in lengths[0]]
    tgt = [torch.randint(4, 50, (n,), generator=g).tolist() for n in lengths[1]]
    b = PairBatches(src, tgt, 8, shuffle=True, seed=3)
    assert len(b) == 13
    seen = [i for idx, _ in b.indexed_epoch(1) for i in idx]
    assert sorted(seen) == list(range(103))
    assert [x for x, _ in b.indexed_epoch(1, 5)] == [x for x, _ in b.indexed_epoch(1)][5:]
    assert [x for x, _ in b.indexed_epoch(2)] != [x for x, _ in b.indexed_epoch(1)]
    idx, batch = next(iter(b.indexed_epoch(0)))
    for row, i in enumerate(idx):
        n, m = len(src[i]), len(tgt[i])
        assert batch.src_lengths[row] == n and batch.src[row, :n].tolist() == src[i]
        assert (batch.src[row, n:] == PAD_ID).all()
        assert batch.inputs[row, : m + 1].tolist() == [BOS_ID, *tgt[i]]
        assert batch.targets[row, : m + 1].tolist() == [*tgt[i], EOS_ID]
        assert (batch.targets[row, m + 1:] == IGNORE_INDEX).all()
    # bucketing: sorting pools by length leaves less padding than random batches
    pad = sum(int((x.src == PAD_ID).sum()) for x in b.epoch(0))
    assert pad < sum(8 * max(len(src[i]) for i in range(k, min(k + 8, 103))) - sum(
        len(src[i]) for i in range(k, min(k + 8, 103))) for k in range(0, 103, 8))


# -- scores ----------------------------------------------------------------------------------
def test_bleu_and_chrf_equal_sacrebleu_called_directly():
    import sacrebleu

    from rnnlab.tasks.translate_eval import bucket_scores, corpus_scores

    hyps = ["Je suis malade.", "Il fait froid !", "Va !", "C'est une belle journée ."]
    refs = ["Je suis malade.", "Il fait très froid !", "Pars !", "C'est une belle journée."]
    m = corpus_scores(hyps, refs)
    assert m["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-12)
    assert m["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-12)
    assert m["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert m["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs], tokenize="13a").score)
    srcs = ["I am sick.", "It is cold out there tonight, very cold.", "Go!", "Nice day."]
    by = {b["words"]: b for b in bucket_scores(srcs, hyps, refs)}
    assert by["1-5"]["sentences"] == 3 and by["6-10"]["sentences"] == 1
    assert by["6-10"]["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu([hyps[1]], [[refs[1]]]).score)


# -- the task through the CLI ----------------------------------------------------------------
TINY = ["--task", "translate", "--data", str(PAIRS), "--min-freq", "1", "--hidden-size", "16",
        "--embedding-dim", "8", "--batch-size", "8", "--eval-batch-size", "16", "--threads",
        "1", "--no-progress", "--val-fraction", "0.1", "--test-fraction", "0.1",
        "--final-beams", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mt") / "run"
    assert main(["train", *TINY, "--max-steps", "6", "--eval-every", "3", "--out",
                 str(out)]) == 0
    return out


def test_train_records_the_split_and_the_test_scores(run):
    split = json.loads((run / "split.json").read_text())
    assert split["sources_in_two_parts"] == 0
    assert split["sizes"]["train"] + split["sizes"]["val"] + split["sizes"]["test"] == 80
    assert split["distinct_sources"]["test"] == 4 and split["split_seed"] == 1337
    assert set(split["digests"]) == {"train", "val", "test"}
    final = json.loads((run / "final.json").read_text())
    assert {"test_greedy", "test_beam2", "val"} <= set(final)
    assert final["test_beam2"]["num_beams"] == 2
    lines = (run / "test_translations.tsv").read_text().splitlines()
    assert len(lines) == 1 + split["sizes"]["test"]


def test_evaluate_prints_the_signature_and_json_keys(run, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json", "--strategy", "beam_search", "--num-beams",
                 "3"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert {"bleu", "chrf", "sentences", "signature", "strategy",
            "seconds_per_sentence"} <= set(m)
    assert m["strategy"] == "beam_search" and m["num_beams"] == 3
    assert main(["evaluate", str(run), "--data", str(PAIRS), "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "sacreBLEU signature: nrefs:1|case:mixed|eff:no|tok:13a" in out
    assert "(10 sentences, greedy" in out


def test_translate_and_attention_png(run, tmp_path, capsys):
    png = tmp_path / "att.png"
    capsys.readouterr()
    assert main(["translate", str(run), "Go!", "Be calm.", "--json", "--attention-png",
                 str(png)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in rows] == ["Go!", "Be calm."]
    assert png.stat().st_size > 1000 and (tmp_path / "att-2.png").is_file()
    a = torch.tensor(rows[0]["attention"])
    assert a.shape == (len(rows[0]["target_tokens"]), len(rows[0]["source_tokens"]))
    assert torch.allclose(a.sum(1), torch.ones(len(a)), atol=1e-5)
    f = tmp_path / "in.txt"
    f.write_text("Go!\n\nWho?\n")
    assert main(["translate", str(run), "--file", str(f), "--strategy", "beam_search"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_a_source_far_longer_than_max_len_stops_at_the_cap_with_a_note(run, capsys):
    max_len = json.loads((run / "config.json").read_text())["data"]["max_len"]
    long = " ".join(["Go"] * (4 * max_len))
    capsys.readouterr()
    assert main(["translate", str(run), long, "--json"]) == 0
    out, err = capsys.readouterr()
    r = json.loads(out)
    assert len(r["tokens"]) <= 2 * max_len + 10  # not 2 S + 10 = 8 L + 10
    assert f"longer than the {max_len} the model was trained on" in err
    assert main(["translate", str(run), long, "--json", "--max-new-tokens", "3"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)["tokens"]) <= 3 and "longer than" not in err


@pytest.mark.parametrize("argv,needle", [
    (["translate", "{run}"], "nothing to translate"),
    (["translate", "{run}", "   "], "empty sentence"),
    (["translate", "{run}", "Go!", "--strategy", "nope"], "--strategy must be one of"),
    (["evaluate", "{run}", "--limit", "0"], "--limit must be >= 1"),
    (["evaluate", "{run}", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["evaluate", "{run}", "--format", "text"], "drop --format"),
])
def test_bad_input_is_one_error_line(run, argv, needle, user_error):
    assert needle in user_error([a.replace("{run}", str(run)) for a in argv])


def test_config_combinations_are_refused(user_error):
    assert "needs --data" in user_error(["train", "--task", "translate", "--dry-run"])
    base = ["train", "--task", "translate", "--data", "x.tsv", "--dry-run"]
    assert "both 0" in user_error([*base, "--tgt-col", "0"])
    assert "must be even" in user_error([*base, "--hidden-size", "7"])
    assert "needs --attention" in user_error([*base, "--attention", "none",
                                              "--input-feeding"])


def test_resume_continues_to_the_same_weights(tmp_path):
    from rnnlab.checkpoint import load_checkpoint

    flags = [*TINY, "--schedule", "constant", "--eval-every", "2", "--final-beams", "0",
             "--dropout", "0.3"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    assert main(["train", *flags, "--max-steps", "8", "--out", str(ref)]) == 0
    assert main(["train", *flags, "--max-steps", "4", "--out", str(cut)]) == 0
    assert main(["train", "--out", str(cut), "--resume", "--max-steps", "8", "--threads",
                 "1", "--no-progress"]) == 0
    a, b = (load_checkpoint(p / "last.pt") for p in (ref, cut))
    assert a["trainer"]["step"] == b["trainer"]["step"] == 8
    for k, v in a["model_state"].items():
        assert torch.equal(v, b["model_state"][k]), k
