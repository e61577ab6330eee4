"""Score models by name: the built-in ones, or the user's by import path."""

from __future__ import annotations

from ..core.callables import SPEC_ATTRIBUTE, callable_name, import_callable
from ..masked.denoisers import CorruptedDenoiser, OracleDenoiser
from .bridge import DenoiserScore
from .models import CorruptedScore, OracleScore
from .protocol import CAPABILITIES

__all__ = ["load_score_model", "SCORE_MODELS"]


class _Flagged:
    """A score model with its ``log_scores`` flag set from outside; attributes and
    capabilities are kept."""

    def __init__(self, model, log_scores):
        self.model, self.log_scores = model, bool(log_scores)
        for name in ("L", "alphabet", "sigma_bar_range", *CAPABILITIES):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))
        setattr(self, SPEC_ATTRIBUTE, callable_name(model))

    def __call__(self, x, sigma_bar):
        return self.model(x, sigma_bar)


def _oracle(p0, process, epsilon, temperature):
    return OracleScore(p0, process)


def _corrupted(p0, process, epsilon, temperature):
    return CorruptedScore(OracleScore(p0, process), process, epsilon, temperature)


def _corrupted_denoiser(p0, process, epsilon, temperature):
    return DenoiserScore(CorruptedDenoiser(OracleDenoiser(p0), epsilon, temperature), process)


#: Built-in score models by name → ``factory(p0, process, epsilon, temperature)``.
SCORE_MODELS = {
    "oracle": _oracle,
    "corrupted": _corrupted,
    "corrupted_denoiser": _corrupted_denoiser,
}


def load_score_model(spec, p0=None, process=None, *, epsilon=0.1, temperature=1.5, log_scores=None):
    """A score model from a built-in name or a ``"module:callable"`` import path.

    Parameters
    ----------
    spec : str
        A name of :data:`SCORE_MODELS` — ``"oracle"`` (:class:`~exactdiff.OracleScore`),
        ``"corrupted"`` (:class:`~exactdiff.score.CorruptedScore` of the oracle) or
        ``"corrupted_denoiser"`` (absorbing only: :class:`~exactdiff.score.DenoiserScore`
        of the corrupted oracle denoiser) — or an import path whose attribute **is** a
        score model ``model(x, sigma_bar)``
        (:func:`~exactdiff.core.callables.import_callable`).
    p0 : Distribution or array, optional
        The law the built-in models are built from (needed for them).
    process : ForwardProcess, optional
        Needed for the built-in models.
    epsilon, temperature : float
        The corruption of ``"corrupted"`` and ``"corrupted_denoiser"``.
    log_scores : bool, optional
        Set the ``log_scores`` flag of a loaded callable (default: its own attribute).

    Raises
    ------
    ValueError
        An unknown name, a bad import path, or a built-in name without ``p0`` and
        ``process``.

    Examples
    --------
    >>> import exactdiff as ed
    >>> p0 = ed.Distribution.dirichlet(2, 2, seed=0)
    >>> load_score_model("oracle", p0, ed.uniform(2))
    OracleScore(N=2, L=2, ForwardProcess(uniform, n=2, N=2, Constant(rate=1)))
    """
    spec = str(spec)
    if ":" in spec:
        model = import_callable(spec, what="score model")
        return model if log_scores is None else _Flagged(model, log_scores)
    if spec not in SCORE_MODELS:
        raise ValueError(f"`spec` must be one of {sorted(SCORE_MODELS)} or an import path 'module:callable' "
                         f"(got {spec!r}).")
    if p0 is None or process is None:
        raise ValueError(f"the built-in score model {spec!r} needs `p0` and `process`.")
    return SCORE_MODELS[spec](p0, process, epsilon, temperature)
