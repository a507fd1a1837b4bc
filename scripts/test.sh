#!/usr/bin/env bash
# pullwatch's whole test suite: unit, integration, snapshot and property tests of every
# crate. Anything the tests need beyond cargo is installed or started from here.
set -euo pipefail
cd "$(dirname "$0")/.."

# The HTML report's browser test renders it in headless Chromium from Debian's packages.
# Installing is best effort: where it cannot be installed (no root, no apt, no network)
# that test says "skipped: no browser" and the rest of the suite runs.
if [ ! -x /usr/bin/chromium ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "test.sh: installing chromium for the HTML report's browser test" >&2
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
                >/tmp/pullwatch-chromium-install.log 2>&1; then
            echo "test.sh: chromium could not be installed (see /tmp/pullwatch-chromium-install.log); the browser test will skip" >&2
        fi
    else
        echo "test.sh: no /usr/bin/chromium and no way to install it; the browser test will skip" >&2
    fi
fi

# The progress bar test runs pullwatch under a pseudo-terminal with util-linux `script`.
if ! command -v script >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bsdutils >/dev/null 2>&1 || true
fi

# pullwatch-kafka's tests run against a real Kafka broker (scripts/kafka.sh: Kafka 4.4.0 on
# 127.0.0.1 only; Java 17 and Maven are installed when missing). It starts in the background
# while the tests compile and stops when this script exits; a broker that was already
# running is used and left running. Where none can be started (no Java and no way to
# install it, Maven Central unreachable) the Kafka tests say "skipped: no broker" and the
# rest of the suite runs. PULLWATCH_REQUIRE_KAFKA=1 makes that a failure, and
# PULLWATCH_KAFKA=off leaves the broker out.
kafka_start=
kafka_out=$(mktemp)
kafka_cleanup() {
    if [ -n "$kafka_start" ]; then
        # Wait for a start still in progress, or stopping would leave a broker behind.
        wait "$kafka_start" 2>/dev/null || true
        scripts/kafka.sh stop 2>/dev/null || true
    fi
    rm -f "$kafka_out" "$kafka_out.log"
}
trap kafka_cleanup EXIT
if [ "${PULLWATCH_KAFKA:-on}" != off ]; then
    if scripts/kafka.sh status >/dev/null 2>&1; then
        scripts/kafka.sh start >"$kafka_out" 2>/dev/null
    else
        scripts/kafka.sh start >"$kafka_out" 2>"$kafka_out.log" &
        kafka_start=$!
    fi
fi

cargo test --workspace --all-targets --no-run "$@"

if [ "${PULLWATCH_KAFKA:-on}" != off ]; then
    if [ -n "$kafka_start" ] && ! wait "$kafka_start"; then
        echo "test.sh: no Kafka broker; the Kafka tests will skip. scripts/kafka.sh said:" >&2
        sed 's/^/    /' "$kafka_out.log" >&2
        [ "${PULLWATCH_REQUIRE_KAFKA:-}" != 1 ] || exit 1
    else
        [ -z "$kafka_start" ] || sed 's/^/test.sh: /' "$kafka_out.log" >&2
        export "$(grep '^KAFKA_BOOTSTRAP=' "$kafka_out")"
        # The broker is up: a Kafka test that finds no KAFKA_BOOTSTRAP now fails instead of skipping.
        export PULLWATCH_REQUIRE_KAFKA=1
    fi
fi

cargo test --workspace --all-targets "$@"
