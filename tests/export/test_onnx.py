"""ONNX export of every task's model, checked against PyTorch with ONNX Runtime (1e-5), and
generation from an exported step function."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from rnnlab.cli import main  # noqa: E402
from rnnlab.export.onnx import TOLERANCE, export  # noqa: E402

FAST = ["--max-steps", "3", "--eval-every", "3", "--threads", "1", "--no-progress",
        "--samples", "0", "--hidden-size", "16"]


def _train(out: Path, *args: str) -> Path:
    assert main(["train", *args, "--out", str(out), *FAST]) == 0
    return out


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    p = tmp_path / "s.csv"
    p.write_text("t,y\n" + "".join(f"{i},{10 + 5 * math.sin(i / 3) + i / 10:.3f}\n"
                                   for i in range(120)))
    return p


CASES = {  # name -> flags of a tiny training run (data filled in by the test)
    "lm-lstm-lines": ["--model", "lstm", "--format", "lines", "--num-layers", "2"],
    "lm-gru-loop-stream": ["--model", "gru", "--impl", "loop", "--format", "text"],
    "lm-mlp-window": ["--model", "mlp", "--format", "lines", "--context", "3"],
    "conditional-concat": ["--task", "conditional", "--model", "lstm", "--condition", "concat",
                           "--no-unconditioned"],
    "conditional-init": ["--task", "conditional", "--model", "gru", "--no-unconditioned"],
    "classify-bigru-last": ["--task", "classify", "--model", "gru", "--bidirectional"],
    "classify-lstm-loop-attention": ["--task", "classify", "--model", "lstm", "--impl", "loop",
                                     "--pool", "attention"],
    "forecast-gru": ["--task", "forecast", "--model", "gru", "--horizon", "3"],
    "forecast-mlp-direct": ["--task", "forecast", "--model", "mlp", "--strategy", "direct",
                            "--horizon", "3", "--context", "8"],
}


@pytest.mark.parametrize("case", list(CASES))
def test_export_matches_pytorch_in_onnxruntime(case, tmp_path, names_file, text_file,
                                               labeled_tsv, series_csv, capsys) -> None:
    task = case.split("-")[0]
    data = {"lm": names_file if "lines" in CASES[case] else text_file,
            "conditional": labeled_tsv, "classify": labeled_tsv, "forecast": series_csv}[task]
    extra = ["--column", "y"] if task == "forecast" else []
    run = _train(tmp_path / "run", "--data", str(data), *extra, *CASES[case])
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    printed = capsys.readouterr().out
    assert "check: onnxruntime vs PyTorch max |diff|" in printed
    r = export(run, tmp_path / "again.onnx")
    assert r["max_abs_diff"] <= TOLERANCE
    assert r["kind"] == {"lm": "step", "conditional": "step", "classify": "sequence",
                         "forecast": "forecast"}[task]


def test_classifier_export_on_a_new_batch_equals_the_run_model(tmp_path, labeled_tsv) -> None:
    """Independent of export's own check: a loop-implementation classifier (exported through
    its fused copy) on a padded batch of another size and length, against the run's model."""
    from rnnlab.models.base import ClassBatch
    from rnnlab.run import load

    run = _train(tmp_path / "run", "--data", str(labeled_tsv), "--task", "classify", "--model",
                 "gru", "--impl", "loop", "--bidirectional", "--pool", "max")
    export(run, tmp_path / "c.onnx")
    x = torch.tensor([[5, 6, 7, 8, 9, 5, 6, 7, 8, 9, 5], [6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([11, 2])
    ref = load(run).model(ClassBatch(x, lengths, None, True)).logits.detach().numpy()
    got = ort.InferenceSession(str(tmp_path / "c.onnx")).run(
        None, {"inputs": x.numpy(), "lengths": lengths.numpy()})[0]
    assert abs(got - ref).max() < TOLERANCE


def test_generate_from_onnx_equals_greedy_decoding_of_the_run(tmp_path, names_file,
                                                             capsys) -> None:
    run = _train(tmp_path / "run", "--data", str(names_file), "--model", "lstm", "--format",
                 "lines")
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx")]) == 0
    capsys.readouterr()
    common = ["--strategy", "greedy", "--prompt", "ma", "--max-new-tokens", "12"]
    assert main(["generate", str(run), *common]) == 0
    torch_text = capsys.readouterr().out
    assert main(["generate", str(tmp_path / "m.onnx"), *common]) == 0
    assert capsys.readouterr().out == torch_text


def test_count_models_are_refused_with_the_reason(tmp_path, names_file, user_error) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(names_file), "--format", "lines", "--model", "bigram",
                 "--out", str(run), "--samples", "0", "--no-progress"]) == 0
    line = user_error(["export", str(run), "--out", str(tmp_path / "m.onnx")])
    assert "count model" in line and "no graph to export" in line


# -- the tag and translate tasks ---------------------------------------------------------------
DATA = Path(__file__).resolve().parents[1] / "fixtures"
TAG = ["--task", "tag", "--data", str(DATA / "tag_tiny.conllu"), "--threads", "1",
       "--no-progress", "--embedding-dim", "8", "--hidden-size", "8", "--char-hidden", "4",
       "--char-dim", "4", "--max-steps", "3", "--eval-every", "3"]
PAIRS = ["--task", "translate", "--data", str(DATA / "pairs_tiny.tsv"), "--min-freq", "1",
         "--embedding-dim", "8", "--final-beams", "0", "--max-steps", "2", "--eval-every", "2",
         "--threads", "1", "--no-progress", "--hidden-size", "8", "--batch-size", "8"]


@pytest.mark.parametrize("flags", [["--model", "lstm"],
                                   ["--model", "gru", "--char-encoder", "cnn", "--crf"]],
                         ids=["bilstm-chars", "cnn-chars-crf"])
def test_tagger_export_equals_the_run_model_on_its_own_sentences(flags, tmp_path) -> None:
    """Beside export's own check: a sentence of the fixture (a word the vocabulary lacks
    included), encoded by the run's encoder, scored by ONNX Runtime and by the run."""
    import json

    import onnx

    from rnnlab.run import load
    from rnnlab.tasks.tag.data import Encoder

    run = tmp_path / "run"
    assert main(["train", *TAG, *flags, "--out", str(run)]) == 0
    r = export(run, tmp_path / "t.onnx")
    assert r["kind"] == "sequence" and r["max_abs_diff"] <= TOLERANCE
    loaded = load(run)
    enc = Encoder.from_dict(loaded.payload["tagging"])
    sents = [["The", "Unheardofword", "ran", "."], ["A", "dog"]]
    b = next(iter(enc.batches(sents, None, 2).epoch(0)))
    ref = loaded.model.eval().scores(b).detach().numpy()  # (B, T, K)
    got = ort.InferenceSession(str(tmp_path / "t.onnx")).run(
        None, dict(zip(["words", "chars", "char_lengths", "forms", "lengths"],
                       [t.numpy() for t in b[:5]], strict=True)))[0]
    assert got.shape == ref.shape and abs(got - ref).max() < TOLERANCE
    meta = json.loads({p.key: p.value for p in onnx.load(str(tmp_path / "t.onnx"))
                       .metadata_props}["rnnlab"])
    assert meta["tagging"]["tags"] == enc.tags.itos
    if "--crf" in flags:
        crf = loaded.model.crf
        assert meta["crf"]["transitions"] == crf.transitions.tolist()
        assert "Viterbi" in meta["crf"]["decoding"]
    else:
        assert "crf" not in meta


def test_hmm_tagger_export_is_refused(tmp_path, user_error) -> None:
    run = tmp_path / "run"
    assert main(["train", "--task", "tag", "--data", str(DATA / "tag_tiny.conllu"), "--model",
                 "hmm", "--no-progress", "--out", str(run)]) == 0
    line = user_error(["export", str(run), "--out", str(tmp_path / "m.onnx")])
    assert "count model" in line and "no graph to export" in line


@pytest.mark.parametrize("flags", [["--model", "gru", "--attention", "additive"],
                                   ["--model", "lstm", "--attention", "multiplicative"],
                                   ["--model", "lstm", "--attention", "none"]],
                         ids=["gru-additive", "lstm-multiplicative", "lstm-none"])
def test_translation_with_onnxruntime_alone_equals_greedy_decoding(flags, tmp_path,
                                                                   capsys) -> None:
    """FILE.encoder.onnx then FILE.onnx step by step, greedy, on a source sentence of the
    fixture: the same tokens and logits (<= 1e-5) as the run's model."""
    from rnnlab.data.tokenizers import BOS_ID, EOS_ID, Tokenizer
    from rnnlab.run import load
    from rnnlab.tasks.translate import encode_source

    run = tmp_path / "run"
    assert main(["train", *PAIRS, *flags, "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "s.onnx")]) == 0
    printed = capsys.readouterr().out
    assert "s.encoder.onnx" in printed and "max |diff|" in printed
    loaded = load(run)
    model = loaded.model.eval()
    src_tok = Tokenizer.from_dict(loaded.payload["src_tokenizer"])
    source = (DATA / "pairs_tiny.tsv").read_text().splitlines()[3].split("\t")[0]
    src = torch.tensor([encode_source(src_tok, source)])
    enc = ort.InferenceSession(str(tmp_path / "s.encoder.onnx"))
    step = ort.InferenceSession(str(tmp_path / "s.onnx"))
    outs = enc.run(None, {"src": src.numpy(), "src_lengths": torch.tensor([src.shape[1]])
                          .numpy()})
    n = sum(1 for i in step.get_inputs() if i.name.startswith("state_"))
    fixed_names = [i.name for i in step.get_inputs()][1 + n:]
    state, fixed = outs[:n], outs[n:n + len(fixed_names)]
    assert fixed_names == ([] if "none" in flags else ["memory", "keys", "mask"])
    logits_t, state_t = model.prefill(src)
    token = torch.tensor([BOS_ID])
    for _ in range(8):
        got = step.run(None, {"token": token.numpy(),
                              **{f"state_{i}": s for i, s in enumerate(state)},
                              **dict(zip(fixed_names, fixed, strict=True))})
        assert abs(got[0] - logits_t.numpy()).max() < TOLERANCE
        token = logits_t.argmax(-1)
        assert int(got[0].argmax(-1)[0]) == int(token[0])
        if int(token[0]) == EOS_ID:
            break
        state = got[1:]
        logits_t, state_t = model.step(token, state_t)
