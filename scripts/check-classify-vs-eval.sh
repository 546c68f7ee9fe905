#!/usr/bin/env bash
# The device's answer and the trainer's must be the same, image by image: runs
# `petcam classify --json` over the Oxford test photos of ../shared/datasets/pets and
# `petcam-trainer eval --split test --per-image` with the same model, and compares the top breed
# of every photo (and the probabilities, to 1e-4).
#   scripts/check-classify-vs-eval.sh [MODEL] [DATA]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/petcam-effnet-lite0-96-f32.onnx}
data=${2:-../shared/datasets/pets}
petcam=${PETCAM_BIN:-target/release/petcam}
trainer=${TRAINER_BIN:-target/trainer/petcam-trainer}
[ -x "$petcam" ] || cargo build --release --bin petcam
[ -x "$trainer" ] || cargo build --profile trainer -p petcam-trainer
out=target/classify-vs-eval
mkdir -p "$out"
python3 - "$data" > "$out/files.txt" <<'PY'
import csv, os, sys
root = sys.argv[1]
for r in csv.DictReader(open(os.path.join(root, "manifest.csv"))):
    if r["split"] == "test" and r["file"].startswith("oxford-iiit-pet/"):
        print(os.path.join(root, r["file"]))
PY
xargs -a "$out/files.txt" -d '\n' "$petcam" classify --json --model "$model" --log warn > "$out/classify.jsonl"
"$trainer" eval --data "$data" --model "$model" --split test --per-image 2>/dev/null | grep '^{' > "$out/eval.jsonl"
python3 - "$out/classify.jsonl" "$out/eval.jsonl" <<'PY'
import json, os, sys
dev = {os.path.realpath(j["path"]): j for j in map(json.loads, open(sys.argv[1]))}
tr = {os.path.realpath(j["path"]): j for j in map(json.loads, open(sys.argv[2]))}
common = sorted(set(dev) & set(tr))
same = sum(dev[p]["label"] == tr[p]["breed"] for p in common)
maxd = max(abs(dev[p]["probability"] - tr[p]["probability"]) for p in common) if common else float("nan")
print(f"{len(dev)} photos classified by petcam, {len(tr)} evaluated by the trainer, {len(common)} in both")
print(f"same top breed: {same}/{len(common)}; max |probability difference| {maxd:.2e}")
for p in common:
    if dev[p]["label"] != tr[p]["breed"]:
        print(f"  differs: {p}: petcam {dev[p]['label']} vs trainer {tr[p]['breed']}")
sys.exit(0 if common and same == len(common) and len(common) == len(dev) == len(tr) and maxd < 1e-4 else 1)
PY
