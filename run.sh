#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The project's two commands (see README.md):
#   ./run.sh demo   install dependencies, build, and run the main job on a sample disk
#   ./run.sh test   install dependencies, build (plain and ASan+UBSan), run every test
# Both are idempotent and need root (or sudo) only to install missing packages.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

DEBIAN_PACKAGES=(
  build-essential pkg-config meson ninja-build perl
  nbdkit nbdkit-plugin-dev libnbd-dev libnbd-bin
  liburing-dev libsystemd-dev
  qemu-utils ntfs-3g fdisk libvhdi-utils
  valgrind fio
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

demo() {
  local dir=build/demo vhdctl=build/client/vhdctl plugin=build/plugin/nbdkit-vhd-plugin.so
  rm -rf "$dir" && mkdir -p "$dir"
  echo "== a 4 GiB dynamic VHD made by qemu-img"
  qemu-img create -q -f vpc -o subformat=dynamic "$dir/sample.vhd" 4G
  echo "== 24 MiB of data written through nbdkit-vhd-plugin at three places"
  head -c $((8 << 20)) /dev/urandom > "$dir/data.bin"
  for off in 0 1024 3000; do
    nbdkit -U - "$plugin" file="$dir/sample.vhd" --run \
      "qemu-io -f raw -c 'write -s $dir/data.bin ${off}M 8M' \"\$uri\" >/dev/null"
  done
  echo "== the disk as served read-only by the plugin"
  nbdkit -U - "$plugin" file="$dir/sample.vhd" readonly=1 --run 'nbdinfo --map "$uri"'
  echo "== vhdctl info"
  "$vhdctl" info "$dir/sample.vhd"
  echo "== vhdctl check"
  "$vhdctl" check "$dir/sample.vhd"
}

run_tests() {
  meson test -C build --print-errorlogs "$@"
  meson test -C build-san --print-errorlogs "$@"
}

case "${1:-}" in
  demo) install_deps; build; demo ;;
  test) shift; install_deps; build; build_sanitized; run_tests "$@" ;;
  build) install_deps; build ;;
  *) echo "usage: $0 demo|test|build" >&2; exit 2 ;;
esac
