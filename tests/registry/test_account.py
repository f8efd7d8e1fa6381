"""What every signed-in request reads of its account: its permissions, roles and sites in one query, for
that request only, so a role or site taken away counts from the very next request."""

import re

import pytest
from django.contrib.auth.models import Group, Permission

from registry import account
from registry.models import Site, SiteMembership
from registry.roles import HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN, RESEARCH
from tests.conftest import PASSWORD

# The account's read: its SQL, or on PostgreSQL the prepared statement that runs it (registry.rows.execute_prepared).
ACCOUNT_TABLES = re.compile(r"auth_permission|auth_group|auth_user_groups|registry_sitemembership|registry_account")


def account_queries(queries):
    return [sql for sql in queries if ACCOUNT_TABLES.search(sql)]


@pytest.mark.parametrize(
    ("role", "url"),
    [(HEMATOLOGY, "/patients/"), (RADIOLOGY, "/imaging/"), (RESEARCH, "/research/"), (REGISTRY_ADMIN, "/queries/")],
)
def test_a_page_reads_the_account_s_permissions_roles_and_sites_in_one_query(
    signed_in_client, captured_queries, role, url
):
    client = signed_in_client(role)
    client.get(url)

    queries = captured_queries(client, url)

    assert len(account_queries(queries)) == 1, "\n".join(queries)


def test_an_api_request_reads_the_account_in_one_query(hematology_api, captured_queries):
    hematology_api.get("/api/v1/patients/")

    queries = captured_queries(hematology_api, "/api/v1/patients/")

    assert len(account_queries(queries)) == 1, "\n".join(queries)


def test_the_top_bar_names_the_account_s_roles(signed_in_client):
    client = signed_in_client(HEMATOLOGY)
    Group.objects.get(name=RADIOLOGY).user_set.add(client.get("/").wsgi_request.user)

    page = client.get("/patients/").content.decode()

    assert f"hematology-user · {HEMATOLOGY} · {RADIOLOGY}</span>" in page


def test_a_role_taken_away_counts_from_the_next_request(client, make_user):
    user = make_user(HEMATOLOGY)
    client.force_login(user)
    assert client.get("/patients/").status_code == 200
    assert 'href="/patients/"' in client.get("/access-log/").content.decode()  # refused, in the page layout

    user.groups.clear()

    assert client.get("/patients/").status_code == 403
    assert 'href="/patients/"' not in client.get("/access-log/").content.decode()


def test_a_permission_given_to_the_account_itself_counts_from_the_next_request(client, make_user):
    user = make_user(RESEARCH)
    client.force_login(user)
    assert client.get("/access-log/").status_code == 403

    user.user_permissions.add(Permission.objects.get(content_type__app_label="registry", codename="view_accesslog"))

    assert client.get("/access-log/").status_code == 200


def test_a_site_taken_away_counts_from_the_next_request(client, make_user):
    other = Site.objects.create(code="NORTH", name="North")
    user = make_user(HEMATOLOGY, sites=[Site.default(), other])
    client.force_login(user)
    assert client.get("/").wsgi_request.user.is_authenticated

    SiteMembership.objects.filter(user=user, site=other).delete()
    request_user = client.get("/patients/").wsgi_request.user

    assert account.site_ids(request_user) == [Site.default().pk]


def test_the_account_reads_what_django_s_model_backend_reads(django_user_model, make_user):
    from django.contrib.auth.backends import ModelBackend

    for role in (HEMATOLOGY, RESEARCH, REGISTRY_ADMIN):
        user = django_user_model.objects.get(pk=make_user(role, f"check-{role}").pk)
        user.user_permissions.add(Permission.objects.get(content_type__app_label="registry", codename="view_accesslog"))
        expected = django_user_model.objects.get(pk=user.pk)
        user = django_user_model.objects.get(pk=user.pk)

        assert user.get_all_permissions() == ModelBackend().get_all_permissions(expected)
        assert user.get_user_permissions() == ModelBackend().get_user_permissions(expected)
        assert user.get_group_permissions() == ModelBackend().get_group_permissions(expected)
        assert account.role_names(user) == [role]


def test_a_superuser_holds_every_permission_and_an_inactive_account_none(django_user_model, db):
    superuser = django_user_model.objects.create_superuser("root", password=PASSWORD)
    inactive = django_user_model.objects.create_user("gone", password=PASSWORD, is_active=False)
    inactive.groups.add(Group.objects.get(name=HEMATOLOGY))

    assert len(superuser.get_all_permissions()) == Permission.objects.count()
    assert superuser.has_perm("registry.view_accesslog")
    assert inactive.get_all_permissions() == set() and not inactive.has_perm("registry.view_patient")


def test_the_navigation_follows_each_account_s_permissions_and_language(client, make_user):
    client.force_login(make_user(HEMATOLOGY))
    clinician = client.get("/access-log/").content.decode()
    client.force_login(make_user(RESEARCH))
    researcher = client.get("/access-log/").content.decode()
    client.cookies["django_language"] = "es"
    in_spanish = client.get("/access-log/").content.decode()

    assert '<a href="/patients/">Patients</a>' in clinician and 'href="/research/"' not in clinician
    assert '<a href="/research/">Research</a>' in researcher and 'href="/patients/"' not in researcher
    assert '<a href="/research/">Investigación</a>' in in_spanish


def prepared_statements():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'registry_account%%'")
        return sorted(name for (name,) in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_account_is_read_by_a_statement_planned_once_per_connection(
    django_user_model, make_user, captured_queries, signed_in_client
):
    """The account's read costs PostgreSQL more to plan than to run: it is prepared once per connection, is
    not counted among a request's queries, answers what the statement itself answers, and is prepared
    again on a new connection and after the transaction that prepared it was rolled back."""
    from django.db import connection, transaction

    connection.close()
    user = django_user_model.objects.get(pk=make_user(HEMATOLOGY, "prepared").pk)
    assert prepared_statements() == []
    with transaction.atomic():
        user.get_all_permissions()
        transaction.set_rollback(True)
    assert prepared_statements() == ["registry_account"]  # a session's statement outlives a rollback

    sql = account._account_sql(superuser=False)
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk] * sql.count("%s"))
        unprepared = sorted(cursor.fetchall())
    fresh = django_user_model.objects.get(pk=user.pk)
    fresh.get_all_permissions()
    assert sorted(fresh._perm_cache) == sorted(value for kind, value in unprepared if kind in "ug")
    assert fresh._role_names == [HEMATOLOGY] and fresh._site_ids == sorted(
        int(value) for kind, value in unprepared if kind == "s"
    )

    client = signed_in_client(HEMATOLOGY)
    client.get("/patients/")
    connection.close()  # the request below prepares the statement again, on its new connection
    queries = captured_queries(client, "/patients/")
    assert prepared_statements() == ["registry_account"]
    assert [sql for sql in queries if sql.lstrip().upper().startswith("PREPARE")] == []
    assert len(account_queries(queries)) == 1

    connection.close()  # Django's reconnection (an error, CONN_MAX_AGE) starts a new session
    assert prepared_statements() == []
    again = django_user_model.objects.get(pk=user.pk)
    again.get_all_permissions()
    assert again._role_names == [HEMATOLOGY]
    assert prepared_statements() == ["registry_account"]


def test_a_superuser_s_read_and_another_account_s_are_separate_statements(django_user_model, make_user, db):
    superuser = django_user_model.objects.create_superuser("root", password=PASSWORD)
    other = django_user_model.objects.get(pk=make_user(RESEARCH, "other").pk)
    assert len(superuser.get_all_permissions()) == Permission.objects.count()
    assert account.role_names(other) == [RESEARCH]
    assert not other.has_perm("registry.view_accesslog")
