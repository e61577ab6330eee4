"""Checks of the Gaussian identities that discrete diffusion generalises: I-MMSE
(Guo–Shamai–Verdú 2005), its pointwise form (Venkat–Weissman 2012) and the NLL as half
the integrated pointwise mmse (Kong et al. 2023), by quadrature
(:mod:`exactdiff.gaussian`). Each returns a list of :class:`CheckResult`."""

from __future__ import annotations

import numpy as np

from ..gaussian import (
    as_gammas,
    default_gaussian_toys,
    derivative_and_mmse,
    gaussian_toy,
    nll_integral_report,
)
from .result import CheckResult, compare

__all__ = ["check_immse", "check_pointwise_immse", "check_gaussian_nll", "gaussian_checks"]

REF_IMMSE = "I-MMSE (Guo–Shamai–Verdú 2005)"
REF_POINTWISE = "pointwise I-MMSE (Venkat–Weissman 2012)"
REF_NLL = "NLL (Kong et al. 2023)"

#: The SNRs the derivative checks use by default.
DEFAULT_GAMMAS = (0.01, 0.1, 1.0, 5.0, 20.0, 50.0)
#: Relative tolerance of the derivative checks. The Richardson tableau (4 levels, error
#: O(h0^8)) and the quadrature (rtol 1e-13) are both good to about 1e-11 on the default
#: toys (measured: at most 3e-11); 1e-9 fails a result off by a relative 1e-8.
TOL_DERIVATIVE = 1e-9
#: Relative tolerance of the NLL check; the integral is asked for rtol 1e-12 and lands
#: within about 2e-13 on the default toys.
TOL_NLL = 1e-10
_RTOL_DERIVATIVE = 1e-13
_RTOL_NLL = 1e-12


def _derivative_check(toy, gammas, levels, step, pointwise):
    gammas = [float(g) for g in as_gammas(gammas).ravel()]
    lhs, rhs, d_err, q_err = [], [], [], []
    for g in gammas:
        deriv, de, m, em = derivative_and_mmse(toy, g, step, levels, "trapezoid", _RTOL_DERIVATIVE)
        if not pointwise:  # d/dγ I = Σ_j p_j d/dγ KL_j ; mmse = Σ_j p_j mmse_j
            deriv, de, m, em = (toy.probs @ v for v in (deriv, de, m, em))
        lhs.append(deriv), rhs.append(0.5 * m), d_err.append(de), q_err.append(0.5 * em)
    lhs, rhs = np.array(lhs), np.array(rhs)
    setup = {
        **toy.setup(),
        "gammas": gammas,
        "richardson_levels": levels,
        "step": step,
        "richardson_error": float(np.max(d_err)),
        "quadrature_error": float(np.max(q_err)),
    }
    return lhs, rhs, setup


def check_immse(points, probs, gammas=DEFAULT_GAMMAS, *, levels=4, step=0.25, tol=TOL_DERIVATIVE) -> list:
    """Check ``d/dγ I(X; Z_γ) = ½ mmse(γ)`` [1] at each γ in ``gammas``.

    lhs: Richardson-extrapolated central difference of I (as
    :func:`~exactdiff.gaussian.gaussian_information_derivative`); rhs: ½ mmse(γ). Both come from one trapezoid grid
    per γ. Relative error held to ``tol``.
    """
    toy = gaussian_toy(points, probs)
    lhs, rhs, setup = _derivative_check(toy, gammas, levels, step, pointwise=False)
    note = (
        f"lhs: {levels}-level Richardson central difference of I(γ) = H(X) − H(X|Z_γ) (taken on "
        f"−H(X|Z_γ); H(X) drops out), steps {step}·γ/(1 + γ·max‖Δ‖²/8)·2^-m; rhs: ½ mmse(γ). "
        f"One trapezoid grid per γ, converged to rtol {_RTOL_DERIVATIVE:.0e}. Relative error held "
        f"to {tol:.0e}; estimated Richardson error {setup['richardson_error']:.1e}, quadrature "
        f"error {setup['quadrature_error']:.1e} (absolute)."
    )
    return [compare("I-MMSE (Gaussian, finite difference)", REF_IMMSE, setup, lhs, rhs, tol, note=note)]


def check_pointwise_immse(points, probs, gammas=DEFAULT_GAMMAS, *, levels=4, step=0.25, tol=TOL_DERIVATIVE) -> list:
    """Check ``d/dγ KL(p(Z_γ|x_j) ‖ p(Z_γ)) = ½ mmse(x_j, γ)`` [2] for every x_j and γ.

    lhs: as :func:`~exactdiff.gaussian.gaussian_pointwise_kl_derivative`; rhs: ½ mmse(x_j, γ), on the same grid.
    Relative error, worst over all K·len(gammas) pairs, held to ``tol``.
    """
    toy = gaussian_toy(points, probs)
    lhs, rhs, setup = _derivative_check(toy, gammas, levels, step, pointwise=True)
    note = (
        f"lhs: {levels}-level Richardson central difference of KL_j(γ) (taken on −E[−log π_j]; "
        f"−log p_j drops out), steps {step}·γ/(1 + γ·max‖Δ‖²/8)·2^-m; rhs: ½ mmse(x_j, γ). "
        f"One trapezoid grid per γ, converged to rtol {_RTOL_DERIVATIVE:.0e}. Worst of "
        f"{lhs.size} (γ, x_j) pairs; relative error held to {tol:.0e}; estimated Richardson error "
        f"{setup['richardson_error']:.1e}, quadrature error {setup['quadrature_error']:.1e} (absolute)."
    )
    return [compare("pointwise I-MMSE (Gaussian, finite difference)", REF_POINTWISE, setup, lhs, rhs, tol, note=note)]


def check_gaussian_nll(points, probs, *, tol=TOL_NLL) -> list:
    """Check ``−log p(x_j) = ½ ∫_0^∞ mmse(x_j, γ) dγ`` [3] for every x_j.

    rhs: :func:`~exactdiff.gaussian.nll_integral_report` (the route of
    :func:`~exactdiff.gaussian.gaussian_nll_integral`) at rtol 1e-12. Relative error held to ``tol``.
    """
    toy = gaussian_toy(points, probs)
    val, err, G, tail, calls = nll_integral_report(toy, "trapezoid", _RTOL_NLL)
    setup = {
        **toy.setup(),
        "gamma_cutoff": float(G),
        "integral_error": float(np.max(err)),
        "tail_bound": float(np.max(tail)),
        "mmse_evaluations": calls,
    }
    note = (
        f"rhs: quad_vec (epsrel {_RTOL_NLL:.0e}) over u = log γ in (−∞, log {G:.4g}] of "
        f"½ e^u mmse(x_j, e^u), each mmse by the trapezoid rule; the dropped tail γ > {G:.4g} "
        f"is below {np.max(tail):.1e} (Bhattacharyya bound); estimated error "
        f"{np.max(err):.1e} (absolute, tail included). Relative error held to {tol:.0e}."
    )
    return [compare("NLL from pointwise MMSE (Gaussian)", REF_NLL, setup, -np.log(toy.probs), val, tol, note=note)]


def gaussian_checks(points=None, probs=None) -> list[CheckResult]:
    """Run the three Gaussian checks.

    With ``points`` and ``probs`` both None, run them on each of
    :func:`~exactdiff.gaussian.default_gaussian_toys` (a 3-point toy in R^1 and a seeded 4-point toy in R^2);
    otherwise on the toy given.
    """
    if (points is None) != (probs is None):
        raise ValueError("`points` and `probs` must be given together (or both left None).")
    toys = default_gaussian_toys() if points is None else [gaussian_toy(points, probs)]
    out = []
    for toy in toys:
        out += check_immse(toy.points, toy.probs)
        out += check_pointwise_immse(toy.points, toy.probs)
        out += check_gaussian_nll(toy.points, toy.probs)
    return out
