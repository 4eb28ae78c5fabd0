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
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
