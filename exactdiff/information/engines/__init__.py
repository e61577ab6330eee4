"""The engines that compute every quantity of the forward process, in a registry.

======================  ==================================================================
engine                  how
======================  ==================================================================
``"dense"``             the generator on all S = n^L states (sparse), kernel columns from
                        ``expm`` of the whole generator (S <= 1024) or as Kronecker
                        products of token-kernel columns, every quantity summed from its
                        definition; the
                        reference, the only engine for a full-space CTMC, and able to
                        evaluate a sample of x0 on large toys (``at=``)
``"factorized"``        per-token kernels axis by axis, O(L·n·S), all x0 at once, in any
                        array namespace; token-wise processes only
======================  ==================================================================

``engine="auto"`` picks factorized for token-wise processes and dense otherwise. Each
engine module provides the same functions (``marginal``, ``pointwise_kl``,
``pointwise_kl_derivative``, ``mdse``, ``expected_dse``, ``marginal_entropy_derivative``,
``conditional_entropy``) on a validated table; :mod:`exactdiff.information` dispatches
through :data:`ENGINES`.
"""

from __future__ import annotations

from ...core.backend import as_xp_table, is_numpy, namespace
from ...core.validation import validate_time
from . import dense, factorized

__all__ = ["ENGINES", "resolve", "prepare", "validate_positive_noise", "DENSE_ROUTE_MAX_STATES"]

#: name → engine module.
ENGINES = {"dense": dense, "factorized": factorized}

#: Largest number of noisy states on which the dense engine is the route of choice for
#: every x0 (a check's second route, the default of ``engine="auto"`` for full-space
#: processes); beyond it the dense engine serves a sample of x0 (``at=``).
DENSE_ROUTE_MAX_STATES = 1024


def resolve(process, engine):
    """The engine module for ``engine`` (``"auto"``, ``"dense"`` or ``"factorized"``)."""
    if engine == "auto":
        engine = "factorized" if process.token_wise else "dense"
    if engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {{'auto', 'dense', 'factorized'}} (got {engine!r}).")
    if engine == "factorized" and not process.token_wise:
        raise ValueError("the factorized engine needs a token-wise process; use engine='dense' for a FullSpaceProcess.")
    return ENGINES[engine]


def prepare(p0, process, t, engine):
    """(validated table of ``p0`` in its own namespace, time, engine module), checked
    against the process: N data tokens, and L for a full-space process."""
    table = as_xp_table(p0)
    if table.shape[0] != process.N:
        raise ValueError(f"`p0` has N={table.shape[0]} tokens but the process has N={process.N} data tokens.")
    if not process.token_wise and table.ndim != process.L:
        raise ValueError(f"`p0` has L={table.ndim} but the full-space process has L={process.L}.")
    module = resolve(process, engine)
    if module is dense and not is_numpy(namespace(table)):
        raise ValueError("the dense engine works on NumPy arrays only (got an array of "
                         f"{namespace(table).__name__}); use engine='factorized' or pass a NumPy table.")
    return table, validate_time(t), module


def validate_positive_noise(process, t):
    """Refuse t with σ̄(t) = 0: there dKL/dt and mdse are −∞ and +∞ (mdse grows like
    −log t as t → 0), and no finite number would be right."""
    t = validate_time(t)
    if process.total(t) == 0:
        raise ValueError(f"`t` must be > 0 here: at σ̄(t) = 0 the KL derivative is −∞ and mdse is +∞ (got t={t}).")
    return t
