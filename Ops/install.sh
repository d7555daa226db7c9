#!/usr/bin/env bash
# Installs crmgate as a systemd service: the release binaries, a dedicated user, the unit,
# /etc/crmgate/crmgate.toml (kept if it exists), and the data and backup directories.
#   sudo Ops/install.sh                 build (swift build -c release) and install
#   Ops/install.sh --root DIR           stage into DIR instead of / (no user, no systemctl)
#   Ops/install.sh --bin-dir PATH       install binaries already built in PATH
# Upgrade: run it again (the unit and binaries are replaced; the configuration and data stay),
# then `systemctl restart crmgate`; tenant databases migrate themselves on first open.
set -euo pipefail
cd "$(dirname "$0")/.."

root="" bin_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
    --root) root=$2; shift ;;
    --bin-dir) bin_dir=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$bin_dir" ]; then
    swift build -c release --product crmgate
    swift build -c release --product crmgate-admin
    bin_dir=.build/release
fi

install -d -m 755 "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/local/share/doc/crmgate"
install -m 755 "$bin_dir/crmgate" "$bin_dir/crmgate-admin" "$root/usr/local/bin/"
install -m 644 Ops/crmgate.service "$root/etc/systemd/system/crmgate.service"
install -m 644 README.md "$root/usr/local/share/doc/crmgate/"
install -m 644 Ops/README.md "$root/usr/local/share/doc/crmgate/OPERATIONS.md"
install -d -m 750 "$root/etc/crmgate"
if [ ! -f "$root/etc/crmgate/crmgate.toml" ]; then
    sed -e 's|^# backup_dir = .*|backup_dir = "/var/backups/crmgate"|' Ops/crmgate.toml >"$root/etc/crmgate/crmgate.toml"
    chmod 640 "$root/etc/crmgate/crmgate.toml"
    echo "wrote $root/etc/crmgate/crmgate.toml"
fi
install -d -m 700 "$root/var/lib/crmgate" "$root/var/backups/crmgate"

if [ -z "$root" ]; then
    if ! id crmgate >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/crmgate --shell /usr/sbin/nologin crmgate
    fi
    chown crmgate:crmgate /var/lib/crmgate /var/backups/crmgate
    chgrp crmgate /etc/crmgate /etc/crmgate/crmgate.toml
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        echo "installed; start it with: systemctl enable --now crmgate"
    fi
fi
echo "crmgate installed under ${root:-/}"
