"""NGramLM against hand counts, a slow dict-based Kneser-Ney reference and KenLM's own ARPA.

Shapes: B batch, T time, V vocabulary, N order.
"""

from __future__ import annotations

import io
import itertools
import math
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data.tokenizers import BOS_ID, EOS_ID, PAD_ID, Tokenizer
from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models.base import LMBatch
from rnnlab.models.ngram import NGramLM

DATA = Path(__file__).resolve().parents[1] / "fixtures"
SMOOTHINGS = ("mle", "add-k", "kn", "mkn")


def tiny_corpus() -> tuple[Tokenizer, list[list[int]]]:
    """45 lines (blank ones included) that `lmplz -o 3` accepts without --discount_fallback."""
    lines = (DATA / "ngram_tiny.txt").read_text().split("\n")[:-1]
    tok = Tokenizer.fit(lines, "word")
    return tok, [tok.encode(line) for line in lines]


def random_corpus(V: int = 9, n: int = 200, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(4, V, size=rng.integers(0, 7)).tolist() for _ in range(n)] + [[1, 4]]


def fit(V: int, order: int, smoothing: str, seqs: list[list[int]], k: float = 1.0) -> NGramLM:
    model = NGramLM(V, order, smoothing, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallback discounts on random toy data
        model.fit_counts(seqs)
    return model


def test_mle_and_add_k_hand_counts() -> None:
    # <s> 4 5 </s> and <s> 4 </s>: c(<s> 4)=2, c(4 5)=1, c(4 </s>)=1, c(5 </s>)=1.
    seqs, V = [[4, 5], [4]], 6
    mle = fit(V, 2, "mle", seqs)
    ctx = np.array([[BOS_ID], [4], [5], [1]])
    p = np.exp(mle.log_prob(ctx))  # (4, V)
    np.testing.assert_allclose(p[0], [0, 0, 0, 0, 1, 0])
    np.testing.assert_allclose(p[1], [0, 0, 0, 0.5, 0, 0.5])
    np.testing.assert_allclose(p[2], [0, 0, 0, 1, 0, 0])
    # unseen context: back off to the unigram relative frequencies 4:2, 5:1, </s>:2
    np.testing.assert_allclose(p[3], [0, 0, 0, 0.4, 0.4, 0.2])
    add1 = fit(V, 2, "add-k", seqs)  # V' = 4 predictable ids: <unk>, </s>, 4, 5
    p = np.exp(add1.log_prob(ctx))
    np.testing.assert_allclose(p[0], [0, 1 / 6, 0, 1 / 6, 3 / 6, 1 / 6])
    np.testing.assert_allclose(p[1], [0, 1 / 6, 0, 2 / 6, 1 / 6, 2 / 6])
    np.testing.assert_allclose(p[2], [0, 1 / 5, 0, 2 / 5, 1 / 5, 1 / 5])
    np.testing.assert_allclose(p[3], [0, 0.25, 0, 0.25, 0.25, 0.25])
    half = fit(V, 2, "add-k", seqs, k=0.5)
    assert np.exp(half.log_prob(ctx[:1], [4]))[0] == pytest.approx(2.5 / 4)
    # KenLM's perplexity: </s> is a token, <s> is not; log10 P("4 5") = log10(1 * .5 * 1)
    np.testing.assert_allclose(mle.sentence_log10([[4, 5], []]), [math.log10(0.5), -np.inf])
    assert add1.perplexity([[4]]) == pytest.approx((3 / 6 * 2 / 6) ** -0.5)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_probabilities_sum_to_one(smoothing: str) -> None:
    V = 11
    seqs = random_corpus(V)
    rng = np.random.default_rng(1)
    for order in range(1, 6):
        model = fit(V, order, smoothing, seqs, k=0.3)
        seen = np.array([s[i : i + 6] for s in seqs if len(s) >= 6 for i in range(1)])
        ctx = np.concatenate([rng.integers(0, V, size=(64, 6)), seen])
        ctx[:8, :] = BOS_ID
        p = np.exp(model.log_prob(ctx))  # (P, V)
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12, err_msg=f"order {order}")
        assert np.all(p[:, [PAD_ID, BOS_ID]] == 0)
        # the targets-only path agrees with the full distribution
        w = rng.integers(0, V, size=len(ctx))
        with np.errstate(divide="ignore"):
            want = np.log(p[np.arange(len(ctx)), w])
        np.testing.assert_allclose(model.log_prob(ctx, w), want, atol=1e-12)


def reference_kn(
    seqs: list[list[int]], V: int, N: int, modified: bool
) -> Callable[[tuple, int], float]:
    """Chen & Goodman's interpolated (modified) KN with lmplz's conventions, one dict per order
    and a loop per n-gram: slow and independent of the vectorized code."""
    raw = [Counter() for _ in range(N + 1)]
    for s in seqs:
        toks = [BOS_ID] * (N - 1) + s + [EOS_ID]
        for t in range(N - 1, len(toks)):
            for n in range(1, N + 1):
                g = tuple(toks[t - n + 1 : t + 1])
                if BOS_ID not in g[1:]:
                    raw[n][g] += 1
    adj = [dict(raw[n]) for n in range(N + 1)]
    for n in range(1, N):
        for g in adj[n]:
            if g[0] != BOS_ID:
                adj[n][g] = sum(1 for h in raw[n + 1] if h[1:] == g)
    disc = [None]
    for n in range(1, N + 1):
        nn = Counter(adj[n].values())
        y = nn[1] / (nn[1] + 2 * nn[2])
        d = [0, *(j - (j + 1) * y * nn[j + 1] / nn[j] for j in (1, 2, 3))] if modified else None
        d = d or [0, y, y, y]
        if not all(0 <= d[j] <= j for j in (1, 2, 3)):
            d = [0, 0.5, 1.0, 1.5] if modified else [0, 0.5, 0.5, 0.5]  # lmplz's fallback
        disc.append(d)

    def prob(h: tuple, w: int) -> float:
        n = len(h) + 1
        if n == 1:
            lower = 0.0 if w in (PAD_ID, BOS_ID) else 1 / (V - 2)
        else:
            lower = prob(h[1:], w)
        ext = {g[-1]: a for g, a in adj[n].items() if g[:-1] == h}
        if w in (PAD_ID, BOS_ID) or not ext:
            return 0.0 if w in (PAD_ID, BOS_ID) else lower
        den = sum(ext.values())
        gamma = sum(disc[n][min(a, 3)] for a in ext.values()) / den
        a = ext.get(w, 0)
        return (a - disc[n][min(a, 3)]) / den + gamma * lower

    return prob


@pytest.mark.parametrize("smoothing", ["kn", "mkn"])
@pytest.mark.parametrize("order", [2, 3])
def test_kneser_ney_matches_reference(smoothing: str, order: int) -> None:
    tok, seqs = tiny_corpus()
    V = len(tok)
    model = NGramLM(V, order, smoothing)
    with warnings.catch_warnings():
        # this corpus needs no fallback discounts, except the 2-gram table of a 2-gram mkn
        warnings.simplefilter("ignore" if (order, smoothing) == (2, "mkn") else "error")
        model.fit_counts(seqs)
    ref = reference_kn(seqs, V, order, smoothing == "mkn")
    rng = np.random.default_rng(0)
    # no </s> in the context: the model starts a new sentence after one, the reference not
    ctx = rng.choice([1, *range(4, V)], size=(12, order - 1))
    ctx[:3] = BOS_ID
    ctx[3:6, :1] = BOS_ID
    got = np.exp(model.log_prob(ctx))
    want = np.array([[ref(tuple(h), w) for w in range(V)] for h in ctx.tolist()])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)


def test_mkn_matches_lmplz_arpa() -> None:
    """tests/fixtures/ngram_tiny.o3.arpa = `lmplz -o 3 --text ngram_tiny.txt` (KenLM 0.3.0)."""
    tok, seqs = tiny_corpus()
    ours = fit(len(tok), 3, "mkn", seqs)
    kenlm, itos = NGramLM.from_arpa(str(DATA / "ngram_tiny.o3.arpa"))
    assert ours.num_ngrams() == kenlm.num_ngrams() == [14, 59, 100]
    to_kenlm = np.array([itos.index(w) for w in tok.vocab.itos])
    rng = np.random.default_rng(0)
    ctx = rng.integers(1, len(tok), size=(200, 4))
    ctx[:20, :] = BOS_ID
    want = kenlm.log_prob(to_kenlm[ctx])[:, to_kenlm]
    got = ours.log_prob(ctx)
    # lmplz computes in float32 and prints 8 digits
    np.testing.assert_allclose(got, want, rtol=2e-6)
    np.testing.assert_allclose(
        ours.perplexity(seqs), kenlm.perplexity([to_kenlm[s].tolist() for s in seqs]), rtol=1e-6
    )


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_arpa_round_trip(smoothing: str, tmp_path: Path) -> None:
    V = 10
    itos = ["<pad>", "<unk>", "<bos>", "<eos>", *(f"w{i}" for i in range(4, V))]
    model = fit(V, 4, smoothing, random_corpus(V), k=0.5)
    model.to_arpa(str(tmp_path / "m.arpa"), itos)
    back, itos2 = NGramLM.from_arpa(str(tmp_path / "m.arpa"))
    assert itos2 == itos
    rng = np.random.default_rng(2)
    ctx = rng.integers(1, V, size=(100, 3))
    ctx[:10] = BOS_ID
    a, b = model.log_prob(ctx), back.log_prob(ctx)
    assert np.array_equal(np.isinf(a), np.isinf(b))
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], atol=1e-5)


def test_arpa_with_missing_prefix(tmp_path: Path) -> None:
    # "a b c" without the bigram "a b" (as pruned SRILM files have).
    text = """\\data\\
ngram 1=5
ngram 2=1
ngram 3=1

\\1-grams:
-99\t<s>\t-0.5
-0.5\t</s>
-0.6\ta\t-0.2
-0.7\tb\t-0.1
-0.9\tc

\\2-grams:
-0.3\t<s> a\t-0.4

\\3-grams:
-0.05\ta b c

\\end\\
"""
    (tmp_path / "p.arpa").write_text(text)
    model, itos = NGramLM.from_arpa(str(tmp_path / "p.arpa"))
    a, b, c = (itos.index(w) for w in "abc")
    lg = model.log_prob(np.array([[a, b], [BOS_ID, a], [a, c]]), np.array([c, b, c])) / math.log(10)
    # p(b | <s> a) = bow(<s> a) * p(b | a), and the added "a b" holds bow(a) * p(b)
    np.testing.assert_allclose(lg, [-0.05, -0.4 - 0.2 - 0.7, -0.9], atol=1e-12)
    assert model.num_ngrams() == [len(itos), 2, 1]


def brute_force(model: NGramLM, context: list[int], length: int) -> tuple[list[int], float]:
    words = [w for w in range(model.vocab_size) if w not in (PAD_ID, BOS_ID)]
    seqs = np.array(list(itertools.product(words, repeat=length)))  # (S, L)
    hist = np.concatenate([np.tile([BOS_ID] * model.order + context, (len(seqs), 1)), seqs], 1)
    total = np.zeros(len(seqs))
    for t in range(length):
        cut = hist.shape[1] - length + t
        total += model.log_prob(hist[:, :cut], hist[:, cut])
    best = int(np.argmax(total))
    return seqs[best].tolist(), float(total[best])


@pytest.mark.parametrize("smoothing", ["add-k", "mkn"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_viterbi_and_beam_equal_brute_force(smoothing: str, order: int) -> None:
    V = 7
    model = fit(V, order, smoothing, random_corpus(V, n=60, seed=order), k=0.2)
    for context in ([], [4], [5, 6, 4]):
        want_tokens, want = brute_force(model, context, 4)
        tokens, score = model.most_likely_continuation(context, 4)
        assert score == pytest.approx(want, abs=1e-10)
        assert tokens == want_tokens
        tokens, score = model.beam_search_continuation(context, 4, num_beams=5**3)
        assert score == pytest.approx(want, abs=1e-10)
        assert tokens == want_tokens
    narrow, _ = model.beam_search_continuation([4], 4, num_beams=1)
    assert len(narrow) == 4


def test_viterbi_stops_with_advice_when_its_states_outgrow_the_budget(monkeypatch) -> None:
    from rnnlab.models import ngram_decode

    model = fit(7, 3, "mkn", random_corpus(7, n=60, seed=3), k=0.2)
    monkeypatch.setattr(ngram_decode, "MAX_STEP_SCORES", 7 * 3)  # 3 live states at V 7
    with pytest.raises(RnnlabError, match=r"live states .* --strategy beam_search"):
        model.most_likely_continuation([], 6)


def padded_batch(seqs: list[list[int]]) -> LMBatch:
    T = max(len(s) for s in seqs) + 1
    inputs = torch.full((len(seqs), T), PAD_ID)
    targets = torch.full((len(seqs), T), IGNORE_INDEX)
    for i, s in enumerate(seqs):
        inputs[i, : len(s) + 1] = torch.tensor([BOS_ID, *s])
        targets[i, : len(s) + 1] = torch.tensor([*s, EOS_ID])
    return LMBatch(inputs, targets, torch.tensor([len(s) + 1 for s in seqs]))


@pytest.mark.parametrize("order", [1, 3, 5])
def test_forward_prefill_step_agree(order: int) -> None:
    V = 9
    seqs = random_corpus(V)
    model = fit(V, order, "mkn", seqs)
    batch = padded_batch([[4, 5, 6, 7], [8], []])
    out = model(batch)
    assert out.logits.shape == (3, 5, V) and out.state.shape == (3, order - 1)
    assert torch.allclose(torch.log_softmax(out.logits, -1), out.logits, atol=1e-6)
    nll = -np.concatenate([model.sentence_log10([s]) for s in [[4, 5, 6, 7], [8], []]]).sum()
    assert out.loss.item() == pytest.approx(nll * math.log(10) / 8, rel=1e-6)
    logits, state = model.prefill(batch.inputs[:1, :1])
    torch.testing.assert_close(logits, out.logits[:1, 0])
    for t in range(1, 5):
        logits, state = model.step(batch.inputs[:1, t], state)
        torch.testing.assert_close(logits, out.logits[:1, t])
    # a stream chunked in two, carrying the state, equals the whole stream
    stream = torch.tensor([[BOS_ID, 4, 5, EOS_ID, 6, 7, 8, EOS_ID, 4]])
    whole = model(LMBatch(stream[:, :-1], stream[:, 1:], None, reset=False))
    first = model(LMBatch(stream[:, :4], stream[:, 1:5], None, reset=False))
    second = model(LMBatch(stream[:, 4:-1], stream[:, 5:], None, reset=False), first.state)
    torch.testing.assert_close(torch.cat([first.logits, second.logits], 1), whole.logits)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_state_dict_round_trip(smoothing: str) -> None:
    V = 9
    model = fit(V, 3, smoothing, random_corpus(V))
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    fresh = NGramLM(**model.hparams)
    fresh.load_state_dict(torch.load(buf))
    batch = padded_batch([[4, 5, 6], [7, 8]])
    assert torch.equal(fresh(batch).logits, model(batch).logits)


def test_user_errors() -> None:
    with pytest.raises(RnnlabError, match="smoothing"):
        NGramLM(10, 3, "witten-bell")
    with pytest.raises(RnnlabError, match="order"):
        NGramLM(10, 0)
    with pytest.raises(RnnlabError, match="special tokens"):
        NGramLM(10, 2).fit_counts([[4, EOS_ID]])
    with pytest.raises(RnnlabError, match="fit_counts"):
        NGramLM(10, 2)(padded_batch([[4]]))


def test_bigram_on_names() -> None:
    names = Path(__file__).resolve().parents[3] / "shared" / "data" / "names" / "names.txt"
    if not names.is_file():
        pytest.skip("shared names.txt not available")
    seqs = [list(w) for w in names.read_text().split()]
    tok = Tokenizer.fit(["".join(w) for w in seqs], "char")
    ids = [tok.vocab.encode(w) for w in seqs]
    model = fit(len(tok), 2, "add-k", ids)  # makemore's count bigram: ~2.45 nats on its data
    assert 2.44 < model.nll(ids) < 2.47


def test_state_ids_name_equal_distributions() -> None:
    V = 9
    model = fit(V, 3, "mkn", random_corpus(V))
    rng = np.random.default_rng(3)
    ctx = model.contexts(rng.integers(1, V, size=(300, 2)))
    ids = model.state_ids(ctx)
    dist = model.log_prob(ctx)  # (300, V)
    for s in np.unique(ids):
        rows = dist[ids == s]
        np.testing.assert_array_equal(rows, np.broadcast_to(rows[0], rows.shape))
    assert len(np.unique(ids)) > 1


# -- each line a sentence (`--format text`), lmplz's conventions -------------------------------
# `lmplz -o 2 --discount_fallback --text empty.txt` (KenLM 0.3.0) on "a b\n\nb a\n   \na\n\n":
# the empty line, the line of spaces and the last empty line are each the sentence <s> </s>.
EMPTY_LINES_TEXT = "a b\n\nb a\n   \na\n\n"
EMPTY_LINES_ARPA = """\\data\\
ngram 1=5
ngram 2=7

\\1-grams:
-0.90309\t<unk>\t0
0\t<s>\t-0.10145763
-0.46943438\t</s>\t0
-0.5720968\ta\t-0.23408322
-0.5720968\tb\t-0.30103

\\2-grams:
-0.5708921\t<s> </s>
-0.34880275\ta </s>
-0.37712017\tb </s>
-0.47230107\t<s> a
-0.41574955\tb a
-0.5296088\t<s> b
-0.49090958\ta b

\\end\\
"""


def test_empty_lines_are_empty_sentences_as_lmplz(tmp_path: Path) -> None:
    from rnnlab.tasks.lm.sentences import encode_sentences, split_sentences

    tok = Tokenizer.fit(EMPTY_LINES_TEXT.split("\n"), "word")
    sentences = split_sentences(encode_sentences(tok, EMPTY_LINES_TEXT))
    assert [s.tolist() for s in sentences] == [
        tok.encode("a b"), [], tok.encode("b a"), [], tok.encode("a"), []]
    ours = fit(len(tok), 2, "mkn", sentences)
    (tmp_path / "k.arpa").write_text(EMPTY_LINES_ARPA)
    kenlm, itos = NGramLM.from_arpa(str(tmp_path / "k.arpa"))
    to_kenlm = np.array([itos.index(w) for w in tok.vocab.itos])
    ctx = np.array([[BOS_ID], [tok.vocab.stoi["a"]], [tok.vocab.stoi["b"]], [1]])
    np.testing.assert_allclose(ours.log_prob(ctx), kenlm.log_prob(to_kenlm[ctx])[:, to_kenlm],
                               rtol=2e-6)


def lmplz_corpus() -> list[str]:
    """400 Zipfian lines that `lmplz -o 3` takes without --discount_fallback, then a last new
    word "zz" with raw count 3 but 2 left extensions (<s>, w0)."""
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(300)]
    weights = [1 / (i + 1) for i in range(300)]
    lines = [" ".join(rng.choices(words, weights, k=rng.randrange(8))) for _ in range(400)]
    lines[5] = "   "
    return [*lines, "w0 zz", "w0 zz w1", "zz"]


def test_mkn_discounts_as_lmplz_counts_them() -> None:
    """lmplz adds the n-gram it visits last at each lower order to the counts-of-counts with
    its raw count (see `ngram_counts.lmplz_last`): here "zz" moves from class 2 to 3. The
    figures are lmplz's "Statistics" lines for `lmplz -o 3` on `lmplz_corpus()`."""
    lines = lmplz_corpus()
    tok = Tokenizer.fit(lines, "word")
    model = fit(len(tok), 3, "mkn", [tok.encode(x) for x in lines])
    lmplz = [[0.393365, 1.31776, 2.14948], [0.80673, 1.37334, 1.55345],
             [0.949926, 1.24565, 1.73343]]
    np.testing.assert_allclose(model.discounts.numpy()[:, 1:], lmplz, rtol=5e-6)


def kenlm_bin() -> Path | None:
    import os
    import shutil

    for d in (os.environ.get("KENLM_BIN"), "/tmp/kenlm/build/bin"):
        if d and (Path(d) / "lmplz").is_file():
            return Path(d)
    found = shutil.which("lmplz")
    return Path(found).parent if found else None


@pytest.mark.skipif(kenlm_bin() is None, reason="KenLM's lmplz not built "
                    "(benchmarks/kenlm_setup.sh)")
@pytest.mark.parametrize("level", ["word", "char"])
def test_text_sentences_equal_lmplz_binary(level: str, tmp_path: Path) -> None:
    """The sentences of a text (each line one, empty lines included) against the real lmplz
    on the same lines; characters are spaced for lmplz, a space spelled as `arpa_word` does."""
    import subprocess

    from rnnlab.models.arpa import arpa_word
    from rnnlab.tasks.lm.sentences import encode_sentences, fit_texts, split_sentences

    text = "\n".join(lmplz_corpus()) + "\n"
    if level == "char":
        text = "\n".join(x.replace("w", "")[:12] for x in lmplz_corpus()) + "\n"
    lines = fit_texts(text)
    tok = Tokenizer.fit(lines, level)
    spelled = lines if level == "word" else [" ".join(map(arpa_word, x)) for x in lines]
    (tmp_path / "t.txt").write_text("".join(x + "\n" for x in spelled))
    subprocess.run([str(kenlm_bin() / "lmplz"), "-o", "4", "--discount_fallback", "--text",
                    str(tmp_path / "t.txt"), "--arpa", str(tmp_path / "k.arpa")],
                   check=True, capture_output=True)
    ours = fit(len(tok), 4, "mkn", split_sentences(encode_sentences(tok, text)))
    kenlm, itos = NGramLM.from_arpa(str(tmp_path / "k.arpa"))
    to_kenlm = np.array([itos.index(w) for w in tok.vocab.itos])
    ctx = np.random.default_rng(0).integers(1, len(tok), size=(100, 3))
    ctx[:10] = BOS_ID
    np.testing.assert_allclose(ours.log_prob(ctx), kenlm.log_prob(to_kenlm[ctx])[:, to_kenlm],
                               rtol=2e-6)
