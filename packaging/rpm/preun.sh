# rmq-sidecar %preun: on erase ($1 = 0; an upgrade is 1), stop the services and remove their
# enablement links while the unit files still exist. An upgrade leaves running services alone.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl --system stop rmq-agent.service rmq-ha-guard.service >/dev/null 2>&1 || :
    fi
    if command -v systemctl >/dev/null 2>&1; then
        systemctl --system --no-reload disable rmq-agent.service rmq-ha-guard.service >/dev/null 2>&1 || :
    fi
fi
