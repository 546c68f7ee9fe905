#!/usr/bin/env bash
# What an aarch64 petcam binary costs on a Pi 4, without a Pi: file size, and instructions counted
# by qemu's instruction-count plugin (cortex-a72) for the model load, one inference and one whole
# replayed camera frame (MJPEG decode, locate, crop, resize, inference, decision: frames 2-13 of a
# looped replay, so the activation locator's search every 6th frame is in the mean). Needs qemu-insn
# (../shared/tools/qemu-insn-setup.sh; QEMU_INSN overrides its path). docs/PERFORMANCE.md.
#   scripts/arm-cost.sh [BINARY]     default target/aarch64-unknown-linux-gnu/pi/petcam
#   MODEL=models/other.onnx scripts/arm-cost.sh    another model than the app's default
#   LOCATOR=centre scripts/arm-cost.sh              another locate stage than the default
#   CPU=cortex-a76 MODEL=models/petcam-effnet-lite0-96-int8.onnx scripts/arm-cost.sh   a Pi 5 running the int8 model
#   REC=path/to/recording scripts/arm-cost.sh        frames from another recording (e.g. a larger capture size)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/aarch64-unknown-linux-gnu/pi/petcam}
qemu=${QEMU_INSN:-/opt/qemu-insn/qemu-insn}
[ -x "$bin" ] || { echo "arm-cost: $bin not found (scripts/build-pi.sh aarch64)" >&2; exit 2; }
[ -x "$qemu" ] || { echo "arm-cost: $qemu not found (../shared/tools/qemu-insn-setup.sh)" >&2; exit 2; }
cpu=${CPU:-cortex-a72}
model=${MODEL:-$("$qemu" -cpu "$cpu" "$bin" info --log warn | awk '$1 == "model" { print $2; exit }')}
rec=${REC:-demo/recordings/3-cat}
loc=()
[ -n "${LOCATOR:-}" ] && loc=(--locator "$LOCATOR")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
insns() { "$qemu" -cpu "$cpu" -o "$log" "$bin" "$@" --log warn >/dev/null 2>&1; grep -o '[0-9]*' "$log" | tail -1; }
# `bench --runs N --warmup 0` loads the model and runs N + 1 inferences.
b1=$(insns bench --runs 1 --warmup 0 --model "$model" --image demo/images/chelsea.png)
b11=$(insns bench --runs 11 --warmup 0 --model "$model" --image demo/images/chelsea.png)
f1=$(insns replay "$rec" --loop --display none --frames 1 --quiet --model "$model" "${loc[@]}")
f13=$(insns replay "$rec" --loop --display none --frames 13 --quiet --model "$model" "${loc[@]}")
printf '%s on %s, %s (locator %s, %s): %s bytes (xz %s); instructions: load + 2 inferences %.1f M, per inference %.2f M, per replayed frame %.2f M\n' \
  "$bin" "$cpu" "$(basename "$model")" "${LOCATOR:-default}" "$rec" "$(stat -c %s "$bin")" "$(xz -c "$bin" | wc -c)" "$(echo "$b1 / 1000000" | bc -l)" \
  "$(echo "($b11 - $b1) / 10000000" | bc -l)" "$(echo "($f13 - $f1) / 12000000" | bc -l)"
