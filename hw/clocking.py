"""The design clock from the family's PLL: frequency plans and the clock generator.

`plan_clock(family, f_in, f_target)` finds the divider settings of the family's PLL that
give the highest output frequency at or below ``f_target``; `ClockGenerator` instantiates
it (iCE40 ``SB_PLL40_PAD``, ECP5 ``EHXPLLL``, 7-series ``MMCME2_BASE``) and drives the
``sync`` domain, held in reset until the PLL locks. The open flows then place and route
at the planned frequency (`codegen.openflow`), and the report's ``clock_mhz`` is the
planned output, the clock the bitstream really runs at.

Ranges (each from the family's data sheet or PLL user guide):

- iCE40: ``f_out = f_in·(DIVF+1) / ((DIVR+1)·2^DIVQ)``, PFD 10–133 MHz, VCO 533–1066
  MHz, DIVQ 1–6, output 16–275 MHz (FPGA-DS-02008 iCE40 UltraPlus, "sysCLOCK PLL";
  FPGA-TN-02052 iCE40 sysCLOCK PLL Design and Usage Guide). FILTER_RANGE follows the
  PFD frequency as IceStorm's ``icepll`` sets it.
- ECP5: ``f_out = f_in·CLKFB_DIV / CLKI_DIV``, VCO ``f_out·CLKOP_DIV`` 400–800 MHz, PFD
  ≥ 3.125 MHz, CLKI_DIV 1–128, CLKFB_DIV 1–80, CLKOP_DIV 1–128 (FPGA-TN-02200 ECP5
  sysCLOCK PLL/DLL Design and Usage Guide); CLKOP_CPHASE as Project Trellis's
  ``ecppll`` sets it.
- 7-series: ``f_out = f_in·MULT / (DIVCLK·DIV)``, VCO 600–1200 MHz (-1 speed grade),
  PFD 10–450 MHz, MULT 2–64, DIVCLK 1–56, DIV 1–128 (DS181 Artix-7, "MMCM Switching
  Characteristics"; UG472 7 Series Clocking Resources).
- UltraScale+: the same with ``MMCME4_BASE``, VCO 800–1600 MHz, MULT 2–128, DIVCLK 1–106
  (DS925 Zynq UltraScale+, "MMCM Switching Characteristics"; UG572 UltraScale
  Architecture Clocking Resources).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import ResetSynchronizer

FAMILIES = ("ice40", "ecp5", "xc7", "xcup")
# MMCM ranges per Xilinx family: VCO (MHz), CLKFBOUT_MULT_F and DIVCLK_DIVIDE maxima
_MMCM = {"xc7": ("MMCME2_BASE", (600, 1200), 64, 56),
         "xcup": ("MMCME4_BASE", (800, 1600), 128, 106)}


@dataclass(frozen=True)
class ClockPlan:
    """One PLL setting: input and output frequency (MHz) and the primitive's parameters."""

    family: str
    f_in_mhz: float
    f_out_mhz: float
    params: dict = field(default_factory=dict)


def _ice40(f_in: float, target: float) -> ClockPlan | None:
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                out = vco / (1 << divq)
                if 16 <= out <= min(target, 275) and (best is None or out > best.f_out_mhz):
                    frange = next(i for i, top in enumerate((17, 26, 44, 66, 101), 1)
                                  if pfd < top) if pfd < 101 else 6
                    best = ClockPlan("ice40", f_in, out, dict(
                        FEEDBACK_PATH="SIMPLE", DIVR=divr, DIVF=divf, DIVQ=divq,
                        FILTER_RANGE=frange))
    return best


def _ecp5(f_in: float, target: float) -> ClockPlan | None:
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if pfd < 3.125:
            break
        for clkfb in range(1, 81):
            out = pfd * clkfb
            if out > target:
                break
            for clkop in range(1, 129):
                if 400 <= out * clkop <= 800:
                    if best is None or out > best.f_out_mhz:
                        best = ClockPlan("ecp5", f_in, out, dict(
                            CLKI_DIV=clki, CLKFB_DIV=clkfb, CLKOP_DIV=clkop,
                            CLKOP_CPHASE=(clkop - 1) // 2))
                    break
    return best


def _mmcm(family: str, f_in: float, target: float) -> ClockPlan | None:
    _, (vco_lo, vco_hi), mult_max, divclk_max = _MMCM[family]
    best = None
    for divclk in range(1, divclk_max + 1):
        pfd = f_in / divclk
        if not 10 <= pfd <= 450:
            continue
        for mult in range(2, mult_max + 1):
            vco = pfd * mult
            if not vco_lo <= vco <= vco_hi:
                continue
            div = max(1, -(-vco // target))  # the smallest divider at or below the target
            if div <= 128:
                out = vco / div
                if best is None or out > best.f_out_mhz:
                    best = ClockPlan(family, f_in, out, dict(DIVCLK_DIVIDE=divclk,
                                                             CLKFBOUT_MULT_F=mult,
                                                             CLKOUT0_DIVIDE_F=int(div)))
    return best


def plan_clock(family: str, f_in_mhz: float, f_target_mhz: float) -> ClockPlan:
    """The family PLL's highest output at or below ``f_target_mhz`` from ``f_in_mhz``."""
    solvers = {"ice40": _ice40, "ecp5": _ecp5,
               "xc7": lambda a, b: _mmcm("xc7", a, b), "xcup": lambda a, b: _mmcm("xcup", a, b)}
    if family not in solvers:
        raise ValueError(f"no PLL plan for family {family!r} (have {', '.join(FAMILIES)})")
    plan = solvers[family](float(f_in_mhz), float(f_target_mhz))
    if plan is None:
        raise ValueError(f"the {family} PLL cannot make {f_target_mhz:g} MHz or less from "
                         f"{f_in_mhz:g} MHz")
    return plan


class ClockGenerator(wiring.Component):
    """The ``sync`` domain at ``plan.f_out_mhz`` from the board's oscillator ``pin``
    (a raw port for iCE40's PLL pad, a clock signal otherwise); reset until lock."""

    def __init__(self, plan: ClockPlan, pin):
        self._plan, self._pin = plan, pin
        super().__init__({})

    def elaborate(self, platform):
        m = Module()  # drives the parent's ``sync`` domain (Amaranth 0.6 wants it defined there)
        plan, p = self._plan, self._plan.params
        clk, locked = Signal(name="pll_clk"), Signal(name="pll_locked")
        if plan.family == "ice40":
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH=p["FEEDBACK_PATH"], p_DIVR=p["DIVR"],
                p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"],
                io_PACKAGEPIN=self._pin.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=clk, o_LOCK=locked)
        elif plan.family == "ecp5":
            m.submodules.pll = Instance(
                "EHXPLLL", a_FREQUENCY_PIN_CLKI=f"{plan.f_in_mhz:g}",
                a_FREQUENCY_PIN_CLKOP=f"{plan.f_out_mhz:g}", a_ICP_CURRENT="12",
                a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_CPHASE"], p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                p_CLKFB_DIV=p["CLKFB_DIV"],
                i_RST=0, i_STDBY=0, i_CLKI=self._pin, i_CLKFB=clk, i_PHASESEL0=0,
                i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
                i_PLLWAKESYNC=0, i_ENCLKOP=0, o_CLKOP=clk, o_LOCK=locked)
        else:
            feedback, raw = Signal(name="mmcm_fb"), Signal(name="mmcm_clk")
            m.submodules.pll = Instance(
                _MMCM[plan.family][0], p_CLKIN1_PERIOD=round(1000 / plan.f_in_mhz, 3),
                p_DIVCLK_DIVIDE=p["DIVCLK_DIVIDE"], p_CLKFBOUT_MULT_F=float(p["CLKFBOUT_MULT_F"]),
                p_CLKOUT0_DIVIDE_F=float(p["CLKOUT0_DIVIDE_F"]),
                i_CLKIN1=self._pin, i_CLKFBIN=feedback, i_RST=0, i_PWRDWN=0,
                o_CLKFBOUT=feedback, o_CLKOUT0=raw, o_LOCKED=locked)
            m.submodules.bufg = Instance("BUFG", i_I=raw, o_O=clk)
        m.d.comb += ClockSignal("sync").eq(clk)
        m.submodules.reset = ResetSynchronizer(~locked, domain="sync")
        if platform is not None:
            platform.add_clock_constraint(clk, plan.f_out_mhz * 1e6)
        return m
