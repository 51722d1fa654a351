#!/usr/bin/env bash
# Scenario: Exercise 1 -- commands through a queue with a dead-letter queue, and
# failures injected: a killed consumer, a lease too short for a slow consumer,
# a failing downstream, an unknown schema version, a redrive after the fix.
#   a. runs examples/exercise1.sql (one session, clock moved with
#      courier.clock_offset) in a fresh database, twice, and checks its results;
#   b. kills a real consumer backend (pg_terminate_backend) that has written its
#      side effect in an open transaction and not deleted the message yet;
#   c. runs a real slow consumer against a second consumer that takes the
#      message over after the lease ran out, both transactions open at once.
# Prints TAP lines.  Needs PGHOST/PGPORT/PGUSER of a running cluster (superuser:
# courier.clock_offset is superuser-only).  Takes a few seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
# has FILE REGEX: prints how many lines of FILE match the extended REGEX
has() { grep -cE "$2" "$1" || true; }
# wait_for DB SQL: until the query returns t, for at most 10 seconds
wait_for() {
    for _ in $(seq 1 100); do
        [ "$(q -d "$1" -c "$2")" = t ] && return 0
        sleep 0.1
    done
    return 1
}

WORK=$(mktemp -d)
cleanup() {
    local p
    for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done   # our background consumers
    rm -rf "$WORK"
    dropdb --force --if-exists ex1_example 2>/dev/null || true
    dropdb --force --if-exists ex1_live 2>/dev/null || true
}
trap cleanup EXIT
dropdb --force --if-exists ex1_example 2>/dev/null || true
dropdb --force --if-exists ex1_live 2>/dev/null || true

###########################################################################
# a. The example, in one session, twice.
###########################################################################
createdb ex1_example
q -d ex1_example -c 'CREATE EXTENSION pg_courier'

run_example() { # run_example OUT ERR: prints psql's exit status
    local rc=0
    psql -X -v ON_ERROR_STOP=1 -d ex1_example -f "$ROOT/examples/exercise1.sql" >"$1" 2>"$2" || rc=$?
    echo "$rc"
}
PER_COMMAND="SELECT string_agg(format('%s:%s/%s', c.command_id,
                  (SELECT count(*) FROM command_status AS s WHERE s.command_id = c.command_id),
                  (SELECT count(*) FROM command_ledger AS l WHERE l.command_id = c.command_id)), ' '
                  ORDER BY c.command_id)
               FROM (VALUES ('cmd-1'), ('cmd-2'), ('cmd-3'), ('cmd-4')) AS c(command_id)"
LEFT_IN_QUEUES="SELECT count(*) FROM courier.messages WHERE queue_name IN ('commands', 'commands-dlq')"

OUT=$WORK/example.out
check "examples/exercise1.sql runs without errors on a fresh database" "0 " \
      "$(run_example "$OUT" "$WORK/example.err") $(cat "$WORK/example.err")"

# What the script printed: the evidence of each failure while it was there.
check "1. the killed consumer's status row is written, then rolled back with its transaction" "1 0" \
      "$(awk '/^ status_rows_inside_the_transaction $/ { getline; getline; inside = $1 }
              /^ status_rows $/ { getline; getline; print inside, $1; exit }' "$OUT")"
check "1. the killed consumer's lease stays: cmd-1 in flight with receive_count 1, 30 s left" "1" \
      "$(has "$OUT" '^ cmd-1 +\| +1 \| t +\| +30$')"
check "1. after the visibility timeout cmd-1 is redelivered (receive_count 2, same message)" "1" \
      "$(has "$OUT" '^ cmd-1 +\| t +\| +2$')"
check "2. the slow consumer's stale delete returns false and it rolls back; 4 deletes succeed" "1 4" \
      "$(has "$OUT" '^delete returned f$') $(has "$OUT" '^delete returned t$')"
check "3. the downstream failure is on the message: receive_count, last_error, back in 5 s" "1 1" \
      "$(has "$OUT" '^ cmd-3 +\| +1 \| downstream 503 \| +5$') $(has "$OUT" '^ cmd-3 +\| +2 \| downstream 503$')"
check "4. cmd-4 is delivered 3 times with schema_version 99 and released each time" "3" \
      "$(has "$OUT" '^ cmd-4 +\| +[123] \| +99 \| t$')"
check "4. courier.dead_letters explains it: queue, source queue, error, receive_count" "1" \
      "$(has "$OUT" '^ commands-dlq +\| commands +\| cmd-4 +\| unsupported schema_version 99 \(consumer knows \{1\}\) \| +3 \| +99 \| command\.ship$')"
check "4. courier.queue_stats shows the failure: commands dead-lettered 1 message, commands-dlq holds it" "1 1" \
      "$(has "$OUT" '^ commands +\| +0 \| +0 \| +0 \| +0 \| commands-dlq +\| +1$') $(has "$OUT" '^ commands-dlq +\| +1 \| +0 \| +0 \| +1 \| +\| +0$')"
check "5. the redrive is in courier.audit_log and cmd-4 comes back naming its dead letter" "1 1" \
      "$(has "$OUT" '^ redrive \| commands-dlq \| 1 +\| *$') $(has "$OUT" '^ cmd-4 +\| t +\| +0 \| +99$')"

# What the database holds afterwards.
check "one status row and one ledger line per command" "cmd-1:1/1 cmd-2:1/1 cmd-3:1/1 cmd-4:1/1" \
      "$(q -d ex1_example -c "$PER_COMMAND")"
check "who did the work, on which delivery" \
      "cmd-1:2:consumer-B cmd-2:2:consumer-B cmd-3:3:consumer-A cmd-4:1:consumer-A" \
      "$(q -d ex1_example -c "SELECT string_agg(format('%s:%s:%s', command_id, delivery, consumer), ' '
                                ORDER BY command_id) FROM command_status")"
check "the queue and the dead-letter queue have drained" "0" \
      "$(q -d ex1_example -c "$LEFT_IN_QUEUES")"
check "courier.audit_log has the redrive of commands-dlq (1 message moved)" "1" \
      "$(q -d ex1_example -c "SELECT count(*) FROM courier.audit_log
                               WHERE action = 'redrive' AND object_name = 'commands-dlq'
                                 AND details->>'moved' = '1'")"

check "examples/exercise1.sql runs again in the same database" "0 " \
      "$(run_example "$WORK/again.out" "$WORK/again.err") $(cat "$WORK/again.err")"
check "... with the same results" "cmd-1:1/1 cmd-2:1/1 cmd-3:1/1 cmd-4:1/1 0" \
      "$(q -d ex1_example -c "$PER_COMMAND") $(q -d ex1_example -c "$LEFT_IN_QUEUES")"
check "... and the same printed story" "$(grep -vE '^ +[0-9]+$' "$OUT" | md5sum)" \
      "$(grep -vE '^ +[0-9]+$' "$WORK/again.out" | md5sum)"

###########################################################################
# b. The real kill: a consumer backend terminated in its open transaction.
###########################################################################
createdb ex1_live
q -d ex1_live >/dev/null <<'SQL'
CREATE EXTENSION pg_courier;
SELECT courier.create_queue('commands-dlq');
SELECT courier.create_queue('commands', visibility_timeout => '30 seconds',
                            dead_letter_queue => 'commands-dlq', max_receive_count => 3);
CREATE TABLE command_status (
    command_id  text PRIMARY KEY,
    status      text NOT NULL,
    msg_id      bigint NOT NULL,
    delivery    integer NOT NULL,
    consumer    text NOT NULL
);
CREATE TABLE command_ledger (
    line_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    command_id  text NOT NULL,
    consumer    text NOT NULL
);
CREATE FUNCTION apply_command(command_id text, msg_id bigint, delivery integer, consumer text)
RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO command_ledger (command_id, consumer) VALUES (command_id, consumer);
    WITH written AS (
        INSERT INTO command_status (command_id, status, msg_id, delivery, consumer)
        VALUES (command_id, 'done', msg_id, delivery, consumer)
        ON CONFLICT DO NOTHING RETURNING 1)
    SELECT count(*) = 1 FROM written;
$$;
SELECT courier.send('commands', '{"command_id": "cmd-k"}', '{"type": "command.ship", "schema_version": 1}');
SQL

# The consumer: lease (committed), then side effect in an open transaction,
# then a long call before its delete; it never gets there.
PGAPPNAME=ex1-doomed-consumer psql -X -q -A -t -v ON_ERROR_STOP=1 -d ex1_live \
    >"$WORK/doomed.out" 2>"$WORK/doomed.err" <<'SQL' &
SELECT msg_id, receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset
\echo received :command_id :receive_count
BEGIN;
SELECT apply_command(:'command_id', :msg_id, :receive_count, 'doomed') AS written \gset
\echo written :written
SELECT pg_sleep(30);
SELECT courier.delete('commands', :'receipt') AS deleted \gset
\echo deleted :deleted
COMMIT;
SQL
doomed=$!
DOOMED_SLEEPING="SELECT count(*) = 1 FROM pg_stat_activity
                  WHERE datname = 'ex1_live' AND application_name = 'ex1-doomed-consumer'
                    AND wait_event = 'PgSleep'"
check "b. the consumer is in pg_sleep inside its transaction" "yes" \
      "$(wait_for ex1_live "$DOOMED_SLEEPING" && echo yes || echo no)"
check "b. it has received cmd-k and written its status row" "received cmd-k 1|written t" \
      "$(paste -sd'|' "$WORK/doomed.out")"
# Its uncommitted status row is there: inserting the same key waits for it.
check "b. its uncommitted status row holds the key cmd-k (a second insert waits for it)" \
      "ERROR:  canceling statement due to lock timeout" \
      "$(q -d ex1_live -c "SET lock_timeout = '200ms'" \
           -c "INSERT INTO command_status VALUES ('cmd-k', 'probe', 0, 0, 'test')" 2>&1 | head -1)"
check "b. its lease is committed: cmd-k has receive_count 1 and is in flight" "1|t" \
      "$(q -d ex1_live -c "SELECT receive_count, visible_at > courier.now() FROM courier.messages
                            WHERE queue_name = 'commands'")"

terminated=$(q -d ex1_live -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                               WHERE datname = 'ex1_live' AND application_name = 'ex1-doomed-consumer'")
check "b. pg_terminate_backend kills the consumer" "t" "$terminated"
[ "$terminated" = t ] || kill "$doomed" 2>/dev/null || true   # do not wait out its pg_sleep(30)
doomed_rc=0
wait "$doomed" || doomed_rc=$?
check "b. the consumer died with the administrator's termination, before its delete" "died 1 0" \
      "$([ "$doomed_rc" -ne 0 ] && echo died || echo "exit $doomed_rc") \
$(grep -c 'terminating connection due to administrator command' "$WORK/doomed.err") \
$(grep -c '^deleted' "$WORK/doomed.out")"
check "b. its status row and ledger line are rolled back" "0 0" \
      "$(q -d ex1_live -c "SELECT count(*) FROM command_status WHERE command_id = 'cmd-k'") \
$(q -d ex1_live -c "SELECT count(*) FROM command_ledger WHERE command_id = 'cmd-k'")"
check "b. the message is still leased: nobody receives it before the visibility timeout" "0" \
      "$(q -d ex1_live -c "SELECT count(*) FROM courier.receive('commands')")"

# The next consumer, 31 seconds later by its clock.
q -d ex1_live >"$WORK/next.out" <<'SQL'
SET courier.clock_offset = '31s';
SELECT msg_id, receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset
\echo received :command_id :receive_count
BEGIN;
SELECT apply_command(:'command_id', :msg_id, :receive_count, 'next') AS written \gset
SELECT courier.delete('commands', :'receipt') AS deleted \gset
\echo deleted :deleted
\if :deleted
COMMIT;
\else
ROLLBACK;
\endif
SQL
check "b. after the visibility timeout cmd-k is redelivered with receive_count 2 and deleted" \
      "received cmd-k 2|deleted t" "$(paste -sd'|' "$WORK/next.out")"
check "b. processed exactly once: one status row (delivery 2) and one ledger line" "next:2 1" \
      "$(q -d ex1_live -c "SELECT string_agg(consumer || ':' || delivery, ',') FROM command_status
                            WHERE command_id = 'cmd-k'") \
$(q -d ex1_live -c "SELECT count(*) FROM command_ledger WHERE command_id = 'cmd-k'")"
check "b. the queue has drained" "0" \
      "$(q -d ex1_live -c "SELECT count(*) FROM courier.messages WHERE queue_name = 'commands'")"

###########################################################################
# c. A real slow consumer: its lease runs out while its transaction (with its
#    side effect) is open, and another consumer takes the message over.
###########################################################################
q -d ex1_live -c "SELECT courier.send('commands', '{\"command_id\": \"cmd-s\"}',
                                      '{\"type\": \"command.refund\", \"schema_version\": 1}')" >/dev/null

# A: lease, side effect, then a slow call that lasts until B waits on A's
# status row; then A's delete (with its now stale receipt).
PGAPPNAME=ex1-slow-consumer psql -X -q -A -t -v ON_ERROR_STOP=1 -d ex1_live \
    >"$WORK/slow.out" 2>"$WORK/slow.err" <<'SQL' &
SELECT msg_id, receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset
\echo received :command_id :receive_count
BEGIN;
SELECT apply_command(:'command_id', :msg_id, :receive_count, 'slow') AS written \gset
\echo written :written
DO $$
BEGIN
    FOR i IN 1 .. 200 LOOP
        PERFORM pg_stat_clear_snapshot();
        IF EXISTS (SELECT 1 FROM pg_stat_activity
                    WHERE datname = current_database() AND application_name = 'ex1-fast-consumer'
                      AND wait_event_type = 'Lock') THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION 'the fast consumer never waited on the slow one';
END
$$;
SELECT courier.delete('commands', :'receipt') AS deleted \gset
\echo deleted :deleted
\if :deleted
COMMIT;
\else
ROLLBACK;
\endif
SQL
slow=$!
check "c. the slow consumer holds cmd-s and its side effect in an open transaction" "yes" \
      "$(wait_for ex1_live "SELECT count(*) = 1 FROM pg_stat_activity
                             WHERE datname = 'ex1_live' AND application_name = 'ex1-slow-consumer'
                               AND wait_event = 'PgSleep'
                               AND state = 'active' AND backend_xid IS NOT NULL" && echo yes || echo no)"

# B: 31 seconds later by its clock, A's lease is over.
PGAPPNAME=ex1-fast-consumer q -d ex1_live >"$WORK/fast.out" 2>"$WORK/fast.err" <<'SQL' &
SET courier.clock_offset = '31s';
SELECT msg_id, receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset
\echo received :command_id :receive_count
BEGIN;
SELECT apply_command(:'command_id', :msg_id, :receive_count, 'fast') AS written \gset
\echo written :written
SELECT courier.delete('commands', :'receipt') AS deleted \gset
\echo deleted :deleted
\if :deleted
COMMIT;
\else
ROLLBACK;
\endif
SQL
fast=$!
slow_rc=0; fast_rc=0
wait "$slow" || slow_rc=$?
wait "$fast" || fast_rc=$?
check "c. the slow consumer: its delete returns false, so it rolls back" \
      "0 received cmd-s 1|written t|deleted f" "$slow_rc $(paste -sd'|' "$WORK/slow.out")"
check "c. the other consumer: receive_count 2, writes the status row once A is gone, deletes" \
      "0 received cmd-s 2|written t|deleted t" "$fast_rc $(paste -sd'|' "$WORK/fast.out")"
check "c. one business effect: one status row (by the fast consumer) and one ledger line" "fast:2 1" \
      "$(q -d ex1_live -c "SELECT string_agg(consumer || ':' || delivery, ',') FROM command_status
                            WHERE command_id = 'cmd-s'") \
$(q -d ex1_live -c "SELECT count(*) FROM command_ledger WHERE command_id = 'cmd-s'")"
check "c. the queue has drained" "0" \
      "$(q -d ex1_live -c "SELECT count(*) FROM courier.messages WHERE queue_name = 'commands'")"
[ -s "$WORK/slow.err" ] && sed 's/^/# slow: /' "$WORK/slow.err"
[ -s "$WORK/fast.err" ] && sed 's/^/# fast: /' "$WORK/fast.err"
echo "1..$n"
