"""Out-of-distribution detection on real text with an exact AUROC (the paper's Fig. c).

Setup (the paper's own audit data, ``../shared/data/text8/``):

1. **Text.** Every file is mapped to the text8 alphabet (:mod:`exactdiff.audit.text`; the
   identity on text8 itself). The chain is fitted on the first ``train_chars`` (40,000)
   characters of the training text; when the in-distribution text is the same file, only
   the characters after those are used for pairs (held out), otherwise all of it.
2. **Chain.** An order-k character chain with additive smoothing,
   P(v | c) = (n(c, v) + α) / (n(c) + 27 α) (:func:`~exactdiff.fit_markov_chain`), its
   initial law the stationary one. α is chosen from :data:`ALPHA_GRID` by the
   likelihood of the last quarter of the training text under a fit on the first three
   quarters (:func:`choose_alpha`), then the chain is refitted on all of it; the held-out
   text never enters the fit.
3. **Pairs** (as the paper's script): P prompts of 16 letters from the held-out text
   (starts drawn without replacement), each followed by its true 16-letter continuation
   (in distribution, label 0) or by a 16-letter window of the mapped OOD text (label 1),
   so 2P responses. Higher NLL = more out of distribution.
4. **Exact scores.** For every response y after its prompt x, −log p(y | x) three ways:
   the product of transitions (the prompt has ≥ k letters), two forward passes
   (log p(x) − log p(x, y)), and the Corollary 4.3 sum over all 2^16 − 1 visible sets of the
   response, from the table of the chain's loss ℓ(m) on every mask
   (:meth:`MarkovChain.subset_losses <exactdiff.MarkovChain.subset_losses>`).
5. **Estimates.** The time-free conditional estimator with n draws, and the other mask
   laws (:mod:`exactdiff.masked.laws`): for each response and size law one stream
   (``SeedSequence`` spawned per response), ``seeds`` repetitions of ``max_draws`` draws;
   the estimate at n is the mean of the first n. A draw's value is looked up in the loss
   table — exactly what the chain's oracle denoiser returns on that mask (checked against
   direct forward–backward calls on ``direct_check`` responses).
6. **AUROC** = U / (n_1 n_0), U the Mann–Whitney statistic of the OOD scores against the
   in-distribution ones (``scipy.stats.mannwhitneyu``; ties count ½). The *exact* AUROC
   uses the exact NLLs; the *limit* of a law uses its exact mean per response (infinitely
   many draws); the Monte Carlo AUROC at n draws its mean and spread over the seeds.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import NamedTuple

import numpy as np
from scipy import stats

from ..core.validation import validate_count
from ..markov import MarkovChain, fit_markov_chain
from ..masked.laws import LAW_NAMES, MaskLaw
from ..masked.weights import subset_weight
from ..sequences.masks import patterns_to_masks
from .text import TEXT8_ALPHABET, encode_text

__all__ = [
    "ALPHA_GRID",
    "MAX_ORDER",
    "N_GRID",
    "REPORT_N",
    "auroc",
    "choose_alpha",
    "transition_nll",
    "sample_pairs",
    "OODSetup",
    "ood_setup",
    "fit_text_chain",
    "draws_needed",
    "TableDraws",
    "table_draws",
    "ood_detection",
    "plot_ood",
]

#: Smoothing pseudo-counts tried per order.
ALPHA_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Largest order: the table has 27^(k+1) entries (115 MB at k = 4, 3.1 GB at k = 5) and
#: each 2^16-subset table of order 4 already needs about 1.4 GB.
MAX_ORDER = 4
#: Draw counts of the Monte Carlo curves: nested prefixes of one stream per seed.
N_GRID = tuple(2**e for e in range(11))
#: Draw counts reported in ``mc_auroc``.
REPORT_N = (1, 4, 16, 64, 256)


def auroc(scores, labels) -> float:
    """P(score of a positive > score of a negative) + ½ P(tie) = U / (n_1 n_0), with U
    the Mann–Whitney statistic (``scipy.stats.mannwhitneyu``). Positives: ``labels == 1``.

    Examples
    --------
    >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if pos.size == 0 or neg.size == 0:
        raise ValueError("`labels` must hold both classes (0 and 1).")
    return float(stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic / (pos.size * neg.size))


def transition_nll(chain: MarkovChain, tokens, start: int) -> np.ndarray:
    """Σ_{j ≥ start} −log P(x^j | x^{j−k..j−1}) of each row of ``tokens`` (rows, L) (or one
    sequence): the exact −log p(x^{start:} | x^{:start}) for start ≥ k."""
    tokens = np.atleast_2d(np.asarray(tokens, dtype=np.int64))
    k, N = chain.order, chain.N
    if start < k:
        raise ValueError(f"`start` must be at least the order k={k} (got {start}).")
    grams = np.zeros((tokens.shape[0], tokens.shape[1] - start), dtype=np.int64)
    for q in range(k + 1):
        grams = grams * N + tokens[:, start - k + q: tokens.shape[1] - k + q]
    with np.errstate(divide="ignore"):
        return -np.log(chain.transitions.reshape(-1)[grams]).sum(axis=1)


def choose_alpha(tokens, order: int, grid=ALPHA_GRID, split: float = 0.75):
    """α of ``grid`` with the lowest NLL per character on the last part of ``tokens``
    under a chain fitted on the first ``split``; returns (α, {α: NLL per character})."""
    tokens = np.asarray(tokens, dtype=np.int64)
    cut = int(split * tokens.size)
    k = order
    scores = {}
    uniform = np.full((len(TEXT8_ALPHABET),) * k, float(len(TEXT8_ALPHABET)) ** -k)
    for alpha in grid:
        chain = fit_markov_chain(tokens[:cut], len(TEXT8_ALPHABET), k, alpha, initial=uniform)
        scores[float(alpha)] = float(transition_nll(chain, tokens[cut - k:], k)[0] / (tokens.size - cut))
    return min(scores, key=scores.get), scores


def sample_pairs(held_out, ood, pairs: int, rng, prompt: int = 16, response: int = 16):
    """Prompt/response pairs: (sequences (2P, prompt + response), labels (2P,), prompt
    starts, OOD starts). The first P rows continue each prompt with its true
    continuation (label 0), the last P with an OOD window (label 1)."""
    held_out, ood = np.asarray(held_out), np.asarray(ood)
    span = prompt + response
    n_starts = held_out.size - span + 1
    if n_starts < pairs:
        raise ValueError(f"`pairs`={pairs} needs {pairs} distinct prompt starts; the held-out text offers "
                         f"{max(n_starts, 0)}.")
    o_starts = ood.size - response + 1
    starts = np.sort(rng.choice(n_starts, size=pairs, replace=False))
    ostarts = rng.choice(o_starts, size=pairs, replace=o_starts < pairs)
    ind = np.stack([held_out[s: s + span] for s in starts])
    out = np.stack([np.concatenate([held_out[s: s + prompt], ood[g: g + response]]) for s, g in zip(starts, ostarts)])
    labels = np.repeat([0, 1], pairs)
    return np.concatenate([ind, out]), labels, starts, ostarts


def draws_needed(curves, exact: float, tol: float = 0.01, grid=N_GRID) -> dict:
    """The smallest n of ``grid`` whose mean AUROC over seeds is within ``tol`` of
    ``exact`` and stays so for every larger n of the grid (``mean_within``), and the same
    for the root-mean-square error over seeds (``rms_within``); None when none is."""
    curves = np.asarray(curves)
    mean_ok = np.abs(curves.mean(axis=0) - exact) <= tol
    rms_ok = np.sqrt(((curves - exact) ** 2).mean(axis=0)) <= tol

    def first(ok):
        for g in range(len(grid)):
            if ok[g:].all():
                return int(grid[g])
        return None

    return {"mean_within": first(mean_ok), "rms_within": first(rms_ok)}


def _families(laws):
    """Groups of laws with the same size law (they share their draws)."""
    groups = []
    for law in laws:
        for g in groups:
            if np.array_equal(g[0].size_probs, law.size_probs) and g[0].subset_probs is None \
                    and law.subset_probs is None:
                g.append(law)
                break
        else:
            groups.append([law])
    return groups


def _validate_order(order, prompt):
    k = validate_count(order, "order")
    if k > MAX_ORDER:
        raise ValueError(f"`order`={k} is above what the text supports here: the chain over 27 letters needs "
                         f"27^{k + 1} = {27 ** (k + 1):,} transitions ({8 * 27 ** (k + 1) / 2**30:.1f} GiB) "
                         f"from at most "
                         f"a few tens of thousands of characters, and each exact subset table more; at most order "
                         f"{MAX_ORDER}.")
    if k > prompt:
        raise ValueError(f"`order`={k} must be at most the prompt length {prompt} (the prompt fixes the context).")
    return k


def _training_tokens(train_text, k, train_chars):
    train_tok = encode_text(train_text)[:train_chars]
    if train_tok.size <= 4 * k + 4:
        raise ValueError(f"`train_text` has {train_tok.size} characters; fitting an order-{k} chain needs more.")
    return train_tok


def _fit(train_tok, k, alpha):
    if alpha is None:
        alpha, alpha_scores = choose_alpha(train_tok, k)
    else:
        alpha_scores = {}
    chain = fit_markov_chain(train_tok, len(TEXT8_ALPHABET), k, float(alpha), alphabet=TEXT8_ALPHABET)
    return chain, float(alpha), alpha_scores


def fit_text_chain(train_text: str, *, order: int = 3, alpha=None, train_chars: int = 40_000):
    """The chain of step 2 of the module docstring, as :func:`ood_detection` and
    :func:`ood_setup` fit it: order k on the first ``train_chars`` characters of
    ``train_text`` (text8 alphabet), α chosen by :func:`choose_alpha` unless given, the
    initial law stationary. Returns (chain, α, {α: validation NLL per character})."""
    k = _validate_order(order, order)
    train_chars = validate_count(train_chars, "train_chars", 2)
    return _fit(_training_tokens(train_text, k, train_chars), k, alpha)


@dataclasses.dataclass(frozen=True)
class OODSetup:
    """The chain and the prompt/response pairs of an OOD run (:func:`ood_setup`), shared by
    :func:`ood_detection` and every audit of the same pairs (e.g. a trained network's).

    Attributes
    ----------
    chain : MarkovChain
        The order-k chain fitted on the first ``train_chars`` characters (α chosen by
        :func:`choose_alpha` unless given).
    alpha : float
    alpha_scores : dict of float → float
        The validation NLL per character of each α tried (empty when α was given).
    train_chars, held_out_chars : int
        Characters fitted on, and characters of the in-distribution text the pairs come from.
    sequences : ndarray, shape (2P, prompt + response)
        The pairs (:func:`sample_pairs`): rows 0..P−1 true continuations, P..2P−1 OOD.
    labels : ndarray, shape (2P,)
        0 for the true continuations, 1 for the OOD responses.
    nll : ndarray, shape (2P,)
        The exact −log p(response | prompt) under the chain (:func:`transition_nll`).
    prompt_starts, ood_starts : ndarray, shape (P,)
        Where each prompt starts in the in-distribution text (counted from its first
        character) and each OOD response in the OOD text.
    mc_stream, boot_stream : numpy.random.SeedSequence
        The second and third children of ``SeedSequence(seed)`` (the first drew the
        pairs): the Monte Carlo draws (spawned per response) and the bootstrap.
    timing_s : dict
        ``load_s``, ``fit_s`` (α included) and ``pairs_and_exact_s``.
    """

    chain: MarkovChain
    alpha: float
    alpha_scores: dict
    train_chars: int
    held_out_chars: int
    sequences: np.ndarray
    labels: np.ndarray
    nll: np.ndarray
    prompt_starts: np.ndarray
    ood_starts: np.ndarray
    mc_stream: np.random.SeedSequence
    boot_stream: np.random.SeedSequence
    timing_s: dict


def ood_setup(train_text: str, in_text: str, ood_text: str, *, order: int = 3, pairs: int = 500, seed: int = 0,
              alpha=None, train_chars: int = 40_000, same_file=None, prompt: int = 16,
              response: int = 16) -> OODSetup:
    """Steps 1–3 of the module docstring and the exact NLLs: fit the chain and draw the
    pairs exactly as :func:`ood_detection` does with the same arguments (its parameters).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> text = "".join(rng.choice(list("ab "), size=3000))
    >>> s = ood_setup(text, text, "ab" * 50, order=1, pairs=3, train_chars=2000, prompt=4, response=4)
    >>> s.sequences.shape, s.labels.tolist()
    ((6, 8), [0, 0, 0, 1, 1, 1])
    """
    timing, t0 = {}, time.perf_counter()
    k = _validate_order(order, prompt)
    pairs = validate_count(pairs, "pairs")
    train_chars = validate_count(train_chars, "train_chars", 2)
    train_tok = _training_tokens(train_text, k, train_chars)
    same = (in_text == train_text) if same_file is None else bool(same_file)
    held = encode_text(in_text)[train_chars if same else 0:]
    if held.size < prompt + response:
        where = f"after the first {train_chars:,} (used to fit)" if same else "in all"
        raise ValueError(f"`in_text` has {held.size} characters {where}; one pair needs {prompt + response}.")
    ood_tok = encode_text(ood_text)
    if ood_tok.size < response:
        raise ValueError(f"`ood_text` has {ood_tok.size} characters; one response needs {response}.")
    timing["load_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    chain, alpha, alpha_scores = _fit(train_tok, k, alpha)
    timing["fit_s"] = time.perf_counter() - t

    t = time.perf_counter()
    pair_ss, mc_ss, boot_ss = np.random.SeedSequence(seed).spawn(3)
    seqs, labels, starts, ostarts = sample_pairs(held, ood_tok, pairs, np.random.default_rng(pair_ss), prompt, response)
    nll = transition_nll(chain, seqs, prompt)
    timing["pairs_and_exact_s"] = time.perf_counter() - t
    return OODSetup(chain=chain, alpha=float(alpha), alpha_scores=alpha_scores, train_chars=int(train_tok.size),
                    held_out_chars=int(held.size), sequences=seqs, labels=labels, nll=nll,
                    prompt_starts=starts + (train_chars if same else 0), ood_starts=ostarts,
                    mc_stream=mc_ss, boot_stream=boot_ss, timing_s=timing)


class TableDraws(NamedTuple):
    """What :func:`table_draws` returns, for K laws.

    Attributes
    ----------
    means, variances : ndarray, shape (K,)
        The exact mean (the limit) and variance of one draw of each law.
    curves : ndarray, shape (K, seeds, len(grid))
        The Monte Carlo estimate with n = grid[g] draws: the running mean of the first n
        draws of each repetition.
    picks : ndarray, shape (seeds, grid[-1])
        The mask indices drawn for the first group of laws (for checking lookups).
    """

    means: np.ndarray
    variances: np.ndarray
    curves: np.ndarray
    picks: np.ndarray


def table_draws(losses, laws, stream, *, seeds: int, grid) -> TableDraws:
    """Exact moments and Monte Carlo estimates of one response from its loss table.

    ``losses`` is ℓ(m) on every mask of the response (2^n,), in the order of
    :func:`~exactdiff.masked.mask_patterns`. Each law's mean and variance are exact
    (:meth:`MaskLaw.raw_moments <exactdiff.MaskLaw.raw_moments>`); the draws are mask
    indices looked up in the table, one child of ``stream`` (a ``SeedSequence``) per group
    of laws sharing a size law (in the order of first appearance), so the laws of a group
    see the same masks. The children are ``SeedSequence(stream.entropy,
    spawn_key=stream.spawn_key + (j,))`` — what ``stream.spawn`` gives on a fresh
    ``stream`` — so a second call with the same stream draws the same masks. ``grid``: the increasing draw counts reported, grid[-1] draws per
    repetition."""
    grid = np.asarray(grid)
    families = _families(laws)
    means, variances = np.empty(len(laws)), np.empty(len(laws))
    curves = np.empty((len(laws), seeds, grid.size))
    for i, law in enumerate(laws):
        m1, m2 = law.raw_moments(losses, orders=(1, 2))
        means[i], variances[i] = m1, max(m2 - m1 * m1, 0.0)
    first = None
    children = [np.random.SeedSequence(stream.entropy, spawn_key=stream.spawn_key + (j,)) for j in range(len(families))]
    for fam, child in zip(families, children):
        picks = fam[0].draw_patterns((seeds, grid[-1]), np.random.default_rng(child))
        first = picks if first is None else first
        for law in fam:
            running = np.cumsum(law.values(losses, picks), axis=1)
            curves[laws.index(law)] = running[:, grid - 1] / grid
    return TableDraws(means, variances, curves, first)


#: The shared arguments of :func:`_summarise_chunk` in a worker process.
_TASK = {}


def _set_task(task):
    _TASK.clear()
    _TASK.update(task)


def _summarise_chunk(rows, slots):
    return _summarise_responses(rows, slots, **_TASK)


def _summarise_responses(rows, slots, chain, seqs, laws, prompt, response, seeds, grid, streams, direct_check,
                         progress=False) -> dict:
    """For the responses ``rows`` (their places ``slots`` among all table responses): the
    Corollary 4.3 sum, each law's exact mean and variance, and the Monte Carlo running means
    at ``grid`` (one stream per response and size law, so any split of the responses gives
    the same numbers); the first ``direct_check`` table responses also check 64 lookups
    against forward–backward rows. A top-level function, so that worker processes can run it."""
    T, C = list(range(prompt, prompt + response)), list(range(prompt))
    weights = subset_weight(response, np.arange(response))
    out = {"limits": np.empty((len(laws), rows.size)), "variances": np.empty((len(laws), rows.size)),
           "curves": np.empty((len(laws), seeds, grid.size, rows.size)), "cor43": np.empty(rows.size),
           "direct": [], "tables_s": 0.0, "mc_s": 0.0}
    iterator = range(rows.size)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"ood order {chain.order}: 2^{response} tables", unit="resp", leave=False)
    for c in iterator:
        r = rows[c]
        t = time.perf_counter()
        losses, n_masked = chain.subset_losses(seqs[r], T, C)
        h = np.bincount(response - n_masked, weights=losses, minlength=response + 1)[:response]
        out["cor43"][c] = float(weights @ h)  # route 3: the Corollary 4.3 sum
        out["tables_s"] += time.perf_counter() - t
        t = time.perf_counter()
        draws = table_draws(losses, laws, streams[r], seeds=seeds, grid=grid)
        out["limits"][:, c], out["variances"][:, c], out["curves"][..., c] = draws.means, draws.variances, draws.curves
        if slots[c] < direct_check:
            sub = draws.picks[0, :64]
            vis = np.ones((sub.size, prompt + response), dtype=bool)
            vis[:, prompt:] = ~patterns_to_masks(sub, response)
            lc = chain.log_conditionals(seqs[r], vis)
            out["direct"].append(float(np.max(np.abs(-lc[:, prompt:].sum(axis=1) - losses[sub]))))
        out["mc_s"] += time.perf_counter() - t
    return out


def ood_detection(train_text: str, in_text: str, ood_text: str, *, order: int = 3, pairs: int = 500, seed: int = 0,
                  alpha=None, train_chars: int = 40_000, same_file=None, seeds: int = 20, max_draws: int = 1024,
                  table_pairs=None, laws=LAW_NAMES, prompt: int = 16, response: int = 16, direct_check: int = 4,
                  jobs: int = 1, progress: bool = False) -> dict:
    """Out-of-distribution detection with an order-k chain: exact and Monte Carlo AUROCs.

    Parameters
    ----------
    train_text, in_text, ood_text : str
        Texts in the text8 alphabet (:func:`~exactdiff.audit.text.read_text` maps files).
    order : int
        k, 1..:data:`MAX_ORDER`.
    pairs : int
        P prompts; 2P responses.
    seed : int
        Seeds the pairs (one spawned stream) and the Monte Carlo draws (another, spawned
        per response and size law).
    alpha : float, optional
        The smoothing; default chosen by :func:`choose_alpha`.
    train_chars : int
        Characters of ``train_text`` the chain is fitted on.
    same_file : bool, optional
        Whether ``in_text`` is the training file (then only its characters after
        ``train_chars`` are used); default: whether the two texts are equal.
    seeds : int
        Monte Carlo repetitions (≥ 2, for the spread).
    max_draws : int
        Draws per repetition; the curves use the powers of two up to it.
    table_pairs : int, optional
        Pairs whose 2^16 tables (Corollary 4.3 sum, law limits, Monte Carlo) are computed
        (the first ones of each label); default all. The exact AUROC always uses all.
    laws : names or MaskLaws
        The estimators compared (default every named law).
    prompt, response : int
        Lengths (the paper's 16 and 16).
    direct_check : int
        Responses whose first 64 table lookups are recomputed by forward–backward.
    jobs : int
        Worker processes for the tables (the results do not depend on it: every response
        draws from its own stream).
    progress : bool
        A tqdm bar over the tables (``jobs=1`` only).

    Returns
    -------
    dict
        JSON-ready. Keys: ``order``, ``pairs``, ``exact_auroc``, ``mc_auroc`` (n → the
        mean time-free AUROC over seeds, n in :data:`REPORT_N`), ``mc_auroc_sd``, ``laws``
        (per law: ``limit_auroc``, the curves, ``draws_for_0.01``, rank correlations
        with the exact NLL, biases), ``alpha``, ``checks`` (the agreement of the routes),
        ``timing_s``, ``nll`` (the exact NLLs by label) and the pair starts.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> text = "".join(rng.choice(list("ab "), size=3000))
    >>> out = ood_detection(text, text, "ab" * 50, order=1, pairs=6, seeds=2, max_draws=8,
    ...                     train_chars=2000, prompt=4, response=4, laws=("time_free",))
    >>> out["checks"]["closed_form_vs_cor43_max_abs"] < 1e-12
    True
    """
    timing, t0, c0 = {}, time.perf_counter(), time.process_time()
    pairs = validate_count(pairs, "pairs")
    seeds = validate_count(seeds, "seeds", 2)
    max_draws = validate_count(max_draws, "max_draws")
    if response > 20:
        raise ValueError(f"`response`={response}: the exact tables have 2^response entries (at most 2^20).")
    setup = ood_setup(train_text, in_text, ood_text, order=order, pairs=pairs, seed=seed, alpha=alpha,
                      train_chars=train_chars, same_file=same_file, prompt=prompt, response=response)
    chain, seqs, labels, k = setup.chain, setup.sequences, setup.labels, setup.chain.order
    laws = [law if isinstance(law, MaskLaw) else MaskLaw.named(law, response) for law in laws]
    names = [law.name for law in laws]
    if "time_free" not in names:
        laws, names = [MaskLaw.time_free(response)] + laws, ["time_free"] + names
    grid = np.array([g for g in N_GRID if g <= max_draws] + ([max_draws] if max_draws not in N_GRID else []))
    timing.update(setup.timing_s)

    t = time.perf_counter()
    R = seqs.shape[0]
    mc_ss, boot_ss = setup.mc_stream, setup.boot_stream
    nll = setup.nll  # route 1: the product of transitions
    visible = np.ones(seqs.shape, dtype=bool)
    nll_fwd = chain.log_subsequences(seqs[:, :prompt], visible[:, :prompt]) - chain.log_subsequences(seqs, visible)
    exact = auroc(nll, labels)
    timing["pairs_and_exact_s"] += time.perf_counter() - t

    # Tables: every mask of every response (of the first table_pairs pairs of each label).
    n_tab = pairs if table_pairs is None else min(pairs, validate_count(table_pairs, "table_pairs"))
    rows = np.concatenate([np.arange(n_tab), pairs + np.arange(n_tab)])
    lab = labels[rows]
    jobs = min(validate_count(jobs, "jobs"), rows.size)
    task = dict(chain=chain, seqs=seqs, laws=laws, prompt=prompt, response=response, seeds=seeds, grid=grid,
                streams=mc_ss.spawn(R), direct_check=direct_check)
    children = os.times()
    if jobs == 1:
        outs = [_summarise_responses(rows, np.arange(rows.size), progress=progress, **task)]
    else:
        import concurrent.futures as cf
        import multiprocessing as mp

        parts = np.array_split(np.arange(rows.size), jobs * 4)
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_set_task, initargs=(task,)) as pool:
            outs = list(pool.map(_summarise_chunk, [rows[p] for p in parts], parts))
    done = os.times()
    children_cpu = (done.children_user - children.children_user) + (done.children_system - children.children_system)
    limits = np.concatenate([o["limits"] for o in outs], axis=1)
    variances = np.concatenate([o["variances"] for o in outs], axis=1)
    curves = np.concatenate([o["curves"] for o in outs], axis=3)
    cor43 = np.concatenate([o["cor43"] for o in outs])
    direct = [d for o in outs for d in o["direct"]]
    timing["tables_s"] = sum(o["tables_s"] for o in outs)
    timing["moments_and_mc_s"] = sum(o["mc_s"] for o in outs)
    timing["jobs"] = jobs

    t = time.perf_counter()
    exact_sub = auroc(nll[rows], lab)
    law_out = {}
    boot_rng = np.random.default_rng(boot_ss)
    for i, law in enumerate(laws):
        curve = np.array([[auroc(curves[i, s, g], lab) for g in range(grid.size)] for s in range(seeds)])
        lim = limits[i]
        bias = lim - nll[rows]
        law_out[law.name] = {
            "limit_auroc": auroc(lim, lab),
            "mc_auroc_mean": {str(int(n)): float(curve[:, g].mean()) for g, n in enumerate(grid)},
            "mc_auroc_sd": {str(int(n)): float(curve[:, g].std(ddof=1)) for g, n in enumerate(grid)},
            "draws_for_0.01": draws_needed(curve, exact_sub, grid=tuple(int(g) for g in grid)),
            "spearman_vs_exact": float(stats.spearmanr(lim, nll[rows]).statistic),
            "kendall_vs_exact": float(stats.kendalltau(lim, nll[rows]).statistic),
            "mean_bias_nats": {"in": float(bias[lab == 0].mean()), "ood": float(bias[lab == 1].mean())},
            "ratio_limit_to_nll": {"min": float(np.min(lim / nll[rows])), "max": float(np.max(lim / nll[rows]))},
            "sd_one_draw_median": float(np.median(np.sqrt(variances[i]))),
        }
    boot = []
    for _ in range(1000):
        pick = boot_rng.integers(0, pairs, size=pairs)
        boot.append(auroc(np.concatenate([nll[pick], nll[pairs + pick]]), np.repeat([0, 1], pairs)))
    timing["auroc_s"] = time.perf_counter() - t
    timing["total_wall_s"] = time.perf_counter() - t0
    timing["total_cpu_s"] = time.process_time() - c0 + children_cpu  # worker processes included
    timing["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    tf = law_out["time_free"]
    return {
        "order": k,
        "pairs": pairs,
        "responses": int(R),
        "prompt": prompt,
        "response": response,
        "seed": seed,
        "alpha": setup.alpha,
        "alpha_validation_nll_per_char": {str(a): v for a, v in setup.alpha_scores.items()},
        "train_chars": setup.train_chars,
        "held_out_chars": setup.held_out_chars,
        "exact_auroc": exact,
        "exact_auroc_bootstrap_sd": float(np.std(boot, ddof=1)),
        "exact_auroc_table_responses": exact_sub,
        "table_responses": int(rows.size),
        "mc_auroc": {str(n): tf["mc_auroc_mean"][str(n)] for n in REPORT_N if str(n) in tf["mc_auroc_mean"]},
        "mc_auroc_sd": {str(n): tf["mc_auroc_sd"][str(n)] for n in REPORT_N if str(n) in tf["mc_auroc_sd"]},
        "mc_seeds": seeds,
        "laws": law_out,
        "nll_in_mean": float(nll[labels == 0].mean()),
        "nll_ood_mean": float(nll[labels == 1].mean()),
        "checks": {
            "closed_form_vs_forward_max_abs": float(np.max(np.abs(nll - nll_fwd))),
            "closed_form_vs_cor43_max_abs": float(np.max(np.abs(nll[rows] - cor43))),
            "time_free_limit_vs_nll_max_abs": float(np.max(np.abs(limits[names.index("time_free")] - nll[rows]))),
            "table_vs_forward_backward_max_abs": max(direct) if direct else None,
        },
        "timing_s": timing,
        "nll": {"in": nll[labels == 0].tolist(), "ood": nll[labels == 1].tolist()},
        "prompt_starts": setup.prompt_starts.tolist(),
        "ood_starts": setup.ood_starts.tolist(),
    }


def plot_ood(results, path):
    """``figures/ood_auroc.png``: per order, the densities of the exact NLLs of the two
    labels (the paper's Fig. c) and the AUROC against the draws per response for every
    law (mean ± sd over seeds), the exact AUROC as a line. ``results``: one or more
    outputs of :func:`ood_detection`."""
    from ..figures.style import pyplot, save

    results = [results] if isinstance(results, dict) else list(results)
    plt = pyplot()
    fig, axes = plt.subplots(2, len(results), figsize=(4.2 * len(results), 7.2), squeeze=False)
    colors = {"time_free": "#384786", "k_dce": "#2a9d8f", "no_empty": "#e9c46a", "token_mean": "#f4a261",
              "no_empty_token_mean": "#EA5455"}
    for col, res in enumerate(results):
        ax = axes[0, col]
        both = np.array(res["nll"]["in"] + res["nll"]["ood"])
        xs = np.linspace(both.min() - 2, both.max() + 2, 300)
        for key, color, label in (("in", "#384786", "text8 continuation"), ("ood", "#EA5455", "GPT window (mapped)")):
            dens = stats.gaussian_kde(res["nll"][key])(xs)
            ax.plot(xs, dens, color=color)
            ax.fill_between(xs, dens, color=color, alpha=0.3, label=label)
        ax.set_title(f"order {res['order']} (α={res['alpha']:g}), {res['responses']} responses: exact AUROC "
                     f"{res['exact_auroc']:.3f}", fontsize=9)
        ax.set_xlabel("exact −log p(response | prompt) (nats)")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        for name, d in res["laws"].items():
            ns = np.array([int(n) for n in d["mc_auroc_mean"]])
            m = np.array(list(d["mc_auroc_mean"].values()))
            s = np.array(list(d["mc_auroc_sd"].values()))
            ax.errorbar(ns, m, yerr=s, capsize=2, lw=1, color=colors.get(name),
                        label=f"{name} (limit {d['limit_auroc']:.3f})")
        ax.axhline(res["exact_auroc_table_responses"], color="k", ls="--", lw=1,
                   label=f"exact ({res['table_responses']} responses)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("draws per response n")
        ax.set_ylabel("AUROC (mean ± sd over seeds)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return save(fig, path, dpi=120)
