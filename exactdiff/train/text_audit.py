"""The exact audit of a prompt-conditioned network (``"prompt_mlp"``) at text scale:
the network's loss on every one of the 2^R masks of a response, and from it the exact
conditional time-free limit (Corollary 4.3 with the network's conditionals).

For a sequence x = (prompt x^C, response x^T), |T| = R, and a mask m ⊆ T,

.. math::

    \\ell_\\theta(m) = \\sum_{i \\in m} -\\log c_\\theta(\\tilde x_m)_{i, x^i},
    \\qquad
    \\mathrm{limit}_\\theta(x) = \\sum_{a=1}^{R} \\frac{1}{a \\binom{R}{a}} \\sum_{|m| = a} \\ell_\\theta(m),

the mean of every unbiased conditional estimator with this network — time-free
(Theorem 4.2) and k-DCE alike — i.e. what it converges to with infinitely many draws.
With the chain's conditionals in place of c_θ it is −log p0(x^T | x^C) exactly
(Corollary 4.3), so bias(x) = limit_θ(x) − (−log p0(x^T | x^C)), and its mean over
responses drawn from the chain is the network's expected conditional KL (the gap of
:mod:`exactdiff.train.text`).

**The batched pass.** The first layer of the ``"prompt_mlp"`` is a sum of embeddings,
so for the 2^R masks of one response its pre-activation is

    base + m @ D,   base = b_1 + Σ_j W_1[r(j, x^j)],   D_i = W_1[r(P+i, M)] − W_1[r(P+i, x^{P+i})],

m the (2^R, R) 0/1 matrix of :func:`~exactdiff.masked.mask_patterns`: the prompt's share
is computed once per response, and each block of masks costs one product with D, the
hidden layers and the output layer — one network call per block. The log-softmax of a
row is taken against the row's largest logit (a single shift per mask), which is exact
in float64 unless a position's letters are all more than 600 nats below it; those rows
(checked through the true letter's logit) are redone with a shift per position.

Everything here is float64 NumPy; the tests hold the table to a one-mask-at-a-time
evaluation of :class:`~exactdiff.train.NetworkDenoiser` to 1e-12.
"""

from __future__ import annotations

import functools

import numpy as np

from ..core.validation import as_token_array, validate_count
from ..masked import mask_patterns
from ..masked.laws import pattern_sizes
from .network import NetworkDenoiser, prompt_input_rows

__all__ = ["response_losses", "response_losses_direct", "masked_inputs"]

#: How far (nats) a row's letters may lie below its largest logit before the single shift
#: of the log-softmax is replaced by one per position (module docstring).
SHIFT_SAFETY = 600.0


@functools.lru_cache(maxsize=4)
def _mask_matrix(R: int) -> np.ndarray:
    m = mask_patterns(R).astype(np.float64)
    m.setflags(write=False)
    return m


def _check(denoiser, x):
    if not isinstance(denoiser, NetworkDenoiser) or denoiser.config.get("arch") != "prompt_mlp":
        raise ValueError(f"`denoiser` must be a NetworkDenoiser of arch 'prompt_mlp' (got {denoiser!r}).")
    if denoiser.alphabet != denoiser.config.get("alphabet"):
        raise ValueError(f"`denoiser` must number its tokens as in training ({denoiser.config.get('alphabet')!r}); "
                         f"it was loaded with alphabet={denoiser.alphabet!r}.")
    x = as_token_array(np.asarray(x).reshape(-1), denoiser.N, "x", ndim=1)
    if x.size != denoiser.L:
        raise ValueError(f"`x` must hold L={denoiser.L} letters (got {x.size}).")
    return x


def response_losses(denoiser: NetworkDenoiser, x, *, block: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """ℓ_θ(m) for every mask m of the response of ``x``, by the batched pass (module
    docstring).

    Parameters
    ----------
    denoiser : NetworkDenoiser
        A ``"prompt_mlp"`` (tokens numbered as in training).
    x : array of int, shape (L,)
        Prompt then response, all letters.
    block : int
        Masks per network call.

    Returns
    -------
    losses : ndarray, shape (2^R,)
        In the order of :func:`~exactdiff.masked.mask_patterns` (R) over the response
        positions (the first varying slowest), as :func:`~exactdiff.masked.mask_losses`.
    n_masked : ndarray, shape (2^R,)

    Examples
    --------
    A network with a zero output layer is uniform: ℓ(m) = |m| log N.

    >>> import numpy as np
    >>> from exactdiff.train import NetworkDenoiser, prompt_mlp_shapes
    >>> cfg = {"arch": "prompt_mlp", "N": 3, "L": 5, "prompt": 2, "width": 4, "depth": 2}
    >>> params = {k: np.zeros(s) for k, s in prompt_mlp_shapes(3, 5, 2, 4, 2).items()}
    >>> losses, a = response_losses(NetworkDenoiser(params, cfg), [0, 1, 2, 0, 1])
    >>> bool(np.allclose(losses, a * np.log(3), rtol=1e-15, atol=0))
    True
    """
    x = _check(denoiser, x)
    block = validate_count(block, "block")
    prm, cfg = denoiser.params, denoiser.config
    N, L, P, depth = denoiser.N, denoiser.L, int(cfg["prompt"]), int(cfg["depth"])
    R = L - P
    rows = prompt_input_rows(N, L, P)
    w0 = prm["layers[0].w"]
    visible = rows[np.arange(L), x]
    base = prm["layers[0].b"] + w0[visible].sum(axis=0)
    D = w0[rows[P:, N]] - w0[visible[P:]]  # (R, width): masking response position i
    cols = np.arange(R) * N + x[P:]  # the true letter's column of each response position
    masks = _mask_matrix(R)
    losses = np.empty(2**R)
    for s in range(0, 2**R, block):
        m = masks[s: s + block]
        h = m @ D
        h += base
        np.maximum(h, 0.0, out=h)
        for k in range(1, depth):
            h = h @ prm[f"layers[{k}].w"]
            h += prm[f"layers[{k}].b"]
            np.maximum(h, 0.0, out=h)
        logits = h @ prm["out.w"]
        logits += prm["out.b"]
        true = logits[:, cols]  # (B, R)
        shift = logits.max(axis=1)
        lse = _log_sum_exp(logits, shift, R, N)
        unsafe = np.flatnonzero((true.min(axis=1) < shift - SHIFT_SAFETY) | ~np.isfinite(lse).all(axis=1))
        if unsafe.size:  # a shift per position for those rows
            lg = (h[unsafe] @ prm["out.w"] + prm["out.b"]).reshape(-1, R, N)
            top = lg.max(axis=2, keepdims=True)
            lse[unsafe] = np.log(np.exp(lg - top).sum(axis=2)) + top[..., 0]
        losses[s: s + block] = ((lse - true) * m).sum(axis=1)
    return losses, pattern_sizes(R)


def _log_sum_exp(logits, shift, R, N):
    """log Σ_v exp(logits) per response position, (B, R), against one shift per row;
    overwrites ``logits``."""
    logits -= shift[:, None]
    np.exp(logits, out=logits)
    with np.errstate(divide="ignore"):
        return np.log(logits.reshape(-1, R, N).sum(axis=2)) + shift[:, None]


def masked_inputs(x, masks, prompt: int, N: int) -> np.ndarray:
    """The noisy sequences x̃_m of ``x`` (L,) for response masks ``masks`` — booleans
    (B, R) or mask indices (B,) of :func:`~exactdiff.masked.mask_patterns` — shape (B, L)
    with the mask id N at the masked response positions."""
    x = np.asarray(x, dtype=np.int64)
    R = x.size - prompt
    m = np.asarray(masks)
    if m.dtype != bool:
        m = ((m[:, None] >> np.arange(R - 1, -1, -1)) & 1).astype(bool)
    out = np.tile(x, (m.shape[0], 1))
    out[:, prompt:][m] = N
    return out


def response_losses_direct(denoiser: NetworkDenoiser, x, masks) -> np.ndarray:
    """ℓ_θ(m) for the given response masks (booleans (B, R) or mask indices (B,)) by
    calling the network on each noisy sequence (its generic forward pass,
    :meth:`NetworkDenoiser.log_probs <exactdiff.train.NetworkDenoiser.log_probs>`): the
    independent route that :func:`response_losses` is checked against."""
    x = _check(denoiser, x)
    P = int(denoiser.config["prompt"])
    xt = masked_inputs(x, masks, P, denoiser.N)
    log_c = denoiser.log_probs(xt)[:, P:]
    picked = -np.take_along_axis(log_c, np.broadcast_to(x[P:], xt[:, P:].shape)[..., None], axis=2)[..., 0]
    return np.where(xt[:, P:] == denoiser.N, picked, 0.0).sum(axis=1)
