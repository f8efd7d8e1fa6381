"""End-to-end pipeline on files, its QC and the command line."""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from imaging.dti import (
    DiffusionInputError,
    PipelineSettings,
    QCThresholds,
    brain_mask,
    make_phantom,
    mean_b0,
    process_dwi,
    run_pipeline,
)
from imaging.dti.gradients import B0_THRESHOLD


def test_run_pipeline_outputs(small_phantom, small_phantom_files, tmp_path):
    f = small_phantom_files
    calls = []
    res = run_pipeline(
        f["dwi"],
        f["bval"],
        f["bvec"],
        tmp_path / "out",
        labels_path=f["labels"],
        label_names=Path(f["label_names"]),
        progress=lambda stage, pct: calls.append((stage, pct)),
    )
    # progress: called at each stage, integer, non-decreasing, ends at 100
    stages = [s for s, _ in calls]
    for st in ("validate", "load", "mask", "fit", "qc", "rois", "save", "previews", "done"):
        assert st in stages
    pcts = [p for _, p in calls]
    assert all(isinstance(p, int) for p in pcts)
    assert pcts == sorted(pcts) and pcts[-1] == 100
    # files: maps with the input affine, previews, results.json
    in_img = nib.load(f["dwi"])
    for k in ("fa", "md", "ad", "rd", "color_fa", "mask"):
        img = nib.load(res.maps[k])
        assert np.allclose(img.affine, in_img.affine, atol=1e-6)
        assert img.shape[:3] == in_img.shape[:3]
    assert nib.load(res.maps["color_fa"]).shape == in_img.shape[:3] + (3,)
    assert nib.load(res.maps["fa"]).get_data_dtype() == np.float32
    for k in ("fa", "color_fa"):
        with open(res.previews[k], "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(res.results_json) as fh:
        stored = json.load(fh)
    assert stored["qc"] == res.qc and stored["summary"] == res.summary
    json.dumps(res.to_dict(), allow_nan=False)  # plain JSON data
    # QC items: value + flag + message
    items = res.qc["items"]
    for name in (
        "b0_count",
        "n_directions",
        "b_values",
        "snr",
        "fit_residual",
        "nonphysical_eigenvalues",
        "fa_histogram",
        "brain_mask",
    ):
        assert set(items[name]) == {"value", "flag", "message", "notes"}
        assert items[name]["flag"] in ("pass", "warn")
    assert items["b0_count"]["value"] == 2 and items["n_directions"]["value"] == 20
    assert items["b_values"]["value"] == [[0.0, 2], [1000.0, 20]]
    # SNR from the 2 b0 repeats: true 30 (parenchyma), estimate within 15 %
    assert items["snr"]["value"] == pytest.approx(30.0, rel=0.15)
    hist = items["fa_histogram"]["value"]
    assert len(hist["bin_edges"]) == len(hist["counts"]) + 1
    assert sum(hist["counts"]) == res.summary["mask_voxels"]
    assert items["nonphysical_eigenvalues"]["value"] <= 0.01
    # residual ~ noise/S0 = 1/30 at SNR 30 (dimensionless)
    assert 0.015 <= items["fit_residual"]["value"] <= 0.06
    # summary vs maps
    fa = nib.load(res.maps["fa"]).get_fdata()
    md = nib.load(res.maps["md"]).get_fdata()
    mask = nib.load(res.maps["mask"]).get_fdata() > 0
    s = res.summary
    assert s["fa_mean"] == pytest.approx(fa[mask].mean(), abs=1e-6)
    assert s["fa_median"] == pytest.approx(np.median(fa[mask]), abs=1e-6)
    wm = mask & (fa > 0.2)
    assert s["wm_voxels"] == int(wm.sum())
    assert s["wm_fa_mean"] == pytest.approx(fa[wm].mean(), abs=1e-6)
    assert s["md_mean"] == pytest.approx(md[mask].mean(), rel=1e-5)
    assert 0.7e-3 <= s["md_mean"] <= 0.95e-3  # mm^2/s, tissue MD 0.8e-3
    # mask vs true brain
    true = small_phantom.brain_mask
    dice = 2 * (mask & true).sum() / (mask.sum() + true.sum())
    assert dice >= 0.97
    # regions
    names = {r["label"]: r for r in res.rois}
    assert names[3]["name"] == "tract_x_fa10"
    assert names[7]["fa_mean"] == pytest.approx(0.9, abs=0.05)
    prov = res.provenance
    assert prov["pipeline_version"] and prov["versions"]["dipy"]
    assert prov["inputs"]["dwi"]["sha256"] == hashlib.sha256(open(f["dwi"], "rb").read()).hexdigest()
    assert prov["parameters"]["fit_method"] == "WLS"
    assert prov["parameters"]["snr_method"] == "b0_repeats"


def test_ols_option_and_bad_choice(small_phantom):
    p = small_phantom
    r = process_dwi(p.data, p.bvals, p.bvecs, PipelineSettings(fit_method="ols"))
    assert r.maps.method == "OLS"
    w = process_dwi(p.data, p.bvals, p.bvecs)
    m = r.mask & w.mask
    assert np.abs(r.maps.fa - w.maps.fa)[m].mean() <= 0.01  # close, not identical
    assert np.abs(r.maps.fa - w.maps.fa)[m].max() > 0
    with pytest.raises(ValueError, match="fit_method"):
        PipelineSettings(fit_method="NLLS")
    with pytest.raises(ValueError, match="profile"):
        PipelineSettings(profile="fast")


def test_settings_are_one_frozen_value():
    settings = PipelineSettings(fit_method="ols", thresholds=QCThresholds(min_snr=20.0))
    assert settings.fit_method == "OLS" and settings.profile == "standard" and settings.b0_threshold == B0_THRESHOLD
    assert settings == PipelineSettings(fit_method="OLS", thresholds=QCThresholds(min_snr=20.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.profile = "full"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.thresholds.min_snr = 1.0


def test_arrays_are_validated_and_never_modified():
    p = make_phantom((16, 16, 16), n_b0=1, n_dirs=6, snr=30.0, seed=4)
    data = p.data.astype(np.float32)
    before = data.copy()
    process_dwi(data, p.bvals, p.bvecs, PipelineSettings(profile="full"))
    assert np.array_equal(data, before)  # the full profile preprocesses a copy
    broken = data.copy()
    broken[1, 1, 1, 4] = np.nan
    with pytest.raises(DiffusionInputError, match="volume 4"):
        process_dwi(broken, p.bvals, p.bvecs)
    with pytest.raises(DiffusionInputError) as ei:
        process_dwi(data, p.bvals[:-1], p.bvecs[:-1])
    assert ei.value.field == "bval"


def test_snr_background_single_b0():
    p = make_phantom((40, 40, 24), n_b0=1, n_dirs=12, snr=20.0, seed=2)
    r = process_dwi(p.data, p.bvals, p.bvecs)
    assert r.snr["method"] == "background"
    assert r.qc["items"]["snr"]["value"] == pytest.approx(20.0, rel=0.1)


def test_mask_dice_96(tmp_path):
    p = make_phantom((96, 96, 60), n_b0=1, n_dirs=32, snr=30.0)
    m = brain_mask(mean_b0(p.data, p.bvals))
    t = p.brain_mask
    assert 2 * (m & t).sum() / (m.sum() + t.sum()) >= 0.97


def test_bad_labels_grid(small_phantom_files, tmp_path):
    f = small_phantom_files
    lab = tmp_path / "lab.nii.gz"
    # Another grid is resampled through the affines; one placed outside the scan cannot be.
    far = np.eye(4)
    far[:3, 3] = 500.0
    nib.save(nib.Nifti1Image(np.ones((5, 5, 5), np.int16), far), str(lab))
    with pytest.raises(DiffusionInputError) as ei:
        run_pipeline(f["dwi"], f["bval"], f["bvec"], tmp_path / "o", labels_path=lab)
    assert ei.value.field == "labels" and "falls on the diffusion image" in ei.value.message
    with pytest.raises(DiffusionInputError) as ei:
        run_pipeline(f["dwi"], f["bval"], f["bvec"], tmp_path / "o", label_names="{not json")
    assert ei.value.field == "label_names"


def _cli(args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = cwd + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "imaging.dti", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_end_to_end(small_phantom_files, tmp_path, repo_root):
    f = small_phantom_files
    out = tmp_path / "cli_out"
    r = _cli(
        [
            f["dwi"],
            "--bval",
            f["bval"],
            "--bvec",
            f["bvec"],
            "--out",
            str(out),
            "--labels",
            f["labels"],
            "--label-names",
            f["label_names"],
            "--fit",
            "OLS",
        ],
        repo_root,
    )
    assert r.returncode == 0, r.stderr
    assert "fit" in r.stderr  # tqdm progress bar with stage names
    res = json.loads((out / "results.json").read_text())
    assert res["provenance"]["parameters"]["fit_method"] == "OLS"
    assert len(res["rois"]) == 17
    fa = nib.load(str(out / "fa.nii.gz"))
    assert np.allclose(fa.affine, nib.load(f["dwi"]).affine, atol=1e-6)
    for name in ("md", "ad", "rd", "color_fa", "mask"):
        assert (out / f"{name}.nii.gz").exists()
    assert (out / "fa_axial.png").exists() and (out / "color_fa_axial.png").exists()


def test_cli_bad_input_exit_2(small_phantom_files, tmp_path, repo_root):
    f = small_phantom_files
    bad = tmp_path / "bad.bval"
    bad.write_text("0 1000 1000\n")
    r = _cli([f["dwi"], "--bval", str(bad), "--bvec", f["bvec"], "--out", str(tmp_path / "o"), "--quiet"], repo_root)
    assert r.returncode == 2
    assert "error: invalid input (bval)" in r.stderr and "b-value" in r.stderr
    assert not (tmp_path / "o" / "results.json").exists()


def test_preload_and_array_progress(small_phantom):
    from imaging.dti import preload

    preload()
    p = small_phantom
    calls = []
    r = process_dwi(
        p.data.astype(np.float64),
        p.bvals,
        p.bvecs,
        labels=p.labels,
        label_names=p.label_names,
        progress=lambda s, pc: calls.append((s, pc)),
    )
    assert [s for s, _ in calls][0] == "mask" and calls[-1] == ("done", 100)
    assert [pc for _, pc in calls] == sorted(pc for _, pc in calls)
    assert r.rois[0]["name"] == "parenchyma"
    assert r.maps.fa.dtype == np.float32 and r.maps.fa.shape == p.data.shape[:3]
