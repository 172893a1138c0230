#!/usr/bin/env bash
#! Instructions per request the admin guard spends in user space, counted by callgrind: a
#! number that does not depend on what else the machine is doing (throughput on 2 shared cores
#! does). A release agent runs under valgrind in front of a responder that answers at once;
#! a closed loop sends SEND_MESSAGE_V2 (256-byte body) over 4 connections, N and 3N requests,
#! and the difference divided by 2N is the per-request cost (start-up cancels out).
#!
#! benches/scripts/guard-instructions.sh [AGENT_BIN ...]   (default: target/release/rmq-agent)
#! Needs valgrind (Debian) and python3. Prints a table.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-2000}
BINS=("$@")
((${#BINS[@]})) || BINS=(target/release/rmq-agent)

run() { # BIN MODE COUNT -> total instructions
    local bin=$1 mode=$2 count=$3 d rp gp hp rpid vpid
    d=$(mktemp -d)
    rp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    gp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    hp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    printf 'instructions-bench-secret' >"$d/key"
    chmod 600 "$d/key"
    cat >"$d/agent.toml" <<T
[http]
listen = "127.0.0.1:$hp"
[log]
level = "warn"
[broker]
enabled = false
[host]
enabled = false
[[guard.keys]]
id = "k"
secret_file = "$d/key"
[[guard.listeners]]
name = "r"
listen = "127.0.0.1:$gp"
upstream = "127.0.0.1:$rp"
T
    python3 benches/scripts/guard_load.py "$mode" 0 1 "$gp" "$rp" responder &
    rpid=$!
    valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$bin" run --config "$d/agent.toml" 2>"$d/vg.log" &
    vpid=$!
    for _ in $(seq 1 240); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$hp),1).close()" 2>/dev/null && break
        sleep 0.5
    done
    python3 benches/scripts/guard_load.py "$mode" "$count" 4 "$gp" "$rp" >/dev/null
    kill -TERM "$vpid"
    wait "$vpid" 2>/dev/null || true
    kill "$rpid" 2>/dev/null || true
    callgrind_annotate "$d/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
    rm -rf "$d"
}

echo "| header | agent | instructions / request |"
echo "|---|---|---:|"
for mode in binary json; do
    for bin in "${BINS[@]}"; do
        a=$(run "$bin" "$mode" "$N")
        b=$(run "$bin" "$mode" $((3 * N)))
        echo "| $mode | $bin | $(((b - a) / (2 * N))) |"
    done
done
