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
  shapes are the simple-dual-port modes). The choice minimises the energy of one access
  (the primitives it enables, one per column since a cascade in depth enables one
  primitive per column, each priced by `sim.sram.sram_pj` at its size and the bits it
  delivers), then tiles (a RAMB18 counts 0.5, as in Vivado's utilization report): the
  generator asks Vivado for the same with ``ram_decomp = "power"`` (UG901; UG1556
  "Cascade Group Size"). Being a minimum over shapes of costs that grow with the
  width, the access energy never falls when a word widens, so a design's memory
  energy never rises when only q falls. Mixed-width splits (e.g. 36 + 4 bits) are not
  tried.
- iCE40 (``ice40``): depth ≤ 16 goes to flip-flops; deeper memories to 4 Kbit EBR
  (``SB_RAM40_4K``: 256 × 16, 512 × 8, 1024 × 4, 2048 × 2; FPGA-DS-02008), reported
  in BRAM36-equivalents (EBR count × 4096 / 36864).
- ECP5 (``ecp5``): depth ≤ 16 goes to distributed RAM (``TRELLIS_DPR16X4``, 16 × 4
  bits per 4 LUT4s: FPGA-TN-02204); deeper memories to 18 Kbit EBR (``DP16KD``:
  16K × 1 … 1K × 18 and 512 × 36 in pseudo-dual-port mode), each half a BRAM36
  equivalent, chosen as for the Xilinx RAMB18 (Yosys ``memory_libmap`` picks its own
  split on iCE40 and ECP5; the EBR of a family all have one size, so the estimate
  differs from it only in which of equally many primitives an access enables).

**Multipliers**: the hidden-layer lanes multiply a signed ``q``-bit weight by a q-bit
activation, the first pass's F lanes by a whole 8-bit pixel (`hw.pe`). The generator
writes each lane either as q shifted, weight-bit selected copies of the activation
(``mult_impl="lut"``, also ``"auto"`` here; ``q = 1``: a conditional negate), which
stays in LUTs and costs ``max(1, q − 1)·(a + 1)`` LUTs (`lut_multiplier`), or as ``*``
(``"dsp"``), which Yosys ``synth_xilinx`` maps to a DSP slice when its product has at
least 9 bits (``mul2dsp -D DSP_Y_MINWIDTH=9``), ``synth_ice40 -dsp`` at 11 bits,
``synth_ecp5`` from 2 × 2 operands (`mult_in_dsp`). Every such multiplier is counted as
a DSP (Yosys does not spill to LUTs when the device runs out), so a design with more of
them than DSP slices does not fit. Which of the two a design gets is the energy model's
choice (`search.design.evaluate`). Each requantizer multiplies 16-bit pieces of the
accumulator by the 16-bit unsigned ``m``: ``ceil(17/B)`` DSPs per piece for an A × B
slice.

**LUT/FF** of the datapath are counted per PE (lane multipliers, product and adder-tree
registers at their true widths, accumulator, requantizer with its two sum levels and
coarse/fine shift) plus the operand select, the write-back and a fixed allowance for
the walker, sequencer, loader and argmax (`CONTROL_LUT`, `CONTROL_FF`: fitted to Yosys
``synth_xilinx`` of generated designs, not a measurement of each). On 6-input LUTs
(``xc7``, ``xcup``) the lanes are priced by Yosys's own counts (`LUT6_LANE_LUTS`,
`LUT6_DSP_LANE_LUTS`, measured by ``bench/lane_costs.py``), the accumulator and the
requantizer are fitted to Yosys, ROMs in LUTs count as logic (`rom_luts`), and each
first-pass lane by how many weights it holds, since synthesis folds a constant one into
the lane (`_first_lanes_lut`): 0.96–1.26× of Yosys over the sample of docs/energy.md.
The 4-input-LUT families keep the structural counts their logic-cell packing was fitted
to (good to about ±30 %). Designs with pixel-parallel depthwise or average-pool passes
(`hw.plan.MODE_DWP`) add their lane accumulators, per-PE read ports, serializer and
collector (`_pixel_parallel_cost`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from boards import RESOURCE_KEYS, Board, get_board, get_family
from hw.arith import product_bits
from hw.packing import N_BITS
from hw.plan import REQUANT_LATENCY
from intnet.contract import INPUT_BITS, M_BITS, ceil_div
from sim.sram import sram_pj

__all__ = [
    "MemoryMapping", "Resources", "Lanes", "map_memory", "mult_in_dsp", "adder_tree",
    "lut_multiplier", "lane_luts", "rom_luts", "LUT6_LANE_LUTS", "LUT6_DSP_LANE_LUTS",
    "estimate_resources", "plan_facts",
]

# The walker, sequencer, loader, argmax and stream interface: an allowance fitted to
# Yosys synth_xilinx of the generated designs (docs/hardware.md), not a measurement of
# every design.
CONTROL_LUT, CONTROL_FF = 700, 800
# Flip-flops by when they take new data, which the energy model prices separately:
# ``always`` every cycle (control, logits, memory flip-flops), ``lanes`` on a PE's busy
# cycles of the hidden layers (operands, products, adder tree, accumulator), ``first``
# on its busy cycles of the first pass (the F lanes and their tree, the pixel operand),
# ``requant`` once per requantized output (hand-over and requantizer stages); where
# passes reuse weights, ``reuse`` on their PE-steps (the second, rotating accumulator)
# and ``held`` once per sum that waits in the hand-over (`hw.handover.PixelQueue`);
# where passes run pixel-parallel, ``dwp_lanes`` on their PE-steps (lane accumulators,
# own operands and read ports) and ``dwp_out`` once per lane they requantize (the
# serializer's latches, the collector's staged values): `_pixel_parallel_cost`.
FF_GROUPS = ("always", "lanes", "first", "requant", "reuse", "held", "dwp_lanes", "dwp_out")
LUTS_PER_LUTRAM = 4  # every distributed-RAM shape of `boards` takes four LUTs
# LUTs of the PE's lanes on 6-input LUTs, by q: a hidden-layer lane (q-bit weight × q-bit
# activation, gated by its lane enable; its adder tree is priced apart), and a first-pass
# lane (q-bit weight × 8-bit pixel) with its share of the first pass's adder tree, whose
# weight is an operand (any value), one constant, or one of two constants (`_first_lanes_lut`).
# Yosys 0.23 synth_xilinx; ``python bench/lane_costs.py`` measures and prints it.
LUT6_LANE_LUTS = {
    1: (2.0, 21.9, 11.6, 19.9),
    2: (5.0, 30.3, 7.4, 26.6),
    3: (10.0, 38.9, 13.2, 33.1),
    4: (25.0, 58.3, 21.1, 37.6),
    5: (49.2, 75.3, 23.4, 51.9),
    6: (56.4, 87.1, 26.7, 56.9),
    7: (98.4, 114.0, 34.8, 72.0),
    8: (128.6, 150.8, 42.3, 100.0),
}
# The same for DSP lanes (``mult_impl="dsp"``), hidden and first-pass, each with its share
# of the adder tree, which Yosys folds into the DSP48E1 post-adders in part (None: the
# product is too narrow for a DSP slice, `mult_in_dsp`).
LUT6_DSP_LANE_LUTS = {
    1: (None, None),
    2: (None, 6.7),
    3: (None, 7.2),
    4: (None, 8.0),
    5: (10.4, 11.9),
    6: (11.3, 12.4),
    7: (12.1, 13.0),
    8: (13.0, 13.6),
}
# `_pixel_parallel_cost`'s structural LUT count times this: fitted so that the estimate
# prices every pixel-parallel mobilenet of the Yosys table at or above Yosys (docs/energy.md)
PIXEL_PARALLEL_LUT_FIT = 1.05


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
        # least energy per access first (Vivado's ram_decomp = "power"), then area
        key = (columns * sram_pj(w * d / 8, min(w, width_bits)), columns * rows * tiles, -tiles)
        if best is None or key < best[0]:
            best = (key, MemoryMapping("bram", prim, w, d, columns, rows,
                                       columns * rows * tiles))
    return best[1]


def mult_in_dsp(q: int, family: str, act_bits: int = INPUT_BITS) -> bool:
    """Whether a q-bit weight × ``act_bits`` multiplier written as ``*`` (the generator's
    ``dsp`` lanes) lands in a DSP slice under Yosys's mapping rule for ``family``."""
    return q > 1 and product_bits(q, act_bits) >= get_family(family).dsp_min_product_bits


def adder_tree(q: int, lanes: int, act_bits: int = INPUT_BITS) -> tuple[int, int, float]:
    """``(adders, output_bits, mean_adder_bits)`` of the binary tree summing ``lanes``
    products of a q-bit weight and an ``act_bits`` activation (`hw.arith.product_bits`
    wide); each level adds one bit."""
    width = product_bits(q, act_bits)
    n, adders, bit_sum = lanes, 0, 0
    while n > 1:
        pairs = n // 2
        width += 1
        adders += pairs
        bit_sum += pairs * width
        n -= pairs
    return adders, width, (bit_sum / adders if adders else 0.0)


def lut_multiplier(q: int, act_bits: int) -> int:
    """LUTs of a shift-add lane multiplier (the generator's ``lut`` lanes) on a 4-input-LUT
    fabric: q − 1 adders of the shifted activation, ``act_bits + 1`` wide (q = 1: a
    conditional negate). The lane enable's gating folds into the first adder's LUTs."""
    return max(1, q - 1) * (act_bits + 1)


def lane_luts(q: int, act_bits: int, lut_inputs: int) -> float:
    """LUTs of one registered shift-add hidden-layer lane (`hw.pe.lane_product`, gated
    by its enable): on 6-input LUTs the Yosys measurement `LUT6_LANE_LUTS` (lanes are
    q × q there), on 4-input LUTs `lut_multiplier`."""
    if lut_inputs != 6:
        return lut_multiplier(q, act_bits)
    if act_bits != q:
        raise ValueError(f"no LUT6 price for a {q} x {act_bits}-bit hidden lane (q x q)")
    return LUT6_LANE_LUTS[q][0]


@dataclass
class Resources:
    """Estimated resources of one design point and its memory mapping."""

    lut: int
    ff: int
    dsp: int
    bram36: float
    mult_dsp: bool
    lutram_luts: int = 0  # LUTs of memories: LUT RAM (on 6-input LUTs ROMs as logic)
    memories: list = field(default_factory=list)  # (memory dict, MemoryMapping)
    lanes: tuple = ()  # (hidden-layer Lanes, first-pass Lanes)
    # flip-flops by when they are loaded (`FF_GROUPS`): totals over the array
    ff_groups: dict = field(default_factory=dict)
    requantizers: int = 0  # the requantizers the ``requant`` group's stages belong to

    def as_dict(self) -> dict:
        return {key: getattr(self, key) for key in RESOURCE_KEYS}

    def over(self, board: Board | str) -> list[str]:
        """One ``"bram36 62.5 > 50"``-style line per exceeded capacity of ``board``
        (`boards.Capacity.exceeded`)."""
        return get_board(board).capacity.exceeded(self.as_dict())

    def fits(self, board: Board | str) -> bool:
        """Whether every resource is within ``board``'s capacity."""
        return not self.over(board)


@dataclass(frozen=True)
class Lanes:
    """One kind of lane of a PE: how many, its operand widths, and whether a DSP."""

    count: int
    act_bits: int
    dsp: bool


def _lanes(q: int, M: int, F: int, family: str, mult_impl: str) -> tuple[Lanes, Lanes]:
    """The M hidden-layer lanes (q × q) and the F first-pass lanes (q × 8)."""
    if mult_impl not in ("auto", "lut", "dsp"):
        raise ValueError(f"mult_impl must be one of auto, lut, dsp, not {mult_impl!r}")
    dsp = mult_impl == "dsp"
    return (Lanes(M, q, dsp and mult_in_dsp(q, family, q)),
            Lanes(F, INPUT_BITS, dsp and mult_in_dsp(q, family, INPUT_BITS)))


def _pe_cost(q: int, lanes: Lanes, acc_bits: int, lut_inputs: int = 4) -> tuple[int, int]:
    """``(LUT, FF)`` of one kind of lanes of a PE: multipliers, products, adder tree. On
    6-input LUTs (``lut_inputs`` 6: hidden-layer lanes only; the first pass's lanes there
    are `_first_lanes_lut`'s) the lanes are priced by the Yosys measurements."""
    if not lanes.count:
        return 0, 0
    adders, tree_bits, mean_bits = adder_tree(q, lanes.count, lanes.act_bits)
    prod = product_bits(q, lanes.act_bits)
    if lut_inputs == 6 and lanes.dsp:  # gating, register and part of the tree in the DSP
        lut = round(lanes.count * LUT6_DSP_LANE_LUTS[q][0])
    else:
        # a DSP lane's product is gated in fabric; a LUT lane gates inside its adders
        mult = prod if lanes.dsp else lane_luts(q, lanes.act_bits, lut_inputs)
        lut = round(lanes.count * mult) + round(adders * mean_bits)
    return lut, _product_register_ff(q, lanes) + tree_bits


def _product_register_ff(q: int, lanes: Lanes) -> int:
    """Flip-flops of the lanes' products and of the first adder level's pair sums. A DSP
    lane keeps them in its slice on DSP48 fabric (the M and P registers, the pair sum in
    the post-adder): Yosys ``synth_xilinx`` of vgg q 8 s 0.25 at 4 × 4 has 1,189 fewer
    flip-flops with DSP lanes than with shift-add lanes, these registers being 1,200
    (docs/energy.md)."""
    prod = product_bits(q, lanes.act_bits)
    return lanes.count * prod + lanes.count // 2 * (prod + 2)


def _lane_costs(q: int, main: Lanes, image: Lanes, acc_bits: int, memories: list[dict],
                p: int, board: Board) -> tuple[int, int, int, int]:
    """``(LUT, FF)`` of one PE's hidden-layer lanes, then ``(LUT, FF)`` of the first pass's
    lanes: the LUTs for the whole array (`_first_lanes_lut` on 6-input LUTs), the FFs per
    PE."""
    main_lut, main_ff = _pe_cost(q, main, acc_bits, board.lut_inputs)
    first_lut, first_ff = _pe_cost(q, image, acc_bits)
    if board.lut_inputs != 6:
        return main_lut, main_ff, p * first_lut, first_ff
    # DSP48: products and pair sums in the slices' registers; first lanes as measured
    in_slices = [_product_register_ff(q, lanes) if lanes.dsp else 0 for lanes in (main, image)]
    return (main_lut, main_ff - in_slices[0],
            _first_lanes_lut(q, image, memories, p), first_ff - in_slices[1])


def _control_lut(q: int, p: int, m: int, num_classes: int, splits: tuple[int, ...],
                 board: Board, depthwise_lanes: bool) -> int:
    """LUTs of the control: the walker, sequencer, loader and argmax (an allowance), the
    operand select and lane enables (P·M; on 6-input LUTs M where every PE's are the same,
    `estimate_resources`' ``depthwise_lanes``), the write-back's channel multiplexers
    (more with lane splits), the logits."""
    lane_enables = m if board.lut_inputs == 6 and not depthwise_lanes else p * m
    select = max(1, (p - 1).bit_length())
    return CONTROL_LUT + lane_enables + 2 * m * q + m * q * select + 16 * num_classes \
        + (len(splits) - 1) * m * q * (select + 1)


def _handover_bits(acc_bits: int) -> int:
    """Bits of one sum at the hand-over to a requantizer (`hw.handover.Handover`): the
    accumulator with its ``m`` and ``n``."""
    return acc_bits + M_BITS + N_BITS


def _requantizer_cost(q: int, acc_bits: int, board: Board) -> tuple[int, int, int]:
    """``(LUT, FF, DSP)`` of one `hw.requant.Requantizer`: 16-bit pieces of the
    accumulator times ``m`` (a DSP each, one-bit pieces in fabric), two sum levels,
    the coarse and fine shift muxes and the clamp. On 6-input LUTs: an adder per piece
    beyond the first and the shifts, fitted to Yosys ``synth_xilinx`` of the requantizer
    alone at 20, 33 and 40 accumulator bits and q = 2, 4, 8, with and without the clamp
    (0.86–1.28× of it at those 18 points; docs/energy.md)."""
    pieces = [min(16, acc_bits - lo) for lo in range(0, acc_bits, 16)]
    # m is unsigned: M_BITS on a port with a signedness flag, one more in two's complement
    m_bits = M_BITS + (0 if board.dsp_unsigned_ports else 1)
    dsp = sum(1 for w in pieces if w > 1) * ceil_div(m_bits, board.dsp_b_bits)
    width = acc_bits + M_BITS
    if board.lut_inputs == 6:
        lut = (len(pieces) - 1) * width + 6 * q + 8
    else:
        lut = 2 * width + width // 4 + 2 * (9 + q) + 2 * (q + 1) + q
    ff = 2 * width + 9 + q + 8 + q
    return lut, ff, dsp


def _pairing_cost(q: int, P: int, M: int, acc_bits: int) -> tuple[int, int, int, int]:
    """Output-channel pairing (`hw.plan.pairs_channels`): per PE ``(LUT, lane FF,
    hand-over FF)`` and the shared ``LUT`` of the operand half-word multiplexer, the lane
    enables and the write-back's P more pooled values."""
    sum_bits = product_bits(q, q) + max(1, (M - 1).bit_length())
    # the second accumulator (adder, bias mux), the tree-output mux, the requantizer's
    # input mux (acc, m, n)
    lut = 2 * acc_bits + sum_bits + _handover_bits(acc_bits)
    ff = acc_bits + 2 * sum_bits  # acc2 and the two half sums beside the total
    # the second sum with its m, n at the hand-over; the write-back's pooled value and
    # running maximum of the PE's second channel
    rq_ff = _handover_bits(acc_bits) + 2 * q
    ctl = M // 2 * q + P * (M // 2) + 2 * P * q + M * q
    return lut, ff, rq_ff, ctl


def _lane_split_cost(q: int, P: int, M: int, acc_bits: int,
                     k: int) -> tuple[int, int, int, int]:
    """Pixel-parallel depthwise passes reading words split k ways (`hw.plan.Plan.dwp_split`):
    ``(LUT, lane FF, requant FF, LUT outside the PEs)``: per PE k − 1 more sub-lane
    accumulators per lane (adder and bias multiplexer) with their sub-product registers
    and the sub-lane product multiplexers; the serializer's latches of the P·M·(k − 1)
    sub-lane sums with their M-way read multiplexers and the M·(k − 1) latched m, n; the
    collector's staged values and its placement multiplexers. The k − 1 extra
    requantizers per PE are priced as requantizers (``requantizers``). Fitted to one
    Yosys ``synth_xilinx`` run (mobilenet s = 1 8/2/…/2/8 at P = M = 8, docs/hardware.md):
    the bias multiplexer folds into the accumulator's adder LUTs, and a sub-product
    register keeps only its ``2·(q div k) + 1`` distinct bits (the sign copies merge)."""
    subs = M * (k - 1)
    lut = subs * (acc_bits + q)
    ff = subs * (acc_bits + 2 * (q // k) + 1)
    # the serializer: P·subs latched sums read out by lane (a 4:1 multiplexer per LUT
    # level), the collector's staged values and placement multiplexers
    rq_ff = subs * (acc_bits + q) + (k - 1) * M_BITS
    shared = P * (k - 1) * acc_bits * ceil_div(M, 4) // 2 + P * k * M * q // 2
    return lut, ff, rq_ff, shared


@dataclass(frozen=True)
class PixelParallelCost:
    """The hardware of pixel-parallel passes (`_pixel_parallel_cost`): LUTs per PE and
    shared, flip-flops per PE and shared by `FF_GROUPS` group."""

    pe_lut: int
    shared_lut: int
    pe_ff: dict
    shared_ff: dict


def _pixel_parallel_cost(q: int, P: int, M: int, acc_bits: int, addr_bits: int,
                         summing: bool) -> PixelParallelCost:
    """The hardware a design has once some depthwise or average-pool pass runs
    pixel-parallel (`hw.plan.MODE_DWP`, P ≥ M; `hw.top.Accelerator`'s ``has_dwp``),
    beside what every design has. Per PE: M lane accumulators (`hw.pe.PE`: register and
    adder, the bias multiplexer folded into the adder's LUTs); its own activation operand
    (q·M bits, no longer one broadcast register shared by all PEs) and the multiplexer
    broadcasting PE 0's weights (`hw.operands`); a read port of its own with its data
    register per buffer, its address offset, column and padding comparators
    (`hw.address`); the requantizer's input multiplexer (serializer or accumulator) and
    the serializer's M-way read multiplexer of its M latched sums, a 4:1 per LUT6 per bit
    (`hw.handover.LaneSerializer`), and the collector's M staged values and assembled
    word (`hw.writeback.LaneCollector`). Shared: the serializer's M latched ``m, n`` and
    their multiplexer, the collector's P-way word multiplexer and the control words that
    follow the lanes through the requantizer, and with a summing average pool
    (``summing``) the sum over the P PEs, M adder trees of P accumulator-wide inputs with
    PE 0's load multiplexer.

    The flip-flops are split by when they load, for the energy model: ``dwp_lanes`` on
    every step of a pixel-parallel pass (lane accumulators, operands, read data and
    addresses: they hold still in other passes), ``dwp_out`` once per lane it
    requantizes (the serializer latches P·M sums per chunk, the collector stages a value
    and a word share per lane). The LUTs, counted structurally, times
    `PIXEL_PARALLEL_LUT_FIT` (fitted to Yosys ``synth_xilinx``, docs/energy.md); the
    flip-flops are the structural count."""
    word = q * M
    params = M_BITS + N_BITS
    lane_mux = ceil_div(M, 4)  # LUT6 per bit of an M-way multiplexer (MUXF7/F8 join them)
    col_bits = addr_bits  # a PE's column and its padding compares: at most address-wide
    pe_lut = (M * acc_bits  # lane accumulators
              + 2 * word  # own activation select, PE 0's weights broadcast
              + addr_bits + 3 * col_bits  # own read address, column, padding
              + _handover_bits(acc_bits)  # requantizer input: serializer or accumulator
              + acc_bits * lane_mux)  # serializer: the lane being requantized
    shared_lut = params * lane_mux + word * ceil_div(P, 4) \
        + (M * (P - 1) * acc_bits + M * acc_bits if summing else 0)
    # lane and chunk word (address, count, channel group) through the requantizer
    follow = (REQUANT_LATENCY + 1) * (addr_bits + max(1, (M - 1).bit_length()) + 8)
    return PixelParallelCost(
        pe_lut=round(PIXEL_PARALLEL_LUT_FIT * pe_lut),
        shared_lut=round(PIXEL_PARALLEL_LUT_FIT * shared_lut),
        # lane accumulators; own activation operand; a data register per buffer's port;
        # the address offset and address, the padding bit
        pe_ff={"dwp_lanes": M * acc_bits + word + 2 * word + 2 * addr_bits + 2,
               # the serializer's latched sums; the collector's staged values and word
               "dwp_out": M * acc_bits + 2 * word},
        shared_ff={"dwp_out": M * params + follow})


def _reuse_cost(acc_bits: int) -> tuple[int, int, int, int]:
    """Weight reuse (`hw.pe.PE._rotate`, `hw.handover.PixelQueue`): per PE a second
    accumulator register (loaded on every step: the sums rotate) and the multiplexer in
    front of the first; the queue's waiting entry (a sum with its m, n) and its output
    multiplexer; in control the pair's address adder and padding comparators. Returns
    (LUT per PE, accumulator FF per PE, waiting-entry FF per PE, control LUT). The LUTs
    are fitted to Yosys 0.23 `synth_xilinx` of the README design (vgg q 2 s 1.5,
    16 × 24): +846 LUT, +1,354 FF with weight reuse (docs/energy.md; +815 LUT, +1,337 FF
    with the registered padding of 2026-11-30)."""
    # control: the address adder and the padding comparators, ~64 LUT
    return acc_bits + 16, acc_bits, _handover_bits(acc_bits), 64


def rom_luts(width_bits: int, depth: int) -> int:
    """LUTs of a ROM that synthesis builds from 6-input logic LUTs instead of LUT RAM
    (its contents are constants): none for one word (constants), else one LUT per bit per
    64 words, two bits per LUT up to 32 words (a LUT6 site's two 5-input outputs; Yosys
    ``synth_xilinx``: 27 LUTs for a 54-bit ROM of 9 words)."""
    if depth <= 1:
        return 0
    if depth <= 32:
        return ceil_div(width_bits, 2)
    return width_bits * ceil_div(depth, 64)


ROM_KINDS = frozenset({"first_weight", "weight", "param"})  # the cycle model's ROM kinds


def _map_memories(memories: list[dict], family: str,
                  lut_inputs: int = 4) -> tuple[list, float, int, int]:
    """``(mapped, bram36, LUT-memory LUTs, memory FFs)`` of the cycle model's ``memories``
    on ``family``, every instance counted; ``mapped`` pairs each memory with its mapping.
    On 6-input LUTs a ROM mapped to LUT RAM counts as logic (`rom_luts`): the mapping, and
    so its read energy, stays the LUT RAM's."""
    bram36, lutram, mem_ff = 0.0, 0, 0
    mapped = []
    for mem in memories:
        width, depth = int(mem["width_bits"]), int(mem["depth"])
        if width < 1 or depth < 1:
            continue  # width not known from shapes alone (e.g. descriptor ROMs): skipped
        mp = map_memory(width, depth, family)
        n = int(mem.get("instances", 1))
        mapped.append((mem, mp))
        bram36 += n * mp.bram36
        rom = lut_inputs == 6 and mp.kind == "lutram" and mem.get("kind") in ROM_KINDS
        lutram += n * (rom_luts(width, depth) if rom else mp.luts)
        mem_ff += n * mp.ffs
    return mapped, bram36, lutram, mem_ff


def _first_lanes_lut(q: int, image: Lanes, memories: list[dict], p: int) -> int:
    """LUTs of the first pass's shift-add lanes and adder trees over all P PEs on 6-input
    LUTs, each lane priced by how many weights it holds in its PE's first ROM (the cycle
    model's ``const_lanes``, ``pair_lanes``, ``var_lanes``, `sim.cycles.first_lane_weights`;
    `LUT6_LANE_LUTS`). Synthesis folds a lane's constant weight into its multiplier and its
    tree (9 taps on 8 lanes leave lanes 1 … 7 one tap each), and a PE that holds no
    first-layer channel keeps no first lanes: in the whole design Yosys ``synth_xilinx``
    builds vgg q 2 s 0.5 at 8 × 8 in 249 LUTs a PE, against 417 for the PE synthesized
    apart (docs/energy.md). Without those counts every lane is priced as any weight; DSP
    lanes by `LUT6_DSP_LANE_LUTS`."""
    if image.dsp:
        return round(p * image.count * LUT6_DSP_LANE_LUTS[q][1])
    _, any_w, one_w, two_w = LUT6_LANE_LUTS[q]
    rom = next((mem for mem in memories if mem.get("kind") == "first_weight"), None)
    if rom is None or "const_lanes" not in rom:
        return round(p * image.count * any_w)
    return round(rom["const_lanes"] * one_w + rom["pair_lanes"] * two_w
                 + rom["var_lanes"] * any_w)


def estimate_resources(memories: list[dict], q: int, pe_count: int, mults_per_pe: int,
                       board: Board | str, acc_bits: int = 32,
                       requantizers: int | None = None, mult_impl: str = "auto",
                       image_lanes: int | None = None, num_classes: int = 10,
                       splits: tuple[int, ...] = (1,), paired: bool = False,
                       dwp_split: int = 1, reuse: bool = False,
                       pixel_parallel: bool = False, summing: bool = False,
                       addr_bits: int = 0, depthwise_lanes: bool = True) -> Resources:
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
        The generator's lane multipliers: shift-add in LUTs (``"lut"``, also
        ``"auto"``), or ``*`` that Yosys maps to DSP slices where the product is wide
        enough (``"dsp"``).
    image_lanes : int, optional
        F, the first pass's 8-bit lanes per PE (`hw.plan.image_lanes`); M by default.
    num_classes : int
        Logit registers of the argmax scan.
    splits : tuple of int
        The lane splits the network uses (`hw.plan.Plan.splits`): every lane gets k
        shift-add products of ``q // k`` bits, their sum and a multiplexer per k > 1, and
        the write-back a word multiplexer per k.
    paired : bool
        Whether some pass pairs output channels (the cycle model's ``channel_pairs``,
        `hw.plan.pairs_channels`): every PE gets a second accumulator with its half-tree
        registers and hand-over registers, the requantizer an input multiplexer, the
        operands a half-word multiplexer and the write-back P more pooled values.
    dwp_split : int
        The widest split a pixel-parallel depthwise pass reads (the cycle model's
        ``dwp_lane_split``, `hw.plan.Plan.dwp_split`; 1: none): every PE gets k − 1 more
        requantizers (unless ``requantizers`` is given) and sub-lane accumulators, the
        serializer and the collector k − 1 more values per lane (`_lane_split_cost`).
    reuse : bool
        Whether some pass reuses weights (the cycle model's ``weight_reuse``,
        `hw.plan.reuses_weights`): `_reuse_cost`.
    pixel_parallel : bool
        Whether some depthwise or average-pool pass runs pixel-parallel
        (`hw.plan.MODE_DWP`): lane accumulators, per-PE read ports, the serializer and
        the collector (`_pixel_parallel_cost`, flip-flop groups ``dwp_lanes`` and
        ``dwp_out``).
    summing : bool
        Whether such a pass is a summing average pool (`hw.plan.Pass.gsum`): the
        serializer's sum over the P PEs.
    addr_bits : int
        Width of an activation address (the cycle model's ``addr_bits``,
        `hw.plan.Plan.addr_bits`): the per-PE read ports' compares; needed with
        ``pixel_parallel``.
    depthwise_lanes : bool
        Whether some pass has PE j use only the lane of its own channel (`hw.plan.MODE_DW`:
        the cycle model's ``depthwise_lanes``). Without such a pass the descriptor's mode
        bit is a constant, every PE's lane enables are the same and synthesis merges them:
        on 6-input LUTs the lane enables are then priced for M lanes, not P·M (Yosys
        ``synth_xilinx`` of `hw.operands` alone at P = M = 24: 1,231 LUT, 2,280 FF with
        the mode free; 77 LUT, 1,728 FF with it tied to `MODE_CONV`).
    """
    if pixel_parallel and addr_bits < 1:
        raise ValueError("pixel_parallel needs addr_bits (the cycle model's addr_bits)")
    board = get_board(board)
    fam = board.family
    p, m = pe_count, mults_per_pe
    f = m if image_lanes is None else image_lanes
    requantizers = p * dwp_split if requantizers is None else requantizers

    mapped, bram36, lutram, mem_ff = _map_memories(memories, fam, board.lut_inputs)
    main, image = _lanes(q, m, f, fam, mult_impl)
    dsp = p * (main.count * main.dsp + image.count * image.dsp)
    main_lut, main_ff, first_total, first_ff = _lane_costs(q, main, image, acc_bits,
                                                           memories, p, board)
    # the accumulator with its bias and path muxes (on LUT6 one LUT per bit each for the
    # adder and the load multiplexer in front of its register); the weight operand registers
    split_lut = sum(k * lut_multiplier(q // k, q // k) + (k - 1) * (2 * (q // k) + 2)
                    + product_bits(q, q) for k in splits if k > 1)
    pe_lut = acc_bits * (2 if board.lut_inputs == 6 else 3) + main_lut \
        + main.count * split_lut
    pair_lut, pair_ff, pair_rq_ff, pair_ctl = _pairing_cost(q, p, m, acc_bits) if paired \
        else (0, 0, 0, 0)
    pe_lut += pair_lut
    sub_lut, sub_ff, sub_rq_ff, sub_ctl = (_lane_split_cost(q, p, m, acc_bits, dwp_split)
                                           if dwp_split > 1 else (0, 0, 0, 0))
    pe_lut += sub_lut
    reuse_lut, reuse_ff, reuse_rq_ff, reuse_ctl = (_reuse_cost(acc_bits) if reuse
                                                   else (0, 0, 0, 0))
    pe_lut += reuse_lut
    dwp = (_pixel_parallel_cost(q, p, m, acc_bits, addr_bits, summing)
           if pixel_parallel else None)
    if dwp:
        pe_lut += dwp.pe_lut
    rq_lut, rq_ff, rq_dsp = _requantizer_cost(q, acc_bits, board)
    dsp += requantizers * rq_dsp
    ctl_lut = _control_lut(q, p, m, num_classes, splits, board, depthwise_lanes) \
        + pair_ctl + sub_ctl + reuse_ctl + (dwp.shared_lut if dwp else 0)
    groups = {
        "always": CONTROL_FF + 32 * num_classes + mem_ff,
        "lanes": p * (main_ff + acc_bits + 8 + m * q + pair_ff + sub_ff),
        "first": p * (first_ff + f * q) + f * INPUT_BITS,
        # the hand-over registers (accumulator, m, n, flags) and the requantizer stages
        "requant": p * (_handover_bits(acc_bits) + pair_rq_ff + sub_rq_ff)
        + requantizers * rq_ff,
    } | ({"reuse": p * reuse_ff, "held": p * reuse_rq_ff} if reuse else {}) \
        | ({key: p * dwp.pe_ff.get(key, 0) + dwp.shared_ff.get(key, 0)
            for key in ("dwp_lanes", "dwp_out")} if dwp else {})
    lut = ctl_lut + p * pe_lut + first_total + requantizers * rq_lut + lutram
    return Resources(lut=int(lut), ff=int(sum(groups.values())), dsp=int(dsp),
                     bram36=round(bram36, 3), mult_dsp=main.dsp or image.dsp,
                     lutram_luts=int(lutram), memories=mapped, lanes=(main, image),
                     ff_groups=groups, requantizers=requantizers)


def plan_facts(cm: dict) -> dict:
    """The keyword arguments of `estimate_resources` that say which hardware a network's
    plan builds, read from its cycle model ``cm`` (`sim.cycles.cycle_model`): image lanes,
    lane splits, channel pairs, the pixel-parallel split, weight reuse, pixel-parallel and
    summing passes, the address width and depthwise lanes. One mapping, so that a plan
    fact added to the estimate reaches every caller at once (a hand-written call that left
    one out kept its default silently)."""
    return {"image_lanes": cm["image_lanes"], "splits": tuple(cm["lane_splits"]),
            "paired": bool(cm["channel_pairs"]), "dwp_split": int(cm["dwp_lane_split"]),
            "reuse": bool(cm["weight_reuse"]), "pixel_parallel": bool(cm["pixel_parallel"]),
            "summing": bool(cm["dwp_summing"]), "addr_bits": int(cm["addr_bits"]),
            "depthwise_lanes": bool(cm["depthwise_lanes"])}
