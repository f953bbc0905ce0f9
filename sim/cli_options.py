"""Options the ``sim`` commands share (``sim cycles``, ``sim rtl``, ``sim sweep``)."""

from __future__ import annotations

from common.cli import UserError


def add_bundle_array(parser) -> None:
    """``--bundle``, ``--pe``, ``--mult``: the network and the array it runs on."""
    parser.add_argument("--bundle", required=True,
                        help="IntegerNetwork bundle directory (required)")
    parser.add_argument("--pe", type=int, required=True, help="processing engines P (required)")
    parser.add_argument("--mult", type=int, required=True,
                        help="multiplier lanes per PE M (required)")


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


WEIGHT_REUSE_CHOICES = {"auto": "auto", "on": True, "off": False}


def add_weight_reuse(parser, auto_means: str) -> None:
    """``--weight-reuse {auto,on,off}``: whether the passes that can feed each weight word
    to two pixels (`hw.plan.reuses_weights`); ``auto_means`` says whose choice "auto" is."""
    parser.add_argument("--weight-reuse", choices=sorted(WEIGHT_REUSE_CHOICES), default="auto",
                        help="build the array with weight reuse (each weight word read once "
                             "for two pixels of a pooled conv pass; a second accumulator per "
                             f"PE): on, off, or auto, {auto_means} (default auto)")


def weight_reuse_option(value: str) -> bool | str:
    """``--weight-reuse``'s value as `search.design.evaluate`'s ``weight_reuse``."""
    return WEIGHT_REUSE_CHOICES[value]


def chosen_impl(specs, lane_bits: int, pe: int, mult: int, board, option: str,
                clock_mhz: float | None = None) -> dict:
    """The hardware `codegen build` would make of ``specs`` on ``board`` (lane
    multipliers, weight reuse: `search.design.impl_of`), ``--weight-reuse`` ``option``
    overriding the energy model's choice of reuse."""
    from search.design import evaluate, impl_of

    return impl_of(evaluate(specs, lane_bits, pe, mult, board, clock_mhz=clock_mhz,
                            weight_reuse=weight_reuse_option(option)))
