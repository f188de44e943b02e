"""The leaderboard: one row per submission, from the verdict records."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from viprepro.files.fileio import read_json, write_text

COLUMNS = (
    "task",
    "submission",
    "metric",
    "claimed",
    "claimed_split",
    "tolerance",
    "reproduced",
    "difference",
    "band_n",
    "band_mean",
    "band_std",
    "band_min",
    "band_max",
    "verdict",
    "determinism",
    "inference_identical",
    "audits",
    "parameters",
    "flops_per_sample",
    "train_wall_seconds",
    "inference_samples_per_s",
    "provenance_digest",
    "code_version",
    "data_manifest_digest",
    "spec_digest",
    # added with the prediction-interval rule and the evidence verdicts (appended: older readers keep working)
    "score_verdict",
    "band_interval_low",
    "band_interval_high",
    "band_robust_low",
    "band_robust_high",
    "bit_identical_expected",
    "problems",
    "reason",
    # `smoke`: the spec was shrunk to a CPU run (viprepro/specs/scale.py); its score says nothing about the claim
    "scale",
    # the challenge edition (and its toolkit commit) a task of several editions was scored to; empty for the 2020 tasks
    "edition",
)
BAND_KEYS = ("n", "mean", "std", "min", "max", "interval_low", "interval_high", "robust_low", "robust_high")


def build_rows(verdict_paths: list[Path]) -> list[dict]:
    rows = []
    for path in verdict_paths:
        record = read_json(path)
        main = record["metrics"][0]
        rows.append(
            {
                "task": record["task"],
                "submission": record["submission"],
                "metric": main["metric"],
                "claimed": main["claimed"],
                "claimed_split": main["claimed_split"],
                "tolerance": main["tolerance"],
                "reproduced": main["reproduced"],
                "difference": main["difference"],
                **{f"band_{k}": main["band"].get(k) for k in BAND_KEYS},
                "verdict": record["verdict"],
                "score_verdict": record.get("score_verdict", main["verdict"]),
                "bit_identical_expected": _blank((record.get("environments") or {}).get("bit_identical_expected")),
                "problems": "; ".join(
                    record.get("submission_problems", [])
                    + [f"{name}: {p}" for name, audit in record["audits"].items() for p in audit.get("problems", [])]
                    + [f"{r.get('limit')} limit: {r.get('detail')}" for r in record.get("resource_limits", [])]
                ),
                "reason": record.get("reason", ""),
                "determinism": record["determinism"]["level"],
                # empty for external submissions: their inference was run once, not repeated
                "inference_identical": all(identical.values()) if (identical := record["determinism"]["inference_identical"]) else "",
                "audits": audit_summary(record["audits"]),
                **{k: record["efficiency"][k] for k in ("parameters", "flops_per_sample", "train_wall_seconds", "inference_samples_per_s")},
                "provenance_digest": record["provenance"]["digest"],
                "code_version": _code(record["provenance"]["code_version"]),
                "data_manifest_digest": record["provenance"]["data_manifest_digest"],
                "spec_digest": record["provenance"]["spec_digest"],
                "scale": (record.get("spec") or {}).get("scale", "full"),
                "edition": edition_text(record.get("edition")),
            }
        )
    return sorted(rows, key=lambda r: (r["task"], r["submission"]))


def edition_text(edition: dict | None) -> str:
    """`2022 (toolkit 8490d7a)`, or empty for a task of one edition."""
    return "" if not edition else f"{edition['edition']} (toolkit {edition['toolkit_commit'][:7]})"


def _blank(value):
    return "" if value is None else value


def audit_summary(audits: dict) -> str:
    failed = [name for name, audit in audits.items() if not audit["passed"]]
    return "passed" if not failed else "FAILED: " + "; ".join(failed)


def _code(version: dict | None) -> str:
    if not version:
        return ""
    return version["commit"][:12] + ("+dirty" if version.get("dirty") else "")


def write_csv(rows: list[dict], out: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(out, buffer.getvalue())
