# Sourced by scripts/test.sh: installs PostgreSQL from Debian's packages if it is missing, starts
# a throw-away cluster on a private port, exports GM_TEST_DATABASE_URL, and stops the cluster when
# the calling shell exits. Debian keeps initdb and pg_ctl in a versioned directory off PATH, and
# initdb refuses to run as root, so as root the cluster runs as the `postgres` user.

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  echo "== installing PostgreSQL (Debian package postgresql)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
PGBIN="$(pg_bin)"
# A free port, so two runs on one machine do not collide.
GM_PG_PORT="${GM_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
GM_PG_DIR="$(mktemp -d /tmp/gm-pg.XXXXXX)"
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$GM_PG_DIR"
as_pg "$PGBIN/initdb" -D "$GM_PG_DIR/data" -A trust -U postgres --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$GM_PG_DIR/data" -l "$GM_PG_DIR/log" -w \
  -o "-p $GM_PG_PORT -k $GM_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
  start >/dev/null
stop_postgres() {
  as_pg "$PGBIN/pg_ctl" -D "$GM_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$GM_PG_DIR"
}
trap stop_postgres EXIT
export GM_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$GM_PG_PORT/postgres"
export GM_REQUIRE_POSTGRES=1
echo "== PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') running on 127.0.0.1:$GM_PG_PORT"
