#!/bin/bash
# The replica's container (docker/topology/replica.yml): on its first start, a copy of
# the primary made by pg_basebackup -R, as bench/replica.py makes the native one; then
# PostgreSQL as a hot standby that streams from it, with the settings compose gives the
# primary on its command line (a standby needs max_connections and the like at least as
# high as its primary's, and the measuring settings are the same on both).
set -euo pipefail
primary() {
    psql --host db --username "$POSTGRES_USER" --dbname postgres --no-align --tuples-only \
        --command "$1"
}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    # A slot left by an earlier copy (this volume removed, the primary's kept) is reused.
    until primary "SELECT pg_create_physical_replication_slot('crm_replica')
                   WHERE NOT EXISTS (SELECT FROM pg_replication_slots
                                     WHERE slot_name = 'crm_replica')" >/dev/null &&
        pg_basebackup --host db --username "$POSTGRES_USER" --pgdata "$PGDATA" \
            --write-recovery-conf --wal-method stream --slot crm_replica --checkpoint fast; do
        echo "[replica] no copy of the primary yet (see above); trying again" >&2
        mkdir -p "$PGDATA"
        rm -rf "${PGDATA:?}"/*
        sleep 2
    done
    chmod 700 "$PGDATA"
fi
settings=()
while IFS= read -r setting; do
    settings+=(-c "$setting")
done < <(primary "SELECT name || '=' || setting FROM pg_settings WHERE source = 'command line'")
exec postgres "${settings[@]}" -c hot_standby=on
