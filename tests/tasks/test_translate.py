"""rnnlab/tasks/translate/: a tiny train + evaluate + translate + resume through the CLI,
the signature printed, the max-length cap and refused combinations. (The pairs reader is
tested in tests/data/test_readers.py, pair batches in tests/data/test_batching.py, BLEU and
chrF in tests/tasks/translate/test_evaluation.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnlab.cli import main

# 80 Tatoeba lines, 3 columns
PAIRS = Path(__file__).resolve().parents[1] / "fixtures" / "pairs_tiny.tsv"


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
    (["evaluate", "{run}", "--format", "text"],
     "translate run, whose `evaluate` takes --format pairs"),
])
def test_bad_input_is_one_error_line(run, argv, needle, user_error):
    assert needle in user_error([a.replace("{run}", str(run)) for a in argv])


def test_config_combinations_are_refused(user_error):
    assert "needs --data" in user_error(["train", "--task", "translate", "--dry-run"])
    base = ["train", "--task", "translate", "--data", "x.tsv", "--dry-run"]
    assert "both 0" in user_error([*base, "--target-column", "0"])
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


# -- defaults: the best measured recipe (auto) or the documented values (fixed) --------------
def _sections(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def test_the_pieces_rule_fits_the_data():
    from rnnlab.tasks.translate.defaults import PIECES, subword_pieces

    assert subword_pieces(["Go.", "Hi."]) == 16  # the flag's floor
    assert subword_pieces(["abcdefghijklmnopqrst uvwxyz"]) == 26 + 8  # a piece per character
    words = [f"w{i} x{i}" for i in range(600)]
    assert subword_pieces(words) == 1200  # no more pieces than distinct words
    assert subword_pieces(f"w{i}" for i in range(20000)) == PIECES


AUTO = ["--task", "translate", "--data", str(PAIRS), "--hidden-size", "16", "--embedding-dim",
        "8", "--threads", "1", "--no-progress", "--val-fraction", "0.1", "--test-fraction",
        "0.1", "--final-beams", "2", "--max-steps", "4", "--eval-every", "2"]


def test_defaults_auto_train_evaluate_and_translate_a_tiny_pair_file(tmp_path, capsys):
    out = tmp_path / "auto"
    assert main(["train", *AUTO, "--out", str(out)]) == 0
    assert "defaults of the best measured recipe" in capsys.readouterr().out
    cfg = _sections(out)
    assert cfg["data"]["defaults"] == "auto" and cfg["data"]["subword"] == "bpe"
    assert 16 <= cfg["data"]["subword_vocab"] < 8000  # sized to the tiny file: SentencePiece
    assert cfg["model"]["input_feeding"] is False  # can learn it
    from rnnlab.trainer import native_bf16

    bf16 = "bf16-head" if native_bf16() else "fp32"  # emulated bf16 would be 12x slower
    assert cfg["train"]["fused_loss"] is True and cfg["train"]["precision"] == bf16
    assert cfg["train"]["lr"] == 2e-3 and cfg["train"]["batch_size"] == 64
    assert cfg["train"]["max_steps"] == 4 and cfg["train"]["eval_every"] == 2  # given: kept
    assert main(["evaluate", str(out), "--json"]) == 0
    assert "bleu" in json.loads(capsys.readouterr().out)
    assert main(["translate", str(out), "Unseenword here.", "--json"]) == 0
    assert capsys.readouterr().out.strip()


def test_defaults_fixed_keeps_the_documented_config(tmp_path):
    from rnnlab.config import TrainConfig
    from rnnlab.tasks.translate.config import DataConfig, ModelConfig

    out = tmp_path / "fixed"
    assert main(["train", *AUTO, "--defaults", "fixed", "--out", str(out)]) == 0
    cfg = _sections(out)
    given = {"data": {"data", "val_fraction", "test_fraction", "defaults"},
             "model": {"hidden_size", "embedding_dim", "final_beams"},
             "train": {"threads", "max_steps", "eval_every"}}
    for section, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        documented = {k: v for k, v in cls().__dict__.items() if k not in given[section]}
        saved = {k: v for k, v in cfg[section].items() if k not in given[section]}
        assert saved == documented, section
    assert cfg["data"]["defaults"] == "fixed" and cfg["data"]["subword"] == "none"


def test_word_options_and_the_eng_fra_config_keep_words(shared_dataset):
    from rnnlab.config import load_toml
    from rnnlab.runconfig import make_config
    from rnnlab.tasks.translate.defaults import recipe

    assert "data" not in recipe({"data.min_freq"})  # --min-freq asks for words
    assert recipe(set())["data"] == {"subword": "bpe"}
    assert "model" not in recipe({"model.input_feeding"})
    root = Path(__file__).resolve().parents[2]
    shared_dataset("tatoeba_eng_fra")  # the config names it
    cfg, _ = make_config("translate", load_toml(root / "configs" / "translate_eng_fra.toml"))
    assert cfg.data.defaults == "fixed"  # its recorded commands mean what they meant
    cfg, _ = make_config("translate", load_toml(root / "configs" / "translate.toml"),
                         {"data": {"data": str(PAIRS)}})
    assert cfg.data.subword == "bpe" and not cfg.model.input_feeding


def test_the_beam_test_bleu_keeps_within_a_time_budget() -> None:
    from rnnlab.runconfig import default_config
    from rnnlab.tasks.translate import BEAM_COST, BEAM_SHARE, beam_over_budget

    cfg = default_config("translate")
    cfg.train.max_time, cfg.explicit = 8.0, frozenset({"train.max_time"})
    ok = BEAM_SHARE * 8.0 / BEAM_COST  # the greedy time whose beam pass just fits
    assert beam_over_budget(cfg, 0.9 * ok) is None
    note = beam_over_budget(cfg, 1.1 * ok)
    assert note and "--final-beams 5" in note and "rnnlab evaluate" in note
    cfg.explicit = frozenset({"train.max_time", "model.final_beams"})  # asked for: kept
    assert beam_over_budget(cfg, 100.0) is None
    cfg.train.max_time, cfg.explicit = None, frozenset()  # no budget: the beam runs
    assert beam_over_budget(cfg, 100.0) is None


def test_a_short_budget_scores_greedily_and_says_so(tmp_path, capsys, monkeypatch) -> None:
    import rnnlab.tasks.translate as translate

    monkeypatch.setattr(translate, "BEAM_COST", 1e9)  # any beam pass is over the budget
    flags = [f for f in TINY if f not in ("--final-beams", "2")]
    out = tmp_path / "run"
    assert main(["train", *flags, "--max-time", "60", "--max-steps", "2", "--eval-every", "2",
                 "--out", str(out)]) == 0
    final = json.loads((out / "final.json").read_text())
    assert "test_greedy" in final and not any(k.startswith("test_beam") for k in final)
    assert "no test BLEU with beam 5" in capsys.readouterr().out
