"""Linear-chain conditional random field: a structured output layer over per-token scores.

Shapes: B batch, T time (padded length), K tags, L_b the real length of sequence b.

A tagger's network gives emission scores e_t(k) (B, T, K); the CRF adds learned transition
scores A[i, j] (from tag i to tag j) and start / end scores a_k / z_k, and defines
(Lafferty, McCallum & Pereira 2001; the neural form of Lample et al. 2016):

    s(x, y) = a_{y_1} + e_1(y_1) + sum_{t=2}^{L} (A[y_{t-1}, y_t] + e_t(y_t)) + z_{y_L}
    p(y | x) = exp s(x, y) / Z(x),         Z(x) = sum_{y'} exp s(x, y')

Z is summed over all K^L paths by the forward algorithm in log space:

    alpha_1(k) = a_k + e_1(k)
    alpha_t(k) = logsumexp_i (alpha_{t-1}(i) + A[i, k]) + e_t(k)        t = 2..L
    log Z      = logsumexp_k (alpha_L(k) + z_k)

and the backward recursion gives the per-token marginals:

    beta_L(k)  = z_k
    beta_t(k)  = logsumexp_j (A[k, j] + e_{t+1}(j) + beta_{t+1}(j))     t = L-1..1
    p(y_t = k | x) = exp(alpha_t(k) + beta_t(k) - log Z)

Viterbi replaces logsumexp by max and keeps back-pointers. The loss is the negative
log-likelihood nll = log Z - s(x, y) per sequence; this is a DBN over tags in which the
hidden path is summed out exactly, unlike a per-token softmax that treats tags as
independent given the network's states.

Masks are (B, T) bool, left-aligned (mask[:, 0] all True): a padded step carries alpha,
beta and the Viterbi scores through unchanged, so a sequence's results do not depend on
what it was batched with. Memory: O(B K^2) per step for the recursions, O(B T K) for the
stored alphas / betas / back-pointers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.errors import expect


class LinearChainCRF(nn.Module):
    """Transition (K, K), start (K,) and end (K,) scores over emissions (B, T, K)."""

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        expect(
            isinstance(num_tags, int) and num_tags >= 1,
            f"num_tags must be an integer >= 1, got {num_tags!r}; pass the tag vocabulary size",
        )
        self.num_tags = num_tags
        # Zeros: a fresh CRF scores every path by its emissions alone (= per-token softmax
        # decoding); the emissions already break the symmetry between tags.
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    # ------------------------------------------------------------------ checks
    def _check(self, emissions: Tensor, mask: Tensor, tags: Tensor | None = None) -> Tensor:
        expect(
            emissions.dim() == 3 and emissions.shape[2] == self.num_tags,
            f"emissions must be (B, T, {self.num_tags}), got {tuple(emissions.shape)}",
        )
        B, T, _ = emissions.shape
        expect(
            mask.shape == (B, T),
            f"mask must be (B, T) = {(B, T)} like the emissions, got {tuple(mask.shape)}",
        )
        expect(T >= 1, "emissions need at least one time step, got T = 0")
        mask = mask.to(torch.bool)
        expect(
            bool(mask[:, 0].all()),
            "mask[:, 0] must be True for every sequence (left-aligned, length >= 1)",
        )
        if tags is not None:
            expect(
                tags.shape == (B, T),
                f"tags must be (B, T) = {(B, T)} like the emissions, got {tuple(tags.shape)}",
            )
        return mask

    @staticmethod
    def _last_index(mask: Tensor) -> Tensor:
        return mask.long().sum(1) - 1  # (B,) index of each sequence's last real step

    # ----------------------------------------------------------------- scoring
    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """s(x, y) of the given paths (B,); padded steps are ignored, whatever their tags."""
        mask = self._check(emissions, mask, tags)
        tags = torch.where(mask, tags.long(), torch.zeros_like(tags, dtype=torch.long))
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
        trans = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        m = mask.to(emissions.dtype)
        last = tags.gather(1, self._last_index(mask).unsqueeze(1)).squeeze(1)  # (B,)
        return (
            self.start[tags[:, 0]]
            + (emit * m).sum(1)
            + (trans * m[:, 1:]).sum(1)
            + self.end[last]
        )

    def _alphas(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Forward log-scores alpha_t (B, T, K); a padded step repeats the previous alpha."""
        alpha = self.start + emissions[:, 0]  # (B, K)
        out = [alpha]
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1)  # (B, K)
            alpha = torch.where(mask[:, t : t + 1], nxt + emissions[:, t], alpha)
            out.append(alpha)
        return torch.stack(out, 1)

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """log Z(x) (B,) by the forward algorithm."""
        mask = self._check(emissions, mask)
        alpha = self._alphas(emissions, mask)[:, -1]  # padded steps carried the last alpha
        return torch.logsumexp(alpha + self.end, dim=1)

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """-log p(y | x) = log Z(x) - s(x, y) per sequence (B,)."""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    def forward(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """The training loss: nll per sequence (B,)."""
        return self.nll(emissions, tags, mask)

    # ---------------------------------------------------------------- inference
    def marginals(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """p(y_t = k | x) (B, T, K) by forward-backward; padded rows are 0."""
        mask = self._check(emissions, mask)
        alphas = self._alphas(emissions, mask)  # (B, T, K)
        T = emissions.shape[1]
        beta = self.end.expand_as(emissions[:, 0])  # beta_L = z at every sequence's end
        betas = [beta]
        for t in range(T - 2, -1, -1):
            nxt = torch.logsumexp(
                self.transitions + (emissions[:, t + 1] + beta).unsqueeze(1), dim=2
            )  # (B, K)
            # Step t+1 padded: t is the last real step (or padding), so beta_t = z.
            beta = torch.where(mask[:, t + 1 : t + 2], nxt, self.end.expand_as(nxt))
            betas.append(beta)
        beta_all = torch.stack(betas[::-1], 1)  # (B, T, K)
        log_z = torch.logsumexp(alphas[:, -1] + self.end, dim=1)  # (B,)
        p = torch.exp(alphas + beta_all - log_z[:, None, None])
        return p * mask.unsqueeze(2).to(p.dtype)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Viterbi: argmax_y s(x, y) (B, T) long; padded positions are 0."""
        mask = self._check(emissions, mask)
        B, T, K = emissions.shape
        delta = self.start + emissions[:, 0]  # (B, K)
        keep = torch.arange(K, device=emissions.device).expand(B, K)
        pointers = []
        for t in range(1, T):
            best, arg = (delta.unsqueeze(2) + self.transitions).max(dim=1)  # (B, K)
            m = mask[:, t : t + 1]
            delta = torch.where(m, best + emissions[:, t], delta)
            pointers.append(torch.where(m, arg, keep))  # padded: point to the same tag
        tag = (delta + self.end).argmax(dim=1)  # (B,) best last tag
        path = [tag]
        for arg in reversed(pointers):
            tag = arg.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        out = torch.stack(path[::-1], 1)  # (B, T)
        return torch.where(mask, out, torch.zeros_like(out))
