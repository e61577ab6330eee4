"""What the backend tests share: the factorized pointwise quantities they compare against
NumPy, and the comparison itself (relative, with a floor, infinities where NumPy has them)."""

import numpy as np

import exactdiff as ed
from exactdiff.core.backend import to_numpy

#: Relative agreement a backend owes NumPy: a few ulps of a sum over the state space.
RTOL = 1e-12

#: Pointwise quantities of the factorized engine, each ``f(p0, process, t)``.
POINTWISE = {
    "marginal": lambda p, proc, t: ed.marginal(p, proc, t, engine="factorized"),
    "pointwise_kl": lambda p, proc, t: ed.pointwise_kl(p, proc, t, engine="factorized"),
    "pointwise_kl_derivative": lambda p, proc, t: ed.pointwise_kl_derivative(p, proc, t, engine="factorized"),
    "mdse": lambda p, proc, t: ed.mdse(p, proc, t, pointwise=True, engine="factorized"),
}


def close(a, b, floor, rtol=RTOL):
    """Assert ``a`` (any backend) equals ``b`` (NumPy) to ``rtol`` relative to max(|a|, |b|, floor)."""
    a, b = to_numpy(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.array_equal(np.isinf(a), np.isinf(b))
    fin = np.isfinite(b)
    scale = np.maximum(np.maximum(np.abs(a[fin]), np.abs(b[fin])), floor)
    assert np.max(np.abs(a[fin] - b[fin]) / scale, initial=0.0) <= rtol
