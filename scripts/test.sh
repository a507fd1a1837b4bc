#!/usr/bin/env bash
# pullwatch's whole test suite: unit, integration, snapshot and property tests of every
# crate. Anything the tests need beyond cargo is installed or started from here.
set -euo pipefail
cd "$(dirname "$0")/.."

# The HTML report's browser test renders it in headless Chromium from Debian's packages.
# Installing is best effort: where it cannot be installed (no root, no apt, no network)
# that test says "skipped: no browser" and the rest of the suite runs.
# PULLWATCH_SKIP_BROWSER=1 installs nothing and skips that test (CI leaves it unset).
if [ "${PULLWATCH_SKIP_BROWSER:-}" = 1 ]; then
    echo "test.sh: PULLWATCH_SKIP_BROWSER=1: the browser test is skipped, chromium is not installed" >&2
elif [ ! -x /usr/bin/chromium ]; then
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

cargo test --workspace --all-targets "$@"
