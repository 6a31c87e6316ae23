"""rnnlab/metrics.py: `evaluate`'s per-token NLL against a hand-computed value and summed per
token (not per batch); `target_log_probs` (its scoring path) against the logits path, its
memory at a 200k vocabulary, chunked forward / decoding against unchunked; forecast errors
and the classification report by hand; the module graph of the n-gram code (no import
circle).

Shapes: B batch, T time, V vocabulary, N order."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab.models.lm as lm_module
import rnnlab.models.ngram as ngram_module
from rnnlab.data.batching import PaddedBatches
from rnnlab.data.tokenizers import BOS_ID, EOS_ID, PAD_ID
from rnnlab.losses import IGNORE_INDEX, token_log_probs
from rnnlab.metrics import classification_report, evaluate, forecast_errors, mase_scale
from rnnlab.models.base import LMBatch, Output
from rnnlab.models.lm import RecurrentLM
from rnnlab.models.ngram import NGramLM
from rnnlab.models.window import WindowLM

ROOT = Path(__file__).resolve().parents[1]


class LogitsOnly(nn.Module):
    """The model seen through `forward` alone: `evaluate`'s old (B, T, V) logits path."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, batch: LMBatch, state=None) -> Output:
        return self.inner(batch, state)


def fitted_ngram(V: int, order: int, smoothing: str = "mkn", n: int = 300) -> NGramLM:
    rng = np.random.default_rng(order)
    seqs = [rng.integers(4, V, size=rng.integers(0, 9)).tolist() for _ in range(n)]
    model = NGramLM(V, order, smoothing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallback discounts on random toy data
        model.fit_counts(seqs)
    return model


def padded(V: int, seed: int = 0, B: int = 5, T: int = 11) -> LMBatch:
    """Sentences of random lengths as lines batches: <bos> w.. / w.. <eos>, padding after."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T
    inputs = torch.full((B, T), PAD_ID)
    targets = torch.full((B, T), IGNORE_INDEX)
    for b, n in enumerate(lengths.tolist()):
        words = torch.randint(4, V, (n,), generator=g)
        inputs[b, :n] = torch.cat([torch.tensor([BOS_ID]), words[:-1]])
        targets[b, :n] = torch.cat([words[:-1], torch.tensor([EOS_ID])])
    return LMBatch(inputs, targets, lengths)


def stream_batches(V: int, seed: int = 1) -> list[LMBatch]:
    """A stream in three chunks whose state carries over (reset=False after the first)."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randint(3, V, (2, 31), generator=g)
    return [LMBatch(s[:, i : i + 10], s[:, i + 1 : i + 11], None, reset=i == 0)
            for i in range(0, 30, 10)]


MODELS = {
    "ngram1": lambda V: fitted_ngram(V, 1),
    "ngram3": lambda V: fitted_ngram(V, 3),
    "ngram5-addk": lambda V: fitted_ngram(V, 5, "add-k"),
    "lstm": lambda V: RecurrentLM(V, "lstm", 8, 16, num_layers=2),
    "gru": lambda V: RecurrentLM(V, "gru", 8, 16),
    "elman-feedback": lambda V: RecurrentLM(V, "rnn", 8, 16, impl="loop", feedback=True),
    "linear": lambda V: WindowLM(V, "linear", context=3, embedding_dim=4),
    "mlp-direct": lambda V: WindowLM(V, "mlp", 3, 4, 16, direct=True),
    "cnn": lambda V: WindowLM(V, "cnn", embedding_dim=4, hidden_size=8, num_layers=2),
}


@pytest.mark.parametrize("name", MODELS)
def test_target_log_probs_equal_logits_path(name: str, monkeypatch) -> None:
    V = 23
    torch.manual_seed(0)
    model = MODELS[name](V).eval()
    for batch in [padded(V), *stream_batches(V)]:
        with torch.no_grad():
            out = model(batch)
        want = token_log_probs(out.logits, batch.targets).double()
        got, state = model.target_log_probs(batch)
        assert got.shape == batch.targets.shape
        assert torch.all(got[batch.targets == IGNORE_INDEX] == 0)
        torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0)
        for a, b in zip(state if isinstance(state, tuple) else [state],
                        out.state if isinstance(out.state, tuple) else [out.state], strict=True):
            torch.testing.assert_close(a, b)
        # 2 logits per chunk: many chunks, same values
        monkeypatch.setattr(lm_module, "LOGIT_BUDGET", 2 * V)
        small, _ = model.target_log_probs(batch)
        monkeypatch.undo()
        torch.testing.assert_close(small.double(), got.double(), atol=1e-6, rtol=0)
    # evaluate(): new path == old logits path, state carried across the stream chunks
    for batches in ([padded(V, s) for s in range(3)], stream_batches(V)):
        new, old = evaluate(model, batches), evaluate(LogitsOnly(model), batches)
        assert new["tokens"] == old["tokens"]
        assert new["nll"] == pytest.approx(old["nll"], abs=1e-5)


def test_ngram_evaluate_equals_sentence_log10() -> None:
    """evaluate() of a lines batch = KenLM-style sentence scoring by hand."""
    V = 17
    model = fitted_ngram(V, 4)
    batch = padded(V, 3)
    sents = [batch.targets[b, : int(n) - 1].tolist() for b, n in enumerate(batch.lengths)]
    want = -model.sentence_log10(sents).sum() * np.log(10) / int(batch.lengths.sum())
    assert evaluate(model, [batch])["nll"] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_chunked_forward_equals_whole(order: int, monkeypatch) -> None:
    V = 13
    model = fitted_ngram(V, order)
    batch = padded(V, 4)
    whole = model(batch)
    monkeypatch.setattr(ngram_module, "LOGIT_BUDGET", 3 * V)  # 3 positions per chunk
    part = model(batch)
    assert torch.equal(part.logits, whole.logits)
    assert torch.equal(part.state, whole.state)
    assert part.loss.item() == pytest.approx(whole.loss.item(), rel=1e-7)
    p = part.logits.double().exp().sum(-1)
    torch.testing.assert_close(p, torch.ones_like(p), atol=1e-5, rtol=0)


@pytest.mark.parametrize("order", [2, 3])
def test_chunked_decoding_equals_whole(order: int, monkeypatch) -> None:
    V = 9
    model = fitted_ngram(V, order, "add-k", n=80)
    want = [model.most_likely_continuation([4], 4), model.beam_search_continuation([5], 4, 7)]
    monkeypatch.setattr(lm_module, "LOGIT_BUDGET", 1)  # one state / beam per chunk
    got = [model.most_likely_continuation([4], 4), model.beam_search_continuation([5], 4, 7)]
    for (t1, s1), (t2, s2) in zip(got, want, strict=True):
        assert t1 == t2 and s1 == pytest.approx(s2, abs=1e-12)


def test_ngram_evaluate_memory_at_200k_vocabulary() -> None:
    """The old path would build 64 x 40 x 200k float64 = 4.1 GB (+ float32 logits); the
    target path stays within a few MB of NumPy allocations."""
    V, order = 200_000, 3
    rng = np.random.default_rng(0)
    seqs = [rng.zipf(1.3, size=rng.integers(1, 30)).clip(4, V - 1).tolist() for _ in range(3000)]
    model = NGramLM(V, order, "mkn")
    model.fit_counts(seqs)
    batches = [padded(V, s, B=64, T=40) for s in range(3)]
    model.tables()  # the tables are the model, not evaluation's cost
    tracemalloc.start()
    m = evaluate(model, batches)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 2**20, f"evaluate allocated {peak / 2**20:.1f} MB"
    assert m["tokens"] == sum(int(b.lengths.sum()) for b in batches)
    # the same positions scored one by one through log_prob
    b = batches[0]
    ctx = torch.cat([torch.full((64, order - 1), BOS_ID), b.inputs], 1).numpy()
    real = (b.targets != IGNORE_INDEX).numpy()
    t_idx = np.nonzero(real)
    hist = np.stack([ctx[t_idx[0], t_idx[1] + j] for j in range(1, order)], 1)  # ends at x_t
    want = -model.log_prob(hist, b.targets.numpy()[t_idx]).sum()
    one = evaluate(model, [b])
    assert one["nll"] * one["tokens"] == pytest.approx(want, rel=1e-10)


CHILD = """
import json, resource, sys, torch
torch.set_num_threads(1)
from rnnlab.metrics import evaluate
from rnnlab.models.lm import RecurrentLM
from rnnlab.models.window import WindowLM
sys.path.insert(0, sys.argv[1])
from test_metrics import padded
V = 200_000
torch.manual_seed(0)
model = (RecurrentLM(V, "gru", 8, 16) if sys.argv[2] == "gru" else
         WindowLM(V, "mlp", 3, 8, 16, direct=True)).eval()
batches = [padded(V, s, B=16, T=64) for s in range(2)]
evaluate(model, batches[:1])  # warm up the allocator and the kernels on a batch
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m = evaluate(model, batches)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grown_mb": (after - before) / 1024, "tokens": m["tokens"]}))
"""


@pytest.mark.parametrize("kind", ["gru", "mlp"])
def test_neural_evaluate_memory_at_200k_vocabulary(kind: str) -> None:
    """The old path holds 16 x 64 x 200k float32 logits = 0.8 GB (and their log-softmax); the
    chunked path at most LOGIT_BUDGET logits (64 MB) and their log-softmax at once. The peak
    RSS of a fresh process may not grow by more than that, after one warm-up batch."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(Path(__file__).parent), kind],
        capture_output=True, text=True, check=True, timeout=300,
        env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["tokens"] > 0
    assert res["grown_mb"] < 3 * 4 * lm_module.LOGIT_BUDGET / 2**20, res


def test_arpa_io_memory_at_large_vocabulary(tmp_path: Path) -> None:
    """Writing and reading a 40k-word model: allocations O(n-grams + V), nothing V x V."""
    V = 40_000
    rng = np.random.default_rng(2)
    seqs = [rng.integers(4, V, size=rng.integers(1, 12)).tolist() for _ in range(4000)]
    model = NGramLM(V, 3, "mkn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit_counts(seqs)
    itos = ["<pad>", "<unk>", "<bos>", "<eos>", *[f"w{i}" for i in range(4, V)]]
    M = sum(model.num_ngrams())
    tracemalloc.start()
    model.to_arpa(str(tmp_path / "m.arpa"), itos)
    back, itos2 = NGramLM.from_arpa(str(tmp_path / "m.arpa"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert itos2 == itos
    assert peak < 200 * M + 100 * V + 16 * 2**20, f"{peak / 2**20:.1f} MB for {M} n-grams"
    ctx = rng.integers(3, V, size=(50, 2))
    w = rng.integers(3, V, size=50)
    np.testing.assert_allclose(back.log_prob(ctx, w), model.log_prob(ctx, w), atol=1e-5)


def imports_of(module: str) -> tuple[set[str], set[str]]:
    """(modules imported at module level, modules imported inside functions) of a file,
    type-checking-only imports excluded."""
    tree = ast.parse((ROOT / "rnnlab" / "models" / f"{module}.py").read_text())
    top, lazy = set(), set()

    def names(node: ast.AST) -> set[str]:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            return {base} | {f"{base}.{a.name}" for a in node.names}
        if isinstance(node, ast.Import):
            return {a.name for a in node.names}
        return set()

    for node in tree.body:
        top |= names(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                lazy |= names(inner)
    return top, lazy


def test_no_import_circle_between_ngram_modules() -> None:
    ngram = "rnnlab.models.ngram"
    for mod in ("arpa", "ngram_decode", "ngram_counts"):
        top, lazy = imports_of(mod)
        assert not any(n == ngram or n.startswith(ngram + ".") for n in top | lazy), mod
        assert not lazy, f"{mod} imports inside functions: {lazy}"
    top, lazy = imports_of("ngram")
    assert not lazy, f"ngram.py imports inside functions: {lazy}"
    assert {"rnnlab.models.arpa", "rnnlab.models.ngram_decode"} <= top


def test_cli_ngram_train_memory_at_large_vocabulary(tmp_path: Path) -> None:
    """`rnnlab train --model ngram` at a 60k-word vocabulary: validation and test used to
    build 12 x 256 lines x T x V bytes (~2 GB per batch here); the whole run now stays
    within the runtime plus a few hundred MB."""
    import os

    rng = np.random.default_rng(0)
    V = 60_000
    for name, n in (("train", 20_000), ("val", 1_000), ("test", 1_000)):
        words = rng.integers(0, V, size=(n, 12))
        (tmp_path / f"{name}.txt").write_text(
            "\n".join(" ".join(f"w{w}" for w in row) for row in words) + "\n")
    cmd = [sys.executable, "-m", "rnnlab", "train", "--model", "ngram", "--order", "3",
           "--smoothing", "mkn", "--format", "lines", "--level", "word",
           "--data", str(tmp_path / "train.txt"), "--val-data", str(tmp_path / "val.txt"),
           "--test-data", str(tmp_path / "test.txt"), "--out", str(tmp_path / "run"),
           "--threads", "1", "--samples", "0"]
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    with open(tmp_path / "out.txt", "wb") as out, open(tmp_path / "err.txt", "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    assert os.waitstatus_to_exitcode(status) == 0, (tmp_path / "err.txt").read_text()
    assert "test:" in (tmp_path / "out.txt").read_text()
    peak_mb = usage.ru_maxrss / 1024
    assert peak_mb < 1024, f"rnnlab train peaked at {peak_mb:.0f} MB"


def test_mae_rmse_mase_by_hand():
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    y_hat = np.array([[2.0, 2.0], [3.0, 6.0]])  # errors 1, 0, 0, 2
    assert mase_scale([1, 3, 2, 5], 1) == 2.0  # (2 + 1 + 3) / 3
    assert mase_scale([1, 3, 2, 5], 2) == 1.5  # (|2-1| + |5-3|) / 2
    e = forecast_errors(y, y_hat, scale=2.0)
    assert e["mae"] == 0.75
    assert math.isclose(e["rmse"], math.sqrt(5 / 4))
    assert e["mase"] == 0.375


def test_classification_report_by_hand():
    r = classification_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert r["accuracy"] == 3 / 5
    assert r["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert r["per_class"]["b"]["precision"] == 2 / 3 and r["per_class"]["b"]["recall"] == 1
    assert r["per_class"]["c"]["f1"] == 0.0
    assert abs(r["macro_f1"] - (0.5 + 0.8 + 0.0) / 3) < 1e-12
    assert r["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_evaluate_sums_per_token_not_per_batch() -> None:
    torch.manual_seed(1)
    model = RecurrentLM(9, "lstm", 4, 8).eval()
    seqs = [[4, 5, 6, 7, 8], [5], [6, 7]]
    m = evaluate(model, PaddedBatches(seqs, 2, shuffle=False).epoch(0))
    total, n = 0.0, 0
    for s in seqs:
        x = torch.tensor([[2, *s]])
        y = torch.tensor([[*s, 3]])
        with torch.no_grad():
            logp = torch.log_softmax(model(LMBatch(x, y, None, True)).logits[0], -1)
        total -= float(logp[torch.arange(len(s) + 1), y[0]].sum())
        n += len(s) + 1
    assert m["tokens"] == n == 11
    assert math.isclose(m["nll"], total / n, rel_tol=1e-6)


class Bigram(nn.Module):
    """A tiny model with written-out probabilities: row `prev` of `table` is the distribution
    of the next token, whatever came earlier."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def forward(self, batch: LMBatch, state=None) -> Output:
        return Output(self.table.log()[batch.inputs], None, None)


def test_evaluate_nll_equals_the_hand_computed_value_on_a_tiny_model() -> None:
    # vocabulary: 4 specials (<pad> <unk> <bos> <eos>) and two words a=4, b=5
    table = torch.full((6, 6), 1e-9)
    table[2, 4], table[2, 5] = 0.75, 0.25  # after <bos>: a 3/4, b 1/4
    table[4, 5], table[4, 3] = 0.5, 0.5  # after a: b or <eos>, one half each
    table[5, 3], table[5, 4] = 0.8, 0.2  # after b: <eos> 4/5, a 1/5
    table = table / table.sum(1, keepdim=True)
    # "a b" scores P(a|<bos>) P(b|a) P(<eos>|b); "b" scores P(b|<bos>) P(<eos>|b)
    hand = -(math.log(0.75) + math.log(0.5) + math.log(0.8) + math.log(0.25) + math.log(0.8))
    m = evaluate(Bigram(table), PaddedBatches([[4, 5], [5]], 2, shuffle=False).epoch(0))
    assert m["tokens"] == 5
    assert m["nll"] == pytest.approx(hand / 5, rel=1e-6)
    assert m["ppl"] == pytest.approx(math.exp(hand / 5), rel=1e-6)
    assert m["bpc"] == pytest.approx(hand / 5 / math.log(2), rel=1e-6)


def test_perplexity_of_an_infinite_nll_is_infinite() -> None:
    from rnnlab.metrics import nll_to_metrics

    assert nll_to_metrics(math.inf, 3)["ppl"] == math.inf
    assert nll_to_metrics(800.0, 1)["ppl"] == math.inf  # e^800 overflows float64
    assert nll_to_metrics(2.0 * 4, 4)["ppl"] == pytest.approx(math.exp(2.0))
