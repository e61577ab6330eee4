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
from ..core.validation import as_generator, check_count, check_total_noise
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
]


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

    @property
    def mask_id(self):
        return self.N if self.n > self.N else None

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
        S = self.n ** check_count(L, "L")
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
    return ForwardProcess(np.full((N, N), 1.0 / N) - np.eye(N), schedule, name="uniform")


def absorbing(N: int, schedule: Schedule | None = None) -> ForwardProcess:
    """The absorbing (masked) process on N + 1 states; the mask M has index N.

    Q(M, x) = 1 and Q(x, x) = −1 for x ≠ M; the column of M is 0. Kernel:
    k(x|x) = e^{−σ̄}, k(M|x) = 1 − e^{−σ̄} = λ.
    """
    if int(N) != N or N < 1:
        raise ValueError(f"`N` must be a positive integer (got {N}).")
    Q = np.zeros((N + 1, N + 1))
    Q[np.arange(N), np.arange(N)] = -1.0
    Q[N, :N] = 1.0
    return ForwardProcess(Q, schedule, n_data=N, name="absorbing")


def _check_sbar(sbar):
    sbar = check_total_noise(sbar)
    if not np.isfinite(sbar):
        raise ValueError(f"`sbar` must be a finite total noise >= 0 (got {sbar}).")
    return sbar


def uniform_kernel(N: int, sbar: float) -> np.ndarray:
    """Closed form of exp(σ̄ Q) for the uniform process."""
    sbar = _check_sbar(sbar)
    return np.exp(-sbar) * np.eye(N) - np.expm1(-sbar) * np.full((N, N), 1.0 / N)  # 1 − e^{−σ̄} by expm1


def absorbing_kernel(N: int, sbar: float) -> np.ndarray:
    """Closed form of exp(σ̄ Q) for the absorbing process, shape (N+1, N+1)."""
    sbar = _check_sbar(sbar)
    k = np.zeros((N + 1, N + 1))
    k[np.arange(N), np.arange(N)] = np.exp(-sbar)
    k[N, :N] = -np.expm1(-sbar)
    k[N, N] = 1.0
    return k


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
    S = check_count(N, "N") ** check_count(L, "L")
    memory.refuse(3 * 8 * S * S, f"a random full-space generator on S={S:,} states")
    rng = np.random.default_rng(seed)
    R = rng.exponential(size=(S, S)) * (rng.random((S, S)) < density)
    cycle = rng.permutation(S)
    R[np.roll(cycle, -1), cycle] += rng.exponential(size=S) + 0.1
    np.fill_diagonal(R, 0.0)
    return R - np.diag(R.sum(axis=0))
