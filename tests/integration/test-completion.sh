#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vhdctl's bash completion (client/vhdctl.bash-completion), sourced into
# this bash and asked the way bash asks (COMP_WORDS, COMP_CWORD, then the
# function `complete -p vhdctl` names):
#   - the verbs, and for every verb the options, are exactly those of
#     `vhdctl --help` (so the two cannot drift apart), plus --help;
#   - --mode, --format, --sector-size offer their values, also after '='
#     (bash splits --mode=f at the '='); number options offer nothing;
#   - file arguments and --parent offer folders and .vhd/.vhdx/.avhd/.avhdx
#     files in any case, nothing else;
#   - cancel offers the object paths of the daemon's jobs that have not
#     ended (a private system bus, vhd-compactd with a slowed worker: one
#     job running, one done), and with --user asks the session bus;
#   - `meson install` puts the script where bash-completion.pc says
#     (completionsdir), named vhdctl, as it is in the source tree.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
requires qemu-img qemu-io busctl
requires_env VHDCTL VHD_COMPACTD VHD_WORKER
make_tmpdir
d=$tmpdir
src=$TOP_SRCDIR/client/vhdctl.bash-completion
PATH=$(dirname "$VHDCTL"):$PATH

# shellcheck source=/dev/null
. "$src"
func=$(complete -p vhdctl | sed -n 's/.*-F \([^ ]*\) vhdctl$/\1/p')
[[ -n $func ]] || fail "the script does not register a completion function for vhdctl"

# complete LINE: what the completion offers for LINE with the cursor at
# its end, one per line, sorted (words split as bash does, at blanks and
# at '=' as COMP_WORDBREAKS has it).
complete_line ()
{
    local line=$1 w
    local -a words
    COMP_LINE=$line COMP_POINT=${#line} COMP_WORDS=()
    read -r -a words <<<"$line"
    for w in "${words[@]}"; do
        while [[ $w == *=* ]]; do
            [[ -z ${w%%=*} ]] || COMP_WORDS+=("${w%%=*}")
            COMP_WORDS+=("=")
            w=${w#*=}
        done
        [[ -z $w ]] || COMP_WORDS+=("$w")
    done
    [[ $line != *' ' ]] || COMP_WORDS+=("")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMPREPLY=()
    "$func" vhdctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]:-}"
    (( ${#COMPREPLY[@]} == 0 )) || printf '%s\n' "${COMPREPLY[@]}" | sort
}

# expect LINE WORDS...: the completion of LINE is exactly WORDS.
expect ()
{
    local line=$1 got want
    shift
    got=$(complete_line "$line")
    want=$( (( $# == 0 )) || printf '%s\n' "$@" | sort)
    [[ $got == "$want" ]] ||
        fail "'$line': offered [$(tr '\n' ' ' <<<"$got")], expected [$(tr '\n' ' ' <<<"$want")]"
}

echo "== verbs and options against vhdctl --help"
"$VHDCTL" --help > "$d/help"
mapfile -t verbs < <(sed -n '/^Verbs:/,/^$/s/^  \([a-z]\+\) .*/\1/p' "$d/help")
(( ${#verbs[@]} >= 7 )) || fail "vhdctl --help lists ${#verbs[@]} verbs"
expect "vhdctl " "${verbs[@]}" --help --version
expect "vhdctl co" $(printf '%s\n' "${verbs[@]}" | grep '^co')
for v in "${verbs[@]}"; do
    # The verb's block of the help: its usage line up to the next verb.
    mapfile -t opts < <(awk -v v="$v" '
        /^  [a-z]+ / { inside = ($1 == v) }
        /^$/ { inside = 0 }
        inside' "$d/help" | grep -o -- '--[a-z][a-z-]*' | sort -u)
    expect "vhdctl $v --" "${opts[@]}" --help
    echo "$v: ${#opts[@]} options, as in vhdctl --help"
done
expect "vhdctl compact --json --no" --no-block-moves --no-progress --no-wait

echo "== option values"
expect "vhdctl compact --mode " full fs zero
expect "vhdctl compact --mode f" fs full
expect "vhdctl compact --mode=" full fs zero
expect "vhdctl compact --mode=z" zero
expect "vhdctl create c.vhdx --format " vhd vhdx
expect "vhdctl create c.vhdx --sector-size " 512 4096
expect "vhdctl compact --queue-depth "
expect "vhdctl create x.vhdx --size "

echo "== file arguments"
mkdir -p "$d/f/sub dir"
touch "$d/f/a.vhd" "$d/f/B.VHDX" "$d/f/c.avhdx" "$d/f/d.avhd" "$d/f/notes.txt" "$d/f/e.vhd.bak"
expect "vhdctl compact $d/f/" "$d/f/B.VHDX" "$d/f/a.vhd" "$d/f/c.avhdx" "$d/f/d.avhd" "$d/f/sub dir"
expect "vhdctl info --parent $d/f/a" "$d/f/a.vhd"
expect "vhdctl check $d/f/n"
expect "vhdctl jobs "

echo "== cancel: the daemon's jobs"
start_test_bus
start_daemon VHDCOMPACT_TEST_WORKER_SLOW_MS=400 -- --keep-finished 60
cleanup_fn show_daemon_log_on_failure
make_disk ()
{
    qemu-img create -q -f vpc -o subformat=dynamic "$1" 128M
    qemu-io -f vpc -c "write -q -P 0 0 64M" -c "write -q -P 0x5a 64M 64M" "$1" >/dev/null
}
# Nothing to do in an empty disk: that job ends at once, slowed or not.
qemu-img create -q -f vpc -o subformat=dynamic "$d/done.vhd" 128M
make_disk "$d/slow.vhd"
done_job=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' \
    "$d/done.vhd" 0 | sed -n 's/^o "\(.*\)"$/\1/p')
[[ $(wait_job "$done_job") = done ]] || fail "test setup: $done_job did not finish"
slow_job=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' \
    "$d/slow.vhd" 0 | sed -n 's/^o "\(.*\)"$/\1/p')
[[ -n $slow_job && -n $done_job ]] || fail "test setup: no job paths"
state=$(job_prop "$slow_job" State | tr -d '"')
case $state in
    done | failed | cancelled) fail "test setup: the slowed job ended already ($state)" ;;
esac
expect "vhdctl cancel " "$slow_job"
expect "vhdctl cancel ${slow_job%/*}/" "$slow_job"
expect "vhdctl cancel /nothing"
# --user: the session bus, where no daemon runs here.
DBUS_SESSION_BUS_ADDRESS=unix:path=$d/no-such-bus expect "vhdctl cancel --user "
"$VHDCTL" cancel "$slow_job" >/dev/null 2>&1 || true
echo "cancel offered $slow_job, not $done_job"

echo "== installed where bash-completion.pc says"
if [[ -n ${TOP_BUILDDIR:-} && -f $TOP_BUILDDIR/build.ninja ]] && command -v "${MESON:-meson}" >/dev/null; then
    "${MESON:-meson}" install -C "$TOP_BUILDDIR" --no-rebuild --quiet --destdir "$d/root" > "$d/install.log" 2>&1 ||
        { cat "$d/install.log" >&2; fail "meson install --destdir failed"; }
    prefix=$("${MESON:-meson}" introspect "$TOP_BUILDDIR" --buildoptions |
             python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
    if pkg-config --exists bash-completion; then
        want=$(pkg-config --define-variable=datadir="$prefix/share" --variable=completionsdir bash-completion)
    else
        want=$prefix/share/bash-completion/completions
    fi
    [[ -f $d/root$want/vhdctl ]] ||
        fail "not installed as $want/vhdctl: $(cd "$d/root" && find . -path '*completion*' -type f)"
    cmp -s "$src" "$d/root$want/vhdctl" || fail "$want/vhdctl differs from the source"
    echo "installed as $want/vhdctl"
else
    echo "install: skipped: not run from a meson build tree"
fi
echo "all completion checks passed"
