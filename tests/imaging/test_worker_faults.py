"""Faults injected into real processes: a Celery worker killed with SIGKILL in the middle of a fit
(Redis and the embedded filesystem broker), a broker that is down at upload, and PostgreSQL
connections cut under the web and the worker. Each time the scan is processed exactly once, with an
honest history, and nothing needs a restart.

The workers are separate `celery worker` processes on this test's database; the brokers are a
redis-server of the test's own (never the machine's shared one) or a filesystem queue in tmp_path;
the database cut goes through a TCP proxy in front of PostgreSQL. Heartbeats are made fast (0.5 s,
stale after 3 s, swept every second) so that recovery takes seconds instead of minutes.
"""

import os
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from config.celery import app
from config.settings import filesystem_broker_options
from imaging.dti import make_phantom
from imaging.models import DiffusionResult, Scan, ScanStatusEvent
from tests.processes import CuttableProxy, OwnRedis, WorkerProcess, poll

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FAST_HEARTBEAT = {"IMAGING_HEARTBEAT_SECONDS": "0.5", "IMAGING_STALE_AFTER_SECONDS": "3", "IMAGING_SWEEP_SECONDS": "1"}


@pytest.fixture(scope="module")
def series_files(tmp_path_factory):
    """A phantom large enough that its tensor fit lasts a few tenths of a second and the run ~4 s."""
    phantom = make_phantom(shape=(64, 64, 40), n_b0=2, n_dirs=30, snr=30, seed=5)
    return phantom.save(tmp_path_factory.mktemp("series") / "series")


def upload(api, visit, files):
    with open(files["dwi"], "rb") as dwi, open(files["bval"], "rb") as bval, open(files["bvec"], "rb") as bvec:
        answer = api.post(
            "/api/v1/scans/", {"visit": visit.pk, "dwi": dwi, "bval": bval, "bvec": bvec}, format="multipart"
        )
    assert answer.status_code == 202, answer.content
    return answer.json()["id"]


def database_url(port=None):
    db = connection.settings_dict
    return (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{port or db['PORT'] or 5432}/{db['NAME']}"
    )


# The transport the settings give the embedded broker (this process may run on Redis).
FILESYSTEM_TRANSPORT = "config.broker:Transport"


def reset_broker_pools():
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def publishing_to(url, options):
    """This process (the web) sends its tasks to the given broker while the test runs."""
    names = ("broker_url", "broker_write_url", "broker_read_url", "broker_transport", "broker_transport_options")
    saved = {name: app.conf[name] for name in names}
    transport = FILESYSTEM_TRANSPORT if url.startswith("filesystem://") else None
    app.conf.update(
        broker_url=url,
        broker_write_url=url,
        broker_read_url=url,
        broker_transport=transport,
        broker_transport_options=options,
    )
    reset_broker_pools()
    try:
        yield
    finally:
        app.conf.update(saved)
        reset_broker_pools()


@pytest.fixture
def worker_env(settings, tmp_path):
    env = dict(os.environ)
    env.update(
        FAST_HEARTBEAT,
        DATABASE_URL=database_url(),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        IMAGING_STAGING_DIR=str(settings.IMAGING_STAGING_DIR),
        REGISTRY_VAR_DIR=str(tmp_path / "var"),
    )
    return env


@pytest.fixture
def workers(worker_env, tmp_path):
    started = []

    def start(name, beat=False):
        worker = WorkerProcess(worker_env, name, tmp_path, beat=beat).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["redis", "filesystem"])
def broker(request, tmp_path, worker_env):
    if request.param == "redis":
        server = request.getfixturevalue("own_redis")
        # Short, so that the killed worker's unacknowledged message comes back during the test too.
        worker_env.update(CELERY_BROKER_URL=server.url, CELERY_VISIBILITY_TIMEOUT_SECONDS="5")
        with publishing_to(server.url, {"visibility_timeout": 5}):
            yield SimpleNamespace(kind="redis", server=server)
    else:
        folder = Path(worker_env["REGISTRY_VAR_DIR"]) / "broker"  # where the worker's settings put it
        options = filesystem_broker_options(folder)
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        worker_env["CELERY_BROKER_URL"] = "filesystem://"
        with publishing_to("filesystem://", options):
            yield SimpleNamespace(kind="filesystem", server=None)


@pytest.fixture
def radiology_api(make_user):
    client = APIClient()
    client.force_authenticate(make_user("radiology", "dr-faults"))
    return client


def scan_state(scan_id):
    return Scan.objects.values_list("status", "stage").get(pk=scan_id)


def history(scan_id):
    return [(event.status, event.worker, event.text) for event in ScanStatusEvent.objects.filter(scan_id=scan_id)]


def report(scan_id, worker, env):
    """What a failed wait leaves to read: the scan, its history, the broker's folder and the worker's log."""
    scan = Scan.objects.values("status", "stage", "claim", "claimed_by", "heartbeat_at", "attempts", "dispatched_at")
    folder = Path(env["REGISTRY_VAR_DIR"]) / "broker" / "queue"
    queued = sorted(os.listdir(folder)) if folder.is_dir() else "(no folder)"
    return (
        f"scan: {scan.get(pk=scan_id)}\nhistory: {history(scan_id)}\nbroker folder: {queued}\n"
        f"{worker.name}'s log:\n{worker.output()}"
    )


def test_a_worker_killed_mid_fit_loses_nothing(broker, worker_env, workers, radiology_api, build, series_files):
    first = workers("first")
    scan_id = upload(radiology_api, build.visit(), series_files)
    poll(lambda: scan_state(scan_id) == ("running", "fit"), 120, "the first worker fits the tensor", every=0.005)
    first.kill()
    killed_at = time.monotonic()
    assert scan_state(scan_id)[0] == "running", "killed in the middle of the run"

    second = workers("second", beat=True)
    poll(
        lambda: scan_state(scan_id)[0] in ("done", "failed"),
        120,
        "the scan is processed after the kill",
        explain=lambda: report(scan_id, second, worker_env),
    )
    recovery = time.monotonic() - killed_at
    print(f"{broker.kind}: processed {recovery:.1f} s after the kill")  # the figure the README quotes (-s)
    scan = Scan.objects.get(pk=scan_id)
    assert scan.status == "done", (scan.error, second.output())

    events = history(scan_id)
    # Taken over by the sweep (which queues it again) or by the dead worker's message coming back.
    assert [status for status, _, _ in events] in (
        ["queued", "running", "lost", "queued", "running", "done"],
        ["queued", "running", "lost", "running", "done"],
    ), events
    assert events[1][1] == events[2][1] == first.hostname
    assert f"attempt lost on {first.hostname}" in events[2][2]
    assert events[-2][1] == events[-1][1] == second.hostname
    assert DiffusionResult.objects.filter(scan_id=scan_id).count() == 1
    # Stale after 3 s, swept every second, a worker start and a ~4 s run: well under a minute.
    assert recovery < 60, recovery

    if broker.kind == "redis":
        # The dead worker's message comes back after the visibility timeout (kombu restores it while
        # a worker idles; the second one is kept busy by its beat): that delivery does nothing.
        second.stop()
        third = workers("third")
        queue = redis.Redis.from_url(broker.server.url)
        poll(lambda: queue.hlen("unacked") == 0 and queue.llen("celery") == 0, 90, "every message is consumed")
        assert third.process.poll() is None
        assert history(scan_id) == events
        assert DiffusionResult.objects.filter(scan_id=scan_id).count() == 1


def test_an_upload_while_the_broker_is_down_is_processed_once_it_is_back(
    own_redis, worker_env, workers, radiology_api, build, series_files
):
    worker_env["CELERY_BROKER_URL"] = own_redis.url
    with publishing_to(own_redis.url, {}):
        worker = workers("only", beat=True)
        own_redis.stop()
        started = time.monotonic()
        scan_id = upload(radiology_api, build.visit(), series_files)  # accepted, kept, not sent
        assert time.monotonic() - started < 10
        scan = Scan.objects.get(pk=scan_id)
        assert scan.status == "queued" and scan.dispatched_at is None
        assert "waiting for the processing queue" in history(scan_id)[-1][2]

        own_redis.start()
        back = time.monotonic()
        poll(lambda: scan_state(scan_id)[0] in ("done", "failed"), 120, "processed once the broker is back")
        assert scan_state(scan_id)[0] == "done", worker.output()
        print(f"broker back: processed {time.monotonic() - back:.1f} s later")
        assert time.monotonic() - back < 90
    assert [status for status, _, _ in history(scan_id)] == ["queued", "queued", "running", "done"]
    assert DiffusionResult.objects.filter(scan_id=scan_id).count() == 1
    assert worker.process.poll() is None, "the worker reconnected by itself"


def deliveries(worker):
    """How many times the worker received a processing task (first deliveries and retries)."""
    return sum(
        1 for line in worker.log.read_text().splitlines() if "process_scan[" in line and line.endswith("received")
    )


@pytest.fixture
def database_proxy(transactional_db):
    """This process's database connection goes through a proxy the test can cut."""
    db = connection.settings_dict
    proxy = CuttableProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    saved = db["PORT"]
    connection.close()
    db["PORT"] = str(proxy.port)
    yield proxy
    proxy.heal()
    connection.close()
    db["PORT"] = saved
    proxy.close()


def test_web_and_worker_recover_when_the_database_connection_is_cut(
    database_proxy, own_redis, worker_env, workers, radiology_api, build, series_files, make_user
):
    worker_env.update(CELERY_BROKER_URL=own_redis.url, DATABASE_URL=database_url(port=database_proxy.port))
    staff = Client(raise_request_exception=False)  # answer as the server does, do not re-raise
    radiology_api.raise_request_exception = False
    staff.force_login(make_user("hematology", "dr-cut"))
    visit = build.visit()
    with publishing_to(own_redis.url, {}):
        worker = workers("steady", beat=True)
        first = upload(radiology_api, visit, series_files)
        poll(lambda: scan_state(first)[0] == "done", 120, "the first scan is processed")

        # Cut in the middle of a second run, longer than the heartbeat's stale limit.
        second = upload(radiology_api, build.visit(), series_files)
        poll(lambda: scan_state(second) == ("running", "fit"), 120, "the worker fits the tensor", every=0.005)
        database_proxy.cut()
        connection.close()
        page = staff.get("/patients/")
        assert page.status_code == 503 and b"database is not answering" in page.content
        assert page["Retry-After"]
        api = radiology_api.get("/api/v1/patients/")
        assert api.status_code == 503 and "not answering" in api.json()["detail"]
        # The outage lasts until the worker has met it: its attempt cannot store the result and the
        # task comes back for a retry (the scan's state in the database still says running).
        poll(lambda: deliveries(worker) >= 3, 60, "the second scan's task delivered again for a retry")
        database_proxy.heal()
        cut_ended = time.monotonic()

        assert staff.get("/patients/").status_code == 200
        assert radiology_api.get("/api/v1/patients/").status_code == 200
        poll(lambda: scan_state(second)[0] in ("done", "failed"), 120, "the cut scan is processed")
        assert scan_state(second)[0] == "done", worker.output()
        print(f"database back: the cut scan processed {time.monotonic() - cut_ended:.1f} s later")
        assert time.monotonic() - cut_ended < 90
    assert DiffusionResult.objects.filter(scan_id=second).count() == 1
    statuses = [status for status, _, _ in history(second)]
    assert statuses[:2] == ["queued", "running"] and statuses[-1] == "done" and statuses.count("done") == 1
    assert worker.process.poll() is None, "the same worker, never restarted"
    assert get_user_model().objects.filter(username="dr-cut").exists()
