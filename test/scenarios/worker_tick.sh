#!/usr/bin/env bash
# Scenario: the background worker runs courier.tick() by itself.  With
# courier.databases = 'wdb, wdb2' and courier.tick_interval = '200ms', one
# worker connects to each; messages past retention disappear without anyone
# calling tick(); a reload of tick_interval reaches the worker; a failing
# tick() is logged and backed off from, and ticking resumes once it works;
# DROP EXTENSION completes while the worker runs, the worker survives it
# without a crash loop, and resumes ticking when the extension is created
# again; a fast shutdown stops the workers promptly.
# Prints TAP lines.  Starts (and removes) its own throwaway cluster; the
# cluster of PGHOST/PGPORT is not used.
#
# Messages are made old deterministically: a session with
# SET courier.clock_offset = '-120s' sends them, so their sent_at is two
# minutes in the past, beyond the queue's 60 s retention.  (The worker reads
# courier.clock_offset from its own session, so moving the clock of the
# sending session does not touch it.)
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
DB=wdb
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
holds() { if awk "BEGIN { exit !($1) }"; then echo t; else echo f; fi; }

WORK=$(mktemp -d /tmp/pg_courier-worker.XXXXXX)
chmod 755 "$WORK"
CLUSTER=$WORK/cluster
cleanup() { stop_cluster "$CLUSTER"; rm -rf "$WORK"; }
trap cleanup EXIT

DB2=wdb2
start_cluster "$CLUSTER" "$(free_port 56710)" "fsync = off" \
    "courier.databases = '$DB, $DB2'" "courier.tick_interval = '200ms'"
LOG=$CLUSTER/server.log
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
# until SQL EXPECTED SECONDS: poll SQL every 50 ms until it prints EXPECTED;
# prints the seconds it took, or "timeout".
until_equal() {
    local t0 t1 i
    t0=$(date +%s.%N)
    for i in $(seq 1 $(($3 * 20))); do
        if [ "$(q -c "$1")" = "$2" ]; then
            t1=$(date +%s.%N)
            awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
            return 0
        fi
        sleep 0.05
    done
    echo timeout
}
worker_pid() {
    q -c "SELECT coalesce(string_agg(pid::text, ','), 'none') FROM pg_stat_activity
           WHERE backend_type = 'pg_courier worker' AND datname = '$DB'"
}
# Log lines written since byte offset $1 (the restart), from the moment the
# restarted server was ready.
log_since() { tail -c +"$(($1 + 1))" "$LOG" | sed -n '/ready to accept connections/,$p'; }
send_old() { # send_old QUEUE: a message whose sent_at is two minutes ago
    q -c "SET courier.clock_offset = '-120s'" -c "SELECT courier.send('$1', '{\"old\": true}')" >/dev/null
}
old_left() { echo "SELECT count(*) FROM courier.messages WHERE queue_name = '$1' AND payload @> '{\"old\": true}'"; }

createdb "$DB"
createdb "$DB2"
q -c "CREATE EXTENSION pg_courier"
psql -X -q -d "$DB2" -c "CREATE EXTENSION pg_courier"
# The worker started before wdb existed and exited (FATAL: database "wdb"
# does not exist); the postmaster retries only after bgw_restart_time (10 s).
# A restart is quicker than waiting for that.
LOG_START=$(wc -c <"$LOG")
as_server_user "$PGBIN/pg_ctl" -D "$CLUSTER/data" -l "$LOG" -m fast -w restart >/dev/null

took=$(until_equal "SELECT count(*) FROM pg_stat_activity
                     WHERE backend_type = 'pg_courier worker' AND datname = '$DB'" 1 5)
check "one pg_courier worker is connected to $DB" "1" \
      "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_courier worker' AND datname = '$DB'")"
WPID=$(worker_pid)
echo "# worker pid $WPID (appeared after ${took} s)"
check "the worker names itself in application_name" "pg_courier worker" \
      "$(q -c "SELECT application_name FROM pg_stat_activity WHERE pid = ${WPID//none/0}")"
until_equal "SELECT count(*) FROM pg_stat_activity
              WHERE backend_type = 'pg_courier worker' AND datname = '$DB2'" 1 5 >/dev/null
check "the second database of courier.databases ($DB2) gets its own worker" "1" \
      "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_courier worker' AND datname = '$DB2'")"
check "no other database gets a worker" "0" \
      "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_courier worker' AND datname NOT IN ('$DB', '$DB2')")"

# --- retention without anyone calling tick() -----------------------------------
q -c "SELECT courier.create_queue('ret', retention => '60 s')" >/dev/null
send_old ret
q -c "SELECT courier.send('ret', '{\"old\": false}')" >/dev/null
# (checked inside the sending transaction: once committed, the worker may
# remove the message before any check could look at it)
check "a message sent with clock_offset -120s is past the 60 s retention" "t" \
      "$(q -c "SET courier.clock_offset = '-120s'" -c "BEGIN" \
           -c "SELECT courier.send('ret', '{\"probe\": true}')" \
           -c "SELECT sent_at < clock_timestamp() - interval '100 s' FROM courier.messages
                WHERE queue_name = 'ret' AND payload @> '{\"probe\": true}'" \
           -c "ROLLBACK" | tail -n 1)"
took=$(until_equal "$(old_left ret)" 0 5)
echo "# expired message removed by the worker after $took s"
check "the worker removes a message past retention (within 5 s, tick_interval 200ms)" "t" \
      "$([ "$took" != timeout ] && echo t || echo f)"
check "the worker keeps the message within retention" "1" \
      "$(q -c "SELECT count(*) FROM courier.messages WHERE queue_name = 'ret'")"
# Autovacuum learns about dead rows only from the cumulative statistics, and
# a process publishes its counts with pgstat_report_stat().  Nothing but the
# worker has deleted from courier.messages here.
took=$(until_equal "SELECT n_tup_del > 0 AND n_dead_tup > 0 FROM pg_stat_user_tables
                     WHERE relid = 'courier.messages'::regclass" t 3)
check "the worker's deletions reach pg_stat_user_tables (n_tup_del, n_dead_tup), which autovacuum reads" "t" \
      "$([ "$took" != timeout ] && echo t || echo f)"
[ "$took" != timeout ] || echo "# $(q -c "SELECT 'n_tup_del=' || n_tup_del || ' n_dead_tup=' || n_dead_tup || ' n_live_tup=' || n_live_tup
                                          FROM pg_stat_user_tables WHERE relid = 'courier.messages'::regclass") after 3 s"

# --- a reload of courier.tick_interval reaches the worker --------------------------
q -c "ALTER SYSTEM SET courier.tick_interval = '1h'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5   # the reload wakes the worker: it reloads, ticks once, then sleeps 1 h
send_old ret
sleep 1.5
check "with tick_interval = 1h (after pg_reload_conf) the worker does not tick every 200 ms" "1" \
      "$(q -c "$(old_left ret)")"
q -c "ALTER SYSTEM RESET courier.tick_interval" -c "SELECT pg_reload_conf()" >/dev/null
took=$(until_equal "$(old_left ret)" 0 5)
check "reset to 200ms (after pg_reload_conf), the worker removes it again (within 5 s)" "t" \
      "$([ "$took" != timeout ] && echo t || echo f)"

# --- a failing tick(): logged, then backoff, then back to normal -------------------
# tick() is replaced by one that fails; with tick_interval = 200ms and no
# backoff the worker would log about 15 errors in 3 s.  Backing off (200 ms,
# doubling up to 60 s) it logs 4 or 5.  The original definition is put back
# and the worker must tick normally again.
q -c "SELECT pg_get_functiondef('courier.tick()'::regprocedure)" >"$WORK/tick.sql"
q -c "CREATE OR REPLACE FUNCTION courier.tick() RETURNS jsonb LANGUAGE plpgsql
      SET search_path = pg_catalog, pg_temp
      AS \$\$ BEGIN RAISE EXCEPTION 'tick failure injected by worker_tick.sh'; END \$\$" >/dev/null
FAIL_START=$(wc -c <"$LOG")
sleep 3
failures=$(tail -c +"$((FAIL_START + 1))" "$LOG" | grep -c "ERROR:  tick failure injected by worker_tick.sh" || true)
echo "# a failing tick() was logged $failures times in 3 s"
check "a failing tick() is logged (at least twice in 3 s)" "t" "$(holds "$failures >= 2")"
check "... and the worker backs off (at most 6 errors in 3 s, not one per 200 ms tick)" "t" "$(holds "$failures <= 6")"
check "... without the worker exiting" "$WPID" "$(worker_pid)"
q -f "$WORK/tick.sql" >/dev/null
send_old ret
took=$(until_equal "$(old_left ret)" 0 10)
echo "# after tick() was repaired, the expired message was removed after $took s"
check "once tick() works again, the worker resumes (expired message removed within 10 s)" "t" \
      "$([ "$took" != timeout ] && echo t || echo f)"

# --- DROP EXTENSION while the worker runs -----------------------------------------
DROP_START=$(wc -c <"$LOG")
t0=$(date +%s.%N)
drop=ok
q -c "SET statement_timeout = '10s'" -c "DROP EXTENSION pg_courier" 2>"$WORK/drop.err" || drop=failed
t1=$(date +%s.%N)
echo "# DROP EXTENSION took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
[ "$drop" = ok ] || sed 's/^/# /' "$WORK/drop.err"
check "DROP EXTENSION pg_courier succeeds while the worker runs" "ok" "$drop"
check "... within a few seconds (< 3 s)" "t" "$(holds "$t1 - $t0 < 3")"
sleep 1   # five tick intervals without the extension
check "the worker is still the same process after the drop" "$WPID" "$(worker_pid)"
check "the worker started once: no crash loop" "1" \
      "$(log_since "$LOG_START" | grep -c "pg_courier worker started for database \"$DB\"" || true)"
# A tick that began just as the DROP committed may fail once (logged, then
# backoff); more than that would be error spam.
worker_errors=$(tail -c +"$((DROP_START + 1))" "$LOG" | grep -E "\[$WPID\] (ERROR|FATAL|PANIC)" || true)
[ -z "$worker_errors" ] || sed 's/^/# worker log: /' <<<"$worker_errors"
check "the worker logs at most one error around the drop" "t" \
      "$(holds "$(grep -c . <<<"$worker_errors" || true) <= 1")"

# --- the extension comes back: the worker resumes ---------------------------------
q -c "CREATE EXTENSION pg_courier" -c "SELECT courier.create_queue('ret2', retention => '60 s')" >/dev/null
send_old ret2
took=$(until_equal "$(old_left ret2)" 0 5)
echo "# after CREATE EXTENSION, expired message removed after $took s"
check "after CREATE EXTENSION again, the worker removes expired messages (within 5 s)" "t" \
      "$([ "$took" != timeout ] && echo t || echo f)"
check "... still the same worker process" "$WPID" "$(worker_pid)"
check "no server process crashed" "0" \
      "$(log_since "$LOG_START" | grep -cE 'terminated by signal|exited with exit code [1-9]' || true)"

# --- the worker stops with the server --------------------------------------------
STOP_START=$(wc -c <"$LOG")
t0=$(date +%s.%N)
as_server_user "$PGBIN/pg_ctl" -D "$CLUSTER/data" -m fast -w stop >/dev/null
t1=$(date +%s.%N)
check "a fast shutdown with the workers running completes within 5 s" "t" "$(holds "$t1 - $t0 < 5")"
stop_log=$(tail -c +"$((STOP_START + 1))" "$LOG")
check "the shutdown completes (database system is shut down)" "1" \
      "$(grep -c 'database system is shut down' <<<"$stop_log" || true)"
check "no process crashed or was killed during the shutdown" "0" \
      "$(grep -cE 'terminated by signal|PANIC|exited with exit code [2-9]' <<<"$stop_log" || true)"
