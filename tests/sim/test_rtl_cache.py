"""The Verilator build cache (``$QSNAS_RTL_CACHE``) trusts only whole entries.

Every kind of damage (a truncated binary or other file, a missing file, a binary of the
right size with other bytes, a build that never finished, an unreadable stamp) is
detected by `sim.rtl.entry_damage`, and a damaged entry is rebuilt from scratch. A tiny
design keeps the builds short; tests/sim/test_rtl.py reruns a real network on a damaged
entry.
"""

import json
import shutil
from pathlib import Path

import pytest

from sim import rtl

TINY = """\
module tiny(input clk, input [7:0] a, output reg [7:0] y);
    always @(posedge clk) y <= a + 8'd1;
endmodule
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    from common.files import temporary_environ

    root = tmp_path_factory.mktemp("rtl-cache")
    with temporary_environ(QSNAS_RTL_CACHE=str(root)):
        yield root


@pytest.fixture(scope="module")
def entry(cache):
    return rtl.build_verilog(TINY, "tiny")


def _digest(entry: Path) -> str:
    return json.loads((entry / rtl.STAMP).read_text())["digest"]


def _largest(entry: Path, n: int) -> list[Path]:
    files = [p for p in entry.rglob("*") if p.is_file() and p.name != rtl.STAMP]
    return sorted(files, key=lambda p: p.stat().st_size)[-n:]


def test_a_whole_entry_is_reused_without_rebuilding(entry):
    binary = entry / "tiny"
    before = binary.stat().st_mtime_ns
    assert rtl.entry_damage(entry, "tiny", _digest(entry)) is None
    assert rtl.build_verilog(TINY, "tiny") == entry
    assert binary.stat().st_mtime_ns == before
    assert not list(entry.glob("*.gch")), "precompiled headers are pruned after the build"


def _truncate(path: Path, keep: float = 0.5) -> None:
    with open(path, "r+b") as f:
        f.truncate(int(path.stat().st_size * keep))


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated binary": (lambda e: _truncate(e / "tiny"), "tiny has"),
    "truncated largest files": (lambda e: [_truncate(p) for p in _largest(e, 2)], "bytes, not"),
    "missing binary": (lambda e: (e / "tiny").unlink(), "tiny is missing"),
    "missing object file": (lambda e: next(e.glob("*.o")).unlink(), ".o is missing"),
    "binary with other bytes": (lambda e: _flip_byte(e / "tiny"), "binary tiny differs"),
    "unfinished build (no stamp)": (lambda e: (e / rtl.STAMP).unlink(), "no stamp"),
    "unreadable stamp": (lambda e: (e / rtl.STAMP).write_text("{"), "stamp is unreadable"),
    "stamp of other Verilog": (
        lambda e: (e / rtl.STAMP).write_text(json.dumps(
            dict(json.loads((e / rtl.STAMP).read_text()), digest="0" * 64))),
        "built from other Verilog"),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_every_kind_of_damage_is_detected(kind, entry, tmp_path):
    copy = tmp_path / "entry"
    shutil.copytree(entry, copy)
    damage, reason = DAMAGE[kind]
    assert rtl.entry_damage(copy, "tiny", _digest(entry)) is None
    damage(copy)
    found = rtl.entry_damage(copy, "tiny", _digest(entry))
    assert found is not None and reason in found, found


def test_a_damaged_entry_is_rebuilt_whole(entry, capsys):
    for path in _largest(entry, 3):
        _truncate(path)
    assert rtl.build_verilog(TINY, "tiny") == entry
    assert "rebuilding the Verilator model" in capsys.readouterr().err
    assert rtl.entry_damage(entry, "tiny", _digest(entry)) is None


def test_a_half_written_entry_is_rebuilt_from_scratch(entry, capsys):
    # A crash mid-build: no stamp, and a truncated object file newer than its source,
    # which make alone would take as up to date.
    (entry / rtl.STAMP).unlink()
    (entry / "tiny").unlink()
    for obj in entry.glob("*.o"):
        _truncate(obj, 0.3)
    assert rtl.build_verilog(TINY, "tiny") == entry
    assert "an unfinished build" in capsys.readouterr().err
    assert rtl.entry_damage(entry, "tiny", _digest(entry)) is None
