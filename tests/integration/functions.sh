# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Helpers sourced by the integration tests (tests/integration/test-*.sh).
#
# A test starts with
#
#     source "$(dirname "$0")/functions.sh"
#     requires qemu-img nbdkit nbdcopy
#     requires_env VHD_PLUGIN
#     make_tmpdir
#
# and then works only inside "$tmpdir", which is removed when the test
# exits (kept, with its path printed, when KEEP_TMPDIR=1).  Exit status 77
# tells `meson test` that the test was skipped; skip() prints the reason.
# nbdkit is started through serve(), never directly, so that sanitizer
# builds work.
#
# Environment:
#   VHD_PLUGIN   path to the built nbdkit-vhd-plugin.so (required by the
#                plugin tests)
#   VHDCTL       path to the built vhdctl; optional: the parts that need
#                differencing images are skipped without it
#   TEST_TMPDIR  where to make the scratch directory (default $TMPDIR or
#                /tmp); it must support sparse files
#   KEEP_TMPDIR  set to 1 to keep the scratch directory for debugging
#   VHD_SANITIZER_PRELOAD  sanitizer runtime(s) to preload into nbdkit when
#                the plugin is built with -fsanitize (set by tests/meson.build)

set -euo pipefail

# Run everything in the C locale: awk must treat data as bytes.
export LC_ALL=C

testname=$(basename "$0" .sh)
srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # for the tests
datadir=$(cd "$srcdir/../data" && pwd)

skip ()
{
    echo "$testname: SKIP: $*" >&2
    exit 77
}

fail ()
{
    echo "$testname: FAIL: $*" >&2
    exit 1
}

# requires CMD...: skip unless every CMD is found in $PATH.
requires ()
{
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 ||
            skip "'$c' is required but was not found in PATH"
    done
}

# requires_env VAR...: skip unless every VAR names an existing file.
requires_env ()
{
    local v
    for v in "$@"; do
        [[ -n "${!v:-}" ]] || skip "\$$v is not set (run the test through meson test)"
        [[ -e "${!v}" ]] || skip "\$$v='${!v}' does not exist (not built?)"
    done
}

# have_env VAR: true when VAR names an existing executable (optional tools).
have_env ()
{
    [[ -n "${!1:-}" && -x "${!1}" ]]
}

# cleanup_fn CMD [ARGS...]: run CMD ARGS when the test exits, however it
# exits; cleanups run in reverse order of registration.
_cleanups=()
cleanup_fn ()
{
    local quoted
    quoted=$(printf '%q ' "$@")
    _cleanups=("$quoted" "${_cleanups[@]}")
}

# sanitizer_check LOG WHAT: a sanitizer's report (ASan, LeakSanitizer,
# UBSan) in LOG fails the test, as it exits when this runs in a cleanup.
# Our programs write their reports to stderr, and the daemon's and its
# workers' stderr go to a log that no test reads otherwise.  Each LOG is
# reported once.
_late_status=0
_sanitizer_reported=()
sanitizer_check ()
{
    local re='^==[0-9]+==ERROR: (AddressSanitizer|LeakSanitizer)|: runtime error: '
    [[ -f $1 ]] && grep -qE "$re" "$1" || return 0
    [[ " ${_sanitizer_reported[*]} " != *" $1 "* ]] || return 0
    _sanitizer_reported+=("$1")
    echo "$testname: FAIL: $2: a sanitizer's report in its log:" >&2
    cat -- "$1" >&2
    _late_status=1
}

# nbdkit_sanitizer_check DIR: fail the test on a report in DIR (see
# tests/sanitizer-path/nbdkit) that concerns our plugin: any ASan error,
# and any leak with a frame in the plugin or in a module no longer loaded
# (the plugin, were it not preloaded, or a library it loaded).  A leak with
# no such frame is nbdkit's own and is passed over.  Frames are
# unsymbolized; those in the plugin are symbolized here.
nbdkit_sanitizer_check ()
{
    local f plugin=${VHD_PLUGIN##*/}
    local -a bad=()
    for f in "$1"/nbdkit.*; do
        [[ -f $f ]] || continue
        grep -qF -e "$plugin" -e '<unknown module>' -e 'ERROR: AddressSanitizer' -- "$f" &&
            bad+=("$f")
    done
    (( ${#bad[@]} )) || return 0
    echo "$testname: FAIL: nbdkit with our plugin: a sanitizer's report" \
         "(from ${#bad[@]} nbdkit process(es); the first):" >&2
    cat -- "${bad[0]}" >&2
    grep -oE "\(/[^()]*/$plugin\+0x[0-9a-f]+\)" -- "${bad[0]}" | tr -d '()' | sort -u |
        while IFS=+ read -r so off; do
            echo "  $off: $(addr2line -f -i -p -C -e "$so" "$off" 2>/dev/null)" >&2
        done
    _late_status=1
}

_run_cleanups ()
{
    local status=$? c
    set +e
    for c in "${_cleanups[@]}"; do
        eval "$c"
    done
    (( status != 0 || _late_status == 0 )) || status=$_late_status
    exit "$status"
}
trap _run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

_remove_tmpdir ()
{
    if [[ "${KEEP_TMPDIR:-0}" = 1 ]]; then
        echo "$testname: keeping $1" >&2
    else
        rm -rf -- "$1"
    fi
}

# The scratch directory is made when this file is sourced, so that its
# removal is registered in the test's own shell even when a test asks for
# it from a subshell, as in d=$(make_tmpdir).
_tmpdir_base=${TEST_TMPDIR:-${TMPDIR:-/tmp}}
mkdir -p -- "$_tmpdir_base"
_tmpdir=$(mktemp -d "$_tmpdir_base/$testname.XXXXXX")
cleanup_fn _remove_tmpdir "$_tmpdir"
if [[ -n "${VHD_SANITIZER_PRELOAD:-}" ]]; then
    export VC_TEST_NBDKIT_SANLOG=$_tmpdir/nbdkit-sanitizer
    mkdir -- "$VC_TEST_NBDKIT_SANLOG"
    cleanup_fn nbdkit_sanitizer_check "$VC_TEST_NBDKIT_SANLOG"
fi

# make_tmpdir: set $tmpdir to the test's scratch directory (removed at
# exit); inside a command substitution, print it instead.
make_tmpdir ()
{
    tmpdir=$_tmpdir
    if (( BASH_SUBSHELL > 0 )); then
        echo "$tmpdir"
    fi
}

# serve IMG [NBDKIT-ARGS...]: run nbdkit with our plugin on IMG, on a
# fresh Unix socket in the scratch directory unless the arguments name one,
# e.g.
#     serve disk.vhd readonly=1 --run 'nbdcopy "$uri" out.raw'
# (Not -U -: nbdkit 1.32 leaves its socket directory behind in $TMPDIR
# whenever the plugin refuses to start, which some tests expect.)
# In sanitizer builds the plugin is instrumented but nbdkit is not, so the
# sanitizer runtime ($VHD_SANITIZER_PRELOAD) is preloaded into nbdkit, and
# only into nbdkit: the --run command gets LD_PRELOAD removed again.
serve ()
{
    local img=$1 want_socket=1
    shift
    [[ -n "${VHD_PLUGIN:-}" && -e "$VHD_PLUGIN" ]] ||
        skip "\$VHD_PLUGIN is not set or not built"
    local -a args=()
    while (( $# )); do
        case $1 in
        -U | --unix | --unix=* | -U*) want_socket=0; args+=("$1") ;;
        --run)
            if [[ -n "${VHD_SANITIZER_PRELOAD:-}" && $# -gt 1 ]]; then
                args+=(--run "unset LD_PRELOAD; $2")
                shift
            else
                args+=("$1")
            fi ;;
        *) args+=("$1") ;;
        esac
        shift
    done
    if (( want_socket )); then
        _serve_n=$(( ${_serve_n:-0} + 1 ))
        local sock=$_tmpdir/nbdkit-$BASHPID-$_serve_n.sock
        (( ${#sock} < 100 )) || sock=-     # sun_path is 108 bytes
        args=(-U "$sock" "${args[@]}")
    fi
    # nbdkit takes its own options after the plugin's parameters too.
    if [[ -n "${VHD_SANITIZER_PRELOAD:-}" ]]; then
        LD_PRELOAD="$VHD_SANITIZER_PRELOAD${LD_PRELOAD:+ $LD_PRELOAD}" \
            nbdkit "$VHD_PLUGIN" file="$img" "${args[@]}"
    else
        nbdkit "$VHD_PLUGIN" file="$img" "${args[@]}"
    fi
}

# vpc_virtual_size IMG: the size qemu sees.
vpc_virtual_size ()
{
    qemu-img info -f vpc --output=json "$1" |
        sed -n 's/^ *"virtual-size": *\([0-9]*\),*$/\1/p'
}

# --- bytes of a file, for tests that corrupt VHD structures ---

# poke FILE OFFSET HEXBYTES: overwrite bytes in place, e.g. poke f 60 00000007
poke ()
{
    local file=$1 off=$2 hex=$3
    [[ $hex =~ ^([0-9a-fA-F]{2})+$ ]] || fail "poke: bad hex '$hex'"
    # shellcheck disable=SC2059,SC2001  # the format is the bytes
    printf "$(sed 's/../\\x&/g' <<<"$hex")" |
        dd of="$file" bs=1 seek="$off" conv=notrunc status=none
}

# be FILE OFFSET NBYTES: an unsigned big-endian integer (up to 2^63 - 1;
# all ones reads as -1).
be ()
{
    local v=0 b
    for b in $(od -A n -t u1 -v -j "$2" -N "$3" -- "$1"); do
        v=$(( (v << 8) | b ))
    done
    echo "$v"
}

# hexn WIDTH_BYTES VALUE: VALUE as big-endian hex bytes.
hexn () { printf "%0$(( $1 * 2 ))x" "$2"; }

# set_checksum FILE AT LEN CKOFF: recompute the checksum of the LEN-byte
# structure at AT whose 4-byte checksum field is at AT + CKOFF: the one's
# complement of the byte sum, the field itself excluded.
set_checksum ()
{
    local file=$1 at=$2 len=$3 ck=$4 sum
    sum=$(od -A n -t u1 -v -j "$at" -N "$len" -- "$file" | awk -v ck="$ck" '
        { for (i = 1; i <= NF; i++) { if (n < ck || n >= ck + 4) s += $i; n++ } }
        END { printf "%.0f\n", s }')
    poke "$file" $(( at + ck )) "$(hexn 4 $(( ~sum & 0xffffffff )))"
}

# is_dynamic FILE: the footer copy at offset 0 is there.
is_dynamic () { [[ $(od -A n -c -N 8 -- "$1" | tr -d ' ') = conectix ]]; }

# footer_set FILE FIELD_OFFSET HEX: change a footer field in both copies (the
# end one only for fixed disks) and recompute their checksums.
footer_set ()
{
    local file=$1 end
    end=$(( $(file_size "$file") - 512 ))
    if is_dynamic "$file"; then
        poke "$file" "$2" "$3"
        set_checksum "$file" 0 512 64
    fi
    poke "$file" $(( end + $2 )) "$3"
    set_checksum "$file" "$end" 512 64
}

# file_size FILE
file_size ()
{
    stat -c %s -- "$1"
}

# same_content A B: the two files hold the same bytes.  Files above 64 MiB
# are compared with qemu-img compare, which skips the holes of sparse files
# (SEEK_DATA) instead of reading gigabytes of zeros as cmp does.
same_content ()
{
    local a=$1 b=$2
    [[ $(file_size "$a") = $(file_size "$b") ]] || {
        echo "$testname: size of $a: $(file_size "$a"), of $b: $(file_size "$b")" >&2
        return 1
    }
    if (( $(file_size "$a") <= (64 << 20) )); then
        cmp -- "$a" "$b"
    else
        qemu-img compare -q -f raw -F raw -- "$a" "$b"
    fi
}

# random_file FILE BYTES SEED: reproducible pseudo-random bytes.
random_file ()
{
    awk -v n="$2" -v seed="$3" 'BEGIN {
        srand(seed)
        for (i = 0; i < n; i++)
            printf "%c", int(rand() * 256)
    }' > "$1"
}

# qemu_map_ranges IMG: the allocation map qemu sees in a VHD, as lines
# "START LENGTH data|hole", adjacent ranges of the same kind merged.
qemu_map_ranges ()
{
    qemu-img map -f vpc --output=json -- "$1" | qemu_json_ranges
}

# qemu_json_ranges: the same from `qemu-img map --output=json` on stdin
# (qemu prints one range a line).
qemu_json_ranges ()
{
    sed -n 's/.*"start": *\([0-9]*\), *"length": *\([0-9]*\),.*"data": *\(true\|false\).*/\1 \2 \3/p' |
        awk '{ kind = $3 == "true" ? "data" : "hole"; print $1, $2, kind }' |
        merge_ranges
}

# nbd_map_ranges URI: the same from the NBD base:allocation context, with
# NBD_STATE_HOLE deciding between data and hole.
nbd_map_ranges ()
{
    nbdinfo --map -- "$1" | nbdinfo_ranges
}

# nbdinfo_ranges: the same from `nbdinfo --map` output on stdin.
nbdinfo_ranges ()
{
    awk '{ kind = ($3 % 2) ? "hole" : "data"; print $1, $2, kind }' | merge_ranges
}

# Offsets go past 2^31: mawk prints such numbers as %.6g with print and
# clamps them with %d, so every number is printed with %.0f.
merge_ranges ()
{
    awk '
        NR == 1 { s = $1; l = $2; k = $3; next }
        $3 == k && $1 == s + l { l += $2; next }
        { printf "%.0f %.0f %s\n", s, l, k; s = $1; l = $2; k = $3 }
        END { if (NR) printf "%.0f %.0f %s\n", s, l, k }'
}

# range_kind RANGES_FILE OFFSET: print "data" or "hole" for one offset.
range_kind ()
{
    awk -v o="$2" '$1 <= o && o < $1 + $2 { print $3; found = 1 }
                   END { if (!found) print "none" }' "$1"
}

# vhdctl_attaching ARGS...: run vhdctl for a verb that attaches the disk
# through nbdkit (analyze, compact): it finds the built plugin through
# $VHDCOMPACT_PLUGIN, and in sanitizer builds the nbdkit it starts needs the
# sanitizer runtime preloaded (vhdctl itself already carries it).
vhdctl_attaching ()
{
    [[ -n "${VHD_PLUGIN:-}" && -e "$VHD_PLUGIN" ]] ||
        skip "\$VHD_PLUGIN is not set or not built"
    if [[ -n "${VHD_SANITIZER_PRELOAD:-}" ]]; then
        VHDCOMPACT_PLUGIN=$VHD_PLUGIN LD_PRELOAD="$VHD_SANITIZER_PRELOAD" "$VHDCTL" "$@"
    else
        VHDCOMPACT_PLUGIN=$VHD_PLUGIN "$VHDCTL" "$@"
    fi
}

# make_parent_loop DIR: two differencing disks in DIR that are each other's
# parent, DIR/a.vhd -> DIR/p.vhd -> DIR/a.vhd, both by their locators and
# by their unique ids (every checksum right): a.vhd is made as the child of
# a dynamic p.vhd, then a child of a.vhd, given p.vhd's unique id, takes
# p.vhd's place.
make_parent_loop ()
{
    local dir=$1 uid
    requires qemu-img
    qemu-img create -q -f vpc -o subformat=dynamic -- "$dir/p.vhd" 16M
    "$VHDCTL" create "$dir/a.vhd" --parent "$dir/p.vhd" >/dev/null
    "$VHDCTL" create "$dir/b.vhd" --parent "$dir/a.vhd" >/dev/null
    uid=$(od -A n -t x1 -v -j 68 -N 16 -- "$dir/p.vhd" | tr -d ' \n')
    footer_set "$dir/b.vhd" 68 "$uid"
    mv -- "$dir/b.vhd" "$dir/p.vhd"
}

# wait_fuse_mount MNT PID TRIES: wait until the FUSE daemon PID (started in
# the background with its mount on MNT) has MNT mounted: 0 then; 1 when it
# exited first or TRIES polls passed (it is then waited for).
wait_fuse_mount ()
{
    local mnt=$1 pid=$2 tries=$3 i
    for (( i = 0; i < tries; i++ )); do
        mountpoint -q -- "$mnt" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    wait "$pid" 2>/dev/null
    return 1
}

# wait_unlocked FILE: wait (up to 5 s) until no other open file holds a
# lock on FILE.  A process that exited with io_uring requests in flight
# (a crash point, kill -9) keeps its image open, and so its lock, until
# the kernel has torn the ring down, a moment after the exit; a run
# started in that moment is refused as in use.  1 if the lock stays.
wait_unlocked ()
{
    python3 - "$1" <<'PY'
import fcntl, sys, time
with open(sys.argv[1], 'rb+') as f:
    for _ in range(500):
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            sys.exit(0)
        except OSError:
            time.sleep(0.01)
sys.exit(1)
PY
}
