"""Count models (bigram, ngram) on `--format text`: each line of the text is a sentence.

A count model's text stream is encoded as the word-level stream is, at either level: each
line's tokens, then `<eos>`. At character level there is no newline token: the vocabulary
is fitted on the lines, and `<eos>` stands where the newline was (one token for one
character, so nats per token stay nats per character). The model counts the sentences
between the `<eos>` ids (`split_sentences`) and reads an `<eos>` in its context as a
sentence start, so it equals the model trained on the same lines with `--format lines`, and
modified Kneser-Ney equals KenLM's `lmplz` on the same text.

Empty lines: every line is a sentence, an empty line (and, at word level, a line of
whitespace only) the empty sentence `<s> </s>`, which is how `lmplz` counts it; a final
newline ends the last line and starts no sentence (`text_lines`). `--format lines` reads
empty lines the same way, so both formats give the same model.

Evaluation streams (`encode_sentences(start=True)`) begin with an `<eos>`: every token of a
split is scored, the first after `<s>`, as KenLM's `query` scores a file.

Character-level count runs made before this rule have a newline token in their vocabulary;
they keep reading the text as one stream (`sentence_stream` is false for them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnlab.data.readers import text_lines

if TYPE_CHECKING:
    import numpy as np

    from rnnlab.data.tokenizers import Tokenizer

COUNTED = ("bigram", "ngram")  # the models trained by counting sentences


def sentence_stream(fmt: str, model: str, tok: Tokenizer | None = None) -> bool:
    """Whether a run of `model` on data in `fmt` reads each line of its text as a sentence
    (`tok`, the run's tokenizer, once there is one: older character runs did not)."""
    if fmt != "text" or model not in COUNTED:
        return False
    return tok is None or tok.level != "char" or "\n" not in tok.vocab


def fit_texts(text: str) -> list[str]:
    """What the vocabulary is fitted on: the lines, so no newline token."""
    return text_lines(text)


def encode_sentences(tok: Tokenizer, text: str, direction: str = "l2r",
                     start: bool = False) -> list[int]:
    """Each line's ids (reversed within the line for "r2l"), then `<eos>`; with `start` one
    `<eos>` first, so that the first line is scored as a sentence too."""
    from rnnlab.data.tokenizers import EOS_ID, encode_line

    ids = [EOS_ID] if start else []
    for line in text_lines(text):
        ids.extend(encode_line(tok, line, direction))
        ids.append(EOS_ID)
    return ids


def split_sentences(ids: np.ndarray | list[int]) -> list[np.ndarray]:
    """The sentences of a stream: the ids between consecutive `<eos>` (views, no copy of a
    memory-mapped stream); ids after the last `<eos>` are a sentence of their own."""
    import numpy as np

    from rnnlab.data.tokenizers import EOS_ID

    arr = np.asanyarray(ids)
    ends = np.flatnonzero(arr == EOS_ID)
    parts = np.split(arr, ends)  # every part after the first starts with its <eos>
    sentences = [parts[0], *(p[1:] for p in parts[1:])]
    if len(sentences[-1]) == 0:  # the stream ends with an <eos>: no sentence after it
        sentences.pop()
    return sentences
