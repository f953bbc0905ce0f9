"""``report.json`` (keys fixed by ARCHITECTURE.md) and ``report.md`` with a per-layer plot."""

from __future__ import annotations

import json

from boards import RESOURCE_KEYS
from codegen.render import render
from intnet.arch import scale_json
from search.design import guidelines


def report_dict(state, cfg) -> dict:
    board = state.board
    # The clock the design runs at: the PLL output that passed timing where the open flow
    # ran, else the board's oscillator; the energy model used the same.
    clock_mhz = float(state.clock.get("clock_mhz") or board.clock_mhz)
    cycles = state.cycles
    metrics = state.metrics
    return {
        "q": cfg.q,
        "s": scale_json(cfg.s),
        "arch": cfg.arch,
        "dataset": cfg.dataset,
        "board": board.name,
        "pe": state.pe,
        "mult": state.mult,
        "lane_bits": cfg.lanes,
        "accuracy": {
            "float": metrics.get("float_acc"),
            "quant_sw": metrics.get("integer_acc"),
            "fake_quant": metrics.get("fake_quant_acc"),
            "quant_sw_images": metrics.get("test_images"),
            "hw_sim": state.verification.get("accuracy"),
            "hw_sim_images": state.verification.get("images"),
        },
        "hw_matches_golden": {
            "images": state.verification.get("images"),
            "mismatches": state.verification.get("mismatches"),
        },
        "hls_matches_golden": state.hls,
        # the synthesized netlist's simulation (--netlist-sim), when it ran
        **({"netlist_matches_golden": state.netlist} if state.netlist else {}),
        "cycles": {
            "per_inference": cycles["cycles"],
            "mac_ops": cycles["mac_ops"],
            "physical_bound": cycles["physical_bound"],
            "ratio": round(cycles["cycles"] / max(1, cycles["physical_bound"]), 4),
            "layers": [{k: v for k, v in layer.items() if k != "events"}
                       for layer in cycles["layers"]],
        },
        "clock_mhz": clock_mhz,
        "clock": dict(state.clock) or {"clock_mhz": clock_mhz, "source": "oscillator"},
        "fmax_mhz": state.fmax_mhz,
        "mult_impl": state.impl["mult_impl"],  # lane multipliers: "lut" (shift-add), "dsp" (`*`)
        # each weight word fed to two pixels in pooled conv passes (`hw.plan.reuses_weights`)
        "weight_reuse": state.impl["weight_reuse"],
        "latency_us": round(cycles["cycles"] / clock_mhz, 3),
        "energy": {
            "per_inference_uj": state.energy["total_uj"],
            "compute_lower_bound_uj": state.energy.get("compute_lb_uj"),
            "breakdown": state.energy["breakdown_uj"],
        },
        "resources": {k: state.resources[k] for k in RESOURCE_KEYS},
        "resources_source": state.resources.get("source"),
        # which build of each tool produced `resources` (native, or YoWASP from PyPI)
        "resources_tools": state.resources.get("tools"),
        "logic_depth": state.resources.get("logic_depth"),
        "resources_estimate": {k: state.estimate[k] for k in RESOURCE_KEYS
                               if k in state.estimate},
        "capacity": board.capacity.as_dict(),
        "fits": not board.capacity.exceeded(state.resources),
        "files": {k: list(v) for k, v in sorted(state.files.items())},
        "timings_s": state.timings,
    }


def plot_layers(report: dict, path) -> None:
    """Per layer: cycles against the physical bound, and energy per inference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [layer for layer in report["cycles"]["layers"] if layer["cycles"]]
    names = [layer["name"] for layer in layers]
    x = list(range(len(names)))
    fig, (ax, ax_e) = plt.subplots(1, 2, figsize=(max(8.0, 1.2 * len(names) + 3), 3.8))
    ax.bar([i - 0.2 for i in x], [layer["cycles"] for layer in layers], 0.4, label="cycles")
    ax.bar([i + 0.2 for i in x], [layer["physical_bound"] for layer in layers], 0.4,
           label="physical bound ⌈MACs/(P·M)⌉")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("cycles per inference")
    # headroom above the tallest bar for the legend, so that it covers no bar
    tallest = max([max(layer["cycles"], layer["physical_bound"]) for layer in layers],
                  default=1)
    ax.set_ylim(0, 1.3 * tallest)
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    ax_e.bar(x, [layer["energy_uj"] for layer in layers], 0.6, color="tab:green")
    ax_e.set_xticks(x, names, rotation=45, ha="right")
    ax_e.set_ylabel("energy per inference (µJ)")
    fig.suptitle(f"{report['arch']} q={report['q']} s={report['s']}, P={report['pe']} "
                 f"M={report['mult']}, {report['board']} at {report['clock_mhz']:g} MHz")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def write_report(state, cfg) -> dict:
    report = report_dict(state, cfg)
    (state.root / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    plot_layers(report, state.root / "report_layers.png")
    # the estimate is within the board's guidelines: `step_design` refuses a design above
    limits = ", ".join(f"{round(100 * share)} % {key.upper() if key in RESOURCE_KEYS else key}"
                       for key, share in guidelines(state.board).items())
    (state.root / "report.md").write_text(render("report.md.j2", r=report, limits=limits))
    return report
