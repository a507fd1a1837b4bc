#!/usr/bin/env bash
# pullwatch's whole test suite: unit, integration, snapshot and property tests of every
# crate. Anything the tests need beyond cargo is installed or started from here.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets "$@"
