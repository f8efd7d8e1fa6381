"""Management commands: adduser provisions an account with a role; the demo loads once."""

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


def test_the_demo_follows_the_case_series_and_loads_once(db):
    call_command("seed_demo")
    call_command("seed_demo")
    assert Patient.objects.count() == 3
    assert set(Patient.objects.values_list("etiology", flat=True)) == {"hie"}
    assert IntrathecalProcedure.objects.count() == 3
    follow_ups = sorted(visit.months_since_procedure() for visit in Visit.objects.filter(kind="follow-up"))
    assert [round(months) for months in follow_ups] == [6, 9, 10]
    assert Score.objects.filter(instrument__code="GMFM-88").count() == 6
    assert get_user_model().objects.filter(username__in=["hematology", "radiology", "research", "admin"]).count() == 4
