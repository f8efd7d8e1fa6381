"""Numbers and words of the imaging pages in the reader's language: QC notes translated from what the
pipeline stored (or, for results stored before notes or stored damaged, the English message as it
was stored), the previews' words for each language, and the patient page's imaging numbers with the
page's decimal separator (never "0,423 · +0.073")."""

import datetime as dt
import re
import struct
import zlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import translation

from imaging import services
from registry.roles import RADIOLOGY
from tests.imaging.conftest import stored_scan

pytestmark = pytest.mark.django_db


def qc_row(content, code):
    row = re.search(rf'<tr class="\w*" data-check="{code}">(.*?)</tr>', content, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]


def page_of(client, url, language):
    return client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_qc_notes_are_translated_and_their_numbers_written_the_page_s_way(client, make_user, build):
    snr = {
        "value": 23.46,
        "flag": "pass",
        "message": "b0 SNR 23.5 (noise from the b0 repeats)",
        "notes": [{"text": "b0 SNR {snr:.1f} (noise from the b0 repeats)", "values": {"snr": 23.46}}],
    }
    scan = stored_scan(build.visit(), qc={"overall": "pass", "items": {"snr": snr}})
    client.force_login(make_user(RADIOLOGY))
    url = f"/imaging/scans/{scan.pk}/"
    assert qc_row(page_of(client, url, "en"), "snr") == [
        "SNR in the brain mask",
        "23.5",
        "pass",
        "b0 SNR 23.5 (noise from the b0 repeats)",
    ]
    assert qc_row(page_of(client, url, "es"), "snr") == [
        "SNR en la máscara cerebral",
        "23,5",
        "correcto",
        "SNR de b0 23,5 (ruido estimado con las repeticiones de b0)",
    ]


@pytest.mark.parametrize(
    "notes",
    [
        None,  # a result stored before notes existed
        "b0 SNR",
        [{"text": 3, "values": {}}],
        [{"text": "b0 SNR {snr:.1f} (noise from the b0 repeats)", "values": {}}],  # its value is missing
        [{"text": "b0 SNR {snr:.1f} (noise from the b0 repeats)", "values": {"snr": "high"}}],
    ],
)
def test_notes_that_cannot_be_read_show_the_message_as_stored(client, make_user, build, notes):
    item = {"value": 23.46, "flag": "warn", "message": "as the pipeline wrote it"}
    if notes is not None:
        item["notes"] = notes
    scan = stored_scan(build.visit(), qc={"overall": "warn", "items": {"snr": item}})
    client.force_login(make_user(RADIOLOGY))
    row = qc_row(page_of(client, f"/imaging/scans/{scan.pk}/", "es"), "snr")
    assert row == ["SNR en la máscara cerebral", "23,5", "aviso", "as the pipeline wrote it"]


def test_the_previews_are_drawn_in_every_language_of_the_interface_besides_english(settings):
    settings.LANGUAGES = [("en", "English"), ("es", "Spanish")]
    before = translation.get_language()
    languages = dict(services.preview_languages())
    assert translation.get_language() == before  # the worker's own language is left as it was
    assert list(languages) == ["es"]
    spanish = languages["es"]
    assert (spanish.color_fa_title, spanish.brightness_bar, spanish.left, spanish.right) == (
        "FA en color",
        "FA (brillo)",
        "I",
        "D",
    )
    assert (spanish.x_axis, spanish.decimal, spanish.tick(0.4)) == ("I-D (x)", ",", "0,4")


def png_bytes():
    """A valid 1×1 grey PNG: previews are shown only when their stored file is sound."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")
    )


def test_the_page_shows_the_preview_of_its_language_and_english_where_there_is_none(client, make_user, build):
    files = {
        "preview_fa": "scans/1/fa_axial.png",
        "preview_fa_es": "scans/1/fa_axial.es.png",
        "preview_color_fa": "scans/1/color_fa_axial.png",
    }
    for name in files.values():
        default_storage.save(name, ContentFile(png_bytes()))
    scan = stored_scan(build.visit(), files=files)
    client.force_login(make_user(RADIOLOGY))
    spanish = page_of(client, f"/imaging/scans/{scan.pk}/", "es")
    assert '<img src="/media/scans/1/fa_axial.es.png"' in spanish
    assert '<img src="/media/scans/1/color_fa_axial.png"' in spanish  # drawn before previews spoke Spanish
    assert '<a href="/media/scans/1/fa_axial.es.png" target="_blank"' in spanish
    english = page_of(client, f"/imaging/scans/{scan.pk}/", "en")
    assert '<img src="/media/scans/1/fa_axial.png"' in english and "fa_axial.es.png" not in english


def test_the_patient_page_writes_imaging_numbers_in_the_page_s_language(client, make_user, build):
    patient = build.patient()
    baseline = build.visit(patient=patient, kind="baseline", date=dt.date(2024, 1, 10))
    follow_up = build.visit(patient=patient, kind="follow-up", date=dt.date(2024, 8, 2))
    stored_scan(baseline, fa_wm_mean=0.35)
    stored_scan(follow_up, fa_wm_mean=0.4234)
    client.force_login(make_user(RADIOLOGY))

    def imaging_line(language):
        content = page_of(client, f"/patients/{patient.pk}/", language)
        lines = re.findall(r'<p class="imaging">(.*?)</p>', content, re.S)
        return re.sub(r"<[^>]+>", "", lines[-1])

    english, spanish = imaging_line("en"), imaging_line("es")
    assert "0.423" in english and "+0.073" in english
    assert "0,423" in spanish and "+0,073" in spanish
    assert not re.search(r"\d\.\d", spanish), spanish
