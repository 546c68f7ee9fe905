#!/usr/bin/env bash
# Installs petcam on a Raspberry Pi as a kiosk service. Run on the Pi as root from an unpacked
# release (binary + models/ + scripts/), or from a checkout after scripts/build-pi.sh:
#   sudo scripts/install-pi.sh [--binary PATH] [--enable-spi] [--display st7789|ili9341|fb]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=""
enable_spi=0
display=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --enable-spi) enable_spi=1; shift ;;
    --display) display=$2; shift 2 ;;
    *) echo "install-pi: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "install-pi: run as root (sudo)" >&2; exit 1; }
if [ -z "$binary" ]; then
  case "$(uname -m)" in
    aarch64) binary=target/aarch64-unknown-linux-gnu/pi/petcam ;;
    armv7l) binary=target/armv7-unknown-linux-gnueabihf/pi/petcam ;;
    *) binary=target/release/petcam ;;
  esac
fi
[ -x "$binary" ] || { echo "install-pi: $binary not found (build with scripts/build-pi.sh, or pass --binary)" >&2; exit 1; }
models=$(cd models && echo *.onnx)
install -m 0755 "$binary" /usr/local/bin/petcam
install -d /usr/share/petcam
install -m 0644 models/*.onnx /usr/share/petcam/
[ -f /etc/petcam.toml ] || install -m 0644 scripts/petcam.toml /etc/petcam.toml
if [ -n "$display" ]; then sed -i "s/^display = .*/display = \"$display\"/" /etc/petcam.toml; fi
# The `petcam` user and its groups: the .deb's postinst does exactly this (its #DEBHELPER# line
# is a comment when run by hand).
sh scripts/deb/postinst configure
if [ "$enable_spi" -eq 1 ]; then
  cfg=/boot/firmware/config.txt; [ -f "$cfg" ] || cfg=/boot/config.txt
  grep -q '^dtparam=spi=on' "$cfg" || { echo 'dtparam=spi=on' >> "$cfg"; echo "SPI enabled in $cfg: reboot once"; }
fi
# The unit names the .deb's /usr/bin/petcam; this install puts it in /usr/local/bin.
sed 's#/usr/bin/petcam#/usr/local/bin/petcam#g' scripts/petcam.service > /etc/systemd/system/petcam.service
chmod 0644 /etc/systemd/system/petcam.service
systemctl daemon-reload
systemctl enable --now petcam.service
echo "petcam installed: models $models in /usr/share/petcam (\`model =\` in /etc/petcam.toml picks one; \`petcam info\` names the default), config /etc/petcam.toml; logs: journalctl -u petcam -f"
