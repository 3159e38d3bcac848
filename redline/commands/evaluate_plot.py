"""A picture of the recursive judge loop: accuracy and the judge's yes-rate per round."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from redline.errors import ConfigError


def plot_rounds(
    rounds: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    title: str = "redline evaluate",
    baseline_accuracy: float | None = None,
) -> Path:
    """Draw test accuracy, delivered accuracy and the judge's yes-rate per round into an image.

    Parameters
    ----------
    rounds : sequence of mapping
        ``rounds_detail`` of an evaluation: per round ``round``, ``test_accuracy``,
        ``delivered_accuracy``, and ``yes_rate`` for rounds in which the judge was asked.
    path : path-like
        Output file; the suffix picks the format (``.png``, ``.svg``, ``.pdf``).
    title : str
        Figure title.
    baseline_accuracy : float or None
        Drawn as a dashed line (the flat seed-only baseline) when given.

    Returns
    -------
    Path
        Where the figure was written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    if not rounds:
        raise ConfigError("no rounds to plot")
    x = [int(r.get("round", i)) for i, r in enumerate(rounds)]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    try:
        for key, name, style in (
            ("test_accuracy", "test accuracy", "o-"),
            ("delivered_accuracy", "delivered accuracy (pool)", "s-"),
        ):
            ys = [r.get(key) for r in rounds]
            pts = [(a, b) for a, b in zip(x, ys, strict=True) if b is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=name)
        if baseline_accuracy is not None:
            ax.axhline(baseline_accuracy, color="grey", linestyle="--", label="flat LR, seed only (test)")
        ax.set_xlabel("round")
        ax.set_ylabel("accuracy")
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
        yes = [
            (a, float(r["yes_rate"])) for a, r in zip(x, rounds, strict=True) if r.get("yes_rate") is not None
        ]
        handles, labels = ax.get_legend_handles_labels()
        if yes:  # the judging of round r happens after its scoring: draw it between r and r + 1
            ax2 = ax.twinx()
            bars = ax2.bar(
                [p[0] + 0.5 for p in yes], [p[1] for p in yes], width=0.3, alpha=0.3, color="tab:green"
            )
            ax2.set_ylim(0, 1.05)
            ax2.set_ylabel("judge yes-rate")
            handles.append(bars.patches[0])
            labels.append("judge yes-rate (texts judged after the round)")
            ax.set_zorder(ax2.get_zorder() + 1)  # accuracy lines in front of the bars
            ax.patch.set_visible(False)
        ax.legend(handles, labels, loc="best", fontsize=8)
        ax.set_title(title)
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            fig.savefig(out)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot write the plot to {out}: {exc}") from exc
    finally:
        plt.close(fig)
    return out
