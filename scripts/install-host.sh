#!/usr/bin/env bash
# Installs rmq-sidecar on a broker host from this checkout: release binaries, systemd units,
# the service user (sysusers.d), configuration directory with the default agent.toml and the
# environment files, examples, the transparent-mode nftables rules, docs and monitoring
# files. Existing configuration is never overwritten.
# This is the one list of what a host gets: scripts/package.sh stages the .deb and .rpm
# contents with it (DESTDIR), so packages and this script install the same files.
# Usage: scripts/install-host.sh            (as root, on the host)
#        DESTDIR=/tmp/stage scripts/install-host.sh   (stage into a directory; no systemctl)
# RMQ_BIN_DIR=DIR uses already-built binaries from DIR instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
DESTDIR=${DESTDIR:-}
log() { printf 'install-host: %s\n' "$*" >&2; }

if [[ -z ${RMQ_BIN_DIR:-} ]]; then
    log "building release binaries"
    cargo build --release --locked -p rmq-agent -p rmq-ha-guard
    RMQ_BIN_DIR=target/release
fi

install -D -m 0755 "$RMQ_BIN_DIR/rmq-agent" "$DESTDIR/usr/bin/rmq-agent"
install -D -m 0755 "$RMQ_BIN_DIR/rmq-ha-guard" "$DESTDIR/usr/bin/rmq-ha-guard"
install -D -m 0644 systemd/rmq-agent.service "$DESTDIR/usr/lib/systemd/system/rmq-agent.service"
install -D -m 0644 systemd/rmq-ha-guard.service "$DESTDIR/usr/lib/systemd/system/rmq-ha-guard.service"
install -D -m 0644 systemd/rmq-sidecar.sysusers "$DESTDIR/usr/lib/sysusers.d/rmq-sidecar.conf"
install -d -m 0755 "$DESTDIR/etc/rmq-sidecar"
install -d -m 0700 "$DESTDIR/etc/rmq-sidecar/keys"
share="$DESTDIR/usr/share/doc/rmq-sidecar"
install -d -m 0755 "$share/examples" "$DESTDIR/usr/share/rmq-sidecar/monitoring"
install -m 0644 systemd/examples/*.toml "$share/examples/"
install -m 0644 README.md docs/*.md "$share/"
install -m 0644 monitoring/* "$DESTDIR/usr/share/rmq-sidecar/monitoring/"
# Configuration files (conffiles in the packages): installed once, then the operator's.
for conf in systemd/agent.toml systemd/agent.env systemd/ha-guard.env systemd/nftables/rmq-sidecar-transparent.nft; do
    if [[ ! -e "$DESTDIR/etc/rmq-sidecar/${conf##*/}" ]]; then
        install -m 0644 "$conf" "$DESTDIR/etc/rmq-sidecar/"
    fi
done

if [[ -z $DESTDIR ]]; then
    systemd-sysusers /usr/lib/sysusers.d/rmq-sidecar.conf
    # Not in a chroot or a container without systemd.
    if [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
    fi
    log "installed. Next (docs/install.md): edit /etc/rmq-sidecar/agent.toml (examples in"
    log "/usr/share/doc/rmq-sidecar/examples), create keys with 'rmq-agent keygen /etc/rmq-sidecar/keys/ops-1',"
    log "then: systemctl enable --now rmq-agent"
else
    log "staged into $DESTDIR"
fi
