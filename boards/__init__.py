"""Target boards: amaranth-boards platform, device capacity, default clock, static power.

>>> from boards import get_board
>>> get_board("arty_a7_35").capacity.bram36
50
"""

from boards.catalog import BOARDS, DEFAULT_BOARD, Board, Capacity, board_names, get_board

__all__ = ["BOARDS", "DEFAULT_BOARD", "Board", "Capacity", "board_names", "get_board"]
