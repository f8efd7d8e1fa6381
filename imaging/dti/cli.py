"""Command line: ``python -m imaging.dti DWI --bval B --bvec V --out DIR``.

Exit codes: 0 success (QC warnings included), 2 bad input or arguments
(message on stderr), 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import DiffusionInputError
from .gradients import B0_THRESHOLD
from .pipeline import FIT_METHODS, PROFILES, PipelineSettings, run_pipeline

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m imaging.dti",
        description="Diffusion tensor pipeline: FA/MD/AD/RD/colour-FA maps, QC, previews and results.json.",
    )
    p.add_argument("dwi", help="4D diffusion NIfTI (.nii or .nii.gz)")
    p.add_argument("--bval", required=True, help="b-value text file (s/mm^2)")
    p.add_argument("--bvec", required=True, help="b-vector text file (3xN or Nx3)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--labels", help="integer label NIfTI on the DWI grid")
    p.add_argument("--label-names", help='JSON object {"code": "name"} or a path to a JSON file')
    p.add_argument("--profile", choices=PROFILES, default="standard")
    p.add_argument("--fit", choices=FIT_METHODS, default="WLS", type=str.upper, help="tensor fit method (default WLS)")
    p.add_argument(
        "--b0-threshold",
        type=float,
        default=B0_THRESHOLD,
        help=f"b-values <= this are b0 (default {B0_THRESHOLD:g} s/mm^2)",
    )
    p.add_argument("--no-previews", action="store_true", help="skip PNG previews")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _label_names(text):
    """The --label-names option: a JSON file when it names one, else JSON text."""
    return Path(text) if text and os.path.isfile(text) else text


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=100, unit="%", file=sys.stderr, bar_format="{desc:<10} {percentage:3.0f}%|{bar}| {elapsed}")

    def progress(stage, percent):
        if bar is not None:
            bar.set_description_str(stage, refresh=False)
            if percent > bar.n:
                bar.update(percent - bar.n)
            else:
                bar.refresh()

    try:
        settings = PipelineSettings(
            profile=args.profile,
            fit_method=args.fit,
            b0_threshold=args.b0_threshold,
            previews=not args.no_previews,
        )
        res = run_pipeline(
            args.dwi,
            args.bval,
            args.bvec,
            args.out,
            settings,
            labels_path=args.labels,
            label_names=_label_names(args.label_names),
            progress=progress,
        )
    except DiffusionInputError as exc:
        if bar is not None:
            bar.close()
        print(f"error: invalid input ({exc.field}): {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        return 130
    if bar is not None:
        bar.close()
    s = res.summary
    qc = res.qc
    warn = [k for k, v in qc["items"].items() if v["flag"] != "pass"]
    print(
        json.dumps(
            {
                "results": res.results_json,
                "qc": qc["overall"] + (f" ({', '.join(warn)})" if warn else ""),
                "fa_mean": s.get("fa_mean"),
                "wm_fa_mean": s.get("wm_fa_mean"),
                "md_mean_mm2_s": s.get("md_mean"),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
