#!/usr/bin/env bash
# Scenario: pg_dump keeps queue definitions, messages (with their leases) and
# the message id sequence, and a restored database goes on working.
# Prints TAP lines.  Needs PGHOST/PGPORT/PGUSER of a running cluster.
set -euo pipefail
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; dropdb --if-exists dump_src; dropdb --if-exists dump_dst' EXIT
dropdb --if-exists dump_src 2>/dev/null; dropdb --if-exists dump_dst 2>/dev/null
createdb dump_src
q -d dump_src >/dev/null <<'SQL'
CREATE EXTENSION pg_courier;
SELECT courier.create_queue('keep', visibility_timeout => '10 minutes', max_message_bytes => 4096);
SELECT courier.send('keep', jsonb_build_object('n', g), '{"type": "t", "tenant_id": "acme", "x": "1"}')
  FROM generate_series(1, 5) g;
SELECT count(*) FROM courier.receive('keep', 2);
SQL

SNAPSHOT="SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', msg_id, visible_at, sent_at, receive_count,
                                  receipt_nonce, type, headers, payload), ';' ORDER BY msg_id)
            FROM courier.messages"
QUEUES="SELECT string_agg(format('%s|%s|%s|%s|%s', queue_name, visibility_timeout, delay, retention,
                                max_message_bytes), ';') FROM courier.queues"
before_msgs=$(q -d dump_src -c "$SNAPSHOT")
before_queues=$(q -d dump_src -c "$QUEUES")

pg_dump -d dump_src -f "$WORK/dump.sql"
createdb dump_dst
q -d dump_dst -f "$WORK/dump.sql" >/dev/null 2>"$WORK/restore.err" || true
check "restore ran without errors" "" "$(cat "$WORK/restore.err")"
check "queue definitions survive pg_dump" "$before_queues" "$(q -d dump_dst -c "$QUEUES")"
check "messages and their leases survive pg_dump" "$before_msgs" "$(q -d dump_dst -c "$SNAPSHOT")"
check "leased messages stay leased after restore" "3" \
      "$(q -d dump_dst -c "SELECT count(*) FROM courier.receive('keep', 10)")"
check "the id sequence continues after restore" "t" \
      "$(q -d dump_dst -c "SELECT courier.send('keep', '{}') > (SELECT max(msg_id) FROM courier.messages WHERE payload <> '{}')")"
