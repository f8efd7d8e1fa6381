"""PNG previews: axial montages of FA and colour FA.

Drawn with Pillow on a black canvas: the montage at an integer zoom (nearest neighbour, so
every voxel stays a sharp square), a title, L/R labels, a grey 0..1 colour bar with ticks,
and for colour FA a legend of the direction colours. No plotting library is imported (a
plotting stack costs about 0.5 s of imports in a fresh process, more than the whole drawing),
and the PNG is written here (:func:`write_png`: a few lines of the PNG format) rather than by
Pillow's saver, which first loads its five common image plugins.

Display convention: images are reoriented to RAS with the affine, axial slices
are shown with anterior at the top and the patient's right on the viewer's
right (neurological convention, labelled "R"/"L" in the image).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["PreviewWords", "axial_montage", "save_fa_preview", "save_color_fa_preview", "write_png"]


@dataclass(frozen=True)
class PreviewWords:
    """Every word and number style drawn into a preview, English by default. The pipeline knows
    no language: a caller that serves other languages passes their words."""

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

_TARGET_WIDTH = 880  # pixels of the montage after the integer zoom (about the old figure's)
_MARGIN = 10
_TITLE_H = 30
_BAR_W, _BAR_GAP, _BAR_LABELS_W = 18, 14, 92


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

    Returns ``(montage, nrows, ncols)``; the montage has shape ``(rows * Y, ncols * X[, 3])``
    with anterior up.
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


def write_png(path, rgb) -> str:
    """Write an 8-bit RGB image ``(H, W, 3)`` as a PNG (W3C PNG specification, 2003:
    signature, IHDR, one IDAT of zlib-compressed scanlines without filtering, IEND)."""
    from isal import isal_zlib

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    scanlines = np.zeros((h, 1 + 3 * w), np.uint8)  # first byte of each line: filter 0 (none)
    scanlines[:, 1:] = rgb.reshape(h, 3 * w)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))  # 8-bit RGB
        fh.write(chunk(b"IDAT", isal_zlib.compress(scanlines.tobytes(), 2)))
        fh.write(chunk(b"IEND", b""))
    return str(path)


def _font(size):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _to_pixels(montage, zoom):
    """Values 0..1 as 8-bit pixels (0 -> 0, 1 -> 255), each voxel a ``zoom`` x ``zoom`` square."""
    px = np.rint(np.clip(np.nan_to_num(montage), 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(np.repeat(px, zoom, axis=0), zoom, axis=1)


def _colour_bar(draw, canvas, box, label, words):
    """Vertical grey bar 0 (bottom) .. 1 (top) in ``box`` = (x, y, height), ticks every 0.2."""
    from PIL import Image

    x, y, h = box
    ramp = np.linspace(255.0, 0.0, h).round().astype(np.uint8)
    canvas.paste(Image.fromarray(np.repeat(ramp[:, None], _BAR_W, axis=1), "L").convert("RGB"), (x, y))
    draw.rectangle([x, y, x + _BAR_W - 1, y + h - 1], outline=(128, 128, 128))
    small = _font(11)
    for k in range(6):
        v = k / 5.0
        ty = y + int(round((1.0 - v) * (h - 1)))
        draw.line([x + _BAR_W, ty, x + _BAR_W + 4, ty], fill=(255, 255, 255))
        draw.text((x + _BAR_W + 7, ty), words.tick(v), fill=(255, 255, 255), font=small, anchor="lm")
    # the label, written along the bar
    font = _font(13)
    w = int(draw.textlength(label, font=font)) + 4
    txt = Image.new("RGB", (w, 18), (0, 0, 0))
    from PIL import ImageDraw

    ImageDraw.Draw(txt).text((2, 9), label, fill=(255, 255, 255), font=font, anchor="lm")
    txt = txt.rotate(90, expand=True)
    canvas.paste(txt, (x + _BAR_W + 40, y + max(0, (h - txt.height) // 2)))


def _legend(draw, x, y, words):
    font = _font(11)
    draw.rectangle([x - 4, y - 4, x + 82, y + 3 * 16], outline=(128, 128, 128))
    legend = (((255, 0, 0), words.x_axis), ((0, 255, 0), words.y_axis), ((0, 0, 255), words.z_axis))
    for i, (colour, text) in enumerate(legend):
        yy = y + i * 16
        draw.rectangle([x, yy + 2, x + 16, yy + 11], fill=colour)
        draw.text((x + 22, yy + 7), text, fill=(255, 255, 255), font=font, anchor="lm")


def _montage_png(volume_ras, mask_ras, path, *, n_slices, ncols, words, title, bar_label, legend):
    """Write the montage of ``volume_ras`` (values 0..1; 3D grey or 4D RGB) with its title,
    L/R labels, colour bar and optional legend, in ``words``, as a PNG."""
    from PIL import Image, ImageDraw

    slices = _pick_slices(mask_ras, volume_ras.shape[2], n_slices)
    mont, _, _ = axial_montage(volume_ras, slices, ncols)
    zoom = int(np.clip(round(_TARGET_WIDTH / max(mont.shape[1], 1)), 1, 8))
    px = _to_pixels(mont, zoom)
    h, w = px.shape[:2]
    right = _BAR_GAP + _BAR_W + _BAR_LABELS_W
    canvas = Image.new("RGB", (w + 2 * _MARGIN + right, h + _TITLE_H + 2 * _MARGIN), (0, 0, 0))
    image = Image.fromarray(px, "RGB" if px.ndim == 3 else "L")
    canvas.paste(image.convert("RGB"), (_MARGIN, _TITLE_H + _MARGIN))
    draw = ImageDraw.Draw(canvas)
    draw.text((_MARGIN + w // 2, _TITLE_H // 2 + 2), title, fill=(255, 255, 255), font=_font(15), anchor="mm")
    small = _font(12)
    top = _TITLE_H + _MARGIN + 3
    draw.text((_MARGIN + 3, top), words.left, fill=(255, 255, 255), font=small, anchor="lt")
    draw.text((_MARGIN + w - 3, top), words.right, fill=(255, 255, 255), font=small, anchor="rt")
    bar_x = _MARGIN + w + _BAR_GAP
    bar_h = max(60, min(h - (70 if legend else 0), 260))
    _colour_bar(draw, canvas, (bar_x, _TITLE_H + _MARGIN, bar_h), bar_label, words)
    if legend:
        _legend(draw, bar_x, _TITLE_H + _MARGIN + h - 3 * 16 - 2, words)
    return write_png(path, np.asarray(canvas))


def save_fa_preview(fa, path, *, affine=None, mask=None, n_slices: int = 12, ncols: int = 6, words=ENGLISH) -> str:
    """Axial montage of an FA map (grey scale 0..1) with a colour bar; ``words``: a PreviewWords.
    Returns the path."""
    fa_ras, _ = _to_ras(np.asarray(fa, dtype=np.float32), affine)
    mask_ras = _to_ras(np.asarray(mask, bool), affine)[0] if mask is not None else None
    return _montage_png(
        fa_ras,
        mask_ras,
        path,
        n_slices=n_slices,
        ncols=ncols,
        words=words,
        title=words.fa_title,
        bar_label=words.fa_bar,
        legend=False,
    )


def save_color_fa_preview(
    rgb, path, *, affine=None, mask=None, n_slices: int = 12, ncols: int = 6, words=ENGLISH
) -> str:
    """Axial montage of colour FA (RGB = |e1| x, y, z scaled by FA). Returns the path.

    The colour bar shows brightness = FA; a legend gives the direction
    colours (red left-right, green anterior-posterior, blue
    superior-inferior; channels follow the reorientation to RAS).
    """
    rgb_ras, perm = _to_ras(np.asarray(rgb, dtype=np.float32), affine)
    # channel i of the input belongs to voxel axis i, which became RAS axis perm[i]
    rgb_ras = rgb_ras[..., np.argsort(perm)]
    mask_ras = _to_ras(np.asarray(mask, bool), affine)[0] if mask is not None else None
    return _montage_png(
        rgb_ras,
        mask_ras,
        path,
        n_slices=n_slices,
        ncols=ncols,
        words=words,
        title=words.color_fa_title,
        bar_label=words.brightness_bar,
        legend=True,
    )
