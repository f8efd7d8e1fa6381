"""The scan page answers for every stored scan, however odd its result: FA null, QC items missing or
malformed, maps missing, an empty shape. A result whose QC failed says it does not count unless
marked usable."""

import pytest

from imaging.models import DiffusionResult
from registry.roles import RADIOLOGY
from tests.imaging.conftest import stored_scan

pytestmark = pytest.mark.django_db

GOOD_FILES = {"fa": "scans/x/fa.nii.gz", "color_fa": "scans/x/color_fa.nii.gz", "mask": "scans/x/mask.nii.gz"}

ODD_RESULTS = {
    "FA null, QC failed, no files": {"fa_mean": None, "fa_wm_mean": None, "qc": {"overall": "fail"}, "files": {}},
    "no QC at all": {"qc": {}, "files": GOOD_FILES},
    "QC not a mapping": {"qc": ["fail"], "files": GOOD_FILES},
    "QC items not mappings": {"qc": {"overall": "warn", "items": {"snr": "odd", "b0_count": None}}},
    "QC items without values": {"qc": {"overall": "warn", "items": {"snr": {}, "brain_mask": {"flag": "warn"}}}},
    "QC values of the wrong kind": {
        "qc": {
            "overall": "fail",
            "items": {
                "brain_mask": {"value": {"voxels": None, "fraction": "half"}, "flag": "fail", "message": "odd"},
                "fa_histogram": {"value": {"counts": [1, None, "x"]}, "flag": "pass", "message": ""},
                "b_values": {"value": [[None, 3], "x", [1000]], "flag": "pass", "message": ""},
                "nonphysical_eigenvalues": {"value": "many", "flag": "warn", "message": ""},
                "fit_residual": {"value": None, "flag": "odd", "message": None},
            },
        }
    },
    "maps partly missing": {"files": {"fa": "scans/x/fa.nii.gz"}},
    "files not a mapping": {"files": ["fa.nii.gz"]},
    "files missing from storage": {"files": GOOD_FILES},
}


@pytest.mark.parametrize("shape", [[], [32, 32, 20, 22]])
@pytest.mark.parametrize("odd", list(ODD_RESULTS))
def test_the_scan_page_answers_for_odd_stored_results(client, make_user, build, odd, shape):
    scan = stored_scan(build.visit(), shape, **ODD_RESULTS[odd])
    client.force_login(make_user(RADIOLOGY))
    response = client.get(f"/imaging/scans/{scan.pk}/")
    assert response.status_code == 200, odd


def test_a_result_with_its_maps_missing_says_so(client, make_user, build):
    scan = stored_scan(build.visit(), [32, 32, 20, 22], files={"fa": "scans/x/fa.nii.gz"})
    client.force_login(make_user(RADIOLOGY))
    page = client.get(f"/imaging/scans/{scan.pk}/").content.decode()
    assert "maps of this result are missing or incomplete" in page and 'class="dwi-viewer"' not in page


def test_a_failed_qc_says_the_scan_does_not_count_unless_marked_usable(client, make_user, build):
    scan = stored_scan(build.visit(), [32, 32, 20, 22], fa_mean=None, qc={"overall": "fail"}, qc_passed=False)
    client.force_login(make_user(RADIOLOGY))
    page = client.get(f"/imaging/scans/{scan.pk}/").content.decode()
    assert "does not count for its visit unless a radiologist" in page
    scan.usable = True
    scan.save()
    page = client.get(f"/imaging/scans/{scan.pk}/").content.decode()
    assert "does not count for its visit unless a radiologist" not in page


def test_maps_missing_from_storage_are_named_on_the_scan_page(client, make_user, build):
    scan = stored_scan(build.visit(), [32, 32, 20, 22], files={**GOOD_FILES, "preview_fa": "scans/x/fa_axial.png"})
    client.force_login(make_user(RADIOLOGY))
    page = client.get(f"/imaging/scans/{scan.pk}/").content.decode()
    for label in ("FA map", "Colour FA map", "Brain mask", "FA preview"):
        assert f"<strong>{label}</strong>: missing" in page
    assert "scans/x/" not in page  # neither linked nor shown


@pytest.mark.parametrize("checksums", ["text", ["not", "a", "mapping"], {"fa": 42}])
def test_odd_checksums_do_not_break_the_scan_page(client, make_user, build, checksums):
    scan = stored_scan(build.visit(), [32, 32, 20, 22], files=GOOD_FILES)
    DiffusionResult.objects.filter(scan=scan).update(checksums=checksums)
    client.force_login(make_user(RADIOLOGY))
    assert client.get(f"/imaging/scans/{scan.pk}/").status_code == 200
