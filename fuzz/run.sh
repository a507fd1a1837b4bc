#!/usr/bin/env bash
# Runs pullwatch's fuzz targets one after the other, FUZZ_SECONDS each (default 180):
#   fuzz/run.sh                    every target
#   fuzz/run.sh auditd pipeline    the ones named
#   FUZZ_PLATEAU=600 FUZZ_SECONDS=2400 fuzz/run.sh tetragon
#                                  until coverage plateaus (plateau.py), at most FUZZ_SECONDS;
#                                  then whether the second half reached new decoder lines
#                                  (second-half.sh, skipped with FUZZ_SECOND_HALF=0)
#   FUZZ_FORK=2 ...                libFuzzer's -fork=2: two fuzzing processes, one corpus
#                                  (for a slow target such as pipeline, on a machine's cores)
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
. ./targets.sh
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
    cloudtrail) echo cloudtrail ;;
    gcp-audit) echo gcp-audit ;;
    azure-activity) echo azure-activity ;;
    sysmon) echo sysmon ;;
    cloud-init) echo cloud-init ;;
    user-data) echo cloud-init/user-data ;;
    evtx) echo sysmon ;;
    pipeline) echo docker k8s-audit falco tetragon auditd zeek suricata vpc-flow \
      cloudtrail gcp-audit azure-activity sysmon cloud-init ;;
    prefilter) echo docker k8s-audit falco tetragon ;;
  esac
}

# Folders of crates/decode/tests/fixtures (besides seeds/) by target.
fixture_dirs() {
  case "$1" in
    containerd-events) echo containerd ;;
    k8s-audit) echo k8s-audit ;;
    k8s-events) echo k8s-events ;;
    user-data) echo user-data ;;
    pipeline) echo containerd k8s-audit k8s-events user-data ;;
    prefilter) echo k8s-audit k8s-events ;;
  esac
}

# The files of one sample folder, less cloud-init/user-data for the cloud-init target:
# that subfolder holds user data, not cloud-init's logs.
sample_files() {
  local t=$1 sub=$2
  if [ "$t" = cloud-init ]; then
    find "$samples/$sub" -type f ! -name '*.md' ! -path "$samples/$sub/user-data/*" | sort
  else
    find "$samples/$sub" -type f ! -name '*.md' | sort
  fi
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

# The decoder targets read one record per line, as the stream hands records to the
# decoders. A file that is one JSON document (pretty-printed, an array of records, or a
# {"Records": [...]} / {"records": [...]} / {"items": [...]} wrapper) is therefore
# added as its records, compact, one per line, in seeds of at most 16 KiB (up to 8
# per file); any other file as it is (add). python3 keeps 64-bit integers exact.
add_records() {
  local f=$1 dir=$2
  [ -f "$f" ] || return 0
  local name
  name=$(printf '%s' "$f" | cksum | cut -d' ' -f1)
  python3 - "$f" "$dir/seed-$name" <<'PY' 2>/dev/null || add "$f" "$dir"
import json, sys
src, out = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as fh:
    doc = json.load(fh)  # fails on JSON Lines and on text: the caller adds those as they are
if isinstance(doc, dict):
    wrapped = [doc[k] for k in ("Records", "records", "items") if isinstance(doc.get(k), list)]
    doc = wrapped[0] if wrapped else [doc]
if not isinstance(doc, list):
    sys.exit(1)
lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in doc]
chunks, cur = [], ""
for line in lines:
    if len(line.encode()) + 1 > 16384:
        continue
    if cur and len((cur + line).encode()) + 1 > 16384:
        chunks.append(cur)
        cur = ""
    cur += line + "\n"
if cur:
    chunks.append(cur)
if not chunks:
    sys.exit(1)
for i, c in enumerate(chunks[:8]):
    with open(f"{out}-{i}", "w", encoding="utf-8") as fh:
        fh.write(c)
PY
}

seed() {
  local t=$1 dir=corpus/$1
  mkdir -p "$dir"
  local fixtures=$root/crates/decode/tests/fixtures
  local seeds=$fixtures/seeds
  if [ "$t" = pipeline ]; then
    for f in "$seeds"/* "$root"/examples/*/*; do add "$f" "$dir"; done
  elif [ "$t" = prefilter ]; then
    # The formats the prefilter skips records of, and records of each that it skips.
    for f in "$seeds"/{docker-events,k8s-audit,k8s-events,falco,tetragon}* \
      "$root"/examples/{docker,k8s,node}/* seeds/prefilter.jsonl; do
      add_records "$f" "$dir"
    done
  else
    for f in "$seeds/$t"*; do add "$f" "$dir"; done
  fi
  local adder=add_records
  [ "$t" = pipeline ] && adder=add
  if [ "$t" = evtx ]; then
    # Whole binary files only: a cut EVTX file is just a damaged one.
    for sub in $(sample_dirs "$t"); do
      [ -d "$samples/$sub" ] || continue
      find "$samples/$sub" -type f -name '*.evtx' | while IFS= read -r f; do
        cp "$f" "$dir/seed-$(printf '%s' "$f" | cksum | cut -d' ' -f1)"
      done
    done
    return 0
  fi
  for sub in $(fixture_dirs "$t"); do
    for f in "$fixtures/$sub"/*; do "$adder" "$f" "$dir"; done
  done
  for sub in $(sample_dirs "$t"); do
    [ -d "$samples/$sub" ] || continue
    while IFS= read -r f; do "$adder" "$f" "$dir"; done < <(sample_files "$t" "$sub")
  done
}

# A libFuzzer dictionary of the keys the target's seeds use (`"name":`), so that
# mutations splice whole keys of the format rather than finding them byte by byte, and
# of the string literals in the decoder's own source (before its tests): the method
# names, actions and field values it compares against, which the seeds may never spell
# (no sample holds every CloudTrail or GCP method the decoder knows).
dictionary() {
  local t=$1 out=dicts/$1.dict
  mkdir -p dicts
  {
    cat corpus/"$t"/seed-* 2>/dev/null | grep -aoE '"[A-Za-z0-9_.@/-]{1,48}":' | sort -u | head -2000 |
      sed 's/\\/\\\\/g; s/"/\\"/g; s/.*/"&"/'
    for f in $(target_sources "$t"); do
      sed '/^#\[cfg(test)\]/,$d' "$f"
    done | grep -oE '"[A-Za-z0-9_.:@/+ -]{2,48}"' | sort -u | head -2000
  } >"$out"
  echo "$out"
}

mkdir -p logs
for t in "${targets[@]}"; do
  seed "$t"
  dict=$(dictionary "$t")
  # libFuzzer refuses an empty dictionary (binary seeds have no JSON keys).
  dict_arg=()
  [ -s "$dict" ] && dict_arg=(-dict="$dict")
  echo "== $t: $(ls corpus/$t | wc -l) seeds, $(wc -l <"$dict") dictionary keys, ${secs}s"
  # An EVTX file holds at least a 4 KiB header and one 64 KiB chunk.
  max_len=65536
  [ "$t" = evtx ] && max_len=262144
  run=(cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048
    -max_len="$max_len" "${dict_arg[@]}" -print_final_stats=1)
  [ -n "${FUZZ_FORK:-}" ] && run+=(-fork="$FUZZ_FORK")
  if [ -n "${FUZZ_PLATEAU:-}" ]; then
    # Stop at the plateau rule of RESULTS.md (FUZZ_PLATEAU seconds at least, second
    # half under +0.5% edges); FUZZ_SECONDS stays the cap. Then judge the run by the
    # target's own code too (second-half.sh), unless FUZZ_SECOND_HALF=0.
    began=$(date +%s)
    summary=$(python3 plateau.py "logs/$t.log" "$FUZZ_PLATEAU" 0.5 -- "${run[@]}") || true
    ended=$(date +%s)
    echo "$summary"
    echo "$(date -u +%FT%TZ) $t $summary" >>logs/plateau.txt
    grep -E '^#[0-9]+.*(INITED|DONE)|^stat::|SUMMARY|panicked' "logs/$t.log" || true
    if [ "${FUZZ_SECOND_HALF:-1}" != 0 ]; then
      # A failed replay (no coverage build, say) costs this verdict, not the other targets.
      ./second-half.sh "$t" "@$began" "@$ended" | tee "logs/$t.second-half" ||
        echo "decoder plateau unknown: fuzz/second-half.sh failed" | tee "logs/$t.second-half"
      echo "$(date -u +%FT%TZ) $t $(head -1 "logs/$t.second-half")" >>logs/plateau.txt
    fi
  else
    "${run[@]}" 2>&1 | tee "logs/$t.log" | grep -E '^#[0-9]+.*(INITED|DONE)|^stat::|SUMMARY|panicked' || true
  fi
done
