"""API tokens: given for a username and password, stored only as a digest, expiring, revoked by
signing out of the API or by a registry-admin, and never shown again after the answer that makes them."""

import datetime as dt

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

HEMATOLOGY = "hematology"
PASSWORD = "pw-for-tests-1"  # every make_user account's


def sign_in(user):
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def client_with(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_is_stored_only_as_a_digest(make_user):
    user = make_user(HEMATOLOGY)

    key = sign_in(user)["token"]

    stored = AuthToken.objects.get(user=user)
    assert key not in stored.digest and len(stored.digest) == 128
    assert key not in str([getattr(stored, field.attname) for field in AuthToken._meta.fields])


def test_a_token_expires_after_the_configured_hours(make_user):
    user = make_user(HEMATOLOGY)
    before = timezone.now()

    answer = sign_in(user)

    expiry = AuthToken.objects.get(user=user).expiry
    assert dt.timedelta(hours=10) <= expiry - before < dt.timedelta(hours=10, minutes=1)
    assert dt.datetime.fromisoformat(answer["expiry"].replace("Z", "+00:00")) == expiry


def test_the_token_lifetime_follows_the_setting(make_user, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": dt.timedelta(hours=2)}
    user = make_user(HEMATOLOGY)

    sign_in(user)

    lifetime = AuthToken.objects.get(user=user).expiry - timezone.now()
    assert dt.timedelta(hours=1, minutes=59) < lifetime <= dt.timedelta(hours=2)


def test_an_expired_token_is_refused(make_user):
    user = make_user(HEMATOLOGY)
    key = sign_in(user)["token"]
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - dt.timedelta(seconds=1))

    response = client_with(key).get("/api/v1/patients/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_of_a_deactivated_account_is_refused(make_user):
    user = make_user(HEMATOLOGY)
    key = sign_in(user)["token"]
    user.is_active = False
    user.save()

    assert client_with(key).get("/api/v1/patients/").status_code == 401


def test_signing_out_revokes_the_token_used_and_no_other(make_user):
    user = make_user(HEMATOLOGY)
    laptop, script = sign_in(user)["token"], sign_in(user)["token"]

    response = client_with(laptop).post("/api/v1/auth/logout/")

    assert response.status_code == 204
    assert client_with(laptop).get("/api/v1/patients/").status_code == 401
    assert client_with(script).get("/api/v1/patients/").status_code == 200


def test_signing_out_everywhere_revokes_every_token_of_the_account_only(make_user):
    user, colleague = make_user(HEMATOLOGY), make_user(HEMATOLOGY, "colleague")
    laptop, script = sign_in(user)["token"], sign_in(user)["token"]
    theirs = sign_in(colleague)["token"]

    response = client_with(laptop).post("/api/v1/auth/logout-all/")

    assert response.status_code == 204
    assert client_with(laptop).get("/api/v1/patients/").status_code == 401
    assert client_with(script).get("/api/v1/patients/").status_code == 401
    assert client_with(theirs).get("/api/v1/patients/").status_code == 200


@pytest.mark.parametrize("url", ["/api/v1/auth/logout/", "/api/v1/auth/logout-all/"])
def test_signing_out_needs_a_token(db, url):
    assert APIClient().post(url).status_code == 401
    assert client_with("0" * 64).post(url).status_code == 401


def test_a_wrong_password_is_answered_with_what_to_check(make_user):
    user = make_user(HEMATOLOGY)

    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": "nope"})

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["That username and password do not match an active account."]}


def test_a_missing_field_is_named(db):
    response = APIClient().post("/api/v1/auth/token/", {"username": "someone"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["password"]


def test_a_token_request_needs_no_csrf_token_even_from_a_signed_in_browser(client, make_user):
    user = make_user(HEMATOLOGY)
    browser = type(client)(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 200 and "token" in response.json()


# ---- the admin ------------------------------------------------------------------------


def test_registry_admins_see_who_holds_a_token_but_never_a_key(client, make_user):
    user = make_user(HEMATOLOGY)
    key = sign_in(user)["token"]
    token = AuthToken.objects.get(user=user)
    client.force_login(make_user("registry-admin"))

    page = client.get("/admin/knox/authtoken/").content.decode()

    assert user.username in page and f'<td class="field-digest_start">{token.digest[:8]}…</td>' in page
    # The digest is the token's primary key, so it is in the links; it cannot be turned back into a key.
    assert key not in page and key[:15] not in page


def test_registry_admins_cannot_make_or_change_a_token(client, make_user):
    user = make_user(HEMATOLOGY)
    sign_in(user)
    token = AuthToken.objects.get(user=user)
    client.force_login(make_user("registry-admin"))

    assert client.get("/admin/knox/authtoken/add/").status_code == 403
    response = client.post(f"/admin/knox/authtoken/{token.pk}/change/", {"expiry_0": "2099-01-01", "expiry_1": "0:0"})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.expiry.year != 2099


def test_deleting_a_token_in_the_admin_revokes_it(client, make_user):
    user = make_user(HEMATOLOGY)
    key = sign_in(user)["token"]
    token = AuthToken.objects.get(user=user)
    client.force_login(make_user("registry-admin"))

    response = client.post(f"/admin/knox/authtoken/{token.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not AuthToken.objects.filter(user=user).exists()
    assert client_with(key).get("/api/v1/patients/").status_code == 401


# ---- the schema -----------------------------------------------------------------------


def test_the_schema_documents_signing_in_and_out(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    sign_in_operation = schema["paths"]["/api/v1/auth/token/"]["post"]
    request = sign_in_operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    answer = sign_in_operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][request]["required"]) == {"username", "password"}
    assert set(schema["components"]["schemas"][answer]["properties"]) == {"token", "expiry"}
    assert "400" in sign_in_operation["responses"]
    for path in ("/api/v1/auth/logout/", "/api/v1/auth/logout-all/"):
        assert set(schema["paths"][path]["post"]["responses"]) == {"204", "401"}
    assert schema["components"]["securitySchemes"]["knoxApiToken"]["in"] == "header"


def test_a_request_with_a_token_reads_no_other_token_of_the_account(make_user, captured_queries):
    user = make_user(HEMATOLOGY)
    sign_in(user)
    client = client_with(sign_in(user)["token"])
    client.get("/api/v1/patients/")

    queries = captured_queries(client, "/api/v1/patients/")

    assert len([sql for sql in queries if "knox_authtoken" in sql]) == 1, "\n".join(queries)


def test_asking_for_a_token_deletes_the_account_s_expired_tokens_and_no_other(make_user):
    user, other = make_user(HEMATOLOGY), make_user(HEMATOLOGY, "other-user")
    old, live = sign_in(user)["token"], sign_in(user)["token"]
    others = sign_in(other)["token"]
    AuthToken.objects.exclude(pk=AuthToken.objects.filter(user=user).order_by("created").last().pk).update(
        expiry=timezone.now() - dt.timedelta(seconds=1)
    )

    new = sign_in(user)["token"]

    assert AuthToken.objects.filter(user=user).count() == 2
    assert AuthToken.objects.filter(user=other).count() == 1  # another account's tokens are its own business
    assert client_with(live).get("/api/v1/patients/").status_code == 200
    assert client_with(new).get("/api/v1/patients/").status_code == 200
    assert client_with(old).get("/api/v1/patients/").status_code == 401
    assert client_with(others).get("/api/v1/patients/").status_code == 401
