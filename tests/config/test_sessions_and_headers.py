"""Sessions end after 30 idle minutes and 12 hours after sign-in; every response carries a
Permissions-Policy; static files allow no other origin; HTTPS=true makes `check --deploy` clean."""

import datetime as dt
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from registry.roles import HEMATOLOGY
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def signed_in(client, make_user):
    user = make_user(HEMATOLOGY)
    assert client.post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    return client


def stored_session(client):
    return Session.objects.get(session_key=client.session.session_key)


def minutes_left(session):
    return (session.expire_date - timezone.now()).total_seconds() / 60


def manage(*args, **env):
    environment = {**os.environ, "DEBUG": "false", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


# ---- sessions ---------------------------------------------------------------------------


def test_a_session_expires_30_minutes_after_the_last_request(signed_in):
    Session.objects.filter(session_key=signed_in.session.session_key).update(
        expire_date=timezone.now() + dt.timedelta(minutes=1)
    )

    assert signed_in.get("/patients/").status_code == 200
    assert 29.5 < minutes_left(stored_session(signed_in)) <= 30


def test_an_idle_session_no_longer_signs_in(signed_in):
    Session.objects.filter(session_key=signed_in.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )

    response = signed_in.get("/patients/")

    assert response.status_code == 302 and response["Location"].startswith("/login/")


def set_stored_expiry(client, seconds_from_now):
    expiry = timezone.now() + dt.timedelta(seconds=seconds_from_now)
    Session.objects.filter(session_key=client.session.session_key).update(expire_date=expiry)
    return expiry


def test_a_request_within_a_minute_of_the_last_renewal_writes_no_session(signed_in, captured_queries):
    assert signed_in.get("/patients/").status_code == 200
    set_stored_expiry(signed_in, 30 * 60 - 5)

    queries = captured_queries(signed_in, "/patients/")

    assert not [sql for sql in queries if "django_session" in sql and not sql.startswith("SELECT")], queries
    assert "sessionid" not in signed_in.get("/patients/").cookies


def test_an_active_session_is_renewed_once_its_expiry_would_move_by_a_minute(signed_in):
    assert signed_in.get("/patients/").status_code == 200
    set_stored_expiry(signed_in, 30 * 60 - 61)

    response = signed_in.get("/patients/")

    assert response.status_code == 200
    assert 29.9 < minutes_left(stored_session(signed_in)) <= 30
    assert response.cookies["sessionid"]["max-age"] == 30 * 60


def test_a_session_not_renewed_keeps_its_stored_expiry_and_ends_then(signed_in):
    assert signed_in.get("/patients/").status_code == 200
    expiry = set_stored_expiry(signed_in, 30 * 60 - 30)

    assert signed_in.get("/patients/").status_code == 200

    assert stored_session(signed_in).expire_date == expiry  # at most 30 minutes after the last request
    Session.objects.filter(session_key=signed_in.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    response = signed_in.get("/patients/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_session_signed_in_before_the_account_backend_changed_stays_signed_in(client, make_user):
    client.force_login(make_user(HEMATOLOGY), backend="django.contrib.auth.backends.ModelBackend")

    assert client.get("/patients/").status_code == 200


def test_a_session_ends_12_hours_after_sign_in_however_active(signed_in):
    assert signed_in.get("/patients/").status_code == 200
    session = signed_in.session
    session["signed_in_at"] = time.time() - 12 * 3600 - 1
    session.save()

    page = signed_in.get("/patients/")
    api = signed_in.get("/api/v1/patients/")

    assert page.status_code == 302 and page["Location"].startswith("/login/")
    assert api.status_code in (401, 403)


def test_a_session_younger_than_12_hours_goes_on(signed_in):
    assert signed_in.get("/patients/").status_code == 200
    session = signed_in.session
    session["signed_in_at"] = time.time() - 11 * 3600
    session.save()

    assert signed_in.get("/patients/").status_code == 200


SETTINGS = [
    "SESSION_COOKIE_AGE",
    "SESSION_RENEW_STEP",
    "SESSION_MAX_AGE",
    "AXES_FAILURE_LIMIT",
    "AXES_COOLOFF_TIME",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
]


def settings_under(**env):
    code = f"from django.conf import settings; print(repr([getattr(settings, name) for name in {SETTINGS!r}]))"
    result = manage("shell", "--no-imports", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return dict(zip(SETTINGS, eval(result.stdout, {"datetime": dt})))


def test_the_defaults_are_30_idle_minutes_12_hours_and_5_failures_locking_15_minutes_without_https():
    values = settings_under()

    assert values["SESSION_COOKIE_AGE"] == 30 * 60 and values["SESSION_MAX_AGE"] == 12 * 3600
    assert values["AXES_FAILURE_LIMIT"] == 5 and values["AXES_COOLOFF_TIME"] == dt.timedelta(minutes=15)
    assert not values["SESSION_COOKIE_SECURE"] and not values["SECURE_SSL_REDIRECT"]
    assert values["SECURE_HSTS_SECONDS"] == 0 and values["SECURE_PROXY_SSL_HEADER"] is None


def test_the_idle_timeout_moves_in_steps_of_a_minute_or_a_tenth_of_a_shorter_timeout():
    assert settings_under()["SESSION_RENEW_STEP"] == 60
    assert settings_under(SESSION_IDLE_MINUTES="5")["SESSION_RENEW_STEP"] == 30


def test_the_environment_sets_the_limits_and_https_turns_on_secure_cookies_hsts_redirect_and_the_proxy_header():
    values = settings_under(
        SESSION_IDLE_MINUTES="10",
        SESSION_MAX_HOURS="8",
        LOGIN_FAILURE_LIMIT="3",
        LOGIN_LOCKOUT_MINUTES="60",
        HTTPS="true",
    )

    assert values["SESSION_COOKIE_AGE"] == 600 and values["SESSION_MAX_AGE"] == 8 * 3600
    assert values["AXES_FAILURE_LIMIT"] == 3 and values["AXES_COOLOFF_TIME"] == dt.timedelta(hours=1)
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["SECURE_SSL_REDIRECT"]
    assert values["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and values["SECURE_HSTS_PRELOAD"]
    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


# ---- headers ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login/", "/api/v1/patients/", "/static/registry/registry.css", "/nowhere/"])
def test_every_response_carries_a_permissions_policy(client, db, path):
    response = client.get(path)
    response.close()  # a static file's response holds the file open until closed

    policy = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "usb=()", "payment=()"):
        assert feature in policy


@pytest.mark.django_db  # closing the response ends the request, which checks the database connection
def test_static_files_allow_no_other_origin(client):
    response = client.get("/static/registry/registry.css")
    response.close()

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.browser
def test_chromium_accepts_the_permissions_policy(chromium, live_server):
    page = chromium.new_page()
    messages = []
    page.on("console", lambda message: messages.append(message.text))

    page.goto(f"{live_server.url}/login/")
    allowed = page.evaluate("document.featurePolicy ? document.featurePolicy.allowsFeature('camera') : null")

    assert allowed is False
    assert not [text for text in messages if "Permissions-Policy" in text or "Feature Policy" in text], messages


# ---- HTTPS and check --deploy -----------------------------------------------------------


def test_check_deploy_reports_nothing_with_https_a_strong_key_and_hosts():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        HTTPS="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="registry.example.org",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_names_what_is_missing_without_https():
    result = manage("check", "--deploy", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="registry.example.org")

    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout
