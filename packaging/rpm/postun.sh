# rmq-sidecar %postun: systemd forgets removed or changed units. On erase ($1 = 0), the
# package's directories go if empty (it cannot own them: the packaging tool puts only files
# in an RPM); keys you created stay, with their directory. The remote-write spool
# (/var/lib/rmq-agent) and the rmq-sidecar user stay, as RPM packages leave state and users;
# edited configuration files stay as *.rpmsave.
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 0 ]; then
    for d in /etc/rmq-sidecar/keys /etc/rmq-sidecar /usr/share/doc/rmq-sidecar/examples \
        /usr/share/doc/rmq-sidecar /usr/share/rmq-sidecar/monitoring /usr/share/rmq-sidecar; do
        rmdir "$d" 2>/dev/null || :
    done
fi
