"""`adduser --site CODE` puts an account in its sites (repeatable); staff accounts need one once the
registry has several; the demo loads two sites and an account for each."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from registry import selectors
from registry.models import Patient, Site

PASSWORD = "a-long-passphrase-9"


def sites_of(username):
    user = get_user_model().objects.get(username=username)
    return sorted(user.site_memberships.values_list("site__code", flat=True))


@pytest.fixture
def two_sites(db):
    return Site.default(), Site.objects.create(code="NORTE", name="Hospital del Norte")


def test_adduser_puts_the_account_in_the_named_sites(two_sites):
    call_command("adduser", "dr-rios", role="hematology", password=PASSWORD, sites=["NORTE"], stdout=io.StringIO())
    assert sites_of("dr-rios") == ["NORTE"]
    call_command(
        "adduser", "dr-vega", role="radiology", password=PASSWORD, sites=["NORTE", "MAIN"], stdout=io.StringIO()
    )
    assert sites_of("dr-vega") == ["MAIN", "NORTE"]


def test_adduser_site_on_the_command_line(two_sites):
    out = io.StringIO()
    call_command("adduser", "dr-sol", "--role", "hematology", "--password", PASSWORD, "--site", "MAIN", stdout=out)
    assert sites_of("dr-sol") == ["MAIN"] and "at MAIN" in out.getvalue()


def test_adduser_refuses_an_unknown_site_and_creates_nothing(two_sites):
    with pytest.raises(CommandError, match="No site with code 'SUR'.*MAIN, NORTE"):
        call_command("adduser", "dr-x", role="hematology", password=PASSWORD, sites=["MAIN", "SUR"])
    assert not get_user_model().objects.filter(username="dr-x").exists()


def test_adduser_needs_a_site_for_staff_once_there_are_several(two_sites):
    with pytest.raises(CommandError, match="--site"):
        call_command("adduser", "dr-x", role="radiology", password=PASSWORD)
    assert not get_user_model().objects.filter(username="dr-x").exists()
    call_command("adduser", "reader", role="research", password=PASSWORD, stdout=io.StringIO())
    assert sites_of("reader") == []


def test_adduser_puts_staff_in_the_only_site_of_a_single_centre_registry(db):
    call_command("adduser", "dr-uno", role="hematology", password=PASSWORD, stdout=io.StringIO())
    assert sites_of("dr-uno") == ["MAIN"]


def test_adduser_update_replaces_the_sites_named_and_keeps_them_otherwise(two_sites):
    call_command("adduser", "dr-rios", role="hematology", password=PASSWORD, sites=["MAIN"], stdout=io.StringIO())
    call_command(
        "adduser", "dr-rios", role="hematology", password=PASSWORD, sites=["NORTE"], update=True, stdout=io.StringIO()
    )
    assert sites_of("dr-rios") == ["NORTE"]
    call_command("adduser", "dr-rios", role="hematology", password=PASSWORD, update=True, stdout=io.StringIO())
    assert sites_of("dr-rios") == ["NORTE"]


def test_the_demo_has_two_sites_and_an_account_for_each(db):
    call_command("seed_demo", allow_production=True, stdout=io.StringIO())
    assert dict(Patient.objects.values_list("study_id", "site__code")) == {
        "CP-001": "MAIN",
        "CP-002": "MAIN",
        "CP-003": "NORTE",
    }
    users = {user.username: user for user in get_user_model().objects.all()}
    assert (sites_of("hematology"), sites_of("radiology"), sites_of("hematology-b")) == (["MAIN"], ["MAIN"], ["NORTE"])
    assert users["hematology-b"].check_password("demo-hematology-b")

    def seen(name):
        return sorted(selectors.visible_patients(users[name]).values_list("study_id", flat=True))

    assert seen("hematology") == seen("radiology") == ["CP-001", "CP-002"]
    assert seen("hematology-b") == ["CP-003"]
    assert seen("research") == seen("admin") == ["CP-001", "CP-002", "CP-003"]
