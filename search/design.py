"""Design choice: which P × M array runs a network at the least energy on a board.

`evaluate` prices one ⟨network, q, P, M⟩ point with the exact cycle model, the resource
estimate and the energy model (shapes only, milliseconds); `best_design` picks the
least-energy pair that fits the board among `ARRAY_SIZES`. ``codegen build``, ``sim
sweep`` and the search all choose with these, from the same candidate list.
"""

from __future__ import annotations

from functools import lru_cache

from boards import DEFAULT_BOARD, Board, get_board
from intnet.contract import accumulator_bits
from sim.cycles import cycle_model
from sim.energy import BREAKDOWN_KEYS, energy_per_inference
from sim.resources import estimate_resources

__all__ = ["ARRAY_SIZES", "DesignDoesNotFit", "evaluate", "best_design", "rank"]

# The P and M candidates wherever the tool chooses an array by itself.
ARRAY_SIZES = (1, 2, 4, 8, 16)


class DesignDoesNotFit(ValueError):
    """No (P, M) pair of the lists fits the board; the message gives the numbers."""


@lru_cache(maxsize=8192)
def _cycle_model(layers: tuple, q: int, pe: int, mult: int) -> dict:
    return cycle_model(list(layers), q, pe, mult)


def evaluate(layers, q: int, pe: int, mult: int, board: Board | str = DEFAULT_BOARD,
             clock_mhz: float | None = None, mult_impl: str = "auto") -> dict:
    """Cycle, resource and energy figures of one design point.

    Parameters
    ----------
    layers : sequence of LayerSpec
        The network (shapes only), e.g. `intnet.arch.network_specs`.
    q, pe, mult : int
        Bit width, PE count P and multipliers per PE M.
    board : Board or str
    clock_mhz : float, optional
        Defaults to the board's clock.
    mult_impl : {"auto", "lut", "dsp"}
        Multiplier mapping (`sim.resources.estimate_resources`); ``"auto"`` is what
        Yosys does with a plain ``*``, the others need the generator to force it.

    Returns
    -------
    dict
        One sweep row (keys of `COLUMNS` except ``s``, ``arch``, ``dataset``, ``best``),
        plus ``breakdown_uj`` and ``over`` (the exceeded capacities, as text).
    """
    board = get_board(board)
    layers = tuple(layers)
    cm = _cycle_model(layers, q, pe, mult)
    acc = accumulator_bits(layers, q)
    res = estimate_resources(cm["memories"], q, pe, mult, board, acc_bits=acc,
                             mult_impl=mult_impl)
    en = energy_per_inference(cm["events"], cm["memories"], q, pe, mult, board,
                              clock_mhz=clock_mhz, acc_bits=acc, resources=res)
    over = res.over(board)
    row = {
        "q": q, "pe": pe, "mult": mult, "cycles": int(cm["cycles"]),
        "physical_bound": int(cm["physical_bound"]), "energy_uj": en["energy_uj"],
        "bram36": res.bram36, "dsp": res.dsp, "fits": not over, "lut": res.lut,
        "ff": res.ff, "mac_ops": int(cm["mac_ops"]),
        "bound_ratio": cm["cycles"] / cm["physical_bound"] if cm["physical_bound"] else 1.0,
        "latency_us": en["latency_us"], "clock_mhz": en["clock_mhz"],
        "compute_lb_uj": en["compute_lb_uj"], "overhead_ratio": en["overhead_ratio"],
        "pj_per_mac": en["pj_per_mac"], "mult_impl": en["mult_impl"],
        "board": board.name, "breakdown_uj": en["breakdown_uj"], "over": over,
        "acc_bits": acc,
    }
    for k in BREAKDOWN_KEYS:
        row[f"e_{k}_uj"] = en["breakdown_uj"][k]
    return row


def rank(row: dict) -> tuple:
    # Least energy; then fewer cycles; then the smaller array.
    return (row["energy_uj"], row["cycles"], row["pe"] * row["mult"], row["pe"])


def best_design(layers, q: int, board: Board | str = DEFAULT_BOARD,
                pe_list=ARRAY_SIZES, mult_list=ARRAY_SIZES,
                clock_mhz: float | None = None) -> dict:
    """The most energy-efficient (P, M) for ``layers`` at ``q`` that fits ``board``.

    Returns the `evaluate` row of that pair. Ties in energy go to fewer cycles, then to
    the smaller array.

    Raises
    ------
    DesignDoesNotFit
        When no pair fits; the message names the smallest pair's usage and capacity.
    """
    board = get_board(board)
    rows = [evaluate(layers, q, p, m, board, clock_mhz) for p in pe_list for m in mult_list]
    if not rows:
        raise ValueError("pe_list and mult_list must not be empty")
    fitting = [r for r in rows if r["fits"]]
    if fitting:
        return min(fitting, key=rank)
    small = min(rows, key=lambda r: (r["bram36"], r["dsp"], r["lut"]))
    raise DesignDoesNotFit(
        f"no (P, M) in P={list(pe_list)} × M={list(mult_list)} fits {board.name} at q={q}; "
        f"the smallest, P={small['pe']} M={small['mult']}, needs "
        f"{'; '.join(small['over'])} (lut {small['lut']}, ff {small['ff']}, "
        f"dsp {small['dsp']}, bram36 {small['bram36']:g})")
