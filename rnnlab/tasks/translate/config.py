"""The translate task's configuration: its `[data]` and `[model]` fields (flags of `rnnlab train
--task translate`) and which models read which. Torch-free: `rnnlab --help` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.config import BIG, STREAM_FIELDS, param


@dataclass
class DataConfig:
    data: str | None = param(None, "a file of SOURCE<TAB>TARGET lines (more columns, such as "
                             "Tatoeba's attribution, are ignored)", input=True)
    source_column: int = param(0, "the source's column (0-based)", ge=0, le=1 << 16)
    target_column: int = param(1, "the target's column (0-based)", ge=0, le=1 << 16)
    swap_columns: bool = param(False, "swap the two columns: translate --target-column into "
                               "--source-column (fra->eng on Tatoeba's eng<TAB>fra)")
    lowercase: bool = param(False, "lowercase both sides (references too)")
    min_freq: int = param(2, "per side: words rarer than this in training read <unk>", ge=1,
                          le=BIG)
    max_vocab: int | None = param(None, "per side: keep at most this many tokens (specials "
                                  "included)", ge=5, le=BIG)
    subword: str = param("none", "per side: none (words and punctuation), or SentencePiece "
                         "pieces learned from the training part: bpe or unigram (--min-freq "
                         "and --max-vocab then apply to nothing); --defaults auto: bpe unless "
                         "--min-freq or --max-vocab is given", choices=("none", "bpe", "unigram"))
    subword_vocab: int = param(8000, "per side: pieces to learn with --subword; --defaults auto: "
                               "8000, at most the side's distinct training words, at least its "
                               "characters + 8", ge=16, le=1 << 20)
    max_len: int = param(50, "drop pairs with more tokens than this on either side (50 drops "
                         "5 of Tatoeba's 167,130 pairs)", ge=1, le=1 << 20)
    val_data: str | None = param(None, "explicit validation pairs file (else a grouped split)",
                                 input=True)
    test_data: str | None = param(None, "explicit test pairs file", input=True)
    split_seed: int = param(1337, "seed of the grouped split", ge=0, le=(1 << 63) - 1)
    val_fraction: float = param(0.02, "validation fraction of the distinct source sentences",
                                ge=0, lt=1)
    test_fraction: float = param(0.05, "test fraction of the distinct source sentences", ge=0,
                                 lt=1)
    defaults: str = param("auto", "auto: the fields you do not set follow the best measured "
                          "recipe (BPE pieces sized to the data, no input feeding, fused loss "
                          "with a bf16 output layer where the CPU has native bf16, the "
                          "eng-fra config's training settings; "
                          "rnnlab/tasks/translate/defaults.py); fixed: the documented "
                          "defaults", choices=("auto", "fixed"))


@dataclass
class ModelConfig:
    model: str = param("gru", "encoder and decoder cell: gru or lstm", choices=("gru", "lstm"),
                       noun="encoder-decoder cell")
    attention: str = param("additive", "additive (Bahdanau), multiplicative (Luong general) or "
                           "none (the final encoder state alone)",
                           choices=("additive", "multiplicative", "none"))
    embedding_dim: int = param(256, "embedding size (each side)", ge=1, le=1 << 16)
    hidden_size: int = param(256, "decoder hidden units (a bidirectional encoder has half "
                             "per direction)", ge=1, le=1 << 16)
    num_layers: int = param(1, "stacked recurrent layers (encoder and decoder)", ge=1, le=64)
    bidirectional: bool = param(True, "read the source in both directions")
    input_feeding: bool = param(True, "feed the last attentional vector into the next decoder "
                                "step (Luong); attention only")
    dropout: float = param(0.2, "dropout probability", ge=0, lt=1)
    scheduled_sampling: float = param(0.0, "probability of feeding the model's own sampled "
                                      "token instead of the reference in training", ge=0, le=1)
    tie_weights: bool = param(False, "share the target embedding with the output layer "
                              "(needs --embedding-dim = --hidden-size)")
    label_smoothing: float = param(0.0, "training targets (1 - e) one-hot + e / V (Szegedy et "
                                   "al. 2016); validation and test NLL stay unsmoothed",
                                   ge=0, lt=1)
    final_beams: int = param(5, "beam width of the test BLEU after training, beside greedy",
                             ge=1, le=256, special={0: "greedy only"})


MODEL_ONLY: dict[str, tuple[str, ...]] = {}  # both cells read every model field
TRAIN_UNUSED: tuple[str, ...] = STREAM_FIELDS  # TrainConfig fields no translation reads
# old "section.key" -> new: one name per concept across tasks (columns are *_column as in
# classify and tag; tying is tie_weights as in lm)
RENAMED: dict[str, str] = {
    "data.src_col": "data.source_column", "data.tgt_col": "data.target_column",
    "data.reverse": "data.swap_columns", "model.tie_embeddings": "model.tie_weights"}
# `rnnlab train --task translate --help` ends with these (each runs on a file of yours)
EXAMPLES: tuple[str, ...] = (
    "rnnlab train --task translate --data tatoeba_eng_fra --max-time 1800 --out runs/eng-fra",
    "rnnlab train --config configs/translate.toml --data pairs.tsv --max-time 600",
    "rnnlab train --task translate --data fra.txt --swap-columns --subword-vocab 4000",
)
