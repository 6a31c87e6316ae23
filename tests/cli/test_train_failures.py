"""`rnnlab train` (rnnlab/cli/train.py, rnnlab/run.py, rnnlab/runlock.py): a start that fails
before its first checkpoint leaves nothing behind: no run folder (or a folder that was there
before, exactly as it was), no lock, so the corrected command runs at once with the same
--out. A run that has a checkpoint keeps every file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.errors import RnnlabError

FAST = ["--max-steps", "2", "--eval-every", "1", "--threads", "1", "--no-progress",
        "--hidden-size", "8", "--batch-size", "8", "--samples", "0"]


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
            for p in sorted(folder.rglob("*"))}


def _labeled(path: Path) -> Path:
    path.write_text("".join(f"{w}\t{lab}\n" for lab, ws in (
        ("it", ["rossi", "russo", "ferrari", "bianchi", "romano", "greco", "gallo", "conti"]),
        ("ja", ["sato", "suzuki", "tanaka", "ito", "kato", "abe", "yamada", "sasaki"]))
        for w in ws))
    return path


def test_bad_data_content_leaves_no_folder_and_the_fixed_file_trains(tmp_path, user_error):
    data = tmp_path / "d.tsv"
    data.write_text("rossi it\nsato ja\n")  # spaces, not tabs
    out = tmp_path / "runs" / "cls"
    argv = ["train", "--task", "classify", "--data", str(data), *FAST, "--out", str(out)]
    assert "has no tab" in user_error(argv)
    assert not (tmp_path / "runs").exists()  # nor the parent folder the start made
    _labeled(data)
    assert main(argv) == 0
    assert (out / "best.pt").is_file() and (out / "final.json").is_file()


def test_a_bad_model_option_caught_after_reading_the_data(tmp_path, names_file, user_error):
    out = tmp_path / "run"
    argv = ["train", "--data", str(names_file), "--level", "word", *FAST, "--out", str(out)]
    assert "drop --adaptive-softmax" in user_error([*argv, "--adaptive-softmax"])
    assert not out.exists()
    assert main(argv) == 0


@pytest.mark.parametrize("model", ["gru", "ngram"])
def test_a_model_that_refuses_its_data_after_config_and_split_were_written(
        tmp_path, names_file, user_error, monkeypatch, model):
    """A trained model refusing its first batch, or a counted one (n-gram) its counts."""
    from rnnlab.models.lm import RecurrentLM
    from rnnlab.models.ngram import NGramLM

    out = tmp_path / "run"
    seen = []

    def refuse(self, *args, **kwargs):
        seen.append(sorted(p.name for p in out.iterdir()))
        raise RnnlabError("this model refuses its data")

    cls, method = (RecurrentLM, "forward") if model == "gru" else (NGramLM, "fit_counts")
    argv = ["train", "--data", str(names_file), "--model", model, "--threads", "1",
            "--no-progress", "--samples", "0", "--out", str(out)]
    if model == "gru":
        argv += FAST
    with monkeypatch.context() as m:
        m.setattr(cls, method, refuse)
        assert "refuses its data" in user_error(argv)
    assert {"config.json", "split.json"} <= set(seen[0])  # the half-made folder of before
    assert not out.exists()
    assert main(argv) == 0


@pytest.mark.parametrize("error", [RnnlabError("prepare refuses"), KeyboardInterrupt()])
def test_an_error_or_ctrl_c_inside_prepare(tmp_path, names_file, capsys, monkeypatch, error):
    from rnnlab.tasks import get_task

    task = get_task("lm")
    real = task.prepare

    def prepare(cfg, out, resume):
        real(cfg, out, resume)  # whatever it writes, then the failure
        (out / "prepared.txt").write_text("written by prepare\n")
        raise error

    out = tmp_path / "run"
    argv = ["train", "--data", str(names_file), "--model", "gru", *FAST, "--out", str(out)]
    with monkeypatch.context() as m:
        m.setattr(task, "prepare", prepare)
        code = main(argv)
    err = capsys.readouterr().err
    assert code == (130 if isinstance(error, KeyboardInterrupt) else 2), err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    if isinstance(error, KeyboardInterrupt):
        assert "before the first checkpoint" in lines[0] and "--resume" not in lines[0]
    assert not out.exists()
    assert main(argv) == 0


def test_a_folder_that_was_there_is_left_as_it_was(tmp_path, names_file, user_error):
    out = tmp_path / "mine"
    out.mkdir()
    argv = ["train", "--data", str(names_file), "--level", "word", *FAST, "--out", str(out)]
    user_error([*argv, "--adaptive-softmax"])
    assert out.is_dir() and _tree(out) == {}
    assert main(argv) == 0


def test_a_refused_out_keeps_its_files_and_gets_no_lock(tmp_path, names_file, user_error):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (out / "sub").mkdir()
    (out / "sub" / "x.bin").write_bytes(b"\0\1")
    before = _tree(out)
    argv = ["train", "--data", str(names_file), *FAST, "--out", str(out)]
    assert "already holds files" in user_error(argv)
    assert _tree(out) == before


def test_a_run_with_a_checkpoint_keeps_everything_when_its_resume_fails(
        tmp_path, names_file, user_error, monkeypatch):
    from rnnlab.tasks import get_task

    out = tmp_path / "run"
    assert main(["train", "--data", str(names_file), "--model", "gru", *FAST,
                 "--out", str(out)]) == 0
    before = _tree(out)

    def prepare(cfg, work, resume):
        (work / "stray.txt").write_text("x")
        raise RnnlabError("prepare refuses")

    with monkeypatch.context() as m:
        m.setattr(get_task("lm"), "prepare", prepare)
        user_error(["train", "--out", str(out), "--resume", "--max-steps", "4",
                    "--no-progress", "--samples", "0"])
    after = _tree(out)
    assert after.pop("stray.txt") == b"x"  # a run with a checkpoint: nothing is removed
    assert after == before
    assert main(["train", "--out", str(out), "--resume", "--max-steps", "4", "--no-progress",
                 "--samples", "0"]) == 0
