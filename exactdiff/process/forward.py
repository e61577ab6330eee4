"""Forward processes: continuous-time Markov chains scaled by a schedule.

Column convention throughout: ``Q[y, x] >= 0`` (y ≠ x) is the jump rate from x to
y, every column sums to 0, and p_{t|0}(y | x) = [exp(σ̄(t) Q)]_{y, x}.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm
from scipy.sparse.csgraph import shortest_path

from ..core import memory
from ..core.tensor import kron_sum
from ..core.validation import as_generator, validate_count, validate_total_noise
from .masking import lambda_of_total
from .schedules import Constant, Schedule

__all__ = [
    "ForwardProcess",
    "FullSpaceProcess",
    "uniform",
    "absorbing",
    "random_generator",
    "random_full_space_generator",
    "uniform_kernel",
    "absorbing_kernel",
    "kronecker_sum",
    "transition_kernel",
    "PROCESS_KINDS",
]

#: The kinds of token-wise process (:attr:`ForwardProcess.kind`): the two of MATH.md, whose
#: kernels have closed forms, and any other per-token generator.
PROCESS_KINDS = ("uniform", "absorbing", "general")


def _canonical(kind, N):
    """The generator MATH.md gives the process ``kind`` over N data tokens."""
    if kind == "uniform":
        return np.full((N, N), 1.0 / N) - np.eye(N)
    Q = np.zeros((N + 1, N + 1))
    Q[np.arange(N), np.arange(N)] = -1.0
    Q[N, :N] = 1.0
    return Q


def _kind_of(Q, N) -> str:
    for kind in ("uniform", "absorbing"):
        ref = _canonical(kind, N)
        if Q.shape == ref.shape and np.array_equal(Q, ref):
            return kind
    return "general"


def _reachable(Q) -> np.ndarray:
    """Boolean R[y, x]: y can be reached from x (x itself included) under generator Q."""
    adj = (Q - np.diag(np.diag(Q))) > 0
    dist = shortest_path(np.ascontiguousarray(adj.T, dtype=float), unweighted=True, directed=True)
    return np.isfinite(dist).T


def _schedule(schedule):
    if schedule is None:
        return Constant(1.0)
    if not isinstance(schedule, Schedule):
        raise ValueError(f"`schedule` must be a Schedule such as Constant(), LogLinear() or Geometric() (got {schedule!r}).")
    return schedule


class ForwardProcess:
    """A token-wise forward process: every token jumps independently under ``Q``.

    Parameters
    ----------
    Q : array_like, shape (n, n)
        The per-token generator in the column convention (validated).
    schedule : Schedule, optional
        σ(t); the sequence-level generator at time t is σ(t) times the Kronecker sum
        Σ_i I ⊗ … ⊗ Q ⊗ … ⊗ I. Defaults to ``Constant(1.0)``.
    n_data : int, optional
        Number of data tokens N; tokens ``n_data..n-1`` are noise-only (the mask of
        the absorbing process). Defaults to ``n``.
    name : str, optional

    Notes
    -----
    The token kernel k_t = exp(σ̄(t) Q) comes from ``scipy.linalg.expm``; entries
    that are structurally zero (y unreachable from x under Q) are set to exactly 0.
    """

    token_wise = True

    def __init__(self, Q, schedule: Schedule | None = None, n_data: int | None = None, name: str | None = None):
        self.Q = as_generator(Q, "Q")
        self.Q.setflags(write=False)
        self.schedule = _schedule(schedule)
        self.n = self.Q.shape[0]
        self.N = self.n if n_data is None else int(n_data)
        if not 1 <= self.N <= self.n:
            raise ValueError(f"`n_data` must lie in [1, {self.n}] (got {n_data}).")
        self.name = name or "custom"
        #: ``reachable[y, x]``: token y can be reached from x under Q (x itself included).
        self.reachable = _reachable(self.Q)
        self.reachable.setflags(write=False)
        #: W[a, v] = Q(a, v) for v ≠ a, 0 on the diagonal: the rate from v **into** a (the
        #: weight of the score entry (i, v) at a state with x^i = a in the DSE, MATH.md).
        self.off_diagonal = self.Q - np.diag(np.diag(self.Q))
        self.off_diagonal.setflags(write=False)
        #: ``"uniform"`` or ``"absorbing"`` when Q is exactly MATH.md's generator of that
        #: name (their kernels have closed forms), else ``"general"``.
        self.kind = _kind_of(self.Q, self.N)

    @property
    def mask_id(self):
        return self.N if self.n > self.N else None

    def kernels(self, sigma_bar) -> np.ndarray:
        """k = exp(σ̄ Q) for an array of total noises, shape ``sigma_bar.shape + (n, n)``,
        ``k[..., y, x]`` = p(y | x) for one token.

        Closed forms for the uniform and absorbing kinds (:func:`uniform_kernel`,
        :func:`absorbing_kernel`; σ̄ = ∞ allowed), otherwise
        :func:`transition_kernel` once per distinct σ̄ (finite only).

        Examples
        --------
        >>> import exactdiff as ed, numpy as np
        >>> k = ed.uniform(3).kernels(np.array([0.4, 2.0]))
        >>> bool(np.allclose(k[1], ed.process.uniform_kernel(3, 2.0), rtol=0, atol=1e-15))
        True
        """
        sbar = np.asarray(sigma_bar, dtype=np.float64)
        if np.any(~(sbar >= 0)):
            raise ValueError(f"`sigma_bar` must be a total noise >= 0 (got minimum {np.nanmin(sbar)}).")
        if self.kind in _CLOSED_FORMS:
            return _CLOSED_FORMS[self.kind](self.N, sbar)
        if np.any(np.isinf(sbar)):
            raise ValueError(f"`sigma_bar` = inf needs a closed-form kernel (kinds {sorted(_CLOSED_FORMS)}); "
                             f"this process is {self.kind!r}.")
        values, inverse = np.unique(sbar, return_inverse=True)
        ks = np.stack([transition_kernel(self.Q, float(v), self.reachable) for v in values])
        return ks[inverse.reshape(sbar.shape)]

    def uniform_start_law(self, sigma_bar) -> np.ndarray:
        """π_σ̄(y) = Σ_{a<N} k(y|a)/N: the law of one token at total noise σ̄ when the data
        token is uniform, shape ``sigma_bar.shape + (n,)`` — uniform for the uniform
        process; (1−λ)/N on each data token and λ = 1 − e^{−σ̄} on the mask for the
        absorbing one. π_T is the prior of the DSE likelihood (MATH.md, Theorem 3.2).

        Examples
        --------
        >>> import exactdiff as ed, numpy as np
        >>> ed.absorbing(2).uniform_start_law(np.log(4.0)).tolist()   # λ = 3/4
        [0.125, 0.125, 0.75]
        """
        return self.kernels(sigma_bar)[..., :, : self.N].sum(axis=-1) / self.N

    def __repr__(self):
        return f"ForwardProcess({self.name}, n={self.n}, N={self.N}, {self.schedule!r})"

    def describe(self) -> str:
        return f"{self.name} (n={self.n}), {self.schedule!r}"

    def rate(self, t) -> float:
        """σ(t)."""
        return self.schedule.rate(t)

    def total(self, t) -> float:
        """σ̄(t)."""
        return self.schedule.total(t)

    def kernel(self, t) -> np.ndarray:
        """k_t = exp(σ̄(t) Q), shape (n, n); ``k[y, x] = p_{t|0}(y | x)`` for one token
        (:func:`transition_kernel`)."""
        return transition_kernel(self.Q, self.total(t), self.reachable)

    def data_kernel(self, t) -> np.ndarray:
        """The columns of k_t for data tokens, shape (n, N)."""
        return self.kernel(t)[:, : self.N]

    def full_generator(self, L: int) -> np.ndarray:
        """The sequence-level generator Σ_i I ⊗ … ⊗ Q ⊗ … ⊗ I, shape (n^L, n^L)."""
        S = self.n ** validate_count(L, "L")
        memory.refuse(8 * S * S, f"the dense generator for n={self.n}, L={L} (S={S:,})")
        return kronecker_sum(self.Q, L)


class FullSpaceProcess:
    """A general CTMC on the full space V^L, not necessarily token-wise.

    Parameters
    ----------
    G : array_like, shape (S, S)
        Generator on the S = N^L states in the column convention; states are ordered
        as the flat C-order index of the table of shape (N,)*L.
    N, L : int
        Vocabulary size and length, with N^L = S.
    schedule : Schedule, optional
    """

    token_wise = False

    def __init__(self, G, N: int, L: int, schedule: Schedule | None = None, name: str | None = None):
        G = np.asarray(G, dtype=np.float64)
        self.G = as_generator(G, "G")
        self.G.setflags(write=False)
        if self.G.shape[0] != N**L:
            raise ValueError(f"`G` must have shape (N^L, N^L) = ({N**L}, {N**L}) (got {self.G.shape}).")
        self.schedule = _schedule(schedule)
        self.N = self.n = int(N)
        self.L = int(L)
        self.name = name or "full-space"
        #: ``reachable[y, x]``: state y can be reached from x under G (x itself included).
        self.reachable = _reachable(self.G)
        self.reachable.setflags(write=False)

    mask_id = None

    def __repr__(self):
        return f"FullSpaceProcess({self.name}, N={self.N}, L={self.L}, {self.schedule!r})"

    def describe(self) -> str:
        return f"{self.name} (S={self.G.shape[0]}), {self.schedule!r}"

    def rate(self, t) -> float:
        return self.schedule.rate(t)

    def total(self, t) -> float:
        return self.schedule.total(t)

    def full_generator(self, L: int) -> np.ndarray:
        if L != self.L:
            raise ValueError(f"this full-space process is defined for L={self.L} (got L={L}).")
        return self.G

    def full_kernel(self, t) -> np.ndarray:
        """exp(σ̄(t) G) over the S states (:func:`transition_kernel`)."""
        return transition_kernel(self.G, self.total(t), self.reachable)


def transition_kernel(G, sbar, reachable=None) -> np.ndarray:
    """exp(σ̄ G) of a generator, from ``scipy.linalg.expm``, made exact where exactness is
    known: entries that are structurally zero (``reachable[y, x]`` False: y cannot be
    reached from x) are set to 0, and every column is divided by its sum, which is 1
    for the exact kernel. The second step matters at large σ̄: scaling and squaring
    leaves column sums off by up to 1e-10 at σ̄ = 1e6, which would turn a KL of order
    1e-16 into −1e-9; after it, quantities of the mixed chain are exact to rounding."""
    K = expm(sbar * G)
    if reachable is not None:
        K[~reachable] = 0.0
    K /= K.sum(axis=0, keepdims=True)
    return K


def kronecker_sum(Q, L: int) -> np.ndarray:
    """Σ_i I_{n^i} ⊗ Q ⊗ I_{n^{L−i−1}}: the generator of L independent tokens, C order."""
    return kron_sum(np.asarray(Q, dtype=np.float64), L)


def uniform(N: int, schedule: Schedule | None = None) -> ForwardProcess:
    """The uniform process: Q = 11ᵀ/N − I, kernel e^{−σ̄} I + (1 − e^{−σ̄}) 11ᵀ/N."""
    if int(N) != N or N < 2:
        raise ValueError(f"`N` must be an integer >= 2 (got {N}).")
    return ForwardProcess(_canonical("uniform", int(N)), schedule, name="uniform")


def absorbing(N: int, schedule: Schedule | None = None) -> ForwardProcess:
    """The absorbing (masked) process on N + 1 states; the mask M has index N.

    Q(M, x) = 1 and Q(x, x) = −1 for x ≠ M; the column of M is 0. Kernel:
    k(x|x) = e^{−σ̄}, k(M|x) = 1 − e^{−σ̄} = λ.
    """
    if int(N) != N or N < 1:
        raise ValueError(f"`N` must be a positive integer (got {N}).")
    return ForwardProcess(_canonical("absorbing", int(N)), schedule, n_data=N, name="absorbing")


def _total_noise(sbar) -> np.ndarray:
    sbar = np.asarray(sbar, dtype=np.float64)
    if np.any(~(sbar >= 0)):
        raise ValueError(f"`sbar` must be a total noise >= 0 (got minimum {np.nanmin(sbar)}).")
    return sbar


def uniform_kernel(N: int, sbar) -> np.ndarray:
    """Closed form of exp(σ̄ Q) for the uniform process, e^{−σ̄} I + (1 − e^{−σ̄}) 11ᵀ/N
    (1 − e^{−σ̄} by ``expm1``), for a scalar or an array of σ̄ (σ̄ = ∞ allowed): shape
    ``sbar.shape + (N, N)``."""
    sbar = _total_noise(sbar)[..., None, None]
    return np.exp(-sbar) * np.eye(N) + lambda_of_total(sbar) / N


def absorbing_kernel(N: int, sbar) -> np.ndarray:
    """Closed form of exp(σ̄ Q) for the absorbing process, k(x|x) = e^{−σ̄},
    k(M|x) = λ = 1 − e^{−σ̄}, k(M|M) = 1, for a scalar or an array of σ̄ (σ̄ = ∞ allowed):
    shape ``sbar.shape + (N+1, N+1)``."""
    sbar = _total_noise(sbar)
    k = np.zeros(sbar.shape + (N + 1, N + 1))
    k[..., np.arange(N), np.arange(N)] = np.exp(-sbar)[..., None]
    k[..., N, :N] = lambda_of_total(sbar)[..., None]
    k[..., N, N] = 1.0
    return k


_CLOSED_FORMS = {"uniform": uniform_kernel, "absorbing": absorbing_kernel}


def random_generator(n: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """A random non-symmetric per-token generator: off-diagonal rates ~ scale·Exp(1)."""
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"`scale` must be a positive finite rate (got {scale}).")
    rng = np.random.default_rng(seed)
    R = scale * rng.exponential(size=(n, n))
    np.fill_diagonal(R, 0.0)
    return R - np.diag(R.sum(axis=0))


def random_full_space_generator(N: int, L: int, seed: int = 0, density: float = 0.3) -> np.ndarray:
    """A random irreducible S×S generator that is not token-wise (S = N^L).

    Rates are Exp(1) on a random fraction ``density`` of the pairs, plus a directed
    cycle through all states (which makes the chain irreducible and lets it jump
    between states that differ in several positions).
    """
    S = validate_count(N, "N") ** validate_count(L, "L")
    memory.refuse(3 * 8 * S * S, f"a random full-space generator on S={S:,} states")
    rng = np.random.default_rng(seed)
    R = rng.exponential(size=(S, S)) * (rng.random((S, S)) < density)
    cycle = rng.permutation(S)
    R[np.roll(cycle, -1), cycle] += rng.exponential(size=S) + 0.1
    np.fill_diagonal(R, 0.0)
    return R - np.diag(R.sum(axis=0))
