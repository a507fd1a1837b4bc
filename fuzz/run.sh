#!/usr/bin/env bash
# Runs pullwatch's fuzz targets one after the other, FUZZ_SECONDS each (default 180):
#   fuzz/run.sh                    every target
#   fuzz/run.sh auditd pipeline    the ones named
# Corpora are seeded at run time from the repository's own fixtures and examples and,
# when present, from the real samples in ../shared/samples (never copied into the
# repository: some are GPL or have no licence). Findings land in fuzz/artifacts/<target>/,
# libFuzzer's closing figures in fuzz/logs/<target>.log.
#
# cargo-fuzz passes nightly-only flags (-Z sanitizer, coverage); RUSTC_BOOTSTRAP=1
# lets a stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
secs=${FUZZ_SECONDS:-180}
root=..
samples=${PULLWATCH_SAMPLES:-$root/../shared/samples}

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

# Sample folders of ../shared/samples by the format (fuzz target) they hold.
sample_dirs() {
  case "$1" in
    docker-events) echo docker ;;
    k8s-audit) echo k8s-audit ;;
    falco) echo falco ;;
    tetragon) echo tetragon ;;
    auditd) echo auditd ;;
    zeek-conn) echo zeek ;;
    suricata-eve) echo suricata ;;
    vpc-flow) echo vpc-flow ;;
    pipeline) echo docker k8s-audit falco tetragon auditd zeek suricata vpc-flow ;;
  esac
}

# Copies a file into the corpus, cut to its first 16 KiB of whole lines: libFuzzer
# works best on small inputs, and the first lines carry the headers.
add() {
  local f=$1 dir=$2
  [ -f "$f" ] || return 0
  local name
  name=$(printf '%s' "$f" | cksum | cut -d' ' -f1)
  head -c 16384 "$f" | { if [ "$(wc -c <"$f")" -gt 16384 ]; then sed '$d'; else cat; fi; } >"$dir/seed-$name"
}

seed() {
  local t=$1 dir=corpus/$1
  mkdir -p "$dir"
  local seeds=$root/crates/decode/tests/fixtures/seeds
  if [ "$t" = pipeline ]; then
    for f in "$seeds"/* "$root"/examples/*/*; do add "$f" "$dir"; done
  else
    for f in "$seeds/$t"*; do add "$f" "$dir"; done
  fi
  for sub in $(sample_dirs "$t"); do
    [ -d "$samples/$sub" ] || continue
    while IFS= read -r f; do add "$f" "$dir"; done < <(find "$samples/$sub" -type f ! -name '*.md' | sort)
  done
}

mkdir -p logs
for t in "${targets[@]}"; do
  seed "$t"
  echo "== $t: $(ls corpus/$t | wc -l) seeds, ${secs}s"
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 2>&1 | tee "logs/$t.log" | grep -E '^#[0-9]+.*(INITED|DONE)|^stat::|SUMMARY|panicked' || true
done
