# Shared helpers for scripts/run.sh, scripts/test.sh and bench/run.sh.
# Sourced, not executed.  Targets a Debian 12 machine with PostgreSQL 15 from
# Debian; PG_MAJOR may name another installed major version.

set -euo pipefail

PROJECT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
# COURIER_PGBIN: the bin directory of another (for example relocated) installation.
PGBIN=${COURIER_PGBIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
PG_CONFIG=$PGBIN/pg_config
[ -x "$PG_CONFIG" ] || PG_CONFIG=/usr/bin/pg_config

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The account that owns throwaway clusters: initdb refuses root, so root uses
# the postgres account the server package creates.
server_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Install the Debian packages that are missing; $@ are package names.
APT_UPDATED=0
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

SERVER_PACKAGES=(make gcc "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" "postgresql-client-$PG_MAJOR")

# Build and install the extension; extra make arguments in $@.
build_and_install() {
    say "building pg_courier"
    make -C "$PROJECT_DIR" -s clean >/dev/null
    make -C "$PROJECT_DIR" -s PG_CONFIG="$PG_CONFIG" "$@"
    as_root make -C "$PROJECT_DIR" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# First TCP port at or above $1 that nothing listens on (loopback).
free_port() {
    local p=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

# start_cluster DIR PORT [extra postgresql.conf lines...]
# initdb into DIR/data, socket in DIR, log in DIR/server.log; trust auth on
# the socket and loopback only.  Sets PGHOST PGPORT PGUSER for the caller.
start_cluster() {
    local dir=$1 port=$2
    shift 2
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$(server_user)" "$dir"
    as_server_user "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    {
        echo "port = $port"
        echo "listen_addresses = 'localhost'"
        echo "unix_socket_directories = '$dir'"
        echo "shared_preload_libraries = 'pg_courier'"
        echo "max_prepared_transactions = 10"
        local line
        for line in "$@"; do echo "$line"; done
    } | as_server_user tee -a "$dir/data/postgresql.conf" >/dev/null
    # POSTGRES_WRAPPER: an executable that runs the postgres binary (under
    # valgrind, for example); pg_ctl -p starts it instead of postgres.
    local wrapper=()
    [ -n "${POSTGRES_WRAPPER:-}" ] && wrapper=(-p "$POSTGRES_WRAPPER" -t "${PG_CTL_TIMEOUT:-60}")
    as_server_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" "${wrapper[@]}" -w start >/dev/null \
        || { cat "$dir/server.log" >&2; die "the server did not start"; }
    export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

stop_cluster() {
    local dir=$1
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_server_user "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# Can the server account reach (and so hold a cluster in) directory $1?
server_user_can_use() {
    as_server_user test -x "$1" -a -r "$1"
}

# For benchmarks: build this checkout and install it where $PG_CONFIG points,
# unless the installed files are this build already (BENCH_NO_INSTALL=1: use
# what is installed).  Sets LIB, FINGERPRINT (the installed library's md5),
# GIT_DESC (the checkout, and whether src/ or sql/ have uncommitted changes)
# and LOAD_START (the load average now).
bench_install() {
    local ext_dir extversion
    ext_dir="$("$PG_CONFIG" --sharedir)/extension"
    LIB="$("$PG_CONFIG" --pkglibdir)/pg_courier.so"
    if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
        say "building pg_courier for $PG_CONFIG"
        make -C "$PROJECT_DIR" -s PG_CONFIG="$PG_CONFIG" >/dev/null
        extversion=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\(.*\)'/\1/p" "$PROJECT_DIR/pg_courier.control")
        if cmp -s "$PROJECT_DIR/pg_courier.so" "$LIB" \
            && cmp -s "$PROJECT_DIR/sql/pg_courier--$extversion.sql" "$ext_dir/pg_courier--$extversion.sql" \
            && cmp -s "$PROJECT_DIR/pg_courier.control" "$ext_dir/pg_courier.control"; then
            say "the installed extension in $ext_dir is this build"
        else
            say "installing pg_courier into $ext_dir and $(dirname "$LIB")"
            as_root make -C "$PROJECT_DIR" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
        fi
    fi
    [ -f "$ext_dir/pg_courier.control" ] || die "pg_courier is not installed in $ext_dir"
    FINGERPRINT="installed library md5 $(md5sum "$LIB" | cut -c1-12)"
    GIT_DESC=$(git -C "$PROJECT_DIR" log -1 --format='%h %s' 2>/dev/null || echo unknown)
    git -C "$PROJECT_DIR" diff --quiet HEAD -- src sql 2>/dev/null \
        || GIT_DESC="$GIT_DESC (with uncommitted changes in src/ or sql/)"
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
}

# For benchmarks: a throwaway cluster in a work directory of its own.
# bench_cluster NAME BASE_PORT [postgresql.conf lines...] sets WORK (kept at
# exit with BENCH_KEEP=1), CLUSTER and PORT, stops and removes them at exit,
# and starts the cluster on the first free port from BASE_PORT (PGHOST,
# PGPORT, PGUSER as start_cluster sets them).
bench_cluster() {
    local name=$1 base_port=$2
    shift 2
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/pg_courier_$name.XXXXXX")
    chmod 755 "$WORK"
    CLUSTER=$WORK/cluster
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    PORT=$(free_port "$base_port")
    say "starting a throwaway cluster in $CLUSTER (port $PORT)"
    start_cluster "$CLUSTER" "$PORT" "$@"
}

bench_cleanup() {
    stop_cluster "$CLUSTER"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
