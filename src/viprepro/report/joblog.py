"""The commands that produced a submission's results, from Snakemake's own job records.

Snakemake keeps, per output file, a JSON record under `.snakemake/metadata/` (the file name
is the output path in URL-safe base64): the rule, the exact shell command, start and end
time. Reading it is the only way to show the commands as they really ran; when the records
are not there (results copied elsewhere, a different executor) the certificate says so.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

METADATA = Path(".snakemake") / "metadata"


def job_commands(workdir: Path, outputs: list[Path]) -> list[dict]:
    """One entry per job that wrote one of `outputs` (paths relative to `workdir`), in start order."""
    jobs: dict[tuple, dict] = {}
    for output in outputs:
        relative = Path(output)
        if relative.is_absolute():
            try:
                relative = relative.relative_to(Path(workdir).resolve())
            except ValueError:
                continue
        record_path = Path(workdir) / METADATA / base64.urlsafe_b64encode(relative.as_posix().encode()).decode()
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not record.get("shellcmd"):
            continue
        key = (record.get("rule"), record.get("shellcmd"))
        entry = jobs.setdefault(
            key,
            {
                "rule": record.get("rule"),
                "command": record["shellcmd"].strip(),
                "start": record.get("starttime"),
                "end": record.get("endtime"),
                "outputs": [],
            },
        )
        entry["outputs"].append(relative.as_posix())
    return sorted(jobs.values(), key=lambda job: job["start"] or 0)
