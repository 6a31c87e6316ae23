"""The tag task's configuration: its `[data]` and `[model]` fields (flags of `rnnlab train
--task tag`) and which models read which. Torch-free: `rnnlab --help` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.config import STREAM_FIELDS, param

NEURAL = ("lstm", "gru", "rnn")


@dataclass
class DataConfig:
    data: str | None = param(None, "training file, CoNLL-U (UD); multiword tokens and empty "
                             "nodes are kept out of tagging", input=True)
    val_data: str | None = param(None, "validation CoNLL-U file (early stopping; else a "
                                 "seeded --val-fraction of the training sentences)", input=True)
    test_data: str | None = param(None, "test CoNLL-U file (the final figures)", input=True)
    tag_column: str = param("upos", "the CoNLL-U column to predict", choices=("upos", "xpos"))
    val_fraction: float = param(0.1, "without --val-data: training sentences held out",
                                ge=0, lt=1)
    split_seed: int = param(1337, "seed of the held-out validation sentences", ge=0,
                            le=(1 << 63) - 1)
    defaults: str = param("auto", "auto: with --max-time and no --max-steps the budget ends "
                          "the run (rnnlab/budget.py); fixed: the documented limits "
                          "(30 epochs, one evaluation per epoch)", choices=("auto", "fixed"))


@dataclass
class ModelConfig:
    model: str = param("lstm", "bidirectional lstm, gru or rnn (Elman) tagger, or hmm "
                       "(second-order HMM, counted)", choices=(*NEURAL, "hmm"), noun="tagger")
    embedding_dim: int = param(100, "word embedding size", ge=1, le=1 << 16)
    char_encoder: str = param("bilstm", "words' spelling: bilstm, cnn or none",
                              choices=("bilstm", "cnn", "none"))
    char_dim: int = param(32, "character embedding size", ge=1, le=1 << 16)
    char_hidden: int = param(64, "character BiLSTM units per direction (cnn: filters)", ge=1,
                             le=1 << 16)
    hidden_size: int = param(128, "hidden units per layer and direction", ge=1, le=1 << 16)
    num_layers: int = param(2, "stacked bidirectional layers", ge=1, le=64)
    dropout: float = param(0.33, "dropout probability", ge=0, lt=1)
    word_dropout: float = param(0.25, "alpha: a training word of frequency f reads <unk> with "
                                "probability alpha / (alpha + f)", ge=0, le=1e6,
                                special={0: "off"})
    crf: bool = param(False, "a linear-chain CRF over the tag scores (Viterbi decoding)")
    impl: str = param("fused", "fused (PyTorch's nn kernels) or loop (hand-written cells)",
                      choices=("fused", "loop"))
    order: int = param(2, "hmm: tags of context (1 bigram, 2 trigram)", ge=1, le=2)
    max_suffix: int = param(10, "hmm: longest suffix of the unknown-word model", ge=0, le=100)
    rare_threshold: int = param(10, "hmm: words seen at most this often train the suffix "
                                "model", ge=1, le=1 << 30)


# training settings that suit tagging, applied to the fields a user did not set
TRAIN_DEFAULTS = {"lr": 2e-3, "weight_decay": 0.0, "max_steps": 10**9, "max_epochs": 30,
                  "patience": 5, "batch_size": 32}


# model fields that only some models read (refused with another --model)
MODEL_ONLY: dict[str, tuple[str, ...]] = {
    **{k: NEURAL for k in ("embedding_dim", "char_encoder", "char_dim", "char_hidden",
                           "hidden_size", "num_layers", "dropout", "word_dropout", "crf",
                           "impl")},
    **{k: ("hmm",) for k in ("order", "max_suffix", "rare_threshold")}}
# TrainConfig fields no tagging run reads
TRAIN_UNUSED: tuple[str, ...] = (*STREAM_FIELDS, "fused_loss")
RENAMED: dict[str, str] = {}  # old "section.key" -> new (none)
# `rnnlab train --task tag --help` ends with these (each runs on CoNLL-U files of yours)
EXAMPLES: tuple[str, ...] = (
    "rnnlab train --task tag --data ud_english_ewt --max-time 600",
    "rnnlab train --task tag --data train.conllu --model hmm",
    "rnnlab train --task tag --data train.conllu --crf --tag-column xpos --max-time 600",
)
