#!/bin/bash
# The replica's container (docker/topology/replica.yml): on its first start, a copy of
# the primary made by pg_basebackup -R, as bench/replica.py makes the native one; then
# PostgreSQL as a hot standby that streams from it, with the settings compose gives the
# primary on its command line (a standby needs max_connections and the like at least as
# high as its primary's, and the measuring settings are the same on both).
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_basebackup --host db --username "$POSTGRES_USER" --pgdata "$PGDATA" \
        --write-recovery-conf --wal-method stream \
        --create-slot --slot crm_replica --checkpoint fast; do
        echo "[replica] the primary is not ready for a copy yet; trying again" >&2
        find "$PGDATA" -mindepth 1 -delete
        sleep 2
    done
    chmod 700 "$PGDATA"
fi
settings=()
while IFS= read -r setting; do
    settings+=(-c "$setting")
done < <(psql --host db --username "$POSTGRES_USER" --dbname postgres --no-align --tuples-only \
    --command "SELECT name || '=' || setting FROM pg_settings WHERE source = 'command line'")
exec postgres "${settings[@]}" -c hot_standby=on
