"""Integrity of derived files (issue 8, item 5): every map, preview and results.json has its sha256
recorded with the result and checked once after writing; writes go to a temporary name renamed
into place and a failed attempt leaves nothing behind; a missing or damaged map is never served nor
exported, and the scan page names it; deleting a scan deletes its files once the deletion commits."""

import errno
import io
import logging
import os
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection, transaction

from imaging import services, storage
from imaging.dti.io import sha256_file
from imaging.models import DiffusionResult, Scan
from registry.roles import RADIOLOGY, REGISTRY_ADMIN, RESEARCH
from research.models import ExportLog

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BIDS_URL = "/api/v1/export/bids/"
HTML = {"HTTP_ACCEPT": "text/html,application/xhtml+xml"}


def path_of(name):
    return Path(default_storage.path(name))


def corrupt(name):
    """Overwrite a stored file with random bytes of the same length (what was found in the field)."""
    path = path_of(name)
    path.write_bytes(os.urandom(path.stat().st_size))


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


def queue_again(scan):
    """The scan back in the queue, as a reprocess request leaves it (a done scan is not processed again)."""
    Scan.objects.filter(pk=scan.pk).update(status=Scan.Status.QUEUED)


def current(scan):
    return Scan.objects.get(pk=scan.pk).current_result


# ---- recorded and verified after writing -------------------------------------------------------


def test_every_file_of_a_result_has_its_sha256_recorded(processed_scan, settings):
    result = processed_scan.current_result

    assert set(result.checksums) == set(result.files) >= {"fa", "md", "color_fa", "mask", "preview_fa", "results"}
    for name, stored in result.files.items():
        assert result.checksums[name] == sha256_file(path_of(stored)), name
    # Written under temporary names and renamed into place: none of those is left.
    assert not [name for name in files_under(settings.MEDIA_ROOT) if name.endswith(".part")]
    assert all(found.status == storage.INTACT for found in storage.result_checks(result))


def test_the_api_gives_each_map_with_its_sha256(api_as, processed_scan):
    answer = api_as(RADIOLOGY).get(f"/api/v1/scans/{processed_scan.pk}/").json()

    assert answer["maps_sha256"] == processed_scan.current_result.checksums
    assert set(answer["maps_sha256"]) == set(answer["maps"])


class CorruptingStorage(FileSystemStorage):
    """Local storage whose disk changes a byte of the second file written, after it is written."""

    saves = 0

    def _save(self, name, content):
        saved = super()._save(name, content)
        type(self).saves += 1
        if type(self).saves == 2:
            with open(self.path(saved), "r+b") as handle:
                first = handle.read(1)
                handle.seek(0)
                handle.write(bytes([first[0] ^ 0xFF]))
        return saved


def use_storage(settings, backend, **options):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": backend, "OPTIONS": {"location": settings.MEDIA_ROOT, **options}},
    }


def test_a_file_that_reads_back_differently_fails_the_attempt(upload_scan, settings):
    scan = upload_scan()
    CorruptingStorage.saves = 0
    use_storage(settings, f"{__name__}.CorruptingStorage")

    assert services.scan_process(scan.pk, worker="test") is None

    scan.refresh_from_db()
    assert scan.status == Scan.Status.FAILED
    assert "differs from what was written" in scan.error and "/" not in scan.error
    assert not DiffusionResult.objects.filter(scan=scan).exists()
    assert not (Path(settings.MEDIA_ROOT) / "scans" / str(scan.pk) / "results").exists()


# ---- a storage failing mid-write --------------------------------------------------------------


class FailingStorage(FileSystemStorage):
    """Local storage that runs out of space after writing some bytes of the `fail_on`-th file."""

    def __init__(self, fail_on=3, after_bytes=1000, **options):
        super().__init__(**options)
        self.fail_on, self.after_bytes, self.saves = fail_on, after_bytes, 0

    def _save(self, name, content):
        self.saves += 1
        if self.saves == self.fail_on:
            content = BreaksOff(content, self.after_bytes)
        return super()._save(name, content)


class BreaksOff:
    """File content whose chunks break off with ENOSPC after `limit` bytes (some are on disk by then)."""

    def __init__(self, content, limit):
        self.content, self.limit = content, limit

    def chunks(self):
        sent = 0
        for chunk in self.content.chunks(chunk_size=256):
            if sent >= self.limit:
                raise OSError(errno.ENOSPC, "No space left on device")
            sent += len(chunk)
            yield chunk


@pytest.mark.parametrize("earlier_result", [False, True], ids=["first-run", "rerun"])
def test_storage_failing_mid_write_fails_the_scan_and_leaves_nothing(upload_scan, settings, earlier_result):
    scan = upload_scan()
    if earlier_result:
        services.scan_process(scan.pk, worker="test")
    before = current(scan)
    kept = {name: sha256_file(path_of(stored)) for name, stored in before.files.items()} if before else {}
    stored_before = files_under(settings.MEDIA_ROOT)
    use_storage(settings, f"{__name__}.FailingStorage", fail_on=3, after_bytes=1000)

    queue_again(scan)
    assert services.scan_process(scan.pk, worker="test") is None
    assert default_storage.saves == 3  # the third file broke off, and nothing was written after it

    scan.refresh_from_db()
    assert scan.status == Scan.Status.FAILED
    assert "could not be saved to storage (No space left on device)" in scan.error
    assert "nothing of this attempt was kept" in scan.error and "/" not in scan.error
    assert "OSError" in scan.traceback  # for administrators
    # Nothing partial: the storage holds exactly what it held before, and no empty result folder.
    assert files_under(settings.MEDIA_ROOT) == stored_before
    results = Path(settings.MEDIA_ROOT) / "scans" / str(scan.pk) / "results"
    folders = sorted(p.name for p in results.iterdir()) if results.exists() else []
    assert folders == ([Path(before.folder).name] if before else [])
    # The earlier result is still the current one, and intact.
    assert DiffusionResult.objects.filter(scan=scan).count() == (1 if before else 0)
    if before:
        assert current(scan).pk == before.pk
        assert {name: sha256_file(path_of(stored)) for name, stored in before.files.items()} == kept
        assert all(found.status == storage.INTACT for found in storage.result_checks(current(scan)))


def test_any_error_after_writing_removes_the_files_of_the_attempt(upload_scan, settings, monkeypatch):
    scan = upload_scan()

    def database_refuses(*args, **kwargs):
        raise RuntimeError("the result could not be stored")

    monkeypatch.setattr(services, "_store_result", database_refuses)
    with pytest.raises(RuntimeError):
        services.scan_process(scan.pk, worker="test")

    scan.refresh_from_db()
    assert scan.status == Scan.Status.FAILED
    assert not (Path(settings.MEDIA_ROOT) / "scans" / str(scan.pk) / "results").exists()
    assert files_under(Path(settings.MEDIA_ROOT) / "scans" / str(scan.pk)) == sorted(
        f"input/{Path(field.name).name}" for field in (scan.dwi, scan.bval, scan.bvec)
    )


# ---- a damaged or missing map: the scan page, the media links ------------------------------------


@pytest.fixture
def radiologist(client, make_user):
    client.force_login(make_user(RADIOLOGY, "dr-integrity"))
    return client


def test_a_damaged_map_is_named_on_the_scan_page_and_never_served(radiologist, processed_scan, caplog, settings):
    result = processed_scan.current_result
    corrupt(result.files["fa"])

    with caplog.at_level(logging.WARNING, logger="imaging.storage"):
        page = radiologist.get(f"/imaging/scans/{processed_scan.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Some files of this result are missing or damaged" in html
    assert "<strong>FA map</strong>: damaged" in html
    assert result.files["fa"] not in html  # not linked
    assert 'class="dwi-viewer"' not in html and "maps of this result are missing or incomplete" in html
    assert f"Scan {processed_scan.pk}: the fa of result {result.pk} is damaged" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="imaging.storage"):
        served = radiologist.get(f"/media/{result.files['fa']}", **HTML)
    assert served.status_code == 410
    message = served.content.decode().split('<p class="error">')[1].split("</p>")[0]
    assert message.startswith(f"The FA map of scan {processed_scan.pk} is damaged") and "Reprocess the scan" in message
    assert "scans/" not in message and str(settings.MEDIA_ROOT) not in served.content.decode()
    assert f"Scan {processed_scan.pk}: the fa of result {result.pk} is damaged" in caplog.text
    assert "refused to dr-integrity" in caplog.text

    # The other maps are still served, with the bytes that were stored.
    mask = radiologist.get(f"/media/{result.files['mask']}")
    assert mask.status_code == 200
    assert sha256_file(io.BytesIO(b"".join(mask.streaming_content))) == result.checksums["mask"]


def test_a_missing_map_is_named_on_the_scan_page_and_answers_404(radiologist, processed_scan):
    result = processed_scan.current_result
    default_storage.delete(result.files["mask"])
    corrupt(result.files["preview_fa"])

    html = radiologist.get(f"/imaging/scans/{processed_scan.pk}/").content.decode()
    assert "<strong>Brain mask</strong>: missing" in html
    assert "<strong>FA preview</strong>: damaged" in html
    assert "Axial montage of FA" not in html  # the damaged preview is not shown
    assert "Axial montage of colour FA" in html  # the intact one is

    served = radiologist.get(f"/media/{result.files['mask']}", **HTML)
    assert served.status_code == 404
    assert f"The brain mask of scan {processed_scan.pk} is missing from storage" in served.content.decode()


def test_api_clients_get_the_reason_as_json(api_as, processed_scan):
    result = processed_scan.current_result
    corrupt(result.files["color_fa"])
    api = api_as(RADIOLOGY)

    response = api.get(f"/media/{result.files['color_fa']}")

    assert response.status_code == 410 and response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert detail.startswith(f"The colour FA map of scan {processed_scan.pk} is damaged") and "scans/" not in detail
    assert api.get(f"/media/{result.files['fa']}").status_code == 200


def test_the_scan_page_speaks_spanish_about_damaged_maps(client, make_user, processed_scan):
    client.force_login(make_user(RADIOLOGY))
    corrupt(processed_scan.current_result.files["fa"])

    html = client.get(f"/imaging/scans/{processed_scan.pk}/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "<strong>Mapa de FA</strong>: archivo dañado" in html
    served = client.get(f"/media/{processed_scan.current_result.files['fa']}", HTTP_ACCEPT_LANGUAGE="es", **HTML)
    assert f"Archivo dañado: mapa de FA del estudio {processed_scan.pk}" in served.content.decode()


def test_files_no_result_names_and_files_of_deleted_scans_are_not_served(radiologist, processed_scan):
    result = processed_scan.current_result
    stray = f"{result.folder}/left-by-a-failed-attempt.nii.gz"
    default_storage.save(stray, io.BytesIO(b"partial"))
    assert radiologist.get(f"/media/{stray}").status_code == 404
    assert radiologist.get(f"/media/scans/{processed_scan.pk + 1000}/input/dwi.nii").status_code == 404


def test_results_stored_before_checksums_are_checked_then_trusted(radiologist, processed_scan, caplog):
    """No sha256 on record: a file whose structure is sound gets its sha256 recorded at its first check
    and is required to keep it; a file that is not sound is damaged."""
    result = processed_scan.current_result
    expected = dict(result.checksums)
    corrupt(result.files["md"])
    DiffusionResult.objects.filter(pk=result.pk).update(checksums={})

    html = radiologist.get(f"/imaging/scans/{processed_scan.pk}/").content.decode()
    assert "<strong>MD map</strong>: damaged" in html  # random bytes are no gzip stream
    recorded = DiffusionResult.objects.get(pk=result.pk).checksums
    assert recorded == {name: sha for name, sha in expected.items() if name != "md"}

    # Recorded from now on: the same damage to a file that was sound is caught by its sha256.
    corrupt(result.files["fa"])
    assert radiologist.get(f"/media/{result.files['fa']}").status_code == 410


def test_a_truncated_legacy_map_is_damaged(processed_scan):
    result = processed_scan.current_result
    path = path_of(result.files["fa"])
    path.write_bytes(path.read_bytes()[:-100])  # still starts like gzip; its end (CRC, length) is gone
    DiffusionResult.objects.filter(pk=result.pk).update(checksums={})

    assert storage.check(DiffusionResult.objects.get(pk=result.pk), "fa").status == storage.DAMAGED


def test_regions_are_not_measured_on_a_damaged_map(api_as, processed_scan, scan_files):
    corrupt(processed_scan.current_result.files["md"])

    response = api_as(RADIOLOGY).post(
        f"/api/v1/scans/{processed_scan.pk}/labels/",
        {"labels": open(scan_files["labels"], "rb"), "names": '{"3": "cst-l"}'},
        format="multipart",
    )

    assert response.status_code == 400
    [message] = response.json()["labels"]
    assert "missing from storage or damaged" in message and "/" not in message


def test_verify_results_lists_what_is_damaged(processed_scan, capsys):
    from django.core.management import CommandError, call_command

    call_command("verify_results")
    assert "0 missing, damaged or unreadable" in capsys.readouterr().out

    corrupt(processed_scan.current_result.files["rd"])
    with pytest.raises(CommandError):
        call_command("verify_results")
    assert f"scan {processed_scan.pk} result {processed_scan.current_result.pk}: rd damaged" in capsys.readouterr().out


# ---- exports refuse before streaming ------------------------------------------------------------


@pytest.fixture
def upload_scan_once(upload_scan, make_user):
    uploader = make_user(RADIOLOGY, "bids-uploader")
    return lambda visit: upload_scan(visit=visit, uploader=uploader)


@pytest.fixture
def two_scans(build, upload_scan_once):
    made = []
    for study_id in ("CP-701", "CP-702"):
        patient = build.patient(study_id=study_id, family_name="Secreto", mrn=f"MRN-{study_id}")
        build.procedure(product=build.product(harvest=build.harvest(patient=patient)))
        scan = upload_scan_once(build.visit(patient=patient, kind="follow-up"))
        services.scan_process(scan.pk, worker="test")
        made.append(Scan.objects.get(pk=scan.pk))
    return made


def test_the_bids_export_streams_intact_maps(api_as, two_scans):
    response = api_as(RESEARCH).get(BIDS_URL)

    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert "sub-CP701/ses-m06/dwi/sub-CP701_ses-m06_FA.nii.gz" in names
    assert ExportLog.objects.get().completed


@pytest.mark.parametrize("damage", ["corrupted", "missing"])
def test_the_bids_export_refuses_before_streaming_and_names_the_sessions(api_as, two_scans, caplog, damage):
    intact, damaged = two_scans
    result = damaged.current_result
    if damage == "corrupted":
        corrupt(result.files["color_fa"])
    else:
        default_storage.delete(result.files["color_fa"])

    with caplog.at_level(logging.WARNING):
        response = api_as(RESEARCH).get(BIDS_URL)

    assert response.status_code == 409 and not getattr(response, "streaming", False)
    answer = response.json()
    assert "Nothing was exported" in answer["detail"]
    status = "damaged" if damage == "corrupted" else "missing"
    assert answer["sessions"] == [
        {"subject": "sub-CP702", "session": "ses-m06", "problems": [f"colour FA map: {status}"]}
    ]
    text = response.content.decode()
    for hidden in ("scans/", "Secreto", "MRN-", f"scan {damaged.pk}", "media"):
        assert hidden not in text  # no server path, no identifier beyond research's allow-list
    assert not ExportLog.objects.exists()  # nothing was exported
    assert "BIDS export for api-research refused" in caplog.text and "sub-CP702 ses-m06" in caplog.text
    assert f"Scan {damaged.pk}: the color_fa of result {result.pk} is {status}" in caplog.text


def test_a_map_damaged_while_the_export_streams_breaks_it_off(api_as, two_scans):
    response = api_as(RESEARCH).get(BIDS_URL)
    assert response.status_code == 200
    corrupt(two_scans[1].current_result.files["fa"])  # after the check, before its bytes are read

    with pytest.raises(storage.StoredFileError):
        b"".join(response.streaming_content)
    assert not ExportLog.objects.get().completed


# ---- deleting a scan deletes its files after commit ---------------------------------------------


def scan_files_on_disk(settings, scan):
    return files_under(Path(settings.MEDIA_ROOT) / "scans" / str(scan.pk))


@pytest.mark.django_db(transaction=True)
def test_deleting_a_scan_in_the_admin_deletes_its_files_after_commit(
    client, make_user, processed_scan, settings, monkeypatch
):
    scan = processed_scan
    on_disk = scan_files_on_disk(settings, scan)
    assert {"input/dwi.bval", "input/dwi.bvec"} < set(on_disk) and any(n.startswith("results/") for n in on_disk)
    deletions = []
    delete_quietly = storage.delete_quietly

    def watched(*args, **kwargs):  # when the files go: outside any transaction, the scan gone for good
        deletions.append((connection.in_atomic_block, Scan.objects.filter(pk=scan.pk).exists()))
        return delete_quietly(*args, **kwargs)

    monkeypatch.setattr(storage, "delete_quietly", watched)
    client.force_login(make_user(REGISTRY_ADMIN, "admin-deleter"))
    response = client.post(f"/admin/imaging/scan/{scan.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Scan.objects.filter(pk=scan.pk).exists()
    assert deletions and set(deletions) == {(False, False)}
    assert not (Path(settings.MEDIA_ROOT) / "scans" / str(scan.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_delete_keeps_the_files(processed_scan, settings):
    scan = processed_scan
    on_disk = scan_files_on_disk(settings, scan)

    with pytest.raises(RuntimeError), transaction.atomic():
        Scan.objects.get(pk=scan.pk).delete()
        assert scan_files_on_disk(settings, scan) == on_disk  # not before the commit
        raise RuntimeError("the deletion is rolled back")

    assert Scan.objects.filter(pk=scan.pk).exists()
    assert scan_files_on_disk(settings, scan) == on_disk
    assert all(found.status == storage.INTACT for found in storage.result_checks(current(scan)))


@pytest.mark.django_db(transaction=True)
def test_deleting_a_scan_with_labels_deletes_inputs_labels_and_every_result(processed_scan, settings, scan_files):
    from django.core.files import File

    from imaging.models import RoiMeasurement

    scan = processed_scan
    with open(scan_files["labels"], "rb") as labels:
        services.labels_apply(scan, None, File(labels, name="labels.nii.gz"), '{"3": "cst-l"}')
    queue_again(scan)
    services.scan_process(scan.pk, worker="test")  # a second result; the first is kept, not current
    scan = Scan.objects.get(pk=scan.pk)
    assert scan.labels and scan.results.count() == 2
    names = [scan.dwi.name, scan.labels.name] + [n for r in scan.results.all() for n in r.files.values()]
    assert all(default_storage.exists(name) for name in names)

    with transaction.atomic():
        RoiMeasurement.objects.filter(scan=scan).delete()  # measurements keep their scan from deletion
        scan.delete()
        assert all(default_storage.exists(name) for name in names)

    assert not any(default_storage.exists(name) for name in names)
    assert not (Path(settings.MEDIA_ROOT) / "scans" / str(scan.pk)).exists()


# ---- what a radiologist sees ------------------------------------------------------------------

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.browser
@pytest.mark.parametrize(
    "locale,names",
    [
        ("en-GB", ("Some files of this result are missing or damaged", "FA map", "damaged", "Brain mask", "missing")),
        ("es-ES", ("Algunos archivos de este resultado faltan", "Mapa de FA", "archivo dañado", "Máscara cerebral")),
    ],
)
def test_screenshot_of_a_scan_page_with_a_damaged_map(chromium, sign_in, live_server, processed_scan, locale, names):
    result = processed_scan.current_result
    corrupt(result.files["fa"])
    default_storage.delete(result.files["mask"])
    context = chromium.new_context(locale=locale, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", lambda answer: answer.status >= 400 and problems.append(f"{answer.status} {answer.url}"))
    sign_in(page, RADIOLOGY, f"dr-screenshot-{locale}")

    page.goto(f"{live_server.url}/imaging/scans/{processed_scan.pk}/")
    card = page.locator("#file-problems")
    card.wait_for()
    for text in names:
        assert text in card.inner_text()
    assert page.locator(".dwi-viewer").count() == 0
    assert problems == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"scan-damaged-map-{locale[:2]}.png"), full_page=True)
    context.close()


# ---- storage failing during an upload -------------------------------------------------------------


@pytest.mark.parametrize("fail_on", [1, 2, 3], ids=["dwi", "bval", "bvec"])
def test_storage_failing_during_an_upload_answers_503_and_keeps_nothing(api_as, build, series, settings, fail_on):
    visit = build.visit()
    api = api_as(RADIOLOGY)
    use_storage(settings, f"{__name__}.FailingStorage", fail_on=fail_on, after_bytes=0)
    answer = api.post("/api/v1/scans/", series.payload(visit), format="multipart")
    assert answer.status_code == 503, answer.content
    assert answer["Retry-After"]
    detail = answer.json()["detail"]
    assert "could not be saved to the registry's storage; nothing was kept" in detail and "/" not in detail
    assert not Scan.objects.filter(visit=visit).exists()
    assert files_under(settings.MEDIA_ROOT) == []


def test_storage_failing_during_an_upload_on_the_page_says_so(client, make_user, build, scan_files, settings):
    visit = build.visit()
    client.force_login(make_user(RADIOLOGY, "dr-upload-page"))
    use_storage(settings, f"{__name__}.FailingStorage", fail_on=2, after_bytes=0)
    with open(scan_files["dwi"], "rb") as dwi, open(scan_files["bval"], "rb") as bval:
        with open(scan_files["bvec"], "rb") as bvec:
            page = client.post(
                f"/imaging/visits/{visit.pk}/upload/",
                {"dwi": dwi, "bval": bval, "bvec": bvec, "profile": "standard", "fit_method": "WLS"},
                HTTP_ACCEPT_LANGUAGE="en",
            )
    assert page.status_code == 503
    assert "could not be saved to the registry&#x27;s storage; nothing was kept" in page.content.decode()
    assert not Scan.objects.filter(visit=visit).exists()
    assert files_under(settings.MEDIA_ROOT) == []
