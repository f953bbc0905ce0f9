"""Design choice: which P × M array runs a network at the least energy on a board.

`evaluate` prices one ⟨network, q, P, M⟩ point with the exact cycle model, the resource
estimate and the energy model (shapes only, milliseconds); `best_design` picks the
least-energy pair that fits the board among `ARRAY_SIZES`, "fits" meaning within the
`UTILIZATION_GUIDELINES` share of every resource. ``codegen build``, ``sim sweep`` and
the search all choose with these, from the same candidate list.
"""

from __future__ import annotations

from functools import lru_cache

from boards import DEFAULT_BOARD, Board, get_board
from hw.arith import MULT_IMPLS
from intnet.contract import accumulator_bits
from sim.cycles import cycle_model
from sim.energy import BREAKDOWN_KEYS, energy_per_inference
from sim.resources import estimate_resources, mult_in_dsp, plan_facts

__all__ = ["ARRAY_SIZES", "UTILIZATION_GUIDELINES", "IMPL_KEYS", "DesignDoesNotFit", "evaluate",
           "guidelines", "impl_of", "logic_cells", "over_guidelines", "layer_energies",
           "best_design", "rank"]

# The P and M candidates wherever the tool chooses an array by itself: powers of two and
# 24, which divides the channel counts of the width-scaled family at s = 1.5 and 3.
ARRAY_SIZES = (1, 2, 4, 8, 16, 24, 32)

# A design "fits" a board when its estimate stays within these shares of the device:
# the "Design Characteristics" guidelines of Vivado's report_failfast (UG949, UltraFast
# Design Methodology; UG1399 "Fail Fast": above them a design is difficult to place,
# route and close timing on), headroom the ±30 % estimate needs anyway.
UTILIZATION_GUIDELINES = {"lut": 0.70, "ff": 0.50, "dsp": 0.80, "bram36": 0.80}

# The iCE40's logic cell holds one LUT4 and one flip-flop, and nextpnr packs a LUT with
# the flip-flop it drives: the FF share above is a rule for Xilinx slices (control sets),
# not for it. There the LUT and FF lines give way to one on logic cells: an estimate of
# PACKING × (LUT + FF) cells, at most LOGIC_CELL_SHARE of the device. nextpnr-ice40 placed
# 0.72-0.84 × (LUT + FF) of the estimate in six builds (digits; P 1 with M 2, 8, 16 at q 2
# s 0.25, M 16 at q 2 s 0.5, M 8 at q 3 s 0.5, and P 2 M 8 at q 2 s 0.25: 3,035 to 4,365
# cells, all routed at 33.75-39.75 MHz); docs/energy.md.
LOGIC_CELL_FAMILIES = frozenset({"ice40"})
LOGIC_CELL_PACKING = 0.85
LOGIC_CELL_SHARE = 0.90


def logic_cells(used: dict) -> float | None:
    """The logic cells (one LUT4 + one FF each) that ``used``'s LUTs and FFs take."""
    lut, ff = used.get("lut"), used.get("ff")
    if lut is None or ff is None:
        return None
    return max(lut, ff, LOGIC_CELL_PACKING * (lut + ff))


def guidelines(board: Board) -> dict[str, float]:
    """The utilisation guidelines that hold on ``board``: resource → largest share of the
    device, `UTILIZATION_GUIDELINES`, with ``"logic cells"`` (`LOGIC_CELL_SHARE` of the
    LUTs) in place of the LUT and FF lines on `LOGIC_CELL_FAMILIES`."""
    if board.family not in LOGIC_CELL_FAMILIES:
        return dict(UTILIZATION_GUIDELINES)
    return {k: v for k, v in UTILIZATION_GUIDELINES.items() if k not in ("lut", "ff")} \
        | {"logic cells": LOGIC_CELL_SHARE}


def over_guidelines(used: dict, board: Board) -> list[str]:
    """One ``"lut 17852 > 14560 (70 % of 20800)"``-style line per resource of ``used``
    above its `guidelines` share of ``board``; empty when the design fits."""
    cap = board.capacity.as_dict()
    lines = []
    for key, share in guidelines(board).items():
        if key == "logic cells":
            lc, limit = logic_cells(used), share * cap["lut"]
            if lc is not None and lc > limit:
                lines.append(f"logic cells {lc:.0f} > {limit:g} ({share:.0%} of {cap['lut']:g})")
        elif used.get(key) is not None and used[key] > share * cap[key]:
            lines.append(f"{key} {used[key]:g} > {share * cap[key]:g} ({share:.0%} of "
                         f"{cap[key]:g})")
    return lines


class DesignDoesNotFit(ValueError):
    """No (P, M) pair of the lists fits the board; the message gives the numbers."""


# How the generator builds a chosen design besides P and M (`hw.top.Accelerator`'s
# keyword arguments): every `evaluate` row holds them, `impl_of` hands them on.
IMPL_KEYS = ("mult_impl", "weight_reuse")


def impl_of(row: dict) -> dict:
    """The generator's options of the design ``row`` (an `evaluate` row), as keywords of
    `hw.top.Accelerator`, `sim.rtl.run_rtl`, `evaluate` and `layer_energies`."""
    return {key: row[key] for key in IMPL_KEYS}


@lru_cache(maxsize=8192)
def _cycle_model(layers: tuple, q: int, pe: int, mult: int, weight_reuse: bool) -> dict:
    return cycle_model(list(layers), q, pe, mult, weight_reuse)


def evaluate(layers, q: int, pe: int, mult: int, board: Board | str = DEFAULT_BOARD,
             clock_mhz: float | None = None, mult_impl: str = "auto",
             weight_reuse: bool | str = "auto") -> dict:
    """Cycle, resource and energy figures of one design point.

    Parameters
    ----------
    layers : sequence of LayerSpec
        The network (shapes only), e.g. `intnet.arch.network_specs`.
    q, pe, mult : int
        Bit width, PE count P and multipliers per PE M.
    board : Board or str
    clock_mhz : float, optional
        Defaults to the board's design clock (`boards.Board.design_clock_mhz`: the
        oscillator on Vivado boards, the family's measured PLL clock on open-flow ones).
    mult_impl : {"auto", "lut", "dsp"}
        The lane multipliers the generator writes (`sim.resources.estimate_resources`):
        shift-add in LUTs (``"lut"``) or ``*`` in DSP slices (``"dsp"``). ``"auto"``
        prices both and keeps the one that fits at the least energy (the row's
        ``mult_impl`` says which; ``codegen`` builds that).
    weight_reuse : bool or "auto"
        Whether the passes that can (`hw.plan.reuses_weights`) feed each weight word to
        two pixels: fewer weight reads for a second accumulator per PE. ``"auto"`` prices
        both where some pass can, and keeps the one that fits at the least energy (ties
        go to the design without it: it is smaller).

    Returns
    -------
    dict
        One sweep row (keys of `COLUMNS` except ``s``, ``arch``, ``dataset``, ``best``),
        plus ``breakdown_uj`` and ``over`` (the exceeded capacities, as text).
    """
    board = get_board(board)
    layers = tuple(layers)
    if mult_impl == "auto":
        # "dsp" differs only where a lane's product is wide enough for a DSP slice
        impls = MULT_IMPLS if mult_in_dsp(q, board.family) else ("lut",)
    elif mult_impl in MULT_IMPLS:
        impls = (mult_impl,)
    else:
        raise ValueError(f"mult_impl must be one of auto, {', '.join(MULT_IMPLS)}, "
                         f"not {mult_impl!r}")
    if weight_reuse == "auto":
        # reuse differs only where some pass can reuse (the plan says so)
        reuses = (False, True) if _cycle_model(layers, q, pe, mult, True)["weight_reuse"] \
            else (False,)
    elif isinstance(weight_reuse, bool):
        reuses = (weight_reuse,)
    else:
        raise ValueError(f"weight_reuse must be True, False or auto, not {weight_reuse!r}")
    rows = [_evaluate(layers, q, pe, mult, board, clock_mhz, impl, reuse)
            for impl in impls for reuse in reuses]
    return min(rows, key=lambda r: (not r["fits"], r["energy_uj"], r["mult_impl"] != "lut",
                                    r["weight_reuse"]))


def _resources(layers: tuple, cm: dict, q: int, pe: int, mult: int, board: Board,
               mult_impl: str):
    # the cycle model's plan says which hardware exists: split lanes, pairs, reuse,
    # pixel-parallel passes
    return estimate_resources(cm["memories"], q, pe, mult, board,
                              acc_bits=accumulator_bits(layers, q), mult_impl=mult_impl,
                              num_classes=layers[-1].out_shape[0], **plan_facts(cm))


def layer_energies(layers, q: int, pe: int, mult: int, board: Board | str = DEFAULT_BOARD,
                   clock_mhz: float | None = None, mult_impl: str = "lut",
                   weight_reuse: bool = False) -> dict[str, float]:
    """Energy (µJ) of each layer of one design point: the same model as `evaluate` on
    each layer's own event counts (static power over the layer's own cycles)."""
    board, layers = get_board(board), tuple(layers)
    cm = _cycle_model(layers, q, pe, mult, weight_reuse)
    res = _resources(layers, cm, q, pe, mult, board, mult_impl)
    acc = accumulator_bits(layers, q)
    return {layer["name"]: (energy_per_inference(layer["events"], cm["memories"], q, pe, mult,
                                                 board, clock_mhz=clock_mhz, acc_bits=acc,
                                                 resources=res)["energy_uj"]
                            if layer["events"]["cycles"] else 0.0)
            for layer in cm["layers"]}


def _evaluate(layers: tuple, q: int, pe: int, mult: int, board: Board,
              clock_mhz: float | None, mult_impl: str, weight_reuse: bool) -> dict:
    cm = _cycle_model(layers, q, pe, mult, weight_reuse)
    acc = accumulator_bits(layers, q)
    res = _resources(layers, cm, q, pe, mult, board, mult_impl)
    en = energy_per_inference(cm["events"], cm["memories"], q, pe, mult, board,
                              clock_mhz=clock_mhz, acc_bits=acc, resources=res)
    over = over_guidelines(res.as_dict(), board)
    row = {
        "q": q, "pe": pe, "mult": mult, "cycles": int(cm["cycles"]),
        "physical_bound": int(cm["physical_bound"]), "energy_uj": en["energy_uj"],
        "bram36": res.bram36, "dsp": res.dsp, "fits": not over, "lut": res.lut,
        "ff": res.ff, "mac_ops": int(cm["mac_ops"]),
        "bound_ratio": cm["cycles"] / cm["physical_bound"] if cm["physical_bound"] else 1.0,
        "latency_us": en["latency_us"], "clock_mhz": en["clock_mhz"],
        "compute_lb_uj": en["compute_lb_uj"], "overhead_ratio": en["overhead_ratio"],
        "pj_per_mac": en["pj_per_mac"], "mult_impl": mult_impl,
        "weight_reuse": bool(cm["weight_reuse"]),
        "board": board.name, "breakdown_uj": en["breakdown_uj"], "over": over,
        "acc_bits": acc,
    }
    for k in BREAKDOWN_KEYS:
        row[f"e_{k}_uj"] = en["breakdown_uj"][k]
    return row


def rank(row: dict) -> tuple:
    # Least energy; then fewer cycles; then the smaller array.
    return (row["energy_uj"], row["cycles"], row["pe"] * row["mult"], row["pe"])


def best_design(layers, q: int, board: Board | str = DEFAULT_BOARD,
                pe_list=ARRAY_SIZES, mult_list=ARRAY_SIZES,
                clock_mhz: float | None = None, weight_reuse: bool | str = "auto") -> dict:
    """The most energy-efficient (P, M) for ``layers`` at ``q`` that fits ``board``.

    Returns the `evaluate` row of that pair (``weight_reuse`` as `evaluate` takes it).
    Ties in energy go to fewer cycles, then to the smaller array.

    Raises
    ------
    DesignDoesNotFit
        When no pair fits; the message names the smallest pair's usage and capacity.
    """
    board = get_board(board)
    rows = [evaluate(layers, q, p, m, board, clock_mhz, weight_reuse=weight_reuse)
            for p in pe_list for m in mult_list]
    if not rows:
        raise ValueError("pe_list and mult_list must not be empty")
    fitting = [r for r in rows if r["fits"]]
    if fitting:
        return min(fitting, key=rank)
    small = min(rows, key=lambda r: (r["bram36"], r["dsp"], r["lut"]))
    raise DesignDoesNotFit(
        f"no (P, M) in P={list(pe_list)} × M={list(mult_list)} fits {board.name} at q={q}; "
        f"the smallest, P={small['pe']} M={small['mult']}, needs "
        f"{'; '.join(small['over'])} (lut {small['lut']}, ff {small['ff']}, "
        f"dsp {small['dsp']}, bram36 {small['bram36']:g})")
