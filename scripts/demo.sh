#!/usr/bin/env bash
# The main job on a fresh machine: install the edge runtime (numpy, OpenCV, LiteRT; no
# TensorFlow) and read the shipped sample frames with the shipped int8 model.
# Prints one JSON object per frame and writes annotated frames to out/annotated/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh edge
mkdir -p out
.venv/bin/digitcam run --source samples/ --jsonl --jsonl-file out/samples.jsonl \
    --save-annotated out/annotated "$@"
.venv/bin/digitcam evaluate out/samples.jsonl samples/labels.jsonl >&2
echo "annotated frames: out/annotated/" >&2
