#!/usr/bin/env bash
# Regenerate the README's performance section on this machine (one command).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
.venv/bin/python scripts/benchmark.py --readme README.md "$@"
