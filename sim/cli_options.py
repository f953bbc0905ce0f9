"""Options the ``sim`` commands that price designs share (``sim cycles``, ``sim sweep``)."""

from __future__ import annotations

from common.cli import UserError


def add_clock_mhz(parser) -> None:
    """``--clock-mhz``: the design clock the energy model prices latency at."""
    parser.add_argument("--clock-mhz", type=float, default=None,
                        help="design clock in MHz for the energy model (default: the oscillator "
                        "on Xilinx boards, on iCE40/ECP5 the PLL clock their designs were "
                        "measured to close at)")


def check_clock_mhz(value: float | None) -> float | None:
    """``--clock-mhz`` as given, or `UserError` for a clock that is not positive."""
    if value is not None and not value > 0:
        raise UserError(f"--clock-mhz must be a positive number, not {value!r}")
    return value
