#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: no containers, the Debian
# packages' binaries, a fresh data directory, trust authentication on
# 127.0.0.1 only, a free port.
#
#   eval "$(hack/postgres/test-server.sh start)"   # exports SCIM_TEST_POSTGRES_URL, SCIM_TEST_POSTGRES_DIR
#   hack/postgres/test-server.sh stop "$SCIM_TEST_POSTGRES_DIR"
#   hack/postgres/test-server.sh down|up DIR         # crash it / bring it back (outage tests)
#
# Installs the postgresql package when no server binaries are found (needs
# root, as in CI). SCIM_TEST_POSTGRES_FSYNC=on keeps fsync on (benchmarks). Runs the server as the postgres user when started as
# root (PostgreSQL refuses to run as root). Diagnostics go to stderr; stdout
# carries only the export lines.
set -euo pipefail

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# as runs a command as the server's owner.
as() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
	local bin dir port
	bin=$(bindir)
	if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
		echo "PostgreSQL server not found: installing the postgresql package" >&2
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
		bin=$(bindir)
	fi
	[ -x "$bin/postgres" ] || { echo "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin" >&2; exit 1; }
	dir=$(mktemp -d /tmp/scim-test-pg.XXXXXX)
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	as "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	# fsync off: the tests kill processes, never the machine; durability
	# against power loss is not what they measure.
	for port in $(seq 55432 55531); do
		# The settings live in the data directory, so that "up" after
		# "down" brings the same server back on the same port. fsync off:
		# the tests kill processes, never the machine.
		cat >"$dir/settings.conf" <<-CONF
			port = $port
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$dir'
			fsync = ${SCIM_TEST_POSTGRES_FSYNC:-off}
			max_connections = 200
		CONF
		as cp "$dir/settings.conf" "$dir/data/postgresql.auto.conf"
		if as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1; then
			# The port may have been taken by another server between
			# choosing it and binding: pg_ctl then fails and the next is tried.
			echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir" >&2
			echo "export SCIM_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'"
			echo "export SCIM_TEST_POSTGRES_DIR='$dir'"
			return 0
		fi
	done
	tail -20 "$dir/server.log" >&2 || true
	echo "could not start PostgreSQL on any port in 55432-55531" >&2
	exit 1
}

stop() {
	local dir=${1:?usage: $0 stop DIR}
	local bin
	bin=$(bindir)
	as "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}

# down stops the server abruptly (as a crash or a node loss would) and
# keeps its data; up starts it again on the same port. For outage tests.
down() {
	as "$(bindir)/pg_ctl" -D "${1:?usage: $0 down DIR}/data" -m immediate -w stop >/dev/null
}

up() {
	local dir=${1:?usage: $0 up DIR}
	as "$(bindir)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
down) down "${2:-}" ;;
up) up "${2:-}" ;;
*) echo "usage: $0 start | stop DIR | down DIR | up DIR" >&2; exit 2 ;;
esac
