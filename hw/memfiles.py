"""BRAM init files: every weight and parameter memory as a ``$readmemh`` ``.mem`` file.

The files carry no comments (``$readmemh`` and Vivado both read them as they are);
``mem_map.json`` beside them says what every file and address range holds.
"""

from __future__ import annotations

import json
from pathlib import Path

from hw.packing import PARAM_BITS, Packed, param_bits
from hw.plan import Plan, ceil_div
from intnet.contract import BIAS_BITS, M_BITS


def mem_width(name: str, plan: Plan) -> int:
    """Word width in bits of the memory file ``name`` (``first_weights_pe*``,
    ``weights_pe*`` or ``params_pe*``)."""
    if name.startswith("first_weights"):
        return plan.first_word_bits
    if name.startswith("weights"):
        return plan.word_bits
    if name.startswith("params"):
        return param_bits(plan)
    raise ValueError(f"{name!r} is not a weight or parameter memory file")


def format_mem(words: list[int], width_bits: int) -> str:
    """One hex word per line, no comments: what ``$readmemh`` and Vivado both accept."""
    digits = max(1, ceil_div(width_bits, 4))
    if not words:
        words = [0]
    return "".join(f"{w:0{digits}x}\n" for w in words)


def write_mem_files(packed: Packed, out_dir) -> dict[str, Path]:
    """Write every weight and parameter memory as a ``.mem`` file plus ``mem_map.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, words in packed.mem_files().items():
        width = mem_width(name, packed.plan)
        path = out / name
        text = format_mem(words, width)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        paths[name] = path
    mem_map = {
        "q": packed.plan.q, "pe_count": packed.plan.pe_count,
        "mults_per_pe": packed.plan.mults_per_pe, "image_lanes": packed.plan.image_lanes,
        "first_weights": {
            "width_bits": packed.plan.first_word_bits, "depth": packed.plan.first_weight_depth,
            "files": [f"first_weights_pe{j}.mem" for j in range(packed.plan.pe_count)],
            "lane_order": "the first pass: lane l in bits [q·l, q·l+q), l = v mod F of "
                          "word v div F, v = (ky·K + kx)·C + c"},
        "weights": {"width_bits": packed.plan.word_bits, "depth": packed.plan.weight_depth,
                    "files": [f"weights_pe{j}.mem" for j in range(packed.plan.pe_count)],
                    "lane_order": "lane l in bits [q·l, q·l+q), l = input channel mod M",
                    "groups": packed.weight_map},
        "params": {"width_bits": param_bits(packed.plan), "depth": packed.plan.group_count,
                   "files": [f"params_pe{j}.mem" for j in range(packed.plan.pe_count)],
                   "fields": {"bias": [0, BIAS_BITS - 1],
                              "m": [BIAS_BITS, BIAS_BITS + M_BITS - 1],
                              "n": [BIAS_BITS + M_BITS, PARAM_BITS - 1]}}
        | ({"second_channel": "a paired group's channel cbase + P + j: the same fields "
                              f"{PARAM_BITS} bits higher"} if packed.plan.pairs else {}),
        # written by the image loader at run time (no file): the first pass's input
        "image": {"width_bits": packed.plan.image_word_bits, "depth": packed.plan.image_depth,
                  "lane_order": "lane l in bits [8·l, 8·l+8), l = v mod F of word v div F "
                                "in the output pixel's run, v = (ky·K + kx)·C + c"},
    }
    (out / "mem_map.json").write_text(json.dumps(mem_map, indent=1) + "\n")
    return paths
