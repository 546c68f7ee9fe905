#!/usr/bin/env bash
# The same ONNX files in onnxruntime (PyPI, CPU, 1 intra-op thread) and in petcam's tract path
# (`petcam bench`, 1 thread), on the same input, alternating over several rounds so that drift
# on a shared machine hits all: petcam as it ships (its own depthwise op, and on x86_64 its own f32
# 1x1 op), tract's own ops throughout (`--depthwise tract --pointwise tract`), onnxruntime.
# Prints, per model variant, the median of the per-round medians and the ratios to ORT, and
# checks the runtimes' logits agree.
#
#   scripts/bench-vs-onnxruntime.sh [ROUNDS] [RUNS]        (defaults 7 rounds x 300 runs)
#
# Variants: the default model (or MODEL=...), plus an int8 QDQ copy of the f32 model made by onnxruntime's
# quantize_static (calibrated on the demo pictures), since no int8 model ships yet (see
# models/MODEL_CARD.md). Needs python3 with venv; installs onnxruntime into target/ort-venv.
# Environment: PETCAM_BIN (default: target/release/petcam, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
runs=${2:-300}
work=target/bench-ort
mkdir -p "$work"

venv=target/ort-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import onnxruntime, onnx, numpy' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q onnxruntime==1.32.0 onnx numpy
fi
py="$venv/bin/python scripts/ort_bench.py"

bin=${PETCAM_BIN:-target/release/petcam}
[ -x "$bin" ] || cargo build --release --bin petcam
# The app's default model (models/ also holds models of other input sizes; the inputs below are
# made for this one). MODEL= picks another.
f32=${MODEL:-models/$(grep -o 'DEFAULT_MODEL_FILE: &str = "[^"]*"' src/config.rs | cut -d'"' -f2)}

# Inputs: the demo pictures through petcam's own preprocessing.
inputs=()
for img in demo/images/*.png; do
  out="$work/$(basename "$img" .png).f32"
  "$bin" bench --model "$f32" --image "$img" --runs 1 --warmup 0 --dump-input "$out" --log warn >/dev/null
  inputs+=("$out")
done
input=${inputs[0]}

models=("$f32")
int8="$work/$(basename "$f32" -f32.onnx)-ort-int8-qdq.onnx"
[ -f "$int8" ] || $py quantize "$f32" "$int8" "${inputs[@]}" >/dev/null 2>"$work/quantize.log" || { echo "quantize failed, see $work/quantize.log" >&2; int8=; }
[ -n "$int8" ] && models+=("$int8")

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "onnxruntime $("$venv/bin/python" -c 'import onnxruntime; print(onnxruntime.__version__)'), petcam $("$bin" --version | cut -d' ' -f2) (tract-onnx)"
echo "$rounds rounds x $runs runs per runtime and model, alternating; input $(basename "$input" .f32)"
printf '\n%-44s %10s %10s %10s %12s %12s %10s\n' model "petcam ms" "tract ms" "ORT ms" "petcam/ORT" "tract/ORT" "max |dz|"
median_of() { "$venv/bin/python" -c 'import json,sys; d=json.load(sys.stdin); print(d["inference"]["median_ms"] if "inference" in d else d["median_ms"])'; }
for m in "${models[@]}"; do
  t=(); u=(); o=()
  for r in $(seq "$rounds"); do
    tj=$("$bin" bench --model "$m" --input-raw "$input" --runs "$runs" --warmup 20 --json --log warn)
    uj=$("$bin" bench --model "$m" --input-raw "$input" --runs "$runs" --warmup 20 --json --log warn --depthwise tract --pointwise tract)
    oj=$($py time "$m" "$input" "$runs" 20)
    t+=("$(echo "$tj" | median_of)"); u+=("$(echo "$uj" | median_of)"); o+=("$(echo "$oj" | median_of)")
  done
  "$venv/bin/python" - "$m" "$tj" "$oj" "${t[*]}" "${u[*]}" "${o[*]}" <<'PY'
import json, os, statistics, sys
m, tj, oj, t, u, o = sys.argv[1:7]
t, u, o = (statistics.median(map(float, v.split())) for v in (t, u, o))
a = json.loads(tj)["logits"]; b = json.loads(oj)["logits"]
d = max(abs(x - y) for x, y in zip(a, b))
print(f"{os.path.basename(m):<44} {t:>10.3f} {u:>10.3f} {o:>10.3f} {t / o:>11.2f}x {u / o:>11.2f}x {d:>10.2e}")
PY
done
