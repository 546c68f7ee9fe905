#!/usr/bin/env bash
# Writes the recorded-frame test fixtures (made from ../shared/datasets at test time, never
# committed) into target/test-recordings for a look by hand: `petcam replay` them, or open the frames.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --example make-test-recordings -- "${1:-target/test-recordings}"
