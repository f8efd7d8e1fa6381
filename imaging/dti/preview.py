"""PNG previews: axial montages of FA and colour FA.

Uses matplotlib's object API with the Agg canvas directly (no pyplot, no
global backend switch), so it is safe inside a web server or worker process.

Display convention: images are reoriented to RAS with the affine, axial slices
are shown with anterior at the top and the patient's right on the viewer's
right (neurological convention, labelled "R"/"L" in the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PreviewWords", "axial_montage", "save_fa_preview", "save_color_fa_preview"]


@dataclass(frozen=True)
class PreviewWords:
    """Every word and number style drawn into a preview, English by default. The pipeline knows
    no language: a caller that serves other languages passes their words (the web app passes its
    translations, so a Spanish page shows a Spanish figure)."""

    fa_title: str = "FA"
    color_fa_title: str = "Colour FA"
    fa_bar: str = "FA"
    brightness_bar: str = "FA (brightness)"
    left: str = "L"
    right: str = "R"
    x_axis: str = "L-R (x)"
    y_axis: str = "A-P (y)"
    z_axis: str = "S-I (z)"
    decimal: str = "."

    def tick(self, value, _position=None):
        """A colour-bar tick label (0.2 -> "0.2", or "0,2" with a decimal comma)."""
        return f"{value:.1f}".replace(".", self.decimal)


ENGLISH = PreviewWords()


def _to_ras(arr, affine):
    """Reorient the first three axes to RAS; returns (array, axis permutation)."""
    import nibabel.orientations as no

    if affine is None:
        return arr, np.arange(3)
    ornt = no.io_orientation(np.asarray(affine))
    out = no.apply_orientation(arr, ornt)
    return out, ornt[:, 0].astype(int)


def _pick_slices(mask, nz, n_slices):
    if mask is not None and np.any(mask):
        zs = np.flatnonzero(np.any(mask, axis=(0, 1)))
        lo, hi = zs[0], zs[-1]
    else:
        lo, hi = 0, nz - 1
    n = int(min(n_slices, hi - lo + 1))
    # skip the extreme slices (mostly edge), sample the rest evenly
    return np.unique(np.round(np.linspace(lo + (hi - lo) * 0.08, hi - (hi - lo) * 0.08, n)).astype(int))


def axial_montage(vol, slices, ncols: int = 6, pad_value=0.0):
    """Tile axial slices ``vol[:, :, z]`` (RAS) into one 2D (or RGB) image.

    Returns an array of shape ``(rows * Y, ncols * X[, 3])`` with anterior up.
    """
    X, Y = vol.shape[:2]
    extra = vol.shape[3:]
    ncols = max(1, min(ncols, len(slices)))
    nrows = int(np.ceil(len(slices) / ncols))
    out = np.full((nrows * Y, ncols * X) + extra, pad_value, dtype=np.float32)
    for i, z in enumerate(slices):
        r, c = divmod(i, ncols)
        sl = np.asarray(vol[:, :, z], dtype=np.float32)
        tile = np.swapaxes(sl, 0, 1)[::-1]  # rows = y (anterior up), cols = x
        out[r * Y : (r + 1) * Y, c * X : (c + 1) * X] = tile
    return out, nrows, ncols


def _figure(montage_shape, nrows, ncols, dpi):
    from matplotlib.figure import Figure

    h, w = montage_shape[:2]
    width = min(14.0, max(6.0, 1.7 * ncols + 1.4))
    height = width * (h / w) * 0.86 + 0.6
    fig = Figure(figsize=(width, height), dpi=dpi)
    return fig


def _save(fig, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(str(path), dpi=fig.dpi, facecolor="black")
    return str(path)


def _lr_labels(ax, words):
    kw = dict(color="white", fontsize=9, transform=ax.transAxes, va="top")
    ax.text(0.003, 0.995, words.left, ha="left", **kw)
    ax.text(0.997, 0.995, words.right, ha="right", **kw)


def _montage_figure(volume_ras, mask_ras, *, n_slices, ncols, dpi, words, title, cbar_label, cbar_box, **imshow):
    """Figure with an axial montage of ``volume_ras`` (values clipped to 0..1), L/R labels, a
    title and a grey 0..1 colour bar at ``cbar_box`` labelled ``cbar_label``, in ``words``."""
    from matplotlib import cm, colors, ticker

    slices = _pick_slices(mask_ras, volume_ras.shape[2], n_slices)
    mont, nrows, ncols = axial_montage(volume_ras, slices, ncols)
    fig = _figure(mont.shape, nrows, ncols, dpi)
    ax = fig.add_axes([0.01, 0.02, 0.86, 0.9])
    ax.imshow(np.clip(mont, 0, 1), interpolation="nearest", **imshow)
    ax.set_axis_off()
    _lr_labels(ax, words)
    fig.text(0.44, 0.985, title, color="white", ha="center", va="top", fontsize=11)
    cax = fig.add_axes(cbar_box)
    cb = fig.colorbar(cm.ScalarMappable(norm=colors.Normalize(0, 1), cmap="gray"), cax=cax)
    cb.set_label(cbar_label, color="white")
    cb.set_ticks(np.linspace(0, 1, 6))  # 0.0, 0.2, … 1.0: one decimal says each exactly
    cb.ax.yaxis.set_major_formatter(ticker.FuncFormatter(words.tick))
    cb.ax.tick_params(colors="white")
    return fig


def save_fa_preview(
    fa, path, *, affine=None, mask=None, n_slices: int = 12, ncols: int = 6, dpi: int = 90, words=ENGLISH
) -> str:
    """Axial montage of an FA map (grey scale 0..1) with a colour bar; ``words``: a PreviewWords."""
    fa_ras, _ = _to_ras(np.asarray(fa, dtype=np.float32), affine)
    mask_ras = _to_ras(np.asarray(mask, bool), affine)[0] if mask is not None else None
    fig = _montage_figure(
        fa_ras,
        mask_ras,
        n_slices=n_slices,
        ncols=ncols,
        dpi=dpi,
        words=words,
        title=words.fa_title,
        cbar_label=words.fa_bar,
        cbar_box=[0.89, 0.1, 0.025, 0.75],
        cmap="gray",
        vmin=0,
        vmax=1,
    )
    return _save(fig, path)


def save_color_fa_preview(
    rgb, path, *, affine=None, mask=None, n_slices: int = 12, ncols: int = 6, dpi: int = 90, words=ENGLISH
) -> str:
    """Axial montage of colour FA (RGB = |e1| x, y, z scaled by FA).

    The colour bar shows brightness = FA; a legend gives the direction
    colours (red left-right, green anterior-posterior, blue
    superior-inferior; channels follow the reorientation to RAS).
    """
    from matplotlib.patches import Patch

    rgb_ras, perm = _to_ras(np.asarray(rgb, dtype=np.float32), affine)
    # channel i of the input belongs to voxel axis i, which became RAS axis perm[i]
    rgb_ras = rgb_ras[..., np.argsort(perm)]
    mask_ras = _to_ras(np.asarray(mask, bool), affine)[0] if mask is not None else None
    fig = _montage_figure(
        rgb_ras,
        mask_ras,
        n_slices=n_slices,
        ncols=ncols,
        dpi=dpi,
        words=words,
        title=words.color_fa_title,
        cbar_label=words.brightness_bar,
        cbar_box=[0.89, 0.35, 0.025, 0.5],
    )
    fig.legend(
        handles=[
            Patch(color=(1, 0, 0), label=words.x_axis),
            Patch(color=(0, 1, 0), label=words.y_axis),
            Patch(color=(0, 0, 1), label=words.z_axis),
        ],
        loc="lower right",
        bbox_to_anchor=(0.995, 0.03),
        fontsize=7,
        facecolor="black",
        labelcolor="white",
        edgecolor="gray",
        framealpha=1.0,
    )
    return _save(fig, path)
