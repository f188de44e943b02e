"""Writing a score folder: the official text file and scores.json, each written atomically.

The folder itself may be the user's (`viprepro score --out DIR`): only the two files are
replaced, nothing else in it is touched.
"""

from __future__ import annotations

from pathlib import Path

from viprepro.files.fileio import write_json, write_text


def write_scores(out: str | Path, text_name: str, text: str, scores: dict) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "scores.json", scores)
    write_text(out / text_name, text)


def scored_submission_digest(submission: str | Path) -> str | None:
    """sha256 of the file (or folder listing) that was scored; None when it does not exist."""
    from viprepro.files.fileio import sha256_file

    path = Path(submission)
    return sha256_file(path) if path.is_file() else None


def refused_scores(error, submission: str | Path, *, task: str, mode: str, submission_sha256: str | None) -> dict | None:
    """The scores record of a submission that validation refused, or None if `error` is not about it.

    A `ValidationFailed` keeps every problem; any other `UserError` naming the submission
    (unreadable, not a zip, not JSON) is one problem. An error about another file (the ground
    truth, a manifest) is not the submission's fault: None, and the job fails.
    """
    from viprepro.errors import ValidationFailed

    problems = getattr(error, "problems", None) if isinstance(error, ValidationFailed) else None
    if problems is None:
        if error.path is None or Path(error.path).resolve() != Path(submission).resolve():
            return None
        problems = [f"{error.where}: {error.problem}" if error.where else error.problem]
    return {"task": task, "mode": mode, "status": "invalid", "problems": list(problems), "submission_sha256": submission_sha256}


def placeholder_scores(submission: str | Path, *, task: str, mode: str) -> dict | None:
    """The scores record of a submission file the participant's step never wrote, or None.

    When an external step hits a resource limit or fails an audit, the step writes an empty
    placeholder file and marks its record (`placeholder: true`, see viprepro.external.jobs).
    Scoring that empty file would turn the verdict into `invalid_submission`; instead the
    record says why there is no score, and the verdict judges the limit or the audit.
    """
    from viprepro.files.fileio import read_json

    record_path = Path(f"{submission}.record.json")
    if not record_path.is_file():
        return None
    record = read_json(record_path)
    if not record.get("placeholder"):
        return None
    why = record.get("skipped") or "the participant's step did not write it"
    return {"task": task, "mode": mode, "status": "not_run", "problems": [], "reason": why, "submission_sha256": None}
