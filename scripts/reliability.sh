#!/usr/bin/env bash
# The reliability battery (test/reliability/battery.py, issue 5) against a
# throwaway cluster of its own.
#
#   bash scripts/reliability.sh [--quick | --full] [--no-build] [--only a,b] [--seed N]
#
# --quick (the default) is what make test runs, through
# test/scenarios/reliability.sh: small counts, a couple of minutes.  --full is
# make reliability: the issue's counts (100k messages per steady-load run, 20
# crashes, ...), about a quarter of an hour on two cores.  Prints TAP lines and
# one "# summary" line per scenario; exit status 0 only when every line is ok.
# The cluster runs with the defaults that matter for durability (fsync on,
# synchronous_commit on), because one scenario crashes it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=quick
BUILD=1
EXTRA=()
while [ $# -gt 0 ]; do
    case $1 in
        --quick) MODE=quick ;;
        --full) MODE=full ;;
        --no-build) BUILD=0 ;;
        --only|--seed) EXTRA+=("$1" "$2"); shift ;;
        *) die "unknown option $1 (use --quick, --full, --no-build, --only LIST, --seed N)" ;;
    esac
    shift
done

ensure_packages "${SERVER_PACKAGES[@]}" python3-psycopg2 procps
if [ "$BUILD" -eq 1 ]; then
    build_and_install PG_CFLAGS="-Wall -Wextra -Werror" \
        PG_CPPFLAGS="-isystem $("$PG_CONFIG" --includedir-server)"
fi

WORK=$(mktemp -d /tmp/pg_courier-rel.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    stop_cluster "$WORK/cluster"
    # the disk-full scenario mounts a tmpfs here; never leave it behind
    if mountpoint -q "$WORK/cluster/tiny" 2>/dev/null; then umount "$WORK/cluster/tiny" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
say "reliability battery ($MODE): starting a throwaway cluster"
start_cluster "$WORK/cluster" "$(free_port 55540)" \
    "max_connections = 200" "log_min_messages = warning" "shared_buffers = 128MB"

# Debian's interpreter, where python3-psycopg2 lives (a python3 earlier in PATH
# may be another installation without it).
/usr/bin/python3 "$PROJECT_DIR/test/reliability/battery.py" --mode "$MODE" \
    --cluster-dir "$WORK/cluster" --pgbin "$PGBIN" "${EXTRA[@]}"
