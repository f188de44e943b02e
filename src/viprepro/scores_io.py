"""Writing a score folder: the official text file and scores.json, each written atomically.

The folder itself may be the user's (`viprepro score --out DIR`): only the two files are
replaced, nothing else in it is touched.
"""

from __future__ import annotations

from pathlib import Path

from .fileio import write_json, write_text


def write_scores(out: str | Path, text_name: str, text: str, scores: dict) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "scores.json", scores)
    write_text(out / text_name, text)
