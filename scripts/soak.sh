#!/usr/bin/env bash
# Soak test: replays a recording in a loop through the whole device pipeline (decode, preprocess,
# classify, decide, render) for N frames at full speed, sampling the process's resident memory and
# open file descriptors once a second. Prints start (after warm-up), peak and end of both, and with
# --check fails when memory grew by more than MAX_GROWTH_MB, or when open descriptors rose more than
# FD_SLACK above the start (a frame file or PNG open at the moment of a sample is one transient
# descriptor; a leak of one per 5,000 frames still fails a 10,000-frame run).
#
#   scripts/soak.sh [FRAMES] [--check] [--recording DIR] [--display none|png:DIR]
#       FRAMES default 1000000; MAX_GROWTH_MB (env) default 8; FD_SLACK (env) default 1;
#       PETCAM_BIN default target/release/petcam
#
# Samples go to target/soak/samples.csv (seconds, rss_kb, fds).
set -euo pipefail
cd "$(dirname "$0")/.."
frames=1000000 check=0 rec=demo/recordings/3-cat display=none
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=1 ;;
    --recording) rec=$2; shift ;;
    --display) display=$2; shift ;;
    [0-9]*) frames=$1 ;;
    *) echo "soak: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
max_growth_mb=${MAX_GROWTH_MB:-8}
fd_slack=${FD_SLACK:-1}
bin=${PETCAM_BIN:-target/release/petcam}
[ -x "$bin" ] || cargo build --release --bin petcam
out=target/soak
mkdir -p "$out"
csv=$out/samples.csv
echo "seconds,rss_kb,fds" > "$csv"

"$bin" replay "$rec" --loop --frames "$frames" --quiet --display "$display" --log warn > "$out/summary.txt" 2> "$out/stderr.txt" &
pid=$!
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
  [ -n "$rss" ] && echo "$(( $(date +%s) - t0 )),$rss,$fds" >> "$csv"
  sleep 1
done
wait "$pid" || { echo "soak: petcam failed:"; cat "$out/stderr.txt"; exit 1; }
cat "$out/summary.txt"

# Start = the first sample after 10% of the run (model loaded, buffers sized); end = the last.
python3 - "$csv" "$check" "$max_growth_mb" "$fd_slack" <<'PY'
import csv, sys
rows = [(int(r["seconds"]), int(r["rss_kb"]), int(r["fds"])) for r in csv.DictReader(open(sys.argv[1]))]
check, bound, fd_slack = sys.argv[2] == "1", float(sys.argv[3]), int(sys.argv[4])
if len(rows) < 3:
    sys.exit(f"soak: only {len(rows)} samples; run more frames")
warm = [r for r in rows if r[0] >= rows[-1][0] * 0.1] or rows
start, end = warm[0], rows[-1]
peak_rss, peak_fds = max(r[1] for r in warm), max(r[2] for r in warm)
print(f"{len(rows)} samples over {rows[-1][0]} s")
print(f"RSS MB  start {start[1]/1024:.1f}  peak {peak_rss/1024:.1f}  end {end[1]/1024:.1f}  growth {(end[1]-start[1])/1024:+.1f}")
print(f"fds     start {start[2]}  peak {peak_fds}  end {end[2]}")
if check:
    bad = []
    if (peak_rss - start[1]) / 1024 > bound:
        bad.append(f"memory grew {(peak_rss - start[1])/1024:.1f} MB (> {bound} MB)")
    if peak_fds > start[2] + fd_slack:
        bad.append(f"open file descriptors grew: start {start[2]}, peak {peak_fds}, end {end[2]}"
                   f" (allowed: up to start + {fd_slack})")
    if bad:
        sys.exit("soak FAILED: " + "; ".join(bad))
    print(f"soak passed: memory flat within {bound} MB, descriptors flat (peak within start + {fd_slack})")
PY
