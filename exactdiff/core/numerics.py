"""Richardson extrapolation: the one finite-difference derivative of the package.

A central difference D(h) = (f(t+h) − f(t−h)) / 2h has the error expansion
c₂h² + c₄h⁴ + …; with steps h_m = h·2^{−m}, each level of the tableau

.. math:: D_{m}^{(j)} = D_{m}^{(j-1)} + \\frac{D_{m}^{(j-1)} - D_{m-1}^{(j-1)}}{4^j - 1}

removes one more even power. :func:`richardson_derivative` evaluates f itself;
:func:`richardson_extrapolate` takes central differences already computed (the Gaussian
companion evaluates every step in one vectorised quadrature).
"""

from __future__ import annotations

import numpy as np

__all__ = ["richardson_derivative", "richardson_extrapolate"]


def richardson_extrapolate(differences):
    """Extrapolate central differences D(h_0), D(h_0/2), … to h → 0.

    Parameters
    ----------
    differences : sequence of arrays (or floats), one per level, steps halving

    Returns
    -------
    (value, error)
        The top of the tableau, and the size of its last correction (zero for one level).
    """
    table = [np.asarray(d, dtype=np.float64) for d in differences]
    if not table:
        raise ValueError("`differences` must hold at least one level.")
    change = np.zeros_like(table[0])
    for j in range(1, len(table)):
        new = [table[m] + (table[m] - table[m - 1]) / (4.0**j - 1.0) for m in range(1, len(table))]
        change = np.abs(new[-1] - table[-1])
        table = new
    return table[-1], change


def richardson_derivative(f, t, h, levels=3):
    """df/dt at t by central differences with steps h, h/2, …, h/2^{levels−1},
    extrapolated with :func:`richardson_extrapolate` (error O(h^{2·levels})).

    ``f`` may return an array; ``t − h`` must stay in f's domain.

    Examples
    --------
    >>> import numpy as np
    >>> bool(abs(richardson_derivative(np.sin, 1.0, 0.1, levels=4) - np.cos(1.0)) < 1e-13)
    True
    """
    if not h > 0 or t - h < 0:
        raise ValueError(f"need 0 < h <= t for a central difference (got t={t}, h={h}).")
    diffs = []
    for j in range(levels):
        hj = h / 2**j
        diffs.append((np.asarray(f(t + hj)) - np.asarray(f(t - hj))) / (2 * hj))
    return richardson_extrapolate(diffs)[0]
