#!/usr/bin/env bash
#! Builds the rmq-sidecar packages, one .deb and one .rpm holding both programs, into
#! target/packages/ (or $RMQ_PACKAGE_OUT). Their contents are what scripts/install-host.sh
#! installs on a host, staged into target/package/root; the package metadata is in
#! agent/Cargo.toml, the maintainer scripts in packaging/. The version is the workspace's.
#!
#! Tools: cargo-deb and cargo-generate-rpm, installed once with `cargo install --locked` into
#! $RMQ_SIDECAR_CACHE/tools (outside the repository) if missing.
#! Binaries: a release build (`cargo build --release`), or RMQ_BIN_DIR=DIR with rmq-agent and
#! rmq-ha-guard already built. They are packaged without their DWARF debug info.
#! RMQ_PACKAGE_FAST=1 compresses the .deb lightly (tests).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${RMQ_SIDECAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rmq-sidecar}"
TOOLS="$CACHE/tools"
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1
OUT="${RMQ_PACKAGE_OUT:-target/packages}"
WORK=target/package
STAGE="$WORK/root"

log() { printf '[package] %s\n' "$*" >&2; }

install_tool() {
    local name=$1 version=$2
    if [[ -x "$TOOLS/bin/$name" ]] && [[ $("$TOOLS/bin/$name" --version 2>/dev/null) == *" $version" ]]; then
        return
    fi
    log "installing $name $version into $TOOLS (once per cache)"
    CARGO_TARGET_DIR="$CACHE/tools-build" cargo install --quiet --locked --root "$TOOLS" "$name@$version"
}

install_tool cargo-deb "$CARGO_DEB_VERSION"
install_tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"

if [[ -z ${RMQ_BIN_DIR:-} ]]; then
    log "building release binaries"
    cargo build --release --locked -p rmq-agent -p rmq-ha-guard
    RMQ_BIN_DIR=target/release
fi

log "staging with scripts/install-host.sh into $STAGE"
rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"
DESTDIR="$STAGE" RMQ_BIN_DIR="$RMQ_BIN_DIR" scripts/install-host.sh
strip --strip-debug "$STAGE/usr/bin/rmq-agent" "$STAGE/usr/bin/rmq-ha-guard"

# The .rpm's file list, from the staged tree: every file with its mode; /etc is
# configuration an upgrade keeps, /usr/share/doc documentation. (Directories cannot be
# listed: cargo-generate-rpm 0.21.1's `dir = true` fails. The scriptlets make and remove
# them.)
rpm_assets="$WORK/rpm-assets.toml"
{
    echo "assets = ["
    while IFS= read -r -d '' path; do
        rel=${path#"$STAGE"}
        mode=$(stat -c '%a' "$path")
        extra=""
        case $rel in
            /etc/*) extra=', config = "noreplace"' ;;
            /usr/share/doc/*) extra=', doc = true' ;;
        esac
        printf '    { source = "%s", dest = "%s", mode = "%s"%s },\n' "$PWD/$path" "$rel" "$mode" "$extra"
    done < <(find "$STAGE" -type f -print0 | sort -z)
    echo "]"
} >"$rpm_assets"

fast=()
[[ -n ${RMQ_PACKAGE_FAST:-} ]] && fast=(--fast)
log "building the .deb"
"$TOOLS/bin/cargo-deb" -p rmq-agent --no-build --quiet "${fast[@]}" --output "$OUT/"
log "building the .rpm"
"$TOOLS/bin/cargo-generate-rpm" -p agent --metadata-overwrite="$rpm_assets" --output "$OUT/"
ls -1 "$OUT"/*.deb "$OUT"/*.rpm
