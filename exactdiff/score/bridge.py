"""From denoisers to score models: Lemma 3.3.

Under the absorbing process a denoiser c (:mod:`exactdiff.masked.denoisers`) implies the
score

.. math:: s(x)_{i,v} = \\frac{1-\\lambda}{\\lambda}\\, c(x)_{i,v}, \\qquad \\lambda = 1 - e^{-\\bar\\sigma},

for a masked position i (x^i = M) and a data token v < N, and then
ℓ_DSE = σ(t)·((1−λ)/λ)·ℓ_DCE for any normalised c (Lemma 3.3). So every denoiser is a
score model, and its DSE likelihood at σ̄(T) = ∞ is its time-integrated DCE (Theorem 3.4).
"""

from __future__ import annotations

import numpy as np

from ..masked.denoisers import evaluate_denoiser
from ..process.masking import unmasking_odds

__all__ = ["DenoiserScore"]


class DenoiserScore:
    """The score a denoiser implies under the absorbing process (Lemma 3.3, module
    docstring).

    The other entries (masking moves at unmasked positions, and v = M) have DSE weight 0
    under the absorbing generator and are returned as 1, a placeholder: the true ratio
    of a masking move would need the denoiser at another state. A denoiser may give
    probability 0 (the oracle of a sparse table does), and then ℓ = +∞ exactly where
    ℓ_DCE = +∞.

    Capability (:mod:`~exactdiff.score.protocol`): ``single_token_losses(x0, process)``,
    from one denoiser call per position.

    Parameters
    ----------
    denoiser : callable
        (B, L) int → (B, L, N) probabilities.
    process : ForwardProcess
        The absorbing process.

    Examples
    --------
    >>> import exactdiff as ed, numpy as np
    >>> p0 = ed.Distribution.dirichlet(2, 2, seed=0); proc = ed.absorbing(2)
    >>> model = DenoiserScore(ed.OracleDenoiser(p0), proc)
    >>> x, sbar = np.array([[2, 1]]), np.array([0.8])          # position 0 masked
    >>> exact = ed.OracleScore(p0, proc)(x, sbar)
    >>> bool(np.allclose(model(x, sbar)[0, 0, :2], exact[0, 0, :2], rtol=1e-13, atol=0))
    True
    """

    log_scores = False

    def __init__(self, denoiser, process):
        if getattr(process, "kind", None) != "absorbing":
            raise ValueError(f"`process` must be the absorbing process for a denoiser's score (got {process!r}).")
        self.denoiser, self.process, self.N = denoiser, process, process.N
        self.L = getattr(denoiser, "L", None)
        self.alphabet = getattr(denoiser, "alphabet", None)

    def __repr__(self):
        return f"DenoiserScore({type(self.denoiser).__name__}, {self.process!r})"

    def __call__(self, x, sigma_bar):
        x = np.asarray(x, dtype=np.int64)
        c = evaluate_denoiser(self.denoiser, x, self.N)  # (B, L, N)
        odds = unmasking_odds(sigma_bar)  # (1 − λ)/λ
        out = np.ones(x.shape + (self.N + 1,))
        masked = x == self.N
        out[..., : self.N] = np.where(masked[..., None], odds[:, None, None] * c, 1.0)
        return out

    def single_token_losses(self, x0, process):
        """ℓ_j = −log c(x0 with j masked)_{j, x0^j}, j = 1..L, under this model's absorbing
        process (else None)."""
        if process.kind != "absorbing" or not np.array_equal(process.Q, self.process.Q):
            return None
        x0 = np.asarray(x0, dtype=np.int64)
        L = x0.size
        xs = np.tile(x0, (L, 1))
        xs[np.arange(L), np.arange(L)] = self.N
        c = evaluate_denoiser(self.denoiser, xs, self.N)[np.arange(L), np.arange(L), x0]
        with np.errstate(divide="ignore"):
            return -np.log(c)
