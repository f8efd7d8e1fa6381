"""The previews say what their caller tells them to: every word and every tick label drawn comes from
the PreviewWords given (English by default), so the web app can draw a figure in each language.

Read back from SVG with the text kept as text (svg.fonttype "none")."""

import re
from xml.etree import ElementTree

import matplotlib
import numpy as np
import pytest

from imaging.dti.preview import PreviewWords, save_color_fa_preview, save_fa_preview

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


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(0)
    fa = rng.uniform(0, 1, (16, 16, 12)).astype(np.float32)
    mask = np.zeros(fa.shape, bool)
    mask[3:13, 3:13, 2:10] = True
    return fa, np.abs(rng.normal(size=fa.shape + (3,))).astype(np.float32) * fa[..., None], mask


def drawn_words(draw, array, mask, path, **kwargs):
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        draw(array, path, mask=mask, **kwargs)
    root = ElementTree.parse(path).getroot()
    return ["".join(node.itertext()).strip() for node in root.iter("{http://www.w3.org/2000/svg}text")]


def test_the_fa_preview_is_drawn_in_english_by_default(maps, tmp_path):
    fa, _rgb, mask = maps
    words = drawn_words(save_fa_preview, fa, mask, tmp_path / "fa.svg")
    assert {"FA", "L", "R", "0.0", "0.2", "1.0"} <= set(words), words


def test_the_fa_preview_is_drawn_in_the_words_and_numbers_given(maps, tmp_path):
    fa, _rgb, mask = maps
    words = drawn_words(save_fa_preview, fa, mask, tmp_path / "fa.svg", words=SPANISH)
    assert {"FA", "I", "D", "0,0", "0,2", "1,0"} <= set(words), words
    assert not {"L", "R"} & set(words) and not any(re.fullmatch(r"\d\.\d", word) for word in words), words


def test_the_colour_fa_preview_is_drawn_in_the_words_given(maps, tmp_path):
    _fa, rgb, mask = maps
    words = drawn_words(save_color_fa_preview, rgb, mask, tmp_path / "color.svg", words=SPANISH)
    assert {"FA en color", "FA (brillo)", "I-D (x)", "A-P (y)", "S-I (z)", "I", "D", "0,4", "0,6"} <= set(words), words
    assert not {"Colour FA", "L-R (x)", "FA (brightness)"} & set(words), words
