#!/usr/bin/env bash
#! Installs what the test suite needs, idempotently, into a cache outside the repo.
#
# - RocketMQ-Rust name server and broker (crates.io, built once with `cargo install --locked`)
#   into $RMQ_SIDECAR_CACHE/rocketmq/bin.
# - Debian packages later test suites use (Prometheus, VictoriaMetrics, node_exporter, HAProxy;
#   rpm to inspect the .rpm package, yamllint for the Kubernetes example).
# - Python: the reference OpenMetrics parser, and kubernetes-validate (the Kubernetes API
#   schemas, offline) for the Kubernetes example.
#
# Re-running it is cheap: each step checks for what it would install first.
set -euo pipefail

CACHE="${RMQ_SIDECAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rmq-sidecar}"
ROCKETMQ_VERSION="${ROCKETMQ_RUST_VERSION:-1.0.0}"
ROCKETMQ_ROOT="$CACHE/rocketmq-$ROCKETMQ_VERSION"
DEBIAN_PACKAGES=(prometheus victoria-metrics prometheus-node-exporter haproxy iproute2 nftables systemd rpm yamllint)
PY_PROMETHEUS_CLIENT_VERSION=0.21.1
PY_KUBERNETES_VALIDATE_VERSION=1.37.0

log() { printf '[install-test-deps] %s\n' "$*" >&2; }

install_rocketmq() {
    local bin="$ROCKETMQ_ROOT/bin"
    if [[ -x "$bin/rocketmq-namesrv-rust" && -x "$bin/rocketmq-broker-rust" ]]; then
        log "RocketMQ-Rust $ROCKETMQ_VERSION already in $bin"
        return
    fi
    log "building RocketMQ-Rust $ROCKETMQ_VERSION into $ROCKETMQ_ROOT (long, once per cache)"
    mkdir -p "$ROCKETMQ_ROOT"
    # A private target dir keeps the build cache beside the binaries, so an interrupted
    # build resumes instead of starting over.
    CARGO_TARGET_DIR="$CACHE/rocketmq-build" \
        cargo install --locked --root "$ROCKETMQ_ROOT" \
        "rocketmq-namesrv@$ROCKETMQ_VERSION" "rocketmq-broker@$ROCKETMQ_VERSION"
}

install_debian() {
    local missing=()
    for p in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "Debian packages present: ${DEBIAN_PACKAGES[*]}"
        return
    fi
    if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
        log "missing Debian packages (${missing[*]}) and not root: install them, then re-run"
        exit 1
    fi
    local SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO=sudo
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    # The packages ship services; the tests start their own instances on loopback, so keep the
    # packaged ones from starting (policy-rc.d 101 = "action not allowed").
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod +x "$policy"
        created_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
    ((created_policy)) && $SUDO rm -f "$policy"
    return 0
}

install_python() {
    # The reference OpenMetrics parser (what prometheus-client's own tests use).
    if python3 -c 'import prometheus_client' 2>/dev/null; then
        log "python prometheus_client present"
    else
        log "installing python prometheus_client"
        python3 -m pip install --quiet --disable-pip-version-check "prometheus-client==${PY_PROMETHEUS_CLIENT_VERSION}"
    fi
    # Kubernetes manifests checked against the API's schemas, which the package carries.
    if python3 -m pip show kubernetes-validate 2>/dev/null | grep -qx "Version: ${PY_KUBERNETES_VALIDATE_VERSION}"; then
        log "python kubernetes-validate present"
    else
        log "installing python kubernetes-validate"
        python3 -m pip install --quiet --disable-pip-version-check "kubernetes-validate==${PY_KUBERNETES_VALIDATE_VERSION}"
    fi
}

case "${1:-all}" in
    rocketmq) install_rocketmq ;;
    debian) install_debian ;;
    python) install_python ;;
    all) install_debian; install_python; install_rocketmq ;;
    env) ;;
    *) log "usage: $0 [all|rocketmq|debian|python|env]"; exit 2 ;;
esac

# Tell the caller (and the test harness) where the binaries are.
echo "RMQ_SIDECAR_ROCKETMQ_BIN=$ROCKETMQ_ROOT/bin"
