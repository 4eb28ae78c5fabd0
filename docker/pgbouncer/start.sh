#!/bin/sh
# PgBouncer's users file holds the password compose gives PostgreSQL. It is written when
# the container starts, so that no image layer holds it; a quote is doubled, as
# PgBouncer's file format escapes it.
set -eu
umask 077
mkdir -p /tmp/pgbouncer
quoted() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
printf '%s %s\n' "$(quoted "$POSTGRES_USER")" "$(quoted "$POSTGRES_PASSWORD")" \
    > /tmp/pgbouncer/users.txt
# The same file serves the replica's PgBouncer (docker/topology/replica.yml), pointed at
# the replica and failing a client sooner, as bench/pgbouncer.py's REPLICA does.
sed -e "s/host=db /host=${UPSTREAM_HOST:-db} /" \
    -e "s/^query_wait_timeout = .*/query_wait_timeout = ${QUERY_WAIT_TIMEOUT:-10}/" \
    /etc/pgbouncer/pgbouncer.ini > /tmp/pgbouncer/pgbouncer.ini
exec pgbouncer /tmp/pgbouncer/pgbouncer.ini
