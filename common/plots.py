"""Point labels for the project's plots (pareto.png, the sweep's plot): beside each point,
where they cover no other label, marker or legend."""

from __future__ import annotations

# Label corners tried around a point, in points, clear of its own 7-pt marker: above
# right first, then below right, above left, below left, right, left.
LABEL_OFFSETS = ((4, 4), (4, -11), (-4, 4), (-4, -11), (5, -3), (-5, -3))


def _annotate(ax, xy, text: str, offset):
    return ax.annotate(text, xy, fontsize=6, xytext=offset, textcoords="offset points",
                       ha="left" if offset[0] > 0 else "right")


def place_labels(fig, ax, labelled: list, markers: list, obstacles=(), *,
                 keep_all: bool = False) -> int:
    """Annotate ``[((x, y), text)]`` in order, each at the first of `LABEL_OFFSETS` where it
    stays inside the axes and overlaps no label placed before it, none of the ``markers``
    (``[((x, y), radius in points)]``) and none of the ``obstacles`` (artists such as the
    legend). A label with no free place is left out, or with ``keep_all`` put at the first
    offset all the same. Call it once the axes' limits and layout are final (matplotlib
    measures the text as it would draw it then). Returns the number of labels drawn."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    placed = [artist.get_window_extent(renderer) for artist in obstacles]
    for xy, radius in markers:
        (x, y), r = ax.transData.transform(xy), radius * fig.dpi / 72
        placed.append(Bbox.from_extents(x - r, y - r, x + r, y + r))
    drawn = 0
    for xy, text in labelled:
        for offset in LABEL_OFFSETS:
            note = _annotate(ax, xy, text, offset)
            extent = note.get_window_extent(renderer)
            inside = box.contains(extent.x0, extent.y0) and box.contains(extent.x1, extent.y1)
            if inside and not any(extent.overlaps(other) for other in placed):
                break
            note.remove()
        else:
            if not keep_all:
                continue
            extent = _annotate(ax, xy, text, LABEL_OFFSETS[0]).get_window_extent(renderer)
        placed.append(extent)
        drawn += 1
    return drawn
