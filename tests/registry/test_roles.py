"""Who may do what: every role against every API endpoint and every page.

The design: hematology and registry-admin write clinical records; radiology and research
only read them (research through the de-identified API, never through the clinical pages,
which show identifiers); instruments are written by registry-admin alone. Anonymous
requests get 401 from the API and the login page from the site. Every refused write is
checked in the database too: nothing stored, nothing changed.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import models
from knox.models import AuthToken
from rest_framework.test import APIClient

from registry import services
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    Patient,
    Score,
    Visit,
)
from registry.roles import HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN, RESEARCH

ANONYMOUS = "anonymous"
ROLES = [HEMATOLOGY, RADIOLOGY, RESEARCH, REGISTRY_ADMIN, ANONYMOUS]
CLINICAL_WRITERS = frozenset({HEMATOLOGY, REGISTRY_ADMIN})


@dataclass(frozen=True)
class Kind:
    """One kind of record, as the matrix needs it."""

    model: type
    make: Callable  # build -> a stored record nothing depends on (its parents are built with it)
    sibling: Callable  # that record -> valid fields for another record beside it (same parents)
    change: tuple  # (field, new value): a valid edit of the record
    writers: frozenset = CLINICAL_WRITERS


KINDS = {
    "patients": Kind(
        Patient,
        lambda build: build.patient(),
        lambda record: dict(
            study_id="CP-777",
            given_name="Nora",
            family_name="Nueva",
            mrn="MRN-777",
            date_of_birth=dt.date(2019, 5, 1),
            sex="M",
            cp_subtype="spastic-hemiplegia",
            etiology="prematurity",
            gmfcs_level=2,
        ),
        ("gmfcs_level", 4),
    ),
    "harvests": Kind(
        BoneMarrowHarvest,
        lambda build: build.harvest(),
        lambda record: dict(
            patient=record.patient,
            date=dt.date(2024, 3, 1),
            gcsf_mobilized=False,
            volume_ml=Decimal("120"),
            processing_method="sepax",
        ),
        ("volume_ml", Decimal("175.5")),
    ),
    "products": Kind(
        CellProduct,
        lambda build: build.product(),
        lambda record: dict(
            harvest=record.harvest,
            tnc_count=1_500_000_000,
            viability_percent=Decimal("90"),
            sterility="negative",
        ),
        ("viability_percent", Decimal("90.5")),
    ),
    "procedures": Kind(
        IntrathecalProcedure,
        lambda build: build.procedure(),
        lambda record: dict(
            patient=record.patient,
            product=record.product,
            date=dt.date(2024, 3, 2),
            weight_kg=Decimal("16.5"),
            volume_ml=Decimal("8"),
            puncture_level="L3-L4",
            sedation="general",
        ),
        ("weight_kg", Decimal("17.25")),
    ),
    "adverse-events": Kind(
        AdverseEvent,
        lambda build: build.adverse_event(),
        lambda record: dict(
            procedure=record.procedure,
            onset_date=dt.date(2024, 2, 3),
            term="Fever",
            grade=2,
            outcome="recovered",
        ),
        ("grade", 2),
    ),
    "visits": Kind(
        Visit,
        lambda build: build.visit(),
        lambda record: dict(patient=record.patient, date=dt.date(2024, 5, 2), kind="unscheduled"),
        ("kind", "unscheduled"),
    ),
    "instruments": Kind(
        Instrument,
        lambda build: services.record_create(
            Instrument,
            None,
            code="test-scale",
            name="Test scale",
            min_value=Decimal("0"),
            max_value=Decimal("10"),
        ),
        lambda record: dict(code="other-scale", name="Other scale", min_value=Decimal("0"), max_value=Decimal("5")),
        ("name", "Renamed scale"),
        writers=frozenset({REGISTRY_ADMIN}),
    ),
    "scores": Kind(
        Score,
        lambda build: build.score(),
        lambda record: dict(
            visit=record.visit,
            instrument=Instrument.objects.get(code="GMFM-66"),
            value=Decimal("55.5"),
            assessor="Dr Test",
        ),
        ("value", Decimal("42")),
    ),
}
PAGE_KINDS = [kind for kind in KINDS if kind != "instruments"]  # instruments live in the admin


def api_value(value):
    """A field value as the API takes it (scores name their instrument by code)."""
    if isinstance(value, Instrument):
        return value.code
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, (dt.date, Decimal)):
        return str(value)
    return value


def form_body(fields):
    """Fields as a browser posts the record form (unticked boxes are not sent)."""
    body = {}
    for name, value in fields.items():
        if value is False:
            continue
        body[name] = value.pk if isinstance(value, models.Model) else "on" if value is True else str(value)
    return body


def snapshot():
    """Every stored record and its version: any create, edit or delete shows up here."""
    return {model: set(model.objects.values_list("pk", "version")) for model in (spec.model for spec in KINDS.values())}


def assert_sent_to_login(response, login="/login/"):
    assert response.status_code == 302
    assert response.url.startswith(f"{login}?next="), response.url


# ---- API ----------------------------------------------------------------------------------


@pytest.fixture
def api_client(api_as):
    def client_for(role):
        return APIClient() if role == ANONYMOUS else api_as(role)

    return client_for


def api_status(role, allowed, success):
    if role == ANONYMOUS:
        return 401
    return success if allowed else 403


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_api_list_is_readable_by_every_role_but_not_anonymous(api_client, build, role, kind):
    record = KINDS[kind].make(build)

    response = api_client(role).get(f"/api/v1/{kind}/")

    assert response.status_code == api_status(role, True, 200), response.content
    if response.status_code == 200:
        assert record.pk in [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_api_retrieve_is_readable_by_every_role_but_not_anonymous(api_client, build, role, kind):
    record = KINDS[kind].make(build)

    response = api_client(role).get(f"/api/v1/{kind}/{record.pk}/")

    assert response.status_code == api_status(role, True, 200), response.content
    if response.status_code == 200:
        assert response.json()["id"] == record.pk


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_api_create_is_for_writers_only(api_client, build, role, kind):
    spec = KINDS[kind]
    body = {name: api_value(value) for name, value in spec.sibling(spec.make(build)).items()}
    allowed = role in spec.writers
    before = spec.model.objects.count()

    response = api_client(role).post(f"/api/v1/{kind}/", body, format="json")

    assert response.status_code == api_status(role, allowed, 201), response.content
    assert spec.model.objects.count() == (before + 1 if allowed else before)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_api_update_is_for_writers_only(api_client, build, role, kind):
    spec = KINDS[kind]
    record = spec.make(build)
    field, new_value = spec.change
    old_value = getattr(record, field)
    allowed = role in spec.writers

    response = api_client(role).patch(
        f"/api/v1/{kind}/{record.pk}/", {"version": record.version, field: api_value(new_value)}, format="json"
    )

    assert response.status_code == api_status(role, allowed, 200), response.content
    record.refresh_from_db()
    assert (getattr(record, field), record.version) == ((new_value, 2) if allowed else (old_value, 1))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_api_delete_is_for_writers_only(api_client, build, role, kind):
    spec = KINDS[kind]
    record = spec.make(build)
    allowed = role in spec.writers

    response = api_client(role).delete(f"/api/v1/{kind}/{record.pk}/?version={record.version}")

    assert response.status_code == api_status(role, allowed, 204), response.content
    assert spec.model.objects.filter(pk=record.pk).exists() is not allowed


def test_api_token_is_given_for_right_credentials_and_works_later(make_user):
    user = make_user(HEMATOLOGY)

    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": "pw-for-tests-1"})

    assert response.status_code == 200
    token = response.json()["token"]
    assert AuthToken.objects.get(user=user).token_key == token[:15]
    later = APIClient()
    later.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert later.get("/api/v1/patients/").status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "hematology-user", "password": "wrong-password"},
        {"username": "nobody", "password": "pw-for-tests-1"},
        {"username": "hematology-user"},
        {},
    ],
    ids=["wrong-password", "unknown-user", "no-password", "nothing"],
)
def test_api_token_is_refused_for_wrong_credentials(make_user, credentials):
    make_user(HEMATOLOGY)

    response = APIClient().post("/api/v1/auth/token/", credentials)

    assert response.status_code == 400
    assert "token" not in response.json()
    assert not AuthToken.objects.exists()


def test_api_refuses_a_made_up_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get("/api/v1/patients/").status_code == 401


# ---- pages --------------------------------------------------------------------------------

READ, WRITE = "read", "write"
PAGE_STATUS = {
    HEMATOLOGY: {READ: 200, WRITE: 200},
    REGISTRY_ADMIN: {READ: 200, WRITE: 200},
    RADIOLOGY: {READ: 200, WRITE: 403},
    RESEARCH: {READ: 403, WRITE: 403},  # every clinical page shows identifiers
}
# Every page, with what it does; {patients}, {harvests}, ... are the ids of a full course.
PAGES = (
    [("/patients/", READ), ("/patients/new/", WRITE), ("/patients/{patients}/", READ)]
    + [(f"/patients/{{patients}}/{kind}/new/", WRITE) for kind in PAGE_KINDS if kind != "patients"]
    + [
        (f"/records/{kind}/{{{kind}}}/{action}/", access)
        for kind in PAGE_KINDS
        for action, access in (("edit", WRITE), ("delete", WRITE), ("history", READ))
    ]
)


@pytest.fixture
def page_client(client, make_user):
    def signed_in(role):
        if role != ANONYMOUS:
            client.force_login(make_user(role))
        return client

    return signed_in


@pytest.fixture
def course(build):
    """One patient with a record of every kind."""
    patient = build.patient()
    harvest = build.harvest(patient=patient)
    product = build.product(harvest=harvest)
    procedure = build.procedure(product=product)
    visit = build.visit(patient=patient)
    return {
        "patients": patient,
        "harvests": harvest,
        "products": product,
        "procedures": procedure,
        "adverse-events": build.adverse_event(procedure=procedure),
        "visits": visit,
        "scores": build.score(visit=visit),
    }


@pytest.mark.parametrize("template,access", PAGES, ids=[template for template, _ in PAGES])
@pytest.mark.parametrize("role", ROLES)
def test_page_access_follows_role(page_client, course, role, template, access):
    url = template.format_map({kind: record.pk for kind, record in course.items()})

    response = page_client(role).get(url)

    if role == ANONYMOUS:
        assert_sent_to_login(response)
    else:
        assert response.status_code == PAGE_STATUS[role][access]


@pytest.mark.parametrize("action", ["new", "edit", "delete"])
@pytest.mark.parametrize("kind", PAGE_KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_page_post_stores_only_for_writers(page_client, build, role, kind, action):
    spec = KINDS[kind]
    record = spec.make(build)
    fields = form_body(spec.sibling(record))
    url, body = {
        "new": ("/patients/new/" if kind == "patients" else f"/patients/{record.owner_patient.pk}/{kind}/new/", fields),
        "edit": (f"/records/{kind}/{record.pk}/edit/", {**fields, "version": record.version}),
        "delete": (f"/records/{kind}/{record.pk}/delete/", {"version": record.version}),
    }[action]
    allowed = role in spec.writers
    before = snapshot()

    response = page_client(role).post(url, body)

    if role == ANONYMOUS:
        assert_sent_to_login(response)
    elif allowed:
        assert response.status_code == 302, response.content.decode()[:3000]  # a form error answers 200
    else:
        assert response.status_code == 403
    assert (snapshot() != before) is allowed


@pytest.mark.parametrize("role", ROLES)
def test_home_is_each_roles_daily_page(page_client, role):
    response = page_client(role).get("/")

    if role == ANONYMOUS:
        assert_sent_to_login(response)
    elif role == RESEARCH:
        assert (response.status_code, response.url) == (302, "/research/")
    elif role == RADIOLOGY:
        assert (response.status_code, response.url) == (302, "/imaging/")
    else:
        assert (response.status_code, response.url) == (302, "/patients/")


@pytest.mark.parametrize("role", ROLES)
def test_admin_is_for_registry_admin_only(page_client, role):
    response = page_client(role).get("/admin/")

    if role == REGISTRY_ADMIN:
        assert response.status_code == 200
    else:
        assert_sent_to_login(response, login="/admin/login/")
