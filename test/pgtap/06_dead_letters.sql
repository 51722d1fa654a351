-- 06_dead_letters: redrive policies (validation, removal, pinning the
-- dead-letter queue), when a message moves (exactly as SQS: on the receive
-- after the max_receive_count-th delivery, not returned), the evidence kept
-- in courier.dead_letters, standard and FIFO dead-letter queues, and
-- redrive() back to the source queues or to a destination.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- Time moves only through courier.clock_offset; nothing sleeps.
-- Receives in this transaction write their leases at commit (courier.defer_leases);
-- courier.flush_leases() writes them first where a test reads courier.messages.
BEGIN;
SELECT plan(145);

-- Fingerprint of everything pg_courier stores (queues, messages, groups,
-- dedup history, audit trail), to prove that a rejected call changed nothing.
CREATE FUNCTION pg_temp.courier_state() RETURNS text
LANGUAGE sql AS $$
    SELECT pg_catalog.md5(
        coalesce((SELECT string_agg(q::text, '|' ORDER BY q.queue_name) FROM courier.queues AS q), '')
        || '#' ||
        coalesce((SELECT string_agg(m::text, '|' ORDER BY m.msg_id) FROM courier.messages AS m), '')
        || '#' ||
        coalesce((SELECT string_agg(g::text, '|' ORDER BY g.queue_name, g.group_id)
                    FROM courier.message_groups AS g), '')
        || '#' ||
        coalesce((SELECT string_agg(d::text, '|' ORDER BY d.queue_name, d.dedup_id)
                    FROM courier.dedup AS d), '')
        || '#' ||
        coalesce((SELECT string_agg(a::text, '|' ORDER BY a.audit_id) FROM courier.audit_log AS a), ''))
$$;

CREATE FUNCTION pg_temp.rejects(stmt text, errcode text, descr text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.courier_state();
BEGIN
    RETURN NEXT throws_ok(stmt, errcode::char(5), NULL, descr || ' raises ' || errcode);
    RETURN NEXT is(pg_temp.courier_state(), before, descr || ': nothing changed');
END
$$;

CREATE FUNCTION pg_temp.msg_count(q text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM courier.messages AS m WHERE m.queue_name = q $$;

CREATE FUNCTION pg_temp.policy(q text) RETURNS TABLE (dead_letter_queue text, max_receive_count integer)
LANGUAGE sql AS $$
    SELECT l.dead_letter_queue, l.max_receive_count FROM courier.list_queues() AS l WHERE l.queue_name = q
$$;

---------------------------------------------------------------------------
-- Redrive policy: accepted and rejected settings
---------------------------------------------------------------------------
SELECT courier.create_queue('dl_dlq') \gset
SELECT courier.create_queue('dl_dlq.fifo', fifo => true) \gset
SELECT lives_ok($$SELECT courier.create_queue('dl_src', visibility_timeout => '30 seconds',
                                              dead_letter_queue => 'dl_dlq', max_receive_count => 2)$$,
                'create_queue with dead_letter_queue and max_receive_count succeeds');
SELECT results_eq($$SELECT * FROM pg_temp.policy('dl_src')$$, $$VALUES ('dl_dlq'::text, 2)$$,
                  'the redrive policy is stored');
SELECT lives_ok($$SELECT courier.create_queue('dl_mrc1', dead_letter_queue => 'dl_dlq', max_receive_count => 1)$$,
                'max_receive_count 1 (the lower limit) is accepted');
SELECT lives_ok($$SELECT courier.create_queue('dl_mrc1000', dead_letter_queue => 'dl_dlq', max_receive_count => 1000)$$,
                'max_receive_count 1000 (the upper limit) is accepted');
SELECT lives_ok($$SELECT courier.create_queue('dl_fsrc.fifo', fifo => true, visibility_timeout => '30 seconds',
                                              dead_letter_queue => 'dl_dlq.fifo', max_receive_count => 1)$$,
                'a FIFO queue with a FIFO dead-letter queue is accepted');
SELECT lives_ok($$SELECT courier.create_queue('dl_empty', dead_letter_queue => '')$$,
                'create_queue(dead_letter_queue => '''') means no redrive policy');
SELECT results_eq($$SELECT * FROM pg_temp.policy('dl_empty')$$, $$VALUES (NULL::text, NULL::integer)$$,
                  'and stores none');

SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_bad', dead_letter_queue => 'dl_dlq')$$,
                              '22023', 'dead_letter_queue without max_receive_count');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_bad', max_receive_count => 3)$$,
                              '22023', 'max_receive_count without dead_letter_queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_bad', dead_letter_queue => '', max_receive_count => 3)$$,
                              '22023', 'max_receive_count with dead_letter_queue => ''''');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_bad', dead_letter_queue => 'dl_dlq', max_receive_count => 0)$$,
                              '22023', 'max_receive_count 0');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_bad', dead_letter_queue => 'dl_dlq', max_receive_count => 1001)$$,
                              '22023', 'max_receive_count 1001');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_bad', dead_letter_queue => 'dl_dlq', max_receive_count => -1)$$,
                              '22023', 'negative max_receive_count');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_bad', dead_letter_queue => 'dl_missing', max_receive_count => 3)$$,
                              '42704', 'a dead_letter_queue that does not exist');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_self', dead_letter_queue => 'dl_self', max_receive_count => 3)$$,
                              '22023', 'a queue as its own dead-letter queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_bad.fifo', fifo => true, dead_letter_queue => 'dl_dlq', max_receive_count => 3)$$,
                              '22023', 'a FIFO queue with a standard dead-letter queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dl_bad', dead_letter_queue => 'dl_dlq.fifo', max_receive_count => 3)$$,
                              '22023', 'a standard queue with a FIFO dead-letter queue');

-- alter_queue
SELECT courier.create_queue('dl_alt') \gset
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('dl_alt', dead_letter_queue => 'dl_dlq')$$,
                              '22023', 'alter_queue: dead_letter_queue without max_receive_count on a queue without policy');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('dl_alt', max_receive_count => 5)$$,
                              '22023', 'alter_queue: max_receive_count without dead_letter_queue on a queue without policy');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('dl_alt', dead_letter_queue => 'dl_dlq', max_receive_count => 0)$$,
                              '22023', 'alter_queue: max_receive_count 0');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('dl_alt', dead_letter_queue => 'dl_missing', max_receive_count => 5)$$,
                              '42704', 'alter_queue: a dead_letter_queue that does not exist');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('dl_alt', dead_letter_queue => 'dl_alt', max_receive_count => 5)$$,
                              '22023', 'alter_queue: the queue itself as dead-letter queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('dl_alt', dead_letter_queue => 'dl_dlq.fifo', max_receive_count => 5)$$,
                              '22023', 'alter_queue: a FIFO dead-letter queue for a standard queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('dl_fsrc.fifo', dead_letter_queue => 'dl_dlq')$$,
                              '22023', 'alter_queue: a standard dead-letter queue for a FIFO queue');
SELECT lives_ok($$SELECT courier.alter_queue('dl_alt', dead_letter_queue => 'dl_dlq', max_receive_count => 5)$$,
                'alter_queue sets a redrive policy');
SELECT results_eq($$SELECT * FROM pg_temp.policy('dl_alt')$$, $$VALUES ('dl_dlq'::text, 5)$$, 'it is stored');
SELECT courier.alter_queue('dl_alt', max_receive_count => 7) \gset
SELECT results_eq($$SELECT * FROM pg_temp.policy('dl_alt')$$, $$VALUES ('dl_dlq'::text, 7)$$,
                  'alter_queue(max_receive_count) alone changes the count and keeps the dead-letter queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('dl_alt', max_receive_count => 1001)$$,
                              '22023', 'alter_queue: max_receive_count 1001 on a queue with a policy');
SELECT courier.alter_queue('dl_alt', dead_letter_queue => '') \gset
SELECT results_eq($$SELECT * FROM pg_temp.policy('dl_alt')$$, $$VALUES (NULL::text, NULL::integer)$$,
                  'alter_queue(dead_letter_queue => '''') removes the redrive policy');

-- a queue used as a dead-letter queue cannot be dropped
SELECT courier.send('dl_dlq', '"already in the DLQ"') AS dl_direct \gset
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_queue('dl_dlq')$$,
                              '2BP01', 'drop_queue of a queue other queues use as dead-letter queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_queue('dl_dlq', if_exists => true)$$,
                              '2BP01', 'drop_queue(if_exists => true) of a dead-letter queue in use');
SELECT is(pg_temp.msg_count('dl_dlq'), 1::bigint, 'the dead-letter queue keeps its message');
SELECT courier.create_queue('dl_pin_dlq') \gset
SELECT courier.create_queue('dl_pin', dead_letter_queue => 'dl_pin_dlq', max_receive_count => 3) \gset
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_queue('dl_pin_dlq')$$, '2BP01',
                              'drop_queue of a dead-letter queue with one user');
SELECT courier.alter_queue('dl_pin', dead_letter_queue => '') \gset
SELECT is(courier.drop_queue('dl_pin_dlq'), true, 'once its user removed the policy, it can be dropped');

---------------------------------------------------------------------------
-- Standard queue, max_receive_count = 2: delivered twice, moved on the third receive
---------------------------------------------------------------------------
SELECT courier.send('dl_src', '{"order": 42}',
                    headers => '{"type": "order.placed", "correlation_id": "c-42", "tenant_id": "t1", "x-trace": "abc"}') AS m \gset
SELECT sent_at AS m_sent FROM courier.messages WHERE msg_id = :m \gset

SELECT msg_id AS r1_id, receipt AS r1, receive_count AS r1_n, first_received_at AS r1_at
  FROM courier.receive('dl_src') \gset
SELECT is(:r1_n, 1, 'the first delivery reports receive_count 1');
SELECT is(courier.release('dl_src', :'r1', error => 'first failure'), true, 'the consumer gives it back with an error');
SELECT msg_id AS r2_id, receipt AS r2, receive_count AS r2_n FROM courier.receive('dl_src') \gset
SELECT is(:r2_n, 2, 'the second delivery reports receive_count 2 (= max_receive_count)');
SELECT courier.flush_leases() AS flushed \gset
SELECT last_received_at AS r2_at FROM courier.messages WHERE msg_id = :m \gset
SELECT is(courier.release('dl_src', :'r2', error => 'second failure'), true, 'and gives it back again');
SELECT is(pg_temp.msg_count('dl_dlq'), 1::bigint, 'nothing moved yet: two deliveries are allowed');

SELECT courier.now() AS mv_before \gset
SELECT is((SELECT count(*) FROM courier.receive('dl_src', 10)), 0::bigint,
          'the third receive returns nothing: the message is moved instead of delivered');
SELECT courier.now() AS mv_after \gset
SELECT is(pg_temp.msg_count('dl_src'), 0::bigint, 'the source queue no longer has it');
SELECT results_eq(
    format($$SELECT dead_letter_queue COLLATE "default", source_queue COLLATE "default", msg_id, origin_msg_id, error,
                    receive_count, sent_at, first_received_at, last_received_at, group_id COLLATE "default", type, correlation_id, tenant_id,
                    headers, payload
               FROM courier.dead_letters WHERE msg_id = %s$$, :m),
    format($$VALUES ('dl_dlq'::text, 'dl_src'::text, %s::bigint, NULL::bigint, 'second failure'::text, 2,
                     %L::timestamptz, %L::timestamptz, %L::timestamptz, NULL::text, 'order.placed'::text,
                     'c-42'::text, 't1'::text, '{"x-trace": "abc"}'::jsonb, '{"order": 42}'::jsonb)$$,
           :m, :'m_sent', :'r1_at', :'r2_at'),
    'courier.dead_letters: same msg_id, source queue, deliveries, original sent_at, first/last receive, last error, envelope');
SELECT ok(dead_lettered_at >= :'mv_before'::timestamptz AND dead_lettered_at <= :'mv_after'::timestamptz,
          'dead_lettered_at is the time of the receive that moved it')
  FROM courier.dead_letters WHERE msg_id = :m;
SELECT results_eq(
    format($$SELECT queue_name COLLATE "default", sent_at, visible_at = dead_lettered_at, receive_count,
                    first_received_at, receipt_nonce
               FROM courier.messages WHERE msg_id = %s$$, :m),
    format($$VALUES ('dl_dlq'::text, %L::timestamptz, true, 0, NULL::timestamptz, NULL::bigint)$$, :'m_sent'),
    'in a standard dead-letter queue the message keeps its original sent_at and is visible at once, never received there');

-- the dead-letter queue is an ordinary queue
CREATE TEMP TABLE dq AS SELECT * FROM courier.receive('dl_dlq', 10);
SELECT results_eq('SELECT msg_id, receive_count, payload, type FROM dq ORDER BY msg_id',
                  format($$VALUES (%s::bigint, 1, '"already in the DLQ"'::jsonb, NULL::text),
                                  (%s, 1, '{"order": 42}', 'order.placed')$$, :dl_direct, :m),
                  'receive on the dead-letter queue delivers the dead letter like any message (receive_count 1 there)');
SELECT receipt AS dq_r FROM dq WHERE msg_id = :m \gset
SELECT results_eq($$SELECT receive_count FROM courier.dead_letters WHERE source_queue = 'dl_src'$$, ARRAY[2],
                  'courier.dead_letters still shows the deliveries in the source queue');
SELECT is(courier.delete('dl_dlq', :'dq_r'), true, 'delete on the dead-letter queue works');
SELECT is((SELECT count(*) FROM courier.dead_letters WHERE msg_id = :m), 0::bigint,
          'and the dead letter is gone');
SELECT results_eq($$SELECT payload FROM courier.messages WHERE queue_name = 'dl_dlq'$$,
                  ARRAY['"already in the DLQ"']::jsonb[],
                  'a message sent to the dead-letter queue directly is not a dead letter');
SELECT is((SELECT count(*) FROM courier.dead_letters WHERE msg_id = :dl_direct), 0::bigint,
          'and is not in courier.dead_letters');

-- expiry counts as a delivery just like release (max_receive_count = 1)
SELECT courier.create_queue('dl_one', visibility_timeout => '10 seconds', dead_letter_queue => 'dl_dlq',
                            max_receive_count => 1) \gset
SELECT courier.send('dl_one', '"once"') AS o1 \gset
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('dl_one', 10)$$,
                  $$VALUES ('"once"'::jsonb, 1)$$, 'max_receive_count 1: delivered once');
SET LOCAL courier.clock_offset = '9s';
SELECT is((SELECT count(*) FROM courier.receive('dl_one', 10)), 0::bigint, 'still leased at +9s');
SELECT is(pg_temp.msg_count('dl_one'), 1::bigint, 'and not moved while leased');
SELECT courier.send('dl_one', '"fresh"') AS o2 \gset
SET LOCAL courier.clock_offset = '11s';
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('dl_one', 10)$$,
                  $$VALUES ('"fresh"'::jsonb, 1)$$,
                  'after the lease ran out one receive moves the first message and still delivers the fresh one');
SELECT results_eq($$SELECT msg_id, source_queue COLLATE "default", receive_count, error FROM courier.dead_letters WHERE source_queue = 'dl_one'$$,
                  format($$VALUES (%s::bigint, 'dl_one'::text, 1, NULL::text)$$, :o1),
                  'the first message is a dead letter with receive_count 1 and no error');
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- FIFO queue, max_receive_count = 1: the move resets sent_at and unblocks the group
---------------------------------------------------------------------------
SELECT courier.send('dl_fsrc.fifo', '"f1"', group_id => 'g', dedup_id => 'f1') AS f1 \gset
SELECT courier.send('dl_fsrc.fifo', '"f2"', group_id => 'g', dedup_id => 'f2') AS f2 \gset
SELECT sent_at AS f1_sent FROM courier.messages WHERE msg_id = :f1 \gset
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('dl_fsrc.fifo', 1)$$,
                  $$VALUES ('"f1"'::jsonb, 1)$$, 'FIFO: f1 is delivered once');
SELECT first_received_at AS f1_recv FROM courier.messages WHERE msg_id = :f1 \gset
SELECT is((SELECT count(*) FROM courier.receive('dl_fsrc.fifo', 10)), 0::bigint,
          'f2 waits behind f1 in flight');
SET LOCAL courier.clock_offset = '31s';
SELECT courier.now() AS fmv_before \gset
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('dl_fsrc.fifo', 1)$$,
                  $$VALUES ('"f2"'::jsonb, 1)$$,
                  'after f1''s lease ran out, the next receive moves f1 and, the group unblocked, returns f2 instead');
SELECT courier.now() AS fmv_after \gset
SELECT is((SELECT count(*) FROM courier.receive('dl_fsrc.fifo', 1)), 0::bigint,
          'f2 is in flight now, so the group gives nothing more');
SELECT results_eq(
    format($$SELECT dead_letter_queue COLLATE "default", source_queue COLLATE "default", msg_id, receive_count, sent_at,
                    first_received_at, last_received_at, group_id COLLATE "default", payload
               FROM courier.dead_letters WHERE msg_id = %s$$, :f1),
    format($$VALUES ('dl_dlq.fifo'::text, 'dl_fsrc.fifo'::text, %s::bigint, 1, %L::timestamptz,
                     %L::timestamptz, %L::timestamptz, 'g'::text, '"f1"'::jsonb)$$,
           :f1, :'f1_sent', :'f1_recv', :'f1_recv'),
    'courier.dead_letters keeps the FIFO message''s id, group, original sent_at and deliveries');
SELECT ok(m.sent_at = m.dead_lettered_at AND m.sent_at > :'f1_sent'::timestamptz
          AND m.sent_at >= :'fmv_before'::timestamptz AND m.sent_at <= :'fmv_after'::timestamptz,
          'in a FIFO dead-letter queue messages.sent_at restarts at the move')
  FROM courier.messages AS m WHERE m.msg_id = :f1;
SELECT results_eq($$SELECT payload, group_id, receive_count FROM courier.receive('dl_dlq.fifo', 10)$$,
                  $$VALUES ('"f1"'::jsonb, 'g'::text, 1)$$,
                  'the FIFO dead-letter queue delivers f1 in its group');
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- redrive: standard dead-letter queue
---------------------------------------------------------------------------
SELECT courier.create_queue('rd_dlq') \gset
SELECT courier.create_queue('rd_a', visibility_timeout => '0', dead_letter_queue => 'rd_dlq', max_receive_count => 1) \gset
SELECT courier.create_queue('rd_b', visibility_timeout => '0', dead_letter_queue => 'rd_dlq', max_receive_count => 1) \gset
SELECT courier.create_queue('rd_gone', visibility_timeout => '0', dead_letter_queue => 'rd_dlq', max_receive_count => 1) \gset
SELECT courier.create_queue('rd_other') \gset
SELECT courier.send('rd_a', '"a1"') AS a1 \gset
SELECT courier.send('rd_a', '"a2"', headers => '{"type": "t.a", "correlation_id": "ca", "schema_version": 3, "x-h": 1}') AS a2 \gset
SELECT courier.send('rd_b', '"b1"') AS b1 \gset
SELECT courier.send('rd_gone', '"g1"') AS g1 \gset
SELECT count(*) FROM courier.receive('rd_a', 10) \gset
SELECT count(*) FROM courier.receive('rd_b', 10) \gset
SELECT count(*) FROM courier.receive('rd_gone', 10) \gset
SELECT count(*) FROM courier.receive('rd_a', 10) \gset
SELECT count(*) FROM courier.receive('rd_b', 10) \gset
SELECT count(*) FROM courier.receive('rd_gone', 10) \gset
SELECT results_eq($$SELECT msg_id, source_queue COLLATE "default" FROM courier.dead_letters WHERE dead_letter_queue = 'rd_dlq' ORDER BY msg_id$$,
                  format($$VALUES (%s::bigint, 'rd_a'::text), (%s, 'rd_a'), (%s, 'rd_b'), (%s, 'rd_gone')$$,
                         :a1, :a2, :b1, :g1),
                  'redrive setup: four dead letters from three source queues');
SELECT courier.alter_queue('rd_gone', dead_letter_queue => '') \gset
SELECT courier.drop_queue('rd_gone') \gset

SELECT * FROM pg_temp.rejects($$SELECT courier.redrive('rd_missing')$$, '42704', 'redrive of a missing queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.redrive(NULL)$$, '22004', 'redrive(dead_letter_queue => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.redrive('rd_dlq', max_messages => 0)$$, '22023', 'redrive(max_messages => 0)');
SELECT * FROM pg_temp.rejects($$SELECT courier.redrive('rd_dlq', max_messages => -1)$$, '22023', 'redrive(max_messages => -1)');
SELECT * FROM pg_temp.rejects($$SELECT courier.redrive('rd_dlq', 'rd_dlq')$$, '22023', 'redrive into the dead-letter queue itself');
SELECT * FROM pg_temp.rejects($$SELECT courier.redrive('rd_dlq', 'rd_missing')$$, '42704', 'redrive to a missing destination');
SELECT * FROM pg_temp.rejects($$SELECT courier.redrive('rd_dlq', 'dl_fsrc.fifo')$$, '22023',
                              'redrive of a standard dead-letter queue to a FIFO destination');

-- back to the source queues: a leased dead letter is not moved, and one whose
-- source queue was dropped stays
SELECT msg_id AS dlq_leased, receipt AS dlq_leased_r FROM courier.receive('rd_dlq', 1) \gset
SELECT is(:dlq_leased, :a1, 'a consumer leases a1 in the dead-letter queue');
SELECT courier.now() AS rd1_before \gset
SELECT is(courier.redrive('rd_dlq'), 2::bigint,
          'redrive to the source queues moves a2 and b1 (a1 is leased, rd_gone was dropped) and returns 2');
SELECT courier.now() AS rd1_after \gset
SELECT msg_id AS a2_new FROM courier.messages WHERE queue_name = 'rd_a' AND origin_msg_id IS NOT NULL \gset
SELECT msg_id AS b1_new FROM courier.messages WHERE queue_name = 'rd_b' \gset
SELECT results_eq(
    format($$SELECT origin_msg_id, receive_count, first_received_at, last_received_at, source_queue COLLATE "default",
                    dead_lettered_at, last_error, type, correlation_id, schema_version, headers, payload
               FROM courier.messages WHERE msg_id = %s$$, :a2_new),
    format($$VALUES (%s::bigint, 0, NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::timestamptz, NULL::text,
                     't.a'::text, 'ca'::text, 3, '{"x-h": 1}'::jsonb, '"a2"'::jsonb)$$, :a2),
    'a2 is back in rd_a as a new message: origin_msg_id = old id, receive count 0, envelope and headers kept');
SELECT results_eq($$SELECT origin_msg_id, payload, receive_count FROM courier.messages WHERE queue_name = 'rd_b'$$,
                  format($$VALUES (%s::bigint, '"b1"'::jsonb, 0)$$, :b1),
                  'b1 went back to its own source queue rd_b');
SELECT ok(:a2_new > :g1 AND :b1_new > :a2_new, 'both have new ids, given oldest first');
SELECT ok(sent_at >= :'rd1_before'::timestamptz AND sent_at <= :'rd1_after'::timestamptz AND visible_at = sent_at,
          'a redriven message is sent anew (sent_at = redrive time) and visible at once')
  FROM courier.messages WHERE msg_id = :a2_new;
SELECT results_eq($$SELECT msg_id FROM courier.messages WHERE queue_name = 'rd_dlq' ORDER BY msg_id$$,
                  format('VALUES (%s::bigint), (%s)', :a1, :g1),
                  'a1 (leased) and g1 (source dropped) stay in the dead-letter queue');
SELECT results_eq($$SELECT action, object_kind, object_name COLLATE "default", details, session_role::text
                      FROM courier.audit_log ORDER BY audit_id DESC LIMIT 1$$,
                  format($$VALUES ('redrive'::text, 'queue'::text, 'rd_dlq'::text,
                                   '{"destination": null, "max_messages": null, "moved": 2, "msg_ids": [%s, %s]}'::jsonb,
                                   session_user::text)$$, :a2, :b1),
                  'redrive writes an audit_log row: action redrive, no destination, no limit, 2 moved, the old ids');
SELECT ok(at >= :'rd1_before'::timestamptz AND at <= :'rd1_after'::timestamptz, 'the audit row has the redrive time')
  FROM courier.audit_log ORDER BY audit_id DESC LIMIT 1;

-- an explicit destination takes the dead letter of the dropped queue too
SELECT is(courier.redrive('rd_dlq', 'rd_other'), 1::bigint,
          'redrive to an explicit destination moves g1 (a1 is still leased)');
SELECT results_eq($$SELECT origin_msg_id, payload, receive_count FROM courier.messages WHERE queue_name = 'rd_other'$$,
                  format($$VALUES (%s::bigint, '"g1"'::jsonb, 0)$$, :g1),
                  'g1 is in rd_other as a new message');
SELECT is((SELECT details FROM courier.audit_log ORDER BY audit_id DESC LIMIT 1),
          format('{"destination": "rd_other", "max_messages": null, "moved": 1, "msg_ids": [%s]}', :g1)::jsonb,
          'the audit row names the destination and the id moved');
SELECT is(courier.release('rd_dlq', :'dlq_leased_r'), true, 'the consumer releases a1');
SELECT is(courier.redrive('rd_dlq', 'rd_other', 10), 1::bigint, 'now a1 is moved (max_messages 10, one available)');
SELECT is((SELECT details FROM courier.audit_log ORDER BY audit_id DESC LIMIT 1),
          format('{"destination": "rd_other", "max_messages": 10, "moved": 1, "msg_ids": [%s]}', :a1)::jsonb,
          'the audit row records max_messages');
SELECT is(pg_temp.msg_count('rd_dlq'), 0::bigint, 'the dead-letter queue is empty');
SELECT is(courier.redrive('rd_dlq'), 0::bigint, 'redrive of an empty dead-letter queue returns 0');
SELECT is((SELECT details FROM courier.audit_log ORDER BY audit_id DESC LIMIT 1),
          '{"destination": null, "max_messages": null, "moved": 0, "msg_ids": []}'::jsonb,
          'and is audited with moved 0 and no ids');

-- several at once: max_messages bounds the count, oldest first, new ids in the same order
SELECT courier.purge_queue('rd_a') \gset
SELECT count(*) FROM courier.send_batch('rd_a', ARRAY['"x1"', '"x2"', '"x3"']::jsonb[]) \gset
SELECT count(*) FROM courier.receive('rd_a', 10) \gset
SELECT count(*) FROM courier.receive('rd_a', 10) \gset
SELECT results_eq($$SELECT payload FROM courier.dead_letters WHERE source_queue = 'rd_a' ORDER BY msg_id$$,
                  ARRAY['"x1"', '"x2"', '"x3"']::jsonb[], 'three more dead letters from rd_a');
SELECT msg_id AS x1 FROM courier.dead_letters WHERE payload = '"x1"' \gset
SELECT msg_id AS x2 FROM courier.dead_letters WHERE payload = '"x2"' \gset
SELECT msg_id AS x3 FROM courier.dead_letters WHERE payload = '"x3"' \gset
SELECT is(courier.redrive('rd_dlq', 'rd_other', 2), 2::bigint, 'redrive(max_messages => 2) of three moves two');
SELECT results_eq($$SELECT payload FROM courier.dead_letters WHERE dead_letter_queue = 'rd_dlq'$$,
                  ARRAY['"x3"']::jsonb[], 'the two oldest went; the newest stays');
SELECT is((SELECT details FROM courier.audit_log ORDER BY audit_id DESC LIMIT 1),
          format('{"destination": "rd_other", "max_messages": 2, "moved": 2, "msg_ids": [%s, %s]}', :x1, :x2)::jsonb,
          'the audit row lists the two ids moved, oldest first');
SELECT is(courier.redrive('rd_dlq', max_messages => 1), 1::bigint, 'redrive(max_messages => 1) moves the last one home');
SELECT results_eq($$SELECT origin_msg_id FROM courier.messages WHERE queue_name = 'rd_a'$$,
                  format('VALUES (%s::bigint)', :x3), 'x3 is back in rd_a');
SELECT results_eq($$SELECT origin_msg_id, payload FROM courier.messages WHERE queue_name = 'rd_other'
                      AND payload::text LIKE '"x%' ORDER BY msg_id$$,
                  format($$VALUES (%s::bigint, '"x1"'::jsonb), (%s, '"x2"')$$, :x1, :x2),
                  'x1 and x2 were re-sent to rd_other in their original order');
SELECT results_eq($$SELECT payload FROM courier.receive('rd_other', 10) WHERE payload::text LIKE '"x%'$$,
                  ARRAY['"x1"', '"x2"']::jsonb[],
                  'and are received from the destination in that order');

---------------------------------------------------------------------------
-- redrive: FIFO dead-letter queue
---------------------------------------------------------------------------
SELECT courier.create_queue('rdf_dlq.fifo', fifo => true) \gset
SELECT courier.create_queue('rdf_src.fifo', fifo => true, visibility_timeout => '0',
                            dead_letter_queue => 'rdf_dlq.fifo', max_receive_count => 1) \gset
SELECT courier.create_queue('rdf_other.fifo', fifo => true) \gset
SELECT courier.send('rdf_src.fifo', '"p1"', headers => '{"type": "t.p", "x-h": "v"}', group_id => 'g', dedup_id => 'p1') AS p1 \gset
SELECT courier.send('rdf_src.fifo', '"p2"', group_id => 'g', dedup_id => 'p2') AS p2 \gset
SELECT courier.send('rdf_src.fifo', '"q1"', group_id => 'h', dedup_id => 'q1') AS q1 \gset
SELECT is((SELECT count(*) FROM courier.receive('rdf_src.fifo', 10)), 3::bigint, 'FIFO redrive setup: three deliveries');
SELECT is((SELECT count(*) FROM courier.receive('rdf_src.fifo', 10)), 0::bigint, 'the next receive moves all three');
SELECT results_eq($$SELECT msg_id, group_id COLLATE "default" FROM courier.dead_letters WHERE dead_letter_queue = 'rdf_dlq.fifo' ORDER BY msg_id$$,
                  format($$VALUES (%s::bigint, 'g'::text), (%s, 'g'), (%s, 'h')$$, :p1, :p2, :q1),
                  'three FIFO dead letters with their groups');

SELECT * FROM pg_temp.rejects($$SELECT courier.redrive('rdf_dlq.fifo', 'rd_other')$$, '22023',
                              'redrive of a FIFO dead-letter queue to a standard destination');
SELECT * FROM pg_temp.rejects($$SELECT courier.redrive('rdf_dlq.fifo', 'rdf_dlq.fifo')$$, '22023',
                              'redrive of a FIFO dead-letter queue into itself');

SELECT is(courier.redrive('rdf_dlq.fifo', max_messages => 2), 2::bigint, 'FIFO redrive(max_messages => 2) moves two');
SELECT is((SELECT details FROM courier.audit_log ORDER BY audit_id DESC LIMIT 1),
          format('{"destination": null, "max_messages": 2, "moved": 2, "msg_ids": [%s, %s]}', :p1, :p2)::jsonb,
          'the audit row of a FIFO redrive lists the ids moved');
SELECT results_eq($$SELECT origin_msg_id, group_id COLLATE "default", receive_count, type, headers, payload
                      FROM courier.messages WHERE queue_name = 'rdf_src.fifo' ORDER BY msg_id$$,
                  format($$VALUES (%s::bigint, 'g'::text, 0, 't.p'::text, '{"x-h": "v"}'::jsonb, '"p1"'::jsonb),
                                  (%s, 'g', 0, NULL, NULL, '"p2"')$$, :p1, :p2),
                  'p1 and p2 are back in their group, in order, as new messages with the envelope kept');
SELECT ok(min(msg_id) > :q1, 'with new ids') FROM courier.messages WHERE queue_name = 'rdf_src.fifo';
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('rdf_src.fifo', 10)$$,
                  $$VALUES ('"p1"'::jsonb, 1), ('"p2"', 1)$$,
                  'the redriven messages are delivered in order, with a fresh receive count');
SELECT is(courier.redrive('rdf_dlq.fifo', 'rdf_other.fifo'), 1::bigint, 'FIFO redrive to an explicit FIFO destination');
SELECT results_eq($$SELECT origin_msg_id, group_id COLLATE "default", payload FROM courier.messages WHERE queue_name = 'rdf_other.fifo'$$,
                  format($$VALUES (%s::bigint, 'h'::text, '"q1"'::jsonb)$$, :q1),
                  'q1 is in the destination, in its group');
SELECT results_eq($$SELECT payload FROM courier.receive('rdf_other.fifo')$$, ARRAY['"q1"']::jsonb[],
                  'and is delivered there');
SELECT is(pg_temp.msg_count('rdf_dlq.fifo'), 0::bigint, 'the FIFO dead-letter queue is empty');

-- FIFO: a leased dead letter is not moved; one whose source queue was dropped stays
SELECT courier.create_queue('rdf_dlq2.fifo', fifo => true) \gset
SELECT courier.create_queue('rdf_s2.fifo', fifo => true, visibility_timeout => '0',
                            dead_letter_queue => 'rdf_dlq2.fifo', max_receive_count => 1) \gset
SELECT courier.create_queue('rdf_t.fifo', fifo => true, visibility_timeout => '0',
                            dead_letter_queue => 'rdf_dlq2.fifo', max_receive_count => 1) \gset
SELECT courier.send('rdf_s2.fifo', '"s1"', group_id => 'g', dedup_id => 's1') AS s1 \gset
SELECT courier.send('rdf_s2.fifo', '"s2"', group_id => 'h', dedup_id => 's2') AS s2 \gset
SELECT courier.send('rdf_t.fifo', '"t1"', group_id => 'k', dedup_id => 't1') AS t1 \gset
SELECT count(*) FROM courier.receive('rdf_s2.fifo', 10) \gset
SELECT count(*) FROM courier.receive('rdf_s2.fifo', 10) \gset
SELECT count(*) FROM courier.receive('rdf_t.fifo', 10) \gset
SELECT count(*) FROM courier.receive('rdf_t.fifo', 10) \gset
SELECT results_eq($$SELECT msg_id FROM courier.dead_letters WHERE dead_letter_queue = 'rdf_dlq2.fifo' ORDER BY msg_id$$,
                  format('VALUES (%s::bigint), (%s), (%s)', :s1, :s2, :t1),
                  'three FIFO dead letters from two source queues');
SELECT courier.alter_queue('rdf_t.fifo', dead_letter_queue => '') \gset
SELECT courier.drop_queue('rdf_t.fifo') \gset
SELECT results_eq($$SELECT msg_id FROM courier.receive('rdf_dlq2.fifo', 1)$$, format('VALUES (%s::bigint)', :s1),
                  'a consumer leases s1 in the FIFO dead-letter queue');
SELECT is(courier.redrive('rdf_dlq2.fifo'), 1::bigint,
          'FIFO redrive to the source queues moves only s2 (s1 is leased, the source of t1 was dropped)');
SELECT results_eq($$SELECT origin_msg_id, group_id COLLATE "default" FROM courier.messages WHERE queue_name = 'rdf_s2.fifo'$$,
                  format($$VALUES (%s::bigint, 'h'::text)$$, :s2), 's2 is back in its source queue and group');
SELECT results_eq($$SELECT msg_id FROM courier.messages WHERE queue_name = 'rdf_dlq2.fifo' ORDER BY msg_id$$,
                  format('VALUES (%s::bigint), (%s)', :s1, :t1), 's1 and t1 stay in the FIFO dead-letter queue');

SELECT * FROM finish();
ROLLBACK;
