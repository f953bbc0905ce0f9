"""``search.json``, ``pareto.png`` and ``search.md`` of a finished search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.plots import place_labels
from intnet.arch import format_scale, format_widths, normal_widths
from search.qsnas import selection_accuracy

# the mixed search's least-weight network, where it is not the chosen one
LEAST_WEIGHT_BUNDLE = "least_weight_bundle"


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


def _interval(measured: dict) -> str:
    lo, hi = measured.get("accuracy_ci95") or (None, None)
    return "–" if lo is None else f"{lo:.4f}–{hi:.4f} (Wilson)"


def _margin_lines(result: dict) -> list[str]:
    """A warning when the target lies inside the measured accuracy's 95 % interval: the
    test split is too small to tell this network from one just below the target."""
    lo, _ = result["measured"].get("accuracy_ci95") or (None, None)
    if lo is None or lo >= result["target_acc"]:
        return []
    return ["", f"The target {result['target_acc']} lies inside the measured accuracy's 95 % "
            f"interval ({_interval(result['measured'])}): on another test split of "
            f"{result['measured']['test_images']} images this network could measure below "
            "it. Aim the target higher for a margin, or test on more images."]


def _on_val(result: dict) -> bool:
    """Whether the search chose on held-out training images (``--val``)."""
    return result.get("selected_on") == "val"


def _split_name(result: dict) -> str:
    return "validation" if _on_val(result) else "test"


def _mixed(x: dict) -> bool:
    """Whether a sample or design is outside the uniform family: per-layer widths that
    differ, or a width scale per stage (`search.mixed.Point.uniform`)."""
    return ("bits" in x and len(set(normal_widths(x["bits"]))) > 1
            or isinstance(x.get("s"), list))


def _label(x: dict) -> str:
    if _mixed(x):
        return f"{format_widths(x['bits'], '/')} s{format_scale(x['s'], '/')}"
    return f"q{x['q']} s{format_scale(x['s'], '/')}"


def plot_pareto(result: dict, path: Path) -> None:
    """Accuracy × energy of every trained network, uniform and mixed points apart, with
    the Pareto front of all of them, the chosen design and the target; the accuracy is the
    one the search chose on (validation with ``--val``, then the chosen network's test
    accuracy is marked too)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = [dict(x, accuracy=selection_accuracy(x)) for x in result["samples"]
               if x["energy_uj"] and x["accuracy"] is not None]
    mixed = [x for x in samples if _mixed(x)]
    uniform = [x for x in samples if x not in mixed]
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    sc = ax.scatter([x["energy_uj"] for x in uniform], [x["accuracy"] for x in uniform],
                    c=[x["q"] for x in uniform], cmap="viridis", vmin=1, vmax=8,
                    label="uniform q (colour: q)")
    if mixed:
        ax.scatter([x["energy_uj"] for x in mixed], [x["accuracy"] for x in mixed],
                   c=[x["q"] for x in mixed], cmap="viridis", vmin=1, vmax=8, marker="^",
                   edgecolors="k", linewidths=0.4, label="per-layer widths (colour: widest)")
    pts = [(x["energy_uj"], x["accuracy"]) for x in samples]
    front = pareto_front(pts)
    ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "k--", lw=1,
            label="Pareto front (all trained networks)")
    chosen, measured = result["chosen"], result["measured"]
    name = (format_widths(chosen["bits"], "/") if "bits" in chosen
            else f"q={chosen['q']}")
    chosen_y = selection_accuracy(chosen) if _on_val(result) else measured["accuracy"]
    ax.scatter([measured["energy_uj"]], [chosen_y], marker="*", s=220,
               c="red", zorder=5, label=f"chosen {name} s={format_scale(chosen['s'], '/')} "
               f"({'validation' if _on_val(result) else 'measured'})")
    if _on_val(result):  # what the chosen network measures on the test split
        ax.scatter([measured["energy_uj"]], [measured["accuracy"]], marker="x", s=80,
                   c="red", label="chosen, test accuracy", zorder=5)
    ax.axhline(result["target_acc"], color="red", lw=0.8, ls=":", label="target accuracy")
    ax.set_xscale("log")
    ax.set_xlabel("energy per inference (µJ, best (P, M) on the board)")
    ax.set_ylabel("integer validation accuracy (held-out training images)" if _on_val(result)
                  else "integer test accuracy")
    shown = [x["accuracy"] for x in samples] + [measured["accuracy"]]
    ax.set_ylim(max(min(shown), result["target_acc"] - 0.1), max(shown) + 0.005)
    fig.colorbar(sc, label="q (bits)")
    legend = ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    # the front's networks first, then the uniform ones; mixed ones off the front unlabelled
    order = front + [i for i, x in enumerate(samples) if i not in front and not _mixed(x)]
    stars = [(measured["energy_uj"], y) for y in sorted({chosen_y, measured["accuracy"]})]
    place_labels(fig, ax, [(pts[i], _label(samples[i])) for i in order],
                 [(xy, 3.5) for xy in pts] + [(xy, 8) for xy in stars], [legend])
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _regressor_lines(result: dict) -> list[str]:
    r = result["regressors"]
    if result["strategy"] == "mixed":
        return ["Strategy: mixed precision, Optuna TPE over one width per layer and s, two "
                "objectives, energy and weight bits (every trial trained; both exact at the "
                "best (P, M)); chosen: the least energy."]
    if r["accuracy"]["degree"] is None:
        return ["Strategy: Bayesian optimisation (no regressors; every trial trained)."]
    return [
        f"Accuracy regressor: degree {r['accuracy']['degree']} in ({r['accuracy']['features']}),"
        f" LOO RMSE {r['accuracy']['loo_rmse']:.4f}.  ",
        "Energy: no regressor; the cycle, resource and energy models evaluated at every "
        "⟨q, s⟩ (exact).",
    ]


def _rtl_line(m: dict) -> str:
    rtl = m["rtl"]
    if not rtl["run"]:
        return f"RTL check **not run**: {rtl['reason']}."
    return (f"RTL (Verilator, {rtl['images']} test images): {rtl['mismatches']} mismatching "
            f"logits; cycles {rtl['cycles']:,} "
            f"{'= the cycle model' if rtl['cycles_match_model'] else '≠ the cycle model'}.")


def _chosen_line(result: dict) -> str:
    c = result["chosen"]
    scale = format_scale(c["s"], "/")
    if "bits" in c:
        layers = ", ".join(f"{name} {format_widths([b])}" for name, b in c["layers"].items())
        kind = "per-layer widths" if c["mixed"] else "uniform widths (no mixed trial was better)"
        return (f"Chosen: **{kind} {layers}; s = {scale}, P = {c['pe']}, M = {c['mult']}**"
                f" on {result['board']}.")
    return f"Chosen: **q = {c['q']}, s = {scale}, P = {c['pe']}, M = {c['mult']}** on " \
           f"{result['board']}."


def _least_weight_lines(result: dict) -> list[str]:
    """The mixed search's least-weight design, when it is not the chosen one."""
    lean = result.get("least_weight")
    if not lean or (lean["bits"], lean["s"]) == (result["chosen"]["bits"],
                                                 result["chosen"]["s"]):
        return []
    m = lean["measured"]
    val = (f"validation accuracy {lean['val_accuracy']:.4f}, " if "val_accuracy" in lean
           else "")
    return ["", f"Least weight memory: widths {format_widths(lean['bits'])}, "
            f"s = {format_scale(lean['s'], '/')}, P = {lean['pe']}, M = {lean['mult']}: "
            f"{m['weight_bits']:,} "
            f"weight bits, {val}test accuracy {m['accuracy']:.4f}, {m['energy_uj']:.4f} µJ "
            f"(measured; its bundle: `{LEAST_WEIGHT_BUNDLE}/`)."]


def _acc(value) -> str:
    return "–" if value is None else f"{value:.4f}"


def _sample_rows(result: dict) -> list[str]:
    val = _on_val(result)
    lines = ["| widths | s | source | " + ("val accuracy (chosen on) | " if val else "")
             + "test accuracy | energy µJ | P | M | weight bits |",
             "|---|---|---|---|---|---|---|---|" + ("---|" if val else "")]
    for x in sorted(result["samples"], key=lambda x: (x["energy_uj"] is None,
                                                      x["energy_uj"] or 0)):
        e = f"{x['energy_uj']:.4f}" if x["energy_uj"] else "does not fit"
        acc = (f"{_acc(x.get('val_accuracy'))} | " if val else "") + _acc(x["accuracy"])
        widths = format_widths(x["bits"]) if "bits" in x else f"q={x['q']}"
        scale = format_scale(x["s"], "/")
        lines.append(f"| {widths} | {scale} | {x.get('source', 'sample')} | {acc} | {e} | "
                     f"{x['pe']} | {x['mult']} | {x.get('weight_bits') or '–'} |")
    return lines


def _split_line(result: dict) -> str:
    """On which images the search chose, and so how far its reported accuracy is biased."""
    if _on_val(result):
        return (f"Chosen on the validation accuracy: the last {result['val_images']} "
                f"training images, held out of every training (`--val`); the test accuracy "
                f"was not used to choose.")
    return ("Chosen on the test accuracy (no validation split, `--val 0`): the measured "
            "accuracy is the one the choice was made on, so it favours lucky networks; "
            "`--val N` chooses on held-out training images instead.")


def _accuracy_rows(result: dict) -> list[str]:
    """The accuracy rows of the predicted / measured table: the split the search chose on
    (predicted and measured), then the test split."""
    p, m = result["predicted"], result["measured"]
    rows = []
    if _on_val(result):
        rows.append(f"| validation accuracy, chosen on | {p['accuracy']:.4f} | "
                    f"{result['chosen']['val_accuracy']:.4f} ({result['val_images']} "
                    "held-out training images) |")
        rows.append(f"| test accuracy | | {m['accuracy']:.4f} ({m['test_images']} test "
                    "images) |")
    else:
        rows.append(f"| test accuracy, chosen on | {p['accuracy']:.4f} | {m['accuracy']:.4f} "
                    f"({m['test_images']} test images) |")
    return rows + [f"| test accuracy, 95 % interval | | {_interval(m)} |"]


def write_search(result: dict, net, out: Path, least_weight=None) -> None:
    """``search.json``, ``pareto.png``, ``search.md`` and the chosen network's bundle
    (``bundle/``) into ``out``; the mixed search's least-weight network, where it is
    another, in `LEAST_WEIGHT_BUNDLE`."""
    from intnet.bundle import save_bundle

    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps(result, indent=1) + "\n")
    plot_pareto(result, out / "pareto.png")
    save_bundle(net, out / "bundle")
    if least_weight is not None:
        save_bundle(least_weight, out / LEAST_WEIGHT_BUNDLE)
    p, m = result["predicted"], result["measured"]
    lines = [
        f"# QS-NAS search: {result['arch']} on {result['dataset']}, target accuracy "
        f"{result['target_acc']}",
        "",
        _chosen_line(result),
        "",
        "| | predicted | measured |",
        "|---|---|---|",
        *_accuracy_rows(result),
        f"| energy (µJ/inference) | {p['energy_uj']:.4f} | {m['energy_uj']:.4f} |",
        "",
        _split_line(result),
        "",
        _rtl_line(m),
        *_margin_lines(result),
        *_least_weight_lines(result),
        "",
        *_regressor_lines(result),
        "",
        "![Pareto](pareto.png)",
        "",
        "## Trained networks",
        "",
        *_sample_rows(result),
    ]
    tried = result.get("candidates_tried") or []
    if tried:
        lines += ["", "## Points the walk trained", ""]
        split = _split_name(result)
        for t in tried:
            test = f", test {t['accuracy']:.4f}" if _on_val(result) else ""
            lines.append(f"- q={t['q']} s={format_scale(t['s'], '/')}: {t['energy_uj']:.4f} µJ, "
                         f"predicted "
                         f"{t['predicted_accuracy']:.4f} {split}, measured "
                         f"{selection_accuracy(t):.4f} {split}{test}")
    (out / "search.md").write_text("\n".join(lines) + "\n")
