"""Management commands: adduser provisions an account with a role; the demo loads once, into an
empty registry only, never recreates an account, and with DEBUG=false only when asked."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from registry.models import IntrathecalProcedure, Patient, Score, Visit


def test_adduser_creates_an_account_with_its_role(db):
    call_command("adduser", "dr-rios", role="radiology", password="a-long-passphrase-9")
    user = get_user_model().objects.get(username="dr-rios")
    assert list(user.groups.values_list("name", flat=True)) == ["radiology"]
    assert user.check_password("a-long-passphrase-9") and not user.is_staff


def test_adduser_makes_registry_admins_staff_for_the_admin_site(db):
    call_command("adduser", "boss", role="registry-admin", password="a-long-passphrase-9")
    assert get_user_model().objects.get(username="boss").is_staff


def test_adduser_refuses_an_unknown_role_a_weak_password_and_a_taken_name(db):
    with pytest.raises(CommandError):
        call_command("adduser", "x", role="surgeon", password="a-long-passphrase-9")
    with pytest.raises(CommandError, match="Password refused"):
        call_command("adduser", "x", role="research", password="123")
    call_command("adduser", "x", role="research", password="a-long-passphrase-9")
    with pytest.raises(CommandError, match="already exists"):
        call_command("adduser", "x", role="research", password="a-long-passphrase-9")
    assert get_user_model().objects.filter(username="x").count() == 1


def test_adduser_prompts_for_the_password_when_not_given(db, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-long-passphrase-9")
    call_command("adduser", "prompted", role="hematology")
    assert get_user_model().objects.get(username="prompted").check_password("a-long-passphrase-9")


def seed_demo(**options):
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def test_the_demo_follows_the_case_series_and_loads_once(db):
    seed_demo(allow_production=True)
    seed_demo(allow_production=True)
    assert Patient.objects.count() == 3
    assert set(Patient.objects.values_list("etiology", flat=True)) == {"hie"}
    assert IntrathecalProcedure.objects.count() == 3
    follow_ups = sorted(visit.months_since_procedure() for visit in Visit.objects.filter(kind="follow-up"))
    assert [round(months) for months in follow_ups] == [6, 9, 10]
    assert Score.objects.filter(instrument__code="GMFM-88").count() == 6
    assert get_user_model().objects.filter(username__in=["hematology", "radiology", "research", "admin"]).count() == 4


def test_the_demo_loads_only_into_an_empty_registry(db, make_user, build):
    make_user("hematology", "dr-lopez")

    output = seed_demo(allow_production=True)

    assert "Demo not loaded" in output and "0 patient(s) and 1 account(s)" in output
    assert not Patient.objects.exists()
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["dr-lopez"]


def test_the_demo_is_not_added_beside_existing_patients(db, build):
    build.patient(study_id="CP-500")

    seed_demo(allow_production=True)

    assert list(Patient.objects.values_list("study_id", flat=True)) == ["CP-500"]
    assert not get_user_model().objects.exists()


def test_a_deleted_or_changed_demo_account_stays_as_it_was_left(db):
    seed_demo(allow_production=True)
    User = get_user_model()
    User.objects.get(username="admin").delete()
    research = User.objects.get(username="research")
    research.set_password("a-new-long-passphrase")
    research.save()

    output = seed_demo(allow_production=True)

    assert "Demo not loaded" in output
    assert not User.objects.filter(username="admin").exists()
    research.refresh_from_db()
    assert research.check_password("a-new-long-passphrase") and not research.check_password("demo-research")


def test_with_debug_off_the_demo_refuses_to_load_unless_asked(db, settings):
    settings.DEBUG = False
    settings.LOAD_DEMO = False

    with pytest.raises(CommandError, match="--allow-production or set LOAD_DEMO=true"):
        seed_demo()

    assert not Patient.objects.exists() and not get_user_model().objects.exists()


def test_with_debug_off_the_demo_loads_when_load_demo_is_set(db, settings):
    settings.DEBUG = False
    settings.LOAD_DEMO = True

    assert "Demo loaded: 3 patients" in seed_demo()
    assert Patient.objects.count() == 3


def test_with_debug_on_the_demo_loads_without_asking(db, settings):
    settings.DEBUG = True
    settings.LOAD_DEMO = False

    seed_demo()

    assert Patient.objects.count() == 3
