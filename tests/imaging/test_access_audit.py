"""The access audit for imaging: the scan page, scan inputs and maps, and scan API answers for
accounts that see identifiers are logged with the scan's patient; research scan lists are logged as
research bulk reads."""

from registry.models import AccessLog


def only_entry():
    entry = AccessLog.objects.get()
    return entry, sorted(entry.patients.values_list("study_id", flat=True))


def test_the_scan_page_is_logged(client, make_user, processed_scan):
    user = make_user("radiology", "dr-vega")
    client.force_login(user)

    assert client.get(f"/imaging/scans/{processed_scan.pk}/").status_code == 200

    entry, patients = only_entry()
    assert (entry.user, entry.kind, entry.record_type, entry.object_id) == (
        user,
        "scan-page",
        "scan",
        str(processed_scan.pk),
    )
    assert patients == [processed_scan.visit.patient.study_id]


def test_map_and_input_downloads_are_logged_with_the_file(client, make_user, processed_scan):
    client.force_login(make_user("hematology", "dr-lopez"))
    fa = processed_scan.current_result.files["fa"]
    dwi = processed_scan.dwi.name

    assert client.get(f"/media/{fa}", REMOTE_ADDR="10.2.0.9").status_code == 200
    assert client.get(f"/media/{dwi}").status_code == 200

    entries = list(AccessLog.objects.order_by("pk"))
    assert [(entry.kind, entry.username, entry.object_id) for entry in entries] == [
        ("scan-file", "dr-lopez", str(processed_scan.pk)),
        ("scan-file", "dr-lopez", str(processed_scan.pk)),
    ]
    assert [entry.path for entry in entries] == [f"/media/{fa}", f"/media/{dwi}"]
    assert entries[0].ip == "10.2.0.9"
    study_id = processed_scan.visit.patient.study_id
    assert [list(entry.patients.values_list("study_id", flat=True)) for entry in entries] == [[study_id], [study_id]]


def test_refused_and_missing_files_are_not_logged(client, make_user, processed_scan):
    client.force_login(make_user("research"))
    assert client.get(f"/media/{processed_scan.current_result.files['fa']}").status_code == 403
    client.force_login(make_user("radiology"))
    assert client.get(f"/media/scans/{processed_scan.pk}/input/missing.nii.gz").status_code == 404
    assert AccessLog.objects.count() == 0


def test_identified_scan_api_answers_are_logged(api_as, processed_scan):
    client = api_as("radiology")
    study_id = processed_scan.visit.patient.study_id

    assert client.get(f"/api/v1/scans/{processed_scan.pk}/").status_code == 200
    entry, patients = only_entry()
    assert (entry.kind, entry.record_type, entry.object_id) == ("api-record", "scan", str(processed_scan.pk))
    assert patients == [study_id]

    assert client.get("/api/v1/scans/?status=done").status_code == 200
    listed = AccessLog.objects.first()
    assert (listed.kind, listed.path) == ("api-list", "/api/v1/scans/?status=done")
    assert list(listed.patients.values_list("study_id", flat=True)) == [study_id]


def test_identified_roi_answers_are_logged(api_as, processed_scan):
    client = api_as("radiology")
    response = client.get(f"/api/v1/roi-measurements/?scan={processed_scan.pk}")
    assert response.status_code == 200
    entry = AccessLog.objects.get()
    assert (entry.kind, entry.record_type) == ("api-list", "roimeasurement")


def test_research_scan_lists_are_research_bulk_reads(api_as, processed_scan):
    client = api_as("research")

    assert client.get("/api/v1/scans/").status_code == 200
    assert client.get(f"/api/v1/scans/{processed_scan.pk}/").status_code == 200

    entry, patients = only_entry()
    assert (entry.user, entry.kind, entry.path) == (client.user, "research-list", "/api/v1/scans/")
    assert patients == [processed_scan.visit.patient.study_id]
