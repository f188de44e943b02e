"""detection_delftbikes' scoring path keeps torch out of the process, as every task's must
(the check and its failing case are tests/foundation/test_scoring_without_torch.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from foundation.test_scoring_without_torch import SCRIPT


def test_scoring_path_imports_no_torch(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, "detection_delftbikes", str(tmp_path / "missing")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []
