#!/usr/bin/env bash
# What an aarch64 petcam binary costs on a Pi 4, without a Pi: file size, and instructions counted
# by qemu's instruction-count plugin (cortex-a72) for the model load, one inference and one whole
# replayed camera frame (MJPEG decode, crop, resize, inference, decision). Needs qemu-insn
# (../shared/tools/qemu-insn-setup.sh; QEMU_INSN overrides its path). docs/PERFORMANCE.md.
#   scripts/arm-cost.sh [BINARY]     default target/aarch64-unknown-linux-gnu/pi/petcam
#   MODEL=models/other.onnx scripts/arm-cost.sh    another model than the app's default
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/aarch64-unknown-linux-gnu/pi/petcam}
qemu=${QEMU_INSN:-/opt/qemu-insn/qemu-insn}
[ -x "$bin" ] || { echo "arm-cost: $bin not found (scripts/build-pi.sh aarch64)" >&2; exit 2; }
[ -x "$qemu" ] || { echo "arm-cost: $qemu not found (../shared/tools/qemu-insn-setup.sh)" >&2; exit 2; }
model=${MODEL:-models/$(grep -o 'DEFAULT_MODEL_FILE: &str = "[^"]*"' src/config.rs | cut -d'"' -f2)}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
insns() { "$qemu" -cpu cortex-a72 -o "$log" "$bin" "$@" --log warn >/dev/null 2>&1; grep -o '[0-9]*' "$log" | tail -1; }
# `bench --runs N --warmup 0` loads the model and runs N + 1 inferences.
b1=$(insns bench --runs 1 --warmup 0 --model "$model" --image demo/images/chelsea.png)
b11=$(insns bench --runs 11 --warmup 0 --model "$model" --image demo/images/chelsea.png)
f1=$(insns replay demo/recordings/3-cat --display none --frames 1 --quiet --model "$model")
f6=$(insns replay demo/recordings/3-cat --display none --frames 6 --quiet --model "$model")
printf '%s: %s bytes (xz %s); instructions: load + 2 inferences %.1f M, per inference %.2f M, per replayed frame %.2f M\n' \
  "$bin" "$(stat -c %s "$bin")" "$(xz -c "$bin" | wc -c)" "$(echo "$b1 / 1000000" | bc -l)" \
  "$(echo "($b11 - $b1) / 10000000" | bc -l)" "$(echo "($f6 - $f1) / 5000000" | bc -l)"
