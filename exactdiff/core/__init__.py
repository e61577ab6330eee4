"""Foundations every other subpackage builds on: argument validation
(:mod:`~exactdiff.core.validation`), the one memory limit and peak-memory estimates
(:mod:`~exactdiff.core.memory`), array namespaces (:mod:`~exactdiff.core.backend`),
per-axis contractions over tables of shape (n,)*L (:mod:`~exactdiff.core.tensor`) and
Richardson extrapolation (:mod:`~exactdiff.core.numerics`)."""
