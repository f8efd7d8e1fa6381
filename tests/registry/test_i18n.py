"""The Spanish translation: pages, form and API errors follow the language, and the catalogue is complete.

Language comes from the browser (Accept-Language), or from the choice made on /i18n/setlang/
(a cookie), which wins over the browser's. The default is English.
"""

import ast
import datetime as dt
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from registry.models import Patient
from registry.roles import HEMATOLOGY

PO_FILE = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")
ES = {"HTTP_ACCEPT_LANGUAGE": "es"}

pytestmark = pytest.mark.django_db


def patient_form_data(**overrides):
    data = {
        "study_id": "CP-777",
        "given_name": "Lucía",
        "family_name": "Prueba",
        "mrn": "MRN-777",
        "date_of_birth": "2019-03-04",
        "sex": "F",
        "cp_subtype": "spastic-diplegia",
        "etiology": "hie",
        "gestational_age_weeks": "",
        "gmfcs_level": "3",
        "epilepsy": "",
        "consent_date": "",
    }
    data.update(overrides)
    return data


def future_date():
    return (dt.date.today() + dt.timedelta(days=400)).isoformat()


# ---- pages ------------------------------------------------------------------------------


def test_login_page_in_spanish_when_the_browser_asks_for_it(client):
    response = client.get("/login/", **ES)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="es">' in html
    assert "Iniciar sesión" in html
    assert "Contraseña" in html
    assert "Nombre de usuario" in html
    assert "Sign in" not in html
    assert response["Content-Language"] == "es"


def test_login_page_in_english_by_default(client):
    response = client.get("/login/")

    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Sign in" in html
    assert "Password" in html
    assert "Iniciar sesión" not in html


def test_english_when_the_browser_asks_for_an_unsupported_language(client):
    html = client.get("/login/", HTTP_ACCEPT_LANGUAGE="de").content.decode()

    assert '<html lang="en">' in html
    assert "Sign in" in html


def test_choosing_spanish_sticks_for_later_pages(client):
    response = client.post("/i18n/setlang/", {"language": "es", "next": "/login/"})

    assert response.status_code == 302
    assert response.url == "/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"

    # Later pages, even with a browser that prefers English: the chosen language wins.
    for _ in range(2):
        html = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert '<html lang="es">' in html
        assert "Iniciar sesión" in html

    # And back to English the same way.
    client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    html = client.get("/login/", **ES).content.decode()
    assert '<html lang="en">' in html
    assert "Sign in" in html


def test_hematology_sees_the_patient_page_in_spanish(client, make_user, build):
    client.force_login(make_user(HEMATOLOGY))
    patient = build.patient(gestational_age_weeks=30, epilepsy=True)
    build.visit(patient=patient, kind="baseline", date=dt.date(2024, 1, 20))

    response = client.get(f"/patients/{patient.pk}/", **ES)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="es">' in html
    for label in [
        "Número de expediente",
        "Fecha de nacimiento",
        "Sexo",
        "Subtipo de PC",
        "Etiología",
        "GMFCS a la inclusión",
        "Edad gestacional",
        "semanas",
        "Primer procedimiento",
        "Historial",
        "Recolección",
        "Procedimiento intratecal",
        "Evento adverso",
        "Evolución",
        "Cerrar sesión",
    ]:
        assert label in html, label
    # Choice labels from the model are translated too.
    for value in ["Femenino", "Diplejía espástica", "Encefalopatía hipóxico-isquémica", "Basal"]:
        assert value in html, value
    for english in ["Record number", "Date of birth", "Spastic diplegia", "Sign out"]:
        assert english not in html, english


def test_patient_list_in_spanish(client, make_user, build):
    client.force_login(make_user(HEMATOLOGY))
    build.patient()

    html = client.get("/patients/", **ES).content.decode()

    assert "Pacientes" in html
    assert "Nuevo paciente" in html
    assert "ID de estudio" in html
    assert "Buscar" in html


# ---- validation messages ----------------------------------------------------------------


def test_form_error_from_the_model_in_spanish_for_gmfcs_out_of_range(client, make_user):
    client.force_login(make_user(HEMATOLOGY))

    response = client.post("/patients/new/", patient_form_data(gmfcs_level="9"), **ES)

    assert response.status_code == 200
    html = response.content.decode()
    assert "El nivel GMFCS debe estar entre I y V (1-5)." in html
    assert "GMFCS level must be between" not in html
    assert "Nivel GMFCS a la inclusión" in html  # the field's label (capfirst of the model's verbose name)
    assert not Patient.objects.filter(study_id="CP-777").exists()


def test_form_error_from_the_model_in_spanish_for_a_future_birth_date(client, make_user):
    client.force_login(make_user(HEMATOLOGY))
    future = future_date()

    response = client.post("/patients/new/", patient_form_data(date_of_birth=future), **ES)

    assert response.status_code == 200
    html = response.content.decode()
    assert f"La fecha {future} está en el futuro." in html
    assert "is in the future" not in html
    assert not Patient.objects.filter(study_id="CP-777").exists()


def test_same_form_error_stays_english_by_default(client, make_user):
    client.force_login(make_user(HEMATOLOGY))

    html = client.post("/patients/new/", patient_form_data(gmfcs_level="9")).content.decode()

    assert "GMFCS level must be between I and V (1-5)." in html


def test_api_field_error_in_spanish(api_as):
    api = api_as(HEMATOLOGY)
    payload = {
        **patient_form_data(gmfcs_level=9),
        "gestational_age_weeks": None,
        "epilepsy": False,
        "consent_date": None,
    }

    response = api.post("/api/v1/patients/", payload, format="json", **ES)

    assert response.status_code == 400, response.content
    errors = response.json()["gmfcs_level"]
    # DRF turns the model's MaxValueValidator into its own max_value check, so the message is
    # DRF's (translated by DRF's catalogue) or, should that change, the model's; Spanish either way.
    spanish = {"Asegúrese de que este valor es menor o igual a 5.", "El nivel GMFCS debe estar entre I y V (1-5)."}
    assert errors and set(errors) <= spanish, errors
    assert not Patient.objects.filter(study_id="CP-777").exists()


def test_api_model_validation_error_in_spanish(api_as):
    api = api_as(HEMATOLOGY)
    future = future_date()
    payload = {
        **patient_form_data(date_of_birth=future, gmfcs_level=3),
        "gestational_age_weeks": None,
        "epilepsy": False,
        "consent_date": None,
    }

    response = api.post("/api/v1/patients/", payload, format="json", **ES)

    assert response.status_code == 400, response.content
    assert response.json()["date_of_birth"] == [f"La fecha {future} está en el futuro."]


def test_api_error_in_english_by_default(api_as):
    api = api_as(HEMATOLOGY)
    payload = {
        **patient_form_data(date_of_birth=future_date()),
        "gestational_age_weeks": None,
        "epilepsy": False,
        "consent_date": None,
    }

    response = api.post("/api/v1/patients/", payload, format="json")

    assert response.status_code == 400
    assert "is in the future" in response.json()["date_of_birth"][0]


# ---- the catalogue ----------------------------------------------------------------------


def parse_po(path):
    """The entries of a .po file: dicts with msgid, msgid_plural, msgctxt (for a word that means
    different things in different places), msgstr (list) and flags.

    A small parser for what makemessages writes; obsolete (#~) entries are skipped.
    """
    entries, entry, field = [], None, None

    def finish():
        if entry is not None and "msgid" in entry:
            entries.append(entry)

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if entry is not None and field is not None:  # a comment starts the next entry
                finish()
                entry, field = None, None
            entry = entry or {"flags": set(), "msgstr": {}}
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith(("msgctxt ", "msgid ", "msgid_plural ", "msgstr ", "msgstr[")):
            keyword, _, literal = line.partition(" ")
            if keyword in ("msgctxt", "msgid") and entry is not None and field not in (None, "msgctxt"):
                finish()
                entry = None
            entry = entry or {"flags": set(), "msgstr": {}}
            field = keyword
            value = ast.literal_eval(literal)
            if keyword.startswith("msgstr"):
                entry["msgstr"][keyword] = value
            else:
                entry[keyword] = value
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if field.startswith("msgstr"):
                entry["msgstr"][field] += value
            else:
                entry[field] += value
        else:
            raise AssertionError(f"unexpected line in {path.name}: {raw!r}")
    finish()
    return entries


def test_spanish_catalogue_is_complete_and_not_fuzzy():
    entries = parse_po(PO_FILE)
    header = next(entry for entry in entries if entry["msgid"] == "")
    messages = [entry for entry in entries if entry["msgid"] != ""]

    assert len(messages) > 100
    header_text = header["msgstr"]["msgstr"]
    assert "Language: es\n" in header_text
    assert "Content-Type: text/plain; charset=UTF-8\n" in header_text
    assert "Plural-Forms: nplurals=2; plural=(n != 1);\n" in header_text
    assert "fuzzy" not in header["flags"]

    fuzzy = [entry["msgid"] for entry in messages if "fuzzy" in entry["flags"]]
    empty = [entry["msgid"] for entry in messages if not all(text.strip() for text in entry["msgstr"].values())]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not empty, f"untranslated entries: {empty}"


def test_spanish_catalogue_keeps_placeholders():
    placeholder = re.compile(r"%\([a-z_]+\)[.0-9]*[sdeif]|%%")
    for entry in parse_po(PO_FILE):
        if entry["msgid"] and "python-format" in entry["flags"]:
            expected = sorted(placeholder.findall(entry["msgid"]))
            for text in entry["msgstr"].values():
                assert sorted(placeholder.findall(text)) == expected, entry["msgid"]


def test_compiled_catalogue_matches_the_po_file():
    assert MO_FILE.exists(), "run manage.py compilemessages"
    with MO_FILE.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [
        entry["msgid"]
        for entry in parse_po(PO_FILE)
        if entry["msgid"]
        and "msgid_plural" not in entry
        and (
            compiled.pgettext(entry["msgctxt"], entry["msgid"])
            if "msgctxt" in entry
            else compiled.gettext(entry["msgid"])
        )
        != entry["msgstr"]["msgstr"]
    ]
    assert not stale, f"django.mo is out of date (run compilemessages) for: {stale}"
    with translation.override("es"):
        assert translation.gettext("Sign in") == "Iniciar sesión"
        assert translation.gettext("medical record number") == "número de expediente"
        assert translation.gettext("Bone-marrow harvest") == "Recolección de médula ósea"
