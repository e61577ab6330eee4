"""What the backend tests share: the toys, the factorized pointwise quantities they compare against
NumPy, and the comparison itself (relative, with a floor, infinities where NumPy has them)."""

import numpy as np

import exactdiff as ed
from exactdiff.core.backend import to_numpy


def _toys():
    N, L = 3, 4
    p0 = ed.Distribution.dirichlet(N, L, alpha=0.7, seed=11, zero_fraction=0.3)
    return [
        ("uniform", p0, ed.uniform(N)),
        ("absorbing-loglinear", p0, ed.absorbing(N, ed.LogLinear())),
        ("random-geometric", p0, ed.ForwardProcess(ed.process.random_generator(N, seed=5), ed.Geometric(1e-3, 20.0))),
        ("random-full-support", ed.Distribution.dirichlet(N, L, seed=12), ed.ForwardProcess(ed.process.random_generator(N, seed=6))),
    ]


#: (name, p0, process): a sparse table under the symmetric processes, and a random
#: non-symmetric generator with and without zeros in p0.
TOYS = _toys()
IDS = [name for name, _, _ in TOYS]

#: Relative agreement a backend owes NumPy: a few ulps of a sum over the state space.
RTOL = 1e-12

#: Pointwise quantities of the factorized engine, each ``f(p0, process, t)``.
POINTWISE = {
    "marginal": lambda p, proc, t: ed.marginal(p, proc, t, engine="factorized"),
    "pointwise_kl": lambda p, proc, t: ed.pointwise_kl(p, proc, t, engine="factorized"),
    "pointwise_kl_derivative": lambda p, proc, t: ed.pointwise_kl_derivative(p, proc, t, engine="factorized"),
    "mdse": lambda p, proc, t: ed.mdse(p, proc, t, pointwise=True, engine="factorized"),
}


#: Scalar information quantities, each ``f(p0, process, t)`` on the default engine.
SCALARS = {
    "mutual_information": ed.mutual_information,
    "mutual_information_derivative": ed.mutual_information_derivative,
    "marginal_entropy": ed.marginal_entropy,
    "marginal_entropy_derivative": ed.information.marginal_entropy_derivative,
    "conditional_entropy": ed.conditional_entropy,
    "mdse": lambda p, proc, t: ed.mdse(p, proc, t),
}


def close(a, b, floor, rtol=RTOL):
    """Assert ``a`` (any backend) equals ``b`` (NumPy) to ``rtol`` relative to max(|a|, |b|, floor)."""
    a, b = to_numpy(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.array_equal(np.isinf(a), np.isinf(b))
    fin = np.isfinite(b)
    scale = np.maximum(np.maximum(np.abs(a[fin]), np.abs(b[fin])), floor)
    assert np.max(np.abs(a[fin] - b[fin]) / scale, initial=0.0) <= rtol
