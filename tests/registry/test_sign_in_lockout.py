"""Sign-in throttling (django-axes): five wrong passwords for a username from one address lock it
for 15 minutes on the sign-in page, the admin and the API token endpoint; while locked, the right
password is refused too. Failures are kept for registry-admins to read. Passwords hash with Argon2."""

import datetime as dt

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone
from rest_framework.test import APIClient

from registry.roles import HEMATOLOGY, REGISTRY_ADMIN
from tests.conftest import PASSWORD

LIMIT = 5
ES = {"HTTP_ACCEPT_LANGUAGE": "es"}


def fail(post, times, username):
    return [post({"username": username, "password": "wrong-password"}).status_code for _ in range(times)]


def signed_in(client):
    return "_auth_user_id" in client.session


def test_the_sign_in_page_locks_after_five_wrong_passwords_and_refuses_the_right_one(client, make_user):
    user = make_user(HEMATOLOGY)

    statuses = fail(lambda data: client.post("/login/", data), LIMIT, user.username)
    locked = client.post("/login/", {"username": user.username, "password": PASSWORD})

    assert statuses == [200] * (LIMIT - 1) + [429]
    assert locked.status_code == 429
    assert not signed_in(client)
    html = locked.content.decode()
    assert f"Too many failed sign-in attempts for “{user.username}”" in html
    assert "locked for 15 minutes" in html
    assert locked["Retry-After"] == "900"


def test_fewer_failures_than_the_limit_do_not_lock(client, make_user):
    user = make_user(HEMATOLOGY)
    fail(lambda data: client.post("/login/", data), LIMIT - 1, user.username)

    response = client.post("/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302 and signed_in(client)


def test_the_lockout_message_follows_the_language(client, make_user):
    user = make_user(HEMATOLOGY)
    fail(lambda data: client.post("/login/", data, **ES), LIMIT, user.username)

    html = client.post("/login/", {"username": user.username, "password": PASSWORD}, **ES).content.decode()

    assert "Demasiados intentos fallidos" in html and "Too many" not in html


def test_the_api_token_endpoint_answers_429_json_and_gives_no_token_while_locked(make_user):
    user = make_user(HEMATOLOGY)
    client = APIClient()

    statuses = fail(lambda data: client.post("/api/v1/auth/token/", data), LIMIT, user.username)
    locked = client.post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD})

    assert statuses == [400] * (LIMIT - 1) + [429]
    assert locked.status_code == 429
    body = locked.json()
    assert "token" not in body
    assert body["detail"].startswith(f"Too many failed sign-in attempts for “{user.username}”")


def test_the_admin_login_locks_too(client, make_user):
    admin = make_user(REGISTRY_ADMIN, "boss")

    statuses = fail(lambda data: client.post("/admin/login/", data), LIMIT, admin.username)
    locked = client.post("/admin/login/", {"username": admin.username, "password": PASSWORD})

    assert statuses[-1] == 429 and locked.status_code == 429
    assert not signed_in(client)


def test_the_lock_holds_one_username_from_one_address(client, make_user):
    user = make_user(HEMATOLOGY)
    colleague = make_user(HEMATOLOGY, "colleague")
    fail(lambda data: client.post("/login/", data), LIMIT, user.username)

    other_user = client.post("/login/", {"username": colleague.username, "password": PASSWORD})
    client.logout()
    other_address = client.post("/login/", {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")

    assert other_user.status_code == 302
    assert other_address.status_code == 302 and signed_in(client)


def test_the_lock_ends_after_the_cool_off(client, make_user):
    user = make_user(HEMATOLOGY)
    fail(lambda data: client.post("/login/", data), LIMIT, user.username)
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))

    response = client.post("/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302 and signed_in(client)


def test_failures_and_sign_ins_are_recorded_for_the_audit(client, make_user):
    user = make_user(HEMATOLOGY)
    fail(lambda data: client.post("/login/", data), 2, user.username)
    client.post("/login/", {"username": user.username, "password": PASSWORD})

    failures = AccessFailureLog.objects.filter(username=user.username)
    assert failures.count() == 2
    assert {failure.path_info for failure in failures} == {"/login/"}
    assert failures.first().ip_address == "127.0.0.1"
    assert AccessLog.objects.filter(username=user.username).count() == 1
    assert not AccessAttempt.objects.filter(username=user.username).exists()  # reset by the sign-in


def test_registry_admins_read_the_sign_in_records_and_cannot_edit_them(client, make_user):
    user = make_user(HEMATOLOGY)
    fail(lambda data: client.post("/login/", data), LIMIT, user.username)
    failure = AccessFailureLog.objects.filter(username=user.username).last()
    client.force_login(make_user(REGISTRY_ADMIN, "boss"))

    listing = client.get("/admin/axes/accessfailurelog/")
    change = client.post(f"/admin/axes/accessfailurelog/{failure.pk}/change/", {"username": "someone-else"})
    delete = client.post(f"/admin/axes/accessfailurelog/{failure.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200 and user.username in listing.content.decode()
    assert change.status_code == 403 and delete.status_code == 403
    failure.refresh_from_db()
    assert failure.username == user.username and failure.locked_out
    assert client.get("/admin/axes/accessattempt/").status_code == 200
    assert client.get("/admin/axes/accesslog/").status_code == 200
    assert client.get("/admin/axes/accessattempt/add/").status_code == 403


def test_a_registry_admin_unlocks_an_account_by_deleting_its_lockout(client, make_user):
    user = make_user(HEMATOLOGY)
    fail(lambda data: client.post("/login/", data), LIMIT, user.username)
    admin = APIClient()  # a separate browser
    admin.force_login(make_user(REGISTRY_ADMIN, "boss"))
    attempt = AccessAttempt.objects.get(username=user.username)

    admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert client.post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 302


def test_other_roles_do_not_see_the_sign_in_records(client, make_user):
    client.force_login(make_user(HEMATOLOGY))

    assert client.get("/admin/axes/accessfailurelog/").status_code in (302, 403)


def test_a_pbkdf2_password_is_rehashed_with_argon2_at_sign_in(client, make_user, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    user = make_user(HEMATOLOGY)
    # An old hash, with few iterations so the test stays fast.
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "oldsalt123456789", iterations=1000)
    user.save()

    response = client.post("/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$")
    assert user.check_password(PASSWORD)


def test_argon2_is_the_first_hasher_in_production_settings():
    from config import settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" in production.PASSWORD_HASHERS


pytestmark = pytest.mark.django_db
