"""The supported target boards: platform, device capacity, clock and static power.

Each board is a leaf class that only sets its device facts; what a device family shares
(block-RAM and DSP primitives, how memories map onto them) lives in a private family
base class. The amaranth-boards platform class is imported only when `Board.platform`
is asked for, so the energy model and the sweep never import Amaranth.

Every number carries its source in a comment. "XPE/report_power" static figures are
the device-static line that Vivado's ``report_power`` (same engine as the Xilinx Power
Estimator, UG440) gives for a lightly used device at 25 °C ambient, typical process;
they were not measured on this machine (no Vivado here) and are the first numbers to
replace with a measured ``report_power`` once a bitstream is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["Board", "Capacity", "BOARDS", "DEFAULT_BOARD", "board_names", "get_board"]


@dataclass(frozen=True)
class Capacity:
    """Programmable-logic resources of a device.

    ``bram36`` counts 36 Kbit block-RAM tiles (a RAMB18 is half a tile), the unit of
    Vivado's utilization report. Devices without such tiles give their block RAM in
    BRAM36-equivalents of 36,864 bits (see the board's notes).
    """

    lut: int
    ff: int
    dsp: int
    bram36: float

    def as_dict(self) -> dict:
        return {"lut": self.lut, "ff": self.ff, "dsp": self.dsp, "bram36": self.bram36}


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
        ``"xc7"`` (7-series), ``"xcup"`` (UltraScale+), ``"ice40"`` or ``"ecp5"``: selects the
        memory and DSP mapping rules of `sim.resources`.
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
    dsp_primitive: str = ""
    bram_primitive: str = ""
    dsp_a_bits: int = 0  # multiplier port widths of one DSP slice
    dsp_b_bits: int = 0

    def platform(self):
        """The amaranth-boards platform *class* (import deferred until asked)."""
        try:
            module = importlib.import_module(f"amaranth_boards.{self.platform_module}")
        except ImportError as e:
            raise RuntimeError(
                f"board {self.name!r} needs amaranth-boards "
                f"(amaranth_boards.{self.platform_module}): {e}") from None
        return getattr(module, self.platform_class)

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


class _Series7Board(Board):
    """Xilinx 7-series (Artix-7, Zynq-7000 PL): RAMB36E1/RAMB18E1, DSP48E1 (25×18)."""

    family = "xc7"
    bram_primitive = "RAMB36E1"  # UG473, 7 Series FPGAs Memory Resources
    dsp_primitive = "DSP48E1"  # UG479, 7 Series DSP48E1 Slice
    dsp_a_bits, dsp_b_bits = 25, 18  # UG479: 25 × 18 two's-complement multiplier


class _UltraScalePlusBoard(Board):
    """Xilinx UltraScale+: RAMB36E2/RAMB18E2 (same aspect ratios as 7-series), DSP48E2."""

    family = "xcup"
    bram_primitive = "RAMB36E2"  # UG573, UltraScale Architecture Memory Resources
    dsp_primitive = "DSP48E2"  # UG579, UltraScale Architecture DSP Slice
    dsp_a_bits, dsp_b_bits = 27, 18  # UG579: 27 × 18 multiplier


class _ICE40Board(Board):
    """Lattice iCE40 UltraPlus: 4 Kbit EBR, 256 Kbit SPRAM, SB_MAC16 (16×16)."""

    family = "ice40"
    bram_primitive = "SB_RAM40_4K"  # iCE40 UltraPlus data sheet FPGA-DS-02008, sysMEM EBR
    dsp_primitive = "SB_MAC16"  # FPGA-DS-02008, DSP block: 16 × 16 multiply-accumulate
    dsp_a_bits, dsp_b_bits = 16, 16


class _ECP5Board(Board):
    """Lattice ECP5: 18 Kbit sysMEM EBR (DP16KD), sysDSP MULT18X18D (18×18)."""

    family = "ecp5"
    bram_primitive = "DP16KD"  # FPGA-TN-02204, ECP5 Memory Usage Guide: 18 Kbit EBR
    dsp_primitive = "MULT18X18D"  # FPGA-TN-02205, ECP5 sysDSP Usage Guide
    dsp_a_bits, dsp_b_bits = 18, 18


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
