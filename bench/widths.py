"""Per-layer widths on one array: the same network at uniform 8, uniform 2 and mixed
widths on the same 8-bit lanes (P × M), per layer: cycles (the cycle model, equal to the
RTL's), lane split, output-channel pairing and energy; per design: cycles, energy,
BRAM36 and LUT estimates."""

from __future__ import annotations

from intnet.arch import network_specs, with_widths
from search.design import evaluate, layer_energies
from sim.cycles import cycle_model


def measure(arch: str, s: float, lane_bits: int, pe: int, mult: int, designs: dict,
            board: str = "arty_a7_35") -> dict:
    """``designs``: label → bits (a uniform width or one per weighted layer)."""
    specs = network_specs(arch, s, (28, 28, 1), 10)
    rows = []
    for label, bits in designs.items():
        staged = with_widths(specs, bits)
        cm = cycle_model(staged, lane_bits, pe, mult)
        # the array as built for widths alone: no weight reuse, as `cm`
        row = evaluate(staged, lane_bits, pe, mult, board, mult_impl="lut", weight_reuse=False)
        energy = layer_energies(staged, lane_bits, pe, mult, board, mult_impl="lut")
        rows.append({
            "label": label, "bits": bits, "cycles": cm["cycles"],
            "energy_uj": row["energy_uj"], "bram36": row["bram36"], "lut": row["lut"],
            "layers": [{"name": layer["name"], "w_bits": layer["w_bits"],
                        "in_bits": layer["in_bits"], "lane_split": layer["lane_split"],
                        "paired": bool(layer.get("channel_pairs")),
                        "cycles": layer["cycles"], "energy_uj": energy[layer["name"]]}
                       for layer in cm["layers"] if layer["cycles"]]})
    return {"arch": arch, "s": s, "lane_bits": lane_bits, "pe": pe, "mult": mult,
            "board": board, "rows": rows}
