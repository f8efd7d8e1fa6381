"""Benchmark of the Celery workers: a batch of scans on one worker process, then on two.

Run:  python tests/bench/bench_workers.py [--scans 20] [--shape 64,64,40] [--threads N] [--json PATH] [--keep]

Not a pytest test (the file name does not start with ``test_``).

What it does:

1. Uses BENCH_WORKERS_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/registry_bench_workers), creates
   and migrates that database, with files and kombu's filesystem broker in a temporary folder (no Redis
   needed). As it drops its database at the end, it refuses a name without "bench".
2. For each run (1, then 2 worker processes): empties the queue of what the previous run left in it
   (the regions carried after each scan, queued behind the scans), uploads ``--scans`` copies of one
   synthetic phantom (1 b0 + 32 directions, ``--shape``) to as many visits through
   imaging.services.scan_register, which queues them; then starts ``celery -A config worker
   --concurrency N`` (prefork, as scripts/run.sh does) and waits until every scan is done. Each scan's
   fit uses the worker's default threads (cores / processes) unless ``--threads`` sets
   IMAGING_PIPELINE_THREADS for both runs.
3. Prints, per run: the fit's threads, the time from starting the worker to the last scan done (worker
   start-up included), the time from the first scan taken to the last done, scans per minute, and the
   CPU seconds the worker's processes used until the last scan was done (start-up included; steadier
   than the times on a shared machine), those PostgreSQL's processes used meanwhile (when it runs on
   this machine: the workers' writes), and the cores both kept busy on average (CPU seconds over the
   start-to-last-done time; two workers on two cores cannot do better than the lone worker's figure
   over 2); then the ratio of two workers to one against the target (<= 0.6).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from bench_export import _admin_connection, create_database  # noqa: E402  (the same database helpers)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/registry_bench_workers"
CELERY = os.path.join(ROOT, ".venv", "bin", "celery")
RATIO_TARGET = 0.6


def setup(url, var_dir):
    os.environ.update(
        DATABASE_URL=url,
        REGISTRY_VAR_DIR=var_dir,
        MEDIA_ROOT=os.path.join(var_dir, "media"),
        IMAGING_STAGING_DIR=os.path.join(var_dir, "staging"),
        CELERY_BROKER_URL="filesystem://",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def queue_scans(visits, files):
    """Upload the phantom once per visit; scan_register queues each for the (not yet running) worker."""
    from django.contrib.auth.models import Group, User
    from django.core.files import File

    from imaging import services

    radiologist, created = User.objects.get_or_create(username="bench-radiology")
    if created:
        radiologist.groups.add(Group.objects.get(name="radiology"))
    scans = []
    for visit in visits:
        with open(files["dwi"], "rb") as dwi, open(files["bval"], "rb") as bval, open(files["bvec"], "rb") as bvec:
            scan, _created = services.scan_register(
                visit,
                radiologist,
                dwi=File(dwi, name=Path(files["dwi"]).name),
                bval=File(bval, name="dwi.bval"),
                bvec=File(bvec, name="dwi.bvec"),
            )
        scans.append(scan.pk)
    return scans


def empty_queue():
    """Drop the messages a previous run left (carrying regions to its scans), so each run does its own work."""
    from config.celery import app

    return app.control.purge()


def fit_threads(concurrency):
    """The threads each scan's fit uses in a worker of `concurrency` processes (imaging.tasks.pipeline_threads)."""
    from django.conf import settings

    if settings.IMAGING_PIPELINE_THREADS:
        return settings.IMAGING_PIPELINE_THREADS
    return max(1, len(os.sched_getaffinity(0)) // concurrency)


def stop(worker, grace=30):
    """Stop the worker (SIGTERM to its process group, SIGKILL after `grace` seconds); returns the CPU
    seconds (user + system) it and its pool processes used, start-up included: on a shared machine a
    steadier figure than the wall time."""
    os.killpg(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while True:
        pid, status, usage = os.wait4(worker.pid, os.WNOHANG)
        if pid:
            worker.returncode = status  # reaped here, not by Popen
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            os.killpg(worker.pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.1)


def _processes():
    """``(pid, name, fields after the name)`` of every process /proc shows."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                name, fields = stat.read().split(") ", 1)
        except OSError:
            continue
        yield pid, name.split(" (", 1)[1], fields.split()


def database_cpu():
    """``{pid: CPU seconds}`` of this machine's PostgreSQL processes (read from /proc; empty where they
    cannot be read, e.g. the database on another machine). The workers' writes run there, beside them."""
    tick = os.sysconf("SC_CLK_TCK")
    return {pid: (int(f[11]) + int(f[12])) / tick for pid, name, f in _processes() if name == "postgres"}


def worker_cpu(group):
    """CPU seconds of the worker's processes (process group ``group``) so far: each live process's own
    time and what its reaped children used; None when /proc shows none of them."""
    tick = os.sysconf("SC_CLK_TCK")
    times = [sum(int(value) for value in f[11:15]) / tick for _pid, _name, f in _processes() if int(f[2]) == group]
    return sum(times) if times else None


def run_workers(concurrency, scan_ids, var_dir, timeout):

    from imaging.models import Scan, ScanStatusEvent

    command = [CELERY, "-A", "config", "worker", "--loglevel=WARNING", f"--concurrency={concurrency}"]
    command += ["--hostname", f"bench{concurrency}@%h", "--without-gossip", "--without-mingle"]
    log = open(os.path.join(var_dir, f"worker-{concurrency}.log"), "wb")
    database_before = database_cpu()
    started = time.monotonic()
    worker = subprocess.Popen(
        command, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        while True:
            # Autocommit: each count reads what the workers committed so far, on the one connection
            # (a new connection each time started a PostgreSQL backend 5 times a second beside the workers).
            left = Scan.objects.filter(pk__in=scan_ids).exclude(status__in=["done", "failed"]).count()
            if not left:
                break
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited with status {worker.returncode}; see {log.name}")
            if time.monotonic() - started > timeout:
                raise SystemExit(f"{left} scans still not done after {timeout} s; see {log.name}")
            time.sleep(0.2)
        wall = time.monotonic() - started
        database_after = database_cpu()  # before the worker's connections close with it
        running_cpu = worker_cpu(worker.pid)  # until the last scan is done, shutdown left out
    finally:
        stopped_cpu = stop(worker)
    cpu = stopped_cpu if running_cpu is None else running_cpu
    database = sum(seconds - database_before.get(pid, 0.0) for pid, seconds in database_after.items())
    failed = Scan.objects.filter(pk__in=scan_ids, status="failed").count()
    events = ScanStatusEvent.objects.filter(scan_id__in=scan_ids)
    first = events.filter(status="running").order_by("at").first().at
    last = events.filter(status="done").order_by("-at").first().at
    processing = (last - first).total_seconds()
    return {
        "workers": concurrency,
        "fit_threads": fit_threads(concurrency),
        "scans": len(scan_ids),
        "failed": failed,
        "wall_s": wall,
        "processing_s": processing,
        "worker_cpu_s": cpu,
        "database_cpu_s": database if database_after else None,
        "cores_used": (cpu + database) / wall if database_after else None,
        "scans_per_minute": 60 * len(scan_ids) / processing if processing else None,
    }


def _or_na(value, width, spec):
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}{spec}}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=20)
    parser.add_argument("--shape", default="64,64,40", help="phantom grid, e.g. 96,96,60")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a run may take")
    parser.add_argument("--threads", type=int, help="threads per scan's fit in both runs (default: cores / processes)")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)

    url = os.environ.get("BENCH_WORKERS_DATABASE_URL") or DEFAULT_URL
    name = urlparse(url).path.lstrip("/")
    if "bench" not in name:
        parser.error(f"refusing database {name!r}: the benchmark drops its database, so its name must contain 'bench'")
    var_dir = tempfile.mkdtemp(prefix="bench-workers-")
    if args.threads:
        os.environ["IMAGING_PIPELINE_THREADS"] = str(args.threads)
    create_database(url)
    results = {"database": name, "shape": args.shape, "runs": []}
    try:
        setup(url, var_dir)
        from imaging.dti import make_phantom
        from registry import synthetic
        from registry.models import Visit

        shape = tuple(int(size) for size in args.shape.split(","))
        files = make_phantom(shape=shape, n_b0=1, n_dirs=32, snr=30, seed=1).save(os.path.join(var_dir, "phantom"))
        # Each synthetic patient has 6 visits without a scan: a fresh one for every scan of both runs.
        patients = -(-2 * args.scans // 6)
        synthetic.load(patients, visits=10)
        visits = list(Visit.objects.filter(scans__isnull=True).order_by("pk")[: 2 * args.scans])
        for concurrency, batch in ((1, visits[: args.scans]), (2, visits[args.scans :])):
            empty_queue()
            scan_ids = queue_scans(batch, files)
            run = run_workers(concurrency, scan_ids, var_dir, args.timeout)
            results["runs"].append(run)
            print(f"  {concurrency} worker process(es): {run['wall_s']:.1f} s", flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            connection, db_name = _admin_connection(url)
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            connection.close()
        shutil.rmtree(var_dir, ignore_errors=True)

    one, two = results["runs"]
    results["ratio_wall"] = two["wall_s"] / one["wall_s"]
    results["ratio_processing"] = two["processing_s"] / one["processing_s"]
    print()
    print(
        f"{args.scans} scans ({args.shape}, 1 b0 + 32 directions, standard profile) on a Celery worker with 1, "
        f"then 2, processes (prefork), filesystem broker, PostgreSQL ({name}); {os.cpu_count()} CPUs"
    )
    header = (
        f"{'processes':>9}{'fit threads':>13}{'start to last done s':>22}{'first taken to last done s':>28}"
        f"{'scans/min':>11}{'worker CPU s':>14}{'database CPU s':>16}{'cores used':>12}{'failed':>8}"
    )
    print(header)
    print("-" * len(header))
    for run in results["runs"]:
        print(
            f"{run['workers']:>9}{run['fit_threads']:>13}{run['wall_s']:>22.1f}{run['processing_s']:>28.1f}"
            f"{run['scans_per_minute']:>11.1f}{run['worker_cpu_s']:>14.1f}"
            f"{_or_na(run['database_cpu_s'], 16, '.1f')}{_or_na(run['cores_used'], 12, '.2f')}{run['failed']:>8}"
        )
    ok = results["ratio_wall"] <= RATIO_TARGET
    print(
        f"2 processes / 1: {results['ratio_wall']:.2f} start to last done, {results['ratio_processing']:.2f} "
        f"first taken to last done; target <= {RATIO_TARGET}: {'yes' if ok else 'NO'}"
    )
    print("database " + ("kept" if args.keep else "dropped"))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2, default=str)
    return 0 if ok and not (one["failed"] or two["failed"]) else 1


if __name__ == "__main__":
    sys.exit(main())
