#!/usr/bin/env bash
# Where an aarch64 petcam binary's instructions go, per function: qemu's `hotblocks` plugin
# counts every translated block's executions, and each block's executions x instructions are
# summed per symbol of an unstripped `pi` build; `bench --runs 11` minus `bench --runs 1`, divided
# by 10: one inference, model load excluded (docs/PERFORMANCE.md, "Where the instructions go").
# Needs qemu-insn (../shared/tools/qemu-insn-setup.sh, which also installs glib's headers) and
# python3; the first run fetches Debian's qemu source (deb-src, the same qemu 7.2 qemu-insn is
# built from) to build the plugin into target/qemu-plugins/.
#   scripts/arm-profile.sh                        cortex-a72, the app's default model, top 30
#   CPU=cortex-a76 MODEL=models/x.onnx TOP=50 scripts/arm-profile.sh
#   BLOCKS='PointwiseConv as tract_core::ops::EvalOp>::eval' scripts/arm-profile.sh
#                                                 also that function's hottest blocks, by opcode
#   BIN=path/to/unstripped/petcam scripts/arm-profile.sh       skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
qemu_dir=${QEMU_INSN_DIR:-/opt/qemu-insn}
[ -x "$qemu_dir/bin/qemu-aarch64" ] || { echo "arm-profile: $qemu_dir/bin/qemu-aarch64 not found (../shared/tools/qemu-insn-setup.sh)" >&2; exit 2; }
plugin=$PWD/target/qemu-plugins/libhotblocks.so
if [ ! -f "$plugin" ]; then
  work=$(mktemp -d)
  src=/etc/apt/sources.list.d/qemu-profile-src.sources
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$src"
  trap 'rm -f "$src"; rm -rf "$work"' EXIT
  apt-get update -qq
  (cd "$work" && apt-get source --download-only -qq qemu >/dev/null 2>&1)
  tar -C "$work" -xf "$work"/qemu_*.orig.tar.xz --wildcards '*/contrib/plugins/hotblocks.c' '*/include/qemu/qemu-plugin.h'
  q=$(ls -d "$work"/qemu-*/)
  # Every block, not the top 20; the list walked to its end (upstream stops one short).
  sed -e 's/static guint64 limit = 20;/static guint64 limit = G_MAXUINT64;/' \
      -e 's/i < limit \&\& it->next;/i < limit \&\& it;/' -e 's/^\( *\)g_list_free(it);/\1\/\* the head is lost: freed at exit \*\//' \
      "$q/contrib/plugins/hotblocks.c" > "$work/hotblocks.c"
  mkdir -p "$(dirname "$plugin")"
  # shellcheck disable=SC2046
  gcc -O2 -shared -fPIC -I "$q/include/qemu" $(pkg-config --cflags glib-2.0) "$work/hotblocks.c" -o "$plugin" $(pkg-config --libs glib-2.0)
  rm -rf "$src" "$work"
  trap - EXIT
  echo "built $plugin"
fi
bin=${BIN:-}
if [ -z "$bin" ]; then
  # The shipped `pi` profile, symbols kept, in its own target dir (the stripped build is untouched).
  CARGO_PROFILE_PI_STRIP=false CARGO_TARGET_DIR=target/prof cargo build --profile pi --target aarch64-unknown-linux-gnu --bin petcam 2>&1 | tail -1
  bin=target/prof/aarch64-unknown-linux-gnu/pi/petcam
fi
cpu=${CPU:-cortex-a72}
model=${MODEL:-$("$qemu_dir/qemu-insn" -cpu "$cpu" "$bin" info --log error 2>/dev/null | awk '$1 == "model" { print $2; exit }')}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for runs in 1 11; do
  "$qemu_dir/bin/qemu-aarch64" -cpu "$cpu" -L "${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}" -plugin "$plugin,inline=on" -d plugin -D "$logs/$runs.log" \
    "$bin" bench --runs "$runs" --warmup 0 --model "$model" --image demo/images/chelsea.png --log error >/dev/null
done
echo "$bin on $cpu, $(basename "$model"): instructions per inference, by function"
python3 - "$bin" "$logs/1.log" "$logs/11.log" "${TOP:-30}" "${BLOCKS:-}" <<'PY'
import bisect, collections, re, subprocess, sys
binary, log1, log11, top, blocks_of = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
# qemu-user loads a position-independent aarch64 binary at this base.
BASE = 0x5500000000
syms = []
for line in subprocess.run(['aarch64-linux-gnu-nm', '-C', '-S', '--defined-only', binary], capture_output=True, text=True, check=True).stdout.splitlines():
    p = line.split(' ', 3)
    if len(p) == 4 and p[2] in 'tTwW':
        syms.append((int(p[0], 16), int(p[1], 16), p[3]))
syms.sort()
starts = [s[0] for s in syms]
def where(pc):
    i = bisect.bisect_right(starts, pc) - 1
    if i >= 0 and pc < syms[i][0] + max(syms[i][1], 1):
        return syms[i][2]
    return '(outside the binary: libc, the loader)'
def blocks(path):
    # "pc, translations, instructions, executions" per block
    d = collections.Counter()
    size = {}
    for line in open(path):
        m = re.match(r'0x([0-9a-f]+), (\d+), (\d+), (\d+)', line)
        if m:
            pc = int(m.group(1), 16) - BASE
            d[pc] += int(m.group(4))
            size[pc] = int(m.group(3))
    return d, size
(e1, _), (e11, size) = blocks(log1), blocks(log11)
per = collections.Counter()
per_block = {}
for pc, n in e11.items():
    runs = (n - e1.get(pc, 0)) / 10
    per[where(pc)] += runs * size[pc]
    per_block[pc] = runs
total = sum(per.values())
print(f'{total / 1e6:9.2f} M  in all')
for name, n in per.most_common(top):
    print(f'{n / 1e6:9.3f} M  {name[:140]}')
if blocks_of:
    hit = [s for s in syms if s[2].endswith(blocks_of)]
    if not hit:
        sys.exit(f'no symbol ends with {blocks_of!r}')
    lo, length, name = hit[0]
    dis = subprocess.run(['aarch64-linux-gnu-objdump', '-d', '--no-show-raw-insn', f'--start-address={lo}', f'--stop-address={lo + length}', binary], capture_output=True, text=True, check=True).stdout
    op = {int(m.group(1), 16): m.group(2).split()[0] for m in re.finditer(r'^\s*([0-9a-f]+):\s+(\S+)', dis, re.M)}
    rows = sorted(((per_block[pc] * size[pc], pc) for pc in per_block if lo <= pc < lo + length), reverse=True)
    print(f'\nhottest blocks of {name[:120]}')
    for n, pc in rows[:top]:
        ops = collections.Counter(op.get(pc + 4 * k, '?') for k in range(size[pc]))
        print(f'{n / 1e6:9.3f} M  {pc:#x}  {size[pc]:3d} instructions x {per_block[pc]:9.0f}  ' + ' '.join(f'{k}:{v}' for k, v in ops.most_common(6)))
PY
