"""`--task conditional` through the CLI: the conditioned model beside its unconditioned twin,
samples of a chosen class marked new / in training set, bad conditions refused."""

from __future__ import annotations

import json

from rnnlab.cli import main

FAST = ["--task", "conditional", "--max-steps", "4", "--eval-every", "2", "--threads", "1",
        "--no-progress", "--hidden-size", "16", "--embedding-dim", "8", "--batch-size", "4"]


def test_conditional_run_reports_both_models_and_generates_by_class(tmp_path, capsys, labeled_tsv,
                                                                    user_error):
    out = tmp_path / "run"
    assert main(["train", "--data", str(labeled_tsv), *FAST, "--condition", "init",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "conditioned" in printed and "unconditioned" in printed
    assert (out / "unconditioned.pt").is_file()
    assert main(["evaluate", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["tokens"] > 0 and m["unconditioned"]["tokens"] == m["tokens"]
    assert main(["generate", str(out), "--condition", "ja", "--num", "3", "--json",
                 "--max-new-tokens", "6"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(r["condition"] == "ja" and "new" in r for r in rows)
    assert main(["generate", str(out), "--condition", "it", "--strategy", "beam_search",
                 "--max-new-tokens", "6"]) == 0
    assert capsys.readouterr().out.startswith("it\t")
    assert "is not a class the model knows" in user_error(
        ["generate", str(out), "--condition", "fr"])
    assert "--condition is needed" in user_error(["generate", str(out)])
