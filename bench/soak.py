"""Soak: ``python -m sim rtl`` over many test images in one run, with its memory watched.

The command runs as a subprocess; every half second the resident set size (VmRSS) of the
simulator below it (the Verilator model ``qsnas_top``, which embeds cocotb's Python) is
read from /proc. The figures: mismatching logits over all images, the simulator's RSS five
seconds after it started (cocotb's Python and the model loaded) and at the last sample,
and the peak, so a leak per image shows as growth.

    python bench/soak.py [--images 400] [--arch vgg] [--q 4] [--s 1] [--pe 8] [--mult 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _children() -> dict[int, list[int]]:
    """ppid → pids of every process, from /proc/*/stat."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def simulator_rss(pid: int, name: str = "qsnas_top") -> int | None:
    """VmRSS (KiB) of the process called ``name`` (the Verilator model, with cocotb's
    Python inside) among ``pid`` and its descendants; None while there is none."""
    tree, todo = _children(), [pid]
    while todo:
        p = todo.pop()
        try:
            if Path(f"/proc/{p}/comm").read_text().strip() == name:
                return _rss_kib(p)
        except OSError:
            pass
        todo.extend(tree.get(p, []))
    return None


def measure(images: int = 400, arch: str = "vgg", q: int = 4, s: float = 1.0, pe: int = 8,
            mult: int = 8, dataset: str = "mnist5k", interval: float = 0.5,
            settle: float = 5.0) -> dict:
    """Run ``sim rtl`` on the first ``images`` test images of ``dataset`` through a
    random-weight ``arch`` bundle; mismatches, wall time and the memory samples."""
    from intnet.bundle import save_bundle
    from intnet.synthetic import family_network
    from model.data import dataset_shape

    shape, classes = dataset_shape(dataset)
    net = family_network(arch, q, s, shape, classes, seed=5)
    net.dataset = dataset  # the simulation reads this data set's test images
    with tempfile.TemporaryDirectory(prefix="qsnas-bench-soak-") as tmp:
        bundle = save_bundle(net, Path(tmp) / "bundle")
        out = Path(tmp) / "rtl.json"
        cmd = [sys.executable, "-m", "sim", "rtl", "--bundle", str(bundle), "--pe", str(pe),
               "--mult", str(mult), "--images", str(images), "--json", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        samples = []
        while proc.poll() is None:
            rss = simulator_rss(proc.pid)
            if rss:
                samples.append([round(time.perf_counter() - t0, 1), rss])
            time.sleep(interval)
        _, err = proc.communicate()
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1):  # 1: it ran, with mismatches
            raise RuntimeError(f"sim rtl exited {proc.returncode}: {err.strip()[-500:]}")
        result = json.loads(out.read_text())
    if not samples:
        raise RuntimeError("the simulator process was never seen running")
    peak = max(kib for _, kib in samples)
    # The start: the first sample `settle` seconds after the simulator appeared, once it
    # has loaded cocotb's Python and the model (or the last sample of a shorter run).
    start = next((row for row in samples if row[0] >= samples[0][0] + settle), samples[-1])
    end = samples[-1]
    return {
        "design": {"arch": arch, "q": q, "s": s, "pe": pe, "mult": mult, "dataset": dataset},
        "images": result["images"], "mismatches": result["mismatches"],
        "cycles_per_inference": result["cycles"][0],
        "wall_seconds": round(wall, 1),
        "rss_mib": {"start": round(start[1] / 1024, 1), "end": round(end[1] / 1024, 1),
                    "peak": round(peak / 1024, 1),
                    "start_at_s": start[0], "end_at_s": end[0]},
        "rss_growth_pct": round(100 * (end[1] - start[1]) / start[1], 2),
        "samples": len(samples),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400, help="test images (default 400)")
    parser.add_argument("--arch", default="vgg", choices=["vgg", "mobilenet"],
                        help="network family (default vgg)")
    parser.add_argument("--q", type=int, default=4, help="bit width (default 4)")
    parser.add_argument("--s", type=float, default=1.0, help="width scale (default 1)")
    parser.add_argument("--pe", type=int, default=8, help="processing engines (default 8)")
    parser.add_argument("--mult", type=int, default=8, help="multipliers per PE (default 8)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.images, args.arch, args.q, args.s, args.pe, args.mult),
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
