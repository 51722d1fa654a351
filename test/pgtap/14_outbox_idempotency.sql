-- 14_outbox_idempotency: the outbox (versions per aggregate, claims in
-- order, leases and their expiry, ack in order, fail with backoff, skip,
-- the modes, tick() retention), idempotency keys (claim, release on
-- rollback, expiry by tick(), stored results, delete_once) and the
-- correlation context (inheritance from the one received message, explicit
-- values winning, sends, publishes, events, executions and their tasks,
-- outbox rows, trace()).
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- The whole file is one transaction, and a transaction's context counts
-- every message it received: the correlation tests that need "exactly one
-- received message" come first.  Time moves only through
-- courier.clock_offset; nothing sleeps.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.msg(q text, n int) RETURNS courier.messages
LANGUAGE sql AS $$
    SELECT m.* FROM courier.messages AS m WHERE m.queue_name = q AND (m.payload->>'n')::int = n
$$;

---------------------------------------------------------------------------
-- Correlation: the transaction received exactly one message
---------------------------------------------------------------------------
SELECT courier.create_queue('tap_in');
SELECT courier.create_queue('tap_out');
SELECT courier.create_queue('tap_fan');
SELECT courier.create_topic('tap_topic');
SELECT courier.subscribe('tap_topic', 'tap_fan');
SELECT courier.create_bus('tap_bus');
SELECT courier.put_rule('tap_bus', 'all', '{"source": ["tap"]}');
SELECT courier.put_target('tap_bus', 'all', 'q', 'queue:tap_fan');
-- a function target that sends: called later, by the delivery
CREATE FUNCTION public.tap_effect(e jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('sent', courier.send('tap_out', jsonb_build_object('n', 31)))
$$;
SELECT courier.put_target('tap_bus', 'all', 'f', 'function:public.tap_effect');
-- a task that sends: its message belongs to the execution's flow
CREATE FUNCTION public.tap_task_send(input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('sent', courier.send('tap_out', jsonb_build_object('n', 90)))
$$;
SELECT courier.create_state_machine('tap_flow', '{
    "StartAt": "Send",
    "States": {"Send": {"Type": "Task", "Resource": "function:public.tap_task_send", "End": true}}}');

SELECT courier.send('tap_in', '{"n": 1}', '{"correlation_id": "order-42"}');
SELECT is(courier.current_context(), ROW(NULL::text, NULL::text)::record, 'no context before anything was received');
CREATE TEMP TABLE got AS SELECT r.msg_id, r.receipt FROM courier.receive('tap_in') AS r;
SELECT is((SELECT count(*) FROM got), 1::bigint, 'one message received');
SELECT results_eq($$SELECT * FROM courier.current_context()$$,
                  $$SELECT 'order-42'::text, (SELECT msg_id FROM got)::text$$,
                  'the context: its correlation id, its id as causation id');

SELECT courier.send('tap_out', '{"n": 10}');
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM pg_temp.msg('tap_out', 10) AS m$$,
                  $$SELECT 'order-42'::text, (SELECT msg_id FROM got)::text$$,
                  'send inherits the correlation id and gets the received message as cause');
SELECT courier.send('tap_out', '{"n": 11}', '{"correlation_id": "other", "causation_id": "mine"}');
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM pg_temp.msg('tap_out', 11) AS m$$,
                  $$VALUES ('other'::text, 'mine'::text)$$, 'explicit headers win');
SELECT courier.send('tap_out', '{"n": 12}', '{"correlation_id": "other"}');
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM pg_temp.msg('tap_out', 12) AS m$$,
                  $$SELECT 'other'::text, (SELECT msg_id FROM got)::text$$,
                  'field by field: an explicit correlation id keeps the inherited cause');
SELECT courier.send_batch('tap_out', ARRAY['{"n": 13}', '{"n": 14}']::jsonb[],
                          ARRAY[NULL, '{"causation_id": "b"}']::jsonb[]);
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM courier.messages AS m
                    WHERE m.queue_name = 'tap_out' AND (m.payload->>'n')::int IN (13, 14) ORDER BY m.msg_id$$,
                  $$VALUES ('order-42'::text, (SELECT msg_id FROM got)::text), ('order-42', 'b')$$,
                  'send_batch inherits per message');
SELECT courier.publish('tap_topic', '{"n": 20}');
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM pg_temp.msg('tap_fan', 20) AS m$$,
                  $$SELECT 'order-42'::text, (SELECT msg_id FROM got)::text$$, 'publish inherits');
SELECT is((SELECT count(*) FROM courier.put_events('tap_bus', '[{"source": "tap", "detail-type": "Tapped", "detail": {"n": 30}}]')
            WHERE error IS NULL), 1::bigint, 'put_events');
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM courier.messages AS m
                    WHERE m.queue_name = 'tap_fan' AND m.payload->'detail'->>'n' = '30'$$,
                  $$SELECT 'order-42'::text, (SELECT msg_id FROM got)::text$$,
                  'an event''s queue delivery inherits');
SELECT results_eq($$SELECT d.correlation_id, d.causation_id FROM courier.bus_deliveries AS d WHERE d.bus_name = 'tap_bus'$$,
                  $$SELECT 'order-42'::text, (SELECT msg_id FROM got)::text$$,
                  'an event''s function delivery records the context');
CREATE TEMP TABLE flow AS SELECT courier.start_execution('tap_flow', '{}') AS execution_id;
SELECT results_eq($$SELECT e.correlation_id, e.causation_id FROM courier.executions AS e
                    WHERE e.execution_id = (SELECT execution_id FROM flow)$$,
                  $$SELECT 'order-42'::text, (SELECT msg_id FROM got)::text$$,
                  'start_execution inherits');
SELECT ok(courier.emit_outbox('order', '42', 'OrderShipped', '{"n": 40}') > 0, 'emit_outbox');
SELECT results_eq($$SELECT o.correlation_id, o.causation_id FROM courier.outbox AS o WHERE o.aggregateid = '42'$$,
                  $$SELECT 'order-42'::text, (SELECT msg_id FROM got)::text$$, 'an outbox row inherits');

-- set_context wins over inheritance, field by field; NULL inherits again.
SELECT courier.set_context('set-flow');
SELECT results_eq($$SELECT * FROM courier.current_context()$$,
                  $$SELECT 'set-flow'::text, (SELECT msg_id FROM got)::text$$,
                  'set_context(correlation) keeps the inherited cause');
SELECT courier.set_context(NULL, 'set-cause');
SELECT results_eq($$SELECT * FROM courier.current_context()$$,
                  $$VALUES ('order-42'::text, 'set-cause'::text)$$, 'set_context(NULL, cause)');
SELECT courier.set_context(NULL);

-- The execution's task runs under the execution's flow; the task's
-- message gets the execution as its cause.
SELECT ok(courier.run_executions(100) >= 1, 'the execution ran');
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM pg_temp.msg('tap_out', 90) AS m$$,
                  $$SELECT 'order-42'::text, 'execution:' || (SELECT execution_id FROM flow)$$,
                  'a task''s send belongs to its execution''s flow');
SELECT results_eq($$SELECT * FROM courier.current_context()$$,
                  $$SELECT 'order-42'::text, (SELECT msg_id FROM got)::text$$,
                  'after the task, the transaction''s own context is back');

-- trace(): the flow in time order
-- (execution steps: every history event of the execution, TaskStarted
-- among them)
SELECT courier.delete('tap_in', (SELECT receipt FROM got));
SELECT results_eq($$SELECT t.kind, count(*) FROM courier.trace('order-42') AS t GROUP BY t.kind ORDER BY t.kind$$,
                  $$VALUES ('delivery'::text, 2::bigint), ('event', 1), ('execution', 1),
                           ('execution_step', 7), ('message', 5), ('outbox', 1)$$,
                  'trace lists messages, the event and its deliveries, the execution and its steps, the outbox row');
SELECT ok((SELECT bool_and(t.at >= p.at) FROM
             (SELECT t.at, lag(t.at) OVER () AS prev FROM courier.trace('order-42') AS t) AS t,
             LATERAL (SELECT coalesce(t.prev, t.at) AS at) AS p),
          'trace is in time order');
SELECT is((SELECT count(*) FROM courier.trace('order-42') AS t
            WHERE t.kind = 'message' AND t.id = (SELECT msg_id FROM got)::text),
          0::bigint, 'a deleted message is no longer traced');

-- A second received message: no inherited context any more.
SELECT courier.send('tap_in', '{"n": 2}', '{"correlation_id": "order-43"}');
SELECT is((SELECT count(*) FROM courier.receive('tap_in')), 1::bigint, 'a second message received');
SELECT is(courier.current_context(), ROW(NULL::text, NULL::text)::record,
          'two received messages: nothing is inherited');
SELECT courier.send('tap_out', '{"n": 50}');
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM pg_temp.msg('tap_out', 50) AS m$$,
                  $$VALUES (NULL::text, NULL::text)$$, 'a send after two receives inherits nothing');
-- The event's function delivery, made now: the function's send belongs to
-- the flow the delivery recorded (the transaction itself inherits nothing).
SELECT is((courier._deliver_bus_events(courier.now(), 100)->>'bus_deliveries_succeeded')::int, 1,
          'the function target was called');
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM pg_temp.msg('tap_out', 31) AS m$$,
                  $$SELECT 'order-42'::text, (SELECT msg_id FROM got)::text$$,
                  'a function target''s send belongs to the flow that put the event');
SELECT is(courier.current_context(), ROW(NULL::text, NULL::text)::record,
          'after the call, the transaction''s own context is back');
SELECT courier.set_context('explicit');
SELECT courier.send('tap_out', '{"n": 51}');
SELECT results_eq($$SELECT m.correlation_id, m.causation_id FROM pg_temp.msg('tap_out', 51) AS m$$,
                  $$VALUES ('explicit'::text, NULL::text)$$, 'set_context still applies');
SELECT courier.set_context(NULL);

---------------------------------------------------------------------------
-- Outbox
---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.versions(relay text, max_rows int DEFAULT 100, lease interval DEFAULT '30 s')
RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(c.aggregateid || ':' || c.aggregate_version, ' '), '')
      FROM courier.claim_outbox(relay, max_rows, lease) AS c
$$;
CREATE FUNCTION pg_temp.ids(agg text) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT array_agg(o.id ORDER BY o.aggregate_version) FROM courier.outbox AS o
     WHERE o.aggregatetype = 'tap' AND o.aggregateid = agg AND o.status = 'pending'
$$;
CREATE FUNCTION pg_temp.first_id(agg text) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT ARRAY[min(o.id)] FROM courier.outbox AS o
     WHERE o.aggregatetype = 'tap' AND o.aggregateid = agg AND o.status = 'pending'
$$;
DELETE FROM courier.outbox;
DELETE FROM courier.outbox_aggregates;

SELECT courier.emit_outbox('tap', 'A', 'E', jsonb_build_object('i', i)) FROM generate_series(1, 3) AS i;
SELECT courier.emit_outbox('tap', 'B', 'E', '{}');
SELECT is((SELECT array_agg(o.aggregate_version ORDER BY o.id) FROM courier.outbox AS o WHERE o.aggregateid = 'A'),
          ARRAY[1, 2, 3]::bigint[], 'versions count per aggregate');
SELECT is(pg_temp.versions('r1', 2), 'A:1 A:2', 'claim: the oldest aggregate, in version order, up to max_rows');
SELECT is(pg_temp.versions('r2'), 'B:1', 'another relay never gets an aggregate r1 holds');
SELECT is(pg_temp.versions('r1'), 'A:1 A:2 A:3', 'r1 claiming again gets what it holds, from the first pending row');
SELECT is((SELECT array_agg(o.attempts ORDER BY o.aggregate_version) FROM courier.outbox AS o WHERE o.aggregateid = 'A'),
          ARRAY[2, 2, 1], 'attempts count the claims');

SELECT throws_ok(format('SELECT courier.ack_outbox(%L, %L)', 'r2', pg_temp.ids('A')), '55000', NULL,
                 'ack by a relay that does not hold the aggregate');
SELECT is(courier.ack_outbox('r1', pg_temp.first_id('A')), 1, 'ack of the first row');
SELECT is((SELECT a.relay FROM courier.outbox_aggregates AS a WHERE a.aggregateid = 'A'), 'r1',
          'rows still pending: r1 keeps the lease');

-- The lease runs out: another relay takes the aggregate over, from the
-- first row not yet published; the first relay's ack is refused.
SET LOCAL courier.clock_offset = '31s';
SELECT is(pg_temp.versions('r2'), 'A:2 A:3 B:1', 'after the lease ran out r2 takes A over, in order');
SELECT throws_ok(format('SELECT courier.ack_outbox(%L, %L)', 'r1', pg_temp.ids('A')), '55000', NULL,
                 'the late relay''s ack is refused');
SELECT is((SELECT count(*) FROM courier.outbox AS o WHERE o.aggregateid = 'A' AND o.status = 'pending'),
          2::bigint, '... and changed nothing');
SELECT throws_ok(format('SELECT courier.ack_outbox(%L, ARRAY[%s])', 'r2', (pg_temp.ids('A'))[2]), '55000', NULL,
                 'ack out of order');
SELECT is(courier.ack_outbox('r2', pg_temp.ids('A')), 2, 'ack of the rest, in order');
SELECT results_eq($$SELECT a.relay, a.pending, a.published_version FROM courier.outbox_aggregates AS a WHERE a.aggregateid = 'A'$$,
                  $$VALUES (NULL::text, 0, 3::bigint)$$, 'nothing pending: the aggregate is released');

-- fail: the aggregate backs off, then its failed row comes first again.
SELECT courier.emit_outbox('tap', 'B', 'E', '{}');
SELECT is((SELECT f.attempts FROM courier.fail_outbox('r2', pg_temp.first_id('B'), 'broker down') AS f), 2,
          'fail_outbox returns the attempts');
SELECT is(pg_temp.versions('r3'), '', 'during the backoff nobody gets the aggregate');
SET LOCAL courier.clock_offset = '34s';
SELECT is(pg_temp.versions('r3'), 'B:1 B:2', 'after it, the failed row comes first again');
SELECT is((SELECT o.last_error FROM courier.outbox AS o WHERE o.aggregateid = 'B' AND o.aggregate_version = 1),
          'broker down', 'the error is kept');

-- skip: an administrator gives up on a row; audited; the aggregate moves on.
SELECT is(courier.skip_outbox(pg_temp.first_id('B'), 'poison'), 1, 'skip_outbox');
SELECT is((SELECT o.status FROM courier.outbox AS o WHERE o.aggregateid = 'B' AND o.aggregate_version = 1),
          'skipped', 'the row is skipped');
SELECT is((SELECT l.details->>'reason' FROM courier.audit_log AS l WHERE l.action = 'skip_outbox'
            ORDER BY l.audit_id DESC LIMIT 1), 'poison', 'and the skip is audited');
SELECT is(courier.ack_outbox('r3', pg_temp.ids('B')), 1, 'the holder acknowledges the next row');

-- modes
SET LOCAL courier.outbox_mode = 'wal';
SELECT courier.emit_outbox('tap', 'C', 'E', '{}');
SET LOCAL courier.outbox_mode = 'message';
SELECT courier.emit_outbox('tap', 'C', 'E', '{}');
SET LOCAL courier.outbox_mode = 'table';
SELECT courier.emit_outbox('tap', 'C', 'E', '{}');
SELECT results_eq($$SELECT o.aggregate_version FROM courier.outbox AS o WHERE o.aggregateid = 'C'$$,
                  $$VALUES (3::bigint)$$, 'wal and message modes leave no row, but take a version');
SELECT is(pg_temp.versions('r1'), 'C:3', 'a relay gets the row the table mode left');

-- tick(): published rows go after courier.outbox_retention, pending ones stay.
SELECT is(courier.ack_outbox('r1', pg_temp.ids('C')), 1, 'acknowledged');
SET LOCAL courier.outbox_retention = '1h';
SELECT is((courier.tick()->>'outbox_rows_removed')::int, 0, 'tick keeps published rows within the retention');
SELECT courier.emit_outbox('tap', 'D', 'E', '{}');
SET LOCAL courier.clock_offset = '3700s';
SELECT is((courier.tick()->>'outbox_rows_removed')::int, 6, 'tick removes published and skipped rows past it');
SELECT is((SELECT string_agg(o.aggregateid || ':' || o.status, ' ') FROM courier.outbox AS o), 'D:pending',
          'the pending row stays');

---------------------------------------------------------------------------
-- Idempotency keys
---------------------------------------------------------------------------
SET LOCAL courier.clock_offset = 0;
SELECT is(courier.idempotency_claim('tap', 'k1', '1 minute'), true, 'first claim');
SELECT is(courier.idempotency_claim('tap', 'k1'), false, 'second claim');
SAVEPOINT s;
SELECT is(courier.idempotency_claim('tap', 'k2'), true, 'a claim in a subtransaction');
ROLLBACK TO SAVEPOINT s;
SELECT is(courier.idempotency_claim('tap', 'k2'), true, 'rolled back: the key is free again');
SELECT lives_ok($$SELECT courier.idempotency_store('tap', 'k1', '{"status": 201, "id": 7}')$$, 'store a result');
SELECT is(courier.idempotency_result('tap', 'k1'), '{"status": 201, "id": 7}'::jsonb, 'a retry reads the first result');

SET LOCAL courier.clock_offset = '61s';
SELECT is(courier.idempotency_result('tap', 'k1'), NULL, 'an expired key has no result');
SELECT is((courier.tick()->>'expired_idempotency_keys')::int, 1, 'tick removes the expired key');
SELECT is((SELECT count(*) FROM courier.idempotency_keys AS k WHERE k.scope = 'tap' AND k.key = 'k1'), 0::bigint,
          'gone');
SELECT is(courier.idempotency_claim('tap', 'k1', '1 minute'), true, 'and it can be claimed again');
SET LOCAL courier.clock_offset = '122s';
SELECT is(courier.idempotency_claim('tap', 'k1', '1 minute'), true,
          'an expired key tick has not removed yet is claimed afresh');
SELECT is(courier.idempotency_result('tap', 'k1'), NULL, '... without the old result');
SELECT is((courier.tick()->>'expired_idempotency_keys')::int, 0, 'a live key is not expired');
SET LOCAL courier.clock_offset = 0;

-- delete_once: side effects exactly once per idempotency key
SELECT courier.create_queue('tap_once');
SELECT courier.send('tap_once', '{"n": 1}', '{"idempotency_key": "evt-9"}');
SELECT courier.send('tap_once', '{"n": 2}', '{"idempotency_key": "evt-9"}');
SELECT is((SELECT array_agg(courier.delete_once('tap_once', r.receipt, 'effects') ORDER BY r.msg_id)
             FROM courier.receive('tap_once', 2) AS r),
          ARRAY[true, false], 'the first delivery of a key applies, the duplicate does not');
SELECT is((SELECT count(*) FROM courier.messages AS m WHERE m.queue_name = 'tap_once'), 0::bigint,
          'both messages are deleted');
SELECT ok(NOT courier.idempotency_claim('effects', 'evt-9'), 'the key is recorded in the given scope');

SELECT * FROM finish();
ROLLBACK;
