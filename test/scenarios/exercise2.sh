#!/usr/bin/env bash
# Scenario: Exercise 2 -- one domain-event topic, three subscribed queues with
# different filter policies (headers, nested payload, prefix with envelope
# delivery), one subscriber that always fails.  Runs examples/exercise2.sql
# in a fresh database, twice, and checks: each queue got exactly the events
# its policy selects, the failing subscriber's messages reach only its own
# dead-letter queue while the others are unaffected, the correlation id is
# present in every delivered message, a rolled-back publish delivered
# nothing, and courier.topic_stats counted it all.
# Prints TAP lines.  Needs PGHOST/PGPORT/PGUSER of a running cluster
# (superuser: courier.clock_offset is superuser-only).
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
cleanup() { rm -rf "$WORK"; dropdb --force --if-exists ex2_example 2>/dev/null || true; }
trap cleanup EXIT
dropdb --force --if-exists ex2_example 2>/dev/null || true
createdb ex2_example
q -d ex2_example -c 'CREATE EXTENSION pg_courier'

run_example() { # run_example OUT ERR: prints psql's exit status
    local rc=0
    psql -X -v ON_ERROR_STOP=1 -d ex2_example -f "$ROOT/examples/exercise2.sql" >"$1" 2>"$2" || rc=$?
    echo "$rc"
}

for round in first second; do
    OUT=$WORK/$round.out
    check "examples/exercise2.sql runs without errors ($round run)" "0 " \
          "$(run_example "$OUT" "$WORK/$round.err") $(cat "$WORK/$round.err")"

    # Each subscriber handled exactly what its policy selects, with the
    # correlation id the event was published with.
    check "billing (headers policy) handled order.placed and order.cancelled only ($round)" \
          "order.placed:corr-1 order.placed:corr-2 order.cancelled:corr-4 order.placed:corr-5" \
          "$(q -d ex2_example -c "SELECT string_agg(event_type || ':' || correlation_id, ' ' ORDER BY msg_id)
                                    FROM handled WHERE queue_name = 'billing'")"
    check "analytics (prefix policy, envelope) handled every order.* event ($round)" \
          "1:corr-1 2:corr-2 1:corr-3 2:corr-4 3:corr-5" \
          "$(q -d ex2_example -c "SELECT string_agg(order_id || ':' || correlation_id, ' ' ORDER BY msg_id)
                                    FROM handled WHERE queue_name = 'analytics'")"
    check "the failing subscriber's events (DE/FR orders) are all in shipping-dlq, 3 deliveries each ($round)" \
          "shipping:corr-1:3:carrier API down (503) shipping:corr-3:3:carrier API down (503) shipping:corr-5:3:carrier API down (503)" \
          "$(q -d ex2_example -c "SELECT string_agg(source_queue || ':' || correlation_id || ':' || receive_count
                                                    || ':' || error, ' ' ORDER BY msg_id)
                                    FROM courier.dead_letters WHERE dead_letter_queue = 'shipping-dlq'")"
    check "only shipping-dlq holds messages; billing, analytics and their DLQs are empty ($round)" \
          "shipping-dlq:3" \
          "$(q -d ex2_example -c "SELECT string_agg(queue_name || ':' || c, ' ' ORDER BY queue_name)
                                    FROM (SELECT queue_name, count(*) AS c FROM courier.messages
                                           GROUP BY queue_name) AS x")"
    check "the correlation id is present in every delivered message ($round)" "9 3 0" \
          "$(q -d ex2_example -c "SELECT (SELECT count(*) FROM handled WHERE correlation_id LIKE 'corr-%') || ' ' ||
                                         (SELECT count(*) FROM courier.messages WHERE correlation_id LIKE 'corr-%') || ' ' ||
                                         ((SELECT count(*) FROM handled WHERE correlation_id IS NULL) +
                                          (SELECT count(*) FROM courier.messages WHERE correlation_id IS NULL))")"
    check "the rolled-back publish delivered nothing ($round)" "0" \
          "$(q -d ex2_example -c "SELECT count(*) FROM handled WHERE correlation_id = 'corr-rolled-back'")"
    check "topic_stats: delivered and filtered out per subscription ($round)" \
          "analytics:5/1 billing:4/2 shipping:3/3" \
          "$(q -d ex2_example -c "SELECT string_agg(queue_name || ':' || delivered || '/' || filtered_out, ' '
                                                    ORDER BY queue_name)
                                    FROM courier.topic_stats WHERE topic_name = 'domain-events'")"
done

# The envelope of one analytics delivery, checked live: publish once more and
# look at the message before anyone consumes it.
q -d ex2_example -c "SELECT courier.publish('domain-events', '{\"order\": {\"id\": 7, \"country\": \"IT\"}}',
                                            '{\"type\": \"order.placed\", \"correlation_id\": \"corr-7\"}')" >/dev/null
check "a non-raw delivery is an SNS notification with the correlation id in MessageAttributes and its column" \
      "Notification|domain-events|7|corr-7|corr-7" \
      "$(q -d ex2_example -c "SELECT concat_ws('|', payload->>'Type', payload->>'Topic', payload->'Message'->'order'->>'id',
                                              payload->'MessageAttributes'->'correlation_id'->>'Value', correlation_id)
                                FROM courier.messages WHERE queue_name = 'analytics'")"
