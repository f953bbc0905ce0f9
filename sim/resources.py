"""Fast analytical resource estimate (LUT, FF, DSP, BRAM36) of one accelerator instance.

This is the estimate the sweep uses for thousands of design points; `codegen` refines
the chosen point with Yosys ``synth_xilinx``. The rules, chosen to follow what the
synthesis tools do. The device facts they read (block-RAM and distributed-RAM shapes,
the depths below which memories leave block RAM, the DSP thresholds, the DSP port
widths) are the family facts of `boards` (`boards.get_family`).

**Memories** (from the cycle model's ``memories`` list; every instance counted; a
memory listed with width or depth 0, i.e. not known from shapes alone, is skipped):

- 7-series and UltraScale+ (``xc7``, ``xcup``): a memory of depth ≤ 64 goes to LUT RAM
  (RAM32M: 32 × 6 bits per 4 LUTs for depth ≤ 32, RAM64M: 64 × 3 bits per 4 LUTs
  otherwise; UG474 / UG574 CLB user guides); a RAMB18 would be ≥ 97 % empty. Deeper
  memories go to block RAM in one aspect ratio for the whole memory, chosen among
  RAMB18 ``1/2/4/9/18/36`` bits × ``16K/8K/4K/2K/1K/512`` words and RAMB36
  ``1/2/4/9/18/36/72`` × ``32K/…/512`` (UG473 Tables 1-3/1-4; the 36- and 72-bit
  shapes are the simple-dual-port modes). The choice minimises tiles (a RAMB18 counts
  0.5, as in Vivado's utilization report), then the number of primitives that one
  access enables (a cascade in depth enables one primitive per column: the
  least-power choice, UG1556 "Cascade Group Size"). Mixed-width splits (e.g. 36 + 4
  bits) are not tried, so a width just above a native one can cost more than Vivado.
- iCE40 (``ice40``): depth ≤ 16 goes to flip-flops; deeper memories to 4 Kbit EBR
  (``SB_RAM40_4K``: 256 × 16, 512 × 8, 1024 × 4, 2048 × 2; FPGA-DS-02008), reported
  in BRAM36-equivalents (EBR count × 4096 / 36864).
- ECP5 (``ecp5``): depth ≤ 16 goes to distributed RAM (``TRELLIS_DPR16X4``, 16 × 4
  bits per 4 LUT4s: FPGA-TN-02204); deeper memories to 18 Kbit EBR (``DP16KD``:
  16K × 1 … 1K × 18 and 512 × 36 in pseudo-dual-port mode), each half a BRAM36
  equivalent, chosen as for the Xilinx RAMB18.

**Multipliers**: every lane multiplies a signed ``q``-bit weight by an unsigned 8-bit
activation (whole pixels in the first pass, zero-extended q-bit activations after it;
`hw.pe`), a ``q + 8``-bit product. For ``q ≥ 4`` the lane is a ``$mul``, and Yosys
``synth_xilinx`` maps a multiplier to a DSP slice when its product has at least 9 bits
(``mul2dsp -D DSP_Y_MINWIDTH=9``, "UG901 suggests small multiplies are those 4x4 and
smaller"), ``synth_ice40 -dsp`` at 11 bits, ``synth_ecp5`` from 2 × 2 operands: a DSP
on every family. For ``q ≤ 3``
(`hw.arith.SHIFT_ADD_MAX_Q`) the generator writes the product as q shifted, weight-bit
selected copies of the activation (``q = 1``: a conditional negate), which stays in
LUTs. Every eligible multiplier is counted as a DSP (Yosys does not spill to LUTs when
the device runs out), so a design with more eligible multipliers than DSP slices does
not fit. A LUT multiplier of a q-bit weight and an a-bit activation costs ``q·(a+1)``
LUTs (``9q`` here; the q × q multiplier before the 8-bit lanes cost ``q·(q+1)``). Each
requantizer multiplies the accumulator by a 16-bit unsigned ``m``:
``ceil(acc/A)·ceil(17/B)`` DSPs for an A × B slice.

**LUT/FF** of the datapath are counted per PE (operand and product registers, adder
tree at its true widths, accumulator, requantizer with a 5-stage barrel shifter,
max-pool compare) plus a fixed sequencer/stream-interface allowance (600 LUT, 500 FF:
an allowance, not a measurement); good to about ±30 %, enough to rank design points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from boards import RESOURCE_KEYS, Board, get_board, get_family
from hw.arith import SHIFT_ADD_MAX_Q, product_bits
from intnet.contract import INPUT_BITS, M_BITS

__all__ = [
    "MemoryMapping", "Resources", "map_memory", "mult_in_dsp", "adder_tree",
    "estimate_resources",
]

CONTROL_LUT, CONTROL_FF = 600, 500  # sequencer + stream interface allowance
LUTS_PER_LUTRAM = 4  # every distributed-RAM shape of `boards` takes four LUTs


@dataclass(frozen=True)
class MemoryMapping:
    """How one logical memory (one instance) maps onto device primitives.

    ``kind`` is ``"bram"``, ``"lutram"`` or ``"ff"``; ``primitive``, ``port_width`` and
    ``prim_depth`` name the chosen block shape; ``columns × rows`` primitives are used,
    ``columns`` of them enabled by one access; ``bram36`` counts tiles; ``luts``/``ffs``
    are the fabric cost of LUT-RAM or flip-flop memories.
    """

    kind: str
    primitive: str
    port_width: int
    prim_depth: int
    columns: int
    rows: int
    bram36: float
    luts: int = 0
    ffs: int = 0

    @property
    def active_per_access(self) -> int:
        return self.columns


@lru_cache(maxsize=4096)
def map_memory(width_bits: int, depth: int, family: str) -> MemoryMapping:
    """Map a ``width_bits × depth`` memory onto the primitives of ``family``
    (the family's shapes: `boards.get_family`)."""
    if width_bits < 1 or depth < 1:
        raise ValueError(f"memory must have positive width and depth, not "
                         f"{width_bits!r} x {depth!r}")
    fam = get_family(family)
    for prim, bits, prim_depth in fam.lutram_shapes:
        if depth <= prim_depth:
            columns = math.ceil(width_bits / bits)
            return MemoryMapping("lutram", prim, bits, prim_depth, columns, 1, 0.0,
                                 luts=LUTS_PER_LUTRAM * columns)
    if depth <= fam.ff_memory_max_depth:
        bits = width_bits * depth
        return MemoryMapping("ff", "DFF", width_bits, depth, 1, 1, 0.0,
                             luts=bits if depth > 1 else 0, ffs=bits)
    best = None
    for prim, w, d, tiles in fam.block_ram_shapes:
        columns, rows = math.ceil(width_bits / w), math.ceil(depth / d)
        key = (columns * rows * tiles, columns, -tiles)
        if best is None or key < best[0]:
            best = (key, MemoryMapping("bram", prim, w, d, columns, rows,
                                       columns * rows * tiles))
    return best[1]


def mult_in_dsp(q: int, family: str) -> bool:
    """Whether a lane's q-bit weight × 8-bit activation multiplier lands in a DSP slice."""
    return (q > SHIFT_ADD_MAX_Q
            and product_bits(q, INPUT_BITS) >= get_family(family).dsp_min_product_bits)


def adder_tree(q: int, mults_per_pe: int) -> tuple[int, int, float]:
    """``(adders, output_bits, mean_adder_bits)`` of the binary tree summing M products.

    Products are `hw.arith.product_bits` ``(q, 8)`` wide (``q + 8``; 9 for q = 1); each
    level adds one bit.
    """
    width = product_bits(q, INPUT_BITS)
    n, adders, bit_sum = mults_per_pe, 0, 0
    while n > 1:
        pairs = n // 2
        width += 1
        adders += pairs
        bit_sum += pairs * width
        n -= pairs
    return adders, width, (bit_sum / adders if adders else 0.0)


@dataclass
class Resources:
    """Estimated resources of one design point and its memory mapping."""

    lut: int
    ff: int
    dsp: int
    bram36: float
    mult_dsp: bool
    lutram_luts: int = 0
    memories: list = field(default_factory=list)  # (memory dict, MemoryMapping)

    def as_dict(self) -> dict:
        return {key: getattr(self, key) for key in RESOURCE_KEYS}

    def over(self, board: Board | str) -> list[str]:
        """One ``"bram36 62.5 > 50"``-style line per exceeded capacity of ``board``
        (`boards.Capacity.exceeded`)."""
        return get_board(board).capacity.exceeded(self.as_dict())

    def fits(self, board: Board | str) -> bool:
        """Whether every resource is within ``board``'s capacity."""
        return not self.over(board)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def estimate_resources(memories: list[dict], q: int, pe_count: int, mults_per_pe: int,
                       board: Board | str, acc_bits: int = 32,
                       requantizers: int | None = None, mult_impl: str = "auto") -> Resources:
    """Estimate LUT, FF, DSP and BRAM36 of a P × M accelerator on ``board``.

    Parameters
    ----------
    memories : list of dict
        The cycle model's ``memories``: ``{"name", "kind", "width_bits", "depth",
        "instances"}`` for every on-chip memory.
    q : int
        Weight and activation bit width.
    pe_count, mults_per_pe : int
        P and M.
    board : Board or str
    acc_bits : int
        Accumulator width (`intnet.contract.accumulator_bits`).
    requantizers : int, optional
        Number of requantizers; one per PE by default.
    mult_impl : {"auto", "lut", "dsp"}
        ``"auto"`` follows the Yosys rule above; ``"lut"``/``"dsp"`` model a generator
        that forces the choice (``use_dsp`` attribute). q = 1 is never a DSP.
    """
    board = get_board(board)
    fam = board.family
    p, m = pe_count, mults_per_pe
    requantizers = p if requantizers is None else requantizers

    bram36, lut, ff, lutram = 0.0, CONTROL_LUT, CONTROL_FF, 0
    mapped = []
    for mem in memories:
        if int(mem["width_bits"]) < 1 or int(mem["depth"]) < 1:
            continue  # width not known from shapes alone (e.g. descriptor ROMs): skipped
        mp = map_memory(int(mem["width_bits"]), int(mem["depth"]), fam)
        n = int(mem.get("instances", 1))
        mapped.append((mem, mp))
        bram36 += n * mp.bram36
        lutram += n * mp.luts
        ff += n * mp.ffs

    if mult_impl not in ("auto", "lut", "dsp"):
        raise ValueError(f"mult_impl must be one of auto, lut, dsp, not {mult_impl!r}")
    dsp_mult = mult_in_dsp(q, fam) if mult_impl == "auto" else (mult_impl == "dsp" and q > 1)
    dsp = p * m if dsp_mult else 0
    rq_dsp = (_ceil_div(acc_bits, board.dsp_a_bits)
              * _ceil_div(M_BITS + 1, board.dsp_b_bits))
    dsp += requantizers * rq_dsp

    prod_bits = product_bits(q, INPUT_BITS)
    adders, tree_bits, mean_bits = adder_tree(q, m)
    mult_lut = 0 if dsp_mult else q * (INPUT_BITS + 1)
    pe_lut = (m * mult_lut + round(adders * mean_bits) + acc_bits + 2 * q)
    pe_ff = m * q + m * prod_bits + tree_bits + acc_bits
    rq_width = acc_bits + M_BITS
    rq_lut = rq_width + math.ceil(rq_width * 5 / 2) + 2 * q  # round add, shifter, clamp
    rq_ff = rq_width + q
    # + the broadcast word's pad / image-or-activation mux, M lanes of 8 bits
    lut += p * pe_lut + requantizers * rq_lut + m * INPUT_BITS + lutram
    ff += p * pe_ff + requantizers * rq_ff + m * q
    return Resources(lut=int(lut), ff=int(ff), dsp=int(dsp), bram36=round(bram36, 3),
                     mult_dsp=dsp_mult, lutram_luts=int(lutram), memories=mapped)
