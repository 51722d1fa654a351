#!/usr/bin/env bash
# Scenario: long polling without shared_preload_libraries.  The library then
# has no shared memory and no worker; receive(wait => ...) polls instead,
# starting at 10 ms and doubling up to 1 s (queue_lease.c), so a message sent
# during the wait is still returned, within about a second of its commit.
# Prints TAP lines.  Starts (and removes) its own throwaway cluster; the
# cluster of PGHOST/PGPORT is not used.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
DB=courier_poll
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
holds() { if awk "BEGIN { exit !($1) }"; then echo t; else echo f; fi; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }

WORK=$(mktemp -d /tmp/pg_courier-poll.XXXXXX)
chmod 755 "$WORK"
BG_PIDS=()
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    stop_cluster "$WORK/cluster"
    rm -rf "$WORK"
}
trap cleanup EXIT

# Later lines of postgresql.conf win: this undoes start_cluster's preload.
start_cluster "$WORK/cluster" "$(free_port 56710)" "fsync = off" "shared_preload_libraries = ''"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
now() { q -c "SELECT extract(epoch FROM clock_timestamp())"; }
bg() {
    local name=$1
    shift
    PGAPPNAME=$name psql -X -q -A -t -d "$DB" "$@" >"$WORK/$name.out" 2>&1 &
    BG_PIDS+=($!)
}
waiting() { # waiting NAME: until NAME's backend sleeps in receive() (5 s at most)
    local i
    for i in $(seq 1 250); do
        [ "$(q -c "SELECT count(*) FROM pg_stat_activity
                    WHERE application_name = '$1' AND state = 'active'
                      AND query LIKE '%courier.receive%' AND wait_event_type = 'Extension'")" = 1 ] && return 0
        sleep 0.02
    done
    echo "# $1 never started waiting"
    return 1
}
recv_sql() {
    echo "SELECT count(*) || ' ' || extract(epoch FROM clock_timestamp()) FROM courier.receive($1)"
}

createdb "$DB"
check "the cluster runs without pg_courier preloaded" "" \
      "$(q -c "SHOW shared_preload_libraries")"
# Loading the library outside shared_preload_libraries must work (pg_courier.c:
# "The library works with or without shared_preload_libraries").  If it does
# not, nothing below can run: say why and stop.
created=ok
err=$(q -c "CREATE EXTENSION pg_courier" 2>&1 >/dev/null) || created=failed
check "CREATE EXTENSION pg_courier succeeds without the preload" "ok" "$created"
if [ "$created" != ok ]; then
    sed "s/^/# /" <<<"$err"
    echo "# cannot test the polling fallback: the library cannot be loaded without the preload"
    exit 1
fi
q -c "SELECT courier.create_queue('poll')" >/dev/null
check "no pg_courier worker runs without the preload" "0" \
      "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_courier worker'")"

# A message sent 1.5 s into the wait: by then polling has backed off to
# long intervals (10, 20, 40, ... ms, at most 1 s), so this is the slow case.
bg recv_a -c "$(recv_sql "'poll', wait => '10 s'")"
recv_a=$!
waiting recv_a
sleep 1.5
read -r pre_commit post_commit < <(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" \
    -c "BEGIN" -c "SELECT courier.send('poll', '{\"a\": 1}') IS NOT NULL" \
    -c "SELECT extract(epoch FROM clock_timestamp())" -c "COMMIT" \
    -c "SELECT extract(epoch FROM clock_timestamp())" | grep -E '^[0-9]+\.[0-9]+$' | paste -sd ' ')
wait "$recv_a" || true
read -r got_a ret_a < "$WORK/recv_a.out" || true
echo "# polling: returned $(ms "$pre_commit" "${ret_a:-0}") ms after the commit"
check "a polling receive returns a message sent during its wait" "1" "${got_a:-}"
check "... not before the sender commits" "t" "$(holds "${ret_a:-0} > $pre_commit")"
check "... within about a second of the commit (< 1.5 s, the poll interval is at most 1 s)" "t" \
      "$(holds "${ret_a:-0} - $pre_commit < 1.5")"

# Nothing sent: empty after about the wait.  Each look scans the visibility
# index twice (the lease statement, then the query for the next due time),
# counted in pg_stat_user_indexes once the receive's transaction has ended:
# polling every 10 ms would look about 100 times in a second (200 scans),
# backing off (10, 20, 40, ... 250 ms) it looks about 8 times.
SCANS="SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelid = 'courier.messages_visible_idx'::regclass"
q -c "SELECT pg_stat_clear_snapshot()" >/dev/null
scans_before=$(q -c "$SCANS")
t0=$(now)
read -r got_b ret_b < <(q -c "$(recv_sql "'poll', wait => '1 s'")")
echo "# polling: an empty 1 s wait took $(ms "$t0" "$ret_b") ms"
check "an empty polling wait returns no message" "0" "$got_b"
check "... after about the wait (1 s <= elapsed < 2.5 s)" "t" "$(holds "$ret_b - $t0 >= 1 && $ret_b - $t0 < 2.5")"
sleep 0.6   # statistics reach the shared counters after at most 500 ms
scans=$(( $(q -c "$SCANS") - scans_before ))
echo "# polling: the empty 1 s wait scanned the visibility index $scans times"
check "... backing off: at most 40 index scans in that second (polling every 10 ms: about 200)" "t" \
      "$(holds "$scans >= 2 && $scans <= 40")"

# A delayed message becomes visible during a polling wait.
id=$(q -c "SELECT courier.send('poll', '{\"c\": 1}', delay => '1 second')")
visible=$(q -c "SELECT extract(epoch FROM visible_at) FROM courier.messages WHERE msg_id = $id")
read -r got_c ret_c < <(q -c "$(recv_sql "'poll', wait => '10 s'")")
echo "# polling: delayed message returned $(ms "$visible" "$ret_c") ms after its visible_at"
check "a polling receive returns a delayed message once visible (0 <= late < 1 s)" "t" \
      "$(holds "$got_c == 1 && $ret_c >= $visible && $ret_c - $visible < 1")"

# Cancelling a polling wait.
t0=$(date +%s.%N)
state=$({ echo "SET statement_timeout = '300ms';"
          echo "SELECT * FROM courier.receive('poll', wait => '10 s');"
          echo '\echo :LAST_ERROR_SQLSTATE'; } | psql -X -q -A -t -d "$DB" 2>/dev/null | tail -n 1)
t1=$(date +%s.%N)
check "statement_timeout cancels a polling wait with 57014" "57014" "$state"
check "... promptly (< 2 s)" "t" "$(holds "$t1 - $t0 < 2")"
