"""One rank of the DDP equality test (tests/test_distributed.py): started twice with RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT set, it trains the cases of `build` through the real
Trainer on its shard of every batch and saves the weights it ends with."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from rnnlab.config import TrainConfig
from rnnlab.data.batching import BpttStream, PaddedBatches
from rnnlab.models.lm import RecurrentLM

STEPS = 2


def build(case: str):
    """(float64 model, batch source, TrainConfig) of a case, the same in every process."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    cfg = TrainConfig(optimizer="sgd", lr=0.5, weight_decay=0.0, clip=0.05,
                      schedule="constant", max_steps=STEPS, eval_every=100, patience=0)
    if case == "stream":  # 4 rows, 2 per rank, the state carried from chunk 1 to chunk 2
        model = RecurrentLM(11, "lstm", 6, 8, num_layers=2).double()
        ids = torch.randint(0, 11, (4 * 2 * 7 + 1,), generator=g).numpy()
        return model, BpttStream(ids, 4, 7), cfg
    # padded lines of unequal lengths: 5 per batch, ranks get 3 and 2 with unequal tokens
    model = RecurrentLM(11, "gru", 6, 8).double()
    seqs = [torch.randint(4, 11, (int(n),), generator=g).tolist()
            for n in torch.randint(1, 9, (10,), generator=g)]
    return model, PaddedBatches(seqs, 5, shuffle=True, seed=3), cfg


def validation_cases():
    """(name, validate function, model, batch source) of sharded validations: rows split
    unevenly (3 stream rows, last padded batch of 2 lines, 5 labeled examples in 3s)."""
    from rnnlab.data.batching import ClassBatches
    from rnnlab.metrics import evaluate
    from rnnlab.models.classifier import SequenceClassifier
    from rnnlab.tasks.classify import validate

    g = torch.Generator().manual_seed(2)
    stream_model, _, _ = build("stream")
    ids = torch.randint(0, 11, (3 * 9 + 1,), generator=g).numpy()
    lines_model, lines, _ = build("padded")
    clf = SequenceClassifier(11, 3, "gru", 6, 8, bidirectional=True).double().eval()
    seqs = [torch.randint(4, 11, (n,), generator=g).tolist() for n in (3, 7, 1, 5, 2)]
    return [("stream", evaluate, stream_model, BpttStream(ids, 3, 4)),
            ("lines", evaluate, lines_model, PaddedBatches(lines.seqs[:7], 5, shuffle=False)),
            ("classify", validate, clf, ClassBatches(seqs, [0, 2, 1, 1, 0], 3))]


def main(out: str) -> None:
    from rnnlab import distributed
    from rnnlab.trainer import Trainer

    torch.set_num_threads(1)
    dist = distributed.start("cpu", timeout=60)
    result = {}
    for case in ("stream", "padded"):
        model, source, cfg = build(case)
        Trainer(cfg, dist=dist).fit(model, distributed.Sharded(source, dist, train=True))
        result[case] = model.state_dict()
    for name, fn, model, source in validation_cases():
        with distributed.reducing(dist):
            result[f"val_{name}"] = fn(model, distributed.Sharded(source, dist, train=False)
                                       .epoch(0))
    torch.save(result, Path(out) / f"rank{dist.rank}.pt")
    distributed.close()


if __name__ == "__main__":
    main(sys.argv[1])
