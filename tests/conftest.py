"""Shared test set-up: accounts per role, record builders, headless Chromium signed in through the
login form, and the server-needing markers.

Tests marked `postgres`, `redis` or `browser` skip with a reason when the server or browser
is missing; under CI=true every skip is turned into a failure, so CI always runs them.
"""

import datetime as dt
import os
import shutil
import socket
from decimal import Decimal
from importlib import import_module
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from imaging.models import Region
from registry import services
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    Patient,
    ScheduledTimepoint,
    Score,
    Site,
    SiteMembership,
    Visit,
)
from registry.roles import HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN, RESEARCH, SITE_ROLES

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless and offline; the GPU stays on because the scan viewer needs WebGL2, which Chromium draws
# in software with SwiftShader (through ANGLE).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
PASSWORD = "pw-for-tests-1"


def _redis_reachable():
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1).close()
        return True
    except OSError:
        return False


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    reasons = {
        "postgres": None if on_postgres else "needs PostgreSQL: set DATABASE_URL (make test finds 127.0.0.1:5432)",
        "redis": None if _redis_reachable() else "needs Redis: set REDIS_URL (make test finds 127.0.0.1:6379)",
        "browser": None if shutil.which(CHROMIUM) else f"needs Chromium at {CHROMIUM} (apt-get install chromium)",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI", "").lower() == "true" and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"Skipped under CI, which must run every test: {reason}"


# ---- accounts ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Passwords are hashed with a fast hasher in tests; production hashing is deliberately slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


ROLES = [HEMATOLOGY, RADIOLOGY, RESEARCH, REGISTRY_ADMIN]


@pytest.fixture
def reference_data(db):
    """The instruments and regions the data migrations seed. Tests with a transactional database
    (live server, threads) flush them after each test, so they are seeded again by the migrations'
    own code; the roles come back by themselves (each app grants them after every migrate and flush)."""
    from django.apps import apps

    if not Instrument.objects.exists():
        import_module("registry.migrations.0002_roles_and_instruments").seed_instruments(apps)
    if not ScheduledTimepoint.objects.exists():
        import_module("registry.migrations.0010_seed_visit_schedule").seed(apps, None)
    if not Region.objects.exists():
        import_module("imaging.migrations.0003_region_vocabulary").seed_regions(apps, None)


@pytest.fixture(scope="session")
def phantom_regions():
    """Region codes for the test phantom's labels (imaging.dti.make_phantom): 1 is the parenchyma,
    3 onwards the tracts; the ventricles (2) and the last tracts stay unnamed."""
    codes = ["cst-l", "cst-r", "plic-l", "plic-r", "cp-l", "cp-r", "cr-l", "cr-r", "cc-genu", "cc-body", "cc-splenium"]
    return {1: "wm", **{label: code for label, code in enumerate(codes, start=3)}}


@pytest.fixture
def make_user(django_user_model, reference_data):
    """`make_user(role, username=None, sites=None)`: a fresh account of `role`; hematology and radiology
    accounts belong to `sites` (Site instances), by default to the registry's default site."""

    def make(role, username=None, sites=None):
        user = django_user_model.objects.create_user(username or f"{role}-user", password=PASSWORD)
        user.groups.add(Group.objects.get(name=role))
        user.is_staff = role == REGISTRY_ADMIN
        user.save()
        if sites is None:
            sites = [Site.default()] if role in SITE_ROLES else []
        for site in sites:
            SiteMembership.objects.create(user=user, site=site)
        return user

    return make


@pytest.fixture
def api_as(make_user):
    """An API client signed in with a token as a fresh account of `role`."""

    def client_for(role):
        from knox.models import AuthToken

        user = make_user(role, f"api-{role}")
        client = APIClient()
        _token, key = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        client.user = user
        return client

    return client_for


@pytest.fixture
def hematology_api(api_as):
    return api_as(HEMATOLOGY)


@pytest.fixture
def captured_queries():
    """`captured_queries(client, url)`: the SQL of each query one GET of `url` made (it must answer 200)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def capture(client, url):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return [query["sql"] for query in queries.captured_queries]

    return capture


@pytest.fixture
def signed_in_client(client, make_user):
    """`signed_in_client(role)`: the test client signed in (a session) as a fresh account of `role`."""

    def sign_in(role):
        client.force_login(make_user(role))
        return client

    return sign_in


# ---- the browser ------------------------------------------------------------------------


@pytest.fixture
def chromium(monkeypatch):
    """Headless Chromium (a Playwright Browser), closed after the test."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in the test's thread; the test's own ORM calls are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def sign_in(live_server, make_user):
    """`sign_in(page, role, username)`: a fresh account of `role`, signed in on `page` through the
    real login form of the live server; returns the user once the page has left /login/."""

    def sign_in_as(page, role, username):
        user = make_user(role, username)
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        return user

    return sign_in_as


# Stores every Content-Security-Policy violation of the document on window.cspViolations.
CSP_LISTENER = """document.addEventListener("securitypolicyviolation", (event) => {
    (window.cspViolations = window.cspViolations || []).push(
        `${event.effectiveDirective} refused ${event.blockedURI || "inline"} (${event.sourceFile}:${event.lineNumber})`
    );
});"""


class WatchedPage:
    """A Chromium page that notes, in `problems`, every console error, uncaught script error,
    Content-Security-Policy violation and request that leaves the live server, each with the page
    it happened on."""

    def __init__(self, context, base_url):
        self.base_url = base_url
        self.problems = []
        self.page = context.new_page()
        self.page.set_default_timeout(20_000)
        self.page.add_init_script(CSP_LISTENER)
        self.page.on("console", lambda m: m.type == "error" and self.note(f"console: {m.text}"))
        self.page.on("pageerror", lambda error: self.note(f"uncaught: {error}"))
        self.page.route("**/*", self._only_the_live_server)

    def note(self, problem):
        self.problems.append(f"{self.page.url}: {problem}")

    def _only_the_live_server(self, route):
        if route.request.url.startswith(self.base_url + "/"):
            route.continue_()
        else:
            self.note(f"request left the server: {route.request.url}")
            route.abort()

    def visit(self, path, ready=None):
        """Opens `path`, waits for the load event and then for `ready` (a CSS selector, or a
        JavaScript expression starting with "() =>"), and notes the CSP violations seen so far."""
        self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("load")
        if ready and ready.startswith("() =>"):
            self.page.wait_for_function(ready)
        elif ready:
            self.page.wait_for_selector(ready)
        self.collect_violations()
        return self.page

    def collect_violations(self):
        for violation in self.page.evaluate("window.cspViolations || []"):
            self.note(f"CSP: {violation}")
        self.page.evaluate("window.cspViolations = []")


@pytest.fixture
def watched_browser(chromium, sign_in, live_server):
    """`open_as(role, username)`: a WatchedPage in its own browser context (its own cookies), signed
    in through the login form as a fresh account of `role` (or signed out when role is None)."""

    def open_as(role, username=None):
        watched = WatchedPage(chromium.new_context(viewport={"width": 1200, "height": 900}), live_server.url)
        if role:
            sign_in(watched.page, role, username or f"{role}-browser")
            watched.collect_violations()
        return watched

    return open_as


# ---- records ----------------------------------------------------------------------------


class Build:
    """Valid clinical records with sensible defaults; override any field."""

    def __init__(self, actor=None):
        self.actor = actor
        self.count = 0

    def patient(self, **fields):
        self.count += 1
        data = dict(
            site=Site.default(),
            study_id=f"CP-{900 + self.count}",
            given_name="Ana",
            family_name="Prueba",
            mrn=f"MRN-{self.count}",
            date_of_birth=dt.date(2018, 1, 10),
            sex="F",
            cp_subtype="spastic-diplegia",
            etiology="hie",
            gmfcs_level=3,
        )
        data.update(fields)
        return services.record_create(Patient, self.actor, **data)

    def harvest(self, patient=None, **fields):
        data = dict(
            patient=patient or self.patient(), date=dt.date(2024, 2, 1), gcsf_mobilized=True, volume_ml=Decimal("150")
        )
        data.update(fields)
        return services.record_create(BoneMarrowHarvest, self.actor, **data)

    def product(self, harvest=None, **fields):
        data = dict(
            harvest=harvest or self.harvest(),
            tnc_count=3_200_000_000,
            cd34_count=25_000_000,
            viability_percent=Decimal("95"),
        )
        data.update(fields)
        return services.record_create(CellProduct, self.actor, **data)

    def procedure(self, product=None, **fields):
        product = product or self.product()
        data = dict(
            patient=product.harvest.patient,
            product=product,
            date=dt.date(2024, 2, 2),
            weight_kg=Decimal("16"),
            volume_ml=Decimal("10"),
        )
        data.update(fields)
        return services.record_create(IntrathecalProcedure, self.actor, **data)

    def adverse_event(self, procedure=None, **fields):
        procedure = procedure or self.procedure()
        data = dict(procedure=procedure, onset_date=procedure.date, term="Headache", grade=1)
        data.update(fields)
        return services.record_create(AdverseEvent, self.actor, **data)

    def visit(self, patient=None, **fields):
        data = dict(patient=patient or self.patient(), date=dt.date(2024, 8, 2), kind="follow-up")
        data.update(fields)
        return services.record_create(Visit, self.actor, **data)

    def score(self, visit=None, instrument="GMFM-88", **fields):
        data = dict(
            visit=visit or self.visit(), instrument=Instrument.objects.get(code=instrument), value=Decimal("40")
        )
        data.update(fields)
        return services.record_create(Score, self.actor, **data)


@pytest.fixture
def build(reference_data):
    return Build()


@pytest.fixture(scope="session", autouse=True)
def close_worker_connections(django_db_setup, django_db_blocker):
    """Celery worker and live-server threads leave PostgreSQL sessions open; end them so the
    test database can be dropped at the end of the run."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        except Exception:  # nothing left to close
            pass
