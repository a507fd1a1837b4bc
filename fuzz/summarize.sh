#!/usr/bin/env bash
# Prints a Markdown table of the last fuzz run of each target from fuzz/logs/*.log
# (libFuzzer's output with -print_final_stats=1), for fuzz/RESULTS.md. FUZZ_LOGS names
# another folder of such logs (a saved pass: FUZZ_LOGS=logs/pass1).
set -euo pipefail
cd "$(dirname "$0")"
logs=${FUZZ_LOGS:-logs}
echo "| target | executions | exec/s | cov at half the run | cov at the end | features (ft) | corpus | last new cov at | crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for log in "$logs"/*.log; do
  t=$(basename "$log" .log)
  execs=$(grep -o 'stat::number_of_executed_units:[[:space:]]*[0-9]*' "$log" | awk '{print $2}' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec:[[:space:]]*[0-9]*' "$log" | awk '{print $2}' | tail -1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$done_line")
  # The execution count at which coverage (cov) last grew.
  last=$(grep -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)' "$log" |
    awk '{n=substr($1,2); for(i=1;i<=NF;i++) if($i=="cov:") c=$(i+1); if(c!=prev){at=n; prev=c}} END{print at}')
  half=$(grep -E '^#[0-9]+[[:space:]]' "$log" |
    awk -v lim="$(( ${execs:-0} / 2 ))" '{n=substr($1,2)+0; for(i=1;i<=NF;i++) if($i=="cov:") c=$(i+1); if(n<=lim) h=c} END{print h}')
  pct=""
  if [ -n "${execs:-}" ] && [ -n "${last:-}" ] && [ "$execs" -gt 0 ]; then
    pct=" ($(( last * 100 / execs ))%)"
  fi
  crashes=$(ls artifacts/"$t"/ 2>/dev/null | grep -cE '^(crash|oom|timeout|leak)-' || true)
  echo "| $t | ${execs:-?} | ${rate:-?} | ${half:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | #${last:-?}${pct} | $crashes |"
done
