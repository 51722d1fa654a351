#!/usr/bin/env bash
# Scenario: long polling with shared memory (shared_preload_libraries =
# 'pg_courier').  A waiting courier.receive(wait => ...) returns as soon as a
# sender to its queue commits, and not before; returns empty after the wait;
# wakes by itself when a delayed message or an expired lease becomes due; can
# be cancelled; shows up as an Extension wait; is refused where it cannot
# work.  Also measures commit-to-return latency.
# Prints TAP lines.  Needs PGHOST/PGPORT/PGUSER of a running cluster started
# with shared_preload_libraries = 'pg_courier' (and max_prepared_transactions
# > 0, as scripts/lib.sh's start_cluster sets, for the two-phase check).
#
# Every time is the server's clock_timestamp() (epoch seconds), read in the
# receiving and the sending session, so both sides use one clock.  A
# receiver's "return time" is clock_timestamp() evaluated in the projection
# of an aggregate over courier.receive(): it runs only after receive() has
# returned.  A sender's "commit time" is read in the statement just before
# COMMIT, so commit-to-return latencies are upper bounds.
set -euo pipefail
DB=courier_longpoll
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
# holds EXPR: "t" when the awk expression EXPR is true, else "f".
holds() { if awk "BEGIN { exit !($1) }"; then echo t; else echo f; fi; }
# ms A B: B - A in milliseconds (epoch seconds in), 1 decimal.
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
now() { q -c "SELECT extract(epoch FROM clock_timestamp())"; }

WORK=$(mktemp -d)
BG_PIDS=()
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -X -q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                WHERE datname = '$DB' AND pid <> pg_backend_pid()" >/dev/null 2>&1 || true
    psql -X -q -d "$DB" -c "ROLLBACK PREPARED 'courier_lp_2pc'" >/dev/null 2>&1 || true
    dropdb --if-exists "$DB" 2>/dev/null || true
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS courier_lp_user" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# bg NAME PSQL-ARGS...: run psql in the background under application_name
# NAME, output in $WORK/NAME.out; its pid is appended to BG_PIDS.
bg() {
    local name=$1
    shift
    PGAPPNAME=$name psql -X -q -A -t -d "$DB" "$@" >"$WORK/$name.out" 2>&1 &
    BG_PIDS+=($!)
}
# waiting NAME [PATTERN]: wait (5 s at most) until the backend of NAME runs a
# statement containing PATTERN and sleeps in an Extension wait.
waiting() {
    local i
    for i in $(seq 1 250); do
        [ "$(q -c "SELECT count(*) FROM pg_stat_activity
                    WHERE application_name = '$1' AND state = 'active'
                      AND query LIKE '%${2:-courier.receive}%'
                      AND wait_event_type = 'Extension'")" = 1 ] && return 0
        sleep 0.02
    done
    echo "# $1 never started waiting"
    return 1
}
# The SQLSTATE of the last error of SQL lines run in one session, 00000 if none.
sqlstate() {
    { printf '%s\n' "$@"; echo '\echo :LAST_ERROR_SQLSTATE'; } \
        | psql -X -q -A -t -d "$DB" 2>/dev/null | tail -n 1
}
# receiver SQL line: "count return-time" of courier.receive(ARGS).
recv_sql() {
    echo "SELECT count(*) || ' ' || extract(epoch FROM clock_timestamp()) FROM courier.receive($1)"
}

dropdb --if-exists "$DB" 2>/dev/null
createdb "$DB"
q >/dev/null <<'SQL'
CREATE EXTENSION pg_courier;
SELECT courier.create_queue('lp');
SELECT courier.create_queue('lp_other');
SELECT courier.create_queue('lp_delay');
SELECT courier.create_queue('lp_lease');
SELECT courier.create_queue('lp_lat');
SQL

# --- (a) a commit wakes the waiter, and nothing before the commit does -------
bg recv_a -c "$(recv_sql "'lp', wait => '10 s'")"
recv_a=$!
waiting recv_a
# Send inside a transaction that stays open for a second before COMMIT.
read -r pre_commit post_commit < <(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" \
    -c "BEGIN" -c "SELECT courier.send('lp', '{\"a\": 1}') IS NOT NULL" -c "SELECT pg_sleep(1)" \
    -c "SELECT extract(epoch FROM clock_timestamp())" -c "COMMIT" \
    -c "SELECT extract(epoch FROM clock_timestamp())" | grep -E '^[0-9]+\.[0-9]+$' | paste -sd ' ')
wait "$recv_a" || true
read -r got_a ret_a < "$WORK/recv_a.out" || true
check "(a) the waiting receive returns the message committed during its wait" "1" "$got_a"
check "(a) the waiting receive does not return before the sender commits" "t" \
      "$(holds "${ret_a:-0} > $pre_commit")"
echo "# (a) wake latency: $(ms "$pre_commit" "${ret_a:-0}") ms after the pre-COMMIT timestamp ($(ms "$post_commit" "${ret_a:-0}") ms relative to the sender's first statement after COMMIT)"
check "(a) the waiting receive returns well before its timeout (< 2 s after the commit)" "t" \
      "$(holds "${ret_a:-0} - $pre_commit < 2")"

# --- (b) nothing sent: empty after about the wait -----------------------------
# Meanwhile a send to the same queue that rolls back, and a committed send to
# another queue, must not make it return anything.
bg recv_b -c "SELECT extract(epoch FROM clock_timestamp())" -c "$(recv_sql "'lp', wait => '2 s'")"
recv_b=$!
waiting recv_b
q -c "BEGIN" -c "SELECT courier.send('lp', '{\"rolled_back\": true}')" -c "ROLLBACK" >/dev/null
q -c "SELECT courier.send('lp_other', '{}')" >/dev/null
wait "$recv_b" || true
start_b=$(sed -n 1p "$WORK/recv_b.out")
read -r got_b ret_b < <(sed -n 2p "$WORK/recv_b.out") || true
elapsed_b=$(awk -v a="$start_b" -v b="${ret_b:-0}" 'BEGIN { printf "%.3f", b - a }')
echo "# (b) an empty 2 s wait took $elapsed_b s"
check "(b) a wait with nothing committed to the queue returns no message" "0" "$got_b"
check "(b) ... after about the wait (2 s <= elapsed < 3.5 s)" "t" \
      "$(holds "$elapsed_b >= 2 && $elapsed_b < 3.5")"
q -c "SELECT count(*) FROM courier.receive('lp_other', 10)" >/dev/null

# --- (c) delayed messages and expired leases wake a waiter without a send ----
visible_at() { q -c "SELECT extract(epoch FROM visible_at) FROM courier.messages WHERE msg_id = $1"; }
# c1: the delayed message is already committed when the receive starts.
visible=$(visible_at "$(q -c "SELECT courier.send('lp_delay', '{\"c\": 1}', delay => '2 seconds')")")
read -r got_c1 ret_c1 < <(q -c "$(recv_sql "'lp_delay', wait => '10 s'")")
echo "# (c1) delayed message returned $(ms "$visible" "$ret_c1") ms after its visible_at"
check "(c1) a receive waiting on a delayed message returns it" "1" "$got_c1"
check "(c1) ... when it becomes visible (0 <= late < 250 ms), not at the timeout" "t" \
      "$(holds "$ret_c1 >= $visible && $ret_c1 - $visible < 0.25")"
# c2: the receive is already waiting when the delayed send commits; that
# commit wakes it, it finds nothing visible and must sleep until visible_at.
bg recv_c2 -c "$(recv_sql "'lp_delay', wait => '10 s'")"
recv_c2=$!
waiting recv_c2
visible=$(visible_at "$(q -c "SELECT courier.send('lp_delay', '{\"c\": 2}', delay => '2 seconds')")")
wait "$recv_c2" || true
read -r got_c2 ret_c2 < "$WORK/recv_c2.out" || true
echo "# (c2) delayed message returned $(ms "$visible" "${ret_c2:-0}") ms after its visible_at"
check "(c2) a receive waiting before a delayed send returns the message" "1" "$got_c2"
check "(c2) ... when it becomes visible (0 <= late < 250 ms)" "t" \
      "$(holds "${ret_c2:-0} >= $visible && ${ret_c2:-0} - $visible < 0.25")"
# c3: another consumer's lease runs out.
q -c "SELECT courier.send('lp_lease', '{}')" >/dev/null
lease_end=$(q -c "SELECT extract(epoch FROM visible_at)
                    FROM courier.receive('lp_lease', visibility_timeout => '2 seconds')")
read -r got_c3 ret_c3 < <(q -c "$(recv_sql "'lp_lease', wait => '10 s'")")
echo "# (c3) message returned $(ms "$lease_end" "$ret_c3") ms after the other lease ended"
check "(c3) a waiting receive gets a message when another consumer's lease expires" "1" "$got_c3"
check "(c3) ... right then (0 <= late < 250 ms)" "t" \
      "$(holds "$ret_c3 >= $lease_end && $ret_c3 - $lease_end < 0.25")"

# c4: another consumer releases its lease (delay 0).  release() wakes the
# waiters at commit, as a send does, so the waiter returns well before its
# nap (COURIER_MAX_NAP_MS = 1 s) would end: under 0.4 s, where a release
# that did not wake anybody would take about a second.
q -c "SELECT courier.send('lp_lease', '{}')" >/dev/null
receipt=$(q -c "SELECT receipt FROM courier.receive('lp_lease', visibility_timeout => '1 minute')")
bg recv_c4 -c "$(recv_sql "'lp_lease', wait => '10 s'")"
recv_c4=$!
waiting recv_c4
pre=$(now)
q -c "SELECT courier.release('lp_lease', '$receipt')" >/dev/null
wait "$recv_c4" || true
read -r got_c4 ret_c4 < "$WORK/recv_c4.out" || true
echo "# (c4) released message returned $(ms "$pre" "${ret_c4:-0}") ms after release() began"
check "(c4) a message released with no delay wakes a waiting receive at commit (< 0.4 s, not the 1 s nap)" "t" \
      "$(holds "${got_c4:-0} == 1 && ${ret_c4:-0} - $pre < 0.4")"

# --- (d) cancelling a wait ------------------------------------------------------
t0=$(date +%s.%N)
state=$(sqlstate "SET statement_timeout = '500ms';" \
                 "SELECT * FROM courier.receive('lp', wait => '10 s');")
t1=$(date +%s.%N)
check "(d) statement_timeout cancels a waiting receive with 57014" "57014" "$state"
check "(d) ... at the statement timeout, not at the end of the wait (< 2 s)" "t" "$(holds "$t1 - $t0 < 2")"
bg recv_d -c "SELECT * FROM courier.receive('lp', wait => '10 s')" -c '\echo :LAST_ERROR_SQLSTATE'
recv_d=$!
waiting recv_d
t0=$(date +%s.%N)
check "pg_cancel_backend() signals the waiting backend" "t" \
      "$(q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'recv_d'")"
wait "$recv_d" || true
t1=$(date +%s.%N)
check "(d) pg_cancel_backend() cancels a waiting receive with 57014" "57014" "$(tail -n 1 "$WORK/recv_d.out")"
check "(d) ... promptly (< 1 s)" "t" "$(holds "$t1 - $t0 < 1")"
check "(d) the cancelled receives leased nothing" "0" \
      "$(q -c "SELECT count(*) FROM courier.messages WHERE queue_name = 'lp' AND receive_count > 0 AND NOT payload ? 'a'")"

# --- (e) the wait is visible in pg_stat_activity --------------------------------
bg recv_e -c "$(recv_sql "'lp', wait => '3 s'")"
recv_e=$!
waiting recv_e
samples=""
for _ in $(seq 1 10); do
    samples+="$(q -c "SELECT coalesce(wait_event_type, '-') || '/' || coalesce(wait_event, '-')
                       FROM pg_stat_activity WHERE application_name = 'recv_e'") "
    sleep 0.03
done
q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'recv_e'" >/dev/null
wait "$recv_e" 2>/dev/null || true
echo "# (e) samples: $samples"
in_ext=$(tr ' ' '\n' <<<"$samples" | grep -c '^Extension/Extension$' || true)
check "(e) a waiting receive shows wait_event_type Extension (at least 8 of 10 samples)" "t" \
      "$(holds "$in_ext >= 8")"

# --- (f) refused waits -------------------------------------------------------------
check "(f) a wait in REPEATABLE READ is refused with 25001" "25001" \
      "$(sqlstate "BEGIN ISOLATION LEVEL REPEATABLE READ;" \
                  "SELECT * FROM courier.receive('lp', wait => '1 s');")"
check "(f) a wait in SERIALIZABLE is refused with 25001" "25001" \
      "$(sqlstate "BEGIN ISOLATION LEVEL SERIALIZABLE;" \
                  "SELECT * FROM courier.receive('lp', wait => '1 s');")"
check "(f) a receive without wait still works in REPEATABLE READ" "00000" \
      "$(sqlstate "BEGIN ISOLATION LEVEL REPEATABLE READ;" \
                  "SELECT * FROM courier.receive('lp');" "COMMIT;")"
check "(f) a wait over courier.max_wait (default 20 s) is refused with 22023" "22023" \
      "$(sqlstate "SELECT * FROM courier.receive('lp', wait => '21 s');")"
check "(f) a wait over a lowered courier.max_wait is refused with 22023" "22023" \
      "$(sqlstate "SET courier.max_wait = '2s';" "SELECT * FROM courier.receive('lp', wait => '3 s');")"
check "(f) a negative wait is refused with 22023" "22023" \
      "$(sqlstate "SELECT * FROM courier.receive('lp', wait => '-1 s');")"
q -c "SELECT courier.send('lp', '{\"f\": 1}')" >/dev/null
check "(f) a wait of exactly courier.max_wait is accepted (returns at once with a message there)" "1" \
      "$(q -c "SET courier.max_wait = '2s'" -c "SELECT count(*) FROM courier.receive('lp', wait => '2 s')")"
PGOPTIONS='-c client_min_messages=warning' psql -X -q -d postgres \
    -c "DROP ROLE IF EXISTS courier_lp_user" -c "CREATE ROLE courier_lp_user" >/dev/null
check "(f) only a superuser may raise courier.max_wait (42501)" "42501" \
      "$(sqlstate "SET ROLE courier_lp_user;" "SET courier.max_wait = '1h';")"

# --- two-phase commit: COMMIT PREPARED does not signal, the nap bounds it ----
# wait.c: "a prepared transaction's waiters wake by their poll timeout"
# (COURIER_MAX_NAP_MS = 1 s).  Checked against that bound, latency printed.
if [ "$(q -c "SHOW max_prepared_transactions")" -gt 0 ]; then
    q -c "BEGIN" -c "SELECT courier.send('lp_other', '{\"2pc\": true}')" \
      -c "PREPARE TRANSACTION 'courier_lp_2pc'" >/dev/null
    bg recv_p -c "$(recv_sql "'lp_other', wait => '10 s'")"
    recv_p=$!
    waiting recv_p
    pre=$(now)
    q -c "COMMIT PREPARED 'courier_lp_2pc'" >/dev/null
    wait "$recv_p" || true
    read -r got_p ret_p < "$WORK/recv_p.out" || true
    echo "# two-phase: returned $(ms "$pre" "${ret_p:-0}") ms after COMMIT PREPARED began"
    check "a message committed by COMMIT PREPARED reaches a waiting receive within the 1 s nap (< 1.5 s)" "t" \
          "$(holds "${got_p:-0} == 1 && ${ret_p:-0} - $pre < 1.5")"
else
    n=$((n + 1)); echo "ok $n # SKIP max_prepared_transactions = 0: no two-phase check"
fi

# --- (g) commit-to-return latency, 20 times ----------------------------------------
# One receiver session runs 20 waiting receives in a row; the sender waits
# until the receiver's i-th statement sleeps, then sends and commits.
for i in $(seq -w 1 20); do
    echo "SELECT 'iter=$i' || ' ' || count(*) || ' ' || extract(epoch FROM clock_timestamp())
            FROM courier.receive('lp_lat', wait => '10 s');"
done >"$WORK/lat_recv.sql"
bg recv_g -f "$WORK/lat_recv.sql"
recv_g=$!
: >"$WORK/lat_send"
for i in $(seq -w 1 20); do
    waiting recv_g "iter=$i"
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" \
        -c "SELECT courier.send('lp_lat', '{}') IS NOT NULL" \
        -c "SELECT 'iter=$i ' || extract(epoch FROM clock_timestamp())" -c "COMMIT" \
        | grep '^iter=' >>"$WORK/lat_send"
done
wait "$recv_g" || true
join <(sort "$WORK/lat_send") <(sort "$WORK/recv_g.out") >"$WORK/lat"
# lines: iter=NN commit_time count return_time
check "(g) all 20 waiting receives returned one message each" "20" \
      "$(awk '$3 == 1' "$WORK/lat" | wc -l | tr -d ' ')"
awk '{ printf "%.3f\n", ($4 - $2) * 1000 }' "$WORK/lat" | sort -n >"$WORK/lat_ms"
median=$(awk '{ a[NR] = $1 } END { if (NR == 0) print 99999; else if (NR % 2) print a[(NR + 1) / 2];
                else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }' "$WORK/lat_ms")
max=$(tail -n 1 "$WORK/lat_ms")
min=$(head -n 1 "$WORK/lat_ms")
echo "# (g) commit->return latency over $(wc -l <"$WORK/lat_ms" | tr -d ' ') wakes: min ${min:-?} ms, median $median ms, max ${max:-?} ms"
check "(g) median commit->return latency < 50 ms" "t" "$(holds "$median < 50")"
