#!/usr/bin/env bash
# A real Apache Kafka broker for pullwatch's Kafka tests: Kafka 4.4.0 from Apache's own jars
# on Maven Central, one KRaft node (broker and controller in one JVM), listening on
# 127.0.0.1 only. No container runtime and no Kafka tarball are needed, only Java 17 and
# Maven, which are installed with apt-get when missing (as root).
#
#   scripts/kafka.sh start      start the broker (or find it running); prints KAFKA_BOOTSTRAP=…
#   scripts/kafka.sh stop       stop the broker started from this directory
#   scripts/kafka.sh status     say whether it runs; exit 1 when it does not
#   scripts/kafka.sh run CMD…   start, run CMD with KAFKA_BOOTSTRAP exported, stop (also
#                               when CMD fails); exits with CMD's status. A broker that was
#                               already running is used and left running.
#
# Environment:
#   PULLWATCH_KAFKA_DIR             jars, config, data and log (default /tmp/pullwatch-kafka)
#   PULLWATCH_KAFKA_PORT            client port (default 19092)
#   PULLWATCH_KAFKA_CONTROLLER_PORT KRaft controller port (default 19093)
#   PULLWATCH_KAFKA_HEAP            broker -Xmx (default 512m)
#   PULLWATCH_KAFKA_START_TIMEOUT   seconds to wait for readiness (default 90)
#
# One broker per directory: runs that overlap need their own directory and ports.
# Every start formats fresh storage, so each run begins without topics or groups.
set -euo pipefail

KAFKA_VERSION=4.4.0
# The log4j that kafka-server 4.4.0 itself depends on. Kafka 4.4.0 still logs through
# slf4j-api 1.7, whose binding is log4j-slf4j-impl (log4j-slf4j2-impl would not bind).
LOG4J_VERSION=2.25.5

DIR="${PULLWATCH_KAFKA_DIR:-/tmp/pullwatch-kafka}"
PORT="${PULLWATCH_KAFKA_PORT:-19092}"
CPORT="${PULLWATCH_KAFKA_CONTROLLER_PORT:-19093}"
HEAP="${PULLWATCH_KAFKA_HEAP:-512m}"
START_TIMEOUT="${PULLWATCH_KAFKA_START_TIMEOUT:-90}"
BOOTSTRAP="127.0.0.1:$PORT"
PIDFILE="$DIR/broker.pid"
LOG="$DIR/broker.log"

say() { echo "kafka.sh: $*" >&2; }
die() { say "$*"; exit 1; }
now_ms() { date +%s%3N; }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%02d s' $((ms / 1000)) $((ms % 1000 / 10)); }

case "$PORT$CPORT" in *[!0-9]*) die "ports must be numbers: '$PORT', '$CPORT'" ;; esac

java_major() {
    # `java -version` prints e.g. openjdk version "17.0.15" 2025-04-15 (on stderr).
    "$1" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -n1
}

# Finds a Java 17+ and Maven, installing Debian's when missing and allowed to.
ensure_tools() {
    JAVA="${JAVA:-}"
    if [ -z "$JAVA" ]; then
        for candidate in java /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-2[0-9]-openjdk-*/bin/java; do
            if command -v "$candidate" >/dev/null 2>&1 && [ "$(java_major "$candidate")" -ge 17 ] 2>/dev/null; then
                JAVA="$candidate"
                break
            fi
        done
    fi
    local missing=()
    [ -n "$JAVA" ] || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null 2>&1 || missing+=(maven)
    if [ "${#missing[@]}" -gt 0 ]; then
        command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
            || die "missing ${missing[*]} (Java 17+ and Maven), and cannot install them without root and apt-get"
        say "installing ${missing[*]}"
        local aptlog="$DIR/apt.log"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$aptlog" 2>&1 \
            || die "apt-get update failed (see $aptlog)"
        local pkg
        for pkg in "${missing[@]}"; do
            apt-cache policy "$pkg" | grep -q 'Candidate: [0-9]' \
                || die "apt has no installable $pkg (apt-cache policy $pkg)"
        done
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 \
            || die "apt-get install ${missing[*]} failed (see $aptlog)"
        [ -n "$JAVA" ] || JAVA=$(ls /usr/lib/jvm/java-17-openjdk-*/bin/java 2>/dev/null | head -n1)
        [ -n "$JAVA" ] || die "Java 17 was installed but its java binary was not found"
    fi
}

write_files() {
    cat >"$DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- Only a dependency list: mvn copies Kafka's broker and tools jars into lib/. -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.pullwatch.test</groupId>
  <artifactId>pullwatch-kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM

    # Both listeners on loopback: the test broker must never be reachable from elsewhere.
    # Internal topics have one replica (there is one broker); the group settings make
    # joins and rebalances take about a second instead of several.
    cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=1000
PROPS

    # The broker logs INFO to its log file; the tool JVMs log warnings to stderr only
    # (without a config they print their whole client configuration on stdout).
    cat >"$DIR/log4j2-broker.properties" <<'L4J'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
L4J
    cat >"$DIR/log4j2-tools.properties" <<'L4J'
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
L4J
}

fetch_jars() {
    local done_marker="$DIR/lib/.complete-$KAFKA_VERSION"
    [ -f "$done_marker" ] && return 0
    local t; t=$(now_ms)
    rm -rf "$DIR/lib"
    mvn -q -B -f "$DIR/pom.xml" dependency:copy-dependencies -DoutputDirectory="$DIR/lib" >"$DIR/mvn.log" 2>&1 \
        || { tail -n 30 "$DIR/mvn.log" >&2; die "fetching Kafka $KAFKA_VERSION from Maven Central failed (see $DIR/mvn.log)"; }
    [ -f "$DIR/lib/kafka_2.13-$KAFKA_VERSION.jar" ] || die "mvn finished but lib/kafka_2.13-$KAFKA_VERSION.jar is missing"
    touch "$done_marker"
    say "jars fetched in $(since "$t")"
}

# "lib/*" stays quoted so that java expands it, not the shell.
tool() { "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$DIR/log4j2-tools.properties" -cp "$DIR/lib/*" "$@"; }

# The pid of the broker this directory started, if it still runs. The command line is
# checked so that a recycled pid never makes us report, or stop, some other process.
running_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid; pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "kafka.Kafka $DIR/server.properties" || return 1
    echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts the broker unless it runs already; sets STARTED_HERE=1 when this call started it.
start_broker() {
    STARTED_HERE=0
    mkdir -p "$DIR"
    # Serialize starts from this directory; the lock fd is closed for the broker itself.
    exec 9>"$DIR/lock"
    command -v flock >/dev/null 2>&1 && { flock -w 300 9 || die "another kafka.sh holds $DIR/lock"; }
    if running_pid >/dev/null; then
        exec 9>&-
        return 0
    fi
    ensure_tools
    if port_open "$PORT" || port_open "$CPORT"; then
        die "port $PORT or $CPORT on 127.0.0.1 is taken by something else; set PULLWATCH_KAFKA_PORT/PULLWATCH_KAFKA_CONTROLLER_PORT"
    fi
    write_files
    fetch_jars

    local t; t=$(now_ms)
    rm -rf "$DIR/data"
    local cluster_id
    cluster_id=$(tool kafka.tools.StorageTool random-uuid) || die "StorageTool random-uuid failed"
    tool kafka.tools.StorageTool format -t "$cluster_id" -c "$DIR/server.properties" --standalone >/dev/null \
        || die "formatting KRaft storage failed"
    say "storage formatted in $(since "$t")"

    t=$(now_ms)
    # setsid: the broker outlives this script (for `start`) and is not hit by the test
    # terminal's Ctrl-C; `stop` ends it by its pid.
    setsid "$JAVA" -Xmx"$HEAP" -Xms128m -Dlog4j2.configurationFile="$DIR/log4j2-broker.properties" \
        -cp "$DIR/lib/*" kafka.Kafka "$DIR/server.properties" >"$LOG" 2>&1 </dev/null 9>&- &
    local pid=$!
    echo "$pid" >"$PIDFILE"
    STARTED_HERE=1
    exec 9>&-

    # Ready means the client port accepts and the broker has logged that it started (the
    # port opens about a second before topics can be created).
    local deadline=$(( $(date +%s) + START_TIMEOUT ))
    until port_open "$PORT" && grep -q 'Kafka Server started' "$LOG" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$LOG" >&2
            rm -f "$PIDFILE"
            die "the broker exited during startup (log: $LOG)"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail -n 40 "$LOG" >&2
            stop_broker
            die "the broker was not ready within ${START_TIMEOUT}s (log: $LOG)"
        fi
        sleep 0.1
    done
    say "broker ready on $BOOTSTRAP in $(since "$t") (pid $pid, RSS $(ps -o rss= -p "$pid" | tr -d ' ') kB)"
}

stop_broker() {
    local pid
    pid=$(running_pid) || { rm -f "$PIDFILE"; return 0; }
    local t; t=$(now_ms)
    kill -TERM "$pid" 2>/dev/null || true
    # A clean shutdown takes under a second, a few after a long run; then it is killed.
    local deadline=$(( $(date +%s) + 30 ))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            say "broker $pid ignored SIGTERM for 30 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$PIDFILE"
    say "broker stopped in $(since "$t")"
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    start)
        start_broker
        echo "KAFKA_BOOTSTRAP=$BOOTSTRAP"
        ;;
    stop)
        stop_broker
        ;;
    status)
        if pid=$(running_pid); then
            echo "running: pid $pid, KAFKA_BOOTSTRAP=$BOOTSTRAP"
        else
            echo "not running"
            exit 1
        fi
        ;;
    run)
        [ $# -gt 0 ] || usage
        start_broker
        if [ "$STARTED_HERE" = 1 ]; then
            trap stop_broker EXIT
            trap 'exit 130' INT
            trap 'exit 143' TERM
        fi
        t=$(now_ms)
        rc=0
        KAFKA_BOOTSTRAP="$BOOTSTRAP" "$@" || rc=$?
        say "'$*' exited $rc after $(since "$t")"
        exit "$rc"
        ;;
    *)
        usage
        ;;
esac
