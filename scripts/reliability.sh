#!/usr/bin/env bash
# The reliability battery (test/reliability/battery.py, issue 5) against a
# throwaway cluster of its own.
#
#   bash scripts/reliability.sh [--quick | --full] [--no-build] [--only a,b] [--seed N] [--valgrind]
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
VALGRIND=0
ONLY=
EXTRA=()
while [ $# -gt 0 ]; do
    case $1 in
        --quick) MODE=quick ;;
        --full) MODE=full ;;
        --no-build) BUILD=0 ;;
        --valgrind) VALGRIND=1 ;;
        --only) ONLY=$2; shift ;;
        --seed) EXTRA+=("$1" "$2"); shift ;;
        *) die "unknown option $1 (use --quick, --full, --no-build, --valgrind, --only LIST, --seed N)" ;;
    esac
    shift
done
# --valgrind runs the server under valgrind's memcheck: the fuzzer only,
# unless --only says otherwise (the crash scenario restarts the server
# without it).
[ "$VALGRIND" -eq 1 ] && [ -z "$ONLY" ] && ONLY=fuzz
[ -n "$ONLY" ] && EXTRA+=(--only "$ONLY")

ensure_packages "${SERVER_PACKAGES[@]}" python3-psycopg2 procps
[ "$VALGRIND" -eq 0 ] || ensure_packages valgrind
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
if [ "$VALGRIND" -eq 1 ]; then
    # Every server process under memcheck, one log per process.  Leaks are
    # not checked (memory contexts are freed wholesale, not by free()).
    mkdir -p "$WORK/valgrind"
    [ "$(id -u)" -ne 0 ] || chown "$(server_user)" "$WORK/valgrind"
    {
        echo '#!/bin/sh'
        echo "exec valgrind --tool=memcheck --trace-children=no --leak-check=no --error-limit=no \\"
        echo "     --num-callers=30 --log-file=$WORK/valgrind/%p.log $PGBIN/postgres \"\$@\""
    } >"$WORK/postgres-valgrind"
    chmod 755 "$WORK/postgres-valgrind"
    export POSTGRES_WRAPPER=$WORK/postgres-valgrind PG_CTL_TIMEOUT=300
fi
say "reliability battery ($MODE): starting a throwaway cluster"
start_cluster "$WORK/cluster" "$(free_port 55540)" \
    "max_connections = 200" "log_min_messages = warning" "shared_buffers = 128MB"

# Debian's interpreter, where python3-psycopg2 lives (a python3 earlier in PATH
# may be another installation without it).
status=0
/usr/bin/python3 "$PROJECT_DIR/test/reliability/battery.py" --mode "$MODE" \
    --cluster-dir "$WORK/cluster" --pgbin "$PGBIN" "${EXTRA[@]}" || status=$?

if [ "$VALGRIND" -eq 1 ]; then
    # Stop the server so that every process has written its log, then look
    # for memcheck errors whose stack passes through pg_courier (a frame in
    # pg_courier.so, or, with debug information, in one of its functions).
    stop_cluster "$WORK/cluster"
    logs=("$WORK"/valgrind/*.log)
    START='^==[0-9]+== (Invalid|Conditional|Use of uninitialised|Syscall param|Source and destination|Mismatched|Argument)'
    errors=$(cat "${logs[@]}" | grep -cE "$START" || true)
    # An error is pg_courier's when one of the four innermost frames of its
    # stack is: PostgreSQL's own reports (padding bytes it writes to files,
    # for one) may have pg_courier far down the stack, as the worker's
    # connection start has.
    ours=$(awk -v start="$START" '$0 ~ start { e = 1; f = 0; next }
                /^==[0-9]+== *$/ { e = 0 }
                e && /^==[0-9]+== +(at|by) / { f++
                    if (f <= 4 && (/pg_courier\.so/ || /: (courier_|Courier)[A-Za-z0-9_]* \(/)) { n++; e = 0 } }
                END { print n + 0 }' "${logs[@]}")
    echo "# valgrind: ${#logs[@]} server processes ran under memcheck; $errors error reports in all, $ours with pg_courier.so on the stack"
    if [ "$ours" -eq 0 ]; then
        echo "ok - valgrind memcheck: no error with pg_courier.so on the stack"
    else
        echo "not ok - valgrind memcheck: $ours errors with pg_courier.so on the stack"
        grep -h -B2 -A30 -E "$START" "${logs[@]}" | head -n 300 | sed 's/^/# /'
        status=1
    fi
fi
exit "$status"
