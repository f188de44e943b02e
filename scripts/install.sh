#!/usr/bin/env bash
# Install everything viprepro needs into .venv (idempotent; a second run only checks).
# Needs Python 3.11 with venv and pip; nothing else of ours. No conda, no containers.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"viprepro needs Python 3.11, found {sys.version.split()[0]}"'

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.viprepro-installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "install: .venv is up to date"
    exit 0
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.lock
.venv/bin/python -m pip install --quiet --no-deps -e .
.venv/bin/python -m pip check
echo "$want" > "$stamp"
echo "install: done ($(.venv/bin/python -c 'import torch, snakemake, mlflow; print(f"torch {torch.__version__}, snakemake {snakemake.__version__}, mlflow {mlflow.__version__}")'))"
