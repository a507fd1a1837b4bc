#!/usr/bin/env bash
# How much of pullwatch's own code each target's corpus reaches:
#   fuzz/coverage.sh                 every target with a corpus
#   fuzz/coverage.sh tetragon evtx   the ones named
# libFuzzer's `cov:` counts edges in everything linked in (serde_json, jiff, the evtx
# crate, std), so it keeps creeping up as the fuzzer finds new number spellings long after
# the decoder itself has nothing new to show. This replays each corpus through a
# coverage-instrumented build (`cargo fuzz coverage`) and reports regions and lines of the
# source file the target is about (the whole of crates/ for `pipeline`): the figure that
# says whether a plateau is the decoder's or only the libraries'. FUZZ_MISSED=1 also lists
# the decoder's lines no input reached.
#
# FUZZ_UNTIL="2026-11-28 17:00" replays only the corpus files written by then (libFuzzer
# writes each new input as a file): the coverage a run had reached at that time, give or
# take inputs it later replaced by smaller ones, so it errs on the low side. Comparing a
# run's midpoint with its end tells whether its second half reached any new decoder code.
#
# Needs the llvm-tools rustup component (cargo-fuzz uses its llvm-profdata); the script
# adds it when missing.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
bin=$sysroot/lib/rustlib/$host/bin
[ -x "$bin/llvm-cov" ] || rustup component add llvm-tools

. ./targets.sh
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

echo "| target | source | regions | missed | region cover | lines | missed | line cover |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
  [ -d "corpus/$t" ] || { echo "no corpus for $t (run fuzz/run.sh $t first)" >&2; continue; }
  corpus=corpus/$t
  if [ -n "${FUZZ_UNTIL:-}" ]; then
    mkdir -p target && corpus=$(mktemp -d -p target corpus-until.XXXXXX)
    find "corpus/$t" -maxdepth 1 -type f ! -newermt "$FUZZ_UNTIL" -exec ln {} "$corpus"/ \;
  fi
  cargo fuzz coverage "$t" "$corpus" >"logs/coverage-$t.log" 2>&1
  [ "$corpus" = "corpus/$t" ] || rm -rf "$corpus"
  exe=$(find target -path "*/coverage/*/release/$t" -type f | head -1)
  mapfile -t files < <(target_sources "$t" | xargs realpath)
  # llvm-cov's JSON summary, per file: regions and lines, counted and covered.
  "$bin/llvm-cov" export -summary-only "$exe" -instr-profile="coverage/$t/coverage.profdata" |
    python3 -c '
import json, sys
t, wanted = sys.argv[1], set(sys.argv[2:])
files = [f for f in json.load(sys.stdin)["data"][0]["files"] if f["filename"] in wanted]
def total(kind, key):
    return sum(f["summary"][kind][key] for f in files)
r, rc = total("regions", "count"), total("regions", "covered")
l, lc = total("lines", "count"), total("lines", "covered")
name = files[0]["filename"].split("/crates/")[-1] if len(files) == 1 else f"{len(files)} files of crates/"
pct = lambda c, n: f"{100 * c / n:.1f}%" if n else "-"
print(f"| {t} | {name} | {r} | {r - rc} | {pct(rc, r)} | {l} | {l - lc} | {pct(lc, l)} |")
' "$t" "${files[@]}"
  if [ -n "${FUZZ_MISSED:-}" ]; then
    # Lines with a count of 0, each prefixed with its file.
    "$bin/llvm-cov" show "$exe" -instr-profile="coverage/$t/coverage.profdata" \
      -show-line-counts -format=text "${files[@]}" 2>/dev/null |
      awk -v only="${files[0]}" '
        BEGIN { file = only }
        /^\/.*:$/ { file = substr($0, 1, length($0) - 1); next }
        /^ *[0-9]+\| *0\|/ { print file ":" $0 }' >"logs/coverage-$t.missed"
    echo "  lines of $t no input reached: fuzz/logs/coverage-$t.missed" >&2
  fi
done
