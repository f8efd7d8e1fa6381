"""Brain mask (dipy's median_otsu and scipy's morphology, without them), PNG previews
(Pillow) and what a standard run imports."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from imaging.dti import brain_mask, make_phantom, mean_b0
from imaging.dti.mask import median3, median_otsu_mask, otsu_threshold
from imaging.dti.morphology import component_labels, dilate, fill_holes, largest_component
from imaging.dti.preview import PreviewWords, save_color_fa_preview, save_fa_preview


@pytest.mark.parametrize("radius,numpass", [(1, 1), (1, 2), (2, 2)])
def test_median_otsu_is_dipys(radius, numpass):
    from dipy.segment.mask import median_otsu
    from dipy.segment.threshold import otsu

    p = make_phantom((40, 40, 24), n_b0=1, n_dirs=6, snr=10.0, seed=7)  # noisy: the filter matters
    b0 = mean_b0(p.data, p.bvals)
    _, theirs = median_otsu(b0, median_radius=radius, numpass=numpass)
    assert np.array_equal(median_otsu_mask(b0, radius, numpass), theirs)
    assert otsu_threshold(b0) == pytest.approx(otsu(b0), rel=1e-12)


def test_brain_mask_close_to_the_true_brain():
    p = make_phantom((40, 40, 24), n_b0=1, n_dirs=6, snr=15.0, seed=8)
    m = brain_mask(mean_b0(p.data, p.bvals))
    t = p.brain_mask
    assert 2 * (m & t).sum() / (m.sum() + t.sum()) >= 0.99


def _png(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_fa_preview_shows_the_values_in_radiological_place(tmp_path):
    """FA 0.8 on the patient's right and anterior, FA 0.6 on the left and posterior: they
    appear as grey 204 and 153, the first right of and above the second (anterior up,
    right on the right)."""
    fa = np.zeros((20, 20, 10), np.float32)
    mask = np.zeros(fa.shape, bool)
    mask[2:18, 2:18, 5] = True  # one slice in the brain: the montage shows z = 5
    empty = _png(save_fa_preview(fa, tmp_path / "empty.png", affine=np.eye(4), mask=mask, n_slices=1))
    fa[15, 16, 5] = 0.8  # voxel axes = RAS with the identity affine: x right, y anterior
    fa[4, 3, 5] = 0.6
    px = _png(save_fa_preview(fa, tmp_path / "fa.png", affine=np.eye(4), mask=mask, n_slices=1))
    ys, xs = np.nonzero((px != empty).any(axis=2))  # the two voxels, zoomed into squares
    values = px[ys, xs, 0]
    assert set(values) == {204, 153}  # round(255 * FA)
    assert (px[ys, xs, 0] == px[ys, xs, 2]).all()  # grey
    bright, dim = values == 204, values == 153
    assert bright.sum() == dim.sum() >= 4  # one square each, same zoom
    assert xs[bright].mean() > xs[dim].mean()  # right on the right
    assert ys[bright].mean() < ys[dim].mean()  # anterior up


def test_color_fa_preview_channels_follow_the_axes(tmp_path):
    rgb = np.zeros((20, 20, 10, 3), np.float32)
    rgb[5:8, 5:8, 3:7, 0] = 1.0  # left-right: red
    rgb[12:15, 12:15, 3:7, 2] = 1.0  # superior-inferior: blue
    mask = rgb.max(axis=3) > 0
    path = save_color_fa_preview(rgb, tmp_path / "cfa.png", affine=np.eye(4), mask=mask, n_slices=2)
    px = np.asarray(Image.open(path).convert("RGB"))
    assert path.endswith(".png") and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert ((px == (255, 0, 0)).all(axis=2)).sum() >= 9 * 4  # the red block, zoomed (legend adds a patch)
    assert ((px == (0, 0, 255)).all(axis=2)).sum() >= 9 * 4


def test_a_standard_run_imports_neither_dipy_modules_nor_scipy_ndimage_nor_matplotlib(
    small_phantom_files, tmp_path, repo_root
):
    f = small_phantom_files
    code = (
        "import json, sys\n"
        "from imaging.dti.cli import main\n"
        f"rc = main([{f['dwi']!r}, '--bval', {f['bval']!r}, '--bvec', {f['bvec']!r}, '--out', {str(tmp_path)!r}, "
        "'--quiet'])\n"
        "print(json.dumps([m for m in sys.modules if m.split('.')[0] in ('dipy', 'matplotlib', 'scipy')]))\n"
    )
    env = dict(os.environ, PYTHONPATH=repo_root)
    r = subprocess.run([sys.executable, "-c", code], cwd=repo_root, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    loaded = json.loads(r.stdout.strip().splitlines()[-1])
    # dipy's and scipy's packages (for their versions in the provenance) and nothing else of them
    heavy = [m for m in loaded if m.startswith(("matplotlib", "scipy.ndimage", "dipy.")) and m != "dipy.version"]
    assert not heavy, heavy
    assert "dipy" in loaded
    assert (tmp_path / "fa_axial.png").exists() and (tmp_path / "fa.nii.gz").exists()


@pytest.mark.parametrize("shape", [(17, 13, 11), (3, 5, 4), (1, 1, 1)])
def test_median3_equals_scipys_median_filter(shape):
    from scipy.ndimage import median_filter

    rng = np.random.default_rng(sum(shape))
    img = rng.random(shape).astype(np.float32)
    img[img > 0.8] = 0.5  # ties
    assert np.array_equal(median3(img), median_filter(img, size=3))


@pytest.mark.parametrize("seed", range(12))
def test_morphology_equals_scipy_ndimage(seed):
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 15, 3))
    mask = rng.random(shape) < rng.uniform(0.2, 0.8)
    labels, n = ndi.label(mask)
    ours, sizes = component_labels(mask)
    assert np.array_equal(ours + 1, labels)  # same numbering (first voxel in C order), -1 outside
    assert np.array_equal(sizes, np.bincount(labels.ravel())[1:])
    if n > 1:
        counts = np.bincount(labels.ravel())
        counts[0] = 0
        assert np.array_equal(largest_component(mask), labels == np.argmax(counts))
    assert np.array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))
    for it in (1, 3):
        assert np.array_equal(dilate(mask, it), ndi.binary_dilation(mask, iterations=it))


def test_fill_holes_fills_an_enclosed_cavity_only():
    shell = np.zeros((9, 9, 9), bool)
    shell[1:8, 1:8, 1:8] = True
    shell[3:6, 3:6, 3:6] = False  # an enclosed cavity
    shell[0:2, 4, 4] = False  # a channel from the border: not enclosed
    filled = fill_holes(shell)
    assert filled[3:6, 3:6, 3:6].all()
    assert not filled[0, 4, 4] and not filled[1, 4, 4]


def test_write_png_is_read_back_by_pillow(tmp_path):
    from imaging.dti.preview import write_png

    rgb = np.random.default_rng(0).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    path = write_png(tmp_path / "x.png", rgb)
    back = Image.open(path)
    assert back.mode == "RGB" and back.size == (11, 7)
    assert np.array_equal(np.asarray(back), rgb)


SPANISH = PreviewWords(
    fa_title="FA",
    color_fa_title="FA en color",
    fa_bar="FA",
    brightness_bar="FA (brillo)",
    left="I",
    right="D",
    x_axis="I-D (x)",
    y_axis="A-P (y)",
    z_axis="S-I (z)",
    decimal=",",
)


def _drawn_words(monkeypatch, draw, array, path, **kwargs):
    """Every text the preview draws (Pillow's ImageDraw.text, spied on)."""
    from PIL import ImageDraw

    seen = []
    real = ImageDraw.ImageDraw.text

    def spy(self, xy, text, *args, **kw):
        seen.append(text)
        return real(self, xy, text, *args, **kw)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", spy)
    mask = np.zeros(array.shape[:3], bool)
    mask[3:13, 3:13, 2:10] = True
    draw(array, path, mask=mask, **kwargs)
    return seen


def test_previews_are_drawn_in_english_by_default(monkeypatch, tmp_path):
    fa = np.random.default_rng(0).uniform(0, 1, (16, 16, 12)).astype(np.float32)
    words = _drawn_words(monkeypatch, save_fa_preview, fa, tmp_path / "fa.png")
    assert {"FA", "L", "R", "0.0", "0.2", "1.0"} <= set(words), words


def test_previews_are_drawn_in_the_words_and_numbers_given(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    fa = rng.uniform(0, 1, (16, 16, 12)).astype(np.float32)
    words = _drawn_words(monkeypatch, save_fa_preview, fa, tmp_path / "fa.png", words=SPANISH)
    assert {"FA", "I", "D", "0,0", "0,2", "1,0"} <= set(words), words
    assert not {"L", "R", "0.2"} & set(words), words
    rgb = np.abs(rng.normal(size=fa.shape + (3,))).astype(np.float32) * fa[..., None]
    words = _drawn_words(monkeypatch, save_color_fa_preview, rgb, tmp_path / "c.png", words=SPANISH)
    assert {"FA en color", "FA (brillo)", "I-D (x)", "A-P (y)", "S-I (z)", "I", "D", "0,4"} <= set(words), words
    assert not {"Colour FA", "L-R (x)", "FA (brightness)"} & set(words), words
