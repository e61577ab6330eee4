"""The forward process: continuous-time Markov chains scaled by a noise schedule.

- :mod:`~exactdiff.process.schedules`: σ(t) and σ̄(t) (``Constant``, ``LogLinear``,
  ``Geometric``);
- :mod:`~exactdiff.process.forward`: generators and kernels in the column convention
  (``ForwardProcess``, ``FullSpaceProcess``, ``uniform``, ``absorbing``, closed forms);
- :mod:`~exactdiff.process.masking`: the absorbing process in λ, λ ↔ t.
"""

from .forward import (
    ForwardProcess,
    FullSpaceProcess,
    absorbing,
    absorbing_kernel,
    kronecker_sum,
    random_full_space_generator,
    random_generator,
    uniform,
    uniform_kernel,
)
from .masking import masking_kernel, masking_level, masking_time
from .schedules import Constant, Geometric, LogLinear, Schedule

__all__ = [
    "Constant",
    "ForwardProcess",
    "FullSpaceProcess",
    "Geometric",
    "LogLinear",
    "Schedule",
    "absorbing",
    "absorbing_kernel",
    "kronecker_sum",
    "masking_kernel",
    "masking_level",
    "masking_time",
    "random_full_space_generator",
    "random_generator",
    "uniform",
    "uniform_kernel",
]
