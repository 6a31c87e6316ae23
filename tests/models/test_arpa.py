"""rnnlab/models/arpa.py: ARPA files written from tables alone equal NGramLM's own, and read
back to the same tables. (NGramLM's ARPA round trips and the lmplz reference are in
tests/models/test_ngram.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnlab.data.tokenizers import Tokenizer
from rnnlab.models.ngram import NGramLM

DATA = Path(__file__).resolve().parents[1] / "fixtures"


def test_arpa_module_reads_and_writes_tables(tmp_path: Path) -> None:
    """arpa.py works on tables alone; NGramLM.to_arpa / from_arpa wrap it."""
    from rnnlab.models import arpa

    # the 45 lines `lmplz -o 3` accepts without --discount_fallback
    lines = (DATA / "ngram_tiny.txt").read_text().split("\n")[:-1]
    tok = Tokenizer.fit(lines, "word")
    model = NGramLM(len(tok), 3, "mkn")
    model.fit_counts([tok.encode(line) for line in lines])
    model.to_arpa(str(tmp_path / "a.arpa"), tok.vocab.itos)
    arpa.write_arpa(model, str(tmp_path / "b.arpa"), tok.vocab.itos)  # model-level name
    arpa.write_arpa_tables(model.tables(), str(tmp_path / "c.arpa"), tok.vocab.itos)
    text = (tmp_path / "a.arpa").read_text()
    assert text == (tmp_path / "b.arpa").read_text() == (tmp_path / "c.arpa").read_text()
    tables, itos = arpa.read_arpa(str(tmp_path / "a.arpa"))
    back, itos2 = NGramLM.from_arpa(str(tmp_path / "a.arpa"))
    assert itos == itos2 and back.order == len(tables) == 3
    for (k1, p1, b1), (k2, p2, b2) in zip(tables, back.tables(), strict=True):
        assert np.array_equal(k1, k2) and np.array_equal(p1, p2) and np.array_equal(b1, b2)
