"""Every bad input × every command: one line on stderr, exit status 2, nothing written.

The matrix is issue 7's list (q ∈ {0, 9, −1, x}, s ≤ 0 and s = 1000, P or M ≤ 0, unknown
arch / dataset / board, missing data files, a network that does not fit, an existing
output without --force, an unwritable output) applied to ``codegen build``, ``model
train``, ``search`` and ``sim {rtl,cycles,sweep}``. Where an input does not exist for a
command (``model train`` has no board, ``sim rtl`` reads q and s from its bundle) the
cell is absent; docs/reliability.md lists the whole table with the messages.
All commands run in-process through `common.cli.run_cli`, as ``python -m`` runs them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.cli import run_cli
from intnet.bundle import save_bundle
from intnet.synthetic import family_network

OUT = "{out}"  # replaced by the test's output path
BUNDLE = "{bundle}"

# command → (prog, module, argv of a valid call whose output is OUT)
COMMANDS = {
    "codegen build": ("codegen", "codegen.__main__",
                      ["build", "--q", "2", "--s", "1", "--out", OUT]),
    "model train": ("model", "model.__main__", ["train", "--q", "2", "--s", "1", "--out", OUT]),
    "search": ("search", "search.__main__", ["--target-acc", "0.9", "--out", OUT]),
    "sim rtl": ("sim", "sim.__main__",
                ["rtl", "--bundle", BUNDLE, "--pe", "2", "--mult", "2", "--json", OUT]),
    "sim cycles": ("sim", "sim.__main__", ["cycles", "--bundle", BUNDLE, "--pe", "2",
                                           "--mult", "2"]),
    "sim sweep": ("sim", "sim.__main__", ["sweep", "--q", "2", "--s", "1", "--out", OUT]),
}

Q_MSG = "must be an integer bit width in 1..8, not {}"
S_MSG = "s: a width scale is a number in (0, 16], not {}"
POS_MSG = "{} must be a positive integer, not {}"
MISSING_DATA = "cifar10: data directory '/nonexistent/data' does not exist"


def _q(value):
    """The q option per command and the message it gets."""
    msg = Q_MSG.format(value) if value != "x" else None
    return {
        "codegen build": (["--q", value], msg or "argument --q: invalid int value: 'x'"),
        "model train": (["--q", value], msg or "argument --q: invalid int value: 'x'"),
        "search": (["--q-samples", f"2,{value}"],
                   msg or "--q-samples must be a comma-separated list of integers, not '2,x'"),
        "sim sweep": (["--q", f"{value}"],
                      msg or "--q must be a comma-separated list of integers, not 'x'"),
    }


def _s(value):
    msg = S_MSG.format(float(value))
    return {
        "codegen build": (["--s", value], msg),
        "model train": (["--s", value], msg),
        "search": (["--s-samples", f"1,{value}"], msg),
        "sim sweep": (["--s", value], msg),
    }


def _pm(option, value):
    return {
        "codegen build": ([f"--{option}", value], POS_MSG.format(f"--{option}", value)),
        "sim rtl": ([f"--{option}", value], POS_MSG.format(f"--{option}", value)),
        "sim cycles": ([f"--{option}", value], POS_MSG.format(f"--{option}", value)),
        "sim sweep": ([f"--{option}", f"4,{value}"], POS_MSG.format(f"--{option}", value)),
    }


def _choice(option, value):
    msg = f"argument --{option}: invalid choice: '{value}'"
    cmds = ("codegen build", "model train", "search", "sim sweep")
    return {c: ([f"--{option}", value], msg) for c in cmds}


BOARD_MSG = "board must be one of arty_a7_35, arty_a7_100, arty_z7_20, rfsoc_4x2, icebreaker"
DATA = ["--dataset", "cifar10", "--data-dir", "/nonexistent/data"]

# bad input → {command: (extra argv, message)}
MATRIX = {
    "q=0": _q("0"), "q=9": _q("9"), "q=-1": _q("-1"), "q=x": _q("x"),
    "s=0": _s("0"), "s=-1": _s("-1"), "s=1000": _s("1000"),
    "s-max=1000": {"search": (["--s-max", "1000"], "--s-max must be in [--s-min, 16]")},
    "P=0": _pm("pe", "0"), "M=-3": _pm("mult", "-3"),
    "unknown arch": _choice("arch", "resnet"),
    "unknown dataset": {c: (["--dataset", "imagenet"], "argument --dataset: must be one of "
                            "mnist5k, digits, cifar10, svhn or a .npz file of your own, not "
                            "'imagenet'") for c in ("codegen build", "model train", "search",
                                                    "sim sweep")},
    "missing data set file": {c: (["--dataset", "/nonexistent/own.npz"], "data set file "
                                  "'/nonexistent/own.npz' does not exist")
                              for c in ("codegen build", "model train", "search", "sim sweep")},
    "unknown board": {c: (["--board", "de0"], BOARD_MSG)
                      for c in ("codegen build", "search", "sim sweep")},
    "missing data files": {
        "codegen build": (DATA, MISSING_DATA),
        "model train": (DATA, MISSING_DATA),
        "search": (DATA, MISSING_DATA),
        "sim rtl": (["--data-dir", "/nonexistent/data", "--bundle", "{cifar_bundle}"],
                    MISSING_DATA),
    },
    "does not fit": {
        "codegen build": (["--q", "8", "--pe", "64", "--mult", "64"],
                          "P=64 M=64 does not fit arty_a7_35 at q=8"),
        "search": (["--board", "icebreaker", "--s-min", "8", "--s-max", "16"],
                   "no design fits icebreaker: even vgg at q=1 s=8 on mnist5k"),
    },
}
CASES = [(bad, cmd) for bad, cells in MATRIX.items() for cmd in sorted(cells)]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    mnist = save_bundle(family_network("vgg", 2, 0.25, seed=1), root / "mnist")
    cifar = family_network("vgg", 2, 0.25, (32, 32, 3), seed=1)
    cifar.dataset = "cifar10"
    return {"bundle": str(mnist), "cifar_bundle": str(save_bundle(cifar, root / "cifar"))}


def run(cmd, extra, work, bundles, capsys, out=None):
    """Run ``cmd`` with ``extra`` options (later options win); return (status, stderr)."""
    import importlib

    prog, module, base = COMMANDS[cmd]
    out = str(out or work / "out")
    argv = [a.format(out=out, **bundles) for a in base + extra]  # a repeated option: last wins
    status = run_cli(importlib.import_module(module).main, argv, prog=prog)
    return status, capsys.readouterr().err


def check_refused(status, err, prog, message):
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: "), err
    assert "Traceback" not in err
    assert message in err, err


@pytest.fixture
def work(monkeypatch, tmp_path):
    """An empty working directory (a refused command must leave it empty); caches elsewhere."""
    monkeypatch.delenv("QSNAS_DEBUG", raising=False)
    monkeypatch.setenv("QSNAS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "work"


@pytest.mark.parametrize("bad,cmd", CASES, ids=[f"{c}: {b}" for b, c in CASES])
def test_bad_input(bad, cmd, work, bundles, capsys):
    extra, message = MATRIX[bad][cmd]
    status, err = run(cmd, extra, work, bundles, capsys)
    check_refused(status, err, COMMANDS[cmd][0], message)
    assert sorted(os.listdir(work)) == [], "a refused command wrote something"


WRITERS = ("codegen build", "model train", "search", "sim rtl", "sim sweep")


@pytest.mark.parametrize("cmd", WRITERS)
def test_existing_output_needs_force(cmd, work, bundles, capsys):
    out = work / "out"
    if cmd.startswith("sim"):
        out.write_text("keep\n")
    else:
        out.mkdir()
        (out / "keep").write_text("keep\n")
    status, err = run(cmd, [], work, bundles, capsys)
    check_refused(status, err, COMMANDS[cmd][0], f"{out} exists (pass --force to replace it)")
    kept = out if cmd.startswith("sim") else out / "keep"
    assert kept.read_text() == "keep\n"


@pytest.mark.parametrize("cmd", WRITERS)
def test_unwritable_output(cmd, work, bundles, capsys):
    # A path below a regular file cannot be created, even by root.
    (work / "file").write_text("")
    status, err = run(cmd, [], work, bundles, capsys, out=work / "file" / "out")
    check_refused(status, err, COMMANDS[cmd][0], "cannot write to")
    assert sorted(os.listdir(work)) == ["file"]


PROC = Path("/proc/self").is_dir()  # a virtual file system that refuses new files


@pytest.mark.skipif(not PROC, reason="no /proc file system")
@pytest.mark.parametrize("cmd", WRITERS)
def test_output_on_a_virtual_file_system(cmd, work, bundles, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("QSNAS_RTL_CACHE", str(tmp_path / "rtl"))
    status, err = run(cmd, [], work, bundles, capsys, out="/proc/qsnas-out")
    check_refused(status, err, COMMANDS[cmd][0],
                  "cannot write to /proc: new files cannot be created there")
    assert sorted(os.listdir(work)) == []
    assert not (tmp_path / "rtl").exists(), "refused before any simulation"


# A refusal that comes after the output check (inside the build, or at the data files).
LATE_REFUSALS = {
    "codegen build": ["--q", "8", "--pe", "64", "--mult", "64"],
    "model train": DATA,
    "search": ["--board", "icebreaker", "--s-min", "8", "--s-max", "16"],
    "sim rtl": ["--data-dir", "/nonexistent/data", "--bundle", "{cifar_bundle}"],
}


@pytest.mark.parametrize("cmd", sorted(LATE_REFUSALS))
def test_a_refused_command_leaves_no_parent_folders(cmd, work, bundles, capsys):
    out = work / "new" / "deeper" / ("b.json" if cmd.startswith("sim") else "b")
    status, err = run(cmd, LATE_REFUSALS[cmd], work, bundles, capsys, out=out)
    assert status == 2 and err.count("\n") == 1, err
    assert sorted(os.listdir(work)) == [], "a refused command left folders behind"


def test_a_full_disk_is_one_line_and_leaves_nothing(work):
    """The sweep's CSV hits the file-size limit (RLIMIT_FSIZE, as a full disk would stop
    it): exit status 2, one line, no temporary file."""
    import resource
    import signal
    import subprocess
    import sys

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("QSNAS_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "sim", "sweep", "--q", "1,2,4,8", "--s", "0.5,1,2",
         "--out", "rows.csv", "--quiet"], cwd=work, env=env, preexec_fn=limit,
        capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "sim: error: cannot write rows.csv: File too large\n"
    assert sorted(os.listdir(work)) == []


def test_force_replaces_an_existing_output(work, bundles, capsys):
    out = work / "rows.csv"
    out.write_text("old\n")
    status, err = run("sim sweep", ["--force", "--pe", "2", "--mult", "2", "--quiet"],
                      work, bundles, capsys, out=out)
    assert status == 0, err
    assert out.read_text().startswith("q,s,pe,mult,")
    assert sorted(os.listdir(work)) == ["rows.csv"], "a temporary file was left behind"


def markdown_table() -> str:
    """The table of docs/reliability.md: every cell of the matrix with its actual message.

    Print it from the repository root with
    ``python -c "from tests.test_cli_matrix import markdown_table as t; print(t())"``.
    """
    import contextlib
    import importlib
    import io
    import tempfile
    from pathlib import Path

    from intnet.synthetic import family_network as fam

    rows = ["| bad input | command | message (stderr, exit status 2) |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cifar = fam("vgg", 2, 0.25, (32, 32, 3), seed=1)
        cifar.dataset = "cifar10"
        paths = {"bundle": str(save_bundle(fam("vgg", 2, 0.25, seed=1), tmp / "b")),
                 "cifar_bundle": str(save_bundle(cifar, tmp / "c"))}
        cells = [(bad, cmd, MATRIX[bad][cmd][0]) for bad, cmd in CASES]
        (tmp / "exists").mkdir()
        (tmp / "exists.json").write_text("")
        (tmp / "file").write_text("")
        for cmd in WRITERS:
            name = "exists.json" if cmd.startswith("sim") else "exists"
            cells.append(("output exists", cmd, ["--out", str(tmp / name)]))
            cells.append(("output unwritable", cmd, ["--out", str(tmp / "file" / "out")]))
            cells.append(("output on /proc", cmd, ["--out", "/proc/qsnas-out"]))
        for bad, cmd, extra in cells:
            prog, module, base = COMMANDS[cmd]
            shown = " ".join(a for a in extra if not a.startswith("{"))
            if extra[:1] == ["--out"]:  # put the path in this command's output option
                shown = f"{base[base.index(OUT) - 1]} {extra[1]}"
                base = [a if a != OUT else extra[1] for a in base]
                extra = []
            argv = [a.format(out=str(tmp / "out"), **paths) for a in base + extra]
            err = io.StringIO()
            # stdout (a refused build's progress lines) stays out of the table
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                run_cli(importlib.import_module(module).main, argv, prog=prog)
            msg = err.getvalue().strip().replace(str(tmp), "…").replace("|", "\\|")
            shown = shown.replace(str(tmp), "…")
            rows.append(f"| {bad} | `{cmd}` `{shown}` | `{msg}` |".replace("``", ""))
    return "\n".join(rows)


def test_the_docs_list_every_cell():
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text()
    cells = CASES + [(bad, cmd) for cmd in WRITERS
                     for bad in ("output exists", "output unwritable", "output on /proc")]
    missing = [c for c in cells if f"| {c[0]} | `{c[1]}`" not in doc]
    assert not missing, f"docs/reliability.md lacks {missing}"
    assert f"{len(cells)} cells" in doc
