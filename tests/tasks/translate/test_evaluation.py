"""rnnlab/tasks/translate/evaluation.py: BLEU and chrF equal sacrebleu called directly."""

from __future__ import annotations

import pytest


# -- scores ----------------------------------------------------------------------------------
def test_bleu_and_chrf_equal_sacrebleu_called_directly():
    import sacrebleu

    from rnnlab.tasks.translate.evaluation import bucket_scores, corpus_scores

    hyps = ["Je suis malade.", "Il fait froid !", "Va !", "C'est une belle journée ."]
    refs = ["Je suis malade.", "Il fait très froid !", "Pars !", "C'est une belle journée."]
    m = corpus_scores(hyps, refs)
    assert m["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-12)
    assert m["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-12)
    assert m["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert m["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs], tokenize="13a").score)
    srcs = ["I am sick.", "It is cold out there tonight, very cold.", "Go!", "Nice day."]
    by = {b["words"]: b for b in bucket_scores(srcs, hyps, refs)}
    assert by["1-5"]["sentences"] == 3 and by["6-10"]["sentences"] == 1
    assert by["6-10"]["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu([hyps[1]], [[refs[1]]]).score)
