"""Data-parallel training: one DDP step equals one process's step; sharding; validation sums;
the run-folder lock."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnlab.distributed import Dist, Sharded, row_range, shard_batch

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("ddp_worker.py")


def _worker_module():
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_step_equals_one_process_on_the_whole_batch(tmp_path: Path) -> None:
    """2 gloo processes, each on half of every batch, end with the weights one process
    reaches on the whole batches (float64, 1e-10): a stream LM (state carried across two
    chunks) and padded lines whose halves hold unequal token counts (the loss weighting).
    Their sharded validations (uneven shares) print one process's figures."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(tmp_path)],
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    from rnnlab.trainer import Trainer

    w = _worker_module()
    for case in ("stream", "padded"):
        model, source, cfg = w.build(case)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        Trainer(cfg).fit(model, source)  # one process, whole batches
        for name, ref in model.state_dict().items():
            assert not torch.equal(ref, before[name]) or "bias" in name  # it trained
            for r in range(2):
                got = ranks[r][case][name]
                assert got.dtype == torch.float64
                assert (got - ref).abs().max().item() < 1e-10, (case, name, r)
    for name, fn, model, source in w.validation_cases():  # validation sums, all-reduced
        ref = fn(model, source.epoch(0))
        for r in range(2):
            got = ranks[r][f"val_{name}"]
            assert got.keys() == ref.keys()
            for k in ref:
                # classify's log-softmax is float32 (its own .float()): shards sum its
                # rounding in another order; the LM sums are float64
                tol = 1e-6 if name == "classify" else 1e-10
                assert abs(got[k] - ref[k]) <= tol * max(1.0, abs(ref[k])), (name, k, r)


def test_row_ranges_cover_every_row_once() -> None:
    for rows in range(0, 9):
        for world in range(1, 5):
            got = [i for r in range(world) for i in range(*row_range(rows, r, world))]
            assert got == list(range(rows))


def test_shard_batch_cuts_every_batch_field_and_marks_empty_shares() -> None:
    from rnnlab.data.batching import pad_batch

    b = pad_batch([[5, 6, 7], [8], [9, 9]])  # (3, 4)
    part, real = shard_batch(b, 1, 2)
    assert real and torch.equal(part.inputs, b.inputs[2:]) and torch.equal(part.lengths,
                                                                           b.lengths[2:])
    part, real = shard_batch(b, 3, 4)  # 3 rows, 4 ranks: rank 3 holds nothing
    assert not real and torch.equal(part.inputs, b.inputs[:1])


def test_sharded_validation_skips_empty_shares_and_training_keeps_them() -> None:
    from rnnlab.data.batching import PaddedBatches

    src = PaddedBatches([[5]] * 5, 2, shuffle=False)  # batches of 2, 2, 1
    d = Dist(rank=1, world=2)
    assert len(list(Sharded(src, d, train=False).epoch(0))) == 2
    flags = []
    for _ in Sharded(src, d, train=True).epoch(0):
        flags.append(d.empty_shard)
    assert flags == [False, False, True]


def test_split_and_gather_state_round_trip() -> None:
    h, c = torch.randn(2, 5, 3), torch.randn(2, 5, 3)  # (L, B, H)
    parts = [Dist(rank=r, world=2).split_state((h, c)) for r in range(2)]
    assert parts[0][0].shape == (2, 3, 3) and parts[1][0].shape == (2, 2, 3)
    assert torch.equal(torch.cat([parts[0][0], parts[1][0]], 1), h)
    window = torch.arange(10).reshape(5, 2)  # (B, C-1) of a window LM: rows on dim 0
    assert torch.equal(Dist(rank=1, world=2).split_state(window), window[3:])


def _hold_lock(run: Path) -> subprocess.Popen:
    """Another process that holds RUN/.lock (as a live training does) until killed."""
    return subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
         "from pathlib import Path; from rnnlab import runlock;"
         "runlock.acquire(Path(sys.argv[2])); print('held', flush=True); time.sleep(60)",
         str(ROOT), str(run)], stdout=subprocess.PIPE, text=True)


def test_second_writer_on_a_live_run_folder_is_refused(tmp_path: Path, names_file: Path,
                                                       capsys) -> None:
    """A process holding RUN/.lock (as a training does) blocks `rnnlab train --out RUN` and
    `--resume`, naming its pid; once it exits, the folder is free."""
    from rnnlab.cli import main

    run = tmp_path / "run"
    holder = _hold_lock(run)
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["train", "--data", str(names_file), "--format", "lines", "--model", "bigram",
                "--out", str(run), "--samples", "0", "--no-progress"]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "is being written by another process" in err and f"pid {holder.pid}" in err
        assert list(run.iterdir()) == [run / ".lock"]  # the holder's file; nothing written
    finally:
        holder.kill()
        holder.wait()
    assert main(args) == 0  # the lock died with its process: an empty folder is a new run
    capsys.readouterr()
    assert (run / "best.pt").is_file()


def test_resume_is_refused_while_the_run_is_alive(tmp_path: Path, names_file: Path,
                                                  capsys) -> None:
    from rnnlab.cli import main

    run = tmp_path / "run"
    args = ["train", "--data", str(names_file), "--format", "lines", "--model", "bigram",
            "--out", str(run), "--samples", "0", "--no-progress"]
    assert main(args) == 0
    holder = _hold_lock(run)
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert main([*args, "--resume", "--max-steps", "5"]) == 2
        assert f"(pid {holder.pid})" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


def test_device_cuda_without_a_gpu_is_one_error_line(tmp_path: Path, names_file: Path,
                                                     user_error) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    line = user_error(["train", "--data", str(names_file), "--format", "lines", "--model",
                       "gru", "--device", "cuda", "--out", str(tmp_path / "run")])
    assert "--device cuda" in line and "--device cpu" in line
    assert not (tmp_path / "run").exists()


def test_a_tag_batch_shard_keeps_every_form_its_words_point_at() -> None:
    """U == B here: cutting `chars` by rows would drop the forms rank 1's words read."""
    from rnnlab.distributed import shard_batch
    from rnnlab.models.base import TagBatch

    chars = torch.tensor([[5, 6, 0], [7, 8, 9]])
    b = TagBatch(torch.tensor([[4, 5], [6, 0]]), chars, torch.tensor([2, 3]),
                 torch.tensor([[0, 1], [1, 0]]), torch.tensor([2, 1]), None)
    part, real = shard_batch(b, 1, 2)
    assert real and part.words.tolist() == [[6, 0]] and part.lengths.tolist() == [1]
    assert torch.equal(part.chars, chars) and part.char_lengths.tolist() == [2, 3]
    assert part.chars[part.forms[0, 0]].tolist() == [7, 8, 9]
