"""LUTs of the PE's lanes on a 6-input-LUT fabric, the table `sim.resources` prices them by.

Yosys ``synth_xilinx -flatten`` (the Arty A7's xc7 family), per q = 1 … 8:

- a hidden-layer lane: eight `hw.pe.lane_product` lanes (shift-add, ``mult_impl="lut"``)
  of a q-bit weight operand times a q-bit activation, each gated by its lane enable and
  registered as in `hw.pe.PE`; LUTs per lane (its adder tree is priced apart);
- a first-pass lane with its share of the adder tree: a `hw.pe.PE` with F = 9 first-pass
  lanes (one 3 × 3 kernel over a one-channel image) and one hidden lane, less the same PE
  without first-pass lanes, over 9. The weights: an operand (any value),
  one constant (a lane whose weight is the same in every ROM word of its PE: synthesis
  folds it in), or one of two constants that a register bit chooses (a lane holding two
  weights: the ROM's data register then follows one address bit). Constants are drawn
  uniformly (seed 0);
- a DSP lane (``mult_impl="dsp"``, where Yosys puts the product into a DSP48E1: q ≥ 5
  hidden, q ≥ 2 first-pass) with its share of the adder tree, which Yosys folds into the
  DSP slices' post-adders in part: a PE with M = 8 hidden lanes less one with M = 1,
  over 7; a PE with F = 9 first-pass lanes less one without, over 9 (None: no DSP).

The output is the table `sim.resources.LUT6_LANE_LUTS` holds (docs/energy.md). About two
minutes on one core::

    python bench/lane_costs.py
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LANES = 8  # hidden-layer lanes synthesized at once
TAPS = 9  # first-pass lanes of the PE: a 3 × 3 kernel, one channel
ACC_BITS = 33  # the accumulator of a vgg network at s = 0.5


def _weights(m, values: int, bits: int, rnd: random.Random, pick, operand):
    """A ``bits``-wide weight: ``operand`` (values 0), a constant (1) or one of two
    constants ``pick`` chooses (2)."""
    from amaranth.hdl import Const, Mux, Signal

    if values == 0:
        return operand
    if values == 1:
        return Const(rnd.getrandbits(bits), bits)
    reg = Signal(bits)
    m.d.sync += reg.eq(Mux(pick, Const(rnd.getrandbits(bits), bits),
                           Const(rnd.getrandbits(bits), bits)))
    return reg


def _hidden_lanes(q: int):
    from amaranth.hdl import Elaboratable, Module, Mux, Signal, signed

    from hw.arith import product_bits
    from hw.pe import lane_product

    class Lanes(Elaboratable):
        def __init__(self):
            self.w = [Signal(q, name=f"w{i}") for i in range(LANES)]
            self.a = [Signal(q, name=f"a{i}") for i in range(LANES)]
            self.en = Signal(LANES)
            self.p = [Signal(signed(product_bits(q, q)), name=f"p{i}") for i in range(LANES)]

        def elaborate(self, platform):
            m = Module()
            for i in range(LANES):
                product = lane_product(self.w[i], self.a[i], q)
                m.d.sync += self.p[i].eq(Mux(self.en[i], product, 0))
            return m

        def ports(self):
            return [*self.w, *self.a, self.en, *self.p]

    return Lanes()


def _first_lanes(q: int, values: int | None, lanes: int = 1, impl: str = "lut"):
    """The PE wrapper (``lanes`` hidden lanes); ``values`` None: no first-pass lanes."""
    from amaranth.hdl import Elaboratable, Module, Signal

    from hw.pe import PE

    class Wrapper(Elaboratable):
        def __init__(self):
            self.pe = PE(q, lanes, ACC_BITS, image_lanes=0 if values is None else TAPS,
                         mult_impl=impl)
            self.inputs = {name: Signal(len(getattr(self.pe, name)), name=name)
                           for name in ("act", "weight", "lane_en", "image_act",
                                        "image_weight", "first_pass", "valid", "first",
                                        "bias")}
            self.pick = Signal()
            self.acc = Signal(ACC_BITS)

        def elaborate(self, platform):
            m = Module()
            m.submodules.pe = pe = self.pe
            pick = Signal()
            m.d.sync += pick.eq(self.pick)
            weight = self.inputs["image_weight"] if values is None else _weights(
                m, values, len(self.inputs["image_weight"]), random.Random(0), pick,
                self.inputs["image_weight"])
            for name, signal in self.inputs.items():
                m.d.comb += getattr(pe, name).eq(weight if name == "image_weight" else signal)
            m.d.comb += self.acc.eq(pe.acc)
            return m

        def ports(self):
            return [*self.inputs.values(), self.pick, self.acc]

    return Wrapper()


def synth_luts(design) -> int:
    """Yosys ``synth_xilinx -flatten`` LUTs of an Amaranth design with ``ports()``
    (`codegen.synth.synth_xilinx`, as ``codegen build`` runs it)."""
    from amaranth.back import verilog

    from codegen.synth import synth_xilinx

    with tempfile.TemporaryDirectory(prefix="qsnas-lanes-") as tmp:
        path = Path(tmp, "lanes.v")
        path.write_text(verilog.convert(design, name="top", ports=design.ports()))
        return synth_xilinx([path], "top", Path(tmp)).lut


def measure(q: int) -> tuple[float, float, float, float]:
    """``LUT6_LANE_LUTS[q]``: LUTs of a hidden lane, and of a first-pass lane with its tree
    share whose weight is an operand, one constant or one of two constants."""
    hidden = round(synth_luts(_hidden_lanes(q)) / LANES, 1)
    base = synth_luts(_first_lanes(q, None))
    first = [round((synth_luts(_first_lanes(q, values)) - base) / TAPS, 1)
             for values in (0, 1, 2)]
    return (hidden, *first)


def measure_dsp(q: int) -> tuple[float | None, float | None]:
    """``LUT6_DSP_LANE_LUTS[q]``: LUTs of a hidden and of a first-pass DSP lane with their
    tree shares (None: the product is too narrow for a DSP slice,
    `sim.resources.mult_in_dsp`)."""
    from intnet.contract import INPUT_BITS
    from sim.resources import mult_in_dsp

    hidden_dsp, first_dsp = mult_in_dsp(q, "xc7", q), mult_in_dsp(q, "xc7", INPUT_BITS)
    if not (hidden_dsp or first_dsp):
        return None, None
    one = synth_luts(_first_lanes(q, None, 1, "dsp"))  # one hidden lane, no first pass
    hidden = round((synth_luts(_first_lanes(q, None, LANES, "dsp")) - one) / (LANES - 1), 1) \
        if hidden_dsp else None
    first = round((synth_luts(_first_lanes(q, 0, 1, "dsp")) - one) / TAPS, 1) \
        if first_dsp else None
    return hidden, first


def main() -> int:
    print("LUT6_LANE_LUTS = {  # q: hidden lane; first-pass lane (and tree share) of any, "
          "one, two weights")
    for q in range(1, 9):
        print(f"    {q}: ({', '.join(map(str, measure(q)))}),", flush=True)
    print("}")
    print("LUT6_DSP_LANE_LUTS = {  # q: hidden, first-pass DSP lane (and tree share)")
    for q in range(1, 9):
        print(f"    {q}: {measure_dsp(q)},", flush=True)
    print("}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
