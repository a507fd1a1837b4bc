# Sourced by run.sh, coverage.sh and second-half.sh (from fuzz/): the source files each
# fuzz target is about. run.sh puts the string literals those files compare input
# against into the target's dictionary; coverage.sh reports how much of them the
# target's corpus reaches.
target_sources() {
  local d=../crates/decode/src
  case "$1" in
    docker-events) echo "$d/docker.rs" ;;
    containerd-events) echo "$d/containerd.rs" ;;
    podman-events) echo "$d/podman.rs" ;;
    hubble-flow) echo "$d/hubble.rs" ;;
    zeek-conn) echo "$d/zeek.rs" ;;
    suricata-eve) echo "$d/suricata.rs" ;;
    evtx) echo "$d/sysmon.rs" ;;
    tetragon) echo "$d/tetragon.rs" "$d/tetragon/walk.rs" ;;
    pipeline) ls ../crates/{decode,engine,model,report}/src/*.rs ;;
    prefilter) echo "$d/prefilter.rs" "$d/sniff.rs" ;;
    *) echo "$d/${1//-/_}.rs" ;;
  esac
}

# The target that judges each file's plateau, as "path target" lines (real paths): a
# decoder's file is its own target's, whatever else reaches it. pipeline reaches every
# decoder too, but its few hundred executions a second are shared among all the formats
# (a decoder's own target runs one to three thousand on one), so its runs are judged on
# the code only it fuzzes: the engine, the model, the reports and the decoders' shared
# reading code.
file_owners() {
  local t f
  for t in $(cargo fuzz list); do
    [ "$t" = pipeline ] && continue
    for f in $(target_sources "$t"); do echo "$(realpath "$f") $t"; done
  done
}
