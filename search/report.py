"""``search.json``, ``pareto.png`` and ``search.md`` of a finished search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (energy, accuracy) not dominated by another (less energy and
    at least the accuracy), in increasing energy."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best_acc = [], -np.inf
    for i in order:
        if points[i][1] > best_acc:
            front.append(i)
            best_acc = points[i][1]
    return front


def plot_pareto(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = [x for x in result["samples"] if x["energy_uj"]]
    pts = [(x["energy_uj"], x["accuracy"]) for x in samples]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    sc = ax.scatter([p[0] for p in pts], [p[1] for p in pts], c=[x["q"] for x in samples],
                    cmap="viridis", label="trained samples")
    for x in samples:
        ax.annotate(f"q{x['q']} s{x['s']:g}", (x["energy_uj"], x["accuracy"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    front = pareto_front(pts)
    ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "k--", lw=1,
            label="Pareto front of the samples")
    chosen, measured = result["chosen"], result["measured"]
    ax.scatter([measured["energy_uj"]], [measured["accuracy"]], marker="*", s=220, c="red",
               label=f"chosen q={chosen['q']} s={chosen['s']:g} (measured)", zorder=5)
    ax.axhline(result["target_acc"], color="red", lw=0.8, ls=":", label="target accuracy")
    ax.set_xscale("log")
    ax.set_xlabel("energy per inference (µJ, best (P, M) on the board)")
    ax.set_ylabel("integer test accuracy")
    fig.colorbar(sc, label="q (bits)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _regressor_lines(r: dict) -> list[str]:
    if r["accuracy"]["degree"] is None:
        return ["Strategy: Bayesian optimisation (no regressors; every trial trained)."]
    return [
        f"Accuracy regressor: degree {r['accuracy']['degree']} in ({r['accuracy']['features']}),"
        f" LOO RMSE {r['accuracy']['loo_rmse']:.4f}.  ",
        f"Energy regressor: degree {r['energy']['degree']} in ({r['energy']['features']}), "
        f"log target, LOO MAPE {100 * r['energy']['loo_mape']:.2f} %.",
    ]


def write_search(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps(result, indent=1) + "\n")
    plot_pareto(result, out / "pareto.png")
    c, p, m, r = result["chosen"], result["predicted"], result["measured"], result["regressors"]
    lines = [
        f"# QS-NAS search: {result['arch']} on {result['dataset']}, target accuracy "
        f"{result['target_acc']}",
        "",
        f"Chosen: **q = {c['q']}, s = {c['s']:g}, P = {c['pe']}, M = {c['mult']}** on "
        f"{result['board']}.",
        "",
        "| | predicted | measured |",
        "|---|---|---|",
        f"| accuracy | {p['accuracy']:.4f} | {m['accuracy']:.4f} ({m['test_images']} test "
        "images) |",
        f"| energy (µJ/inference) | {p['energy_uj']:.4f} | {m['energy_uj']:.4f} |",
        "",
        *_regressor_lines(r),
        "",
        "![Pareto](pareto.png)",
        "",
        "## Trained samples",
        "",
        "| q | s | accuracy | energy µJ | P | M |",
        "|---|---|---|---|---|---|",
    ]
    for x in result["samples"]:
        e = f"{x['energy_uj']:.4f}" if x["energy_uj"] else "does not fit"
        lines.append(f"| {x['q']} | {x['s']:g} | {x['accuracy']:.4f} | {e} | {x['pe']} | "
                     f"{x['mult']} |")
    if len(result["candidates_tried"]) > 1:
        lines += ["", "## Candidates trained before the chosen one", ""]
        for t in result["candidates_tried"][:-1]:
            lines.append(f"- q={t['q']} s={t['s']:g}: predicted {t['predicted_accuracy']:.4f}, "
                         f"measured {t['measured']['accuracy']:.4f}")
    (out / "search.md").write_text("\n".join(lines) + "\n")
