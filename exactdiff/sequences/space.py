"""Sequence spaces V^L: tokens, alphabets, the mask token, flat indices."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

__all__ = ["SequenceSpace"]


@dataclasses.dataclass(frozen=True)
class SequenceSpace:
    """The space V^L of sequences of length ``L`` over ``N`` tokens.

    Tokens are the integers ``0..N-1``; an optional ``alphabet`` of ``N`` distinct
    characters names them (``"ATGC"`` makes ``A=0, T=1, G=2, C=3``). With
    ``mask=True`` a mask token with index ``N`` is added (written ``mask_char``),
    as in masked diffusion, where noisy sequences live in ``(V ∪ {M})^L``.

    A distribution over V^L is an array of shape ``(N,)*L`` in C order, so that
    ``p0[x]`` works for a token tuple ``x`` and :meth:`index` is
    ``numpy.ravel_multi_index``.

    Examples
    --------
    >>> sp = SequenceSpace(4, 3, alphabet="ATGC")
    >>> sp.encode("GAT"), sp.index("GAT"), sp.decode(sp.unindex(33))
    ((2, 0, 1), 33, 'GAT')
    """

    N: int
    L: int
    alphabet: str | None = None
    mask: bool = False
    mask_char: str = "M"

    def __post_init__(self):
        if int(self.N) != self.N or self.N < 1:
            raise ValueError(f"`N` must be a positive integer (got {self.N!r}).")
        if int(self.L) != self.L or self.L < 1:
            raise ValueError(f"`L` must be a positive integer (got {self.L!r}).")
        if self.alphabet is not None:
            if len(self.alphabet) != self.N or len(set(self.alphabet)) != self.N:
                raise ValueError(
                    f"`alphabet` must have N={self.N} distinct characters (got {self.alphabet!r})."
                )
            if self.mask and self.mask_char in self.alphabet:
                raise ValueError(f"`mask_char` {self.mask_char!r} must not be in the alphabet {self.alphabet!r}.")

    @property
    def n(self) -> int:
        """Number of token values a noisy sequence can take (``N + 1`` with a mask)."""
        return self.N + 1 if self.mask else self.N

    @property
    def mask_id(self) -> int:
        if not self.mask:
            raise ValueError("this space has no mask token (`mask=False`).")
        return self.N

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of a table over V^L."""
        return (self.N,) * self.L

    @property
    def size(self) -> int:
        """S = N^L."""
        return self.N**self.L

    def symbols(self) -> str | None:
        if self.alphabet is None:
            return None
        return self.alphabet + (self.mask_char if self.mask else "")

    def encode(self, x) -> tuple[int, ...]:
        """A token tuple from a string, a sequence of ints or a flat index."""
        if isinstance(x, (int, np.integer)):
            return self.unindex(int(x))
        if isinstance(x, str):
            symbols = self.symbols()
            if symbols is None:
                raise ValueError("a string needs a space with an `alphabet`.")
            if len(x) != self.L:
                raise ValueError(f"sequence {x!r} must have length L={self.L} (got {len(x)}).")
            bad = sorted(set(x) - set(symbols))
            if bad:
                raise ValueError(f"sequence {x!r} has letters outside the alphabet {symbols!r}: {bad}.")
            return tuple(symbols.index(c) for c in x)
        tokens = tuple(int(v) for v in x)
        if len(tokens) != self.L:
            raise ValueError(f"token tuple {tokens} must have length L={self.L} (got {len(tokens)}).")
        if any(v < 0 or v >= self.n for v in tokens):
            raise ValueError(f"token tuple {tokens} has tokens outside 0..{self.n - 1}.")
        return tokens

    def decode(self, x) -> str:
        """The string of a token tuple (needs an alphabet)."""
        symbols = self.symbols()
        if symbols is None:
            raise ValueError("decoding to a string needs a space with an `alphabet`.")
        tokens = self.encode(x) if not isinstance(x, str) else self.encode(x)
        return "".join(symbols[v] for v in tokens)

    def index(self, x) -> int:
        """Flat C-order index of a sequence in the table of shape ``(n,)*L``."""
        return int(np.ravel_multi_index(self.encode(x), (self.n,) * self.L))

    def unindex(self, i: int) -> tuple[int, ...]:
        total = self.n**self.L
        if not 0 <= int(i) < total:
            raise ValueError(f"flat index must lie in [0, {total}) (got {i}).")
        return tuple(int(v) for v in np.unravel_index(int(i), (self.n,) * self.L))

    def states(self):
        """Iterate over all token tuples of V^L in C order."""
        return itertools.product(range(self.N), repeat=self.L)

    def all_tokens(self) -> np.ndarray:
        """All sequences of V^L as an integer array of shape (S, L), in C order."""
        return np.stack(np.unravel_index(np.arange(self.size), self.shape), axis=1)

    def strings(self) -> list[str]:
        """All sequences of V^L as strings, in C order (needs an alphabet)."""
        return [self.decode(x) for x in self.states()]
