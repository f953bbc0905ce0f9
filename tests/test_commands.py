"""The command lines as a new user meets them (issue 18): tables, --help, one-line refusals.

Each point of the issue has a test here; the bad-input matrix is tests/test_cli_matrix.py.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
PARSERS = {"codegen": "codegen.__main__", "model": "model.__main__", "search": "search.__main__",
           "sim": "sim.__main__", "bench": "bench.__main__"}


def all_parsers():
    """(name, parser) of every command and subcommand."""
    for prog, module in PARSERS.items():
        top = importlib.import_module(module).build_parser()
        subs = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield prog, top
        for sub in subs:
            for name, parser in sub.choices.items():
                yield f"{prog} {name}", parser


PARSER_LIST = list(all_parsers())


@pytest.mark.parametrize("name,parser", PARSER_LIST, ids=[n for n, _ in PARSER_LIST])
def test_help_shows_every_default_and_no_markup(name, parser):
    text = parser.format_help()
    assert "``" not in text, "reST markup in --help"
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0:  # positionals, flags
            continue
        help_text = action.help or ""
        assert "default" in help_text or "required" in help_text, (name, action.dest)
        if action.dest == "mult":
            assert "q-bit" not in help_text


# Output options named after the format they write, fixed by the command-line contract
# (ARCHITECTURE.md); every other output is --out.
FORMAT_NAMED_OUTPUTS = {("sim rtl", "--json"), ("sim cycles", "--json"), ("model export", "--onnx")}


def test_one_name_for_output_options():
    """Issue 18: outputs are --out, except the contract's format-named ones; those of
    sim rtl and sim cycles are optional (both print a table)."""
    import re

    writes = re.compile(r"\b(write|output|build directory)\b")
    seen = set()
    for name, parser in PARSER_LIST:
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0:
                continue
            if writes.search(action.help or ""):
                option = action.option_strings[0]
                assert option == "--out" or (name, option) in FORMAT_NAMED_OUTPUTS, (name, option)
                seen.add((name, option))
                if option == "--json":
                    assert not action.required, name
    assert FORMAT_NAMED_OUTPUTS <= seen
    assert ("sim sweep", "--out") in seen and ("codegen build", "--out") in seen


def test_the_epoch_defaults_are_the_models():
    from model.defaults import DEFAULT_EPOCHS

    for name, parser in PARSER_LIST:
        for action in parser._actions:
            if action.dest == "epochs":
                for arch, epochs in DEFAULT_EPOCHS.items():
                    assert f"{epochs} for {arch}" in action.help, name


def run(prog, argv, capsys):
    status = run_cli(importlib.import_module(PARSERS[prog]).main, argv, prog=prog)
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("prog,argv,message", [
    ("codegen", ["build", "--q", "2", "--s", "1", "--mul", "8"],
     "codegen: error: unrecognized arguments: --mul 8"),
    ("sim", ["sweep", "--q", "2,,", "--s", "1", "--out", "x.csv"],
     "sim: error: --q must be a comma-separated list of integers, not '2,,'"),
    ("search", ["--target-acc", "0.9", "--s-samples", "1,,2"],
     "search: error: --s-samples must be a comma-separated list of numbers, not '1,,2'"),
    ("codegen", ["--q", "2", "--s", "1.5"],
     "codegen: error: the command is missing: python -m codegen build --q 2 --s 1.5"),
    ("sim", ["--bundle", "b"], "sim: error: the command is missing (one of rtl, cycles, "
                               "sweep): python -m sim COMMAND --bundle b"),
])
def test_a_mistyped_command_line_is_one_line(prog, argv, message, capsys, tmp_path,
                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(prog, argv, capsys)
    assert status == 2 and err == message + "\n"
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def bundle(tmp_path):
    from intnet.bundle import save_bundle
    from intnet.synthetic import family_network

    return save_bundle(family_network("vgg", 2, 0.25, (8, 8, 1), seed=1), tmp_path / "b")


@pytest.mark.parametrize("reuse", ["auto", "on", "off"])
def test_sim_cycles_prints_a_table_and_writes_json_on_request(bundle, tmp_path, capsys, reuse):
    from intnet.bundle import load_bundle
    from sim.cycles import network_cycle_model

    args = ["cycles", "--bundle", str(bundle), "--pe", "2", "--mult", "2",
            "--weight-reuse", reuse]
    status, out, _ = run("sim", args, capsys)
    assert status == 0 and not out.startswith("{")
    lines = out.splitlines()
    # auto: the energy model's choice, which here is reuse (it saves weight reads)
    on = reuse != "off"
    assert lines[0].endswith(f"weight reuse {'on' if on else 'off'}")
    assert lines[1].split() == ["layer", "kind", "w/in/out", "bits", "split", "cycles",
                                "bound", "ratio", "energy", "µJ"]
    model = network_cycle_model(load_bundle(bundle), 2, 2, weight_reuse=on)
    assert model["weight_reuse"] is on
    for layer in model["layers"]:
        row = next(line for line in lines if line.startswith(layer["name"] + " "))
        assert f"{layer['cycles']:,}" in row.split()
    total = lines[-1].split()
    assert total[:3] == ["total", f"{model['cycles']:,}", f"{model['physical_bound']:,}"]
    status, out, _ = run("sim", [*args, "--json", str(tmp_path / "c.json")], capsys)
    assert status == 0 and json.loads((tmp_path / "c.json").read_text()) == model


def test_bench_keeps_an_existing_results_file_without_force(tmp_path):
    def bench(*args):
        return subprocess.run([sys.executable, "-m", "bench", "--only", "cycles", "--out",
                               str(tmp_path), *args], cwd=ROOT, capture_output=True, text=True)

    (tmp_path / "RESULTS.md").write_text("keep\n")
    done = bench()
    assert done.returncode == 2
    assert done.stderr == f"bench: error: {tmp_path / 'RESULTS.md'} exists (pass --force to " \
                          "replace it)\n"
    assert (tmp_path / "RESULTS.md").read_text() == "keep\n"
    assert bench("--force").returncode == 0
    assert (tmp_path / "RESULTS.md").read_text() != "keep\n"


def test_search_output_folder_is_ignored_by_git():
    assert "search_out/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_bo_progress_bar_counts_networks_trained(capsys):
    """The bar ends at the networks trained (the budget), not at Optuna's trial cap."""
    from search.bo import bo_search

    res = bo_search(lambda q, s: (0.9 + q / 100, q * s), (1, 2, 4), (0.5, 1.0), 0.9,
                    n_trials=4, seed=0, progress=True)
    err = capsys.readouterr().err
    assert res["evaluated"] == 4
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "BO: networks trained" in last and "4/4" in last, last
