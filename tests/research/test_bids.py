"""BIDS-derivatives export of the DTI maps (research/bids.py): labels, the streamed zip, and the
official validator (bids-validator-deno, run offline) on the extracted dataset."""

import io
import json
import os
import subprocess
import zipfile

import nibabel as nib
import numpy as np
import pytest

from research.bids import (
    BIDS_VERSION,
    GENERATED_BY_NAME,
    bids_label,
    iter_bids_zip,
    map_filename,
    session_label,
    unique_session_labels,
)

SUBJECTS = ["CP-001", "CP-002"]
SESSIONS = ["baseline", "m06"]
MAP_NAMES = {  # key -> file name after sub-X_ses-Y_
    "FA": "FA",
    "MD": "desc-MD_ADC",
    "AD": "desc-AD_ADC",
    "RD": "desc-RD_ADC",
    "colorFA": "colFA",
    "mask": "desc-brain_mask",
}
PROVENANCE = {
    "pipeline": "imaging.dti",
    "pipeline_version": "1.4.0",
    "parameters": {"fit_method": "WLS", "b0_threshold": 50, "mask_median_radius": 4},
    "versions": {"dipy": "1.12.1", "numpy": "2.4.6", "nibabel": "5.4.2"},
    "qc": {"status": "pass", "snr_b0": 24.5, "items": [{"name": "fa_range", "status": "pass"}]},
}


# ---- labels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,label",
    [
        ("CP-001", "CP001"),
        ("cp_002", "cp002"),
        ("sub-CP003", "CP003"),
        ("ses-m06", "m06"),
        (" A b.C/9 ", "AbC9"),
        ("Émile-7", "mile7"),
        (42, "42"),
    ],
)
def test_bids_label_keeps_only_ascii_letters_and_digits(text, label):
    assert bids_label(text) == label


@pytest.mark.parametrize("text", ["", "---", None, "é"])
def test_bids_label_refuses_text_with_nothing_left(text):
    with pytest.raises(ValueError):
        bids_label(text)


@pytest.mark.parametrize(
    "kind,months,label",
    [
        ("baseline", -0.4, "baseline"),
        ("baseline", None, "baseline"),
        ("Baseline", 3, "baseline"),
        ("follow-up", 6.2, "m06"),
        ("follow-up", 5.5, "m06"),
        ("follow-up", 5.49, "m05"),
        ("follow-up", 9.6, "m10"),
        ("follow-up", 12, "m12"),
        ("follow-up", 0.2, "m00"),
        ("unscheduled", 3.4, "m03"),
        ("follow-up", 120.0, "m120"),
        ("unscheduled", -2.6, "pre03"),
        ("unscheduled", -0.3, "m00"),
        ("follow-up", None, "followup"),
        ("unscheduled", None, "unscheduled"),
    ],
)
def test_session_label_from_visit_kind_and_months(kind, months, label):
    assert session_label(kind, months) == label


def test_session_label_refuses_non_finite_months():
    with pytest.raises(ValueError):
        session_label("follow-up", float("nan"))


def test_repeated_session_labels_are_disambiguated_in_order():
    assert unique_session_labels(["baseline", "m06", "m06", "m12", "m06"]) == ["baseline", "m06", "m06b", "m12", "m06c"]
    # a generated label never takes one already used
    assert unique_session_labels(["m06b", "m06", "m06"]) == ["m06b", "m06", "m06c"]
    assert unique_session_labels([session_label("follow-up", 5.6), session_label("unscheduled", 6.3)]) == [
        "m06",
        "m06b",
    ]


def test_map_file_names():
    assert map_filename("CP-001", "m06", "FA") == "sub-CP001/ses-m06/dwi/sub-CP001_ses-m06_FA.nii.gz"
    assert map_filename("CP001", "baseline", "MD") == (
        "sub-CP001/ses-baseline/dwi/sub-CP001_ses-baseline_desc-MD_ADC.nii.gz"
    )
    assert map_filename("CP001", "m10", "mask") == "sub-CP001/ses-m10/dwi/sub-CP001_ses-m10_desc-brain_mask.nii.gz"


# ---- the zip ----------------------------------------------------------------------------------


def _save(arr, path):
    img = nib.Nifti1Image(arr, np.diag([2.0, 2.0, 2.0, 1.0]))
    img.header.set_xyzt_units("mm", "sec")  # as imaging.dti.io.save_nifti writes them
    nib.save(img, str(path))
    return path


def _opener(path):
    return lambda: open(path, "rb")


@pytest.fixture
def dataset(tmp_path):
    """2 subjects x 2 sessions of tiny maps: the entries, and the source file of every zip path."""
    rng = np.random.default_rng(7)
    src = tmp_path / "maps"
    src.mkdir()
    entries, sources = [], {}
    for subject in SUBJECTS:
        for session in SESSIONS:
            mask = np.zeros((8, 8, 6), np.uint8)
            mask[2:6, 2:6, 1:5] = 1
            fa = (rng.random((8, 8, 6)) * mask).astype(np.float32)
            arrays = {
                "FA": fa,
                "MD": (rng.random((8, 8, 6)) * 2e-3 * mask).astype(np.float32),
                "AD": (rng.random((8, 8, 6)) * 3e-3 * mask).astype(np.float32),
                "RD": (rng.random((8, 8, 6)) * 1e-3 * mask).astype(np.float32),
                "colorFA": (rng.random((8, 8, 6, 3)) * fa[..., None]).astype(np.float32),
                "mask": mask,
            }
            maps = {}
            for key, arr in arrays.items():
                path = _save(arr, src / f"{subject}_{session}_{key}.nii.gz")
                maps[key] = _opener(path)
                sources[map_filename(subject, session, key)] = path
            entries.append(
                {
                    "subject": subject,
                    "session": session,
                    "maps": maps,
                    "sidecar": dict(PROVENANCE, scan_id=len(entries) + 1),
                }
            )
    return entries, sources


def _export(entries, **kwargs):
    kwargs.setdefault("dataset_name", "CP cell registry: DTI derivatives")
    kwargs.setdefault("pipeline_version", "1.4.0")
    return b"".join(iter_bids_zip(entries, **kwargs))


def test_zip_holds_the_bids_derivative_layout(dataset, tmp_path):
    entries, sources = dataset
    out = tmp_path / "export.zip"
    with open(out, "wb") as f:  # as a web server would: chunk by chunk
        for chunk in iter_bids_zip(
            entries,
            dataset_name="CP DTI",
            pipeline_version="1.4.0",
            participants=[
                {"participant_id": "sub-CP001", "sex": "M", "age_months": 50},
                {"participant_id": "CP-002", "sex": "F", "age_months": 63},
            ],
        ):
            f.write(chunk)
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        expected_maps = [
            f"sub-{s}/ses-{t}/dwi/sub-{s}_ses-{t}_{MAP_NAMES[k]}{ext}"
            for s in ("CP001", "CP002")
            for t in SESSIONS
            for k in MAP_NAMES
            for ext in (".nii.gz", ".json")
        ]
        assert names == [
            "dataset_description.json",
            "README",
            "descriptions.tsv",
            "descriptions.json",
            *expected_maps,
            "participants.tsv",
            "participants.json",
        ]
        assert len(set(names)) == len(names)

        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.flag_bits & 0x08  # written to an unseekable sink: sizes in data descriptors

        for name, src in sources.items():
            data = zf.read(name)
            assert data == src.read_bytes()
            extracted = tmp_path / "x" / name
            extracted.parent.mkdir(parents=True, exist_ok=True)
            extracted.write_bytes(data)
            got, want = nib.load(str(extracted)), nib.load(str(src))
            assert np.array_equal(np.asarray(got.dataobj), np.asarray(want.dataobj))
            assert got.get_data_dtype() == want.get_data_dtype()
            assert np.allclose(got.affine, want.affine)

            sidecar = json.loads(zf.read(name[: -len(".nii.gz")] + ".json"))
            assert sidecar["Description"]
            assert sidecar["PipelineVersion"] == "1.4.0"
            assert sidecar["Provenance"]["parameters"] == PROVENANCE["parameters"]
            assert sidecar["Provenance"]["qc"] == PROVENANCE["qc"]
            if name.endswith("_mask.nii.gz"):
                assert sidecar["Type"] == "Brain"
            else:
                assert sidecar["SkullStripped"] is True
                mask_path = name.rsplit("_", 1)[0].rsplit("_desc-", 1)[0] + "_desc-brain_mask.nii.gz"
                assert sidecar["Sources"] == [f"bids::{mask_path}"]
                assert mask_path in names

        description = json.loads(zf.read("dataset_description.json"))
        assert description["DatasetType"] == "derivative"
        assert description["BIDSVersion"] == BIDS_VERSION
        assert description["Name"] == "CP DTI"
        assert description["GeneratedBy"] == [{"Name": GENERATED_BY_NAME, "Version": "1.4.0"}]
        assert "1.4.0" in zf.read("README").decode()
        assert zf.read("participants.tsv").decode().splitlines() == [
            "participant_id\tsex\tage_months",
            "sub-CP001\tM\t50",
            "sub-CP002\tF\t63",
        ]
        assert set(json.loads(zf.read("participants.json"))) >= {"participant_id", "sex", "age_months"}
        assert zf.read("descriptions.tsv").decode().splitlines()[1].startswith("desc-MD\t")


def test_same_input_gives_the_same_bytes(dataset):
    entries, _ = dataset
    kwargs = dict(
        participants=[{"participant_id": "CP001", "sex": "M", "age_months": 50}],
        readme="Fixed README for the test.\n",
        license="CC0",
    )
    first, second = _export(entries, **kwargs), _export(entries, **kwargs)
    assert first == second
    assert _export(entries, **kwargs) != _export(entries, pipeline_version="1.4.1", **kwargs)


def test_maps_are_streamed_in_chunks(tmp_path):
    big = tmp_path / "big.nii.gz"
    big.write_bytes(np.random.default_rng(1).bytes(20 * 1024 * 1024))  # 20 MB, incompressible
    small = _save(np.ones((4, 4, 4), np.uint8), tmp_path / "mask.nii.gz")
    opened = []

    def opener(path):
        def open_it():
            opened.append(path)
            return open(path, "rb")

        return open_it

    entries = (
        {"subject": "CP-009", "session": s, "maps": {"FA": opener(big), "mask": opener(small)}, "sidecar": {}}
        for s in ("baseline", "m06")
    )  # a lazy iterable, as from a queryset
    gen = iter_bids_zip(entries, dataset_name="big", pipeline_version="1.4.0")
    first = next(gen)
    assert opened == []  # nothing read before the first bytes are out
    chunks = [first, *gen]
    assert max(len(c) for c in chunks) <= 2 * 1024 * 1024
    assert len(chunks) > 40  # 2 x 20 MB went out in ~1 MB pieces
    assert all(chunks)
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as zf:
        assert zf.read("sub-CP009/ses-m06/dwi/sub-CP009_ses-m06_FA.nii.gz") == big.read_bytes()


def test_files_are_closed_even_when_the_client_goes_away(tmp_path):
    big = tmp_path / "big.nii.gz"
    big.write_bytes(bytes(5 * 1024 * 1024))
    handles = []

    def opener():
        handles.append(open(big, "rb"))
        return handles[-1]

    gen = iter_bids_zip(
        [{"subject": "A", "session": "baseline", "maps": {"FA": opener}, "sidecar": {}}],
        dataset_name="x",
        pipeline_version="1",
    )
    for _ in range(3):
        next(gen)
    gen.close()
    assert handles and all(h.closed for h in handles)


def test_repeated_session_of_a_subject_is_renamed_and_participants_follow_the_export(dataset):
    entries, _ = dataset
    twice = [entries[1], dict(entries[1]), entries[2]]  # CP-001 m06 twice, then CP-002 baseline
    data = _export(
        twice, participants=[{"participant_id": "sub-CP002", "sex": "F"}, {"participant_id": "sub-CP777", "sex": "M"}]
    )
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        tsv = zf.read("participants.tsv").decode().splitlines()
    assert "sub-CP001/ses-m06/dwi/sub-CP001_ses-m06_FA.nii.gz" in names
    assert "sub-CP001/ses-m06b/dwi/sub-CP001_ses-m06b_FA.nii.gz" in names
    assert tsv == ["participant_id\tsex", "sub-CP001\tn/a", "sub-CP002\tF"]


def test_bad_input_is_refused(dataset):
    entries, _ = dataset
    bad = [dict(entries[0], maps={"FA": entries[0]["maps"]["FA"], "T1": entries[0]["maps"]["FA"]})]
    with pytest.raises(ValueError, match="unknown map keys"):
        _export(bad)
    # arguments are checked at the call, before any byte is streamed (a view can still answer 400)
    with pytest.raises(ValueError):
        iter_bids_zip(entries, dataset_name="x", pipeline_version="")
    with pytest.raises(ValueError):
        iter_bids_zip(entries, dataset_name=" ", pipeline_version="1")
    with pytest.raises(ValueError):
        iter_bids_zip(entries, dataset_name="x", pipeline_version="1", participants=[{"sex": "F"}])
    with pytest.raises(ValueError):
        iter_bids_zip(entries, dataset_name="x", pipeline_version="1", generated_by=[{"Version": "1"}])


# ---- the official validator -------------------------------------------------------------------


def _validator_command():
    """bids-validator-deno's bundled validator run by its bundled deno, with no network permission:
    the validator uses the BIDS schema bundled in it (unless BIDS_SCHEMA or --schema says
    otherwise), so nothing is fetched; --deny-net makes sure of it."""
    try:
        import bids_validator_deno
        from deno import find_deno_bin
    except ImportError:
        pytest.skip("the BIDS validator is not installed: pip install bids-validator-deno")
    bundle = os.path.join(os.path.dirname(bids_validator_deno.__file__), "bids-validator.js")
    return [os.fsdecode(find_deno_bin()), "run", "--no-prompt", "--deny-net", "--allow-read", "--allow-env", bundle]


def test_official_bids_validator_accepts_the_export(dataset, tmp_path):
    command = _validator_command()
    entries, _ = dataset
    data = _export(
        entries,
        participants=[
            {"participant_id": "CP-001", "sex": "M", "age_months": 50},
            {"participant_id": "CP-002", "sex": "F", "age_months": 63},
        ],
    )
    root = tmp_path / "bids"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(root)
    env = {k: v for k, v in os.environ.items() if k != "BIDS_SCHEMA"}  # BIDS_SCHEMA would be fetched
    env.update(DENO_NO_UPDATE_CHECK="1", NO_COLOR="1")
    proc = subprocess.run(
        [*command, str(root), "--format", "json"], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.stdout.strip(), f"validator printed nothing (exit {proc.returncode}): {proc.stderr}"
    report = json.loads(proc.stdout)
    issues = report["issues"]["issues"]
    errors = [i for i in issues if i["severity"] == "error"]
    warnings = sorted(
        {(i["code"], i.get("subCode") or "", i["location"]) for i in issues if i["severity"] == "warning"}
    )
    print(
        f"bids-validator: {len(errors)} errors, {len(warnings)} warnings "
        f"(schema {report['summary'].get('schemaVersion')})"
    )
    for code, sub, location in warnings:
        print(f"  warning {code} {sub} {location}")
    assert errors == [], json.dumps(errors, indent=1)[:5000]
    assert proc.returncode == 0, proc.stderr
    summary = report["summary"]
    assert sorted(summary["subjects"]) == ["CP001", "CP002"]
    assert sorted(summary["sessions"]) == sorted(SESSIONS)
    assert summary["dataTypes"] == ["dwi"]
    assert summary["dataProcessed"] is True  # validated as a derivative dataset
