"""Research sees an allow-list: free text typed by people reaches research only where a
registry-admin released that exact value, and a field added to a clinical serializer stays
invisible to research until it is put on its kind's list in the de-identification rules.

Every free-text field of a course carries a planted marker ("ZZMARKER-<field>"); the same
requests by clinical staff show the markers, so the research check is shown to be able to fail.
"""

import uuid
from types import SimpleNamespace

import pytest
from rest_framework import serializers

from imaging.api.serializers import ScanSerializer
from imaging.models import Region, RoiMeasurement, Scan
from registry import deidentify
from registry.api.serializers import PatientSerializer
from registry.models import FreeTextRelease
from registry.roles import HEMATOLOGY, RADIOLOGY, RESEARCH

RESOURCES = [
    "patients",
    "harvests",
    "products",
    "procedures",
    "adverse-events",
    "visits",
    "instruments",
    "scores",
    "scans",
    "roi-measurements",
]


@pytest.fixture
def planted(build, exports):
    """A course with a marker in every free-text field: {field: marker}."""
    tag = uuid.uuid4().hex[:8].upper()
    markers = {
        field: f"ZZMARKER-{field}-{tag}"
        for field in ("assessor", "term_other", "usable_reason", "region_text", "label_name")
    }
    procedure = build.procedure()
    patient = procedure.patient
    visit = build.visit(patient=patient)
    build.score(visit=visit, assessor=markers["assessor"])
    build.adverse_event(procedure=procedure, term="Other, specify", term_other=markers["term_other"])
    scan = exports.add_scan_result(visit, 0.45, usable=False, reason=markers["usable_reason"])
    # Text typed before regions were a vocabulary (kept by the migration when it named no region).
    RoiMeasurement.objects.create(scan=scan, region_text=markers["region_text"], label=7, fa=0.5, source="label-mask")
    RoiMeasurement.objects.create(scan=scan, region=Region.objects.get(code="cst-l"), label=3, fa=0.6)
    Scan.objects.filter(pk=scan.pk).update(label_names={"3": "cst-l", "7": markers["label_name"]})
    ids = {"patients": patient.pk, "scans": scan.pk, "roi-measurements": scan.rois.first().pk}
    return SimpleNamespace(markers=markers, scan=scan, ids=ids)


def reads(planted):
    for resource in RESOURCES:
        yield f"/api/v1/{resource}/"
        if resource != "instruments":  # instruments belong to no patient; the list refuses the filter
            yield f"/api/v1/{resource}/?patient={planted.ids['patients']}"
    yield f"/api/v1/scans/{planted.scan.pk}/"
    for roi in planted.scan.rois.all():
        yield f"/api/v1/roi-measurements/{roi.pk}/"


def found(client, planted):
    """The planted fields whose marker appears in any API answer to this client."""
    bodies = []
    for url in reads(planted):
        response = client.get(url)
        assert response.status_code == 200, url
        bodies.append(response.content.decode())
    return sorted(field for field, marker in planted.markers.items() if any(marker in body for body in bodies))


def test_no_unreleased_free_text_reaches_research(planted, api_as):
    assert found(api_as(RESEARCH), planted) == []


def test_clinical_staff_see_the_free_text_so_the_research_check_can_fail(planted, api_as):
    seen = set(found(api_as(HEMATOLOGY), planted)) | set(found(api_as(RADIOLOGY), planted))
    assert seen == set(planted.markers) - {"label_name"}  # label names are stored, not served


@pytest.mark.parametrize(
    "key,field",
    [
        ("score.assessor", "assessor"),
        ("adverseevent.term_other", "term_other"),
        ("scan.usable_reason", "usable_reason"),
        ("roimeasurement.region_text", "region_text"),
    ],
)
def test_a_released_value_reaches_research_and_no_other(planted, api_as, build, key, field):
    FreeTextRelease.objects.create(field=key, value=planted.markers[field], note="checked: no identifier")
    other = build.score(visit=build.visit(), assessor="ZZMARKER-unreleased-assessor")

    research = api_as(RESEARCH)

    assert found(research, planted) == [field]
    assert b"ZZMARKER-unreleased-assessor" not in research.get(f"/api/v1/scores/{other.pk}/").content


def test_whole_field_releases_are_gone(db):
    assert not FreeTextRelease.objects.filter(value="").exists()


def test_research_scan_json_is_exactly_the_allow_list(planted, api_as):
    body = api_as(RESEARCH).get(f"/api/v1/scans/{planted.scan.pk}/").json()

    assert list(body) == list(deidentify.research_fields("scan"))
    assert list(body["summary"]) == list(deidentify.research_fields("scan-summary"))
    assert [list(roi) for roi in body["rois"]] == [list(deidentify.research_fields("roi"))] * 2
    assert "created_at" not in str(body) and "label_names" not in str(body)


def test_rois_give_the_region_code_and_its_translated_name(planted, api_as):
    research = api_as(RESEARCH)

    english = research.get(f"/api/v1/scans/{planted.scan.pk}/").json()["rois"]
    spanish = research.get(f"/api/v1/scans/{planted.scan.pk}/", HTTP_ACCEPT_LANGUAGE="es").json()["rois"]

    assert [(roi["region"], roi["region_name"]) for roi in english] == [
        ("cst-l", "Corticospinal tract, left"),
        (None, None),
    ]
    assert spanish[0]["region_name"] == "Tracto corticoespinal izquierdo"


def extra_field(monkeypatch, serializer_class, value):
    """Adds a field `extra_marker` to a clinical serializer for this test only."""
    monkeypatch.setattr(serializer_class.Meta, "fields", [*serializer_class.Meta.fields, "extra_marker"])
    monkeypatch.setitem(serializer_class._declared_fields, "extra_marker", serializers.SerializerMethodField())
    monkeypatch.setattr(serializer_class, "get_extra_marker", lambda self, instance: value, raising=False)


@pytest.mark.parametrize(
    "serializer_class,resource",
    [(PatientSerializer, "patients"), (ScanSerializer, "scans")],
    ids=["patient", "scan"],
)
def test_a_field_added_to_a_clinical_serializer_does_not_reach_research(
    planted, api_as, monkeypatch, serializer_class, resource
):
    extra_field(monkeypatch, serializer_class, "ZZMARKER-new-field")
    url = f"/api/v1/{resource}/{planted.ids[resource]}/"

    clinical = api_as(RADIOLOGY if resource == "scans" else HEMATOLOGY).get(url)
    research = api_as(RESEARCH).get(url)

    assert clinical.status_code == research.status_code == 200
    assert clinical.json()["extra_marker"] == "ZZMARKER-new-field"
    assert "extra_marker" not in research.json() and b"ZZMARKER-new-field" not in research.content


def test_the_cohort_exports_ask_the_allow_list_for_every_column(cohort, researcher, exports, monkeypatch):
    cohort.simple("CP-301", etiology="prematurity")
    url = f"{exports.cohort}?table=long&format=csv"
    assert {row["etiology"] for row in exports.read(researcher.get(url), "csv")} == {"prematurity"}

    patient_list = {name: rule for name, rule in deidentify.ALLOW_LISTS["patient"].items() if name != "etiology"}
    monkeypatch.setitem(deidentify.ALLOW_LISTS, "patient", patient_list)
    visit_list = {name: rule for name, rule in deidentify.ALLOW_LISTS["visit"].items() if name != "timepoint"}
    monkeypatch.setitem(deidentify.ALLOW_LISTS, "visit", visit_list)

    for table in ("long", "wide"):
        rows = exports.read(researcher.get(f"{exports.cohort}?table={table}&format=csv"), "csv")
        assert {row["etiology"] for row in rows} == {""} and {row["timepoint"] for row in rows} == {""}
    assert b"prematurity" not in exports.body(researcher.get(f"{exports.cohort}?table=long&format=json"))
