"""What every figure shares: matplotlib with the Agg backend (imported on first use, so
``import exactdiff`` never imports matplotlib) and saving into a folder that is created
if needed."""

from __future__ import annotations

from pathlib import Path

__all__ = ["pyplot", "save"]


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path, dpi=110):
    """Write ``fig`` to ``path`` (its folder created if needed), close it, return the path.

    The PNG carries no software stamp, so the same figure drawn by another matplotlib
    release differs only where the pixels do."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    pyplot().close(fig)
    return str(path)
