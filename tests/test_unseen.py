"""Text a user gives may hold tokens the model never saw: at word level they are read as
`<unk>` (with a note saying how many); at character level they are refused unless the
vocabulary has a trained `<unk>` by choice (--min-freq). A failing end-of-training sample
never fails a run whose checkpoints are written."""

from __future__ import annotations

import json
import math

from rnnlab.cli import main

FAST = ["--max-steps", "2", "--eval-every", "1", "--threads", "1", "--no-progress",
        "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "2", "--seq-len", "4"]
CORPUS = "the cat sat on the mat\na dog sat on a log\n" * 20


def _word_run(tmp_path, *extra):
    f = tmp_path / "w.txt"
    f.write_text(CORPUS)
    out = tmp_path / "run"
    assert main(["train", "--data", str(f), "--val-data", str(f), "--format", "text",
                 "--level", "word", "--samples", "1", *FAST, *extra, "--out", str(out)]) == 0
    return out


def test_word_level_prompts_scores_and_files_read_unseen_words_as_unk(tmp_path, capsys):
    out = _word_run(tmp_path)
    capsys.readouterr()
    assert main(["generate", str(out), "--prompt", "the zebra sat", "--num", "1",
                 "--max-new-tokens", "3"]) == 0
    r = capsys.readouterr()
    assert r.out.startswith("the zebra sat")
    assert "note: 1 of 3 words of --prompt are outside the model's vocabulary" in r.err
    assert main(["score", str(out), "a zebra and a yak", "--json"]) == 0
    r = capsys.readouterr()
    s = json.loads(r.out)
    assert s["unknown"] == ["zebra", "and", "yak"] and math.isfinite(s["logprob"])
    assert [t for t, _ in s["token_logprobs"]][:2] == ["a", "<unk>"]
    assert "3 of 5 words" in r.err
    new = tmp_path / "new.txt"
    new.write_text("the zebra sat\n")
    assert main(["evaluate", str(out), "--data", str(new), "--json"]) == 0
    r = capsys.readouterr()
    assert json.loads(r.out)["unknown"] == 1 and "scored as <unk>" in r.err


def test_character_level_refuses_unseen_characters_unless_unk_was_chosen(
        tmp_path, names_file, user_error, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(names_file), *FAST[:-2], "--samples", "0",
                 "--out", str(out)]) == 0
    assert "outside the model's vocabulary" in user_error(["score", str(out), "zoë"])
    bad = tmp_path / "bad.txt"
    bad.write_text("ZOE\n")
    assert "cannot score them" in user_error(["evaluate", str(out), "--data", str(bad)])
    cut = tmp_path / "cut"
    assert main(["train", "--data", str(names_file), *FAST[:-2], "--samples", "0",
                 "--min-freq", "2", "--out", str(cut)]) == 0
    capsys.readouterr()
    assert main(["score", str(cut), "zoë", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unknown"] == ["ë"]


def test_a_failing_final_sample_does_not_fail_the_run(tmp_path, capsys):
    train, val = tmp_path / "t.txt", tmp_path / "v.txt"
    train.write_text("abc abc cab\n" * 30)
    val.write_text("XYZ abc\n" * 5)  # the sample's prompt comes from here: unseen characters
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", "--data", str(train), "--val-data", str(val), "--format", "text",
                 *FAST, "--out", str(out)]) == 0
    r = capsys.readouterr()
    assert "note: no samples after training" in r.err and "run folder:" in r.out
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
    assert not (out / "samples.txt").exists()
