"""What every signed-in request reads of its account: its permissions, roles and sites in one query, for
that request only, so a role or site taken away counts from the very next request."""

import re

import pytest
from django.contrib.auth.models import Group, Permission

from registry import account
from registry.models import Site, SiteMembership
from registry.roles import HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN, RESEARCH
from tests.conftest import PASSWORD

ACCOUNT_TABLES = re.compile(r"auth_permission|auth_group|auth_user_groups|registry_sitemembership")


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
