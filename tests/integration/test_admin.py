"""The Django admin lists every model of the registry for registry-admins."""
import pytest
from django.apps import apps
from django.contrib import admin


def test_every_model_is_in_the_admin():
    for app_label in ("registry", "imaging", "research"):
        for model in apps.get_app_config(app_label).get_models():
            if model.__name__.startswith("Historical") or model.__name__ == "ScanStatusEvent":
                continue
            assert admin.site.is_registered(model), model


@pytest.mark.parametrize("app_label", ["registry", "imaging", "research"])
def test_registry_admins_open_every_changelist(client, make_user, app_label):
    client.force_login(make_user("registry-admin"))
    for model in apps.get_app_config(app_label).get_models():
        if admin.site.is_registered(model):
            url = f"/admin/{app_label}/{model._meta.model_name}/"
            assert client.get(url).status_code == 200, url
            assert client.get(url + "add/").status_code in (200, 403), url
