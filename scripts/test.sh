#!/usr/bin/env bash
#! The project's test command (the README's, and what .ci/run calls): installs what the
#! tests need (idempotent, cached outside the repo), then runs every test in the workspace,
#! including the integration tests against a real RocketMQ name server and broker, and the
#! packages' build, install and purge (scripts/test-packages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/install-test-deps.sh all | grep '^RMQ_SIDECAR_ROCKETMQ_BIN=')"
export RMQ_SIDECAR_ROCKETMQ_BIN

cargo test --workspace --locked --all-targets
# Doc tests (the protocol crate's examples) are not part of --all-targets.
cargo test --workspace --locked --doc
# The .deb and .rpm, from the binaries the tests built (installed on this machine as root).
scripts/test-packages.sh
