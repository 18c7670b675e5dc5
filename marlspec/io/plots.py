"""Learning-curve plots: one thin line per seed, the mean, and a 95% bootstrap CI band.

The interval is a plain percentile bootstrap of the mean over seeds. rliable would be the
natural library for it, but rliable 1.2 does not import with the current arch (7.2) and
pandas (3.x) releases (a TypeError inside arch's `deprecate_kwarg`, seen 2026-11-29), so it
is not a dependency; `marl_eval.json` in every run directory is in the layout its users load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def bootstrap_ci(values: np.ndarray, level: float = 0.95, samples: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of the mean over axis 0 (seeds), per column (eval step)."""
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    idx = rng.integers(0, n, size=(samples, n))
    means = values[idx].mean(axis=1)
    lo, hi = np.percentile(means, [(1 - level) / 2 * 100, (1 + level) / 2 * 100], axis=0)
    return lo, hi


def learning_curve(records: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """Plot eval return (and win rate where present) against env steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        return None
    seeds = sorted({r["seed"] for r in records})
    panels = [("eval_return", "return (execution)")]
    if any(r.get("eval_win_rate") is not None for r in records):
        panels.append(("eval_win_rate", "win rate (execution)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        for metric, style, name in ((key, "-", "execution"), (key.replace("eval_", "behaviour_"), "--", "behaviour")):
            rows = [[r for r in records if r["seed"] == s and r.get(metric) is not None] for s in seeds]
            if not all(rows):
                continue
            length = min(len(r) for r in rows)
            x = np.array([r["env_steps"] for r in rows[0][:length]])
            y = np.array([[r[metric] for r in row[:length]] for row in rows], dtype=float)
            color = "C0" if name == "execution" else "C1"
            for row in y:
                ax.plot(x, row, style, color=color, alpha=0.25, linewidth=0.8)
            ax.plot(x, y.mean(axis=0), style, color=color, linewidth=2, label=f"{name} mean ({len(seeds)} seeds)")
            if len(seeds) > 1:
                lo, hi = bootstrap_ci(y)
                ax.fill_between(x, lo, hi, color=color, alpha=0.2, label="95% CI" if name == "execution" else None)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
