#!/usr/bin/env bash
# Did a fuzz run's second half reach any of the target's own code the first half had not?
#   fuzz/second-half.sh falco "2026-11-28 19:00" "2026-11-28 19:20"
#   fuzz/second-half.sh falco @1795633200 @1795634400      (epoch seconds, as run.sh passes)
# This is pullwatch's second plateau rule (fuzz/RESULTS.md): libFuzzer's edge count keeps
# creeping up in serde_json, jiff and std long after a decoder has nothing new to show,
# so a run is also judged by the lines of the target's own source (fuzz/targets.sh) that
# its corpus reaches. coverage.sh replays the corpus as it stood at the run's wall-clock
# midpoint and at its end; a line reached at the end and not at the midpoint was first
# reached in the second half. The midpoint replay misses inputs libFuzzer later replaced
# by smaller ones, so the count errs high and the rule errs strict.
#
# Prints one verdict line, then the lines first reached in the second half, if any:
#   decoder plateau <reached|not-reached>: <n> lines first reached in the second half; <covered> of <lines> lines at the end
set -euo pipefail
cd "$(dirname "$0")"
[ $# -eq 3 ] || { sed -n '2,4p' "$0" >&2; exit 2; }
t=$1
start=$(date -d "$2" +%s)
end=$(date -d "$3" +%s)
mid=$(((start + end) / 2))
work=$(mktemp -d -p "${TMPDIR:-/tmp}" second-half.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The coverage row's columns: target, source, regions, missed, region cover, lines, missed, line cover.
for at in mid end; do
  FUZZ_UNTIL="@${!at}" FUZZ_MISSED=1 ./coverage.sh "$t" 2>/dev/null | grep "^| $t |" >"$work/$at.row"
  sort -u "logs/coverage-$t.missed" >"$work/$at.missed"
done
# Missed at the midpoint but not at the end: reached in the second half.
comm -23 "$work/mid.missed" "$work/end.missed" >"$work/new"
n=$(wc -l <"$work/new")
read -r lines missed < <(awk -F'|' '{ gsub(/ /, ""); print $7, $8 }' "$work/end.row")
verdict=reached
[ "$n" -eq 0 ] || verdict=not-reached
echo "decoder plateau $verdict: $n lines first reached in the second half; $((lines - missed)) of $lines lines at the end"
# "/…/crates/decode/src/falco.rs:  155|      0|code" -> "  decode/src/falco.rs:155: code"
sed -E 's#^.*/crates/([^:]*): *([0-9]+)\| *0\|#  \1:\2: #' "$work/new"
