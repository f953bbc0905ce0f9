"""The scripts that write figures into the docs: the README's accuracy table
(`bench/accuracy_seeds.py`) and the tree of docs/examples/ (`bench/examples.py`)."""

from bench.accuracy_seeds import table
from bench.examples import tree


def test_accuracy_table_is_mean_and_half_the_range_over_seeds():
    runs = [{"seed": i, "float": f, "integer": q, "cached": True, "seconds": 0.0}
            for i, (f, q) in enumerate([(0.986, 0.987), (0.981, 0.976), (0.987, 0.986)])]
    result = {"rows": [{"arch": "vgg", "q": 4, "s": 1.0, "target": "≥ 97 %", "runs": runs}]}
    lines = table(result).splitlines()
    assert lines[0] == "| network | float | integer (golden) | integer per seed | target |"
    # float: mean 98.47, range 0.6 → ± 0.3; integer: mean 98.30, range 1.1 → ± 0.55
    assert lines[2] == ("| vgg q=4 s=1 | 98.5 % ± 0.3 | **98.3 % ± 0.6** | 98.7, 97.6, 98.6 | "
                        "≥ 97 % |")


def test_build_tree_lists_every_file_sorted_with_its_size(tmp_path):
    root = tmp_path / "vgg-build"
    (root / "rtl").mkdir(parents=True)
    (root / "rtl" / "top.v").write_text("x" * 1234)
    (root / "report.json").write_text("{}")
    lines = tree(root).splitlines()
    assert lines[0] == "vgg-build/"
    assert [line.split()[0] for line in lines[1:]] == ["report.json", "rtl/top.v"]
    assert lines[2].split()[1:] == ["1,234", "bytes"]


def test_build_tree_puts_a_numbered_series_on_one_line(tmp_path):
    root = tmp_path / "b"
    (root / "mem").mkdir(parents=True)
    for pe in range(12):  # pe10 and pe11 sort after pe9, not after pe1
        (root / "mem" / f"weights_pe{pe}.mem").write_text("x" * (10 + (pe >= 10)))
    (root / "mem" / "params_pe0.mem").write_text("y")
    (root / "mem" / "params_pe2.mem").write_text("yy")  # not a run: listed one by one
    lines = tree(root).splitlines()[1:]
    assert [line.split()[0] for line in lines] == [
        "mem/params_pe0.mem", "mem/params_pe2.mem", "mem/weights_pe{0..11}.mem"]
    assert lines[2].split()[1:] == ["12", "files,", "10–11", "bytes", "each"]
