#!/usr/bin/env bash
# Scenario: Exercise 3 -- a custom bus, rules to two targets (a SQL function,
# a queue), an archive; a bug in the function target for a window of time,
# the fix, and a replay of only that window to only the failed target's
# rule.  Runs examples/exercise3.sql in a fresh database, twice (it cleans up
# after itself), and checks: the dead-letter queue shows exactly the failed
# window, the replay completed and is visible in courier.replays and on the
# replayed events, every order was shipped and e-mailed exactly once (the
# consumer is idempotent: an order replayed that had already shipped was
# delivered twice and shipped once), the queue target got nothing twice, and
# the replayed events kept their ids.
# Prints TAP lines.  Needs PGHOST/PGPORT/PGUSER of a running cluster.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
WORK=$(mktemp -d)
cleanup() { rm -rf "$WORK"; dropdb --force --if-exists ex3_example 2>/dev/null || true; }
trap cleanup EXIT
dropdb --force --if-exists ex3_example 2>/dev/null || true
createdb ex3_example
q -d ex3_example -c 'CREATE EXTENSION pg_courier'

for round in first second; do
    rc=0
    psql -X -v ON_ERROR_STOP=1 -d ex3_example -f "$ROOT/examples/exercise3.sql" \
        >"$WORK/$round.out" 2>"$WORK/$round.err" || rc=$?
    check "examples/exercise3.sql runs without errors ($round run)" "0 " "$rc $(cat "$WORK/$round.err")"

    check "the dead-letter queue holds exactly the failed window, 10:03 to 10:05 ($round)" \
          "4,5,6|38000|function:public.ex3_ship" \
          "$(q -d ex3_example -c "SELECT string_agg(payload->'detail'->>'order_id', ',' ORDER BY msg_id)
                                         || '|' || min(headers->>'ERROR_CODE') || '|' || min(headers->>'TARGET_ARN')
                                    FROM courier.messages WHERE queue_name = 'ex3-ship-dlq'")"
    check "the replay completed; courier.replays shows what it did ($round)" \
          "COMPLETED|4|4|{ship}" \
          "$(q -d ex3_example -c "SELECT concat_ws('|', state, events_replayed, deliveries, rules)
                                    FROM courier.replays WHERE replay_name = 'ex3-fix'")"
    check "every order shipped once; the failed ones by the replay, which they say ($round)" \
          "1:-:1 2:-:1 3:-:2 4:ex3-fix:1 5:ex3-fix:1 6:ex3-fix:1 7:-:1 8:-:1 9:-:1" \
          "$(q -d ex3_example -c "SELECT string_agg(order_id || ':' || coalesce(replay_name, '-') || ':' || deliveries,
                                                    ' ' ORDER BY order_id) FROM ex3_shipments")"
    check "no external side effect duplicated: one e-mail per order ($round)" "9|9" \
          "$(q -d ex3_example -c "SELECT count(*) || '|' || count(DISTINCT order_id) FROM ex3_emails")"
    check "the queue target was not replayed to: one analytics message per order ($round)" "9|9" \
          "$(q -d ex3_example -c "SELECT count(*) || '|' || count(DISTINCT payload->>'order')
                                    FROM courier.messages WHERE queue_name = 'ex3-analytics'")"
    check "replayed events kept the ids of the archived originals ($round)" "9|0" \
          "$(q -d ex3_example -c "SELECT count(*) || '|' || count(*) FILTER (WHERE a.event_id IS NULL)
                                    FROM ex3_shipments AS s
                                    LEFT JOIN courier.archived_events AS a ON a.event_id = s.event_id")"
    check "nothing left to deliver; the replayed events were not archived again ($round)" "0|9" \
          "$(q -d ex3_example -c "SELECT (SELECT count(*) FROM courier.bus_deliveries) || '|' ||
                                         (SELECT count(*) FROM courier.archived_events)")"
done
