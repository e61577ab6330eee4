"""Building blocks for the symbolic proofs: the paper's objects as sympy expressions.

Generators follow the column convention of MATH.md: ``Q[y, x]`` is the rate from x to
y, and a kernel ``P[y, x] = p_{t|0}(y | x)``. States of V^L are token tuples, ordered as
``itertools.product`` orders them (C order, the order of a table of shape (N,)*L); the
mask token of the absorbing process has index N. All symbols are positive and every
logarithm's argument is a positive quantity, so splitting logarithms with
``expand_log(force=True)`` is exact. The proofs themselves are in
:mod:`exactdiff.checks.symbolic`; the reduction to 0 in :mod:`exactdiff.symbolic.reduce`.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import sympy as sp

from ..core.validation import validate_count
from ..masked.weights import harmonic_number, subset_weight

__all__ = [
    "states",
    "two_state_kernel",
    "uniform_token_generator",
    "uniform_token_kernel",
    "absorbing_token_generator",
    "absorbing_token_kernel",
    "symbolic_kronecker_sum",
    "product_kernel",
    "simplex_symbols",
    "symbolic_pmf",
    "pmf_subsequence",
    "kl_divergence",
    "dse_weights",
    "dse_pointwise",
    "concrete_score_row",
    "kernel_ratio",
    "mdse_pointwise",
    "i_mdse_identity",
    "SymbolicProcess",
    "i_mdse_process",
    "denoiser_symbols",
    "lemma_3_3_score",
    "dce_pointwise",
    "absorbing_sequence",
    "dse_absorbing_terms",
    "expected_dse_absorbing",
    "expected_dce_absorbing",
    "time_free_sum",
    "log_ratio_sum",
    "label",
]


def _int(value, name, minimum):
    return validate_count(value, name, minimum)


def states(n, L):
    """All token tuples of length L over ``range(n)``, in C order."""
    return list(itertools.product(range(_int(n, "n", 1)), repeat=_int(L, "L", 1)))


def label(state, N=None):
    return "".join("M" if (N is not None and v == N) else str(v) for v in state)


def two_state_kernel(a, b, t):
    """exp(t Q) in closed form for Q = [[-a, b], [a, -b]] (column convention).

    .. math::
        \\exp(tQ) = \\frac{1}{a+b}\\begin{pmatrix} b + a e & b(1-e) \\\\ a(1-e) & a + b e
        \\end{pmatrix}, \\quad e = e^{-(a+b)t},

    where a is the rate 0 → 1 and b the rate 1 → 0. Returns a 2 × 2 sympy Matrix with
    ``P[y, x] = p_{t|0}(y | x)``.
    """
    e = sp.exp(-(a + b) * t)
    return sp.Matrix([[b + a * e, b - b * e], [a - a * e, a + b * e]]) / (a + b)


def uniform_token_generator(N):
    """Q^tok = 11ᵀ/N − I (N × N sympy Matrix)."""
    N = _int(N, "N", 2)
    return sp.ones(N, N) / N - sp.eye(N)


def uniform_token_kernel(N, sbar):
    """k = e^{−σ̄} I + (1 − e^{−σ̄}) 11ᵀ/N, the kernel exp(σ̄ Q^tok) of the uniform process."""
    N = _int(N, "N", 2)
    e = sp.exp(-sbar)
    return e * sp.eye(N) + (1 - e) * sp.ones(N, N) / N


def absorbing_token_generator(N):
    """Q^tok of the absorbing process on N + 1 states (mask index N):
    Q(M, x) = 1 and Q(x, x) = −1 for x ≠ M, and the column of M is 0."""
    N = _int(N, "N", 1)
    Q = sp.zeros(N + 1, N + 1)
    for v in range(N):
        Q[N, v], Q[v, v] = 1, -1
    return Q


def absorbing_token_kernel(N, lam):
    """The absorbing kernel in λ = 1 − e^{−σ̄}: k(x|x) = 1 − λ, k(M|x) = λ, k(M|M) = 1."""
    N = _int(N, "N", 1)
    k = sp.zeros(N + 1, N + 1)
    for v in range(N):
        k[v, v], k[N, v] = 1 - lam, lam
    k[N, N] = 1
    return k


def symbolic_kronecker_sum(Q_tok, L):
    """Σ_i I ⊗ … ⊗ Q^tok ⊗ … ⊗ I: Q[y, x] = Σ_i Q^tok[y^i, x^i] Π_{j≠i} δ(y^j, x^j)."""
    space = states(Q_tok.shape[0], L)
    Q = sp.zeros(len(space), len(space))
    for (iy, y), (ix, x) in itertools.product(enumerate(space), repeat=2):
        diff = [i for i in range(L) if y[i] != x[i]]
        if len(diff) == 1:
            Q[iy, ix] = Q_tok[y[diff[0]], x[diff[0]]]
        elif not diff:
            Q[iy, ix] = sp.Add(*[Q_tok[x[i], x[i]] for i in range(L)])
    return Q


def product_kernel(k, L):
    """P[y, x] = Π_i k[y^i, x^i], the kernel of a token-wise process."""
    space = states(k.shape[0], L)
    P = sp.zeros(len(space), len(space))
    for (iy, y), (ix, x) in itertools.product(enumerate(space), repeat=2):
        P[iy, ix] = sp.Mul(*[k[y[i], x[i]] for i in range(L)])
    return P


def simplex_symbols(n, prefix="p"):
    """A symbolic point (p_1, …, p_{n−1}, 1 − Σ p_j) of the simplex and its domain.

    Each p_j is a positive symbol with domain (0, 1/(n−1)), so every point of the box has
    all n entries positive. Returns ``(entries, domain)``.
    """
    n = _int(n, "n", 2)
    free = sp.symbols(f"{prefix}1:{n}", positive=True)
    entries = list(free) + [1 - sp.Add(*free)]
    return entries, {s: (0, sp.Rational(1, n - 1)) for s in free}


def symbolic_pmf(N, L, prefix="w"):
    """A fully symbolic p0 on V^L, normalised by its sum: p0(x) = w_x / W, W = Σ_z w_z.

    Returns ``(weights, total, domain)`` with ``weights`` a dict from token tuples to
    positive symbols, ``total = W`` and domain (0, 1) for every weight.
    """
    weights = {x: sp.Symbol(f"{prefix}_{label(x)}", positive=True) for x in states(N, L)}
    return weights, sp.Add(*weights.values()), {w: (0, 1) for w in weights.values()}


def pmf_subsequence(weights, total, x, positions):
    """p0(x^U) = Σ_{z : z^U = x^U} w_z / W for the positions U (an iterable of indices)."""
    U = tuple(positions)
    return sp.Add(*[w for z, w in weights.items() if all(z[i] == x[i] for i in U)]) / total


def kl_divergence(p, q):
    """KL(p ‖ q) = Σ_x p(x) log(p(x)/q(x)), skipping entries with p(x) = 0."""
    return sp.Add(*[pi * sp.log(pi / qi) for pi, qi in zip(p, q) if pi != 0])


# ---------------------------------------------------------------------------------------
# Denoising score entropy and Theorem 3.1
# ---------------------------------------------------------------------------------------

def dse_weights(Q_t, x):
    """The DSE weights {y: Q_t(x, y)} over y ≠ x with a non-zero rate: Q_t(x, y) is the
    rate from y **into** x, as in MATH.md and the paper (under the other orientation
    Theorem 3.1 fails for non-symmetric generators; the tests show it)."""
    out = {}
    for y in range(Q_t.shape[0]):
        if y != x and Q_t[x, y] != 0:
            out[y] = Q_t[x, y]
    return out


def _k(a):
    """K(a) = a(log a − 1) with K(0) = 0."""
    return sp.S.Zero if a == 0 else a * (sp.log(a) - 1)


def dse_pointwise(weights, score, ratio):
    """Pointwise denoising score entropy (Lou et al. 2024; MATH.md):

    .. math::
        \\ell_{DSE}(x_0, x, t, s) = \\sum_{y \\ne x} Q_t(x, y)
        \\left[ s(x)_y - r_y \\log s(x)_y + K(r_y) \\right],

    where r_y = p_{t|0}(y|x0) / p_{t|0}(x|x0) and K(a) = a(log a − 1), K(0) = 0.

    Parameters
    ----------
    weights : dict
        {y: Q_t(x, y)}, from :func:`dse_weights`.
    score, ratio : dict or sequence
        s(x)_y and r_y, indexed by y (every y in ``weights``).
    """
    terms = []
    for y, w in weights.items():
        s, r = score[y], ratio[y]
        log_term = sp.S.Zero if r == 0 else r * sp.log(s)
        terms.append(w * (s - log_term + _k(r)))
    return sp.Add(*terms)


def concrete_score_row(p_t, x):
    """The optimal (concrete) score s*_t(x)_y = p_t(y) / p_t(x), for every y."""
    return [p_t[y] / p_t[x] for y in range(len(p_t))]


def kernel_ratio(column, x):
    """r_y = p_{t|0}(y | x0) / p_{t|0}(x | x0) for every y, from the kernel column
    ``column[y] = p_{t|0}(y | x0)``."""
    return [column[y] / column[x] for y in range(len(column))]


def mdse_pointwise(Q_t, column, p_t):
    """mdse(x0, t) = E_{x ∼ p_{t|0}(·|x0)} ℓ_DSE(x0, x, t, s*_t) (MATH.md, Theorem 3.1):

    .. math::
        \\mathrm{mdse}(x_0, t) = \\sum_x p_{t|0}(x|x_0) \\sum_{y \\ne x} Q_t(x, y)
        \\left[ s^*_y - r_y \\log s^*_y + K(r_y) \\right],
        \\quad s^*_y = \\frac{p_t(y)}{p_t(x)}, \\quad r_y = \\frac{p_{t|0}(y|x_0)}{p_{t|0}(x|x_0)}.

    Parameters
    ----------
    Q_t : sympy.Matrix, shape (S, S)
        The generator σ(t) Q at time t, column convention.
    column : sequence of sympy.Expr, length S
        The kernel column ``column[x] = p_{t|0}(x | x0)``.
    p_t : sequence of sympy.Expr, length S
        The marginal p_t = P_t p0.
    """
    terms = []
    for x, mass in enumerate(column):
        if mass != 0:
            ell = dse_pointwise(dse_weights(Q_t, x), concrete_score_row(p_t, x), kernel_ratio(column, x))
            terms.append(mass * ell)
    return sp.Add(*terms)


def i_mdse_identity(Q):
    """Theorem 3.1 for arbitrary positive vectors that obey the forward equation.

    With positive symbols k_x for p_{t|0}(x|x0) and u_x for p_t(x), and their time
    derivatives replaced by the forward equation dk/dt = Q k, du/dt = Q u (σ = 1),
    returns ``(dKL/dt, −mdse, domain)`` where KL = Σ_x k_x log(k_x/u_x) and
    dKL/dt = Σ_x (∂KL/∂k_x)(Qk)_x + (∂KL/∂u_x)(Qu)_x: the paper's identity is that the
    first two are equal.
    Nothing else about k and u is used, so the identity proven here holds for every
    kernel column and marginal of every CTMC with generator Q.
    """
    S = Q.shape[0]
    k = list(sp.symbols(f"k0:{S}", positive=True))
    u = list(sp.symbols(f"u0:{S}", positive=True))
    dk, du = list(Q * sp.Matrix(k)), list(Q * sp.Matrix(u))
    kl = kl_divergence(k, u)
    dkl = sp.Add(*[sp.diff(kl, k[x]) * dk[x] + sp.diff(kl, u[x]) * du[x] for x in range(S)])
    return dkl, -mdse_pointwise(Q, k, u), {s: (0, 1) for s in k + u}


class SymbolicProcess(NamedTuple):
    """A forward process in closed form, with a symbolic p0 (σ = 1, so σ̄ = t)."""

    Q: sp.Matrix
    P: sp.Matrix
    p0: list
    t: sp.Symbol
    domain: dict
    setup: dict


def _two_state():
    a, b, t = sp.symbols("a b t", positive=True)
    p0, domain = simplex_symbols(2)
    Q = sp.Matrix([[-a, b], [a, -b]])
    domain.update({a: (sp.Rational(1, 10), 2), b: (sp.Rational(1, 10), 2), t: (0, 3)})
    setup = {"process": "general 2-state", "generator": "[[-a, b], [a, -b]]", "schedule": "constant 1"}
    return SymbolicProcess(Q, two_state_kernel(a, b, t), p0, t, domain, setup)


def _uniform(N, L):
    t = sp.Symbol("t", positive=True)
    p0, domain = simplex_symbols(N**L)
    domain[t] = (0, 3)
    Q = symbolic_kronecker_sum(uniform_token_generator(N), L)
    P = product_kernel(uniform_token_kernel(N, t), L)
    setup = {"process": "uniform", "N": N, "L": L, "schedule": "constant 1"}
    return SymbolicProcess(Q, P, p0, t, domain, setup)


_I_MDSE_CASES = {
    "two-state": _two_state,
    "uniform-N3-L1": lambda: _uniform(3, 1),
    "uniform-N2-L2": lambda: _uniform(2, 2),
}


def i_mdse_process(case):
    """The closed-form :class:`SymbolicProcess` of a Theorem 3.1 case.

    ``case`` is one of ``"two-state"`` (Q = [[−a, b], [a, −b]], p0 = (p1, 1 − p1)),
    ``"uniform-N3-L1"`` and ``"uniform-N2-L2"`` (token-wise uniform process, Kronecker-sum
    generator, product kernel, p0 a symbolic point of the simplex).
    """
    if case not in _I_MDSE_CASES:
        raise ValueError(f"`case` must be one of {set(_I_MDSE_CASES)} (got {case!r}).")
    return _I_MDSE_CASES[case]()


# ---------------------------------------------------------------------------------------
# Masked diffusion: Lemma 3.3 and Theorem 3.4
# ---------------------------------------------------------------------------------------


def denoiser_symbols(N, L):
    """A symbolic, normalised denoiser c(x)_{i,v} on the absorbing state space.

    For every sequence x ∈ (V ∪ {M})^L and every masked position i of x, the row
    (c(x)_{i,0}, …, c(x)_{i,N−1}) is a symbolic simplex point (q_1, …, 1 − Σ q), so
    Σ_v c(x)_{i,v} = 1 exactly. Returns ``(c, domain)`` with ``c[(x, i)]`` the row.
    """
    N, L = _int(N, "N", 2), _int(L, "L", 1)
    c, domain = {}, {}
    for x in states(N + 1, L):
        for i in range(L):
            if x[i] == N:
                row, dom = simplex_symbols(N, prefix=f"q_{label(x, N)}_{i}_")
                c[(x, i)] = row
                domain.update(dom)
    return c, domain


def lemma_3_3_score(x, weights, c, lam, N):
    """The score of Lemma 3.3: s(x)_y = ((1 − λ)/λ) c(x)_{i,v} for each y in ``weights``,
    where y unmasks position i of x to v ∈ V (anything else raises ``ValueError``).
    ``x`` is a token tuple; the keys of ``weights`` are flat state indices."""
    space = states(N + 1, len(x))
    score = {}
    for iy in weights:
        y = space[iy]
        diff = [i for i in range(len(x)) if y[i] != x[i]]
        if len(diff) != 1 or x[diff[0]] != N or y[diff[0]] == N:
            raise ValueError(f"`weights` must only hold states y that unmask one position of x={x} (got y={y}).")
        i = diff[0]
        score[iy] = (1 - lam) / lam * c[(x, i)][y[i]]
    return score


def dce_pointwise(x0, x, c, N):
    """ℓ_DCE(x0, x, c) = Σ_i 1[x^i = M] (−log c(x)_{i, x0^i}) (MATH.md)."""
    return sp.Add(*[-sp.log(c[(x, i)][x0[i]]) for i in range(len(x)) if x[i] == N])


def absorbing_sequence(N, L, lam, sigma):
    space = states(N + 1, L)
    Q_t = sigma * symbolic_kronecker_sum(absorbing_token_generator(N), L)
    P = product_kernel(absorbing_token_kernel(N, lam), L)
    return space, Q_t, P


def dse_absorbing_terms(N, L, x0, lam, sigma, c):
    """[(p_{λ|0}(x|x0), ℓ_DSE(x0, x), ℓ_DCE(x0, x))] over the states x reachable from x0."""
    space, Q_t, P = absorbing_sequence(N, L, lam, sigma)
    i0 = space.index(tuple(x0))
    out = []
    for ix, x in enumerate(space):
        if P[ix, i0] == 0:
            continue
        weights = dse_weights(Q_t, ix)
        ell = dse_pointwise(weights, lemma_3_3_score(x, weights, c, lam, N), kernel_ratio(list(P[:, i0]), ix))
        out.append((x, P[ix, i0], ell, dce_pointwise(x0, x, c, N)))
    return out


def expected_dse_absorbing(N, L, x0, lam, sigma, c):
    """E_{x ∼ p_{λ|0}(·|x0)} ℓ_DSE(x0, x, t, s) for the absorbing process, with the
    denoiser score of Lemma 3.3, σ(t) = ``sigma`` and λ(t) = ``lam``."""
    return sp.Add(*[p * ell for _, p, ell, _ in dse_absorbing_terms(N, L, x0, lam, sigma, c)])


def expected_dce_absorbing(N, L, x0, lam, c):
    """E_{x ∼ p_{λ|0}(·|x0)} ℓ_DCE(x0, x, c): each token masked independently w.p. λ."""
    k = absorbing_token_kernel(N, lam)
    return sp.Add(*[sp.Mul(*[k[x[i], x0[i]] for i in range(L)]) * dce_pointwise(x0, x, c, N)
                    for x in states(N + 1, L) if any(v == N for v in x)])


# ---------------------------------------------------------------------------------------
# Time-free formulas: Theorem 4.1, Corollary 4.3, Eq. 18
# ---------------------------------------------------------------------------------------


def _rational(fraction):
    return sp.Rational(fraction.numerator, fraction.denominator)


def _masked_average(target, term):
    """H_n · Σ_{J ⊊ T} p(J) Σ_{i ∈ T∖J} term(J, i), with p(J) = B(n−|J|, |J|+1) / H_n and
    n = |T| (exact rationals from :mod:`exactdiff.masked.weights`)."""
    target = tuple(target)
    n = len(target)
    H_n = _rational(harmonic_number(n, exact=True))
    total = []
    for k in range(n):
        p_J = _rational(subset_weight(n, k, exact=True)) / H_n
        for J in itertools.combinations(target, k):
            total.append(p_J * sp.Add(*[term(J, i) for i in target if i not in J]))
    return H_n * sp.Add(*total)


def _conditional(weights, total, x, i, given):
    """p0(x^i | x^given) = p0(x^{given ∪ {i}}) / p0(x^given)."""
    return pmf_subsequence(weights, total, x, (*given, i)) / pmf_subsequence(weights, total, x, given)


def time_free_sum(weights, total, x, target, context=()):
    """The right-hand side of Theorem 4.1 (``context=()``) and Corollary 4.3:

    .. math::
        H_{|T|} \\, E_{J \\sim p(J)} \\sum_{i \\in T \\setminus J}
        -\\log p_0(x^i \\mid x^{J \\cup C}), \\qquad
        p(J) = \\frac{B(|T|-|J|, |J|+1)}{H_{|T|}}, \\quad J \\subsetneq T.
    """
    context = tuple(context)
    return _masked_average(target, lambda J, i: -sp.log(_conditional(weights, total, x, i, J + context)))


def log_ratio_sum(weights, total, x, y):
    """The right-hand side of Eq. 18 (coupled, one shared U for x and y):

    .. math::
        H_L \\, E_{U \\sim p(U)} \\sum_{i \\notin U}
        \\log \\frac{p_0(y^i \\mid y^U)}{p_0(x^i \\mid x^U)}.
    """
    target = range(len(x))
    return _masked_average(
        target,
        lambda U, i: sp.log(_conditional(weights, total, y, i, U) / _conditional(weights, total, x, i, U)),
    )


