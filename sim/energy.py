"""Energy per inference from the cycle model's event counts.

``E = Σ_events count · E_event(q, width) + P_static · cycles / f_clk``
(ARCHITECTURE.md, "Energy model"). The per-event energies start from Horowitz's 45 nm
figures and are carried to the board's FPGA by two stated factors:

``E_fpga = E_45nm · T(node, V) · F``

- ``T = (node / 45 nm) · (V / 0.9 V)²``: first-order CMOS scaling (switched
  capacitance ∝ feature size, energy ∝ C·V²) from Horowitz's 45 nm / 0.9 V to the
  device's node and core voltage.
- ``F``: the FPGA-over-ASIC dynamic-energy gap. ``F_SOFT = 14`` for LUT/carry/FF
  logic (Kuon & Rose 2007); ``F_HARD = 4`` for hard DSP and block-RAM macros (an
  assumption: Kuon & Rose find the gap "generally becomes smaller" with hard blocks
  without a single figure).

All constants, their sources and the comparison with BrainTTA are in ``docs/energy.md``.
Energies are in pJ internally and µJ in the result.
"""

from __future__ import annotations

import math

from boards import Board, get_board, get_family
from intnet.contract import INPUT_BITS, M_BITS
from sim.cycles import SPLIT_EVENTS
from sim.resources import (
    Resources,
    adder_tree,
    estimate_resources,
    map_memory,
)
from sim.sram import sram_pj

__all__ = [
    "BREAKDOWN_KEYS", "tech_factor", "add_pj", "mult_pj", "dsp_pj", "sram_pj",
    "memory_access_pj", "energy_per_inference",
]

# --- Horowitz, "Computing's energy problem (and what we can do about it)",
# --- ISSCC 2014, pp. 10-14, 45 nm, 0.9 V. Integer operations and SRAM reads.
H_ADD8_PJ = 0.03  # 8-bit integer add
H_ADD32_PJ = 0.1  # 32-bit integer add
H_MULT8_PJ = 0.2  # 8-bit integer multiply
H_MULT32_PJ = 3.1  # 32-bit integer multiply
H_NODE_NM, H_VDD = 45.0, 0.9

# Multiply energy grows as bits^k; k fitted to Horowitz's two points (≈ 1.98, i.e. the
# quadratic growth of an array multiplier's partial products).
MULT_EXPONENT = math.log(H_MULT32_PJ / H_MULT8_PJ) / math.log(32 / 8)

# --- FPGA / ASIC dynamic-energy gap.
# Kuon & Rose, "Measuring the gap between FPGAs and ASICs", IEEE TCAD 26(2):203-215,
# 2007 (90 nm): dynamic power ratio ≈ 14 for LUT-and-FF logic.
F_SOFT = 14.0
# Hard DSP and block-RAM macros: the same paper reports the gap "generally becomes
# smaller" with hard blocks; 4 is our assumption (a calibration point, see docs).
F_HARD = 4.0

# XPE "Using the DSP Sheet" (UG440): a 12 × 12 use of the DSP draws ≈ 0.8 of the
# 27 × 18 (full-width) power, 18 × 18 ≈ 0.86: a narrow multiply saves little in a DSP.
DSP_NARROW_SCALE = 0.8

# Per-bit energy of a LUT-RAM read or a flip-flop clocked with its enable high: one
# bit of Horowitz's 8-bit add (0.03/8 pJ), as soft logic. Assumption (a DFF and a
# full-adder bit switch comparable capacitance); the clock-tree share is folded in.
SOFT_BIT_PJ_45 = H_ADD8_PJ / 8

BREAKDOWN_KEYS = ("mult", "add", "acc", "requant", "weight_bram", "act_bram", "param",
                  "control", "static")


def tech_factor(family: str) -> float:
    """``T = (node/45 nm)·(V/0.9 V)²`` for a device family (``xc7`` → 0.768); the node and
    core voltage are the family's (`boards.get_family`)."""
    fam = get_family(family)
    return (fam.node_nm / H_NODE_NM) * (fam.core_volts / H_VDD) ** 2


def add_pj(bits: float, family: str = "xc7") -> float:
    """Energy (pJ) of one ``bits``-wide add in FPGA carry-chain logic.

    Linear through Horowitz's 8-bit (0.03 pJ) and 32-bit (0.1 pJ) adds (below 8 bits:
    proportional to the 8-bit figure), times T·F_SOFT.
    """
    if bits < 8:
        e45 = H_ADD8_PJ * bits / 8
    else:
        e45 = H_ADD8_PJ + (H_ADD32_PJ - H_ADD8_PJ) / (32 - 8) * (bits - 8)
    return e45 * tech_factor(family) * F_SOFT


def _mult45(bits: float) -> float:
    return H_MULT8_PJ * (bits / 8) ** MULT_EXPONENT


def mult_pj(q: int, family: str = "xc7", in_dsp: bool = False,
            dsp_bits: tuple[int, int] = (25, 18), act_bits: int | None = None) -> float:
    """Energy (pJ) of one q-bit weight × ``act_bits``-bit (default q) multiply, in LUTs
    or in a DSP slice.

    LUT: Horowitz's multiply scaled to the geometric mean of the operand widths
    (``0.2 pJ·(√(q·a)/8)^1.98``: an array multiplier's partial products grow as q·a)
    × T × F_SOFT. DSP: the slice's full-width multiply (geometric mean of its port
    widths) × T × F_HARD × 0.8 (XPE: narrow operands save ≈ 20 %), independent of q.
    """
    if in_dsp:
        return dsp_pj(family, dsp_bits) * DSP_NARROW_SCALE
    bits = q if act_bits is None else math.sqrt(q * act_bits)
    return _mult45(bits) * tech_factor(family) * F_SOFT


def dsp_pj(family: str = "xc7", dsp_bits: tuple[int, int] = (25, 18)) -> float:
    """Energy (pJ) of one full-width DSP-slice multiply."""
    return _mult45(math.sqrt(dsp_bits[0] * dsp_bits[1])) * tech_factor(family) * F_HARD


def memory_access_pj(width_bits: int, depth: int, family: str = "xc7",
                     bits_accessed: int | None = None) -> float:
    """Energy (pJ) of one read or write of a ``width_bits``-wide word of a memory.

    Block RAM: the primitives one access enables (one per column of the mapping,
    `sim.resources.map_memory`), each a Horowitz SRAM access of the primitive's size
    and port width, × T × F_HARD. LUT RAM / flip-flops: ``width_bits`` soft bits.
    Writes are taken equal to reads (Horowitz gives reads only). ``bits_accessed``
    prices a write of only that many lane-enabled bits (byte-write enables): the columns
    holding them, those bits toggling.
    """
    mp = map_memory(width_bits, depth, family)
    t = tech_factor(family)
    bits = width_bits if bits_accessed is None else min(int(bits_accessed), width_bits)
    if mp.kind != "bram":
        return bits * SOFT_BIT_PJ_45 * t * F_SOFT
    prim_bytes = mp.port_width * mp.prim_depth / 8
    columns = math.ceil(bits / mp.port_width)
    # Only the bits this word uses toggle in the last column.
    return columns * sram_pj(prim_bytes, min(mp.port_width, bits)) * t * F_HARD


def _mean_access_pj(memories, kind: str, word_bits: int, family: str) -> float:
    """Instance-weighted mean access energy over the memories of ``kind``."""
    total = count = 0
    for mem in memories:
        if mem.get("kind") == kind and int(mem["width_bits"]) > 0 and int(mem["depth"]) > 0:
            n = int(mem.get("instances", 1))
            total += n * memory_access_pj(int(mem["width_bits"]), int(mem["depth"]), family)
            count += n
    if count:
        return total / count
    # No such memory listed: a 512-deep word of the event's width.
    return memory_access_pj(max(int(word_bits), 1), 512, family) if word_bits else 0.0


def _control_pj(ev: dict, resources: Resources, pe_count: int, mults_per_pe: int,
                soft_bit: float) -> float:
    """Control: flip-flops priced on the cycles they take new data (`sim.resources.
    FF_GROUPS`): control every cycle, a PE's lane registers on its busy cycles, its
    first-pass lanes on those of the first pass, the requantizer once per output.
    Registers that hold their value toggle nothing; the clock tree's share is folded into
    the per-bit energy ``soft_bit`` (an assumption, docs/energy.md)."""
    ffs = resources.ff_groups
    # the requant group's flip-flops over the requantizers (k per PE where a depthwise
    # pass reads split words): one requantization loads one requantizer's share
    pes, rqs = max(pe_count, 1), max(1, resources.requantizers or pe_count)
    first_active = ev.get("first_active_pe_cycles", 0)
    return (ev["cycles"] * ffs["always"]
            + (ev.get("active_pe_cycles", 0) - first_active) * ffs["lanes"] / pes
            + first_active * ffs["first"] / pes
            + ev.get("requant_ops", 0) * ffs["requant"] / rqs
            # weight reuse: the rotating accumulator, the sums that wait
            + ev.get("reuse_pe_steps", 0) * ffs.get("reuse", 0) / pes
            + ev.get("held_sums", 0) * ffs.get("held", 0) / pes
            # pixel-parallel passes: the lane accumulators, own operands and read ports on
            # their PE-steps; the serializer and collector per lane requantized (P·M per
            # chunk: one latched sum and staged value each)
            + ev.get("dwp_pe_cycles", 0) * ffs.get("dwp_lanes", 0) / pes
            + ev.get("dwp_requant_ops", 0) * ffs.get("dwp_out", 0)
            / (pes * max(1, mults_per_pe))) * soft_bit


def energy_per_inference(events: dict, memories: list[dict], q: int, pe_count: int,
                         mults_per_pe: int, board: Board | str,
                         clock_mhz: float | None = None, acc_bits: int = 32,
                         resources: Resources | None = None) -> dict:
    """Energy of one inference from the cycle model's ``events`` and ``memories``.

    Parameters
    ----------
    events : dict
        ``sim.cycles.cycle_model(...)["events"]`` (integer counts: ``cycles``,
        ``mac_ops``, ``mult_ops``, ``adder_ops``, ``acc_updates``, ``requant_ops``,
        ``weight_reads``/``weight_word_bits``, ``act_reads``/``act_writes``/
        ``act_word_bits``, ``param_reads``/``param_word_bits``, ``active_pe_cycles``;
        the first pass's ``first_mult_ops`` (q × 8-bit), ``first_mac_ops``,
        ``image_reads``/``image_writes``/``image_word_bits``; where passes run
        pixel-parallel, their ``dwp_pe_cycles`` (PE-steps) and ``dwp_requant_ops``
        (requantized lanes), as the cycle model counts them: they load the ``dwp_lanes``
        and ``dwp_out`` flip-flops, which hold still in every other pass).
    memories : list of dict
        ``cycle_model(...)["memories"]``.
    q, pe_count, mults_per_pe : int
    board : Board or str
    clock_mhz : float, optional
        Design clock; the board's design clock (`boards.Board.design_clock_mhz`: the
        oscillator on Vivado boards, the measured PLL clock on open-flow ones) when omitted.
    acc_bits : int
        Accumulator width (`intnet.contract.accumulator_bits`).
    resources : Resources, optional
        A ready `estimate_resources` result for the same point (saves recomputing it).

    Returns
    -------
    dict
        ``energy_uj`` (total), ``breakdown_uj`` (keys `BREAKDOWN_KEYS`), ``dynamic_uj``,
        ``compute_lb_uj`` (useful MACs × multiply energy: the floor no schedule can beat
        on this multiplier), ``overhead_ratio`` (``energy_uj / compute_lb_uj``),
        ``pj_per_mac``, ``mult_pj``, ``latency_us``, ``clock_mhz``, ``mult_impl``.
    """
    board = get_board(board)
    fam = board.family
    clock_mhz = board.design_clock_mhz if clock_mhz is None else float(clock_mhz)
    if not clock_mhz > 0:
        raise ValueError(f"clock_mhz must be a positive number, not {clock_mhz!r}")
    if resources is None:
        resources = estimate_resources(memories, q, pe_count, mults_per_pe, board, acc_bits)
    t = tech_factor(fam)
    dsp_bits = (board.dsp_a_bits, board.dsp_b_bits)
    main, image = resources.lanes or _default_lanes(q, mults_per_pe)
    # hidden layers: q × q lanes; the first pass: its own q × 8 lanes (whole pixels)
    e_mult = mult_pj(q, fam, main.dsp, dsp_bits, act_bits=main.act_bits)
    e_mult_first = mult_pj(q, fam, image.dsp, dsp_bits, act_bits=image.act_bits)

    ev = {k: int(v) for k, v in events.items() if isinstance(v, int | float)}
    cycles = ev["cycles"]
    _, _, tree_bits = adder_tree(q, main.count, main.act_bits)
    _, _, first_tree_bits = adder_tree(q, image.count, image.act_bits)
    rq_width = acc_bits + M_BITS
    e_requant = dsp_pj(fam, dsp_bits) + add_pj(rq_width, fam) + add_pj(q + 1, fam)

    e_control = _control_pj(ev, resources, pe_count, mults_per_pe, SOFT_BIT_PJ_45 * t * F_SOFT)

    # Split lanes (`hw.pe.split_product`): a lane-step of k products of q//k bits in
    # LUTs and the k − 1 adds that sum them, instead of one q × q product
    split_ops = {k: ev.get(key, 0) for k, key in SPLIT_EVENTS.items()}
    e_split = sum(n * (k * mult_pj(q // k, fam) + (k - 1) * add_pj(2 * (q // k) + 1, fam))
                  for k, n in split_ops.items() if n)
    breakdown = {
        "mult": (ev.get("mult_ops", 0) - sum(split_ops.values())) * e_mult + e_split
        + ev.get("first_mult_ops", 0) * e_mult_first,
        "add": ev.get("adder_ops", 0) * (add_pj(tree_bits, fam) if tree_bits else 0.0)
        + ev.get("first_adder_ops", 0) * (add_pj(first_tree_bits, fam)
                                         if first_tree_bits else 0.0),
        "acc": ev.get("acc_updates", 0) * add_pj(acc_bits, fam),
        "requant": ev.get("requant_ops", 0) * e_requant,
        "weight_bram": ev.get("weight_reads", 0) * _mean_access_pj(
            memories, "weight", ev.get("weight_word_bits", 0), fam)
        + ev.get("first_weight_reads", 0) * _mean_access_pj(
            memories, "first_weight", ev.get("first_weight_word_bits", 0), fam),
        # a buffer replicated for more read ports (pixel-parallel passes) takes every
        # write in each replica
        "act_bram": (ev.get("act_reads", 0) + ev.get("act_writes", 0)
                     + ev.get("act_copy_writes", 0))
        * _mean_access_pj(memories, "act", ev.get("act_word_bits", 0), fam)
        + ev.get("image_reads", 0) * _mean_access_pj(
            memories, "image", ev.get("image_word_bits", 0), fam)
        + ev.get("image_writes", 0) * _image_write_pj(memories, fam),
        "param": ev.get("param_reads", 0) * _mean_access_pj(
            memories, "param", ev.get("param_word_bits", 0), fam),
        "control": e_control,
        "static": board.static_power_w * cycles / (clock_mhz * 1e6) * 1e12,  # J → pJ
    }
    total = sum(breakdown.values())
    mac_ops = ev.get("mac_ops", 0)
    first_macs = ev.get("first_mac_ops", 0)
    lower = (mac_ops - first_macs) * e_mult + first_macs * e_mult_first
    return {
        "energy_uj": total * 1e-6,
        "breakdown_uj": {k: v * 1e-6 for k, v in breakdown.items()},
        "dynamic_uj": (total - breakdown["static"]) * 1e-6,
        "compute_lb_uj": lower * 1e-6,
        "overhead_ratio": total / lower if lower else math.inf,
        "pj_per_mac": total / mac_ops if mac_ops else math.inf,
        "mult_pj": e_mult,
        "latency_us": cycles / clock_mhz,
        "clock_mhz": clock_mhz,
        "mult_impl": "dsp" if resources.mult_dsp else "lut",
        "mult_first_pj": e_mult_first,
    }


def _default_lanes(q: int, mults_per_pe: int):
    """LUT lanes, F = M, for callers that pass no resource estimate's lanes."""
    from sim.resources import Lanes

    return Lanes(mults_per_pe, q, False), Lanes(mults_per_pe, INPUT_BITS, False)


def _image_write_pj(memories, family: str) -> float:
    """One loader write: a single byte lane of the image buffer enabled."""
    for mem in memories:
        if mem.get("kind") == "image" and int(mem["width_bits"]) > 0:
            return memory_access_pj(int(mem["width_bits"]), int(mem["depth"]), family,
                                    bits_accessed=INPUT_BITS)
    return 0.0
