#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster for the tests and prints the
# variables to export: `eval "$(.ci/postgres.sh start)"`; `.ci/postgres.sh
# stop DIR` stops it and removes its folder. initdb refuses to run as root,
# so the cluster belongs to the user postgres (PostgreSQL is installed on
# these machines; `postgresql` is installed if it is not). The server
# listens on 127.0.0.1 on a free port and on a socket in its own folder,
# with fsync off (a test cluster: nothing in it has to survive a crash of
# the machine) and room for the parallel tests' connections.
set -euo pipefail

pgbin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
  return 1
}

as_postgres() {
  if [ "$(id -un)" = postgres ]; then bash -c "$1"; else
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO su postgres -s /bin/bash -c "$1"
  fi
}

# free_port prints a local TCP port nothing listens on, below Linux's
# ephemeral range (32768 and up), where a client's connection may hold a
# port nothing listens on: the server's bind would then fail.
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}

case "${1:-}" in
start)
  if ! bin=$(pgbin); then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "postgres.sh: installing postgresql" >&2
    $SUDO apt-get update -qq >&2
    $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bin=$(pgbin)
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/muster-pg.XXXXXX")
  chmod 755 "$dir"
  mkdir "$dir/data"
  chown postgres "$dir" "$dir/data"
  as_postgres "'$bin/initdb' -D '$dir/data' -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >'$dir/initdb.log' 2>&1" ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # A port free when chosen may be taken before the server binds it: then
  # another port, a few times.
  started=""
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if as_postgres "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400\" start >&2"; then
      started=1
      break
    fi
    grep -q "Address already in use" "$dir/server.log" || break
    echo "postgres.sh: port $port was taken; trying another" >&2
  done
  [ -n "$started" ] || { cat "$dir/server.log" >&2; exit 1; }
  echo "export MUSTER_TEST_POSTGRES='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'"
  echo "export MUSTER_TEST_POSTGRES_DIR='$dir'"
  ;;
stop)
  dir=${2:?usage: postgres.sh stop DIR}
  bin=$(pgbin)
  as_postgres "'$bin/pg_ctl' -D '$dir/data' -m immediate -w stop >/dev/null" || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: postgres.sh start | stop DIR" >&2; exit 2 ;;
esac
