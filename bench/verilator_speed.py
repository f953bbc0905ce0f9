"""Simulated cycles per wall-clock second of the accelerator in Verilator (cocotb).

Default design: vgg, q = 4, s = 1, 28×28×1 input, P = M = 8. The compute phase is one
``await`` on ``done`` (no Python per cycle), so its rate is Verilator's own; the image
load runs one Python handshake per byte and is reported separately.

    python bench/verilator_speed.py [--arch vgg] [--q 4] [--s 1] [--pe 8] [--mult 8]
                                    [--images 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from intnet.synthetic import family_network  # noqa: E402
from sim.cycles import network_cycle_model  # noqa: E402
from sim.rtl import build, simulate  # noqa: E402


def measure(arch: str = "vgg", q: int = 4, s: float = 1.0, pe: int = 8, mult: int = 8,
            images: int = 5) -> dict:
    """Build (or reuse) the Verilator model of a random-weight ``arch`` at ``(q, s)`` on a
    ``pe``×``mult`` array, run ``images`` random images, and return the rates."""
    net = family_network(arch, q, s)
    t0 = time.perf_counter()
    build(net, pe, mult)
    build_s = time.perf_counter() - t0
    pixels = np.random.default_rng(0).integers(0, 256, size=(images, *net.input_shape))
    t0 = time.perf_counter()
    r = simulate(net, pe, mult, pixels.astype(np.uint8))
    total_s = time.perf_counter() - t0
    model = network_cycle_model(net, pe, mult)
    cycles = sum(r["cycles"])
    compute_s = sum(r["compute_wall_s"])
    load_cycles = model["image_load_cycles"] * images
    return {
        "design": {"arch": arch, "q": q, "s": s, "pe": pe, "mult": mult},
        "images": images,
        "cycles_per_inference": r["cycles"][0],
        "cycle_model_matches": all(c == model["cycles"] for c in r["cycles"]),
        "build_or_cache_s": round(build_s, 2),
        "compute_cycles_per_s": round(cycles / compute_s) if compute_s else None,
        "load_cycles_per_s": round(load_cycles / sum(r["load_wall_s"])),
        "inference_wall_s": round(compute_s / images, 4),
        "run_wall_s_incl_startup": round(total_s, 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vgg", choices=["vgg", "mobilenet"])
    parser.add_argument("--q", type=int, default=4)
    parser.add_argument("--s", type=float, default=1.0)
    parser.add_argument("--pe", type=int, default=8)
    parser.add_argument("--mult", type=int, default=8)
    parser.add_argument("--images", type=int, default=5)
    args = parser.parse_args(argv)
    out = measure(args.arch, args.q, args.s, args.pe, args.mult, args.images)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
