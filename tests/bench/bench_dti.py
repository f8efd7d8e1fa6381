"""Benchmark of the DTI pipeline against MRtrix3 and the textbook dipy recipe.

Run:  python tests/bench/bench_dti.py [--json PATH] [--skip-large]
      [--skip-textbook] [--skip-full] [--repeats N] [--cli-repeats N]
      [--full-repeats N] [--workdir DIR]

Not a pytest test (the file name does not start with ``test_``).

What it measures, on a 96x96x60 phantom with 1 b0 + 32 directions at
b=1000 s/mm^2 (SNR 30, about half of the voxels brain), saved as int16
.nii.gz like a scanner export:

(a) textbook dipy: ``load_nifti`` -> ``median_otsu(data, vol_idx=b0s)`` with
    its defaults (median_radius=4, numpass=4) on the 4D data ->
    ``TensorModel(gtab, fit_method="WLS").fit`` -> FA/MD/colour FA -> save FA;
(b) ours: ``imaging.dti.run_pipeline`` (validate, load, mask, fit, maps, QC,
    save NIfTI + PNG previews + results.json), in-process after one warm-up
    run (imports and font caches excluded; the cold subprocess time, which
    includes interpreter start and imports, is reported separately).

(c) the command line as a whole process (``python -m imaging.dti DWI --bval --bvec
    --out DIR``: interpreter start, imports, everything written) side by side with
    MRtrix3's chain ``dwi2mask``, ``dwi2tensor``, ``tensor2metric`` (FA, MD, AD, RD and
    colour FA with ``-vector``; ``-nthreads 2``, both cores) on the same file, runs
    interleaved, medians; each stage's time for both; FA against dipy's WLS (p99 and max
    over our mask) and both masks' Dice against the phantom's true brain;
(d) the ``full`` profile (MP-PCA, Gibbs unringing, motion correction, then as
    standard) as a whole process against MRtrix3's ``dwidenoise`` + ``mrdegibbs`` alone
    (``-nthreads 2``), same file, same run.

MRtrix3 is Debian's ``mrtrix3`` package; nothing is installed at run time: without it
(c) and (d) report our side only and say so.

Also: fit voxels per second, max |FA ours - FA dipy WLS| over our mask
(same float32 data, same mask), Dice of both masks against the phantom's
true brain, and the peak RSS of the pipeline run in a fresh subprocess
against the limit 2.5 x (input as float32) + 300 MB, here and on a
140x140x90x65 volume.

Peak memory is the child's ``VmHWM`` (high-water RSS of its own address
space). ``ru_maxrss`` is also recorded but is not used: Python starts
children with vfork, and Linux folds the *parent's* high-water RSS into the
child's ``ru_maxrss`` at exec, so it reports the benchmark process's size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

MB = 1024.0 * 1024.0

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from imaging.dti import run_pipeline
t_import = time.perf_counter() - t0
r = run_pipeline({dwi!r}, {bval!r}, {bvec!r}, {out!r})
wall = time.perf_counter() - t0
hwm = None
with open("/proc/self/status") as fh:
    for line in fh:
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024.0
print(json.dumps({{"wall_s": wall, "import_s": t_import, "vmhwm_mb": hwm,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "timings": r.timings, "mask_voxels": r.summary["mask_voxels"]}}))
"""


def _dice(a, b):
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    return float(2.0 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def run_child(files, out_dir):
    code = _CHILD.format(root=ROOT, dwi=files["dwi"], bval=files["bval"], bvec=files["bvec"], out=out_dir)
    env = dict(os.environ)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600)
    outer = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = outer
    return res


def textbook(files):
    """dipy's tutorial recipe, timed by stage."""
    from dipy.core.gradients import gradient_table
    from dipy.io.gradients import read_bvals_bvecs
    from dipy.io.image import load_nifti, save_nifti
    from dipy.reconst.dti import TensorModel, color_fa, fractional_anisotropy
    from dipy.segment.mask import median_otsu

    t = {}
    t0 = time.perf_counter()
    data, affine = load_nifti(files["dwi"])
    bvals, bvecs = read_bvals_bvecs(files["bval"], files["bvec"])
    gtab = gradient_table(bvals, bvecs=bvecs)
    t["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    maskdata, mask = median_otsu(data, vol_idx=np.where(gtab.b0s_mask)[0])
    t["mask"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tenfit = TensorModel(gtab, fit_method="WLS").fit(maskdata, mask=mask)
    t["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fa = fractional_anisotropy(tenfit.evals)
    fa[np.isnan(fa)] = 0
    md = tenfit.md
    rgb = color_fa(fa, tenfit.evecs)
    out = tempfile.mkdtemp(prefix="bench_textbook_")
    save_nifti(os.path.join(out, "fa.nii.gz"), fa.astype(np.float32), affine)
    save_nifti(os.path.join(out, "md.nii.gz"), md.astype(np.float32), affine)
    save_nifti(os.path.join(out, "rgb.nii.gz"), rgb.astype(np.float32), affine)
    t["maps_save"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t, mask, fa, int(mask.sum())


def ours(files, out_dir, repeats):
    from imaging.dti import run_pipeline

    run_pipeline(files["dwi"], files["bval"], files["bvec"], out_dir)  # warm-up
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = run_pipeline(files["dwi"], files["bval"], files["bvec"], out_dir)
        total = time.perf_counter() - t0
        runs.append((total, r))
    runs.sort(key=lambda x: x[0])
    total, r = runs[len(runs) // 2]  # median run
    tm = r.timings
    t = {
        "load": tm.get("validate", 0) + tm.get("load", 0),
        "mask": tm.get("mask", 0),
        "fit": tm.get("fit", 0),
        "maps_save": tm.get("qc", 0) + tm.get("rois", 0) + tm.get("save", 0) + tm.get("previews", 0),
        "total": total,
        "total_min": runs[0][0],
        "total_max": runs[-1][0],
    }
    return t, r


MRTRIX_STANDARD = ("dwi2mask", "dwi2tensor", "tensor2metric")
MRTRIX_FULL = ("dwidenoise", "mrdegibbs")
NTHREADS = 2  # MRtrix3 and our pipeline both get the machine's two cores


def mrtrix_missing():
    """The MRtrix3 commands not on PATH (empty when MRtrix3 is installed)."""
    return [c for c in MRTRIX_STANDARD + MRTRIX_FULL if shutil.which(c) is None]


def _timed(cmd, cwd=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {p.stderr[-2000:]}")
    return wall


def run_cli(files, out_dir, profile="standard"):
    """Our command line as a user runs it (progress bar on stderr); stage times from results.json."""
    cmd = [sys.executable, "-m", "imaging.dti", files["dwi"], "--bval", files["bval"], "--bvec", files["bvec"]]
    cmd += ["--out", out_dir, "--profile", profile]
    wall = _timed(cmd, cwd=ROOT)
    with open(os.path.join(out_dir, "results.json")) as fh:
        prov = json.load(fh)["provenance"]
    stages = dict(prov["stage_timings_s"])
    stages = {"start + imports (before run_pipeline)": wall - prov["runtime_s"], **stages}
    return {"wall_s": wall, "stages_s": stages}


def run_mrtrix_standard(files, out_dir):
    """dwi2mask -> dwi2tensor -> tensor2metric (FA, MD, AD, RD, colour FA), each timed."""
    os.makedirs(out_dir, exist_ok=True)
    grad = ["-fslgrad", files["bvec"], files["bval"]]
    common = ["-quiet", "-force", "-nthreads", str(NTHREADS)]
    o = lambda name: os.path.join(out_dir, name)  # noqa: E731
    st = {}
    st["dwi2mask"] = _timed(["dwi2mask", *common, *grad, files["dwi"], o("mask.nii.gz")])
    st["dwi2tensor"] = _timed(["dwi2tensor", *common, "-mask", o("mask.nii.gz"), *grad, files["dwi"], o("dt.mif")])
    st["tensor2metric"] = _timed(
        ["tensor2metric", *common, "-mask", o("mask.nii.gz"), "-fa", o("fa.nii.gz"), "-adc", o("md.nii.gz")]
        + ["-ad", o("ad.nii.gz"), "-rd", o("rd.nii.gz"), "-vector", o("color_fa.nii.gz"), o("dt.mif")]
    )
    return {"wall_s": sum(st.values()), "stages_s": st}


def run_mrtrix_full(files, out_dir):
    """dwidenoise -> mrdegibbs (what the issue compares the full profile with), each timed."""
    os.makedirs(out_dir, exist_ok=True)
    common = ["-quiet", "-force", "-nthreads", str(NTHREADS)]
    o = lambda name: os.path.join(out_dir, name)  # noqa: E731
    st = {}
    st["dwidenoise"] = _timed(["dwidenoise", *common, "-noise", o("noise.nii"), files["dwi"], o("den.nii")])
    st["mrdegibbs"] = _timed(["mrdegibbs", *common, o("den.nii"), o("degibbs.nii")])
    return {"wall_s": sum(st.values()), "stages_s": st}


def _median_run(runs):
    """The run with the median wall time, with every run's wall time."""
    runs = sorted(runs, key=lambda r: r["wall_s"])
    med = dict(runs[len(runs) // 2])
    med["all_wall_s"] = [r["wall_s"] for r in runs]
    # stage medians (each stage's own median over the runs)
    med["stages_s"] = {k: float(np.median([r["stages_s"].get(k, 0.0) for r in runs])) for k in runs[0]["stages_s"]}
    return med


def cli_vs_mrtrix(files, true_brain, work, repeats, profile="standard"):
    """Interleaved runs of our command line and MRtrix3's chain; medians and quality."""
    import nibabel as nib

    have_mrtrix = not mrtrix_missing()
    ours, theirs = [], []
    ours_dir = os.path.join(work, f"cli_{profile}")
    mr_dir = os.path.join(work, f"mrtrix_{profile}")
    for i in range(repeats):
        print(f"  {profile}: run {i + 1}/{repeats} ours ...", flush=True)
        ours.append(run_cli(files, ours_dir, profile))
        if have_mrtrix:
            print(f"  {profile}: run {i + 1}/{repeats} MRtrix3 ...", flush=True)
            theirs.append((run_mrtrix_standard if profile == "standard" else run_mrtrix_full)(files, mr_dir))
    out = {"ours": _median_run(ours), "mrtrix": _median_run(theirs) if theirs else None, "repeats": repeats}
    out["mrtrix_missing"] = mrtrix_missing()
    if out["mrtrix"]:
        out["ratio"] = out["ours"]["wall_s"] / out["mrtrix"]["wall_s"]
    our_mask = np.asarray(nib.load(os.path.join(ours_dir, "mask.nii.gz")).dataobj) > 0
    out["dice_ours"] = _dice(our_mask, true_brain)
    if profile == "full":
        out.update(_denoising_quality(files, ours_dir, mr_dir if have_mrtrix else None, our_mask))
    if profile == "standard":
        if have_mrtrix:
            mr_mask = np.asarray(nib.load(os.path.join(mr_dir, "mask.nii.gz")).dataobj) > 0
            out["dice_mrtrix"] = _dice(mr_mask, true_brain)
        out.update(_fa_vs_dipy(files, ours_dir, our_mask))
    return out


def _denoising_quality(files, ours_dir, mr_dir, mask):
    """Noise sigma (the phantom's is 1000 / 30) and RMS of (denoised - noise-free signal) in
    the brain mask: ours (the full profile's MP-PCA, run here on the same data) and MRtrix3's
    dwidenoise (its output of the runs above)."""
    import nibabel as nib

    from imaging.dti import make_phantom, stream_dwi
    from imaging.dti.morphology import dilate
    from imaging.dti.preprocess import denoise_mppca

    data = stream_dwi(files["dwi"], keep_data=True).data
    clean = make_phantom(data.shape[:3], n_b0=1, n_dirs=data.shape[3] - 1, snr=np.inf, seed=0).data

    def rms(a):
        return float(np.sqrt(np.mean((np.asarray(a, np.float32) - clean)[mask] ** 2)))

    with open(os.path.join(ours_dir, "results.json")) as fh:
        sigma_ours = json.load(fh)["qc"]["items"]["noise_sigma_mppca"]["value"]
    den, _ = denoise_mppca(data, mask=dilate(mask, 2), n_threads=NTHREADS)
    q = {"sigma_true": 1000.0 / 30.0, "sigma_ours": sigma_ours, "rms_noisy": rms(data), "rms_ours": rms(den)}
    del den
    if mr_dir:
        q["sigma_mrtrix"] = float(np.asarray(nib.load(os.path.join(mr_dir, "noise.nii")).dataobj)[mask].mean())
        q["rms_mrtrix"] = rms(np.asarray(nib.load(os.path.join(mr_dir, "den.nii")).dataobj))
    return q


def _fa_vs_dipy(files, out_dir, mask):
    """|FA ours - FA dipy WLS| on the same float32 data in our mask: p99 and max."""
    import nibabel as nib
    from dipy.core.gradients import gradient_table
    from dipy.io.gradients import read_bvals_bvecs
    from dipy.reconst.dti import TensorModel

    from imaging.dti import stream_dwi

    data = stream_dwi(files["dwi"], keep_data=True).data
    b, v = read_bvals_bvecs(files["bval"], files["bvec"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = TensorModel(gradient_table(b, bvecs=v), fit_method="WLS").fit(data, mask=mask)
    fa = np.asarray(nib.load(os.path.join(out_dir, "fa.nii.gz")).dataobj, dtype=np.float32)
    diff = np.abs(fa - ref.fa)[mask]
    return {"fa_p99_vs_dipy_wls": float(np.percentile(diff, 99)), "fa_max_vs_dipy_wls": float(diff.max())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="write the figures to this JSON file")
    ap.add_argument("--skip-large", action="store_true", help="skip the 140x140x90x65 run")
    ap.add_argument("--skip-textbook", action="store_true", help="skip the slow textbook dipy run")
    ap.add_argument("--skip-full", action="store_true", help="skip the full profile against dwidenoise + mrdegibbs")
    ap.add_argument("--repeats", type=int, default=3, help="warm in-process runs")
    ap.add_argument("--cli-repeats", type=int, default=5, help="interleaved command-line runs, ours and MRtrix3's")
    ap.add_argument("--full-repeats", type=int, default=3, help="interleaved full-profile runs")
    ap.add_argument("--workdir", help="keep files here (default: a temp dir)")
    args = ap.parse_args(argv)

    import nibabel as nib

    from imaging.dti import make_phantom, stream_dwi

    work = args.workdir or tempfile.mkdtemp(prefix="bench_dti_")
    os.makedirs(work, exist_ok=True)
    shape = (96, 96, 60)
    print(f"making phantom {shape} + 1 b0 + 32 dirs (b=1000, SNR 30) in {work} ...", flush=True)
    ph = make_phantom(shape, n_b0=1, n_dirs=32, snr=30.0, seed=0)
    files = ph.save(os.path.join(work, "p96"))
    true_brain = ph.brain_mask
    n_in = int(np.prod(ph.data.shape))
    input_f32 = n_in * 4
    limit_mb = (2.5 * input_f32 + 300 * MB) / MB
    del ph

    result = {
        "phantom": {
            "shape": list(shape) + [33],
            "brain_voxels": int(true_brain.sum()),
            "input_float32_mb": input_f32 / MB,
        }
    }

    missing = mrtrix_missing()
    if missing:
        print(f"MRtrix3 not found ({', '.join(missing)} missing): our side only. apt-get install mrtrix3", flush=True)
    print(f"command line vs MRtrix3, {args.cli_repeats} interleaved runs ...", flush=True)
    result["cli_standard"] = cli_vs_mrtrix(files, true_brain, work, args.cli_repeats, "standard")
    if not args.skip_full:
        print(f"full profile vs dwidenoise + mrdegibbs, {args.full_repeats} interleaved runs ...", flush=True)
        result["cli_full"] = cli_vs_mrtrix(files, true_brain, work, args.full_repeats, "full")

    tb = None
    if not args.skip_textbook:
        print("textbook dipy recipe (median_otsu defaults on 4D + TensorModel WLS) ...", flush=True)
        tb_t, tb_mask, tb_fa, tb_nvox = textbook(files)
        tb = {
            "times_s": tb_t,
            "dice": _dice(tb_mask, true_brain),
            "fit_vox_per_s": tb_nvox / tb_t["fit"],
            "mask_voxels": tb_nvox,
        }
        result["textbook"] = tb

    print("our pipeline (in-process, warm) ...", flush=True)
    out_dir = os.path.join(work, "out96")
    o_t, r = ours(files, out_dir, args.repeats)
    our_mask = nib.load(r.maps["mask"]).get_fdata() > 0
    our_fa = nib.load(r.maps["fa"]).get_fdata(dtype=np.float32)
    nvox = int(our_mask.sum())
    ou = {
        "times_s": o_t,
        "dice": _dice(our_mask, true_brain),
        "fit_vox_per_s": nvox / max(o_t["fit"], 1e-9),
        "mask_voxels": nvox,
        "stage_timings_s": r.timings,
    }

    # FA vs dipy's WLS on the same float32 data and the same (our) mask
    from dipy.core.gradients import gradient_table
    from dipy.io.gradients import read_bvals_bvecs
    from dipy.reconst.dti import TensorModel

    data = stream_dwi(files["dwi"], keep_data=True).data
    b, v = read_bvals_bvecs(files["bval"], files["bvec"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = TensorModel(gradient_table(b, bvecs=v), fit_method="WLS").fit(data, mask=our_mask)
    ou["max_abs_fa_diff_vs_dipy_wls"] = float(np.abs(our_fa - ref.fa)[our_mask].max())
    del data, ref
    if tb is not None:
        both = our_mask & tb_mask
        ou["max_abs_fa_diff_vs_textbook_in_both_masks"] = float(np.abs(our_fa - tb_fa)[both].max())
    result["ours"] = ou

    print("peak memory: fresh subprocess ...", flush=True)
    child = run_child(files, os.path.join(work, "out96_child"))
    result["ours"]["subprocess"] = child
    result["ours"]["memory_limit_mb"] = limit_mb

    if not args.skip_large:
        lshape = (140, 140, 90)
        print(f"making large phantom {lshape} + 1 b0 + 64 dirs ...", flush=True)
        lp = make_phantom(lshape, n_b0=1, n_dirs=64, snr=30.0, seed=1)
        lfiles = lp.save(os.path.join(work, "p140"))
        l_in = int(np.prod(lp.data.shape)) * 4
        del lp
        print("large: pipeline in a fresh subprocess ...", flush=True)
        lc = run_child(lfiles, os.path.join(work, "out140"))
        result["large"] = {
            "shape": list(lshape) + [65],
            "input_float32_mb": l_in / MB,
            "memory_limit_mb": (2.5 * l_in + 300 * MB) / MB,
            **lc,
        }

    _print_table(result)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
        print(f"wrote {args.json}")
    return 0


def _print_versus(title, cmp, target):
    ou, mr = cmp["ours"], cmp["mrtrix"]
    print()
    print(title)
    if cmp["mrtrix_missing"]:
        print(f"  MRtrix3 not installed ({', '.join(cmp['mrtrix_missing'])} missing): apt-get install mrtrix3")
    rows_o = list(ou["stages_s"].items())
    rows_m = list(mr["stages_s"].items()) if mr else []
    print(f"  {'ours (stage medians)':50}  {'MRtrix3 (-nthreads 2, stage medians)'}")
    for i in range(max(len(rows_o), len(rows_m))):
        a = f"{rows_o[i][0]:40}{rows_o[i][1]:>8.2f} s" if i < len(rows_o) else " " * 50
        b = f"{rows_m[i][0]:22}{rows_m[i][1]:>8.2f} s" if i < len(rows_m) else ""
        print(f"  {a}  {b}")
    a = f"{'whole process (median of ' + str(cmp['repeats']) + ')':40}{ou['wall_s']:>8.2f} s"
    b = f"{'sum (median run)':22}{mr['wall_s']:>8.2f} s" if mr else ""
    print(f"  {a}  {b}")
    runs_o = "/".join(f"{w:.2f}" for w in ou["all_wall_s"])
    runs_m = "/".join(f"{w:.2f}" for w in mr["all_wall_s"]) if mr else "-"
    print(f"  all runs: ours {runs_o} s; MRtrix3 {runs_m} s")
    if mr:
        print(f"  ours / MRtrix3 = {cmp['ratio']:.2f}   target <= {target}")


def _print_table(res):
    cs = res["cli_standard"]
    _print_versus(
        "Standard profile, command line as a whole process vs MRtrix3 dwi2mask + dwi2tensor + tensor2metric",
        cs,
        0.5,
    )
    print(
        f"  FA vs dipy WLS (our mask): p99 {cs['fa_p99_vs_dipy_wls']:.1e}, max {cs['fa_max_vs_dipy_wls']:.1e}"
        "   target p99 <= 1e-4"
    )
    mr_dice = f"{cs['dice_mrtrix']:.5f}" if "dice_mrtrix" in cs else "-"
    print(f"  Dice vs true brain: ours {cs['dice_ours']:.5f}, MRtrix3 dwi2mask {mr_dice}   target ours >= MRtrix3")
    if "cli_full" in res:
        cf = res["cli_full"]
        _print_versus(
            "Full profile (MP-PCA, Gibbs, motion, then standard) vs MRtrix3 dwidenoise + mrdegibbs alone",
            cf,
            2.0,
        )
        mr_sigma = f"{cf['sigma_mrtrix']:.2f}" if "sigma_mrtrix" in cf else "-"
        mr_rms = f"{cf['rms_mrtrix']:.2f}" if "rms_mrtrix" in cf else "-"
        print(
            f"  noise sigma in the brain (truth {cf['sigma_true']:.2f}): ours {cf['sigma_ours']:.2f}, "
            f"MRtrix3 dwidenoise {mr_sigma}"
        )
        print(
            f"  RMS vs noise-free signal: noisy {cf['rms_noisy']:.2f}, ours {cf['rms_ours']:.2f}, "
            f"MRtrix3 dwidenoise {mr_rms}"
        )
    ou = res["ours"]
    tb = res.get("textbook")
    ph = res["phantom"]
    print()
    print(
        f"DTI benchmark: phantom {'x'.join(map(str, ph['shape']))}, "
        f"{ph['brain_voxels']} brain voxels, input {ph['input_float32_mb']:.1f} MB "
        "as float32"
    )
    print(f"{'':34}{'textbook dipy':>15}{'ours':>12}")
    rows = [
        ("load (+validate)", "load"),
        ("brain mask", "mask"),
        ("tensor fit", "fit"),
        ("maps + QC + save (+PNG)", "maps_save"),
        ("total", "total"),
    ]
    for label, k in rows:
        a = f"{tb['times_s'][k]:.2f} s" if tb else "-"
        print(f"{label:34}{a:>15}{ou['times_s'][k]:>10.2f} s")
    print(
        f"{'  (ours: min/max of runs)':34}{'':>15}"
        f"{ou['times_s']['total_min']:>6.2f}/{ou['times_s']['total_max']:.2f} s"
        "   target <= 2 s"
    )
    a = f"{tb['fit_vox_per_s'] / 1e3:.0f} k" if tb else "-"
    print(f"{'fit voxels / s':34}{a:>15}{ou['fit_vox_per_s'] / 1e3:>10.0f} k")
    a = f"{tb['mask_voxels']}" if tb else "-"
    print(f"{'mask voxels':34}{a:>15}{ou['mask_voxels']:>12}")
    a = f"{tb['dice']:.4f}" if tb else "-"
    print(f"{'Dice vs true brain':34}{a:>15}{ou['dice']:>12.4f}   target >= 0.97 and >= textbook")
    print(
        f"{'max |FA ours - dipy WLS| (our mask)':34}{'':>15}{ou['max_abs_fa_diff_vs_dipy_wls']:>12.1e}   target <= 1e-4"
    )
    if "max_abs_fa_diff_vs_textbook_in_both_masks" in ou:
        print(
            f"{'max |FA ours - textbook| (both masks)':34}{'':>15}"
            f"{ou['max_abs_fa_diff_vs_textbook_in_both_masks']:>12.1e}"
        )
    sc = ou["subprocess"]
    print(
        f"{'cold run in subprocess (wall)':34}{'':>15}{sc['process_wall_s']:>10.2f} s"
        f"   (imports {sc['import_s']:.2f} s)"
    )
    print(f"{'peak RSS (subprocess VmHWM)':34}{'':>15}{sc['vmhwm_mb']:>9.0f} MB   limit {ou['memory_limit_mb']:.0f} MB")
    if "large" in res:
        lg = res["large"]
        print(
            f"large {'x'.join(map(str, lg['shape']))} "
            f"(input {lg['input_float32_mb']:.0f} MB float32, "
            f"{lg['mask_voxels']} mask voxels):"
        )
        print(f"{'  wall time (subprocess, cold)':34}{'':>15}{lg['process_wall_s']:>10.2f} s")
        print(f"{'  stage times':34}{'':>15} " + ", ".join(f"{k} {v:.2f}" for k, v in lg["timings"].items()))
        print(f"{'  peak RSS (VmHWM)':34}{'':>15}{lg['vmhwm_mb']:>9.0f} MB   limit {lg['memory_limit_mb']:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
