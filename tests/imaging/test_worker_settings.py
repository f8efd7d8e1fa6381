"""How a worker shares the machine: threads per scan from its processes, and how soon a free worker
takes the next message of the embedded broker."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from config.settings import filesystem_broker_options
from imaging import tasks


@pytest.fixture
def two_cores(monkeypatch, settings):
    settings.IMAGING_PIPELINE_THREADS = 0
    monkeypatch.setattr(tasks.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(tasks, "worker_processes", None)


@pytest.fixture
def no_preload(monkeypatch):
    monkeypatch.setattr("imaging.dti.pipeline.preload", lambda: None)


@pytest.mark.parametrize("processes,threads", [(1, 2), (2, 1), (3, 1)])
def test_a_worker_shares_the_cores_among_its_processes(two_cores, no_preload, processes, threads):
    tasks.preload_pipeline(sender=SimpleNamespace(concurrency=processes))

    assert tasks.worker_processes == processes
    assert tasks.pipeline_threads() == threads


def test_a_task_run_in_its_callers_process_uses_one_thread(two_cores, no_preload):
    tasks.preload_pipeline(sender=SimpleNamespace(concurrency=1))

    assert tasks.pipeline_threads(eager=True) == 1


def test_outside_a_worker_one_thread(two_cores):
    assert tasks.pipeline_threads() == 1


def test_the_setting_wins(two_cores, no_preload, settings):
    settings.IMAGING_PIPELINE_THREADS = 3
    tasks.preload_pipeline(sender=SimpleNamespace(concurrency=2))

    assert tasks.pipeline_threads() == 3
    assert tasks.pipeline_threads(eager=True) == 3


def test_the_process_task_passes_the_threads_to_the_service(two_cores, no_preload, monkeypatch):
    tasks.preload_pipeline(sender=SimpleNamespace(concurrency=1))
    seen = {}
    monkeypatch.setattr(tasks.services, "scan_process", lambda scan_id, **kwargs: seen.update(kwargs) or scan_id)

    tasks.process_scan.run(7)

    assert seen["threads"] == 2


def test_a_free_worker_looks_for_the_next_scan_within_a_few_hundredths_of_a_second(tmp_path, monkeypatch):
    # kombu's default (1 s) left a worker idle up to a second between two scans of a batch, and 0.1 s a
    # lone worker idle a quarter of a batch of small scans.
    monkeypatch.delenv("CELERY_POLLING_INTERVAL_SECONDS", raising=False)
    assert filesystem_broker_options(Path(tmp_path))["polling_interval"] <= 0.02
