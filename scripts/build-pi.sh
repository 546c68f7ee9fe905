#!/usr/bin/env bash
# Builds petcam for the Raspberry Pi with the `pi` profile (release, dependencies optimised for
# size; see Cargo.toml): aarch64 (Pi 3/4/5, Zero 2 W with 64-bit OS) and armv7 (32-bit Raspberry
# Pi OS). Binaries land in target/<target>/pi/petcam. Uses `cross` when available, else Debian's cross toolchains
# (see .cargo/config.toml). Prints the binary sizes. With --deb, also packages each build as a
# .deb (needs `cargo install cargo-deb`; the package is described in Cargo.toml).
#   scripts/build-pi.sh [aarch64|armv7|all] [--deb]
set -euo pipefail
cd "$(dirname "$0")/.."
which=all
deb=0
for a in "$@"; do
  case "$a" in
    --deb) deb=1 ;;
    *) which=$a ;;
  esac
done
if [ "$deb" = 1 ] && ! cargo deb --version >/dev/null 2>&1; then
  echo "build-pi: --deb needs cargo-deb (cargo install cargo-deb)" >&2; exit 2
fi
targets=()
case "$which" in
  aarch64) targets=(aarch64-unknown-linux-gnu) ;;
  armv7) targets=(armv7-unknown-linux-gnueabihf) ;;
  all) targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf) ;;
  *) echo "build-pi: unknown target '$which' (aarch64, armv7, all)" >&2; exit 2 ;;
esac
for t in "${targets[@]}"; do
  if command -v cross >/dev/null && { command -v docker >/dev/null || command -v podman >/dev/null; } && [ -z "${PETCAM_NO_CROSS:-}" ]; then
    cross build --profile pi --target "$t" --bin petcam
  else
    rustup target add "$t" >/dev/null
    cargo build --profile pi --target "$t" --bin petcam
  fi
done
for t in "${targets[@]}"; do
  f=target/$t/pi/petcam
  b=$(stat -c %s "$f")
  printf '%-34s %6.2f MB (%s bytes)  %s\n' "$t" "$(echo "$b / 1000000" | bc -l)" "$b" "$f"
done
if [ "$deb" = 1 ]; then
  for t in "${targets[@]}"; do
    # --no-build: the binary built above; cargo-deb strips nothing (the profile already did).
    cargo deb --no-build --no-strip --target "$t" --profile pi --output target/debian/
  done
  ls -la target/debian/*.deb
fi
