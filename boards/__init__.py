"""Target boards: amaranth-boards platform, device capacity, default clock, static power,
and the facts of each device family (`get_family`).

>>> from boards import get_board
>>> get_board("arty_a7_35").capacity.bram36
50
"""

from boards.catalog import (
    BOARDS,
    BRAM36_BITS,
    DEFAULT_BOARD,
    FAMILIES,
    RESOURCE_KEYS,
    XILINX_LUTRAM_MAX_DEPTH,
    Board,
    Capacity,
    OpenFlow,
    board_names,
    get_board,
    get_family,
)

__all__ = ["BOARDS", "BRAM36_BITS", "DEFAULT_BOARD", "FAMILIES", "RESOURCE_KEYS",
           "XILINX_LUTRAM_MAX_DEPTH", "Board", "Capacity", "OpenFlow", "board_names",
           "get_board", "get_family"]
