"""The jinja2 filters every emitted text uses."""

from codegen.render import file_patterns


def test_numbered_files_read_as_one_pattern():
    pes = [f"mem/weights_pe{j}.mem" for j in (3, 0, 2, 1, 10, 4, 5, 6, 7, 8, 9)]
    assert file_patterns([*pes, "mem/mem_map.json"]) == ["mem/mem_map.json",
                                                         "mem/weights_pe{0..10}.mem"]
    # a run is consecutive numbers just before the extension; others stay one by one,
    # sorted as a reader counts
    assert file_patterns(["a10.v", "a0.v", "a2.v", "p/q12_r3.v", "p/q12_r4.v", "x1.mem"]) \
        == ["a0.v", "a2.v", "a10.v", "p/q12_r{3..4}.v", "x1.mem"]
    assert file_patterns(["rtl/top.v", "hls/tb.cpp"]) == ["hls/tb.cpp", "rtl/top.v"]
