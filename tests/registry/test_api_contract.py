"""The API keeps the contract its OpenAPI schema states: a bounded schemathesis run over the read
operations, signed in as hematology, must find no server error and no answer outside the schema."""

from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from registry.roles import HEMATOLOGY
from tests.conftest import PASSWORD

EXAMPLES_PER_OPERATION = 6
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@contextmanager
def sharing_the_test_transaction():
    """Requests through the WSGI application share the test's transaction, as with Django's test
    client: the handler must not close the connection between requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def hematology_token(make_user):
    user = make_user(HEMATOLOGY, "contract-hematology")
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()["token"]


def run_operation(operation, headers, tally):
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def exercise(case):
        response = case.call(headers=headers)
        tally["cases"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as failure:  # a FailureGroup listing every check that failed
            kind = "server_errors" if response.status_code >= 500 else "violations"
            tally[kind].append(f"{case.method} {case.formatted_path} -> {response.status_code}: {failure}")

    exercise()


@pytest.mark.django_db
def test_read_operations_keep_the_schema(hematology_token, build):
    visit = build.visit()
    build.score(visit=visit)
    build.adverse_event(procedure=build.procedure(product=build.product(build.harvest(visit.patient))))
    headers = {"Authorization": f"Token {hematology_token}"}
    tally = {"cases": 0, "server_errors": [], "violations": []}

    with sharing_the_test_transaction():
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.method.upper() == "GET" and operation.path.startswith("/api/v1/"):
                run_operation(operation, headers, tally)

    print(
        f"schemathesis: {tally['cases']} cases, {len(tally['server_errors'])} server errors, "
        f"{len(tally['violations'])} schema violations"
    )
    assert tally["cases"] >= 20
    assert tally["server_errors"] == []
    assert tally["violations"] == []
