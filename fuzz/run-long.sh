#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fuzz/run-long.sh TARGET SECONDS [BUILD_DIR]
#
# A long run of one fuzz target (see docs/robustness.md), niced, from the
# generated seeds plus fuzz/corpus/TARGET and fuzz/regressions/TARGET.  The
# corpus it grows is kept in BUILD_DIR/fuzz/corpus/TARGET (BUILD_DIR defaults
# to build-fuzz) so that runs add up; crashers go to BUILD_DIR/fuzz/artifacts/.
# At the end it writes BUILD_DIR/fuzz/stats/TARGET.txt: seconds, execs,
# execs per second, libFuzzer's final cov:/ft:, the corpus size.
set -eu
target=$1 secs=$2
top=$(cd "$(dirname "$0")/.." && pwd)
build=${3:-$top/build-fuzz}
bin=$build/fuzz/fuzz-$target
[ -x "$bin" ] || { echo "run-long.sh: no $bin (build the fuzz tree first)" >&2; exit 2; }

corpus=$build/fuzz/corpus/$target
seeds=$build/fuzz/seeds
mkdir -p "$corpus" "$build/fuzz/artifacts" "$build/fuzz/stats" "$build/fuzz/logs"
rm -rf "$seeds.$target" && "$build/fuzz/gen-corpus" "$seeds.$target"
# A target whose seeds are only committed files (fuzz/corpus/TARGET) has none here.
mkdir -p "$seeds.$target/$target"
dirs="$seeds.$target/$target"
for d in "$top/fuzz/corpus/$target" "$top/fuzz/regressions/$target"; do
  [ -d "$d" ] && dirs="$dirs $d"
done
log=$build/fuzz/logs/$target.log
start=$(date +%s)
rc=0
# shellcheck disable=SC2086
nice -n 10 "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 \
  -error_exitcode=1 -timeout_exitcode=1 \
  -artifact_prefix="$build/fuzz/artifacts/$target-" "$corpus" $dirs > "$log" 2>&1 || rc=$?
end=$(date +%s)
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
{
  echo "target: $target"
  echo "started: $(date -u -d "@$start" +%FT%TZ)"
  echo "seconds: $((end - start))"
  echo "exit: $rc"
  grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb' "$log" || true
  echo "last: $last"
  echo "corpus_files: $(find "$corpus" -type f | wc -l)"
  echo "corpus_bytes: $(du -sb "$corpus" | cut -f1)"
} > "$build/fuzz/stats/$target.txt"
cat "$build/fuzz/stats/$target.txt"
exit $rc
