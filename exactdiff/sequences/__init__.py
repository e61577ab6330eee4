"""Sequence spaces V^L and distributions over them, held as exact probability tables of
shape (N,)*L: :class:`~exactdiff.sequences.space.SequenceSpace` and
:class:`~exactdiff.sequences.distribution.Distribution`."""

from .distribution import Distribution
from .space import SequenceSpace

__all__ = ["Distribution", "SequenceSpace"]
