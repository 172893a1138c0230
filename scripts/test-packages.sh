#!/usr/bin/env bash
#! The packages' test (scripts/test.sh runs it): builds the .deb and .rpm with
#! scripts/package.sh, checks that they hold exactly what scripts/install-host.sh stages (with
#! modes, conffiles, the workspace version, the maintainer scripts), then, as root, installs
#! each on this machine: files and units checked (`systemd-analyze verify` on the installed
#! units), nothing enabled or started, an edited configuration kept by a reinstall, then
#! purged (dpkg) or erased (rpm, with a private database) and nothing left behind.
#!
#! Binaries: the release build if there is one (brought up to date), else the debug build
#! that `cargo test` made; the packaging is the same either way. Not root: build and
#! inspection only. Needs dpkg, rpm and systemd-analyze (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

STAGE=target/package/root
OUT=target/packages
UNITS=(rmq-agent.service rmq-ha-guard.service)
failures=0
checks=0

log() { printf '[test-packages] %s\n' "$*" >&2; }
ok() { checks=$((checks + 1)); }
fail() {
    printf '[test-packages] FAIL: %s\n' "$*" >&2
    failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...: one assertion
    local what=$1
    shift
    if "$@"; then ok; else fail "$what"; fi
}
same() { # same DESCRIPTION WANT GOT
    if [[ $2 == "$3" ]]; then ok; else fail "$1"$'\n'"--- want"$'\n'"$2"$'\n'"--- got"$'\n'"$3"; fi
}

for tool in dpkg-deb rpm systemd-analyze; do
    command -v "$tool" >/dev/null || { log "$tool missing: run scripts/install-test-deps.sh debian"; exit 1; }
done

if [[ -x target/release/rmq-agent && -x target/release/rmq-ha-guard ]]; then
    cargo build --release --locked -p rmq-agent -p rmq-ha-guard
    bins=target/release
else
    cargo build --locked -p rmq-agent -p rmq-ha-guard
    bins=target/debug
fi
log "packaging the binaries in $bins"
RMQ_BIN_DIR=$bins RMQ_PACKAGE_FAST=1 RMQ_PACKAGE_OUT=$OUT scripts/package.sh >/dev/null

version=$(cargo pkgid -p rmq-agent)
version=${version##*@}
deb="$OUT/rmq-sidecar_${version}-1_amd64.deb"
rpm="$OUT/rmq-sidecar-${version}-1.x86_64.rpm"
check "the .deb is named for the workspace version $version" test -f "$deb"
check "the .rpm is named for the workspace version $version" test -f "$rpm"
[[ -f $deb && -f $rpm ]] || { log "no packages to test"; exit 1; }

# --- What both must hold: the staged tree (one file list with scripts/install-host.sh) -----
staged=$(cd "$STAGE" && find . -type f -printf '/%P\n' | sort)
for f in /usr/bin/rmq-agent /usr/bin/rmq-ha-guard /usr/lib/systemd/system/rmq-agent.service \
    /usr/lib/systemd/system/rmq-ha-guard.service /usr/lib/sysusers.d/rmq-sidecar.conf \
    /etc/rmq-sidecar/agent.toml /etc/rmq-sidecar/agent.env /etc/rmq-sidecar/ha-guard.env \
    /etc/rmq-sidecar/rmq-sidecar-transparent.nft /usr/share/doc/rmq-sidecar/install.md \
    /usr/share/doc/rmq-sidecar/environment.md /usr/share/doc/rmq-sidecar/kubernetes.md \
    /usr/share/doc/rmq-sidecar/examples/agent-master.toml \
    /usr/share/rmq-sidecar/monitoring/alerts.yml; do
    check "$f is staged" grep -qx "$f" <<<"$staged"
done
conffiles=$(grep '^/etc/' <<<"$staged")

# --- The .deb -----------------------------------------------------------------------------
same ".deb Version" "${version}-1" "$(dpkg-deb -f "$deb" Version)"
same ".deb Package" "rmq-sidecar" "$(dpkg-deb -f "$deb" Package)"
deb_files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort)
# cargo-deb adds the copyright file Debian requires.
same ".deb files = staged files + copyright" \
    "$(printf '%s\n/usr/share/doc/rmq-sidecar/copyright\n' "$staged" | sort)" "$deb_files"
same ".deb conffiles = the /etc files" "$conffiles" "$(dpkg-deb -I "$deb" conffiles | sort)"
deb_modes=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $1, $6 }' | sort -k2)
same ".deb binaries are 0755" $'-rwxr-xr-x /usr/bin/rmq-agent\n-rwxr-xr-x /usr/bin/rmq-ha-guard' \
    "$(grep /usr/bin/ <<<"$deb_modes")"
ctrl=$(mktemp -d)
dpkg-deb -e "$deb" "$ctrl"
for s in postinst prerm postrm; do
    check ".deb $s is packaging/deb/$s" cmp -s "$ctrl/$s" "packaging/deb/$s"
done
rm -rf "$ctrl"

# --- The .rpm -----------------------------------------------------------------------------
same ".rpm version-release" "${version}-1" "$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$rpm" 2>/dev/null)"
same ".rpm files = staged files" "$staged" "$(rpm -qpl "$rpm" 2>/dev/null | sort)"
flags=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null)
same ".rpm %config(noreplace) files = the /etc files" "$conffiles" "$(awk '$1 == "cn" { print $2 }' <<<"$flags" | sort)"
same ".rpm %doc files = /usr/share/doc" "$(grep '^/usr/share/doc/' <<<"$staged")" \
    "$(awk '$1 == "d" { print $2 }' <<<"$flags" | sort)"
rpm_modes=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm" 2>/dev/null)
staged_modes=$(cd "$STAGE" && find . -type f -printf '%M /%P\n' | sort -k2)
same ".rpm modes = staged modes" "$staged_modes" "$(sort -k2 <<<"$rpm_modes")"
for s in POSTIN:post PREUN:preun POSTUN:postun; do
    same ".rpm %${s#*:} scriptlet is packaging/rpm/${s#*:}.sh" "$(cat "packaging/rpm/${s#*:}.sh")" \
        "$(rpm -qp --qf "%{${s%%:*}}" "$rpm" 2>/dev/null)"
done

# --- Installed on this machine ------------------------------------------------------------
owned_dirs=(/etc/rmq-sidecar /usr/share/doc/rmq-sidecar /usr/share/rmq-sidecar /var/lib/rmq-agent)
left_behind() { # prints every package path, package directory or enablement link that exists
    local f
    while IFS= read -r f; do [[ -e $f || -L $f ]] && echo "$f"; done <<<"$staged"
    for f in "${owned_dirs[@]}"; do [[ -e $f ]] && echo "$f"; done
    for f in "${UNITS[@]}"; do [[ -L /etc/systemd/system/multi-user.target.wants/$f ]] && echo "enablement link $f"; done
    return 0
}
running() { # prints the pids of processes running an installed binary
    local p
    for p in /proc/[0-9]*; do
        case $(readlink "$p/exe" 2>/dev/null) in /usr/bin/rmq-agent | /usr/bin/rmq-ha-guard) echo "${p#/proc/}" ;; esac
    done
    return 0
}
# The installed files are the staged ones, byte for byte and mode for mode.
installed_as_staged() {
    local f
    while IFS= read -r f; do
        [[ $(stat -c %a "$f" 2>/dev/null) == "$(stat -c %a "$STAGE$f")" ]] && cmp -s "$f" "$STAGE$f" || {
            echo "$f differs from the staged file" >&2
            return 1
        }
    done <<<"$staged"
}
verify_units() {
    local u out
    for u in "${UNITS[@]}"; do
        out=$(systemd-analyze verify --man=no "/usr/lib/systemd/system/$u" 2>&1) || { echo "$out" >&2; return 1; }
        [[ -z $out ]] || { echo "$u: $out" >&2; return 1; }
    done
}
user_exists() { getent passwd rmq-sidecar >/dev/null; }
shipped_config_valid() { /usr/bin/rmq-agent check-config /etc/rmq-sidecar/agent.toml >/dev/null; }
installed_checks() { # installed_checks KIND
    local kind=$1
    check "$kind: installed files are the staged ones" installed_as_staged
    same "$kind: keys directory mode" "700" "$(stat -c %a /etc/rmq-sidecar/keys 2>/dev/null)"
    check "$kind: the rmq-sidecar user exists (systemd-sysusers)" user_exists
    check "$kind: systemd-analyze verify of the installed units is clean" verify_units
    check "$kind: the shipped agent.toml passes the shipped rmq-agent's check-config" shipped_config_valid
    same "$kind: nothing enabled" "" "$(left_behind | grep '^enablement link' || true)"
    same "$kind: nothing started" "" "$(running)"
}
# An operator's edit to a configuration file survives a reinstall of the package.
edit_config() { printf '# edited by test-packages %s\n' "$1" >>/etc/rmq-sidecar/agent.toml; }
config_kept() { tail -n1 /etc/rmq-sidecar/agent.toml | grep -qx "# edited by test-packages $1"; }

if [[ $(id -u) -ne 0 ]]; then
    log "not root: skipping the install, upgrade and purge on this machine"
else
    if dpkg-query -W rmq-sidecar >/dev/null 2>&1 || rpm -q rmq-sidecar >/dev/null 2>&1 || [[ -n $(left_behind) ]]; then
        log "rmq-sidecar (or some of its files) is already on this machine; the test installs and"
        log "purges the package, so it runs only on a machine without it:"
        left_behind >&2
        exit 1
    fi
    installed=""
    rpmdb=$(mktemp -d)
    cleanup() {
        case $installed in
            deb) dpkg --purge rmq-sidecar >/dev/null 2>&1 || true ;;
            rpm) rpm --dbpath "$rpmdb" -e rmq-sidecar >/dev/null 2>&1 || true ;;
        esac
        rm -rf "$rpmdb"
    }
    trap cleanup EXIT

    log "dpkg -i $deb"
    installed=deb
    check "dpkg -i succeeds" dpkg -i "$deb" </dev/null >/dev/null
    installed_checks deb
    edit_config deb
    check "a reinstall (upgrade) succeeds without a prompt" dpkg -i "$deb" </dev/null >/dev/null
    check "a reinstall keeps the edited agent.toml" config_kept deb
    check "no .dpkg-new or .dpkg-dist next to it" test -z "$(find /etc/rmq-sidecar -name '*.dpkg-*')"
    # What a running host accumulates: an enabled service and a spool.
    systemctl --no-reload enable rmq-agent.service >/dev/null 2>&1
    install -d /var/lib/rmq-agent/spool/central && touch /var/lib/rmq-agent/spool/central/000001
    log "dpkg --purge rmq-sidecar"
    check "dpkg --purge succeeds" dpkg --purge rmq-sidecar </dev/null >/dev/null
    installed=""
    same "deb: nothing left after the purge" "" "$(left_behind)"
    check "deb: dpkg has forgotten the package" sh -c '! dpkg-query -W rmq-sidecar >/dev/null 2>&1'

    log "rpm -i $rpm (on this Debian machine, with a private rpm database)"
    installed=rpm
    check "rpm -i succeeds" rpm --dbpath "$rpmdb" -i --nodeps "$rpm"
    installed_checks rpm
    edit_config rpm
    check "rpm -U --replacepkgs succeeds" rpm --dbpath "$rpmdb" -U --replacepkgs --nodeps "$rpm"
    check "the reinstall keeps the edited agent.toml" config_kept rpm
    check "no .rpmnew next to it" test ! -e /etc/rmq-sidecar/agent.toml.rpmnew
    systemctl --no-reload enable rmq-agent.service >/dev/null 2>&1
    log "rpm -e rmq-sidecar"
    check "rpm -e succeeds" rpm --dbpath "$rpmdb" -e rmq-sidecar
    installed=""
    # RPM keeps an edited configuration file as .rpmsave; the operator removes it.
    check "the edited agent.toml is kept as agent.toml.rpmsave" grep -qx "# edited by test-packages rpm" \
        /etc/rmq-sidecar/agent.toml.rpmsave
    rm -f /etc/rmq-sidecar/agent.toml.rpmsave
    rmdir /etc/rmq-sidecar 2>/dev/null || true
    # The spool and the user stay after an RPM erase, as documented; no spool was made here.
    same "rpm: nothing left after the erase (but the .rpmsave)" "" "$(left_behind)"
fi

printf '%s passed, %s failed\n' "$checks" "$failures"
((failures == 0))
