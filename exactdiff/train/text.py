"""A masked denoiser of text responses given a prompt, trained on samples of a chain whose
law is known exactly (the paper's Fig. c with a trained network; issue 24).

**Data.** An order-k character chain p0 over the 27 letters of text8 (the chain of
``exactdiff ood``: :func:`~exactdiff.audit.ood.fit_text_chain`, by default order 3 on
the first 40,000 characters of ``text8_eval_data.txt``, α chosen on held-out
characters). Each training step draws ``batch`` fresh sequences of L = P + R letters
with :meth:`MarkovChain.sample <exactdiff.MarkovChain.sample>` (the first k letters from
the stationary initial law, so every window is a window of the stationary chain): the
first P letters are the prompt, the last R the response.

**Objective.** The masked (λ-DCE) objective on the response only, the prompt always
visible (Corollary 4.3 with C the prompt and T the response):

.. math::

    J(\\theta) = \\mathbb E_{x_0 \\sim p_0}\\, \\mathbb E_{m \\sim \\text{law}}\\;
    w(m) \\sum_{i \\in m} -\\log c_\\theta(\\tilde x_m)_{i, x_0^i},
    \\qquad m \\subseteq T = \\{P+1..L\\},

with x̃_m the sequence with the response positions of m masked. The law of m is one of
:data:`~exactdiff.train.TRAINING_LAWS` over the R response positions
(:mod:`exactdiff.train.laws`; ``auto`` is ``k_dce`` here: the number masked a uniform on
1..R, m uniform of that size, w = R/a). Every one of them gives each mask of size a the
weight E[w · 1{m = m'}] = 1/(a C(R, a)), so J(θ) = E_{x0} limit_θ(x0), the expected
conditional time-free limit (:mod:`exactdiff.train.text_audit`), and

    J(θ) − H(x^T | x^C) = E_{x0}[limit_θ(x0) − (−log p0(x^T | x^C))]
                        = Σ_m w̄(m) E[ Σ_{i∈m} KL(p0(· | x̃_m) ‖ c_θ(x̃_m)_i) ] ≥ 0,

zero exactly when c_θ is the chain's conditional p0(x^i | x̃_m) on every mask: the
optimum of the objective is the chain's conditional. H(x^T | x^C) = R·h for the
stationary chain (h its entropy rate, :func:`chain_entropy_rate`; needs P ≥ k).

**Network.** The ``"prompt_mlp"`` of :mod:`exactdiff.train.network`: a sum of position
embeddings of the prompt letters and of the response letters or masks, ``depth`` ReLU
layers of ``width`` units, logits for the R response positions. ReLU rather than the
tanh-GELU of the DNA network because the exact audit evaluates 2^16 inputs per response
and the tanh costs more there than a matrix product (measured in the guide
``docs/guide/trained_text_network.md``).

**Training.** Adam, a linear warm-up then a cosine decay to lr/100 (as
:mod:`exactdiff.train.trainer`), float32. Initialisation: first layer N(0, 1/L) (a sum of
L rows), further hidden layers N(0, 2/width), biases 0, output layer 0 (so at step 0
the network is uniform and its limit is R log N for every response).

**Randomness.** Everything follows from ``seed``: the JAX key ``jax.random.key(seed)``
is split into an initialisation key and a mask key (step t uses ``fold_in(mask_key, t)``);
the sequences of steps [b·B_d, (b+1)·B_d) (B_d = :data:`DATA_BLOCK`) are drawn in one
``chain.sample`` call with ``default_rng(SeedSequence(seed, spawn_key=(0, b)))``; the
validation set with ``SeedSequence(seed, spawn_key=(1,))``. A run does not depend on how
its steps are grouped into compiled chunks or checkpoints.

**Checkpoints** (the learning curve). On a fixed validation set of V chain sequences and
M masks each from the time-free law (Corollary 4.3), in float64: the validation DCE
mean of H_R ℓ_θ(m) (an unbiased estimate of J(θ)), and the gap estimated with the chain's
own loss on the same masks as a control variate,
mean of H_R (ℓ_θ(m) − ℓ_p0(m)) (unbiased for J(θ) − H, with a far smaller variance;
ℓ_p0 from :meth:`MarkovChain.log_conditionals <exactdiff.MarkovChain.log_conditionals>`),
with its standard error over the V sequences.

JAX and optax are imported inside the functions that train (the ``train`` extra).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import numpy as np
from scipy.special import entr

from ..core.validation import validate_count, finite_float
from ..markov import MarkovChain
from ..masked import MaskLaw, harmonic_number
from .laws import law_name, size_law
from .network import NetworkDenoiser, prompt_input_rows, save_network
from .trainer import _mask_sampler, _optimizer, _versions, _x64, checkpoint_steps, require_training_extra

__all__ = ["TEXT_RECIPE", "DATA_BLOCK", "TextTrainingResult", "train_text_denoiser", "chain_entropy_rate",
           "chain_batches", "ValidationSet", "validation_set", "validation_gap", "jax_prompt_log_probs"]

#: The recipe of the committed text network (``figures/figc_trained_network_params.npz``).
TEXT_RECIPE = {"order": 3, "prompt": 16, "response": 16, "width": 256, "depth": 2, "batch": 256, "lr": 2e-3,
               "warmup": 500, "steps": 60_000, "law": "auto"}

#: Steps whose training sequences are drawn in one ``chain.sample`` call (module docstring).
DATA_BLOCK = 100


def chain_entropy_rate(chain: MarkovChain) -> float:
    """h = Σ_c π(c) H(P(· | c)) = −Σ_{c,v} π(c) P(v | c) log P(v | c) in nats per letter,
    with π the chain's initial law over k-letter contexts (its stationary law for a
    chain from :func:`~exactdiff.fit_markov_chain`). For the stationary chain and a prompt
    of P ≥ k letters, H(response | prompt) = R·h exactly.

    Examples
    --------
    >>> import numpy as np, exactdiff as ed
    >>> chain = ed.MarkovChain(np.array([[0.5, 0.5], [0.5, 0.5]]))
    >>> bool(abs(chain_entropy_rate(chain) - np.log(2)) < 1e-15)
    True
    """
    k, N = chain.order, chain.N
    pi = chain.initial.reshape(N**k)
    return float(pi @ entr(chain.transitions.reshape(N**k, N)).sum(axis=1))


def chain_batches(chain: MarkovChain, seed: int, t0: int, n: int, batch: int, L: int) -> np.ndarray:
    """The training sequences of steps t0..t0+n−1, shape (n, batch, L), int32: block b of
    :data:`DATA_BLOCK` steps is ``chain.sample(DATA_BLOCK * batch, L, rng_b)`` with
    rng_b = ``default_rng(SeedSequence(seed, spawn_key=(0, b)))`` (module docstring)."""
    out = np.empty((n, batch, L), dtype=np.int32)
    t = t0
    while t < t0 + n:
        b = t // DATA_BLOCK
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, b)))
        block = chain.sample(DATA_BLOCK * batch, L, rng).reshape(DATA_BLOCK, batch, L)
        lo, hi = t - b * DATA_BLOCK, min(DATA_BLOCK, t0 + n - b * DATA_BLOCK)
        out[t - t0: t - t0 + hi - lo] = block[lo:hi]
        t += hi - lo
    return out


@dataclasses.dataclass(frozen=True)
class ValidationSet:
    """A fixed validation set (:func:`validation_set`).

    Attributes
    ----------
    sequences : ndarray, shape (V, L)
    masks : ndarray, shape (V, M, R), bool
        True = masked response position; drawn from the time-free law.
    chain_losses : ndarray, shape (V, M)
        ℓ_p0(m) = Σ_{i∈m} −log p0(x^i | x̃_m), exact.
    factor : float
        H_R, the factor of one time-free draw.
    entropy : float
        H(response | prompt) = R·h (:func:`chain_entropy_rate`).
    prompt : int
    """

    sequences: np.ndarray
    masks: np.ndarray
    chain_losses: np.ndarray
    factor: float
    entropy: float
    prompt: int


def validation_set(chain: MarkovChain, *, seed: int, size: int = 512, masks: int = 8, prompt: int = 16,
                   response: int = 16) -> ValidationSet:
    """V = ``size`` chain sequences of P + R letters and M = ``masks`` time-free masks of
    the response each, drawn with ``SeedSequence(seed, spawn_key=(1,))``, with the chain's
    exact loss on every mask (module docstring)."""
    size, masks = validate_count(size, "size"), validate_count(masks, "masks")
    L = prompt + response
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    X = chain.sample(size, L, rng)
    law = MaskLaw.time_free(response)
    m = law.draw(size * masks, rng).reshape(size, masks, response)
    losses = np.empty((size, masks))
    for v in range(size):
        visible = np.ones((masks, L), dtype=bool)
        visible[:, prompt:] = ~m[v]
        losses[v] = -chain.log_conditionals(X[v], visible)[:, prompt:].sum(axis=1)
    return ValidationSet(X, m, losses, harmonic_number(response), response * chain_entropy_rate(chain), prompt)


def validation_gap(denoiser, vset: ValidationSet) -> dict:
    """The validation DCE, the gap and its standard error of ``denoiser`` (a
    :class:`~exactdiff.train.NetworkDenoiser` or any callable with ``log_probs``) on
    ``vset`` (module docstring), as plain floats: ``val_dce``, ``val_dce_se``, ``gap``,
    ``gap_se`` (nats per response) and ``entropy``."""
    V, M, R = vset.masks.shape
    P = vset.prompt
    x0 = np.repeat(vset.sequences, M, axis=0)
    m = vset.masks.reshape(V * M, R)
    x = x0.copy()
    x[:, P:][m] = denoiser.N
    log_c = denoiser.log_probs(x)[:, P:]
    picked = -np.take_along_axis(log_c, x0[:, P:, None], axis=2)[..., 0]
    ell = np.where(m, picked, 0.0).sum(axis=1).reshape(V, M)
    dce = vset.factor * ell.mean(axis=1)
    gap = vset.factor * (ell - vset.chain_losses).mean(axis=1)
    return {"val_dce": float(dce.mean()), "val_dce_se": float(dce.std(ddof=1) / np.sqrt(V)),
            "gap": float(gap.mean()), "gap_se": float(gap.std(ddof=1) / np.sqrt(V)), "entropy": vset.entropy}


@dataclasses.dataclass
class TextTrainingResult:
    """What :func:`train_text_denoiser` returns.

    Attributes
    ----------
    denoiser : NetworkDenoiser
        The trained ``"prompt_mlp"``, evaluated in float64.
    params : dict of str → float32 ndarray
    config : dict
        The architecture and, under ``training``, the recipe, seed, law, chain and versions.
    history : list of dict
        One row per checkpoint: ``step``, ``samples``, ``lr``, ``train_seconds``,
        ``train_loss`` (mean mini-batch loss since the previous checkpoint; None at step 0)
        and the validation numbers of :func:`validation_gap`.
    loss : ndarray, shape (steps,)
        The mini-batch loss of every step (float32).
    train_seconds, train_cpu_seconds, data_seconds, validation_seconds : float
        Wall time of the compiled steps (JIT compilation included), their process CPU time,
        the wall time drawing the chain's sequences, and that of the checkpoints.
    """

    denoiser: NetworkDenoiser
    params: dict
    config: dict
    history: list
    loss: np.ndarray
    train_seconds: float
    train_cpu_seconds: float
    data_seconds: float
    validation_seconds: float

    def save(self, out) -> dict:
        """Write ``out/params.npz``, ``out/history.json`` and ``out/loss.npy`` (the folder
        is created); returns {name: path}."""
        os.makedirs(out, exist_ok=True)
        paths = {name: os.path.join(out, name) for name in ("params.npz", "history.json", "loss.npy")}
        save_network(paths["params.npz"], self.params, self.config)
        record = {"config": self.config, "history": self.history, "train_seconds": self.train_seconds,
                  "train_cpu_seconds": self.train_cpu_seconds, "data_seconds": self.data_seconds,
                  "validation_seconds": self.validation_seconds}
        with open(paths["history.json"], "w") as fh:
            json.dump(record, fh, indent=1)
        np.save(paths["loss.npy"], self.loss)
        return paths


# -- the model and the loss in JAX ------------------------------------------------------------
def _prompt_logits(params, x, rows, N, P, depth):
    """The ``"prompt_mlp"`` of :mod:`exactdiff.train.network` in JAX: (B, L) int → (B, R, N)
    logits of the response positions."""
    import jax
    import jax.numpy as jnp

    B, L = x.shape
    idx = rows[jnp.arange(L)[None, :], x]  # (B, L) first-layer rows
    z = jax.nn.relu(jnp.take(params["layers[0].w"], idx, axis=0).sum(axis=1) + params["layers[0].b"])
    for k in range(1, depth):
        z = jax.nn.relu(z @ params[f"layers[{k}].w"] + params[f"layers[{k}].b"])
    return (z @ params["out.w"] + params["out.b"]).reshape(B, L - P, N)


def _init_params(key, N, L, P, width, depth):
    """First layer N(0, 1/L), further hidden layers N(0, 2/width), zero biases, zero
    output layer (float32)."""
    import jax
    import jax.numpy as jnp

    rows = P * N + (L - P) * (N + 1)
    keys = jax.random.split(key, depth)
    params = {"layers[0].w": jax.random.normal(keys[0], (rows, width), jnp.float32) / np.sqrt(L),
              "layers[0].b": jnp.zeros(width, jnp.float32)}
    for k in range(1, depth):
        params[f"layers[{k}].w"] = jax.random.normal(keys[k], (width, width), jnp.float32) * np.sqrt(2.0 / width)
        params[f"layers[{k}].b"] = jnp.zeros(width, jnp.float32)
    params["out.w"] = jnp.zeros((width, (L - P) * N), jnp.float32)
    params["out.b"] = jnp.zeros((L - P) * N, jnp.float32)
    return params


def _batch_loss(params, x0, masked, w, rows, N, P, depth):
    """Mean over the batch of w · Σ_{i masked} −log c(x̃)_{i, x0^i}, i over the response."""
    import jax
    import jax.numpy as jnp

    resp = x0[:, P:]
    x = jnp.concatenate([x0[:, :P], jnp.where(masked, N, resp)], axis=1)
    log_c = jax.nn.log_softmax(_prompt_logits(params, x, rows, N, P, depth), axis=-1)
    token = -jnp.take_along_axis(log_c, resp[..., None], axis=-1)[..., 0]
    return jnp.mean(w * jnp.sum(jnp.where(masked, token, 0.0), axis=-1))


_RUNNERS = {}


def _runner(length, batch, L, N, P, depth, lr, warmup, steps, q):
    """A compiled function running ``length`` Adam steps (``lax.scan``) on given data:
    (params, opt_state, mask_key, t0, data (length, batch, L)) → (params, opt_state, losses)."""
    key = (length, batch, L, N, P, depth, lr, warmup, steps, q)
    if key in _RUNNERS:
        return _RUNNERS[key]
    import jax
    import jax.numpy as jnp
    import optax

    opt, _ = _optimizer(lr, warmup, steps)
    draw = _mask_sampler(None if q is None else np.array(q), L - P)
    rows = jnp.asarray(prompt_input_rows(N, L, P), jnp.int32)

    def step(carry, inputs):
        params, opt_state, mask_key = carry
        t, x0 = inputs
        masked, w = draw(jax.random.fold_in(mask_key, t), batch)
        loss, grads = jax.value_and_grad(lambda prm: _batch_loss(prm, x0, masked, w, rows, N, P, depth))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, mask_key), loss

    @jax.jit
    def run(params, opt_state, mask_key, t0, data):
        carry, losses = jax.lax.scan(step, (params, opt_state, mask_key), (t0 + jnp.arange(length), data))
        return carry[0], carry[1], losses

    _RUNNERS[key] = run
    return run


def _validate_args(chain, prompt, response, steps, seed, width, depth, batch, lr, warmup, law, checkpoints, chunk):
    if not isinstance(chain, MarkovChain):
        raise ValueError(f"`chain` must be a MarkovChain (got {type(chain).__name__}).")
    prompt, response = validate_count(prompt, "prompt"), validate_count(response, "response")
    if prompt < chain.order:
        raise ValueError(f"`prompt` must be at least the chain's order k={chain.order} (got {prompt}).")
    steps = validate_count(steps, "steps")
    seed = validate_count(seed, "seed", 0)
    width, depth, batch = validate_count(width, "width"), validate_count(depth, "depth"), validate_count(batch, "batch")
    lr = finite_float(lr, "lr")
    if lr <= 0:
        raise ValueError(f"`lr` must be > 0 (got {lr}).")
    warmup = min(500, steps // 10) if warmup is None else validate_count(warmup, "warmup", 0)
    if warmup >= steps:
        raise ValueError(f"`warmup` must be less than `steps`={steps} (got {warmup}).")
    checkpoints = min(12, steps) if checkpoints is None else validate_count(checkpoints, "checkpoints")
    if checkpoints > steps:
        raise ValueError(f"`checkpoints` must be at most `steps`={steps} (got {checkpoints}).")
    chunk = validate_count(chunk, "chunk")
    q = size_law(law, response)
    return prompt, response, steps, seed, width, depth, batch, lr, warmup, q, checkpoints, chunk


def train_text_denoiser(chain: MarkovChain, *, steps: int, seed: int = 0, prompt: int = 16, response: int = 16,
                        width: int = 256, depth: int = 2, batch: int = 256, lr: float = 2e-3,
                        warmup: int | None = None, law="auto", checkpoints: int | None = None,
                        validation: int = 512, validation_masks: int = 8, chain_record: dict | None = None,
                        progress: bool = False, callback=None, chunk: int = 200) -> TextTrainingResult:
    """Train a ``"prompt_mlp"`` denoiser of the response given the prompt on fresh samples
    of ``chain`` (module docstring), with a validation gap at checkpoints. The defaults are
    :data:`TEXT_RECIPE` apart from ``steps``.

    Parameters
    ----------
    chain : MarkovChain
        The data law (:func:`~exactdiff.audit.ood.fit_text_chain`); its initial law should
        be stationary.
    steps : int
        Adam steps.
    seed : int >= 0
        Seeds everything (module docstring).
    prompt, response : int
        P (≥ the chain's order) and R; L = P + R.
    width, depth : int
        The hidden layers.
    batch : int
        Sequences per step, one mask each.
    lr : float
        Peak learning rate; cosine decay to lr/100.
    warmup : int, optional
        Linear warm-up steps (default min(500, steps // 10)).
    law : str or array
        The mask law over the R response positions (:func:`~exactdiff.train.size_law`).
    checkpoints : int, optional
        Validations after step 0, evenly spaced (default min(12, steps)).
    validation, validation_masks : int
        V sequences and M masks each of the validation set (:func:`validation_set`).
    chain_record : dict, optional
        How the chain was made (file, order, α, characters), stored in the config.
    progress : bool
        A tqdm bar on standard error.
    callback : callable, optional
        Called with each checkpoint row.
    chunk : int
        Steps per compiled call.

    Returns
    -------
    TextTrainingResult

    Raises
    ------
    ValueError
        For a bad argument (before JAX is imported).
    ImportError
        Without the ``train`` extra.
    FloatingPointError
        When the training loss becomes non-finite.
    """
    prompt, response, steps, seed, width, depth, batch, lr, warmup, q, checkpoints, chunk = _validate_args(
        chain, prompt, response, steps, seed, width, depth, batch, lr, warmup, law, checkpoints, chunk)
    require_training_extra()
    import jax
    import jax.numpy as jnp

    N, L, P = chain.N, prompt + response, prompt
    clock = {"train": 0.0, "cpu": 0.0, "data": 0.0, "validation": 0.0}
    start = time.perf_counter()
    vset = validation_set(chain, seed=seed, size=validation, masks=validation_masks, prompt=P, response=response)
    clock["validation"] += time.perf_counter() - start

    init_key, mask_key = jax.random.split(jax.random.key(seed))
    params = _init_params(init_key, N, L, P, width, depth)
    opt, schedule = _optimizer(lr, warmup, steps)
    opt_state = opt.init(params)
    q_key = None if q is None else tuple(float(v) for v in q)
    config = {"arch": "prompt_mlp", "N": N, "L": L, "prompt": P, "width": width, "depth": depth,
              "alphabet": chain.alphabet,
              "training": {"seed": seed, "steps": steps, "batch": batch, "lr": lr, "warmup": warmup,
                           "final_lr": lr / 100, "schedule": "linear warm-up, cosine decay (optax)",
                           "optimizer": "adam", "law": law_name(law, response),
                           "size_law": None if q is None else q.tolist(), "objective":
                           "conditional λ-DCE on the response, prompt visible (exactdiff.train.text)",
                           "data": f"fresh chain samples every step, blocks of {DATA_BLOCK} steps",
                           "chain": dict(chain_record or {}, order=chain.order,
                                         entropy_rate=chain_entropy_rate(chain)),
                           "validation": {"sequences": validation, "masks": validation_masks},
                           "checkpoints": checkpoint_steps(steps, checkpoints), "dtype": "float32",
                           "n_params": int(sum(int(np.prod(v.shape)) for v in params.values())),
                           "versions": _versions()}}

    history, losses = [], []

    def as_numpy(params):
        return {k: np.asarray(v) for k, v in params.items()}

    def validate(step, since):
        t = time.perf_counter()
        row = {"step": step, "samples": step * batch, "lr": float(schedule(step)),
               "train_seconds": round(clock["train"] + clock["data"], 3),
               "train_loss": float(np.mean(losses[since:])) if step else None,
               **validation_gap(NetworkDenoiser(as_numpy(params), config), vset)}
        clock["validation"] += time.perf_counter() - t
        row["validation_seconds"] = round(clock["validation"], 3)
        history.append(row)
        if callback is not None:
            callback(row)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, unit="step", desc="training", file=sys.stderr, leave=False)
    try:
        validate(0, 0)
        done = 0
        for target in checkpoint_steps(steps, checkpoints)[1:]:
            since = done
            while done < target:
                n = min(chunk, target - done)
                t = time.perf_counter()
                data = chain_batches(chain, seed, done, n, batch, L)
                clock["data"] += time.perf_counter() - t
                run = _runner(n, batch, L, N, P, depth, lr, warmup, steps, q_key)
                t, cpu = time.perf_counter(), time.process_time()
                params, opt_state, chunk_loss = run(params, opt_state, mask_key, done, jnp.asarray(data))
                chunk_loss = np.asarray(chunk_loss)  # waits for the chunk to finish
                clock["train"] += time.perf_counter() - t
                clock["cpu"] += time.process_time() - cpu
                if not np.all(np.isfinite(chunk_loss)):
                    bad = done + int(np.argmin(np.isfinite(chunk_loss)))
                    raise FloatingPointError(f"the training loss became non-finite at step {bad} "
                                             f"(lr={lr}, law={law_name(law, response)!r}).")
                losses.extend(chunk_loss.tolist())
                done += n
                if bar is not None:
                    bar.update(n)
            validate(target, since)
            if bar is not None:
                bar.set_postfix(gap=f"{history[-1]['gap']:.3f}")
    finally:
        if bar is not None:
            bar.close()
    params_np = as_numpy(params)
    return TextTrainingResult(NetworkDenoiser(params_np, config), params_np, config, history,
                              np.asarray(losses, dtype=np.float32), clock["train"], clock["cpu"], clock["data"],
                              clock["validation"])


def jax_prompt_log_probs(params: dict, config: dict, x, *, x64: bool = False) -> np.ndarray:
    """log softmax of a ``"prompt_mlp"``'s logits computed by JAX, shape (B, L, N), as
    float64 (the prompt rows log(1/N), as :meth:`NetworkDenoiser.log_probs
    <exactdiff.train.NetworkDenoiser.log_probs>`): in float32 as trained, or in float64
    (``x64=True``). The check of the NumPy forward pass."""
    require_training_extra()
    import jax
    import jax.numpy as jnp

    NetworkDenoiser(params, config)  # validates the parameters against the config
    x = np.asarray(x)
    N, L, P = int(config["N"]), int(config["L"]), int(config["prompt"])
    with _x64() if x64 else _null():
        dtype = jnp.float64 if x64 else jnp.float32
        p = {k: jnp.asarray(np.asarray(v), dtype) for k, v in params.items()}
        rows = jnp.asarray(prompt_input_rows(N, L, P))
        logits = _prompt_logits(p, jnp.asarray(x), rows, N, P, int(config["depth"]))
        logits = jnp.concatenate([jnp.zeros((x.shape[0], P, N), dtype), logits], axis=1)
        return np.asarray(jax.nn.log_softmax(logits, axis=-1), dtype=np.float64)


def _null():
    import contextlib

    return contextlib.nullcontext()
