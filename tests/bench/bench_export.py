"""Benchmark of the long-table CSV export on PostgreSQL: rows per second and memory as rows grow.

Run:  python tests/bench/bench_export.py [--json PATH] [--keep] [--sizes 10000,100000]
      [--mode view|direct|both]

Not a pytest test (the file name does not start with ``test_``).

What it does:

1. Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/registry_bench), creates that
   database with psycopg2 when it is missing, and builds its tables with ``migrate``.
2. Fills a synthetic cohort with ``bulk_create`` (no services, no history): per patient one
   harvest, product and intrathecal procedure (2 dose rows: TNC/kg, CD34+/kg) and 2 visits, each
   with GMFM-88 and GMFCS and a processed scan (FA white matter, FA whole brain, MD): 12 rows
   of the long table per patient. The cohort is grown to each size in turn (~10,000, then
   ~100,000 rows by default).
3. At each size, times the long CSV export read chunk by chunk, in one or both ways:
   * ``view``: ``GET /api/v1/export/cohort/?table=long&format=csv`` through django.test.Client
     signed in as a research account (authentication, permission, filter form, export log and
     the StreamingHttpResponse included);
   * ``direct``: ``research.exports.stream_csv(long_columns(rules), long_rows(cohort, rules))``.
   Timing runs have no tracing; a second run of each measures memory: the tracemalloc peak (Python
   allocations) and the growth of the process's resident set (VmHWM after resetting it through
   /proc/self/clear_refs, minus VmRSS before).
4. Prints rows/s (the best of --repeats runs, and their median) and peak memory per size, and
   whether >= 50,000 rows/s holds at the first size (1,000 patients: the target) and at every size,
   and whether memory stays flat (the largest size's tracemalloc peak below 1.5x the smallest's).
5. Drops the benchmark database at the end unless --keep. As it empties and drops its database,
   it refuses a database whose name does not contain "bench".
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from decimal import Decimal
from urllib.parse import urlparse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/registry_bench"
VISITS = [(dt.date(2024, 1, 20), "baseline"), (dt.date(2024, 8, 2), "follow-up")]
ROWS_PER_PATIENT = 2 + len(VISITS) * (2 + 3)
RATE_TARGET = 50_000
FLAT_FACTOR = 1.5
MB = 1024.0 * 1024.0


# ---- database ------------------------------------------------------------------------------


def _admin_connection(url):
    import psycopg2

    parsed = urlparse(url)
    connection = psycopg2.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or None,
        dbname="postgres",
    )
    connection.autocommit = True
    return connection, parsed.path.lstrip("/")


def create_database(url):
    connection, name = _admin_connection(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
                return True
        return False
    finally:
        connection.close()


def drop_database(url):
    from django.db import connections

    connections.close_all()
    connection, name = _admin_connection(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


def setup_django(url):
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


# ---- synthetic cohort ----------------------------------------------------------------------


def empty_cohort():
    from imaging.models import DiffusionResult, RoiMeasurement, Scan
    from registry.models import (
        AdverseEvent,
        BoneMarrowHarvest,
        CellProduct,
        IntrathecalProcedure,
        Patient,
        Score,
        Visit,
    )
    from research.models import ExportLog

    for model in (
        DiffusionResult,
        RoiMeasurement,
        Scan,
        Score,
        Visit,
        AdverseEvent,
        IntrathecalProcedure,
        CellProduct,
        BoneMarrowHarvest,
        Patient,
        ExportLog,
    ):
        model.objects.all().delete()


def add_patients(count, start, batch=2000):
    """`count` patients numbered from `start`, written with bulk_create; returns their long-table rows."""
    from imaging.models import DiffusionResult, Scan
    from registry.models import (
        BoneMarrowHarvest,
        CellProduct,
        Instrument,
        IntrathecalProcedure,
        Patient,
        Score,
        Site,
        Visit,
    )

    gmfm, gmfcs = Instrument.objects.get(code="GMFM-88"), Instrument.objects.get(code="GMFCS")
    for offset in range(0, count, batch):
        numbers = range(start + offset, start + min(offset + batch, count))
        site = Site.default()
        patients = Patient.objects.bulk_create(
            [
                Patient(
                    site=site,
                    study_id=f"BN-{i:07d}",
                    given_name="Bench",
                    family_name="Patient",
                    mrn=f"BN-{i}",
                    date_of_birth=dt.date(2015 + i % 6, 1 + i % 12, 1 + i % 28),
                    sex="FM"[i % 2],
                    cp_subtype="spastic-diplegia",
                    etiology="hie",
                    gmfcs_level=1 + i % 5,
                )
                for i in numbers
            ]
        )
        harvests = BoneMarrowHarvest.objects.bulk_create(
            [BoneMarrowHarvest(patient=p, date=dt.date(2024, 2, 1), volume_ml=Decimal("150")) for p in patients]
        )
        products = CellProduct.objects.bulk_create(
            [
                CellProduct(
                    harvest=h,
                    tnc_count=2_000_000_000 + (i % 50) * 100_000_000,
                    cd34_count=20_000_000 + i % 997,
                    viability_percent=Decimal("95"),
                )
                for i, h in enumerate(harvests)
            ]
        )
        IntrathecalProcedure.objects.bulk_create(
            [
                IntrathecalProcedure(
                    patient=p,
                    product=prod,
                    date=dt.date(2024, 2, 2),
                    weight_kg=Decimal(12 + i % 20),
                    volume_ml=Decimal("10"),
                )
                for i, (p, prod) in enumerate(zip(patients, products))
            ]
        )
        visits = Visit.objects.bulk_create(
            [Visit(patient=p, date=day, kind=kind) for p in patients for day, kind in VISITS]
        )
        Score.objects.bulk_create(
            [
                Score(visit=v, instrument=instrument, value=Decimal(value))
                for i, v in enumerate(visits)
                for instrument, value in ((gmfm, 30 + i % 40), (gmfcs, 1 + i % 5))
            ]
        )
        scans = Scan.objects.bulk_create(
            [
                Scan(
                    visit=v,
                    acquisition_date=v.date,
                    dwi="bench/dwi.nii.gz",
                    bval="bench/dwi.bval",
                    bvec="bench/dwi.bvec",
                    dwi_sha256="0" * 64,
                    bval_sha256="0" * 64,
                    bvec_sha256="0" * 64,
                    fingerprint=f"bench-{v.pk}",
                    status="done",
                    usable=True,
                )
                for v in visits
            ]
        )
        DiffusionResult.objects.bulk_create(
            [
                DiffusionResult(
                    scan=s,
                    is_current=True,
                    folder="bench",
                    fa_mean=0.30 + (i % 17) / 200,
                    fa_wm_mean=0.40 + (i % 23) / 200,
                    md_mean=0.0008 + (i % 11) * 1e-5,
                    qc_passed=True,
                )
                for i, s in enumerate(scans)
            ]
        )
    return count * ROWS_PER_PATIENT


# ---- the exports ---------------------------------------------------------------------------


def research_client():
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user, _created = User.objects.get_or_create(username="bench-researcher")
    user.groups.add(Group.objects.get(name="research"))
    client = Client(HTTP_HOST="localhost")  # one of the default ALLOWED_HOSTS
    client.force_login(user)
    return client


def chunks_via_view(client):
    from django.http import StreamingHttpResponse

    response = client.get("/api/v1/export/cohort/?table=long&format=csv")
    assert response.status_code == 200, response.status_code
    assert isinstance(response, StreamingHttpResponse), type(response)
    return response.streaming_content


def chunks_direct(_client):
    from registry.deidentify import rules
    from research import exports
    from research.cohort import CohortFilter

    current = rules()
    return exports.stream_csv(exports.long_columns(current), exports.long_rows(CohortFilter(), current))


WAYS = {"view": chunks_via_view, "direct": chunks_direct}


def consume(chunks):
    rows, size, count = -1, 0, 0  # the header line is not a row
    for chunk in chunks:
        rows += chunk.count(b"\n")
        size += len(chunk)
        count += 1
    return rows, size, count


def _status_kb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def measure(way, client, repeats):
    make = WAYS[way]
    timings = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        rows, size, chunks = consume(make(client))
        timings.append(time.perf_counter() - start)
    best = min(timings)

    gc.collect()
    hwm_reset = _reset_hwm()
    rss_before = _status_kb("VmRSS")
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        consume(make(client))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    rss_growth = (_status_kb("VmHWM") - rss_before) if hwm_reset else None
    return {
        "way": way,
        "rows": rows,
        "bytes": size,
        "chunks": chunks,
        "seconds": best,
        "all_seconds": timings,
        "rows_per_s": rows / best if best else None,
        "median_rows_per_s": rows / statistics.median(timings),
        "tracemalloc_peak_mb": peak / MB,
        "rss_growth_mb": None if rss_growth is None else rss_growth / 1024.0,
    }


# ---- main ----------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--sizes", default="10000,100000", help="long-table rows, comma-separated (ascending)")
    parser.add_argument("--mode", choices=["view", "direct", "both"], default="both")
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed runs per size and way (the best is kept, the median shown beside it): one run's time varies "
        "by a third on this machine",
    )
    args = parser.parse_args(argv)

    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not urlparse(url).scheme.startswith("postgres"):
        parser.error(f"needs PostgreSQL, DATABASE_URL is {url}")
    name = urlparse(url).path.lstrip("/")
    if "bench" not in name:
        parser.error(
            f"refusing to use database {name!r}: the benchmark empties and drops its database, so its "
            "name must contain 'bench' (e.g. registry_bench)"
        )
    sizes = sorted(int(size) for size in args.sizes.split(","))
    ways = ["view", "direct"] if args.mode == "both" else [args.mode]

    created = create_database(url)
    results = {
        "database": urlparse(url).path.lstrip("/"),
        "created_database": created,
        "ways": ways,
        "rows_per_patient": ROWS_PER_PATIENT,
        "sizes": [],
    }
    try:
        started = time.perf_counter()
        setup_django(url)
        results["migrate_s"] = time.perf_counter() - started
        import django

        from research import cohort

        results["versions"] = {"python": sys.version.split()[0], "django": django.get_version()}
        results["chunk_patients"] = cohort.CHUNK_PATIENTS
        empty_cohort()
        client = research_client()
        patients = 0
        consume(chunks_direct(client))  # warm-up on an empty cohort: imports, caches
        for size in sizes:
            target = -(-size // ROWS_PER_PATIENT)
            started = time.perf_counter()
            add_patients(target - patients, patients)
            fill_s = time.perf_counter() - started
            patients = target
            if size == sizes[0]:
                for way in ways:
                    consume(WAYS[way](client))  # warm-up at the first size
            entry = {"target_rows": size, "patients": patients, "fill_s": fill_s, "runs": []}
            for way in ways:
                run = measure(way, client, args.repeats)
                assert run["rows"] == patients * ROWS_PER_PATIENT, (run["rows"], patients * ROWS_PER_PATIENT)
                entry["runs"].append(run)
            results["sizes"].append(entry)
    finally:
        if not args.keep:
            try:
                drop_database(url)
                results["dropped_database"] = True
            except Exception as error:  # report, do not hide the benchmark's own error
                print(f"could not drop the benchmark database: {error}", file=sys.stderr)
                results["dropped_database"] = False

    verdicts = {}
    for way in ways:
        runs = [next(run for run in entry["runs"] if run["way"] == way) for entry in results["sizes"]]
        fast = all(run["rows_per_s"] >= RATE_TARGET for run in runs)
        flat = runs[-1]["tracemalloc_peak_mb"] < FLAT_FACTOR * runs[0]["tracemalloc_peak_mb"]
        verdicts[way] = {
            "rate_ok": fast,
            # The target: the rate at the first size (1,000 patients with the default sizes).
            "target_rate_ok": runs[0]["rows_per_s"] >= RATE_TARGET,
            "target_patients": results["sizes"][0]["patients"],
            "memory_flat": flat,
            "peak_ratio": runs[-1]["tracemalloc_peak_mb"] / runs[0]["tracemalloc_peak_mb"],
        }
    results["verdicts"] = verdicts

    print(
        f"Long-table CSV export on PostgreSQL ({results['database']}), {ROWS_PER_PATIENT} rows per patient, "
        f"read chunk by chunk; best of {args.repeats} untraced runs (and their median), memory from one more "
        "traced run."
    )
    print(
        "view = GET /api/v1/export/cohort/?table=long&format=csv via django.test.Client as a research user; "
        "direct = research.exports.stream_csv(long_columns, long_rows)"
    )
    header = (
        f"{'way':<7}{'rows':>9}{'patients':>10}{'MB out':>8}{'seconds':>9}{'rows/s':>10}{'median rows/s':>15}"
        f"{'tracemalloc peak MB':>21}{'RSS growth MB':>15}"
    )
    print(header)
    print("-" * len(header))
    for entry in results["sizes"]:
        for run in entry["runs"]:
            rss = "n/a" if run["rss_growth_mb"] is None else f"{run['rss_growth_mb']:.1f}"
            print(
                f"{run['way']:<7}{run['rows']:>9,}{entry['patients']:>10,}{run['bytes'] / MB:>8.1f}"
                f"{run['seconds']:>9.2f}{run['rows_per_s']:>10,.0f}{run['median_rows_per_s']:>15,.0f}"
                f"{run['tracemalloc_peak_mb']:>21.2f}{rss:>15}"
            )
    for way, verdict in verdicts.items():
        print(
            f"{way}: >= {RATE_TARGET:,} rows/s at {verdict['target_patients']:,} patients (the target): "
            f"{'yes' if verdict['target_rate_ok'] else 'NO'}; at every size: {'yes' if verdict['rate_ok'] else 'NO'}; "
            f"memory flat (largest/smallest tracemalloc peak {verdict['peak_ratio']:.2f} < {FLAT_FACTOR}): "
            f"{'yes' if verdict['memory_flat'] else 'NO'}"
        )
    print("database " + ("kept" if args.keep else "dropped" if results.get("dropped_database") else "NOT dropped"))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
