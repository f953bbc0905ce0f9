"""Datapath arithmetic facts that the generator and the models share (no Amaranth).

`hw.pe` builds its lanes by these rules; `sim.resources` and `sim.energy` price them by
the same ones, and importing them pulls no HDL library into the shape-only tools.
"""

from __future__ import annotations

# The lane multipliers the generator writes (`hw.pe.lane_product`), a design choice the
# energy model makes (`search.design`): shift-add in LUTs, or ``*`` for DSP slices.
MULT_IMPLS = ("lut", "dsp")


def product_bits(q: int, act_bits: int) -> int:
    """Signed width of a q-bit weight × unsigned ``act_bits``-bit activation product.

    q = 1: ``±a`` needs ``act_bits + 1``; q ≥ 2: ``|w| ≤ 2^(q−1)`` and ``a < 2^act_bits``
    give ``|w·a| < 2^(q−1+act_bits)``, i.e. ``q + act_bits`` bits.
    """
    return act_bits + 1 if q == 1 else q + act_bits
