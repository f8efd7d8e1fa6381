"""Scans in S3-compatible object storage (S3_BUCKET): upload, processing by the worker code,
region measurement and downloads all go through the bucket, against a local S3 server (moto)."""

from pathlib import Path

import boto3
import pytest
from django.core.files import File
from moto.server import ThreadedMotoServer

from imaging import services
from imaging.models import RoiMeasurement, Scan

BUCKET = "registry-scans"


@pytest.fixture
def bucket(settings, monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "registry",
        "AWS_SECRET_ACCESS_KEY": "registry-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "access_key": "registry",
                "secret_key": "registry-secret",
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }
    yield client
    server.stop()


def keys(client):
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_scans_live_in_the_bucket_from_upload_to_download(
    bucket, upload_scan, make_user, scan_files, phantom, client, settings
):
    radiologist = make_user("radiology", "s3-radiologist")
    scan = upload_scan(uploader=radiologist)
    assert keys(bucket) == sorted([scan.dwi.name, scan.bval.name, scan.bvec.name])

    with open(scan_files["labels"], "rb") as labels:
        services.labels_apply(
            scan, radiologist, File(labels, name="labels.nii.gz"), open(scan_files["label_names"]).read()
        )
    services.scan_process(scan.pk, worker="test")
    scan = Scan.objects.get(pk=scan.pk)
    assert scan.status == "done", scan.error
    result = scan.current_result
    stored = set(keys(bucket))
    assert {result.files["fa"], result.files["color_fa"], result.files["preview_fa"]} <= stored
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.nii.gz"))  # nothing written to local media

    tract = max(label for label in phantom.true_fa if label >= 3)
    measured = RoiMeasurement.objects.get(scan=scan, label=tract)
    assert measured.fa == pytest.approx(phantom.true_fa[tract], abs=0.05)

    client.force_login(make_user("hematology", "s3-hematology"))
    response = client.get(f"/media/{result.files['fa']}")
    assert response.status_code == 200 and b"".join(response.streaming_content)[:2] == b"\x1f\x8b"
    assert client.get(f"/media/{scan.dwi.name[:-3]}missing.gz").status_code == 404


def test_in_the_bucket_maps_have_their_sha256_are_checked_and_go_with_their_scan(
    bucket, upload_scan, make_user, client, django_capture_on_commit_callbacks
):
    import hashlib
    import os

    scan = upload_scan()
    services.scan_process(scan.pk, worker="test")
    result = Scan.objects.get(pk=scan.pk).current_result
    assert set(result.checksums) == set(result.files)
    for key, name in result.files.items():  # one put each, no temporary object left
        body = bucket.get_object(Bucket=BUCKET, Key=name)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == result.checksums[key], key
    assert not [key for key in keys(bucket) if key.endswith(".part")]

    client.force_login(make_user("radiology", "s3-reader"))
    bucket.put_object(Bucket=BUCKET, Key=result.files["fa"], Body=os.urandom(2000))
    assert client.get(f"/media/{result.files['fa']}").status_code == 410
    bucket.delete_object(Bucket=BUCKET, Key=result.files["mask"])
    assert client.get(f"/media/{result.files['mask']}").status_code == 404
    assert client.get(f"/media/{result.files['md']}").status_code == 200

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        Scan.objects.get(pk=scan.pk).delete()
        assert scan.dwi.name in keys(bucket)  # nothing goes before the commit
    assert callbacks and not [key for key in keys(bucket) if key.startswith(f"scans/{scan.pk}/")]
