"""The Celery application: workers run the registry's background tasks."""

import logging
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Celery runs every Django system check when a worker starts and ignores what they find. The URL,
# template and admin checks import every view and template tag library and what they use
# (statistics, plots, the API schema): half of a worker's start-up, for pages a worker never
# serves. The worker runs the other checks itself (worker_checks) and logs what they find; the web
# process and `manage.py check` still run them all. CELERY_SKIP_CHECKS= (empty) gives Celery's own
# run back.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")
# The checks of pages only, left to the web process.
WEB_CHECK_TAGS = frozenset({"urls", "templates", "admin"})

log = logging.getLogger(__name__)

app = Celery("registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def worker_checks(**kwargs):
    """Run the system checks that concern a worker (models, settings, the site's atlas) and log what
    they find; pages' checks are the web process's."""
    from django.core import checks
    from django.db import connections

    tags = checks.registry.registry.tags_available() - WEB_CHECK_TAGS
    for message in checks.run_checks(tags=tags):
        log.log(logging.ERROR if message.is_serious() else logging.WARNING, "%s", message)
    connections.close_all()  # the worker's processes open their own


@task_prerun.connect
@task_postrun.connect
def reuse_database_connections(sender=None, **kwargs):
    """Keep a worker process's database connection from task to task, as the web keeps one from
    request to request: closed only when broken or older than DATABASE_CONN_MAX_AGE (Django's rule,
    with its health check). Celery's own rule (settings.CELERY_DB_REUSE_MAX) would close it every so
    many tasks, or around every task, a new PostgreSQL backend process each time. A task run in its
    caller's process (eager) leaves the caller's connection alone."""
    from django.db import close_old_connections

    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()
