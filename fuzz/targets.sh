# Sourced by run.sh and coverage.sh (from fuzz/): the source files each fuzz target is
# about. run.sh puts the string literals those files compare input against into the
# target's dictionary; coverage.sh reports how much of them the target's corpus reaches.
target_sources() {
  local d=../crates/decode/src
  case "$1" in
    docker-events) echo "$d/docker.rs" ;;
    containerd-events) echo "$d/containerd.rs" ;;
    zeek-conn) echo "$d/zeek.rs" ;;
    suricata-eve) echo "$d/suricata.rs" ;;
    evtx) echo "$d/sysmon.rs" ;;
    pipeline) ls ../crates/{decode,engine,model,report}/src/*.rs ;;
    prefilter) echo "$d/prefilter.rs" "$d/sniff.rs" ;;
    *) echo "$d/${1//-/_}.rs" ;;
  esac
}
