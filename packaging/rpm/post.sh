# rmq-sidecar %post: the service user, the private keys directory, and systemd told about new
# or changed units. No service is enabled or started: an unconfigured guard must not take a
# broker's ports, and a running one is restarted by its operator, not by an upgrade.
if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers rmq-sidecar.conf || :
else
    echo "rmq-sidecar: systemd-sysusers not found; create the system user rmq-sidecar before starting the services" >&2
fi
# Key files are root's; the units hand them to the services (LoadCredential=). (Made here,
# not packaged: the packaging tool cannot put directories in an RPM.)
install -d -m 0700 /etc/rmq-sidecar/keys
# Only where systemd runs: not in a chroot, an image build or a container.
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null 2>&1 || :
fi
