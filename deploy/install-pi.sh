#!/usr/bin/env bash
# Install digitcam as a service on 64-bit Raspberry Pi OS (Bookworm or later). Run as root
# from a checkout of the repository. picamera2 comes from the OS packages, so the
# virtualenv sees the system site-packages.
set -euo pipefail
apt-get update
apt-get install -y python3-venv python3-picamera2
id digitcam >/dev/null 2>&1 || useradd --system --create-home --groups video digitcam
mkdir -p /opt/digitcam /etc/digitcam /var/lib/digitcam
cp -r edge calibration train convert models samples pyproject.toml README.md /opt/digitcam/
python3 -m venv --system-site-packages /opt/digitcam/.venv
/opt/digitcam/.venv/bin/pip install -e "/opt/digitcam[edge,mqtt,serial,sign]"
[ -f /etc/digitcam/digitcam.toml ] || cp deploy/digitcam.example.toml /etc/digitcam/digitcam.toml
/opt/digitcam/.venv/bin/digitcam run --config /etc/digitcam/digitcam.toml --check-config
chown -R digitcam:digitcam /var/lib/digitcam
cp deploy/digitcam.service /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now digitcam
