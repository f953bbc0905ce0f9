"""The board-level design both board flows build: platform, self-test top, memory files."""

from __future__ import annotations

from hw.board_top import BoardTop
from hw.generate import HEADER
from hw.memfiles import format_mem, mem_width
from hw.rom import ROM_MODULE, ROM_VERILOG

NAME = "qsnas_board"


def prepare(net, pe: int, mult: int, board, image, label: int, platform_cls=None, clock=None,
            impl: dict | None = None):
    """A fresh platform of ``board`` (one per build: a Platform is prepared once) holding
    the ROM module and every ``.mem`` file, and the `BoardTop` whose ROMs read those files
    by bare name from the tool's working directory. Returns ``(platform, top, mem_names)``.
    ``platform_cls`` replaces the board's amaranth-boards platform class (a subclass);
    ``clock`` (a `hw.clocking.ClockPlan`) runs the design from the family's PLL;
    ``impl`` the generator's options (`search.design.impl_of`: lane multipliers, weight
    reuse; `hw.top.Accelerator`'s keywords).
    """
    platform = (platform_cls or board.platform())()
    top = BoardTop(net, pe, mult, image, label, mem_dir="", clock=clock, **(impl or {}))
    packed = top.accel.packed
    names = []
    for name, words in sorted(packed.mem_files().items()):
        width = mem_width(name, packed.plan)
        platform.add_file(name, format_mem(words, width))
        names.append(name)
    platform.add_file(f"{ROM_MODULE}.v", ROM_VERILOG)
    return platform, top, names


def add_lint_header(path) -> None:
    """Prefix a platform-written Verilog file with the generator's header (lint classes)."""
    path.write_text(HEADER + path.read_text())
