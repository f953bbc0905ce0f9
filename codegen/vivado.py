"""``vivado/``: a Vivado project script made by the board's amaranth-boards platform.

The platform renders the TCL (read sources, the XDC with the board's pins and clock,
synth, place, route, timing and utilization reports, ``write_bitstream``) and
``build_qsnas_top.sh``; the design is `hw.board_top.BoardTop` (the accelerator, a
built-in test image and LEDs). The ``.mem`` files are added to the plan so they land
beside the script, and the ``script_after_read`` hook adds them to the project as
memory initialization files.
"""

from __future__ import annotations

from pathlib import Path

from codegen.board import NAME, add_lint_header, prepare
from codegen.render import render
from common.files import default_mode


def emit_vivado(net, pe: int, mult: int, board, root: Path, image, label: int,
                clock=None, impl: dict | None = None) -> list[Path]:
    """Write ``root/vivado/``; returns the files written. ``clock`` (a
    `hw.clocking.ClockPlan`) puts an MMCM between the oscillator and the design; Vivado
    derives its output clock's constraint from the oscillator's. ``impl``: the generator's
    options (`search.design.impl_of`)."""
    platform, top, mem_names = prepare(net, pe, mult, board, image, label, clock=clock,
                                       impl=impl)
    after_read = render("vivado_after_read.tcl.j2", mem_files=mem_names)
    plan = platform.build(top, name=NAME, do_build=False, emit_src=False,
                          script_after_read=after_read)
    out = Path(root) / "vivado"
    plan.extract(out)
    for verilog in (out / f"{NAME}.v", out / f"{NAME}.debug.v"):
        add_lint_header(verilog)
    build_sh = out / "build.sh"
    build_sh.write_text(render("vivado_build.sh.j2", name=NAME))
    build_sh.chmod(default_mode(True))  # executable, as the umask allows
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    (out / f"{NAME}_project.tcl").write_text(render(
        "vivado_project.tcl.j2", name=NAME, part=platform._part, mem_files=mem_names,
        verilog=[f for f in files if f.endswith(".v") and not f.endswith(".debug.v")],
        constraints=[f for f in files if f.endswith(".xdc")]))
    return sorted(p for p in out.rglob("*") if p.is_file())
