#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The project's two commands (see README.md):
#   ./run.sh demo   install dependencies, build, and run the main job on a sample disk
#   ./run.sh test   install dependencies, build (plain, ASan+UBSan, and the clang
#                   libFuzzer tree), run every test, the C unit tests again under
#                   valgrind memcheck, and a short run of each fuzz target
# Both are idempotent and need root (or sudo) only to install missing packages.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

DEBIAN_PACKAGES=(
  build-essential pkg-config meson ninja-build perl
  nbdkit nbdkit-plugin-dev libnbd-dev libnbd-bin
  liburing-dev libsystemd-dev
  qemu-utils ntfs-3g fdisk libvhdi-utils 7zip fuse3 e2fsprogs
  dosfstools exfatprogs exfat-fuse mtools zerofree bash-completion
  debhelper lintian file
  valgrind fio strace libxml2-utils
  dbus-daemon polkitd systemd util-linux passwd python3-dbus python3-gi
  cockpit-ws cockpit-bridge chromium chromium-driver python3-selenium
  clang libclang-rt-14-dev
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "run.sh: need root to run: $*" >&2; exit 1
  fi
}

install_deps() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "run.sh: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null
}

build_tree() { # DIR [meson options...]
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  fi
  ninja -C "$dir"
}

build() {
  build_tree build
}

build_sanitized() {
  # -Db_lundef=false: the nbdkit plugin is a module with undefined nbdkit_* symbols.
  build_tree build-san -Db_sanitize=address,undefined -Db_lundef=false
}

# The libFuzzer targets (fuzz/): clang only, in a tree that holds just lib/
# and fuzz/.  Skipped, with a note, where clang is missing.
build_fuzz() {
  if ! command -v clang >/dev/null; then
    echo "run.sh: clang not found, the fuzz targets are not built" >&2
    return 0
  fi
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
  fi
  ninja -C build-fuzz
}

demo() {
  local dir=build/demo vhdctl=build/client/vhdctl plugin=build/plugin/nbdkit-vhd-plugin.so
  export VHDCOMPACT_PLUGIN=$PWD/$plugin
  rm -rf "$dir" && mkdir -p "$dir/mnt"
  echo "== a 4 GiB dynamic VHD made by qemu-img"
  qemu-img create -q -f vpc -o subformat=dynamic "$dir/sample.vhd" 4G
  local vsize
  vsize=$(qemu-img info --output=json "$dir/sample.vhd" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')

  echo "== a GPT disk with an NTFS partition: 320 MiB of files written, 200 MiB deleted"
  truncate -s "$vsize" "$dir/disk.raw"
  printf 'label: gpt\nstart=2048, size=%d, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n' \
    $((1024 * 2048)) | sfdisk -q "$dir/disk.raw"
  truncate -s 1G "$dir/ntfs.raw"
  mkntfs -q -F -f -c 4096 -s 512 -p 2048 -H 255 -S 63 -L sample "$dir/ntfs.raw" 2>/dev/null
  # In the foreground (no_detach) so that we can wait for ntfs-3g to finish
  # writing after the unmount, which returns before it has.
  ntfs-3g -o no_detach "$dir/ntfs.raw" "$dir/mnt" & local ntfs3g=$!
  until mountpoint -q "$dir/mnt"; do sleep 0.05; done
  for i in 1 2 3 4 5 6 7 8; do head -c $((40 << 20)) /dev/urandom > "$dir/mnt/file$i"; done
  rm "$dir/mnt/file2" "$dir/mnt/file3" "$dir/mnt/file5" "$dir/mnt/file6" "$dir/mnt/file8"
  umount "$dir/mnt"
  wait $ntfs3g
  dd if="$dir/ntfs.raw" of="$dir/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
  rm "$dir/ntfs.raw"

  echo "== the disk written into the VHD through nbdkit-vhd-plugin (holes skipped)"
  nbdkit -U - "$plugin" file="$dir/sample.vhd" --run "nbdcopy $dir/disk.raw \"\$uri\""
  rm "$dir/disk.raw"
  echo "== the VHD as the plugin serves it (allocation map)"
  nbdkit -U - "$plugin" file="$dir/sample.vhd" readonly=1 --run 'nbdinfo --map "$uri"'
  echo "== vhdctl info"
  "$vhdctl" info "$dir/sample.vhd"
  echo "== vhdctl check"
  "$vhdctl" check "$dir/sample.vhd"
  echo "== vhdctl analyze: what compaction would reclaim"
  "$vhdctl" analyze "$dir/sample.vhd"
  echo "== vhdctl compact: in place"
  local before after
  before=$(stat -c %s "$dir/sample.vhd")
  "$vhdctl" compact "$dir/sample.vhd"
  after=$(stat -c %s "$dir/sample.vhd")
  echo "file size: $before -> $after bytes"
  "$vhdctl" check "$dir/sample.vhd"
}

run_tests() {
  meson test -C build --print-errorlogs "$@"
  meson test -C build-san --print-errorlogs "$@"
  # The C unit tests once more under valgrind memcheck (any error or leak
  # fails; tests/meson.build has the setup): only in a full run.
  if [ $# -eq 0 ]; then
    meson test -C build --setup valgrind --suite unit --print-errorlogs
  fi
  # Every seed and kept crasher replayed, then each target fuzzed for a few
  # seconds (FUZZ_SECONDS): only in a full run, not for a chosen suite/test.
  if [ $# -eq 0 ] && [ -f build-fuzz/build.ninja ]; then
    meson test -C build-fuzz --suite fuzz --print-errorlogs
  fi
}

case "${1:-}" in
  demo) install_deps; build; demo ;;
  test) shift; install_deps; build; build_sanitized; build_fuzz; run_tests "$@" ;;
  build) install_deps; build ;;
  *) echo "usage: $0 demo|test|build" >&2; exit 2 ;;
esac
