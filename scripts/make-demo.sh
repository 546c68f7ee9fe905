#!/usr/bin/env bash
# Rebuilds demo/ from scikit-image's CC0 / public-domain sample pictures (PyPI wheel): the images
# the CLI tests classify and the recordings `petcam demo` replays. Needs a built petcam.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" scikit-image
python3 - "$tmp" <<'PY'
import sys, zipfile, glob
tmp = sys.argv[1]
wheel = glob.glob(tmp + "/scikit_image-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for n in ("chelsea", "coffee", "astronaut"):
        z.extract(f"skimage/data/{n}.png", tmp)
PY
mkdir -p demo/images demo/recordings
cp "$tmp/skimage/data/chelsea.png" "$tmp/skimage/data/coffee.png" demo/images/
petcam=${PETCAM:-target/release/petcam}
[ -x "$petcam" ] || cargo build --release
rm -rf demo/recordings/*
"$petcam" record demo/recordings/1-coffee-cup --images "$tmp/skimage/data/coffee.png" --frames-per-image 6
"$petcam" record demo/recordings/2-person --images "$tmp/skimage/data/astronaut.png" --frames-per-image 6
"$petcam" record demo/recordings/3-cat --images "$tmp/skimage/data/chelsea.png" --frames-per-image 6
for d in demo/recordings/*/; do
  python3 - "$d" <<'PY'
import json, sys
p = sys.argv[1] + "recording.json"
r = json.load(open(p))
notes = {"1-coffee-cup": ("no_pet", "a coffee cup on a table (CC0, Rachel Michetti)"),
         "2-person": ("no_pet", "a person: NASA astronaut portrait (public domain)"),
         "3-cat": ("a cat breed or not sure", "Chelsea the cat, a tabby (CC0, Stefan van der Walt)")}
name = sys.argv[1].rstrip("/").split("/")[-1]
r["expected"], r["note"] = notes[name]
json.dump(r, open(p, "w"), indent=2)
PY
done
du -sh demo
