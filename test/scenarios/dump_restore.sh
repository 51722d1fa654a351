#!/usr/bin/env bash
# Scenario: pg_dump keeps queue definitions, messages (with their leases),
# FIFO groups, deduplication claims, dead letters with their evidence, the
# audit trail, topics and subscriptions, bus archives (their events live in
# partitions created at run time, which pg_dump dumps as tables attached to
# the extension's parent) and replays, state machines with their versions,
# executions and their history, courier grants (tenant-bound included, with
# the row-level security they rely on), and every sequence; a restored
# database goes on working.  Both a plain dump through psql and a custom
# dump through pg_restore.
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
drop_role() {
    if [ "$(q -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname = 'dump_acme'")" = 1 ]; then
        for d in dump_src dump_dst dump_dst2; do
            q -d "$d" -c 'DROP OWNED BY dump_acme' 2>/dev/null || true
        done
        q -d postgres -c 'DROP ROLE dump_acme'
    fi
}
trap 'rm -rf "$WORK"; for d in dump_src dump_dst dump_dst2; do dropdb --if-exists $d; done; drop_role' EXIT
for d in dump_src dump_dst dump_dst2; do dropdb --if-exists $d 2>/dev/null; done
drop_role
q -d postgres -c 'CREATE ROLE dump_acme'
createdb dump_src
q -d dump_src >/dev/null <<'SQL'
CREATE EXTENSION pg_courier;
SELECT courier.create_queue('keep', visibility_timeout => '10 minutes', max_message_bytes => 4096);
SELECT courier.send('keep', jsonb_build_object('n', g), '{"type": "t", "tenant_id": "acme", "x": "1"}')
  FROM generate_series(1, 5) g;
SELECT count(*) FROM courier.receive('keep', 2);
-- a tenant-bound grant on it (the role exists before the restore, as
-- pg_dumpall --roles-only would make it)
SELECT courier.grant('send', 'queue', 'keep', 'dump_acme', 'acme');
SELECT courier.grant('receive', 'queue', 'keep', 'dump_acme', 'acme');
-- FIFO: two groups, group a with a message in flight; a dedup claim.
SELECT courier.create_queue('f.fifo', fifo => true, content_based_dedup => true,
                            visibility_timeout => '10 minutes');
SELECT courier.send('f.fifo', jsonb_build_object('g', 'a', 'n', n), group_id => 'a') FROM generate_series(1, 2) n;
SELECT courier.send('f.fifo', jsonb_build_object('g', 'b', 'n', 1), group_id => 'b');
SELECT count(*) FROM courier.receive('f.fifo', 1);
-- A dead letter with its evidence, and a redrive in the audit trail.
SELECT courier.create_queue('work-dlq');
SELECT courier.create_queue('work', dead_letter_queue => 'work-dlq', max_receive_count => 1);
SELECT courier.send('work', '{"job": 1}');
SELECT courier.send('work', '{"job": 2}');
SELECT courier.release('work', r.receipt, error => 'boom') FROM courier.receive('work', 10) r;
SELECT count(*) FROM courier.receive('work', 10);
SELECT courier.redrive('work-dlq', max_messages => 1);
-- A topic with a filtered subscription.
SELECT courier.create_queue('subscriber');
SELECT courier.create_topic('events');
SELECT courier.subscribe('events', 'subscriber', '{"kind": ["keep"]}', 'payload');
SELECT courier.publish('events', '{"kind": "keep"}');
-- A bus archive: two events put today, one archived three days ago (a
-- second partition), and a replay that has run.
SELECT courier.create_bus('shop');
SELECT courier.create_queue('shop-orders');
SELECT courier.put_rule('shop', 'orders', '{"source": ["shop"]}');
SELECT courier.put_target('shop', 'orders', 'q', 'queue:shop-orders');
SELECT courier.create_archive('shop-archive', 'shop', retention => '30 days');
SELECT count(*) FROM courier.put_events('shop', '[{"source": "shop", "detail-type": "order", "detail": {"n": 1}},
                                                  {"source": "shop", "detail-type": "order", "detail": {"n": 2}}]');
SELECT courier._archive_event(e.archive_id, now() - interval '3 days', e.event_time, gen_random_uuid(),
                              e.event || jsonb_build_object('detail', jsonb_build_object('n', 0)))
  FROM courier.archived_events e ORDER BY e.event_id LIMIT 1;
SELECT courier.start_replay('shop-replay', 'shop-archive', now() - interval '1 hour', now());
SELECT courier.run_replays();
-- A state machine in two versions: one execution finished (with its
-- history), one started on version 1 and not yet run.
SELECT courier.create_state_machine('flow', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "v1", "End": true}}}');
SELECT courier.start_execution('flow', '{}', 'done-before');
SELECT courier.run_executions();
SELECT courier.start_execution('flow', '{}', 'pending');
SELECT courier.update_state_machine('flow', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "v2", "End": true}}}');
-- The schema registry: two versions of a type, its mode, and a queue that
-- requires schemas.
SELECT courier.register_schema('order.placed', 1, '{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}', 'FULL_TRANSITIVE');
SELECT courier.register_schema('order.placed', 2, '{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "note": {}}}');
SELECT courier.create_queue('typed');
SELECT courier.set_require_schema('queue', 'typed', true);
SQL

SNAPSHOT="SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', msg_id, visible_at, sent_at, receive_count,
                                  receipt_nonce, type, headers, payload), ';' ORDER BY msg_id)
            FROM courier.messages"
QUEUES="SELECT string_agg(format('%s|%s|%s|%s|%s', queue_name, visibility_timeout, delay, retention,
                                max_message_bytes), ';') FROM courier.queues"
# The archive's partitions: name, bounds, rows, and the index each has.
PARTITIONS="SELECT string_agg(format('%s %s %s %s', c.relname, pg_get_expr(c.relpartbound, c.oid), c2.n,
                                    (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid)), ';' ORDER BY c.relname)
              FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
              CROSS JOIN LATERAL (SELECT count(*) AS n FROM courier.archived_events e
                                   WHERE e.tableoid = c.oid) c2
             WHERE h.inhparent = 'courier.archived_events'::regclass"
# Every row of every table pg_courier keeps user data in, as text.
TABLES="SELECT string_agg(t, E'\\n' ORDER BY t) FROM (
          SELECT 'queues ' || x::text AS t FROM courier.queues x
          UNION ALL SELECT 'messages ' || x::text FROM courier.messages x
          UNION ALL SELECT 'groups ' || x::text FROM courier.message_groups x
          UNION ALL SELECT 'dedup ' || x::text FROM courier.dedup x
          UNION ALL SELECT 'audit ' || x::text FROM courier.audit_log x
          UNION ALL SELECT 'topics ' || x::text FROM courier.topics x
          UNION ALL SELECT 'subscriptions ' || x::text FROM courier.subscriptions x
          UNION ALL SELECT 'archives ' || x::text FROM courier.archives x
          UNION ALL SELECT 'archived_events ' || x::text FROM courier.archived_events x
          UNION ALL SELECT 'replays ' || x::text FROM courier.bus_replays x
          UNION ALL SELECT 'state_machines ' || x::text FROM courier.state_machines x
          UNION ALL SELECT 'state_machine_versions ' || x::text FROM courier.state_machine_versions x
          UNION ALL SELECT 'executions ' || x::text FROM courier.executions x
          UNION ALL SELECT 'execution_history ' || x::text FROM courier.execution_history x
          UNION ALL SELECT 'schema_types ' || x::text FROM courier.schema_types x
          UNION ALL SELECT 'schemas ' || x::text FROM courier.schemas x
          UNION ALL SELECT 'grants ' || x::text FROM courier.grants x) s"
SEQUENCES="SELECT string_agg(format('%s=%s', c.relname, pg_sequence_last_value(c.oid)), ' ' ORDER BY c.relname)
             FROM pg_class c WHERE c.relkind = 'S' AND c.relnamespace = 'courier'::regnamespace"
before_msgs=$(q -d dump_src -c "$SNAPSHOT")
before_queues=$(q -d dump_src -c "$QUEUES")
before_tables=$(q -d dump_src -c "$TABLES")
before_seqs=$(q -d dump_src -c "$SEQUENCES")
before_partitions=$(q -d dump_src -c "$PARTITIONS")
check "the source holds a FIFO group in flight, a dedup claim, a dead letter, audit rows and a subscription" \
      "1 3 1 1 1" \
      "$(q -d dump_src -c "SELECT (SELECT count(*) FROM courier.message_groups WHERE inflight > 0) || ' ' ||
                                  (SELECT count(*) FROM courier.dedup) || ' ' ||
                                  (SELECT count(*) FROM courier.dead_letters) || ' ' ||
                                  (SELECT count(*) FROM courier.audit_log WHERE action = 'redrive') || ' ' ||
                                  (SELECT count(*) FROM courier.subscriptions)")"
check "the source holds an archive of 3 events in 2 partitions made at run time, and a completed replay" \
      "3 2 COMPLETED" \
      "$(q -d dump_src -c "SELECT event_count || ' ' || partitions || ' ' ||
                                  (SELECT state FROM courier.replays) FROM courier.list_archives()")"

restored_checks() { # restored_checks DB HOW
    local db=$1 how=$2
    check "$how: queue definitions survive" "$before_queues" "$(q -d "$db" -c "$QUEUES")"
    check "$how: messages and their leases survive" "$before_msgs" "$(q -d "$db" -c "$SNAPSHOT")"
    check "$how: every row of queues, messages, groups, dedup ids, audit trail, topics, subscriptions, archives, state machines and executions survives" \
          "$before_tables" "$(q -d "$db" -c "$TABLES")"
    check "$how: every sequence keeps its position" "$before_seqs" "$(q -d "$db" -c "$SEQUENCES")"
    check "$how: the archive's partitions come back attached, with their bounds, rows and index" \
          "$before_partitions" "$(q -d "$db" -c "$PARTITIONS")"
    check "$how: the restored archive keeps archiving (into its restored partition of today)" "4 2" \
          "$(q -d "$db" -c "SELECT count(*) FROM courier.put_events('shop', '[{\"source\": \"shop\", \"detail-type\": \"order\", \"detail\": {}}]')" >/dev/null;
             q -d "$db" -c "SELECT event_count || ' ' || partitions FROM courier.list_archives()")"
    check "$how: a replay of the restored archive re-sends its events, ids unchanged" "4 4 true" \
          "$(q -d "$db" -c "SELECT courier.start_replay('again', 'shop-archive', now() - interval '1 day', now())" >/dev/null;
             replayed=$(q -d "$db" -c "SELECT courier.run_replays()")
             echo "$replayed $(q -d "$db" -c "SELECT count(*) || ' ' || bool_and((m.payload->>'id')::uuid IN
                                                         (SELECT event_id FROM courier.archived_events))
                                               FROM courier.messages m WHERE m.payload->>'replay-name' = 'again'")")"
    check "$how: a replay name taken before the dump is still taken" "42710" \
          "$(q -d "$db" -c "DO \$\$ BEGIN PERFORM courier.start_replay('shop-replay', 'shop-archive', now() - interval '1 hour', now());
                                      EXCEPTION WHEN duplicate_object THEN RAISE NOTICE '42710'; END \$\$" 2>&1 | sed -n 's/.*NOTICE: *//p')"
    check "$how: leased messages stay leased" "3" \
          "$(q -d "$db" -c "SELECT count(*) FROM courier.receive('keep', 10)")"
    check "$how: the FIFO group in flight stays blocked; the other group delivers" "b" \
          "$(q -d "$db" -c "SELECT string_agg(group_id, ',') FROM courier.receive('f.fifo', 10)")"
    check "$how: the dedup claim still suppresses a duplicate (returns the original id)" "t" \
          "$(q -d "$db" -c "SELECT courier.send('f.fifo', '{\"g\": \"b\", \"n\": 1}', group_id => 'b')
                              = (SELECT msg_id FROM courier.dedup WHERE queue_name = 'f.fifo'
                                   AND msg_id IN (SELECT msg_id FROM courier.messages WHERE group_id = 'b'))")"
    check "$how: the dead letter keeps its evidence" "work|1|boom" \
          "$(q -d "$db" -c "SELECT source_queue || '|' || receive_count || '|' || error FROM courier.dead_letters")"
    check "$how: the subscription's filter policy still applies" "1 0" \
          "$(q -d "$db" -c "SELECT courier.publish('events', '{\"kind\": \"keep\"}') IS NOT NULL,
                                   courier.publish('events', '{\"kind\": \"drop\"}') IS NOT NULL" >/dev/null;
             q -d "$db" -c "SELECT (count(*) FILTER (WHERE payload @> '{\"kind\": \"keep\"}') - 1) || ' ' ||
                                   count(*) FILTER (WHERE payload @> '{\"kind\": \"drop\"}')
                              FROM courier.messages WHERE queue_name = 'subscriber'")"
    check "$how: an execution started before the dump runs on its version; a new one on the current" \
          "done-before:SUCCEEDED:\"v1\" new:SUCCEEDED:\"v2\" pending:SUCCEEDED:\"v1\"" \
          "$(q -d "$db" -c "SELECT courier.start_execution('flow', '{}', 'new')" >/dev/null;
             q -d "$db" -c "SELECT courier.run_executions()" >/dev/null;
             q -d "$db" -c "SELECT string_agg(execution_name || ':' || status || ':' || output, ' ' ORDER BY execution_name)
                              FROM courier.executions")"
    rejected=$(q -d "$db" -c "SELECT courier.send('typed', '{\"id\": \"x\"}', '{\"type\": \"order.placed\", \"schema_version\": 2}')" 2>&1 \
               | grep -c 'does not match schema "order.placed" version 2' || true)
    accepted=$(q -d "$db" -c "SELECT courier.send('typed', '{\"id\": 1}', '{\"type\": \"order.placed\", \"schema_version\": 2}') > 0")
    mode=$(q -d "$db" -c "SELECT compatibility FROM courier.list_schemas() WHERE latest")
    check "$how: the registered schemas and require_schema still apply" "1 t FULL_TRANSITIVE" \
          "$rejected $accepted $mode"
    check "$how: the tenant-bound grant still works: its role's send gets its tenant" "acme 1" \
          "$(q -d "$db" -c "SET ROLE dump_acme" -c "SELECT courier.send('keep', '{\"via\": \"grant\"}') > 0" >/dev/null;
             q -d "$db" -c "SELECT string_agg(tenant_id, ',') || ' ' || count(*) FROM courier.messages WHERE payload @> '{\"via\": \"grant\"}'")"
    check "$how: row-level security on the restored messages table" "t" \
          "$(q -d "$db" -c "SELECT relrowsecurity FROM pg_class WHERE oid = 'courier.messages'::regclass")"
    check "$how: the id sequence continues" "t" \
          "$(q -d "$db" -c "SELECT courier.send('keep', '{}') > (SELECT max(msg_id) FROM courier.messages WHERE payload <> '{}')")"
}

pg_dump -d dump_src -f "$WORK/dump.sql"
createdb dump_dst
q -d dump_dst -f "$WORK/dump.sql" >/dev/null 2>"$WORK/restore.err" || true
check "plain-format restore ran without errors" "" "$(cat "$WORK/restore.err")"
restored_checks dump_dst "pg_dump | psql"

pg_dump -Fc -d dump_src -f "$WORK/dump.custom"
createdb dump_dst2
pg_restore -d dump_dst2 "$WORK/dump.custom" 2>"$WORK/restore2.err" || true
check "pg_restore of a custom-format dump ran without errors" "" "$(cat "$WORK/restore2.err")"
restored_checks dump_dst2 "pg_dump -Fc | pg_restore"
