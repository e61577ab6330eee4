"""The Gaussian-versus-discrete teaching figure: I-MMSE next to I-MDSE.

Left: the Gaussian channel Z_γ = √γ X + ε with X on three points of R — I(X; Z_γ) and
½·mmse(γ) against γ, and below, the running ½∫_0^γ mmse(x0, γ') dγ' reaching −log p(x0).
Right: a discrete toy under the uniform process — I(x0; x_t) and −mdse(t) = dI/dt against t
(the sign every other figure uses), and
below, the running ∫_0^t mdse(x0, s) ds reaching −log p0(x0). Information grows with the
SNR γ on the left and decays with t on the right.
"""

from __future__ import annotations

import os

import numpy as np

from .. import gaussian as G
from ..information import mdse, mdse_running_integral, mutual_information
from ..process import Constant, uniform
from ..sequences import Distribution
from .style import pyplot, save


def gaussian_vs_discrete(out_dir, seed=0):
    """Write ``gaussian_vs_discrete.png`` to ``out_dir`` and return its path."""
    plt = pyplot()

    toy = G.default_gaussian_toys(seed)[0]
    pts, probs = toy.points, toy.probs
    gammas = np.logspace(-2, 2, 60)
    I_g = G.gaussian_mutual_information(pts, probs, gammas)
    mmse_g = G.gaussian_mmse(pts, probs, gammas)

    p0 = Distribution.dirichlet(2, 3, seed=seed + 3)
    proc = uniform(2, Constant(1.0))
    times = np.logspace(-3, 1, 60)
    I_d = np.array([mutual_information(p0, proc, t) for t in times])
    mdse_d = np.array([mdse(p0, proc, t) for t in times])
    running_d = mdse_running_integral(p0, proc, times)

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    ax = axes[0, 0]
    ax.plot(gammas, I_g, color="C0", label="I(X; Z_γ)")
    ax.plot(gammas, 0.5 * mmse_g, color="C3", label="½·mmse(γ) = dI/dγ")
    ax.axhline(toy.entropy, color="gray", ls=":", label="H(X)")
    ax.set(xscale="log", xlabel="SNR γ", ylabel="I: nats;  ½·mmse: nats per unit γ",
           title=f"Gaussian channel: I-MMSE (X on {len(probs)} points of R)")
    ax.legend()

    ax = axes[0, 1]
    ax.plot(times, I_d, color="C0", label="I(x0; x_t)")
    ax.plot(times, -mdse_d, color="C3", label="−mdse(t) = dI/dt")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axhline(p0.entropy(), color="gray", ls=":", label="H(p0)")
    ax.set(xscale="log", xlabel="time t (uniform process, σ = 1)", ylabel="I: nats;  −mdse: nats per unit time",
           title="Discrete diffusion: I-MDSE (uniform process)")
    ax.legend()

    ax = axes[1, 0]
    for j in range(len(probs)):
        run = G.running_nll_integral(pts, probs, j, gammas)
        line, = ax.plot(gammas, run, label=f"x0 = {pts[j, 0]:+.1f}")
        ax.axhline(-np.log(probs[j]), color=line.get_color(), ls="--", lw=0.8)
    ax.set(xscale="log", xlabel="SNR γ", ylabel="nats", title=r"$\frac{1}{2}\int_0^\gamma \mathrm{mmse}(x_0,\gamma')\,d\gamma'$ $\to -\log p(x_0)$ (dashed)")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    support = np.argwhere(p0.table > 0)
    for x0 in support[:: max(1, len(support) // 4)][:4]:
        x0 = tuple(int(v) for v in x0)
        line, = ax.plot(times, running_d[(slice(None),) + x0], label=f"x0 = {''.join(map(str, x0))}")
        ax.axhline(-np.log(p0.table[x0]), color=line.get_color(), ls="--", lw=0.8)
    ax.set(xscale="log", xlabel="time t", ylabel="nats", title=r"$\int_0^t \mathrm{mdse}(x_0,s)\,ds$ $\to -\log p_0(x_0)$ (dashed), uniform process")
    ax.legend(fontsize=8)

    where = ", ".join(f"{v:g}" for v in pts[:, 0])
    weights = ", ".join(f"{v:g}" for v in probs)
    fig.suptitle(f"Gaussian toy: X ∈ {{{where}}} with p = ({weights}); "
                 f"discrete toy: Dirichlet, N=2, L=3 (seed {seed + 3})", fontsize=10)
    return save(fig, os.path.join(out_dir, "gaussian_vs_discrete.png"))
