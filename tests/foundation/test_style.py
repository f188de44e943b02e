"""House style is checked, not hoped for: ruff (lint and format) and snakefmt stay clean.

The tools and their versions come from requirements.lock; their settings from pyproject.toml.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    """A console script installed beside this interpreter (scripts/install.sh puts it there)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}: run scripts/install.sh (it is pinned in requirements.lock)")
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", [("check",), ("format", "--check")], ids=["lint", "format"])
def test_ruff_is_clean(command):
    result = run(tool("ruff"), *command, ".")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_snakefmt_is_clean():
    result = run(tool("snakefmt"), "--check", "Snakefile", "rules")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_style_check_fails_on_a_badly_formatted_file(tmp_path):
    """The checks above can fail: an unformatted file with an unused import is refused by both ruff commands."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nx = {  'a':1 }\n")
    settings = ("--config", str(REPO / "pyproject.toml"))
    assert run(tool("ruff"), "check", *settings, str(bad)).returncode != 0
    assert run(tool("ruff"), "format", "--check", *settings, str(bad)).returncode != 0
