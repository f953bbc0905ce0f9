"""Delay lines: a value taken n clock cycles later, to keep control beside its data."""

from __future__ import annotations

from amaranth.hdl import Signal


def delayed(m, value, cycles: int, name: str):
    """``value`` as it was ``cycles`` clock cycles ago (registers in ``m``'s sync domain);
    ``value`` itself for 0 cycles."""
    for i in range(cycles):
        reg = Signal.like(value, name=f"{name}_d{i + 1}")
        m.d.sync += reg.eq(value)
        value = reg
    return value
