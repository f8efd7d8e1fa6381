"""The "gradient table" QC item as a radiologist reads it: name, value and the likely fix, in
English and in Spanish, numbers written the page's way."""

from django.utils import translation

from imaging.dti.gradcheck import GradientCheck
from imaging.dti.qc import gradient_table_qc_item
from imaging.qc_display import qc_items

FLIPPED_X = GradientCheck(given=0.5371, best=0.6458, perm=(0, 1, 2), flip=0, z=45.0, seeds=5000, suspicious=True)
SWAPPED_XY = GradientCheck(given=0.45, best=0.64, perm=(1, 0, 2), flip=None, z=70.0, seeds=5000, suspicious=True)


def row(check, language):
    with translation.override(language):
        (item,) = qc_items({"items": {"gradient_table": gradient_table_qc_item(check)}})
        return {key: str(value) for key, value in item.items()}  # lazy names read in the language


def test_a_flipped_table_names_the_axis_and_the_fix_in_english():
    item = row(FLIPPED_X, "en")
    assert (item["name"], item["flag"]) == ("Gradient table", "fail")
    assert item["value"] == "coherence 0.537; -x y z: 0.646"
    assert item["message"].startswith("b-vectors look flipped in x; the table -x y z fits the data better")


def test_the_same_in_spanish_with_decimal_commas():
    item = row(FLIPPED_X, "es")
    assert item["name"] == "Tabla de gradientes"
    assert item["value"] == "coherencia 0,537; -x y z: 0,646"
    assert "los vectores b parecen invertidos en x" in item["message"]
    assert "coherencia de fibras 0,646 frente a 0,537" in item["message"]


def test_swapped_axes_are_named_in_spanish():
    item = row(SWAPPED_XY, "es")
    assert item["message"].startswith("los ejes x y y de los vectores b parecen intercambiados")


def test_a_table_that_passes_shows_its_coherence_only():
    check = GradientCheck(given=0.2954, best=0.2969, perm=(2, 1, 0), flip=2, z=0.3, seeds=900, suspicious=False)
    item = row(check, "es")
    assert (item["flag"], item["value"]) == ("pass", "coherencia 0,295")
    assert "ninguna inversión ni intercambio" in item["message"]
