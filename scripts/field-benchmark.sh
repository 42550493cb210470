#!/usr/bin/env bash
# Regenerate the README's field-scene section on this machine (one command).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
.venv/bin/python scripts/field_benchmark.py --readme README.md "$@"
