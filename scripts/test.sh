#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the Python packages (all extras) and
# the MQTT broker the tests start (Debian's mosquitto), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
    $apt_get update -qq && DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq mosquitto >/dev/null
fi
scripts/setup.sh all
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
