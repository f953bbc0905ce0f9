"""Plot point labels (`common.plots.place_labels`, pareto.png and the sweep's plot): where
points crowd, no label covers another label, a marker or the legend, and none leaves the
axes; with ``keep_all`` every point keeps its label."""

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from common.plots import place_labels  # noqa: E402


def _crowded_plot():
    rng = np.random.default_rng(0)
    # a tight cluster (as the mixed trials at one s) and a few points apart
    pts = [(float(x), float(y)) for x, y in zip(3.5 + 0.4 * rng.random(30),
                                                0.97 + 0.015 * rng.random(30), strict=True)]
    pts += [(8.0, 0.981), (15.0, 0.97), (50.0, 0.986), (190.0, 0.985), (3.3, 0.917)]
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    ax.scatter(*zip(*pts, strict=True), label="networks")
    ax.set_xscale("log")
    legend = ax.legend(loc="lower right")
    fig.tight_layout()
    return fig, ax, legend, pts


def test_labels_overlap_nothing_and_stay_in_the_axes():
    fig, ax, legend, pts = _crowded_plot()
    labelled = [(p, f"q{i % 8 + 1} s{i}") for i, p in enumerate(pts)]
    drawn = place_labels(fig, ax, labelled, [(p, 3.5) for p in pts], [legend])
    renderer = fig.canvas.get_renderer()
    notes = [c for c in ax.get_children() if isinstance(c, Annotation)]
    boxes = [n.get_window_extent(renderer) for n in notes]
    # the points apart are all labelled; the cluster cannot hold a label for each of its 30
    assert 5 <= len(notes) == drawn < len(pts)
    inside = ax.get_window_extent(renderer)
    for box in boxes:
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)
        assert not box.overlaps(legend.get_window_extent(renderer))
        for x, y in ax.transData.transform(pts):
            r = 3.5 * fig.dpi / 72
            assert not (box.x0 < x + r and x - r < box.x1 and box.y0 < y + r and y - r < box.y1)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    plt.close(fig)


def test_labels_go_in_the_order_given():
    fig, ax, legend, pts = _crowded_plot()
    first, second = pts[0], pts[1]  # two points of the cluster
    place_labels(fig, ax, [(first, "first"), (second, "second")], [], [legend])
    texts = [c.get_text() for c in ax.get_children() if isinstance(c, Annotation)]
    assert texts[0] == "first"
    plt.close(fig)


def test_keep_all_labels_every_point():
    fig, ax, legend, pts = _crowded_plot()
    labelled = [(p, f"{i}") for i, p in enumerate(pts)]
    assert place_labels(fig, ax, labelled, [(p, 3.5) for p in pts], [legend],
                        keep_all=True) == len(pts)
    texts = sorted(c.get_text() for c in ax.get_children() if isinstance(c, Annotation))
    assert texts == sorted(text for _, text in labelled)
    plt.close(fig)
