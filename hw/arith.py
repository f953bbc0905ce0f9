"""Datapath arithmetic facts that the generator and the models share (no Amaranth).

`hw.pe` builds its lanes by these rules; `sim.resources` and `sim.energy` price them by
the same ones, and importing them pulls no HDL library into the shape-only tools.
"""

from __future__ import annotations

# Widest weight for which a lane multiplier is built from shifted adds (`hw.pe`); the
# resource model (`sim.resources.mult_in_dsp`) reads the same constant.
SHIFT_ADD_MAX_Q = 3


def product_bits(q: int, act_bits: int) -> int:
    """Signed width of a q-bit weight × unsigned ``act_bits``-bit activation product.

    q = 1: ``±a`` needs ``act_bits + 1``; q ≥ 2: ``|w| ≤ 2^(q−1)`` and ``a < 2^act_bits``
    give ``|w·a| < 2^(q−1+act_bits)``, i.e. ``q + act_bits`` bits.
    """
    return act_bits + 1 if q == 1 else q + act_bits
