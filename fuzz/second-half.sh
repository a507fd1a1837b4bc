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
# pipeline's sources span every crate, decoders included; a decoder's lines belong to
# the decoder's own target (file_owners in targets.sh). Lines of another target that
# this run's second half first reached are listed apart and checked against that
# target's own corpus (a replay of it): if its corpus does not reach one, the decoder's
# plateau was premature, and this verdict says not-reached too.
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
. ./targets.sh

# The coverage row's columns: target, source, regions, missed, region cover, lines, missed, line cover.
for at in mid end; do
  FUZZ_UNTIL="@${!at}" FUZZ_MISSED=1 ./coverage.sh "$t" 2>/dev/null | grep "^| $t |" >"$work/$at.row"
  sort -u "logs/coverage-$t.missed" >"$work/$at.missed"
done
# Missed at the midpoint but not at the end: reached in the second half.
comm -23 "$work/mid.missed" "$work/end.missed" >"$work/new"

# "/…/crates/decode/src/falco.rs:  155|      0|code": the file is up to the first ":".
# A file this target owns itself (sysmon.rs is both evtx's and sysmon's) stays its own.
file_owners | awk -v t="$t" '{ owner[NR] = $2; file[NR] = $1; if ($2 == t) mine[$1] = 1 }
  END { for (i = 1; i <= NR; i++) if (!(file[i] in mine)) print file[i], owner[i] }' >"$work/owners"
: >"$work/own"
: >"$work/others"
while IFS= read -r line; do
  # Every target the line's file belongs to (sysmon.rs: evtx and sysmon), comma-joined.
  o=$(awk -v f="${line%%:*}" '$1 == f { printf "%s%s", sep, $2; sep = "," }' "$work/owners")
  if [ -z "$o" ]; then echo "$line" >>"$work/own"; else echo "$o $line" >>"$work/others"; fi
done <"$work/new"
# "file:line", the same in every binary's report whatever its count column's width.
key() { sed -E 's#^([^:]*): *([0-9]+)\|.*#\1:\2#'; }
# Each other target's corpus, replayed whole: does it reach the lines this run found?
# A line is unreached when no target it belongs to reaches it.
for o in $(cut -d' ' -f1 "$work/others" | tr , '\n' | sort -u); do
  # A replay that wrote nothing must not leave an older list standing in for it.
  rm -f "logs/coverage-$o.missed"
  FUZZ_MISSED=1 ./coverage.sh "$o" >/dev/null 2>&1
  [ -f "logs/coverage-$o.missed" ] || { echo "no coverage of $o's corpus (fuzz/coverage.sh $o)" >&2; exit 1; }
  key <"logs/coverage-$o.missed" | sort -u >"$work/missed-$o"
done
: >"$work/judged"
while read -r os line; do
  seen=NOT-REACHED
  k=$(echo "$line" | key)
  for o in ${os//,/ }; do
    grep -qxF "$k" "$work/missed-$o" || seen=reached
  done
  echo "$os $seen $line" >>"$work/judged"
done <"$work/others"

n=$(wc -l <"$work/own")
other=$(wc -l <"$work/others")
unreached=$(grep -c '^[^ ]* NOT-REACHED ' "$work/judged" || true)
read -r lines missed < <(awk -F'|' '{ gsub(/ /, ""); print $7, $8 }' "$work/end.row")
verdict=reached
[ "$n" -eq 0 ] && [ "$unreached" -eq 0 ] || verdict=not-reached
others_note=""
[ "$other" -eq 0 ] ||
  others_note=" (and $other of other targets' code, $((other - unreached)) of them reached by those targets' own corpora)"
echo "decoder plateau $verdict: $n lines first reached in the second half$others_note; $((lines - missed)) of $lines lines at the end"
# "/…/crates/decode/src/falco.rs:  155|      0|code" -> "  decode/src/falco.rs:155: code"
pretty() { sed -E 's#^.*/crates/([^:]*): *([0-9]+)\| *0\|#  \1:\2: #'; }
pretty <"$work/own"
if [ "$other" -gt 0 ]; then
  echo "other targets' code (each line: reached by that target's own corpus?):"
  while read -r o seen line; do
    echo "$line" | pretty | sed "s/^/  [$o, $seen]/"
  done <"$work/judged"
fi
