#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-smoke.sh FUZZER TARGET GEN_CORPUS FUZZ_SRCDIR FUZZ_BUILDDIR
#
# The short run of one fuzz target in `meson test --suite fuzz`:
#   1. replay every generated seed, every file of fuzz/corpus/TARGET and
#      every crasher kept in fuzz/regressions/TARGET (each must pass);
#   2. fuzz for $FUZZ_SECONDS seconds (default 8) from those seeds.
# A crash, leak, sanitizer report or broken invariant fails the test; the
# input that did it is kept in FUZZ_BUILDDIR/artifacts/.
set -eu
bin=$1 target=$2 gen=$3 src=$4 build=$5
secs=${FUZZ_SECONDS:-8}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$gen" "$work/seeds"
mkdir -p "$work/seeds/$target" "$work/corpus" "$build/artifacts"
opts="-error_exitcode=1 -timeout_exitcode=1 -timeout=20 -rss_limit_mb=2048 -artifact_prefix=$build/artifacts/$target-"

# 1. Replay: every file once.
find "$work/seeds/$target" "$src/corpus/$target" "$src/regressions/$target" \
     -type f ! -name '*.md' 2>/dev/null | sort > "$work/list"
echo "replaying $(wc -l < "$work/list") inputs of $target"
if [ -s "$work/list" ]; then
  # shellcheck disable=SC2046,SC2086
  xargs -d '\n' "$bin" $opts < "$work/list" > "$work/replay.log" 2>&1 || {
    cat "$work/replay.log"; echo "fuzz-$target: a replayed input fails" >&2; exit 1; }
fi

# 2. A short fuzzing run from all of them.
dirs="$work/seeds/$target"
for d in "$src/corpus/$target" "$src/regressions/$target"; do
  [ -d "$d" ] && dirs="$dirs $d"
done
# shellcheck disable=SC2086
"$bin" $opts -max_total_time="$secs" -print_final_stats=1 "$work/corpus" $dirs > "$work/fuzz.log" 2>&1 || {
  tail -n 80 "$work/fuzz.log"; echo "fuzz-$target: fuzzing found a failure (see $build/artifacts/)" >&2; exit 1; }
grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec' "$work/fuzz.log" || true
