"""A worker starts without the web's pages, runs the system checks that concern it and logs what they
find, and keeps its database connection from task to task as the web does from request to request."""

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.core import checks
from django.db import connection

from config import celery as worker_config
from config.celery import app

ROOT = Path(__file__).resolve().parents[2]


def task(eager):
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


def test_a_worker_starts_with_its_tasks_and_the_pipeline_but_not_the_pages():
    environment = {key: value for key, value in os.environ.items() if key != "CELERY_SKIP_CHECKS"}
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings"
    code = (
        "import sys; from celery.signals import worker_init; from config.celery import app; "
        "app.loader.init_worker(); worker_init.send(sender=None); "
        "print([name in sys.modules for name in ('imaging.tasks', 'nibabel', 'research.views', 'registry.urls')])"
    )
    answer = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert answer.stdout.strip().splitlines()[-1] == "[True, True, False, False]", answer.stderr


@pytest.fixture
def extra_checks():
    """Checks registered for one test: {tag: whether it ran}."""
    ran = {}
    added = []

    def add(tag, message=None):
        def check(app_configs=None, **kwargs):
            ran[tag] = True
            return [message] if message else []

        checks.register(check, tag)
        added.append(check)
        ran[tag] = False

    yield add, ran
    for check in added:
        checks.registry.registry.registered_checks.discard(check)


def test_a_worker_runs_the_checks_that_concern_it_and_leaves_the_pages_to_the_web(extra_checks):
    add, ran = extra_checks
    for tag in ("urls", "templates", "admin", "models", "compatibility"):
        add(tag)

    worker_config.worker_checks()

    assert ran == {"urls": False, "templates": False, "admin": False, "models": True, "compatibility": True}


def test_a_worker_logs_what_its_checks_find(extra_checks, settings, caplog):
    add, _ran = extra_checks
    add("models", checks.Warning("a worker-side warning", id="test.W001"))
    settings.IMAGING_ATLAS_TEMPLATE = "/no/such/atlas.nii.gz"

    with caplog.at_level(logging.WARNING, logger="config.celery"):
        worker_config.worker_checks()

    logged = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert any(level == logging.ERROR and "IMAGING_ATLAS_TEMPLATE" in text for level, text in logged), logged
    assert any(level == logging.WARNING and "a worker-side warning" in text for level, text in logged), logged


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_keeps_its_connection_between_tasks():
    connection.ensure_connection()
    kept = connection.connection

    worker_config.reuse_database_connections(sender=task(eager=False))
    DjangoWorkerFixup(app).close_database()  # Celery's own rule, around every task

    assert connection.connection is kept


@pytest.mark.django_db(transaction=True)
def test_a_connection_older_than_conn_max_age_is_closed_after_a_task():
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1

    worker_config.reuse_database_connections(sender=task(eager=False))

    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_a_task_run_in_its_callers_process_leaves_the_callers_connection():
    connection.ensure_connection()
    kept = connection.connection
    connection.close_at = time.monotonic() - 1

    worker_config.reuse_database_connections(sender=task(eager=True))

    assert connection.connection is kept
