"""Draw docs/benchmark.png from bench/results/latest.json (runs in .venv-bench)."""

from __future__ import annotations

import json
import sys

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    results = json.loads(open(sys.argv[1]).read())  # noqa: SIM115
    table = results["table"]
    names = list(table)
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.5 * len(names) + 2), sharey=True)
    for ax, (key, title) in zip(
        axes, (("noop", "no-op tasks/s"), ("orm", "ORM tasks/s")), strict=True
    ):
        values = [(table[n][key] or {}).get("median", 0) for n in names]
        ratios = [(table[n][f"{key}_ratio"] or {}).get("median") for n in names]
        colors = [
            "#d62728"
            if n == "taskqueue"
            else "#7f7f7f"
            if n.startswith("raw")
            else "#1f77b4"
            for n in names
        ]
        ax.barh(names, values, color=colors)
        ax.set_xscale("log")
        ax.set_title(f"{title} (log scale; label = x raw BLPOP loop)")
        for y, (v, ratio) in enumerate(zip(values, ratios, strict=True)):
            if v:
                ax.text(
                    v,
                    y,
                    f" {v:,.0f} ({ratio:.2f}x)" if ratio else f" {v:,.0f}",
                    va="center",
                    fontsize=8,
                )
    axes[0].invert_yaxis()
    m = results["machine"]
    fig.suptitle(
        f"taskqueue benchmark ({results['mode']}, {m['nproc']} CPUs, Redis {m['redis']}; medians)"
    )
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
