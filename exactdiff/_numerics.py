"""Small numerical helpers that the mathematics needs and no library provides as such."""

from __future__ import annotations

import numpy as np


def richardson_derivative(f, t, h, levels=3):
    """df/dt at t by central differences extrapolated with Richardson's tableau.

    D(h) = (f(t+h) − f(t−h)) / 2h has error c₂h² + c₄h⁴ + …; each level of
    extrapolation D ← (4^j D(h/2) − D(h)) / (4^j − 1) removes one more even power.
    ``f`` may return an array; ``t − h`` must stay in f's domain.
    """
    if h <= 0 or t - h < 0:
        raise ValueError(f"need 0 < h <= t for a central difference (got t={t}, h={h}).")
    rows = []
    for j in range(levels):
        hj = h / 2**j
        rows.append([(np.asarray(f(t + hj)) - np.asarray(f(t - hj))) / (2 * hj)])
    for j in range(1, levels):
        for m in range(1, j + 1):
            rows[j].append(rows[j][m - 1] + (rows[j][m - 1] - rows[j - 1][m - 1]) / (4**m - 1))
    return rows[-1][-1]
