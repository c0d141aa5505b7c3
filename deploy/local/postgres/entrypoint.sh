#!/bin/sh
# Minimal subset of the official postgres image's entrypoint: init once, create user/db, run.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${PGDATA:=/var/lib/postgresql/data}"
[ -n "${POSTGRES_PASSWORD:-}" ] || { echo "POSTGRES_PASSWORD is required" >&2; exit 1; }
mkdir -p "$PGDATA" && chown -R postgres:postgres "$PGDATA" && chmod 0700 "$PGDATA"
as_pg() { su postgres -s /bin/sh -c "$*"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp) && printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile" && chown postgres "$pwfile"
  as_pg "/usr/lib/postgresql/15/bin/initdb -D '$PGDATA' -U '$POSTGRES_USER' --pwfile='$pwfile' --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale" >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  as_pg "/usr/lib/postgresql/15/bin/pg_ctl -D '$PGDATA' -o '-c listen_addresses=' -w start" >/dev/null
  if [ "$POSTGRES_DB" != "postgres" ]; then
    as_pg "psql -U '$POSTGRES_USER' -d postgres -q -c 'CREATE DATABASE \"$POSTGRES_DB\"'"
  fi
  as_pg "/usr/lib/postgresql/15/bin/pg_ctl -D '$PGDATA' -m fast -w stop" >/dev/null
fi
[ "$1" = "postgres" ] && shift && exec su postgres -s /bin/sh -c "exec /usr/lib/postgresql/15/bin/postgres -D '$PGDATA' -c listen_addresses='*' $*"
exec "$@"
