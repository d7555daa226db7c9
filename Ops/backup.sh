#!/usr/bin/env bash
# Takes an online backup of a running crmgate (BACKUP TO auto-<time>) and keeps the newest N.
#   Ops/backup.sh [--keep 7] [--data-dir /var/lib/crmgate] [--backup-dir DATA/backups]
#                 [--host 127.0.0.1] [--port 7379] [--cacert DATA/tls/ca.pem] [--key-file DATA/admin.key]
# The key file holds "key-id secret" of an admin key. Run it from cron or a systemd timer.
# Restore: crmgate restore --from BACKUP_DIR/auto-... --data-dir NEW_DIR, or TENANT.RESTORE name FROM auto-...
set -euo pipefail

keep=7 data_dir=/var/lib/crmgate backup_dir="" host=127.0.0.1 port=7379 cacert="" key_file=""
while [ $# -gt 0 ]; do
    case "$1" in
    --keep) keep=$2 ;;
    --data-dir) data_dir=$2 ;;
    --backup-dir) backup_dir=$2 ;;
    --host) host=$2 ;;
    --port) port=$2 ;;
    --cacert) cacert=$2 ;;
    --key-file) key_file=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
backup_dir=${backup_dir:-$data_dir/backups}
cacert=${cacert:-$data_dir/tls/ca.pem}
key_file=${key_file:-$data_dir/admin.key}
[ "$keep" -ge 1 ] || { echo "--keep must be at least 1" >&2; exit 2; }

read -r key_id secret <"$key_file"
name="auto-$(date -u +%Y%m%d-%H%M%S)"
# The secret goes through the environment, not the command line (ps shows arguments).
reply=$(REDISCLI_AUTH="$secret" redis-cli --tls --cacert "$cacert" -h "$host" -p "$port" --user "$key_id" \
    --no-auth-warning BACKUP TO "$name")
case "$reply" in
*"$name"*) echo "backup $name written to $backup_dir" ;;
*) echo "backup failed: $reply" >&2; exit 1 ;;
esac

# Newest first by name (the names sort by time); remove all but the newest $keep.
mapfile -t backups < <(find "$backup_dir" -mindepth 1 -maxdepth 1 -type d -name 'auto-*' -printf '%f\n' | sort -r)
for old in "${backups[@]:$keep}"; do
    rm -rf "${backup_dir:?}/$old"
    echo "removed old backup $old"
done
