"""Exports are plain Django views: a script fetches them with its API token alone, and a revoked or
expired token is refused like a missing one."""

import datetime as dt

from django.utils import timezone
from knox.models import AuthToken

from research.models import ExportLog

DICTIONARY = "/api/v1/export/dictionary/?format=json"


def test_a_research_token_alone_fetches_an_export(api_as):
    research = api_as("research")

    response = research.get(DICTIONARY)

    assert response.status_code == 200
    assert ExportLog.objects.get().user == research.user


def test_a_revoked_token_cannot_export(api_as):
    research = api_as("research")
    research.post("/api/v1/auth/logout/")

    response = research.get(DICTIONARY)

    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert not ExportLog.objects.exists()


def test_an_expired_token_cannot_export(api_as):
    research = api_as("research")
    AuthToken.objects.filter(user=research.user).update(expiry=timezone.now() - dt.timedelta(seconds=1))

    assert research.get(DICTIONARY).status_code == 401
    assert not ExportLog.objects.exists()
