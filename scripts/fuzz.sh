#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for a while and reports executions, coverage and
# findings per target. Crash inputs are copied to fuzz/regressions/<target>/, where the test suite
# replays them (tests/fuzz_regressions.rs) so a fixed crash stays fixed.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 300 s, all targets)
#
# Needs the nightly toolchain (rustup toolchain install nightly) and cargo-fuzz
# (cargo install cargo-fuzz). Seed corpora come from the bundled demo recordings and pictures, the
# shipped models and, when present, the test recordings made from ../shared (target/test-recordings);
# the corpora live in target/fuzz-corpus, never in git.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls fuzz/fuzz_targets | sed 's/\.rs$//'))
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }
corpus=target/fuzz-corpus
log=target/fuzz-logs
mkdir -p "$log"

# Seeds, in each target's input layout (see src/fuzzing.rs).
seed() { # seed TARGET NAME < bytes
  mkdir -p "$corpus/$1"; cat > "$corpus/$1/$2"
}
le16() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $(($1 >> 8)))"; }
# Frame seeds: small recordings (64x48) made from the demo cat, since small frames run hundreds of
# times faster under the sanitizer than 640x480 ones; FUZZ_BIG_SEEDS=1 adds the demo and test
# recordings (640x480) as well.
recs=()
if [ -n "${FUZZ_BIG_SEEDS:-}" ]; then
  recs=(demo/recordings/*/)
  [ -d target/test-recordings ] && recs+=(target/test-recordings/*/)
fi
petcam=${PETCAM_BIN:-$(ls -t target/release/petcam target/debug/petcam 2>/dev/null | head -1)}
if [ -n "$petcam" ]; then
  for f in mjpeg yuyv; do
    for img in demo/images/*.png; do
      d=target/fuzz-seeds/$(basename "$img" .png)-$f
      [ -d "$d" ] || "$petcam" record "$d" --images "$img" --frames-per-image 1 --format "$f" --width 64 --height 48 >/dev/null
      recs+=("$d/")
    done
  done
fi
for rec in "${recs[@]}"; do
  name=$(basename "$rec")
  side=$rec/recording.json
  first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["frames"][0]["file"])' "$side")
  fmt=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["format"], d["width"], d["height"])' "$side")
  read -r f w h <<<"$fmt"
  code=$(case $f in mjpeg) echo 0;; yuyv) echo 1;; *) echo 2;; esac)
  { printf "\\x0$code"; le16 "$w"; le16 "$h"; cat "$rec/$first"; } | seed camera_frame "$name"
  [ "$f" = yuyv ] && { le16 "$w"; le16 "$h"; cat "$rec/$first"; } | seed yuyv_frame "$name"
  { cat "$side"; printf '\0'; cat "$rec/$first"; } | seed recording "$name"
done
# A YUYV seed even when no recording is YUYV: the demo cat at 64x48.
{ le16 64; le16 48; head -c $((64 * 48 * 2)) /dev/urandom; } | seed yuyv_frame random-64x48
for img in demo/images/*; do seed image_file "$(basename "$img")" < "$img"; done
for m in models/*.onnx; do
  seed model_file "$(basename "$m")" < "$m"
  python3 - "$m" <<'PY' | seed metadata "$(basename "$m").json"
import sys
b = open(sys.argv[1], "rb").read()
i = b.find(b'{"format_version"')
s = b[i:]
depth = 0
for k, c in enumerate(s):
    depth += {ord("{"): 1, ord("}"): -1}.get(c, 0)
    if depth == 0:
        sys.stdout.buffer.write(s[:k + 1]); break
PY
done

# "cov growth" is edge coverage after loading the corpus > at 75% of the run's executions > at the
# end: a plateau shows as the last two nearly equal; a run still climbing, as a clear rise.
printf '%-14s %12s %10s %8s %9s %16s  %s\n' target executions "exec/s" cov features "cov growth" findings
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t" "fuzz/artifacts/$t"
  # model_file runs tract's optimiser on each input: more memory and time per input, and inputs as
  # large as the shipped model. The others: inputs up to 32 KiB (small frames, fast executions).
  if [ "$t" = model_file ]; then extra=(-rss_limit_mb=4096 -timeout=60); else extra=(-max_len=32768 -timeout=20); fi
  cargo +nightly fuzz run "$t" "$corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" "${extra[@]}" >"$log/$t.log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log/$t.log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log/$t.log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log/$t.log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log/$t.log" | tail -1 | cut -d' ' -f2)
  growth=$(python3 - "$log/$t.log" <<'PY'
import re, sys
pts = [(int(m[1]), m[2], int(m[3])) for m in (re.match(r"#(\d+)\s+(\w+)\s+cov: (\d+)", l) for l in open(sys.argv[1], errors="replace")) if m]
inited = [p for p in pts if p[1] == "INITED"]
if not inited or pts[-1][0] <= inited[0][0]:
    print("?")
    sys.exit()
start, end = inited[0][0], pts[-1][0]
at = lambda f: [c for n, _, c in pts if n <= start + (end - start) * f][-1]
print(f"{at(0)}>{at(0.75)}>{at(1)}")
PY
)
  found=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  if [ "$found" -gt 0 ]; then
    mkdir -p "fuzz/regressions/$t"
    cp "fuzz/artifacts/$t"/* "fuzz/regressions/$t/"
  fi
  printf '%-14s %12s %10s %8s %9s %16s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$growth" "$found (log: $log/$t.log)"
done
