#!/usr/bin/env bash
# Create ./.venv (if missing) and install digitcam with the given extras.
# Usage: scripts/setup.sh EXTRAS   e.g. scripts/setup.sh edge   or   scripts/setup.sh all
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-edge}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    # --system-site-packages lets a Raspberry Pi use picamera2 from the OS packages.
    "$python" -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
