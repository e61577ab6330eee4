"""k-th order Markov chains: exact laws, sampling, and exact conditionals by
forward–backward on the context chain (:mod:`~exactdiff.markov.forward_backward`, the one
message passing of the package), for sequences of any length; fitting by counting
(:mod:`~exactdiff.markov.fit`)."""

from .chain import MAX_SUBSETS, MarkovChain
from .fit import count_transitions, fit_markov_chain

__all__ = ["MarkovChain", "MAX_SUBSETS", "count_transitions", "fit_markov_chain"]
