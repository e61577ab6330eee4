"""Figures of the information curves: I-MDSE, pointwise KLs, running NLL integrals,
I-MDCE in λ and the time-free weights. Every number comes from a library function."""

from __future__ import annotations

import os

import numpy as np

from ..information import (
    mdse,
    mdse_running_integral,
    mutual_information,
    mutual_information_derivative,
    pointwise_kl,
)
from ..masked import mdce, unmasked_size_law
from ..process import absorbing, masking_time, uniform
from ..sequences import Distribution
from .style import pyplot as _plt
from .style import save


def _save(fig, out_dir, name):
    return save(fig, os.path.join(out_dir, name))


def _toy(seed):
    return Distribution.dirichlet(3, 3, alpha=0.5, seed=seed + 11)


def _toy_name(seed):
    return f"Dirichlet(0.5) toy N=3, L=3 (seed {seed + 11})"


def information_curves(out_dir, seed=0):
    """I(x0; x_t), its exact derivative and −mdse(t), uniform and absorbing processes."""

    plt = _plt()
    p0 = _toy(seed)
    times = np.logspace(-3, 1, 50)
    marks = times[::4]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, proc in zip(axes, (uniform(3), absorbing(3))):
        I = [mutual_information(p0, proc, t) for t in times]
        dI = [mutual_information_derivative(p0, proc, t) for t in times]
        m = [-mdse(p0, proc, t) for t in marks]
        ax.plot(times, I, color="C0", label="I(x0; x_t)")
        ax.plot(times, dI, color="C3", label="dI/dt (exact, from dp/dt = σQp)")
        ax.plot(marks, m, "o", mfc="none", color="k", label="−mdse(t) (score entropy)")
        ax.set(xscale="log", xlabel="time t (σ = 1)", ylabel="I: nats;  dI/dt, −mdse: nats per unit time",
               title=f"Theorem 3.1 (I-MDSE): {proc.name} process")
        ax.axhline(0, color="gray", lw=0.5)
        ax.legend(fontsize=8)
    fig.suptitle(_toy_name(seed), fontsize=10)
    return _save(fig, out_dir, "information_curves.png")


def pointwise_kl_curves(out_dir, seed=0):
    """KL(p_{t|0}(·|x0) ‖ p_t) against t for several x0 of the support, uniform process.

    Each curve starts at −log p0(x0) (marked ◀) as t → 0. For a rare x0 it gets there
    only once t ≪ p0(x0): mass moving in from other sequences, O(t), swamps p0(x0) and
    KL ≈ −log(p0(x0) + O(t)) until then, hence the grid from t = 1e-6.
    """

    plt = _plt()
    p0 = _toy(seed)
    proc = uniform(3)
    times = np.logspace(-6, 1, 80)
    kl = np.array([pointwise_kl(p0, proc, t) for t in times])
    flat_p = p0.table.ravel()
    order = np.argsort(flat_p)[::-1]
    order = order[flat_p[order] > 0]
    picks = order[[0, len(order) // 4, len(order) // 2, -1]]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    for flat in picks:
        x0 = np.unravel_index(flat, p0.table.shape)
        line, = ax.plot(times, kl[(slice(None),) + x0],
                        label=f"x0 = {''.join(map(str, x0))}, p0(x0) = {p0.table[x0]:.2g}")
        ax.plot(times[0], -np.log(p0.table[x0]), "<", color=line.get_color())
    ax.set(xscale="log", xlabel="time t", ylabel="KL (nats)",
           title=r"Pointwise KL$(p_{t|0}(\cdot|x_0)\,\|\,p_t)$, uniform process; ◀ marks $-\log p_0(x_0)$"
           + f"\n{_toy_name(seed)}; a rare x0 reaches its mark only for t ≪ p0(x0)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "pointwise_kl.png")


def running_nll(out_dir, seed=0):
    """∫_0^T mdse(x0, t) dt converging to −log p0(x0) (Theorem 3.2), absorbing process;
    the crosses add KL(T) and sit on −log p0(x0) at every T."""

    plt = _plt()
    p0 = _toy(seed)
    proc = absorbing(3)
    times = np.logspace(-3, 1.3, 30)
    run = mdse_running_integral(p0, proc, times)
    order = np.argsort(p0.table.ravel())[::-1]
    fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
    for flat in order[[0, len(order) // 3, 2 * len(order) // 3]]:
        x0 = np.unravel_index(flat, p0.table.shape)
        name = "".join(map(str, x0))
        line, = ax.plot(times, run[(slice(None),) + x0], label=f"x0 = {name}: ∫₀ᵀ mdse dt")
        kl = [pointwise_kl(p0, proc, t)[x0] for t in times[::5]]
        ax.plot(times[::5], run[::5][(slice(None),) + x0] + np.array(kl), "x", color=line.get_color(),
                label=f"x0 = {name}: ∫₀ᵀ mdse dt + KL(T)")
        ax.axhline(-np.log(p0.table[x0]), color=line.get_color(), ls="--", lw=0.8)
    ax.set(xscale="log", xlabel="T", ylabel="nats",
           title=f"Theorem 3.2: ∫₀ᵀ mdse(x0,t)dt + KL(T) = −log p0(x0) (dashed)\n"
                 f"absorbing process, {_toy_name(seed)}")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return _save(fig, out_dir, "running_nll.png")


def i_mdce(out_dir, seed=0):
    """I-MDCE in λ (Corollary 3.6): d/dλ I(x0; x_λ) = −mdce(λ)/λ."""

    plt = _plt()
    p0 = _toy(seed)
    proc = absorbing(3)
    lams = np.linspace(0.01, 0.99, 60)
    ts = [masking_time(proc, lam) for lam in lams]
    I = [mutual_information(p0, proc, t) for t in ts]
    dI = [mutual_information_derivative(p0, proc, t) / (1 - lam) for t, lam in zip(ts, lams)]
    marks = lams[::5]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    ax.plot(lams, I, color="C0", label="I(x0; x_λ)")
    ax.plot(lams, dI, color="C3", label="dI/dλ (exact)")
    ax.plot(marks, [-mdce(p0, lam) / lam for lam in marks], "o", mfc="none", color="k", label="−mdce(λ)/λ")
    ax.plot(lams, [mdce(p0, lam) for lam in lams], color="C2", ls="--", label="mdce(λ)")
    ax.set(xlabel="masking probability λ", ylabel="I, mdce: nats;  dI/dλ, mdce/λ: nats per unit λ",
           title=f"Corollary 3.6 (I-MDCE), absorbing process\n{_toy_name(seed)}")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "i_mdce.png")


def time_free_weights(out_dir, seed=0):
    """The law of the unmasked-set size |U| in Theorem 4.1, P(|U|=k) = 1/((L−k)H_L)."""

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    for j, L in enumerate((4, 8, 16)):
        law = unmasked_size_law(L)
        k = np.arange(L)
        ax.bar(k + (j - 1) * 0.28, law, width=0.28, label=f"L = {L}")
    ax.set(xlabel="number unmasked |U| = k", ylabel="P(|U| = k)",
           title="Time-free weights (Theorem 4.1): P(|U|=k) = 1/((L−k)·H_L)")
    ax.legend()
    return _save(fig, out_dir, "time_free_weights.png")
