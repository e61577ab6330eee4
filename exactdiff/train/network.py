"""The trained network as a plain-NumPy denoiser (float64): saving, loading, calling.

A network is a dict of named parameter arrays and a configuration dict. Its forward
pass, for a noisy sequence x ∈ (V ∪ {M})^L with mask id N, is the MLP the trainer
(:mod:`exactdiff.train.trainer`) optimises:

.. math::

    z_0 = \\mathrm{onehot}(x) \\in \\{0, 1\\}^{L(N+1)}, \\qquad
    z_k = \\mathrm{gelu}(z_{k-1} W_k + b_k) \\quad (k = 1..\\text{depth}),

    \\text{logits} = z_{\\text{depth}} W_{\\text{out}} + b_{\\text{out}}
    \\text{ reshaped to } (L, N), \\qquad c(x)_{i, \\cdot} = \\mathrm{softmax}(\\text{logits}_i),

where gelu is the tanh form gelu(z) = ½ z (1 + tanh(√(2/π)(z + 0.044715 z³))) (JAX's
``jax.nn.gelu(approximate=True)``). There is no time input: the denoiser is time-free,
as in RADD. At a visible position the callable returns the one-hot of the visible
letter (carry-over); only masked rows are ever used by exactdiff.

File format (``.npz``, read with ``allow_pickle=False``): one array per parameter,
named ``layers[k].w``, ``layers[k].b`` (k = 0..depth−1), ``out.w``, ``out.b``, stored in
the dtype it was trained in (float32), and ``__config__``, a JSON string with at least
``arch`` (``"mlp"``), ``N``, ``L``, ``width`` and ``depth``, plus the ``alphabet`` that
numbers its tokens and the training record.
The loader casts every parameter to float64, so the denoiser is evaluated in float64.

A second architecture, ``"prompt_mlp"`` (:func:`prompt_mlp_logits`), is the denoiser of
a response conditioned on an always-visible prompt (:mod:`exactdiff.train.text`): its
configuration adds ``prompt`` (P, the number of leading positions that are never masked).

This module imports NumPy only: a saved network is audited without JAX installed.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ..core.validation import as_token_array

__all__ = [
    "ARCHITECTURES",
    "NetworkDenoiser",
    "load_denoiser",
    "read_network",
    "save_network",
    "mlp_logits",
    "mlp_shapes",
    "prompt_mlp_logits",
    "prompt_mlp_shapes",
    "prompt_input_rows",
    "gelu",
]

#: Key of the configuration string inside a saved ``.npz``.
CONFIG_KEY = "__config__"


def gelu(z):
    """The tanh form of GELU, ½ z (1 + tanh(√(2/π)(z + 0.044715 z³))), elementwise."""
    return 0.5 * z * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (z + 0.044715 * (z * z * z))))


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def mlp_shapes(N: int, L: int, width: int, depth: int) -> dict:
    """Parameter name → shape of the MLP (module docstring): input width L(N+1),
    ``depth`` hidden layers of ``width`` units, output L·N."""
    dims = [L * (N + 1)] + [width] * depth
    shapes = {}
    for k in range(depth):
        shapes[f"layers[{k}].w"] = (dims[k], dims[k + 1])
        shapes[f"layers[{k}].b"] = (dims[k + 1],)
    shapes["out.w"] = (dims[-1], L * N)
    shapes["out.b"] = (L * N,)
    return shapes


def mlp_logits(params: dict, config: dict, x) -> np.ndarray:
    """Logits of the MLP for integer inputs ``x`` of shape (B, L), shape (B, L, N),
    in the dtype of ``params`` (module docstring for the formula)."""
    B, L = x.shape
    N = int(config["N"])
    z = np.eye(N + 1, dtype=params["out.w"].dtype)[x].reshape(B, L * (N + 1))
    for k in range(int(config["depth"])):
        z = gelu(z @ params[f"layers[{k}].w"] + params[f"layers[{k}].b"])
    return (z @ params["out.w"] + params["out.b"]).reshape(B, L, N)


def prompt_input_rows(N: int, L: int, prompt: int) -> np.ndarray:
    """Row of the first-layer matrix of a ``"prompt_mlp"`` for each (position j, token v),
    shape (L, N + 1), int64: j·N + v for a prompt position j < P (letters only; the mask
    there is −1, invalid), then P·N + (j − P)(N + 1) + v for a response position (letters
    and the mask v = N)."""
    rows = np.full((L, N + 1), -1, dtype=np.int64)
    rows[:prompt, :N] = np.arange(prompt)[:, None] * N + np.arange(N)
    rows[prompt:] = prompt * N + np.arange(L - prompt)[:, None] * (N + 1) + np.arange(N + 1)
    return rows


def prompt_mlp_shapes(N: int, L: int, prompt: int, width: int, depth: int) -> dict:
    """Parameter name → shape of the ``"prompt_mlp"`` (:func:`prompt_mlp_logits`): a first
    layer of P·N + (L − P)(N + 1) rows (one per prompt letter and per response letter or
    mask), ``depth`` − 1 further hidden layers of ``width`` units, output (L − P)·N."""
    if not 0 < prompt < L:
        raise ValueError(f"`prompt` must be between 1 and L − 1 = {L - 1} (got {prompt}).")
    dims = [prompt * N + (L - prompt) * (N + 1)] + [width] * depth
    shapes = {}
    for k in range(depth):
        shapes[f"layers[{k}].w"] = (dims[k], dims[k + 1])
        shapes[f"layers[{k}].b"] = (dims[k + 1],)
    shapes["out.w"] = (width, (L - prompt) * N)
    shapes["out.b"] = ((L - prompt) * N,)
    return shapes


def relu(z):
    """max(z, 0), elementwise."""
    return np.maximum(z, 0.0)


def prompt_mlp_logits(params: dict, config: dict, x) -> np.ndarray:
    """Logits of the ``"prompt_mlp"`` for integer inputs ``x`` of shape (B, L), shape
    (B, L, N); the P prompt positions must hold letters (never the mask id N).

    .. math::

        z_1 = \\mathrm{relu}\\Big(b_1 + \\sum_{j=1}^{L} W_1[r(j, x^j)]\\Big), \\qquad
        z_k = \\mathrm{relu}(z_{k-1} W_k + b_k) \\quad (k = 2..\\text{depth}),

        \\text{logits}^{P+1..L} = z_{\\text{depth}} W_{\\text{out}} + b_{\\text{out}}
        \\text{ reshaped to } (L - P, N),

    with r(j, v) the row of :func:`prompt_input_rows` — the first layer is the one-hot MLP
    written as a sum of embeddings, so the prompt's share is the same for every mask of the
    response. The logits of the prompt positions are 0 (they are visible, so the denoiser
    carries their letters over and never uses them)."""
    B, L = x.shape
    N, P = int(config["N"]), int(config["prompt"])
    if np.any(x[:, :P] >= N):
        raise ValueError(f"the first `prompt`={P} positions of `x` must be letters: a prompt_mlp never sees a "
                         f"masked prompt (got the mask id {N} there).")
    rows = prompt_input_rows(N, L, P)[np.arange(L), x]  # (B, L)
    w0 = params["layers[0].w"]
    z = params["layers[0].b"] + w0[rows[:, 0]]
    for j in range(1, L):
        z = z + w0[rows[:, j]]
    z = relu(z)
    for k in range(1, int(config["depth"])):
        z = relu(z @ params[f"layers[{k}].w"] + params[f"layers[{k}].b"])
    logits = np.zeros((B, L, N), dtype=z.dtype)
    logits[:, P:] = (z @ params["out.w"] + params["out.b"]).reshape(B, L - P, N)
    return logits


#: Architecture name → (forward pass (params, config, x) → logits, parameter shapes
#: from the config).
ARCHITECTURES = {
    "mlp": (mlp_logits, lambda cfg: mlp_shapes(int(cfg["N"]), int(cfg["L"]), int(cfg["width"]), int(cfg["depth"]))),
    "prompt_mlp": (prompt_mlp_logits, lambda cfg: prompt_mlp_shapes(int(cfg["N"]), int(cfg["L"]), int(cfg["prompt"]),
                                                                    int(cfg["width"]), int(cfg["depth"]))),
}


def _validate_network(params: dict, config: dict, where: str):
    """Raise ``ValueError`` unless ``config`` names a known architecture whose
    parameters are exactly ``params``, with the right shapes and finite values."""
    arch = config.get("arch")
    if arch not in ARCHITECTURES:
        raise ValueError(f"{where}: `arch` must be one of {set(ARCHITECTURES)} (got {arch!r}).")
    try:
        shapes = ARCHITECTURES[arch][1](config)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: the configuration of a {arch!r} network needs integer N, L, width and depth "
                         f"(and prompt, for a prompt_mlp) "
                         f"(got {config!r}; {exc!r}).") from None
    if set(params) != set(shapes):
        raise ValueError(f"{where}: expected the parameters {sorted(shapes)} (got {sorted(params)}).")
    for name, shape in shapes.items():
        if params[name].shape != shape:
            raise ValueError(f"{where}: parameter {name!r} must have shape {shape} (got {params[name].shape}).")
        if not np.all(np.isfinite(params[name])):
            raise ValueError(f"{where}: parameter {name!r} has non-finite entries.")


class NetworkDenoiser:
    """A saved network as an exactdiff denoiser: ``c(x)`` maps (B, L) integer noisy
    sequences (mask id N) to probabilities (B, L, N), evaluated in float64.

    Masked rows are softmax(logits) (module docstring); visible rows are the one-hot of
    the visible letter, so every row sums to 1.

    Token ids are those of the toy the network was trained on (``config["alphabet"]``).
    The same letters can be numbered differently: ``ed.load_distribution`` numbers the
    letters of a JSON toy in sorted order (``"ACGT"``), the paper's recipe as ``"ATGC"``.
    Give ``alphabet`` to call the network in another numbering of the same letters: the
    input tokens and the output columns are permuted accordingly.

    Parameters
    ----------
    params : dict of str → ndarray
        The parameters by name (:func:`mlp_shapes`); cast to float64.
    config : dict
        ``arch``, ``N``, ``L``, ``width``, ``depth`` (and any training record, and the
        ``alphabet`` of its tokens).
    alphabet : str, optional
        The numbering the caller uses (default: the network's own).

    Attributes
    ----------
    N, L : int
    alphabet : str or None
        The numbering of the tokens the callable takes and returns.
    params : dict of str → float64 ndarray
    config : dict
    n_params : int
        The number of trainable scalars.

    Examples
    --------
    A network whose output layer is zero gives the uniform law, so its exact limit is
    L log N for every sequence (every masked token costs log N):

    >>> import numpy as np, exactdiff as ed
    >>> from exactdiff.train import NetworkDenoiser, mlp_shapes
    >>> cfg = {"arch": "mlp", "N": 4, "L": 3, "width": 8, "depth": 1}
    >>> rng = np.random.default_rng(0)
    >>> params = {k: (0 * rng.normal(size=s) if k.startswith("out") else rng.normal(size=s))
    ...           for k, s in mlp_shapes(4, 3, 8, 1).items()}
    >>> c = NetworkDenoiser(params, cfg)
    >>> m = ed.estimator_moments(c, np.array([0, 3, 1]), "time_free")
    >>> bool(abs(m.mean - 3 * np.log(4)) < 1e-12)
    True
    """

    def __init__(self, params: dict, config: dict, *, alphabet: str | None = None):
        params = {str(k): np.asarray(v, dtype=np.float64) for k, v in params.items()}
        config = dict(config)
        _validate_network(params, config, "network")
        self.params, self.config = params, config
        self.N, self.L = int(config["N"]), int(config["L"])
        self.n_params = int(sum(v.size for v in params.values()))
        self._forward = ARCHITECTURES[config["arch"]][0]
        self.alphabet = config.get("alphabet")
        self._perm = None  # caller's token i is the network's token _perm[i]
        if alphabet is not None and alphabet != self.alphabet:
            own = self.alphabet
            if own is None or len(alphabet) != self.N or sorted(alphabet) != sorted(own):
                raise ValueError(f"`alphabet` must be an ordering of the network's letters {own!r} "
                                 f"(got {alphabet!r}).")
            self._perm = np.array([own.index(ch) for ch in alphabet] + [self.N])
            self.alphabet = alphabet

    def __repr__(self):
        c = self.config
        return (f"NetworkDenoiser(arch={c['arch']!r}, N={self.N}, L={self.L}, width={c.get('width')}, "
                f"depth={c.get('depth')}, n_params={self.n_params:,}, alphabet={self.alphabet!r})")

    def _tokens(self, x):
        x = as_token_array(x, self.N + 1, "x")
        if x.shape[1] != self.L:
            raise ValueError(f"`x` must have L={self.L} columns (got {x.shape[1]}).")
        return x

    def _log_probs(self, x):
        if self._perm is None:
            return _log_softmax(self._forward(self.params, self.config, x))
        own = _log_softmax(self._forward(self.params, self.config, self._perm[x]))
        return own[..., self._perm[:-1]]

    def log_probs(self, x) -> np.ndarray:
        """log softmax(logits) at every position, masked or not, shape (B, L, N), float64."""
        return self._log_probs(self._tokens(x))

    def __call__(self, x):
        x = self._tokens(x)
        probs = np.exp(self._log_probs(x))
        visible = x < self.N
        probs[visible] = np.eye(self.N)[x[visible]]  # carry-over: only masked rows are used
        return probs


def save_network(path, params: dict, config: dict) -> str:
    """Write ``params`` (name → array, kept in their dtype) and ``config`` (JSON) to the
    ``.npz`` file ``path`` (module docstring); returns the path written."""
    params = {str(k): np.asarray(v) for k, v in params.items()}
    _validate_network(params, config, "network")
    if CONFIG_KEY in params:
        raise ValueError(f"`params` must not use the reserved name {CONFIG_KEY!r}.")
    path = os.fspath(path)
    with open(path, "wb") as fh:  # a file object: numpy would otherwise append ".npz"
        np.savez(fh, **{CONFIG_KEY: np.array(json.dumps(config))}, **params)
    return path


def read_network(path) -> tuple[dict, dict]:
    """(params, config) of a network saved by :func:`save_network`; params in the dtype
    they were saved in. Raises ``ValueError`` naming the file when it is missing, not an
    ``.npz`` written by :func:`save_network`, or inconsistent with its configuration."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path!r} does not exist or is not a file.")
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with f:
            if CONFIG_KEY not in f.files:
                raise ValueError(f"no {CONFIG_KEY!r} entry")
            config = json.loads(str(f[CONFIG_KEY]))
            params = {k: f[k] for k in f.files if k != CONFIG_KEY}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ValueError(f"{path!r} is not a network saved by exactdiff.train ({exc}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path!r}: {CONFIG_KEY!r} must hold a JSON object (got {type(config).__name__}).")
    _validate_network(params, config, repr(path))
    return params, config


def load_denoiser(path, *, alphabet: str | None = None) -> NetworkDenoiser:
    """The network saved at ``path`` (``.npz``, :func:`save_network`) as a plain-NumPy
    float64 denoiser following exactdiff's protocol (:class:`NetworkDenoiser`), taking
    and returning tokens numbered by ``alphabet`` (default: as in training)."""
    return NetworkDenoiser(*read_network(path), alphabet=alphabet)
