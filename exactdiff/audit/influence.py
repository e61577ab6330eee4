""""Influenced by another distribution" (the paper's Fig. d) on a toy with a known answer.

A data chain p_d and a teacher chain p_t over N letters (seeded Dirichlet rows, each
started from its stationary law). A model trained on text from both sees the mixture

.. math:: q_w = (1 - w)\\, p_d + w\\, p_t \\qquad \\text{(over sequences of length } L).

Two models are compared:

- **the mixture itself** (:class:`MixtureDenoiser`, its exact denoiser). A mixture of two
  chains is not a chain; its conditionals are the chains' conditionals weighted by
  their posterior weights given the visible letters,

  .. math::

      q_w(x^i \\mid x^V) = \\sum_c \\pi_c(V)\\, p_c(x^i \\mid x^V), \\qquad
      \\pi_c(V) = \\frac{w_c\\, p_c(x^V)}{\\sum_{c'} w_{c'}\\, p_{c'}(x^V)},

  with p_c(x^V) and p_c(x^i | x^V) from each chain's forward–backward;
- **the chain fitted to the mixture** (:func:`projected_chain`): the order-K chain
  (K = max of the orders) that maximum likelihood fits to infinitely many stationary
  training sequences, P_w(v | c) = Σ_c w_c π_c(c v) / Σ_c w_c π_c(c), with π_c the
  stationary (K+1)- and K-gram laws of each chain.

Prompts x ~ p_d; "true" continuations y ~ p_d(· | x), "teacher-written" ones y ~ p_t(· | x).
With short prompts and responses every pair is enumerated, so

.. math::

    E_{true}(w) = \\sum_{x, y} p_d(x, y)\\, \\mathrm{NLL}_w(y \\mid x), \\qquad
    E_{teacher}(w) = \\sum_{x, y} p_d(x)\\, p_t(y \\mid x)\\, \\mathrm{NLL}_w(y \\mid x)

are exact, and the crossing w* where teacher continuations become more likely than true
ones, E_teacher(w*) = E_true(w*), is found by ``scipy.optimize.brentq``. A finite sample of
pairs (as the paper's figure) gives its own crossing.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

from ..core.validation import SUM_ATOL, as_token_array, validate_count, validate_rng, show_masked
from ..markov import MarkovChain
from ..masked import OracleDenoiser, estimator_moments, exact_conditional_nll
from ..sequences import Distribution
from .ood import transition_nll

__all__ = ["MixtureDenoiser", "dirichlet_chain", "projected_chain", "log_probs", "expected_nlls", "crossing",
           "influence_experiment", "plot_influence"]


def dirichlet_chain(N: int, order: int, concentration: float, rng) -> MarkovChain:
    """A chain with Dirichlet(concentration) rows, started from its stationary law."""
    rng = validate_rng(rng)
    N, order = validate_count(N, "N", 2), validate_count(order, "order")
    T = rng.dirichlet(np.full(N, float(concentration)), size=N**order).reshape((N,) * (order + 1))
    return MarkovChain(T)


def log_probs(chain: MarkovChain, seqs) -> np.ndarray:
    """log p(x) of full sequences (rows, L ≥ k): log π(x^{1..k}) + Σ_j log P(x^j | context)."""
    seqs = np.atleast_2d(np.asarray(seqs, dtype=np.int64))
    k = chain.order
    with np.errstate(divide="ignore"):
        first = np.log(chain.initial[tuple(seqs[:, :k].T)])
    return first - (transition_nll(chain, seqs, k) if seqs.shape[1] > k else 0.0)


class MixtureDenoiser:
    """The exact denoiser of a mixture of Markov chains, Σ_c w_c p_c (module docstring).

    Follows the denoiser protocol: (B, L) ints with mask id N → (B, L, N). A row whose
    visible letters have probability 0 under the mixture raises a ``ValueError`` naming it.

    Examples
    --------
    >>> import numpy as np, exactdiff as ed
    >>> rng = np.random.default_rng(0)
    >>> a, b = dirichlet_chain(3, 2, 0.5, rng), dirichlet_chain(3, 1, 0.5, rng)
    >>> mix = MixtureDenoiser([a, b], [0.7, 0.3])
    >>> q = ed.Distribution(0.7 * a.to_table(4) + 0.3 * b.to_table(4))
    >>> x = np.array([[0, 3, 2, 3]])                       # 3 = mask
    >>> bool(np.allclose(mix(x)[0, [1, 3]], ed.OracleDenoiser(q)(x)[0, [1, 3]], rtol=1e-12, atol=1e-15))
    True
    """

    def __init__(self, chains, weights):
        self.chains = list(chains)
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.chains),) or np.any(w < 0) or not np.all(np.isfinite(w)) or abs(w.sum() - 1) > SUM_ATOL:
            raise ValueError(f"`weights` must be {len(self.chains)} numbers >= 0 summing to 1 (got {w.tolist()}).")
        Ns = {c.N for c in self.chains}
        if len(Ns) != 1:
            raise ValueError(f"`chains` must share one alphabet size (got {sorted(Ns)}).")
        self.weights, self.N, self.L = w, Ns.pop(), None

    def __call__(self, x):
        x = as_token_array(x, self.N + 1, "x")
        vis = x != self.N
        letters = np.where(vis, x, 0)
        logs, posts = [], []
        for chain, w in zip(self.chains, self.weights):
            if w == 0:
                continue
            lz = chain.log_subsequences(letters, vis)
            post = np.zeros(x.shape + (self.N,))
            live = np.isfinite(lz)
            if live.any():
                post[live] = chain.posteriors(x[live])
            logs.append(np.log(w) + lz)
            posts.append(post)
        logs = np.stack(logs)
        total = logsumexp(logs, axis=0)
        if np.any(np.isneginf(total) & (~vis).any(axis=1)):
            b = int(np.flatnonzero(np.isneginf(total))[0])
            raise ValueError(f"the context {show_masked(x[b], self.N)} of query row {b} (_ = masked) has probability 0 "
                             f"under the mixture: its conditionals are undefined.")
        with np.errstate(invalid="ignore"):
            pi = np.exp(logs - total)
        return np.einsum("cb,cbln->bln", np.nan_to_num(pi), np.stack(posts))


def projected_chain(chains, weights, order: int) -> MarkovChain:
    """The order-K chain fitted by maximum likelihood to infinitely many stationary
    sequences of the mixture: P(v | c) = Σ_i w_i π_i(c, v) / Σ_i w_i π_i(c), π_i the
    stationary (K+1)- and K-gram laws of chain i; its initial law Σ_i w_i π_i(c).
    Contexts no chain reaches get the uniform row."""
    K = validate_count(order, "order")
    num = den = 0.0
    for chain, w in zip(chains, weights):
        if chain.order > K:
            raise ValueError(f"`order`={K} is below the order {chain.order} of a component.")
        grams = chain.to_table(K + 1)  # the chain starts from its stationary law
        num = num + w * grams
        den = den + w * grams.sum(axis=-1)
    N = num.shape[0]
    safe = np.where(den > 0, den, 1.0)
    P = np.where(den[..., None] > 0, num / safe[..., None], 1.0 / N)
    return MarkovChain(P, initial=den / den.sum())


def _all_sequences(N, L):
    return np.array(list(itertools.product(range(N), repeat=L)), dtype=np.int64)


def expected_nlls(data: MarkovChain, teacher: MarkovChain, prompt: int, response: int) -> dict:
    """Functions w ↦ (E_true(w), E_teacher(w)) for ``"mixture"`` (the exact law q_w) and
    ``"projected_chain"`` (:func:`projected_chain`), exact over all N^(prompt + response) pairs."""
    N, L = data.N, prompt + response
    K = max(data.order, teacher.order)
    seqs = _all_sequences(N, L)
    ld, lt = log_probs(data, seqs), log_probs(teacher, seqs)
    ldx, ltx = log_probs(data, seqs[:, :prompt]), log_probs(teacher, seqs[:, :prompt])
    w_true = np.exp(ld)                   # p_d(x, y)
    with np.errstate(invalid="ignore"):
        w_teach = np.nan_to_num(np.exp(ldx + lt - ltx))  # p_d(x) p_t(y | x)

    def logs(w):
        with np.errstate(divide="ignore"):
            return np.log1p(-w), np.log(w)

    def mixture(w):
        a, b = logs(w)
        nll = np.logaddexp(a + ldx, b + ltx) - np.logaddexp(a + ld, b + lt)
        return float(w_true @ nll), float(np.sum(np.where(w_teach > 0, w_teach * nll, 0.0)))

    def projected(w):
        chain = projected_chain([data, teacher], [1 - w, w], K)
        nll = transition_nll(chain, seqs, prompt)
        return float(w_true @ nll), float(np.sum(np.where(w_teach > 0, w_teach * nll, 0.0)))

    return {"mixture": mixture, "projected_chain": projected}


def crossing(fun, lo: float = 0.0, hi: float = 1.0):
    """w in [lo, hi] with E_teacher(w) = E_true(w) (``scipy.optimize.brentq`` to 1e-14),
    or None without a sign change."""
    def g(w):
        true, teacher = fun(w)
        return teacher - true

    glo, ghi = g(lo), g(hi)
    if not (np.isfinite(glo) and np.isfinite(ghi)) or np.sign(glo) == np.sign(ghi):
        return None
    return float(optimize.brentq(g, lo, hi, xtol=1e-14, rtol=1e-15, maxiter=200))


def _sample_pairs(data, teacher, prompt, response, pairs, rng):
    """(prompts, true continuations, teacher continuations) drawn with ``rng``."""
    x = data.sample(pairs, prompt + response, rng)
    kt, N = teacher.order, teacher.N
    cdf = np.cumsum(teacher.transitions.reshape(-1, N), axis=1)
    ctx = x[:, prompt - kt: prompt].copy()
    y = np.empty((pairs, response), dtype=np.int64)
    for j in range(response):
        row = np.ravel_multi_index(ctx.T, (N,) * kt)
        y[:, j] = np.minimum((rng.random(pairs)[:, None] > cdf[row]).sum(axis=1), N - 1)
        ctx = np.concatenate([ctx[:, 1:], y[:, j: j + 1]], axis=1)
    return x[:, :prompt], x[:, prompt:], y


def _checks(data, teacher, prompt, response, rng, w=0.3):
    """The mixture denoiser against the enumerated table, and Corollary 4.3 for it
    (``ed.estimator_moments`` vs ``ed.exact_conditional_nll``)."""
    L = prompt + response
    q = Distribution((1 - w) * data.to_table(L) + w * teacher.to_table(L))
    den, table = MixtureDenoiser([data, teacher], [1 - w, w]), OracleDenoiser(q)
    x = q.sample(100, rng)
    noisy = np.where(rng.random(x.shape) < 0.5, data.N, x)
    err = float(np.max(np.abs(den(noisy) - table(noisy))[noisy == data.N]))
    T, C = list(range(prompt, L)), list(range(prompt))
    cor = max(abs(estimator_moments(den, x[b], "time_free", target=T, context=C).mean
                  - exact_conditional_nll(q, tuple(x[b]), T, C)) for b in range(3))
    return {"w": w, "mixture_vs_table_max_abs": err, "cor43_mean_vs_exact_max_abs": float(cor)}


def influence_experiment(seed: int = 0, *, N: int = 4, data_order: int = 2, teacher_order: int = 1,
                         concentration: float = 0.5, prompt: int = 4, response: int = 4, pairs: int = 500,
                         curves: bool = True) -> dict:
    """The experiment of the module docstring: curves of E_true(w) and E_teacher(w) for
    the mixture, the fitted chain and a sample of ``pairs`` pairs (the mixture), and the
    crossings w*. ``curves=False`` skips the curves (the crossings only). The chains, the
    sampled pairs and the checks draw from three streams spawned from ``seed``.

    Examples
    --------
    >>> out = influence_experiment(seed=0, N=3, prompt=3, response=3, pairs=50)
    >>> w = out["crossing_w"]["mixture"]
    >>> w is None or abs(out["at_crossing"]["mixture"][0] - out["at_crossing"]["mixture"][1]) < 1e-9
    True
    """
    t0 = time.perf_counter()
    N, prompt, response = validate_count(N, "N", 2), validate_count(prompt, "prompt"), validate_count(response, "response")
    if prompt < max(data_order, teacher_order):
        raise ValueError(f"`prompt`={prompt} must be at least the larger order {max(data_order, teacher_order)}.")
    if N ** (prompt + response) > 2**22:
        raise ValueError(f"`N`^(prompt + response) = {N ** (prompt + response):,} pairs; the exact expectations "
                         f"enumerate them (at most 2^22).")
    chain_rng, sample_rng, check_rng_ = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    data = dirichlet_chain(N, data_order, concentration, chain_rng)
    teacher = dirichlet_chain(N, teacher_order, concentration, chain_rng)
    funs = expected_nlls(data, teacher, prompt, response)
    x, y_true, y_teach = _sample_pairs(data, teacher, prompt, response, pairs, sample_rng)
    full_true, full_teach = np.concatenate([x, y_true], 1), np.concatenate([x, y_teach], 1)
    parts = {(c, s): log_probs(ch, arr) for c, ch in (("d", data), ("t", teacher))
             for s, arr in (("x", x), ("true", full_true), ("teach", full_teach))}

    def sample_fun(w):
        with np.errstate(divide="ignore"):
            a, b = np.log1p(-w), np.log(w)
        lx = np.logaddexp(a + parts["d", "x"], b + parts["t", "x"])
        return (float(np.mean(lx - np.logaddexp(a + parts["d", "true"], b + parts["t", "true"]))),
                float(np.mean(lx - np.logaddexp(a + parts["d", "teach"], b + parts["t", "teach"]))))

    funs["mixture_sample"] = sample_fun
    ends = np.logspace(-5, -1, 25)
    grid = np.unique(np.concatenate([np.linspace(0, 1, 101), ends, 1 - ends]))
    drawn, cross, at = {}, {}, {}
    for name, f in funs.items():
        if curves:
            vals = np.array([f(w) for w in grid])
            drawn[name] = {"w": grid.tolist(), "true": vals[:, 0].tolist(), "teacher": vals[:, 1].tolist()}
        cross[name] = crossing(f)
        at[name] = list(f(cross[name])) if cross[name] is not None else None
    entropy_rate = lambda c: float(-(c.to_table(c.order + 1) * np.log(c.transitions)).sum())  # noqa: E731
    return {
        "setup": {"seed": seed, "N": N, "data_order": data_order, "teacher_order": teacher_order,
                  "concentration": concentration, "prompt": prompt, "response": response, "pairs_sampled": pairs,
                  "entropy_rate_data": entropy_rate(data), "entropy_rate_teacher": entropy_rate(teacher)},
        "crossing_w": cross,
        "at_crossing": at,
        "at_w0": {name: list(funs[name](0.0)) for name in funs},
        "at_w1": {name: list(funs[name](1.0)) for name in funs},
        "curves": drawn,
        "checks": _checks(data, teacher, prompt, response, check_rng_),
        "seconds": time.perf_counter() - t0,
    }


def plot_influence(result: dict, path):
    """``figures/ood_influence.png``: E_true(w) and E_teacher(w) for the exact mixture, the
    fitted chain and the sampled pairs, with the crossings."""
    from ..figures.style import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    styles = {"mixture": ("-", "exact mixture"), "projected_chain": ("--", "fitted chain"),
              "mixture_sample": (":", f"mixture, {result['setup']['pairs_sampled']} sampled pairs")}
    for name, (ls, label) in styles.items():
        c = result["curves"][name]
        w = result["crossing_w"][name]
        tag = f", w* = {w:.3f}" if w is not None else ", no crossing"
        ax.plot(c["w"], c["true"], ls, color="#384786", lw=1.3, label=f"true continuations: {label}")
        ax.plot(c["w"], c["teacher"], ls, color="#EA5455", lw=1.3, label=f"teacher continuations: {label}{tag}")
        if w is not None:
            ax.axvline(w, color="gray", ls=ls, lw=0.8)
    s = result["setup"]
    ax.set_title(f"data order {s['data_order']}, teacher order {s['teacher_order']}, N={s['N']}, "
                 f"prompt {s['prompt']} + response {s['response']}", fontsize=9)
    ax.set_xlabel("teacher weight w in the training mixture")
    ax.set_ylabel("mean −log q_w(y | x) (nats)")
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    return save(fig, path, dpi=120)
