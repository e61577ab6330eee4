"""Checks of the mask laws: the exact mean of every named law with the optimal denoiser
(every mask enumerated, one denoiser call each) against its closed form from the
per-size sums h_u (marginal tables), including the biases of the flawed laws of
published evaluation code. Every check returns a list of :class:`CheckResult`."""

from __future__ import annotations

import numpy as np

from ..core.validation import as_table
from ..masked import OracleDenoiser, mask_losses, subset_sums
from ..masked.laws import LAW_NAMES, MaskLaw, flawed_law_means
from .masked import masked_setup
from .result import compare

__all__ = ["check_mask_laws"]

#: Two exact routes (enumerated masks, exact weights vs marginal-table sums).
TOL_EXACT = 1e-12


def check_mask_laws(p0, x0s, *, setup=None):
    """E[one draw] of every named law (:data:`~exactdiff.masked.laws.LAW_NAMES`) with the
    oracle, by enumerating masks (:meth:`MaskLaw.raw_moments
    <exactdiff.masked.laws.MaskLaw.raw_moments>` of :func:`~exactdiff.mask_losses`),
    against the closed forms of :func:`~exactdiff.masked.laws.flawed_law_means` from
    h_u = :func:`~exactdiff.subset_sums` (marginal tables): time-free and k-DCE equal
    −log p0(x0); ``no_empty`` is biased by (NLL − H_L h_0)/(L H_{L−1}); ``mean`` and
    ``no_empty_token_mean`` as in MATH.md. One row per law, and one for the no_empty bias."""
    table = as_table(p0)
    L = table.ndim
    c = OracleDenoiser(p0)
    h_all = subset_sums(table)
    laws = {name: MaskLaw.named(name, L) for name in LAW_NAMES}
    enum = {name: [] for name in LAW_NAMES}
    closed = {name: [] for name in LAW_NAMES}
    bias_enum, bias_closed, nll = [], [], []
    for x in x0s:
        x = tuple(int(v) for v in x)
        losses, _ = mask_losses(c, np.asarray(x))
        truth = -float(np.log(table[x]))
        forms = flawed_law_means(h_all[(slice(0, L),) + x], truth)
        for name, law in laws.items():
            enum[name].append(law.raw_moments(losses, orders=(1,))[0])
            closed[name].append(truth if name in ("time_free", "k_dce") else forms[name])  # Theorem 4.1
        bias_enum.append(enum["no_empty"][-1] - truth)
        bias_closed.append(forms["no_empty_bias"])
        nll.append(truth)
    scale = np.maximum(np.abs(nll), 1.0)
    info = masked_setup(table, setup, n_sequences=len(x0s))
    out = [compare(f"E[{name} draw], enumerated = closed form", "mask laws (MATH.md: published evaluation code)",
                   dict(info, law=name), enum[name], closed[name], TOL_EXACT, scale,
                   "every mask enumerated with the oracle vs h_u from marginal tables; rel. to max(NLL, 1 nat)")
           for name in LAW_NAMES]
    out.append(compare("no_empty bias = (NLL − H_L h_0)/(L H_{L−1})", "mask laws (MATH.md: published evaluation code)",
                       dict(info, law="no_empty"), bias_enum, bias_closed, TOL_EXACT, scale,
                       "enumerated mean − NLL vs closed form; rel. to max(NLL, 1 nat)"))
    return out
