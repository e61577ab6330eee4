"""Foundations every other subpackage builds on: argument validation
(:mod:`~exactdiff.core.validation`), the one memory limit and peak-memory estimates
(:mod:`~exactdiff.core.memory`), array namespaces (:mod:`~exactdiff.core.backend`),
contractions over tables of shape (n,)*L — pairs of axes fused, cache-sized blocks,
NumPy, CuPy or Dask chunks by one code path (:mod:`~exactdiff.core.tensor`) — and
Richardson extrapolation (:mod:`~exactdiff.core.numerics`) and results as JSON
(:mod:`~exactdiff.core.serialize`)."""
