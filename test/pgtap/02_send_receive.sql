-- 02_send_receive: send, send_batch and receive: ids, envelope, batches,
-- max_messages, delivery counting, visibility timeouts, delays, retention,
-- size limits and header validation.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- Time moves only through courier.clock_offset; nothing sleeps.
-- Receives in this transaction write their leases at commit (courier.defer_leases);
-- courier.flush_leases() writes them first where a test reads courier.messages.
BEGIN;
SELECT plan(170);

-- Fingerprint of everything pg_courier stores, to prove a rejected call
-- changed nothing.
CREATE FUNCTION pg_temp.courier_state() RETURNS text
LANGUAGE sql AS $$
    SELECT pg_catalog.md5(
        coalesce((SELECT string_agg(q::text, '|' ORDER BY q.queue_name) FROM courier.queues AS q), '')
        || '#' ||
        coalesce((SELECT string_agg(m::text, '|' ORDER BY m.msg_id) FROM courier.messages AS m), ''))
$$;

CREATE FUNCTION pg_temp.rejects(stmt text, errcode text, descr text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.courier_state();
BEGIN
    RETURN NEXT throws_ok(stmt, errcode::char(5), NULL, descr || ' raises ' || errcode);
    RETURN NEXT is(pg_temp.courier_state(), before, descr || ': nothing stored');
END
$$;

-- How many messages receive() hands out right now (it leases them).
CREATE FUNCTION pg_temp.receivable(q text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM courier.receive(q, 1000) $$;

---------------------------------------------------------------------------
-- send returns the id of the stored message
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_main') \gset
SELECT courier.now() AS t_before \gset
SELECT courier.send('sr_main', '{"a": 1}') AS m1 \gset
SELECT courier.now() AS t_after \gset
SELECT courier.send('sr_main', '[1, "two"]') AS m2 \gset

SELECT results_eq(
    format('SELECT queue_name COLLATE "default", payload, headers, type, receive_count, first_received_at, last_error
              FROM courier.messages WHERE msg_id = %s', :m1),
    $$VALUES ('sr_main'::text, '{"a": 1}'::jsonb, NULL::jsonb, NULL::text, 0, NULL::timestamptz, NULL::text)$$,
    'send stores the message under the id it returns, not yet received');
SELECT ok(:m2 > :m1, 'a later send returns a larger id');
SELECT ok(sent_at >= :'t_before'::timestamptz AND sent_at <= :'t_after'::timestamptz,
          'sent_at is the courier clock at send')
  FROM courier.messages WHERE msg_id = :m1;
SELECT is(visible_at, sent_at, 'without a delay a message is visible from its send time')
  FROM courier.messages WHERE msg_id = :m1;

SELECT courier.now() AS r_before \gset
CREATE TEMP TABLE got_main AS SELECT * FROM courier.receive('sr_main', 10);
SELECT courier.now() AS r_after \gset
SELECT results_eq(
    'SELECT msg_id, payload, headers, receive_count FROM got_main ORDER BY msg_id',
    format($$VALUES (%s::bigint, '{"a": 1}'::jsonb, NULL::jsonb, 1), (%s, '[1, "two"]', NULL, 1)$$, :m1, :m2),
    'receive returns both messages with their payloads');
SELECT results_eq(
    'SELECT g.sent_at FROM got_main AS g ORDER BY g.msg_id',
    'SELECT m.sent_at FROM courier.messages AS m WHERE m.queue_name = ''sr_main'' ORDER BY m.msg_id',
    'receive returns each message''s sent_at');
SELECT ok(bool_and(first_received_at >= :'r_before'::timestamptz AND first_received_at <= :'r_after'::timestamptz),
          'first_received_at is the courier clock at the receive')
  FROM got_main;
SELECT ok(bool_and(visible_at - first_received_at = interval '30 seconds'),
          'visible_at (end of the lease) = receive time + the queue visibility_timeout (30s)')
  FROM got_main;
SELECT ok(bool_and(receipt ~ ('^' || msg_id || ':1:[0-9a-f]{16}$')),
          'the receipt reads <msg_id>:<receive_count>:<16 hex digits>')
  FROM got_main;
SELECT isnt((SELECT receipt FROM got_main WHERE msg_id = :m1), (SELECT receipt FROM got_main WHERE msg_id = :m2),
            'each message gets its own receipt');
SELECT courier.flush_leases() AS flushed \gset
SELECT results_eq(
    $$SELECT receive_count, first_received_at, last_received_at, visible_at
        FROM courier.messages WHERE queue_name = 'sr_main' ORDER BY msg_id$$,
    'SELECT receive_count, first_received_at, first_received_at, visible_at FROM got_main ORDER BY msg_id',
    'the lease receive returned is what courier.messages records');
SELECT is(pg_temp.receivable('sr_main'), 0::bigint, 'leased messages are not received again during the lease');

---------------------------------------------------------------------------
-- Envelope: reserved header keys fill the envelope columns
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_env') \gset
SELECT courier.send('sr_env', '{"order": 42}',
    '{"type": "order.placed", "schema_version": 2, "correlation_id": "corr-1",
      "causation_id": "cause-1", "idempotency_key": "idem-1", "tenant_id": "tenant-1",
      "occurred_at": "2024-05-06T07:08:09.5+02:00",
      "region": "eu-west", "attempt": 3, "tags": ["a", 1, true, null]}') AS e1 \gset
SELECT results_eq(
    $$SELECT payload, headers, type, schema_version, correlation_id, causation_id,
             idempotency_key, tenant_id, occurred_at, receive_count
        FROM courier.receive('sr_env')$$,
    $$VALUES ('{"order": 42}'::jsonb,
              '{"region": "eu-west", "attempt": 3, "tags": ["a", 1, true, null]}'::jsonb,
              'order.placed'::text, 2, 'corr-1'::text, 'cause-1'::text, 'idem-1'::text,
              'tenant-1'::text, '2024-05-06 05:08:09.5+00'::timestamptz, 1)$$,
    'receive returns the envelope columns and only the non-reserved headers');
SELECT results_eq(
    format('SELECT type, schema_version, correlation_id, causation_id, idempotency_key, tenant_id,
                   occurred_at, headers FROM courier.messages WHERE msg_id = %s', :e1),
    $$VALUES ('order.placed'::text, 2, 'corr-1'::text, 'cause-1'::text, 'idem-1'::text,
              'tenant-1'::text, '2024-05-06 05:08:09.5+00'::timestamptz,
              '{"region": "eu-west", "attempt": 3, "tags": ["a", 1, true, null]}'::jsonb)$$,
    'courier.messages stores the envelope in its columns, reserved keys removed from headers');

SELECT courier.send('sr_env', '1', '{"type": "only.reserved", "schema_version": "7", "tenant_id": "t"}') AS e2 \gset
SELECT results_eq(
    format('SELECT headers, type, schema_version, tenant_id, correlation_id FROM courier.messages WHERE msg_id = %s', :e2),
    $$VALUES (NULL::jsonb, 'only.reserved'::text, 7, 't'::text, NULL::text)$$,
    'headers of reserved keys only: headers stored as NULL, schema_version "7" read as 7, absent keys NULL');

SELECT courier.send('sr_env', '2', '{"Type": "not-reserved", "x-trace.id_1": "abc"}') AS e3 \gset
SELECT results_eq(
    format('SELECT headers, type FROM courier.messages WHERE msg_id = %s', :e3),
    $$VALUES ('{"Type": "not-reserved", "x-trace.id_1": "abc"}'::jsonb, NULL::text)$$,
    'reserved keys are case-sensitive; headers without reserved keys are stored unchanged');

SELECT courier.send('sr_env', '3', jsonb_build_object('type', repeat('é', 256), 'schema_version', 2147483647,
                                                      repeat('k', 256), 'v')) AS e4 \gset
SELECT results_eq(
    format('SELECT length(type), schema_version, headers FROM courier.messages WHERE msg_id = %s', :e4),
    format($$VALUES (256, 2147483647, jsonb_build_object(%L, 'v'))$$, repeat('k', 256)),
    'limits accepted: 256-character type (multibyte), schema_version 2147483647, 256-character header name');

---------------------------------------------------------------------------
-- send_batch
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_batch') \gset
CREATE TEMP TABLE batch3 AS
SELECT b.id, b.ord
  FROM courier.send_batch('sr_batch',
                          ARRAY['"p1"', '"p2"', '"p3"']::jsonb[],
                          ARRAY['{"type": "t1", "k": "v1"}', NULL, '{"tenant_id": "x3", "k": "v3"}']::jsonb[])
       WITH ORDINALITY AS b(id, ord);
SELECT is((SELECT count(*) FROM batch3), 3::bigint, 'send_batch returns one id per payload');
SELECT results_eq(
    'SELECT b.ord, m.payload, m.type, m.tenant_id, m.headers
       FROM batch3 AS b JOIN courier.messages AS m ON m.msg_id = b.id ORDER BY b.ord',
    $$VALUES (1::bigint, '"p1"'::jsonb, 't1'::text, NULL::text, '{"k": "v1"}'::jsonb),
             (2, '"p2"', NULL, NULL, NULL),
             (3, '"p3"', NULL, 'x3', '{"k": "v3"}')$$,
    'send_batch: the n-th id is the n-th payload, with the n-th element''s headers and envelope');
SELECT ok((SELECT bool_and(id > prev) FROM (SELECT id, lag(id) OVER (ORDER BY ord) AS prev FROM batch3) s
            WHERE prev IS NOT NULL),
          'send_batch ids ascend in input order');

CREATE TEMP TABLE batch50 AS
SELECT b.id, b.ord
  FROM courier.send_batch('sr_batch',
                          ARRAY(SELECT jsonb_build_object('i', i) FROM generate_series(1, 50) AS i ORDER BY i DESC))
       WITH ORDINALITY AS b(id, ord);
SELECT is((SELECT count(*) FROM batch50 AS b JOIN courier.messages AS m ON m.msg_id = b.id
            WHERE m.payload = jsonb_build_object('i', 51 - b.ord)),
          50::bigint,
          'send_batch of 50: every returned id names the payload at the same position');
SELECT is((SELECT count(*) FROM courier.send_batch('sr_batch', '{}'::jsonb[])), 0::bigint,
          'send_batch of an empty array returns no ids');

CREATE TEMP TABLE batch_delayed AS
SELECT b.id FROM courier.send_batch('sr_batch', ARRAY['1', '2']::jsonb[], delay => '2 minutes') AS b(id);
SELECT ok((SELECT bool_and(m.visible_at - m.sent_at = interval '2 minutes')
             FROM batch_delayed AS b JOIN courier.messages AS m ON m.msg_id = b.id),
          'send_batch delay applies to every message of the batch');

-- send_batch stores its rows directly (src/queue_store.c): the row must be
-- the one INSERT stores for send, column for column.
SELECT courier.send('sr_batch', '{"same": 1}',
                    '{"type": "t", "correlation_id": "c", "causation_id": "k", "idempotency_key": "i",
                      "tenant_id": "tn", "schema_version": 2, "occurred_at": "2024-01-01T00:00:00Z", "x": "y"}') AS one_id \gset
SELECT b.id AS batch_id
  FROM courier.send_batch('sr_batch', ARRAY['{"same": 1}']::jsonb[],
                          ARRAY['{"type": "t", "correlation_id": "c", "causation_id": "k", "idempotency_key": "i",
                                  "tenant_id": "tn", "schema_version": 2, "occurred_at": "2024-01-01T00:00:00Z",
                                  "x": "y"}']::jsonb[]) AS b(id) \gset
SELECT is((SELECT to_jsonb(m) - 'msg_id' - 'visible_at' - 'sent_at' FROM courier.messages AS m WHERE msg_id = :batch_id),
          (SELECT to_jsonb(m) - 'msg_id' - 'visible_at' - 'sent_at' FROM courier.messages AS m WHERE msg_id = :one_id),
          'send_batch stores the same row as send, column for column');
-- With a trigger on courier.messages, send_batch stores through INSERT, which fires it.
CREATE TABLE sr_fired (msg_id bigint);
CREATE FUNCTION sr_note_insert() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO sr_fired VALUES (NEW.msg_id); RETURN NEW; END $$;
CREATE TRIGGER sr_note AFTER INSERT ON courier.messages FOR EACH ROW EXECUTE FUNCTION sr_note_insert();
CREATE TEMP TABLE batch_trig AS
SELECT b.id FROM courier.send_batch('sr_batch', ARRAY['"t1"', '"t2"']::jsonb[]) AS b(id);
SELECT is((SELECT array_agg(msg_id ORDER BY msg_id) FROM sr_fired),
          (SELECT array_agg(id ORDER BY id) FROM batch_trig),
          'with a trigger on courier.messages, send_batch goes through INSERT, which fires it for every message');
SELECT is((SELECT array_agg(payload ORDER BY msg_id) FROM courier.messages WHERE msg_id IN (SELECT id FROM batch_trig)),
          ARRAY['"t1"', '"t2"']::jsonb[], '... and stores the messages');
DROP TRIGGER sr_note ON courier.messages;
-- ... and so does a rule on it, which the INSERT applies
CREATE RULE sr_rule AS ON INSERT TO courier.messages DO ALSO INSERT INTO sr_fired VALUES (-1);
SELECT count(*) FROM courier.send_batch('sr_batch', ARRAY['"r1"']::jsonb[]);
SELECT is((SELECT count(*) FROM sr_fired WHERE msg_id = -1), 1::bigint,
          'with a rule on courier.messages, send_batch goes through INSERT, which applies it');
DROP RULE sr_rule ON courier.messages;

---------------------------------------------------------------------------
-- receive: max_messages
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_many') \gset
CREATE TEMP TABLE many AS
SELECT b.id, b.ord FROM courier.send_batch('sr_many', ARRAY['1', '2', '3', '4', '5']::jsonb[])
       WITH ORDINALITY AS b(id, ord);
SELECT results_eq($$SELECT payload FROM courier.receive('sr_many', 3)$$,
                  ARRAY['1', '2', '3']::jsonb[],
                  'receive(max_messages => 3) returns the 3 oldest visible messages');
SELECT results_eq($$SELECT payload FROM courier.receive('sr_many', 3)$$,
                  ARRAY['4', '5']::jsonb[],
                  'the next receive(3) returns the 2 that are left');
SELECT is(pg_temp.receivable('sr_many'), 0::bigint, 'then nothing is left to receive');
SELECT courier.send('sr_many', '"six"') \gset
SELECT courier.send('sr_many', '"seven"') \gset
SELECT results_eq($$SELECT payload FROM courier.receive('sr_many')$$, ARRAY['"six"']::jsonb[],
                  'receive without max_messages returns one message');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.receive('sr_many', 0)$$, '22023', 'receive(max_messages => 0)');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.receive('sr_many', 1001)$$, '22023', 'receive(max_messages => 1001)');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.receive('sr_many', NULL)$$, '22004', 'receive(max_messages => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.receive(NULL)$$, '22004', 'receive(NULL)');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.receive('sr_no_such_queue')$$, '42704', 'receive from a missing queue');

-- A queue's messages are never handed out by another queue.
SELECT courier.create_queue('sr_other') \gset
SELECT courier.send('sr_other', '"other"') \gset
SELECT results_eq($$SELECT payload FROM courier.receive('sr_many', 10)$$, ARRAY['"seven"']::jsonb[],
                  'receive returns only messages of the queue named');

---------------------------------------------------------------------------
-- receive_count and first_received_at across deliveries
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_count') \gset
SELECT courier.send('sr_count', '"again"') AS c1 \gset
SELECT receipt AS c_r1, receive_count AS c_n1, first_received_at AS c_first FROM courier.receive('sr_count') \gset
SELECT is(:c_n1, 1, 'the first delivery has receive_count 1');
SET LOCAL courier.clock_offset = '31s';
SELECT receipt AS c_r2, receive_count AS c_n2, first_received_at AS c_first2, visible_at AS c_vis2
  FROM courier.receive('sr_count') \gset
SELECT is(:c_n2, 2, 'the second delivery has receive_count 2');
SELECT is(:'c_first2'::timestamptz, :'c_first'::timestamptz, 'first_received_at stays at the first delivery');
SELECT isnt(:'c_r2'::text, :'c_r1'::text, 'a new delivery has a new receipt');
SELECT courier.flush_leases() AS flushed \gset
SELECT results_eq(
    format('SELECT receive_count, first_received_at, visible_at - last_received_at FROM courier.messages WHERE msg_id = %s', :c1),
    format($$VALUES (2, %L::timestamptz, interval '30 seconds')$$, :'c_first'),
    'courier.messages: receive_count 2, first_received_at kept, lease measured from the last receive');
SELECT ok(last_received_at - first_received_at >= interval '31 seconds'
          AND last_received_at - first_received_at < interval '33 seconds',
          'last_received_at is the time of the second receive')
  FROM courier.messages WHERE msg_id = :c1;
SET LOCAL courier.clock_offset = '62s';
SELECT is((SELECT receive_count FROM courier.receive('sr_count')), 3, 'the third delivery has receive_count 3');
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- The lease is measured from the receive, not from the send
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_vis', visibility_timeout => '30 seconds') \gset
SELECT courier.send('sr_vis', '"lease"') \gset
SET LOCAL courier.clock_offset = '100s';
SELECT is((SELECT receive_count FROM courier.receive('sr_vis')), 1, 'sent at t0, received at t0+100s');
SET LOCAL courier.clock_offset = '129s';
SELECT is(pg_temp.receivable('sr_vis'), 0::bigint,
          'with a 30s visibility timeout it is still invisible at t0+129s');
SET LOCAL courier.clock_offset = '131s';
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('sr_vis')$$,
                  $$VALUES ('"lease"'::jsonb, 2)$$,
                  'and visible again at t0+131s');
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- receive(visibility_timeout => ...) overrides the queue's
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_vt', visibility_timeout => '30 seconds') \gset
SELECT courier.send('sr_vt', '"override"') \gset
SELECT is((SELECT visible_at - first_received_at FROM courier.receive('sr_vt', 1, '2 minutes')),
          interval '2 minutes', 'receive(visibility_timeout => 2 min) leases for 2 minutes');
SET LOCAL courier.clock_offset = '100s';
SELECT is(pg_temp.receivable('sr_vt'), 0::bigint, 'still leased at +100s (the queue default 30s is not used)');
SET LOCAL courier.clock_offset = '121s';
SELECT is((SELECT receive_count FROM courier.receive('sr_vt', 1, '0')), 2,
          'visible again at +121s; received with visibility_timeout 0');
SELECT is((SELECT receive_count FROM courier.receive('sr_vt', 1, '0')), 3,
          'visibility_timeout 0 makes the message immediately visible again');
SELECT msg_id AS vt_id FROM courier.receive('sr_vt', 1, NULL) \gset
SELECT courier.flush_leases() AS flushed \gset
SELECT is(visible_at - last_received_at, interval '30 seconds',
          'receive(visibility_timeout => NULL) uses the queue visibility_timeout')
  FROM courier.messages WHERE msg_id = :vt_id;
SET LOCAL courier.clock_offset = 0;
SELECT courier.send('sr_vt', '"max"') \gset
SELECT is((SELECT visible_at - first_received_at FROM courier.receive('sr_vt', 1, '12 hours')),
          interval '12 hours', 'receive(visibility_timeout => 12 hours) is accepted');
SELECT courier.send('sr_vt', '"bad vt"') \gset
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.receive('sr_vt', 1, '12 hours 1 second')$$, '22023',
                              'receive(visibility_timeout => 12h 1s)');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.receive('sr_vt', 1, '-1 second')$$, '22023',
                              'receive(visibility_timeout => -1s)');
SELECT is((SELECT payload FROM courier.receive('sr_vt')), '"bad vt"'::jsonb,
          'a rejected receive leased nothing');


---------------------------------------------------------------------------
-- Delays: per message and per queue
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_delay') \gset
SELECT courier.send('sr_delay', '"later"', delay => '5 minutes') AS d1 \gset
SELECT is(visible_at - sent_at, interval '5 minutes', 'send(delay => 5 min) stores visible_at = sent_at + 5 min')
  FROM courier.messages WHERE msg_id = :d1;
SELECT is(pg_temp.receivable('sr_delay'), 0::bigint, 'a delayed message is not receivable right away');
SET LOCAL courier.clock_offset = '299s';
SELECT is(pg_temp.receivable('sr_delay'), 0::bigint, 'nor 1 second before its delay ends');
SET LOCAL courier.clock_offset = '301s';
SELECT results_eq($$SELECT msg_id, payload FROM courier.receive('sr_delay')$$,
                  format($$VALUES (%s::bigint, '"later"'::jsonb)$$, :d1),
                  'it is receivable once the delay is over');
SET LOCAL courier.clock_offset = 0;

SELECT courier.create_queue('sr_qdelay', delay => '2 minutes') \gset
SELECT courier.send('sr_qdelay', '"queue default"') AS qd1 \gset
SELECT is(visible_at - sent_at, interval '2 minutes', 'without a delay argument the queue delay (2 min) applies')
  FROM courier.messages WHERE msg_id = :qd1;
SELECT courier.send('sr_qdelay', '"no delay"', delay => '0') AS qd2 \gset
SELECT courier.send('sr_qdelay', '"longer"', delay => '10 minutes') AS qd3 \gset
SELECT is(visible_at - sent_at, interval '10 minutes', 'a per-message delay overrides the queue delay')
  FROM courier.messages WHERE msg_id = :qd3;
SELECT results_eq($$SELECT payload FROM courier.receive('sr_qdelay', 10, '1 hour')$$, ARRAY['"no delay"']::jsonb[],
                  'send(delay => 0) on a delayed queue is receivable at once; the others are not');
SET LOCAL courier.clock_offset = '119s';
SELECT is(pg_temp.receivable('sr_qdelay'), 0::bigint, 'queue-delayed message not receivable at +119s');
SET LOCAL courier.clock_offset = '121s';
SELECT results_eq($$SELECT payload FROM courier.receive('sr_qdelay', 10)$$, ARRAY['"queue default"']::jsonb[],
                  'queue-delayed message receivable at +121s (the 10-minute one still is not)');
SET LOCAL courier.clock_offset = 0;

SELECT courier.send('sr_delay', '"max delay"', delay => '15 minutes') AS d2 \gset
SELECT is(visible_at - sent_at, interval '15 minutes', 'a delay of exactly 15 minutes is accepted')
  FROM courier.messages WHERE msg_id = :d2;
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_delay', '1', delay => '15 minutes 1 second')$$, '22023',
                              'send(delay => 15 min 1 s)');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_delay', '1', delay => '-1 second')$$, '22023',
                              'send(delay => -1 s)');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('sr_delay', ARRAY['1']::jsonb[], delay => '1 hour')$$, '22023',
                              'send_batch(delay => 1 hour)');

-- Messages are picked in visible_at order, not in id order.
SELECT courier.create_queue('sr_order') \gset
SELECT courier.send('sr_order', '"sent first, delayed"', delay => '1 minute') \gset
SELECT courier.send('sr_order', '"sent second"') \gset
SET LOCAL courier.clock_offset = '61s';
SELECT results_eq($$SELECT payload FROM courier.receive('sr_order')$$, ARRAY['"sent second"']::jsonb[],
                  'receive takes the message that became visible first, not the lowest id');
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- Retention: an expired message is never returned, even when visible
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_ret', retention => '60 seconds') \gset
SELECT courier.send('sr_ret', '"old"') AS ret_old \gset
SET LOCAL courier.clock_offset = '45s';
SELECT courier.send('sr_ret', '"new"') AS ret_new \gset
SET LOCAL courier.clock_offset = '61s';
SELECT results_eq($$SELECT payload FROM courier.receive('sr_ret', 10)$$, ARRAY['"new"']::jsonb[],
                  'at +61s only the message younger than the 60s retention is returned');
SELECT ok(visible_at < courier.now(), 'the expired message is visible by visible_at but was skipped')
  FROM courier.messages WHERE msg_id = :ret_old;
SELECT is(receive_count, 0, 'the expired message was never leased')
  FROM courier.messages WHERE msg_id = :ret_old;
SET LOCAL courier.clock_offset = '10 min';
SELECT is(pg_temp.receivable('sr_ret'), 0::bigint,
          'a message that expired while in flight is not returned when its lease ends');
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- max_message_bytes: payload + headers
---------------------------------------------------------------------------
SELECT courier.create_queue('sr_small', max_message_bytes => 1024) \gset
SELECT lives_ok(format('SELECT courier.send(''sr_small'', %L)', to_jsonb(repeat('x', 1000))),
                'a 1000-character payload fits in 1024 bytes');
SELECT * FROM pg_temp.rejects(format('SELECT courier.send(''sr_small'', %L)', to_jsonb(repeat('x', 2000))),
                              '54000', 'a 2000-character payload in a 1024-byte queue');
SELECT * FROM pg_temp.rejects(format('SELECT courier.send(''sr_small'', %L, %L)',
                                     to_jsonb(repeat('x', 1000)), jsonb_build_object('h', repeat('y', 50))),
                              '54000', 'the same 1000-character payload with 50 more characters of headers');
SELECT * FROM pg_temp.rejects(format('SELECT courier.send(''sr_small'', %L, %L)',
                                     to_jsonb(repeat('x', 1000)), jsonb_build_object('type', repeat('y', 50))),
                              '54000', 'reserved headers count against the limit too');
SELECT * FROM pg_temp.rejects(format('SELECT courier.send_batch(''sr_small'', ARRAY[''1'', %L]::jsonb[])',
                                     to_jsonb(repeat('x', 2000))),
                              '54000', 'send_batch with one oversized message (nothing of the batch is stored)');
SELECT courier.alter_queue('sr_small', max_message_bytes => 2048) \gset
SELECT lives_ok(format('SELECT courier.send(''sr_small'', %L, %L)',
                       to_jsonb(repeat('x', 1000)), jsonb_build_object('h', repeat('y', 50))),
                'after alter_queue(max_message_bytes => 2048) the same message is accepted');

---------------------------------------------------------------------------
-- Malformed headers and other rejected sends: nothing is stored
---------------------------------------------------------------------------
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '[1, 2]')$$, '22023', 'headers that are an array');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '"text"')$$, '22023', 'headers that are a scalar');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"flag": true}')$$, '22023', 'a boolean header value');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"n": null}')$$, '22023', 'a null header value');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"obj": {"a": 1}}')$$, '22023', 'a nested object header');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"arr": [{"a": 1}]}')$$, '22023', 'an array header holding an object');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"arr": [[1]]}')$$, '22023', 'an array header holding an array');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"bad key": "v"}')$$, '22023', 'a header name with a space');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"": "v"}')$$, '22023', 'an empty header name');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"clé": "v"}')$$, '22023', 'a non-ASCII header name');
SELECT * FROM pg_temp.rejects(format('SELECT courier.send(''sr_main'', ''1'', %L)', jsonb_build_object(repeat('k', 257), 'v')),
                              '22023', 'a 257-character header name');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"type": 5}')$$, '22023', 'a numeric type');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"type": ""}')$$, '22023', 'an empty type');
SELECT * FROM pg_temp.rejects(format('SELECT courier.send(''sr_main'', ''1'', %L)', jsonb_build_object('type', repeat('t', 257))),
                              '22023', 'a 257-character type');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"tenant_id": null}')$$, '22023', 'a null tenant_id');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"correlation_id": ["a"]}')$$, '22023', 'an array correlation_id');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"schema_version": "x"}')$$, '22023', 'schema_version "x"');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"schema_version": 0}')$$, '22023', 'schema_version 0');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"schema_version": -1}')$$, '22023', 'schema_version -1');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"schema_version": 1.5}')$$, '22023', 'schema_version 1.5');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"schema_version": "2147483648"}')$$, '22023', 'schema_version 2147483648');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"schema_version": true}')$$, '22023', 'a boolean schema_version');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"occurred_at": "not a timestamp"}')$$, '22023',
                              'occurred_at that is not a timestamp');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"occurred_at": "now"}')$$, '22023',
                              'occurred_at given as a special word');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"occurred_at": "2024-01-01Tgarbage"}')$$, '22007',
                              'occurred_at with a malformed time');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"occurred_at": "2024-02-30T00:00:00Z"}')$$, '22008',
                              'occurred_at on a day that does not exist');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"occurred_at": "infinity"}')$$, '22023',
                              'an infinite occurred_at');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"occurred_at": 1700000000}')$$, '22023',
                              'a numeric occurred_at');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', '1', '{"ok": "v", "bad": false}')$$, '22023',
                              'one bad header among good ones');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('sr_main', ARRAY['1', '2']::jsonb[], ARRAY[NULL, '{"type": 1}']::jsonb[])$$,
                              '22023', 'send_batch with one malformed headers element');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('sr_main', ARRAY['1', '2']::jsonb[], ARRAY['{}']::jsonb[])$$,
                              '22023', 'send_batch with fewer headers than payloads');

SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_main', NULL)$$, '22004', 'send(payload => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.send(NULL, '1')$$, '22004', 'send(queue_name => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('sr_main', ARRAY['1', NULL]::jsonb[])$$, '22004',
                              'send_batch with a NULL payload element');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('sr_main', NULL)$$, '22004', 'send_batch(payloads => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('sr_main', ARRAY[ARRAY['1'::jsonb], ARRAY['2'::jsonb]])$$, '2202E',
                              'send_batch with a two-dimensional payload array');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('sr_no_such_queue', '1')$$, '42704', 'send to a missing queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('sr_no_such_queue', ARRAY['1']::jsonb[])$$, '42704',
                              'send_batch to a missing queue');

SELECT * FROM finish();
ROLLBACK;
