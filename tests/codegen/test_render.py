"""The jinja2 filters every emitted text uses."""

from codegen.render import file_patterns


def test_numbered_files_read_as_one_pattern():
    pes = [f"mem/weights_pe{j}.mem" for j in (3, 0, 2, 1)] + ["mem/mem_map.json"]
    assert file_patterns(pes) == ["mem/mem_map.json", "mem/weights_pe{0..3}.mem"]
    # a gap lists the numbers; only the last number varies; one file stays as it is
    assert file_patterns(["a0.v", "a5.v", "a2.v", "x1.mem", "p/q12_r3.v", "p/q12_r4.v"]) \
        == ["a{0,2,5}.v", "p/q12_r{3..4}.v", "x1.mem"]
    assert file_patterns(["hls/tb.cpp", "rtl/top.v"]) == ["hls/tb.cpp", "rtl/top.v"]
