"""The lm task's configuration: its `[data]` and `[model]` fields (flags of `rnnlab train
--task lm`) and which models read which. Torch-free: `rnnlab --help` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.config import BIG, param

MODELS = ("bigram", "ngram", "linear", "mlp", "cnn", "rnn", "gru", "lstm")
RECURRENT = ("rnn", "gru", "lstm")
WINDOW = ("linear", "mlp", "cnn")
COUNTED = ("bigram", "ngram")


@dataclass
class DataConfig:
    data: str | None = param(None, "training file (default: embedded Spanish first names)",
                             input=True)
    format: str = param("lines", "text: one stream cut into TBPTT chunks; lines: one example "
                        "per line", choices=("lines", "text"))
    level: str = param("char", "char or word tokens", choices=("char", "word"))
    val_data: str | None = param(None, "explicit validation file (else a seeded split of "
                                 "--data)", input=True)
    test_data: str | None = param(None, "explicit test file", input=True)
    split_seed: int = param(1337, "seed of the train/val/test split (same seed, same split)",
                            ge=0, le=(1 << 63) - 1)
    val_size: int | None = param(None, "lines format: validation examples (default min(1000, "
                                 "10%%))", ge=0, le=BIG)
    test_size: int | None = param(None, "lines format: test examples (default min(1000, 10%%))",
                                  ge=0, le=BIG)
    val_fraction: float = param(0.05, "text format: validation fraction", ge=0, lt=1)
    test_fraction: float = param(0.05, "text format: test fraction", ge=0, lt=1)
    min_freq: int = param(1, "drop tokens rarer than this from the vocabulary", ge=1, le=BIG)
    max_vocab: int | None = param(None, "keep at most this many tokens (specials included)",
                                  ge=5, le=BIG)
    direction: str = param("l2r", "l2r, or r2l: each line's tokens reversed (its <eos> stays "
                           "last)", choices=("l2r", "r2l"))
    defaults: str = param("auto", "text format, recurrent models: auto: the fields you do not "
                          "set are chosen from the text's size and --max-time "
                          "(rnnlab/tasks/lm/defaults.py); fixed: the documented defaults",
                          choices=("auto", "fixed"))


@dataclass
class ModelConfig:
    model: str = param("lstm", "bigram, ngram, linear, mlp, cnn, rnn (Elman), gru, lstm",
                       choices=MODELS)
    embedding_dim: int = param(64, "embedding size", ge=1, le=1 << 16)
    hidden_size: int = param(256, "hidden units per layer (window models: hidden layer)",
                             ge=1, le=1 << 16)
    num_layers: int = param(1, "stacked recurrent layers (cnn: conv layers)", ge=1, le=64)
    dropout: float = param(0.3, "dropout probability (small character data overfits fast "
                           "without it)", ge=0, lt=1)
    tie_weights: bool = param(False, "share the embedding and output matrices (recurrent)")
    impl: str = param("fused", "recurrent models: fused (PyTorch's nn kernels) or loop "
                      "(hand-written cells)", choices=("fused", "loop"))
    feedback: bool = param(False, "Elman output-to-hidden R y_{t-1} (rnn, --impl loop)")
    init_range: float | None = param(None, "initialize every weight from U(-r, r)", gt=0,
                                     le=100)
    adaptive_softmax: bool = param(False, "recurrent: adaptive softmax output layer (Grave et "
                                   "al. 2017; exact probabilities, 2-3x faster steps at 16k+ "
                                   "words; clusters at 1000, 4000, 16000, ...)")
    context: int = param(3, "window models: tokens of context", ge=1, le=1 << 14)
    direct: bool = param(False, "window models: Bengio's direct input-to-output connection")
    order: int = param(3, "n-gram order", ge=1, le=20)
    smoothing: str = param("mkn", "n-gram smoothing: mle, add-k, kn, mkn",
                           choices=("mle", "add-k", "kn", "mkn"))
    k: float = param(1.0, "add-k smoothing constant (ngram --smoothing add-k, bigram)", gt=0,
                     le=1e6)


# model fields that only some models read: giving one to another model is a mistake, refused
# naming the models that read it (so a size flag such as --hidden-size is refused with --model
# ngram, which counts and has no layers; a table of models takes one command line per model)
MODEL_ONLY: dict[str, tuple[str, ...]] = {
    "embedding_dim": (*RECURRENT, *WINDOW), "hidden_size": (*RECURRENT, "mlp", "cnn"),
    "num_layers": (*RECURRENT, "cnn"), "dropout": (*RECURRENT, *WINDOW),
    "tie_weights": RECURRENT, "impl": RECURRENT, "feedback": ("rnn",),
    "adaptive_softmax": RECURRENT, "init_range": RECURRENT, "context": WINDOW, "direct": WINDOW,
    "order": ("ngram",), "smoothing": ("ngram",), "k": COUNTED}
TEXT_ONLY = ("data.val_fraction", "data.test_fraction", "train.seq_len", "train.partition",
             "train.stream_val_batch", "train.eval_rows")
LINES_ONLY = ("data.val_size", "data.test_size", "train.eval_batch_size")
TRAIN_UNUSED: tuple[str, ...] = ()  # every TrainConfig field matters to some lm run
RENAMED: dict[str, str] = {}  # old "section.key" -> new (none)
# `rnnlab train --task lm --help` ends with these (each runs as shown)
EXAMPLES: tuple[str, ...] = (
    "rnnlab train --task lm --max-steps 300 --out runs/names-lstm",
    "rnnlab train --task lm --model ngram --order 4 --out runs/names-4gram",
    "rnnlab train --task lm --data book.txt --format text --level word --model gru "
    "--max-time 600",
)
