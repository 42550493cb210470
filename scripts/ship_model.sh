#!/usr/bin/env bash
# Turn a finished training run into the models/ the product ships:
#   models/digitcam-int8/            the int8 bundle the edge runtime loads by default
#   models/digitcam-int8.variants/   float32 / float16 / dynamic / one-member comparisons
#   models/keras/                    the Keras members (inference copies)
#   models/gate.keras                the "not a digit" gate, for a run made with --gate
#   models/report.json, models/plots/  the training report and its plots
# Usage: scripts/ship_model.sh runs/full [WALL_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:?usage: scripts/ship_model.sh RUN_DIR [WALL_SECONDS]}"
wall="${2:-}"
.venv/bin/digitcam -v convert "$run" -o models/digitcam-int8
rm -f models/digitcam-int8.variants/int8.tflite   # the same bytes as the bundle's model
mkdir -p models/keras models/plots
for member in "$run"/member*/; do
    cp "$member/model.keras" "models/keras/$(basename "$member").keras"
done
cp "$run"/*.png models/plots/
if [ -f "$run/gate/model.keras" ]; then   # a "not a digit" gate beside the members
    cp "$run/gate/model.keras" models/gate.keras
fi
.venv/bin/python - "$run" "$wall" <<'PY'
import json, sys
from pathlib import Path
run, wall = Path(sys.argv[1]), sys.argv[2]
report = json.loads((run / "report.json").read_text())
if wall:
    report["wall_seconds"] = float(wall)
Path("models/report.json").write_text(json.dumps(report, indent=2))
PY
.venv/bin/python -c "import json; print('shipped', json.load(open('models/digitcam-int8/manifest.json'))['version'])"
