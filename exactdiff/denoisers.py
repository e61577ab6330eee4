"""The denoiser protocol and built-in denoisers.

A denoiser is any callable ``c(x)`` that maps an integer array of shape (B, L) — noisy
sequences whose mask id is N — to probabilities of shape (B, L, N): what a RADD or MDLM
network returns after a softmax. Only the rows at masked positions are used; each must
be non-negative and sum to 1. :func:`evaluate_denoiser` checks every output.

A torch model plugs in through a small wrapper (torch is not a dependency)::

    def torch_denoiser(model, device="cpu"):
        import torch

        @torch.no_grad()
        def c(x):
            logits = model(torch.as_tensor(x, device=device))        # (B, L, N)
            return torch.softmax(logits.double(), -1).cpu().numpy()
        return c
"""

from __future__ import annotations

import numpy as np

from ._validation import SUM_ATOL, as_table

__all__ = ["evaluate_denoiser", "TableDenoiser", "OracleDenoiser"]


def evaluate_denoiser(denoiser, x, N: int) -> np.ndarray:
    """Call ``denoiser`` on ``x`` (B, L) and validate its output (B, L, N).

    Raises ``ValueError`` for a wrong shape, negative or non-finite entries, or a
    masked row that does not sum to 1.
    """
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2:
        raise ValueError(f"denoiser input must have shape (B, L) (got {x.shape}).")
    out = np.asarray(denoiser(x), dtype=np.float64)
    expected = x.shape + (N,)
    if out.shape != expected:
        raise ValueError(f"denoiser output must have shape (B, L, N) = {expected} (got {out.shape}).")
    masked = x == N
    rows = out[masked]
    if rows.size:
        if not np.all(np.isfinite(rows)) or np.any(rows < 0):
            raise ValueError("denoiser output must be finite and non-negative at masked positions.")
        sums = rows.sum(axis=-1)
        worst = float(np.max(np.abs(sums - 1.0)))
        if worst > SUM_ATOL:
            raise ValueError(f"denoiser rows at masked positions must sum to 1 (worst row sums to {1 + worst:.12g} or {1 - worst:.12g}).")
    return out


class TableDenoiser:
    """A denoiser given as a table c[x][i, v] of shape (N+1,)*L + (L, N)."""

    def __init__(self, table):
        table = np.asarray(table, dtype=np.float64)
        L = table.ndim - 2
        if L < 1 or table.shape[-2] != L or table.shape[:L] != (table.shape[0],) * L or table.shape[-1] != table.shape[0] - 1:
            raise ValueError(f"a denoiser table must have shape (N+1,)*L + (L, N) (got {table.shape}).")
        self.table = table
        self.N = table.shape[-1]
        self.L = L

    def __call__(self, x):
        x = np.asarray(x, dtype=np.int64)
        return self.table[tuple(x.T)]


class OracleDenoiser(TableDenoiser):
    """The exact optimal denoiser c*(x)_{i,v} = p0(v | x^{UM}) of a distribution."""

    def __init__(self, p0):
        from .masked import optimal_denoiser_table

        self.p0 = as_table(p0)
        super().__init__(optimal_denoiser_table(self.p0))
