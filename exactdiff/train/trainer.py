"""Training a time-free masked denoiser with JAX on CPU, audited exactly as it learns.

The network is the MLP of :mod:`exactdiff.train.network`: the masked sequence, one-hot
encoded, goes through ``depth`` GELU layers of ``width`` units to a law over the N
letters at every position; there is no time input (RADD). Its parameters are a plain
dict of arrays (the names of the saved ``.npz``), so the JAX forward pass here and the
NumPy one there are the same formula written twice, and a test holds them to 1e-13.

Training minimises the λ-DCE objective of :mod:`exactdiff.train.laws` with Adam:

- hidden weights start as N(0, 1/fan_in), biases at 0, and the output layer at 0, so
  at step 0 the network is the uniform denoiser and its exact limit is L log N for every
  sequence;
- the learning rate rises linearly from 0 to ``lr`` over ``warmup`` steps, then decays
  along a cosine to lr/100 at the last step (``optax.warmup_cosine_decay_schedule``);
- every step draws a fresh batch x0 ∼ p0 over the support and one mask per row from the
  training law; the network computes in float32 (JAX's default).

Randomness: ``jax.random.key(seed)`` is split into an initialisation key and a data
key, and step t uses ``fold_in(data_key, t)``, so a run depends on ``seed`` only, not on
how its steps are grouped into compiled chunks.

At each checkpoint the network is audited exactly (:func:`~exactdiff.train.exact_limits`:
every mask of every support sequence, in float64): the expected DCE Σ p0·limit (the
population value of the objective), the gap Σ p0·bias = expected DCE − H(p0), and the
bias per sequence; beside them, the exact bias of :class:`~exactdiff.EmpiricalDenoiser`
fitted on exactly the sequences drawn so far (:func:`~exactdiff.train.empirical_bias`).

JAX and optax are imported inside the functions that need them: ``import
exactdiff.train`` never imports JAX. They come with the ``train`` extra,
``pip install "exactdiff[train]"``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import sys
import time

import numpy as np

from ..core.validation import as_table, validate_count, finite_float
from .exact import MAX_AUDIT_ROWS, ExactLimits, empirical_bias, exact_limits, support
from .laws import law_name, size_law
from .network import NetworkDenoiser, save_network

__all__ = ["TrainingResult", "train_denoiser", "jax_log_probs", "require_training_extra", "checkpoint_steps",
           "TRAIN_EXTRA"]

#: How to install what training needs.
TRAIN_EXTRA = 'pip install "exactdiff[train]"'


def require_training_extra():
    """Import JAX and optax, or raise ``ImportError`` saying which extra to install."""
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise ImportError(f"training needs the optional `train` extra (JAX on CPU and optax); {missing!r} is not "
                          f"installed: {TRAIN_EXTRA}") from exc


def checkpoint_steps(steps: int, checkpoints: int) -> list[int]:
    """The steps at which the network is audited: 0 and ``checkpoints`` steps evenly
    spaced up to ``steps`` (rounded to integers)."""
    return sorted({int(s) for s in np.round(np.linspace(0, steps, checkpoints + 1))})


@dataclasses.dataclass
class TrainingResult:
    """What :func:`train_denoiser` returns.

    Attributes
    ----------
    denoiser : NetworkDenoiser
        The trained network, evaluated in float64 (what :func:`~exactdiff.train.load_denoiser`
        gives back from the saved file).
    params : dict of str → float32 ndarray
        The parameters as trained.
    config : dict
        The architecture (``arch``, ``N``, ``L``, ``width``, ``depth``) and, under
        ``training``, the recipe, seed, law and library versions.
    history : list of dict
        One row per checkpoint: ``step``, ``samples``, ``lr``, ``train_seconds``,
        ``train_loss`` (the mean mini-batch loss since the previous checkpoint; None at
        step 0), the
        exact totals of :meth:`ExactLimits.totals`, the same for the empirical
        denoiser on the same samples (``empirical_*``) and ``audit_seconds``.
    loss : ndarray, shape (steps,)
        The mini-batch loss of every step (float32).
    counts : ndarray, shape (K,)
        How often each support sequence was drawn.
    final : ExactLimits
        The exact audit after the last step.
    train_seconds, train_cpu_seconds, audit_seconds : float
        Wall time of the training steps (JIT compilation included), the process CPU
        time spent in them, and the wall time of the checkpoint audits.
    """

    denoiser: NetworkDenoiser
    params: dict
    config: dict
    history: list
    loss: np.ndarray
    counts: np.ndarray
    final: ExactLimits
    train_seconds: float
    train_cpu_seconds: float
    audit_seconds: float

    def save(self, out) -> dict:
        """Write ``out/params.npz`` (:func:`~exactdiff.train.save_network`),
        ``out/history.json`` (config, checkpoints, counts, timings) and ``out/loss.npy``;
        the folder is created if needed. Returns {name: path}."""
        os.makedirs(out, exist_ok=True)
        paths = {name: os.path.join(out, name) for name in ("params.npz", "history.json", "loss.npy")}
        save_network(paths["params.npz"], self.params, self.config)
        record = {"config": self.config, "history": self.history, "counts": self.counts.tolist(),
                  "train_seconds": self.train_seconds, "train_cpu_seconds": self.train_cpu_seconds,
                  "audit_seconds": self.audit_seconds}
        with open(paths["history.json"], "w") as fh:
            json.dump(record, fh, indent=1)
        np.save(paths["loss.npy"], self.loss)
        return paths


# -- the model and the loss in JAX ------------------------------------------------------------
def _mlp_logits(params, x, N, depth):
    """The MLP of :mod:`exactdiff.train.network` in JAX: (B, L) int → (B, L, N) logits."""
    import jax

    B, L = x.shape
    z = jax.nn.one_hot(x, N + 1, dtype=params["out.w"].dtype).reshape(B, L * (N + 1))
    for k in range(depth):
        z = jax.nn.gelu(z @ params[f"layers[{k}].w"] + params[f"layers[{k}].b"], approximate=True)
    return (z @ params["out.w"] + params["out.b"]).reshape(B, L, N)


def _init_params(key, N, L, width, depth):
    """Hidden weights N(0, 1/fan_in), zero biases, zero output layer (float32)."""
    import jax
    import jax.numpy as jnp

    dims = [L * (N + 1)] + [width] * depth
    keys = jax.random.split(key, depth)
    params = {}
    for k in range(depth):
        params[f"layers[{k}].w"] = jax.random.normal(keys[k], (dims[k], dims[k + 1]), jnp.float32) / np.sqrt(dims[k])
        params[f"layers[{k}].b"] = jnp.zeros(dims[k + 1], jnp.float32)
    params["out.w"] = jnp.zeros((width, L * N), jnp.float32)
    params["out.b"] = jnp.zeros(L * N, jnp.float32)
    return params


def _mask_sampler(q, L):
    """(key, B) → (masked (B, L) bool, weight (B,)) for the size law q, or λ ∼ U(0, 1] when
    q is None (:mod:`exactdiff.train.laws`)."""
    import jax
    import jax.numpy as jnp

    if q is None:
        def draw(key, B):
            k_lam, k_mask = jax.random.split(key)
            lam = 1.0 - jax.random.uniform(k_lam, (B,))  # in (0, 1]
            return jax.random.uniform(k_mask, (B, L)) < lam[:, None], 1.0 / lam
        return draw

    log_q = jnp.asarray(np.log(q), jnp.float32)
    weight = jnp.asarray(1.0 / (np.arange(1, L + 1) * q), jnp.float32)

    def draw(key, B):
        k_size, k_mask = jax.random.split(key)
        a = jax.random.categorical(k_size, log_q, shape=(B,)) + 1
        ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k_mask, (B, L)), axis=1), axis=1)
        return ranks < a[:, None], weight[a - 1]
    return draw


def _batch_loss(params, x0, masked, w, N, depth):
    """Mean over the batch of w · Σ_{i masked} −log c(x̃)_{i, x0^i}."""
    import jax
    import jax.numpy as jnp

    x = jnp.where(masked, N, x0)
    log_c = jax.nn.log_softmax(_mlp_logits(params, x, N, depth), axis=-1)
    token = -jnp.take_along_axis(log_c, x0[..., None], axis=-1)[..., 0]
    return jnp.mean(w * jnp.sum(jnp.where(masked, token, 0.0), axis=-1))


@functools.lru_cache(maxsize=8)
def _optimizer(lr, warmup, steps):
    """(Adam with the warm-up + cosine schedule, the schedule); cached so that runs with
    the same settings share compiled code."""
    import optax

    schedule = optax.warmup_cosine_decay_schedule(0.0, lr, warmup, steps, lr / 100)
    return optax.adam(schedule), schedule


@functools.lru_cache(maxsize=16)
def _runner(length, batch, L, N, depth, lr, warmup, steps, q):
    """A compiled function running ``length`` Adam steps (``lax.scan``) from step t0:
    (params, opt_state, data_key, t0, seqs, log_p) → (params, opt_state, losses, idx).
    Cached by its static settings (``q`` a tuple, or None for the λ law); JAX re-traces
    it for a toy with another support size."""
    import jax
    import jax.numpy as jnp
    import optax

    opt, _ = _optimizer(lr, warmup, steps)
    draw = _mask_sampler(None if q is None else np.array(q), L)

    def step(carry, t):
        params, opt_state, data_key, seqs, log_p = carry
        k_data, k_mask = jax.random.split(jax.random.fold_in(data_key, t))
        idx = jax.random.categorical(k_data, log_p, shape=(batch,))
        masked, w = draw(k_mask, batch)
        loss, grads = jax.value_and_grad(lambda prm: _batch_loss(prm, seqs[idx], masked, w, N, depth))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, data_key, seqs, log_p), (loss, idx)

    @jax.jit
    def run(params, opt_state, data_key, t0, seqs, log_p):
        carry, (losses, idx) = jax.lax.scan(step, (params, opt_state, data_key, seqs, log_p),
                                            t0 + jnp.arange(length))
        return carry[0], carry[1], losses, idx
    return run


def _versions():
    import jax
    import jaxlib
    import optax

    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "optax": optax.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0]}


def _validate_args(p0, steps, seed, width, depth, batch, lr, warmup, law, checkpoints, chunk, max_audit_rows):
    table = as_table(p0)
    steps = validate_count(steps, "steps")
    seed = validate_count(seed, "seed", 0)
    width, depth, batch = validate_count(width, "width"), validate_count(depth, "depth"), validate_count(batch, "batch")
    lr = finite_float(lr, "lr")
    if lr <= 0:
        raise ValueError(f"`lr` must be > 0 (got {lr}).")
    warmup = min(200, steps // 10) if warmup is None else validate_count(warmup, "warmup", 0)
    if warmup >= steps:
        raise ValueError(f"`warmup` must be less than `steps`={steps} (got {warmup}).")
    checkpoints = min(12, steps) if checkpoints is None else validate_count(checkpoints, "checkpoints")
    chunk = validate_count(chunk, "chunk")
    if checkpoints > steps:
        raise ValueError(f"`checkpoints` must be at most `steps`={steps} (got {checkpoints}).")
    X, _ = support(table)
    rows = X.shape[0] * 2**table.ndim
    if rows > max_audit_rows:
        raise ValueError(f"`p0`: each exact audit evaluates K·2^L = {X.shape[0]:,}·2^{table.ndim} = {rows:,} masked "
                         f"inputs, more than `max_audit_rows`={max_audit_rows:,}; train on a smaller toy.")
    q = size_law(law, table.ndim)
    return table, steps, seed, width, depth, batch, lr, warmup, q, checkpoints, chunk


def train_denoiser(p0, *, steps: int, seed: int = 0, width: int = 512, depth: int = 2, batch: int = 256,
                   lr: float = 3e-3, warmup: int | None = None, law="auto", checkpoints: int | None = None,
                   progress: bool = False, callback=None, chunk: int = 250,
                   max_audit_rows: int = MAX_AUDIT_ROWS) -> TrainingResult:
    """Train a time-free masked denoiser on ``p0`` with JAX, auditing it exactly at
    checkpoints (module docstring). The defaults are the committed recipe
    (:data:`~exactdiff.train.RECIPE`) apart from ``steps``.

    Parameters
    ----------
    p0 : Distribution or ndarray, shape (N,)*L
        The training law (sequences are drawn from it at every step).
    steps : int
        Number of Adam steps.
    seed : int >= 0
        Seeds everything: initialisation and every batch.
    width, depth : int
        The MLP's hidden layers.
    batch : int
        Sequences per step, one mask each.
    lr : float
        Peak learning rate; the cosine decays it to lr/100.
    warmup : int, optional
        Steps of linear warm-up (default min(200, steps // 10)).
    law : str or array
        The mask law (:func:`~exactdiff.train.size_law`).
    checkpoints : int, optional
        Exact audits after step 0, evenly spaced (:func:`checkpoint_steps`); default
        min(12, steps).
    progress : bool
        Show a tqdm progress bar on standard error.
    callback : callable, optional
        Called with each checkpoint's row as soon as it is computed.
    chunk : int
        Steps per compiled call (the progress bar moves once per chunk).
    max_audit_rows : int
        Refuse toys whose audit evaluates more than this many masked inputs.

    Returns
    -------
    TrainingResult

    Raises
    ------
    ValueError
        For a bad argument (before JAX is imported).
    ImportError
        When the ``train`` extra is not installed (the message says how to install it).
    FloatingPointError
        When the training loss becomes non-finite.
    """
    table, steps, seed, width, depth, batch, lr, warmup, q, checkpoints, chunk = _validate_args(
        p0, steps, seed, width, depth, batch, lr, warmup, law, checkpoints, chunk, max_audit_rows)
    require_training_extra()
    import jax
    import jax.numpy as jnp

    N, L = table.shape[0], table.ndim
    X, p = support(table)
    seqs, log_p = jnp.asarray(X, jnp.int32), jnp.asarray(np.log(p), jnp.float32)
    init_key, data_key = jax.random.split(jax.random.key(seed))
    params = _init_params(init_key, N, L, width, depth)
    opt, schedule = _optimizer(lr, warmup, steps)
    opt_state = opt.init(params)
    q_key = None if q is None else tuple(float(v) for v in q)
    config = {"arch": "mlp", "N": N, "L": L, "width": width, "depth": depth,
              "alphabet": getattr(p0, "alphabet", None),
              "training": {"seed": seed, "steps": steps, "batch": batch, "lr": lr, "warmup": warmup,
                           "final_lr": lr / 100, "schedule": "linear warm-up, cosine decay (optax)",
                           "optimizer": "adam", "law": law_name(law, L), "size_law": None if q is None else q.tolist(),
                           "checkpoints": checkpoint_steps(steps, checkpoints), "dtype": "float32",
                           "n_params": int(sum(int(np.prod(v.shape)) for v in params.values())),
                           "versions": _versions()}}

    history, losses = [], []
    counts = np.zeros(X.shape[0], dtype=np.int64)
    clock = {"train": 0.0, "cpu": 0.0, "audit": 0.0}

    def as_numpy(params):
        return {k: np.asarray(v) for k, v in params.items()}

    def audit(step, since):
        start = time.perf_counter()
        limits = exact_limits(table, NetworkDenoiser(as_numpy(params), config), max_rows=max_audit_rows)
        row = {"step": step, "samples": step * batch, "lr": float(schedule(step)),
               "train_seconds": round(clock["train"], 3),
               "train_loss": float(np.mean(losses[since:])) if step else None,
               **limits.totals()}
        if step:
            bias = empirical_bias(counts, table)
            row |= {"empirical_gap": float(p @ bias), "empirical_median_abs_bias": float(np.median(np.abs(bias))),
                    "empirical_max_abs_bias": float(np.max(np.abs(bias)))}
        clock["audit"] += time.perf_counter() - start
        row["audit_seconds"] = round(clock["audit"], 3)
        history.append(row)
        if callback is not None:
            callback(row)
        return limits

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, unit="step", desc="training", file=sys.stderr, leave=False)
    try:
        final = audit(0, 0)
        done = 0
        for target in checkpoint_steps(steps, checkpoints)[1:]:
            since = done
            while done < target:
                n = min(chunk, target - done)
                run = _runner(n, batch, L, N, depth, lr, warmup, steps, q_key)
                start, cpu = time.perf_counter(), time.process_time()
                params, opt_state, chunk_loss, idx = run(params, opt_state, data_key, done, seqs, log_p)
                chunk_loss = np.asarray(chunk_loss)  # waits for the chunk to finish
                clock["train"] += time.perf_counter() - start
                clock["cpu"] += time.process_time() - cpu
                if not np.all(np.isfinite(chunk_loss)):
                    bad = done + int(np.argmin(np.isfinite(chunk_loss)))
                    raise FloatingPointError(f"the training loss became non-finite at step {bad} "
                                             f"(lr={lr}, law={law_name(law, L)!r}).")
                losses.extend(chunk_loss.tolist())
                counts += np.bincount(np.asarray(idx).ravel(), minlength=X.shape[0])
                done += n
                if bar is not None:
                    bar.update(n)
            final = audit(target, since)
            if bar is not None:
                bar.set_postfix(gap=f"{history[-1]['gap']:.4f}")
    finally:
        if bar is not None:
            bar.close()
    params_np = as_numpy(params)
    return TrainingResult(NetworkDenoiser(params_np, config), params_np, config, history,
                          np.asarray(losses, dtype=np.float32), counts, final,
                          clock["train"], clock["cpu"], clock["audit"])


@contextlib.contextmanager
def _x64():
    import jax

    manager = getattr(jax, "enable_x64", None)
    if callable(manager):
        with manager(True):
            yield
    else:  # older JAX
        from jax.experimental import enable_x64

        with enable_x64():
            yield


def jax_log_probs(params: dict, config: dict, x, *, x64: bool = False) -> np.ndarray:
    """log softmax of the network's logits computed by JAX, shape (B, L, N), returned as
    float64: in float32 as trained (``x64=False``) or in float64 (``x64=True``, the
    parameters cast to float64 first, as :class:`~exactdiff.train.NetworkDenoiser` does).

    The check of the NumPy re-implementation, and the measure of what float32 changes."""
    require_training_extra()
    import jax
    import jax.numpy as jnp

    NetworkDenoiser(params, config)  # validates the parameters against the config
    x = np.asarray(x)
    with _x64() if x64 else contextlib.nullcontext():
        dtype = jnp.float64 if x64 else jnp.float32
        p = {k: jnp.asarray(np.asarray(v), dtype) for k, v in params.items()}
        logits = _mlp_logits(p, jnp.asarray(x, jnp.int32), int(config["N"]), int(config["depth"]))
        return np.asarray(jax.nn.log_softmax(logits, axis=-1), dtype=np.float64)
