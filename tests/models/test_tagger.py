"""The neural tagger: padded positions change no sentence's scores, the CRF path is the CRF
module's (and its decoding is the best of all paths by enumeration), a tiny model overfits a
tiny set, a checkpoint round trip gives identical scores, word dropout has the rate
alpha / (alpha + f), and the batches bound the character tensor."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from rnnlab.data.readers import read_conllu
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models import rebuild
from rnnlab.models.most_frequent import MostFrequentTag
from rnnlab.models.tagger import MAX_WORD_CHARS, SequenceTagger
from rnnlab.tasks.tag import Encoder

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tag_tiny.conllu"


@pytest.fixture
def data():
    sents = read_conllu(TINY)
    return sents, Encoder.fit(sents)


def tagger(enc: Encoder, **kw) -> SequenceTagger:
    torch.manual_seed(0)
    args = dict(embedding_dim=8, char_dim=4, char_hidden=5, hidden_size=6, num_layers=2,
                dropout=0.0, word_dropout=0.0)
    return SequenceTagger(len(enc.words), len(enc.chars), len(enc.tags), **{**args, **kw})


def one_batch(enc: Encoder, sents, with_tags: bool = True):
    src = enc.batches([w for w, _ in sents], [t for _, t in sents] if with_tags else None,
                      len(sents))
    return next(iter(src.indexed_epoch(0)))


@pytest.mark.parametrize("char_encoder", ["bilstm", "cnn", "none"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_does_not_change_a_sentence_s_scores(data, char_encoder, cell):
    sents, enc = data
    model = tagger(enc, char_encoder=char_encoder, cell=cell).eval()
    idx, b = one_batch(enc, sents)
    assert int(b.lengths.min()) < b.words.shape[1]  # some rows are padded
    together = model.scores(b)
    for row, i in enumerate(idx):
        _, alone = one_batch(enc, [sents[i]])
        n = len(sents[i][0])
        torch.testing.assert_close(together[row, :n], model.scores(alone)[0], atol=1e-6,
                                   rtol=1e-5)
    assert (b.tags[b.words == 0] == IGNORE_INDEX).all()


def test_crf_loss_and_decoding_are_the_crf_module_s_and_the_best_path(data):
    sents, enc = data
    model = tagger(enc, crf=True).eval()
    with torch.no_grad():
        model.crf.transitions.normal_()  # untrained zeros would make Viterbi = argmax
    short = [s for s in sents if len(s[0]) <= 5]  # K^5 = 10^5 paths at most
    _, b = one_batch(enc, short)
    s = model.scores(b)
    mask = model.mask(b)
    tags = b.tags.masked_fill(~mask, 0)
    want = model.crf.nll(s, tags, mask).sum() / mask.sum()
    torch.testing.assert_close(model(b).loss, want)
    best = model.decode(b)
    K = len(enc.tags)
    for row in range(len(short)):
        n = int(b.lengths[row])
        e = s[row : row + 1, :n]  # (1, n, K)
        paths = torch.tensor(list(itertools.product(range(K), repeat=n)))  # (K^n, n)
        scores = model.crf.score(e.expand(len(paths), n, K), paths,
                                 torch.ones(len(paths), n, dtype=torch.bool))
        assert best[row, :n].tolist() == paths[scores.argmax()].tolist()
        # the partition function is the log-sum-exp over every path
        torch.testing.assert_close(model.crf.log_partition(e, mask[row : row + 1, :n])[0],
                                   torch.logsumexp(scores, 0), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("crf", [False, True])
def test_a_tiny_model_overfits_a_tiny_set(data, crf):
    sents, enc = data
    model = tagger(enc, crf=crf, hidden_size=16)
    _, b = one_batch(enc, sents)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        loss = model(b).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert bool((model.decode(b) == b.tags)[b.tags >= 0].all())
    with torch.no_grad():
        assert float(model(b).loss) < 0.1


def test_checkpoint_round_trip_gives_identical_scores(data):
    sents, enc = data
    model = tagger(enc, crf=True, word_freq=enc.word_freq(sents)).eval()
    again = rebuild("SequenceTagger", model.hparams)
    again.load_state_dict(model.state_dict())
    again.eval()
    _, b = one_batch(enc, sents)
    torch.testing.assert_close(model.scores(b), again.scores(b), rtol=0, atol=0)
    assert torch.equal(again.word_freq, model.word_freq)


def test_word_dropout_rate_is_alpha_over_alpha_plus_frequency(data):
    _, enc = data
    freq = [0] * len(enc.words)
    freq[5], freq[6] = 1, 9
    model = tagger(enc, word_dropout=0.25, word_freq=freq)
    words = torch.tensor([[5] * 20000 + [6] * 20000 + [0] * 10])
    torch.manual_seed(1)
    dropped = model._drop_words(words) == 1  # <unk>
    assert abs(dropped[0, :20000].float().mean() - 0.25 / 1.25) < 0.01
    assert abs(dropped[0, 20000:40000].float().mean() - 0.25 / 9.25) < 0.005
    assert not dropped[0, 40000:].any()  # padding is never replaced
    assert (model.eval()._drop_words(words) == words).all()


def test_batches_bound_the_character_tensor_and_visit_every_sentence(data):
    sents, enc = data
    long = (["x" * 1000, "the", "the"], ["NOUN", "DET", "DET"])
    src = enc.batches([w for w, _ in [*sents, long]], [t for _, t in [*sents, long]], 2,
                      shuffle=True, seed=3)
    seen = []
    for idx, b in src.indexed_epoch(0):
        seen += idx
        assert b.chars.shape[1] <= MAX_WORD_CHARS
        forms = {w for i in idx for w in [*sents, long][i][0]}
        assert b.chars.shape[0] == len(forms)  # one row per distinct form of the batch
    assert sorted(seen) == list(range(len(sents) + 1))
    assert src.order(1) == src.order(1) and len(src) == 3


def test_most_frequent_tag_by_hand():
    mft = MostFrequentTag().fit([(["a", "b", "a"], [1, 2, 3]), (["a", "c"], [3, 2])])
    # a: tag 3 twice, 1 once; b: 2; c: 2; unknown: the most frequent tag overall (2 and 3
    # twice each -> the smaller id)
    assert mft.tag([["a", "b", "c", "zzz"]]) == [[3, 2, 2, 2]]
