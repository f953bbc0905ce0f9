"""End-to-end cocotb bench: stream each image in, pulse start, await done, read logits.

Parameters come through the environment (set by `sim.rtl`): ``QSNAS_IMAGES`` (.npy,
uint8 [N, H, W, C]), ``QSNAS_CLASSES``, ``QSNAS_RESULT`` (JSON written here). Python
runs per image byte during the load only; the compute is one ``await`` on ``done``.
"""

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge


def _signed32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


async def load_image(dut, image) -> None:
    """Drive the image stream: one byte per handshake, H, W, C order."""
    for byte in image.reshape(-1):
        dut.image__payload.value = int(byte)
        dut.image__valid.value = 1
        while True:
            await ReadOnly()
            accepted = int(dut.image__ready.value)
            await RisingEdge(dut.clk)
            if accepted:
                break
    dut.image__valid.value = 0


def _report_progress(done: int, cycles: int) -> None:
    """One line per finished image in $QSNAS_PROGRESS, which the runner shows as it goes
    (`sim.rtl.run_bench`)."""
    path = os.environ.get("QSNAS_PROGRESS")
    if path:
        with open(path, "a") as f:
            f.write(f"{done} {cycles}\n")


@cocotb.test()
async def run_images(dut):
    images = np.load(os.environ["QSNAS_IMAGES"])
    classes = int(os.environ["QSNAS_CLASSES"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.start.value = 0
    dut.image__valid.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    result = {"logits": [], "classes": [], "cycles": [], "compute_wall_s": [], "load_wall_s": []}
    for image in images:
        t0 = time.perf_counter()
        await load_image(dut, image)
        result["load_wall_s"].append(time.perf_counter() - t0)
        await RisingEdge(dut.clk)
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        t0 = time.perf_counter()
        await RisingEdge(dut.done)
        result["compute_wall_s"].append(time.perf_counter() - t0)
        await ReadOnly()
        flat = dut.logits.value.to_unsigned()
        result["logits"].append(
            [_signed32((flat >> (32 * c)) & 0xFFFFFFFF) for c in range(classes)])
        result["classes"].append(int(dut.class_out.value.to_unsigned()))
        result["cycles"].append(int(dut.cycles.value.to_unsigned()))
        _report_progress(len(result["cycles"]), result["cycles"][-1])
        await RisingEdge(dut.clk)
    with open(os.environ["QSNAS_RESULT"], "w") as f:
        json.dump(result, f)
