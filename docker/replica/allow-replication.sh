#!/bin/sh
# Run once, when compose's PostgreSQL initialises its volume: a replica container may
# log in for replication with the same password as the app. (A volume made before this
# file was mounted lacks the line: docker compose down -v makes a new one.)
set -eu
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
