-- 05_fifo: FIFO queues: creation options, what a FIFO send accepts, order
-- within a message group, the group lock (one receive fills from one group
-- first; an in-flight message blocks its group until delete, release or
-- expiry), FIFO receipts, deduplication (explicit and content-based, queue
-- wide, surviving delete, ending with the window or a purge), send_batch
-- and queue-level delay.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- Time moves only through courier.clock_offset; nothing sleeps.
BEGIN;
SELECT plan(173);

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

-- The payloads one receive hands out, in the order it returns them.
CREATE FUNCTION pg_temp.recv(q text, n integer) RETURNS jsonb[]
LANGUAGE sql AS $$ SELECT coalesce(array_agg(r.payload), '{}') FROM courier.receive(q, n) AS r $$;

-- A group's bookkeeping row: (inflight, visible_at).
CREATE FUNCTION pg_temp.grp(q text, g text) RETURNS TABLE (inflight integer, visible_at timestamptz)
LANGUAGE sql AS $$
    SELECT mg.inflight, mg.visible_at FROM courier.message_groups AS mg
     WHERE mg.queue_name = q AND mg.group_id = g
$$;

---------------------------------------------------------------------------
-- create_queue / alter_queue: FIFO options
---------------------------------------------------------------------------
SELECT lives_ok($$SELECT courier.create_queue('ff_basic.fifo', fifo => true)$$,
                'create_queue(fifo => true) succeeds');
SELECT results_eq(
    $$SELECT fifo, content_based_dedup, dedup_window, dead_letter_queue, max_receive_count
        FROM courier.list_queues() WHERE queue_name = 'ff_basic.fifo'$$,
    $$VALUES (true, false, interval '5 minutes', NULL::text, NULL::integer)$$,
    'a FIFO queue defaults to content_based_dedup false and a 5-minute dedup window');
SELECT lives_ok($$SELECT courier.create_queue('ff_cbd.fifo', fifo => true, content_based_dedup => true,
                                              dedup_window => '10 minutes')$$,
                'create_queue(fifo, content_based_dedup, dedup_window) succeeds');
SELECT results_eq(
    $$SELECT fifo, content_based_dedup, dedup_window FROM courier.list_queues() WHERE queue_name = 'ff_cbd.fifo'$$,
    $$VALUES (true, true, interval '10 minutes')$$,
    'content_based_dedup and dedup_window are stored as given');
SELECT lives_ok($$SELECT courier.create_queue('ff_w_lo.fifo', fifo => true, dedup_window => '1 second')$$,
                'dedup_window 1 second (the lower limit) is accepted');
SELECT lives_ok($$SELECT courier.create_queue('ff_w_hi.fifo', fifo => true, dedup_window => '1 day')$$,
                'dedup_window 1 day (the upper limit) is accepted');
SELECT courier.create_queue('ff_std') \gset
SELECT results_eq(
    $$SELECT fifo, content_based_dedup FROM courier.list_queues() WHERE queue_name = 'ff_std'$$,
    $$VALUES (false, false)$$, 'a queue created without fifo is a standard queue');

SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('ff_bad', content_based_dedup => true)$$,
                              '22023', 'content_based_dedup on a standard queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('ff_bad.fifo', fifo => true, dedup_window => '999 milliseconds')$$,
                              '22023', 'dedup_window under 1 second');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('ff_bad.fifo', fifo => true, dedup_window => '1 day 1 second')$$,
                              '22023', 'dedup_window over 1 day');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('ff_bad.fifo', fifo => true, dedup_window => '-5 minutes')$$,
                              '22023', 'negative dedup_window');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('ff_bad.fifo', fifo => NULL)$$,
                              '22004', 'create_queue(fifo => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('ff_bad.fifo', fifo => true, content_based_dedup => NULL)$$,
                              '22004', 'create_queue(content_based_dedup => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('ff_bad.fifo', fifo => true, dedup_window => NULL)$$,
                              '22004', 'create_queue(dedup_window => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('ff_std', content_based_dedup => true)$$,
                              '22023', 'alter_queue(content_based_dedup => true) on a standard queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('ff_basic.fifo', dedup_window => '2 days')$$,
                              '22023', 'alter_queue(dedup_window) over 1 day');

---------------------------------------------------------------------------
-- send / send_batch on FIFO and standard queues: rejected input
---------------------------------------------------------------------------
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1')$$,
                              '22023', 'FIFO send without group_id');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', dedup_id => 'd')$$,
                              '22023', 'FIFO send with dedup_id but without group_id');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => 'g')$$,
                              '22023', 'FIFO send without dedup_id on a queue without content-based dedup');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', delay => '1 second', group_id => 'g', dedup_id => 'd')$$,
                              '22023', 'FIFO send with a per-message delay of 1 second');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', delay => '15 minutes', group_id => 'g', dedup_id => 'd')$$,
                              '22023', 'FIFO send with a per-message delay of 15 minutes');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_std', '1', group_id => 'g')$$,
                              '22023', 'group_id on a standard queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_std', '1', dedup_id => 'd')$$,
                              '22023', 'dedup_id on a standard queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_std', '1', group_id => 'g', dedup_id => 'd')$$,
                              '22023', 'group_id and dedup_id on a standard queue');

-- group_id / dedup_id: 1 to 128 printable ASCII characters without spaces
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => '', dedup_id => 'd')$$,
                              '22023', 'empty group_id');
SELECT * FROM pg_temp.rejects(format($$SELECT courier.send('ff_basic.fifo', '1', group_id => %L, dedup_id => 'd')$$, repeat('g', 129)),
                              '22023', 'group_id of 129 characters');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => 'has space', dedup_id => 'd')$$,
                              '22023', 'group_id with a space');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => E'tab\there', dedup_id => 'd')$$,
                              '22023', 'group_id with a tab');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => 'café', dedup_id => 'd')$$,
                              '22023', 'group_id with a non-ASCII letter');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => '组', dedup_id => 'd')$$,
                              '22023', 'group_id in CJK characters');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => 'g', dedup_id => '')$$,
                              '22023', 'empty dedup_id');
SELECT * FROM pg_temp.rejects(format($$SELECT courier.send('ff_basic.fifo', '1', group_id => 'g', dedup_id => %L)$$, repeat('d', 129)),
                              '22023', 'dedup_id of 129 characters');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => 'g', dedup_id => 'two words')$$,
                              '22023', 'dedup_id with a space');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => 'g', dedup_id => 'naïve')$$,
                              '22023', 'dedup_id with a non-ASCII letter');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('ff_basic.fifo', '1', group_id => 'g', dedup_id => E'line\nbreak')$$,
                              '22023', 'dedup_id with a newline');

-- what is accepted
SELECT lives_ok(format($$SELECT courier.send('ff_basic.fifo', '"long ids"', group_id => %L, dedup_id => %L)$$,
                       repeat('g', 128), repeat('d', 128)),
                'group_id and dedup_id of 128 characters are accepted');
SELECT lives_ok($$SELECT courier.send('ff_basic.fifo', '"punct"', group_id => '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~',
                                      dedup_id => 'A-z_0.9:/@')$$,
                'ids made of ASCII letters, digits and punctuation are accepted');
SELECT courier.send('ff_basic.fifo', '"zero delay"', delay => '0', group_id => 'z', dedup_id => 'zero') AS zd \gset
SELECT results_eq(format('SELECT payload, group_id COLLATE "default", dedup_id, visible_at = sent_at FROM courier.messages WHERE msg_id = %s', :zd),
                  $$VALUES ('"zero delay"'::jsonb, 'z'::text, 'zero'::text, true)$$,
                  'a FIFO send with delay => ''0'' is accepted and stored visible at once');

-- send_batch
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('ff_basic.fifo', ARRAY['1', '2']::jsonb[],
                                      group_ids => ARRAY['g'], dedup_ids => ARRAY['b1', 'b2'])$$,
                              '22023', 'send_batch with fewer group_ids than payloads');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('ff_basic.fifo', ARRAY['1', '2']::jsonb[],
                                      group_ids => ARRAY['g', 'g'], dedup_ids => ARRAY['b1', 'b2', 'b3'])$$,
                              '22023', 'send_batch with more dedup_ids than payloads');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('ff_basic.fifo', ARRAY['1', '2']::jsonb[],
                                      dedup_ids => ARRAY['b1', 'b2'])$$,
                              '22023', 'FIFO send_batch without group_ids');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('ff_basic.fifo', ARRAY['1', '2']::jsonb[],
                                      group_ids => ARRAY['g', NULL], dedup_ids => ARRAY['b1', 'b2'])$$,
                              '22023', 'FIFO send_batch with one NULL group_id (the first message is not stored either)');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('ff_basic.fifo', ARRAY['1', '2']::jsonb[],
                                      group_ids => ARRAY['g', 'g'], dedup_ids => ARRAY['b1', NULL])$$,
                              '22023', 'FIFO send_batch with one NULL dedup_id and no content-based dedup');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('ff_basic.fifo', ARRAY['1', '2']::jsonb[], delay => '5 seconds',
                                      group_ids => ARRAY['g', 'g'], dedup_ids => ARRAY['b1', 'b2'])$$,
                              '22023', 'FIFO send_batch with a delay');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('ff_basic.fifo', ARRAY['1', '2']::jsonb[],
                                      group_ids => ARRAY['g', 'bad id'], dedup_ids => ARRAY['b1', 'b2'])$$,
                              '22023', 'FIFO send_batch with one invalid group_id');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('ff_std', ARRAY['1', '2']::jsonb[], group_ids => ARRAY['g', 'g'])$$,
                              '22023', 'send_batch with group_ids on a standard queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.send_batch('ff_std', ARRAY['1']::jsonb[], dedup_ids => ARRAY['d'])$$,
                              '22023', 'send_batch with dedup_ids on a standard queue');

---------------------------------------------------------------------------
-- Order within a group; one receive fills from one group, then the next
---------------------------------------------------------------------------
SELECT courier.create_queue('ff_ord.fifo', fifo => true) \gset
SELECT courier.send('ff_ord.fifo', '"a1"', group_id => 'a', dedup_id => 'a1') AS o_a1 \gset
SELECT courier.send('ff_ord.fifo', '"b1"', group_id => 'b', dedup_id => 'b1') AS o_b1 \gset
SELECT courier.send('ff_ord.fifo', '"a2"', group_id => 'a', dedup_id => 'a2') AS o_a2 \gset
SELECT courier.send('ff_ord.fifo', '"b2"', group_id => 'b', dedup_id => 'b2') AS o_b2 \gset
SELECT courier.send('ff_ord.fifo', '"a3"', group_id => 'a', dedup_id => 'a3') AS o_a3 \gset
SELECT ok(:o_a1 < :o_b1 AND :o_b1 < :o_a2 AND :o_a2 < :o_b2 AND :o_b2 < :o_a3,
          'FIFO sends return increasing ids');
SELECT results_eq($$SELECT visible_at, inflight FROM courier.message_groups
                     WHERE queue_name = 'ff_ord.fifo' ORDER BY group_id$$,
                  $$SELECT min(visible_at), 0 FROM courier.messages
                     WHERE queue_name = 'ff_ord.fifo' GROUP BY group_id ORDER BY group_id$$,
                  'each group is ready from its first message''s send, with nothing in flight');

SELECT courier.now() AS o_before \gset
CREATE TEMP TABLE o_got AS SELECT row_number() OVER () AS pos, * FROM courier.receive('ff_ord.fifo', 10);
SELECT results_eq('SELECT payload, group_id, receive_count FROM o_got ORDER BY pos',
                  $$VALUES ('"a1"'::jsonb, 'a'::text, 1), ('"a2"', 'a', 1), ('"a3"', 'a', 1),
                           ('"b1"', 'b', 1), ('"b2"', 'b', 1)$$,
                  'one receive returns all of group a in order, then group b in order');
SELECT ok(bool_and(receipt ~ ('^' || msg_id || ':1:[0-9a-f]{16}:g$')),
          'FIFO receipts read <msg_id>:<receive_count>:<16 hex digits>:g')
  FROM o_got;
SELECT is((SELECT count(DISTINCT visible_at) FROM o_got), 1::bigint,
          'the messages leased together share one visibility window');
SELECT ok(visible_at >= :'o_before'::timestamptz + interval '30 seconds'
          AND visible_at = first_received_at + interval '30 seconds',
          'the shared lease ends at receive time + the queue visibility_timeout (30s)')
  FROM o_got WHERE pos = 1;
SELECT results_eq($$SELECT group_id COLLATE "default", inflight, visible_at FROM courier.message_groups
                     WHERE queue_name = 'ff_ord.fifo' ORDER BY group_id$$,
                  $$SELECT group_id, count(*)::integer, max(visible_at) FROM o_got GROUP BY group_id ORDER BY group_id$$,
                  'message_groups: each group is blocked until its lease ends, with its leased count in flight');
SELECT is(pg_temp.recv('ff_ord.fifo', 10), '{}'::jsonb[], 'while both groups are in flight nothing is receivable');

-- a batch smaller than a group: the rest of the group waits for the lease
SELECT courier.create_queue('ff_part.fifo', fifo => true) \gset
SELECT count(*) FROM courier.send_batch('ff_part.fifo', ARRAY['"a1"', '"a2"', '"a3"', '"b1"']::jsonb[],
                                       group_ids => ARRAY['a', 'a', 'a', 'b'],
                                       dedup_ids => ARRAY['1', '2', '3', '4']) \gset
CREATE TEMP TABLE p_got AS SELECT * FROM courier.receive('ff_part.fifo', 2);
SELECT results_eq('SELECT payload FROM p_got ORDER BY msg_id', ARRAY['"a1"', '"a2"']::jsonb[],
                  'receive(2) takes the first two messages of group a');
SELECT is(pg_temp.recv('ff_part.fifo', 10), ARRAY['"b1"']::jsonb[],
          'the next receive(10) gets only b1: a3 waits behind a1 and a2 in flight');
SELECT results_eq($$SELECT inflight FROM pg_temp.grp('ff_part.fifo', 'a')$$, ARRAY[2],
                  'group a has 2 messages in flight');
SELECT is(courier.delete('ff_part.fifo', receipt), true, 'delete a1 (FIFO receipt)')
  FROM p_got WHERE payload = '"a1"';
SELECT results_eq($$SELECT inflight FROM pg_temp.grp('ff_part.fifo', 'a')$$, ARRAY[1],
                  'group a has 1 message in flight after deleting a1');
SELECT is(pg_temp.recv('ff_part.fifo', 10), '{}'::jsonb[], 'a3 still waits: a2 is in flight');
SELECT is(courier.delete('ff_part.fifo', receipt), true, 'delete a2')
  FROM p_got WHERE payload = '"a2"';
SELECT results_eq($$SELECT inflight, visible_at <= courier.now() FROM pg_temp.grp('ff_part.fifo', 'a')$$,
                  $$VALUES (0, true)$$, 'group a is ready again once its last in-flight message is deleted');
SELECT is(pg_temp.recv('ff_part.fifo', 10), ARRAY['"a3"']::jsonb[], 'now a3 is delivered');

---------------------------------------------------------------------------
-- The group lock: released by delete, release, change_visibility(0), expiry
---------------------------------------------------------------------------
SELECT courier.create_queue('ff_blk.fifo', fifo => true, visibility_timeout => '30 seconds') \gset
SELECT courier.send('ff_blk.fifo', '"m1"', group_id => 'g', dedup_id => 'm1') AS b_m1 \gset
SELECT courier.send('ff_blk.fifo', '"m2"', group_id => 'g', dedup_id => 'm2') AS b_m2 \gset
SELECT courier.send('ff_blk.fifo', '"m3"', group_id => 'g', dedup_id => 'm3') AS b_m3 \gset
SELECT courier.send('ff_blk.fifo', '"n1"', group_id => 'h', dedup_id => 'n1') AS b_n1 \gset

SELECT msg_id AS r1_id, receipt AS r1 FROM courier.receive('ff_blk.fifo') \gset
SELECT is(:r1_id, :b_m1, 'the first receive gets m1 (group g became ready first)');
SELECT msg_id AS rn_id, receipt AS rn FROM courier.receive('ff_blk.fifo') \gset
SELECT is(:rn_id, :b_n1, 'the next receive gets n1: another group is served while g is blocked');
SELECT is(pg_temp.recv('ff_blk.fifo', 10), '{}'::jsonb[],
          'with m1 and n1 in flight nothing more is receivable (m2 and m3 wait)');
SELECT is(courier.delete('ff_blk.fifo', :'rn'), true, 'n1 is deleted');

-- A receipt of the standard form (without ":g") names no FIFO lease.
SELECT is(courier.delete('ff_blk.fifo', left(:'r1', -2)), false,
          'delete with the FIFO receipt stripped of ":g" returns false');
SELECT results_eq(format('SELECT receive_count, visible_at > courier.now() FROM courier.messages WHERE msg_id = %s', :b_m1),
                  $$VALUES (1, true)$$, 'm1 is still there and still leased');
SELECT is(pg_temp.recv('ff_blk.fifo', 10), '{}'::jsonb[], 'and group g is still blocked');

-- release: m1 is first again
SELECT is(courier.release('ff_blk.fifo', :'r1', error => 'try again'), true, 'release m1');
SELECT results_eq($$SELECT inflight, visible_at <= courier.now() FROM pg_temp.grp('ff_blk.fifo', 'g')$$,
                  $$VALUES (0, true)$$, 'releasing the only in-flight message makes the group ready');
SELECT msg_id AS r2_id, receipt AS r2, receive_count AS r2_n FROM courier.receive('ff_blk.fifo') \gset
SELECT is(:r2_id, :b_m1, 'after the release m1 is delivered again, before m2');
SELECT is(:r2_n, 2, 'as its second delivery');
SELECT ok(:'r2' ~ ':2:[0-9a-f]{16}:g$', 'the new receipt names delivery 2');
SELECT is(courier.delete('ff_blk.fifo', :'r1'), false, 'the receipt of the first delivery no longer deletes');

-- change_visibility(0) releases too
SELECT is(courier.change_visibility('ff_blk.fifo', :'r2', '0'), true, 'change_visibility(m1, 0)');
SELECT msg_id AS r3_id, receipt AS r3, receive_count AS r3_n FROM courier.receive('ff_blk.fifo') \gset
SELECT results_eq(format('VALUES (%s::bigint, %s)', :r3_id, :r3_n), format('VALUES (%s::bigint, 3)', :b_m1),
                  'after change_visibility(0) m1 is delivered again (third delivery)');

-- delete: the next message follows
SELECT is(courier.delete('ff_blk.fifo', :'r3'), true, 'delete m1');
SELECT msg_id AS r4_id, receipt AS r4 FROM courier.receive('ff_blk.fifo') \gset
SELECT is(:r4_id, :b_m2, 'after m1 is deleted, m2 is delivered');
SELECT is(pg_temp.recv('ff_blk.fifo', 10), '{}'::jsonb[], 'm3 waits behind m2');

-- change_visibility extends the group lock with the lease
SELECT is(courier.change_visibility('ff_blk.fifo', :'r4', '60 seconds'), true, 'extend m2''s lease to 60s');
SELECT results_eq($$SELECT g.visible_at FROM pg_temp.grp('ff_blk.fifo', 'g') AS g$$,
                  format('SELECT visible_at FROM courier.messages WHERE msg_id = %s', :b_m2),
                  'the group waits exactly until the extended lease ends');
SET LOCAL courier.clock_offset = '45s';
SELECT is(pg_temp.recv('ff_blk.fifo', 10), '{}'::jsonb[], 'at +45s (past the 30s default) the group is still blocked');

-- expiry: m2 comes back first, then m3
SET LOCAL courier.clock_offset = '61s';
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('ff_blk.fifo', 1)$$,
                  $$VALUES ('"m2"'::jsonb, 2)$$,
                  'once m2''s lease ran out, m2 is delivered again before m3');
SET LOCAL courier.clock_offset = '92s';
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('ff_blk.fifo', 10)$$,
                  $$VALUES ('"m2"'::jsonb, 3), ('"m3"', 1)$$,
                  'after the next expiry one receive returns m2 again and then m3, in order');
SET LOCAL courier.clock_offset = 0;

-- receipts of one kind never act on messages of the other
SELECT courier.send('ff_std', '"standard"') AS s_m \gset
SELECT receipt AS s_r FROM courier.receive('ff_std') \gset
SELECT is(courier.delete('ff_std', :'s_r' || ':g'), false,
          'a standard receipt with ":g" appended deletes nothing on a standard queue');
SELECT is(pg_temp.msg_count('ff_std'), 1::bigint, 'the standard message is still there');
SELECT is(courier.delete('ff_std', :'s_r'), true, 'its own receipt deletes it');

---------------------------------------------------------------------------
-- Deduplication with explicit dedup ids
---------------------------------------------------------------------------
SELECT courier.create_queue('ff_dd.fifo', fifo => true) \gset
SELECT courier.send('ff_dd.fifo', '"first"', group_id => 'g1', dedup_id => 'D') AS dd1 \gset
SELECT results_eq($$SELECT msg_id, expires_at - (SELECT sent_at FROM courier.messages AS m WHERE m.msg_id = d.msg_id)
                      FROM courier.dedup AS d WHERE queue_name = 'ff_dd.fifo' AND dedup_id = 'D'$$,
                  format($$VALUES (%s::bigint, interval '5 minutes')$$, :dd1),
                  'the dedup id is remembered for the message for 5 minutes from its send');
SELECT pg_temp.courier_state() AS dd_state \gset
SELECT is(courier.send('ff_dd.fifo', '"second"', group_id => 'g1', dedup_id => 'D'), :dd1::bigint,
          'a second send with the same dedup id returns the original id');
SELECT is(courier.send('ff_dd.fifo', '"third"', group_id => 'g2', dedup_id => 'D'), :dd1::bigint,
          'so does a send with the same dedup id in another group (the scope is the queue)');
SELECT is(pg_temp.courier_state(), :'dd_state', 'the duplicates stored nothing (no message, no group g2, same dedup row)');
SELECT results_eq($$SELECT payload FROM courier.messages WHERE queue_name = 'ff_dd.fifo'$$,
                  ARRAY['"first"']::jsonb[], 'the queue holds only the first message');

SELECT receipt AS dd1_r FROM courier.receive('ff_dd.fifo') \gset
SELECT is(courier.delete('ff_dd.fifo', :'dd1_r'), true, 'the original is received and deleted');
SELECT is(courier.send('ff_dd.fifo', '"after delete"', group_id => 'g1', dedup_id => 'D'), :dd1::bigint,
          'a send with the dedup id after the original was deleted still returns the original id');
SELECT is(pg_temp.msg_count('ff_dd.fifo'), 0::bigint, 'and stores nothing');

SELECT courier.send('ff_basic.fifo', '"other queue"', group_id => 'g1', dedup_id => 'D') AS dd_other \gset
SELECT isnt(:dd_other::bigint, :dd1::bigint, 'the same dedup id on another FIFO queue is a new message');

SET LOCAL courier.clock_offset = '299s';
SELECT is(courier.send('ff_dd.fifo', '"at 299s"', group_id => 'g1', dedup_id => 'D'), :dd1::bigint,
          'at +299s (inside the 5-minute window) the dedup id still returns the original id');
SELECT is(pg_temp.msg_count('ff_dd.fifo'), 0::bigint, 'and stores nothing');
SET LOCAL courier.clock_offset = '301s';
SELECT courier.send('ff_dd.fifo', '"at 301s"', group_id => 'g1', dedup_id => 'D') AS dd2 \gset
SELECT ok(:dd2 > :dd1, 'at +301s (window over) the same dedup id is stored anew under a new id');
SELECT results_eq($$SELECT payload FROM courier.messages WHERE queue_name = 'ff_dd.fifo'$$,
                  ARRAY['"at 301s"']::jsonb[], 'the new message is in the queue');
SELECT is((SELECT msg_id FROM courier.dedup WHERE queue_name = 'ff_dd.fifo' AND dedup_id = 'D'), :dd2::bigint,
          'the dedup id now maps to the new message');
SELECT is(courier.send('ff_dd.fifo', '"again"', group_id => 'g1', dedup_id => 'D'), :dd2::bigint,
          'and a further duplicate returns the new id');
SET LOCAL courier.clock_offset = 0;

-- a short window
SELECT courier.send('ff_w_lo.fifo', '"w"', group_id => 'g', dedup_id => 'W') AS w1 \gset
SELECT is(courier.send('ff_w_lo.fifo', '"w"', group_id => 'g', dedup_id => 'W'), :w1::bigint,
          'dedup_window 1s: a duplicate at once returns the original id');
SET LOCAL courier.clock_offset = '2s';
SELECT isnt(courier.send('ff_w_lo.fifo', '"w"', group_id => 'g', dedup_id => 'W'), :w1::bigint,
            'dedup_window 1s: two seconds later it is a new message');
SELECT is(pg_temp.msg_count('ff_w_lo.fifo'), 2::bigint, 'both messages are stored');
SET LOCAL courier.clock_offset = 0;

-- purge forgets the dedup history
SELECT is(courier.purge_queue('ff_dd.fifo'), 1::bigint, 'purge_queue removes the FIFO message');
SELECT is((SELECT count(*) FROM courier.dedup WHERE queue_name = 'ff_dd.fifo'), 0::bigint,
          'purge_queue clears the dedup history');
SELECT is((SELECT count(*) FROM courier.message_groups WHERE queue_name = 'ff_dd.fifo'), 0::bigint,
          'purge_queue removes the message groups');
SELECT courier.send('ff_dd.fifo', '"after purge"', group_id => 'g1', dedup_id => 'D') AS dd3 \gset
SELECT ok(:dd3 > :dd2, 'after a purge the same dedup id is a new message');
SELECT results_eq($$SELECT payload FROM courier.receive('ff_dd.fifo')$$, ARRAY['"after purge"']::jsonb[],
                  'and it is delivered');

---------------------------------------------------------------------------
-- Content-based deduplication: SHA-256 of the payload only
---------------------------------------------------------------------------
SELECT courier.send('ff_cbd.fifo', '{"k": 1}', headers => '{"x-try": "1"}', group_id => 'g') AS c1 \gset
SELECT is((SELECT dedup_id FROM courier.messages WHERE msg_id = :c1),
          encode(sha256(convert_to('{"k": 1}', 'UTF8')), 'hex'),
          'without dedup_id the dedup id is the hex SHA-256 of the payload''s JSON text');
SELECT is(courier.send('ff_cbd.fifo', '{"k": 1}', headers => '{"x-try": "2", "type": "other"}', group_id => 'g'),
          :c1::bigint, 'the same payload with other headers is a duplicate (headers are ignored)');
SELECT is(courier.send('ff_cbd.fifo', '{ "k" : 1 }', group_id => 'h'), :c1::bigint,
          'the same JSON value written differently, in another group, is a duplicate too');
SELECT courier.send('ff_cbd.fifo', '{"k": 2}', group_id => 'g') AS c2 \gset
SELECT isnt(:c2::bigint, :c1::bigint, 'another payload is a new message');
SELECT courier.send('ff_cbd.fifo', '{"k": 1}', group_id => 'g', dedup_id => 'explicit') AS c3 \gset
SELECT ok(:c3 > :c2, 'an explicit dedup_id wins: the same payload with a new dedup id is stored');
SELECT is(courier.send('ff_cbd.fifo', '{"k": 3}', group_id => 'g', dedup_id => 'explicit'), :c3::bigint,
          'and another payload with that dedup id is a duplicate of it');
SELECT results_eq($$SELECT payload, dedup_id FROM courier.messages WHERE queue_name = 'ff_cbd.fifo' ORDER BY msg_id$$,
                  $$VALUES ('{"k": 1}'::jsonb, encode(sha256(convert_to('{"k": 1}', 'UTF8')), 'hex')),
                           ('{"k": 2}', encode(sha256(convert_to('{"k": 2}', 'UTF8')), 'hex')),
                           ('{"k": 1}', 'explicit')$$,
                  'the queue holds exactly three messages');

-- content-based dedup switched on later
SELECT lives_ok($$SELECT courier.alter_queue('ff_basic.fifo', content_based_dedup => true)$$,
                'alter_queue(content_based_dedup => true) on a FIFO queue');
SELECT lives_ok($$SELECT courier.send('ff_basic.fifo', '"no dedup id"', group_id => 'g')$$,
                'after that a FIFO send without dedup_id is accepted');

---------------------------------------------------------------------------
-- send_batch on FIFO queues
---------------------------------------------------------------------------
SELECT courier.create_queue('ff_batch.fifo', fifo => true) \gset
SELECT courier.send('ff_batch.fifo', '"before"', group_id => 'c', dedup_id => 'pre') AS fb0 \gset
CREATE TEMP TABLE fb AS
    SELECT row_number() OVER () AS pos, id
      FROM courier.send_batch('ff_batch.fifo',
                              ARRAY['"a1"', '"b1"', '"a2"', '"dup of a1"', '"dup of before"', '"b2"']::jsonb[],
                              group_ids => ARRAY['a', 'b', 'a', 'b', 'a', 'b'],
                              dedup_ids => ARRAY['1', '2', '3', '1', 'pre', '4']) AS id;
SELECT is((SELECT count(*) FROM fb), 6::bigint, 'send_batch returns one id per payload');
SELECT ok((SELECT f1.id < f2.id AND f2.id < f3.id AND f3.id < f6.id
             FROM fb AS f1, fb AS f2, fb AS f3, fb AS f6
            WHERE f1.pos = 1 AND f2.pos = 2 AND f3.pos = 3 AND f6.pos = 6),
          'new messages get increasing ids in input order');
SELECT is((SELECT id FROM fb WHERE pos = 4), (SELECT id FROM fb WHERE pos = 1),
          'a duplicate inside the batch returns the id of the earlier element');
SELECT is((SELECT id FROM fb WHERE pos = 5), :fb0::bigint,
          'a duplicate of a message sent before the batch returns that message''s id');
SELECT results_eq($$SELECT payload, group_id COLLATE "default", dedup_id FROM courier.messages
                     WHERE queue_name = 'ff_batch.fifo' ORDER BY msg_id$$,
                  $$VALUES ('"before"'::jsonb, 'c'::text, 'pre'::text), ('"a1"', 'a', '1'), ('"b1"', 'b', '2'),
                           ('"a2"', 'a', '3'), ('"b2"', 'b', '4')$$,
                  'only the four new messages are stored, with their groups and dedup ids');
SELECT results_eq($$SELECT payload FROM courier.receive('ff_batch.fifo', 10)$$,
                  $$VALUES ('"before"'::jsonb), ('"a1"'), ('"a2"'), ('"b1"'), ('"b2"')$$,
                  'they are delivered group by group, each group in order');

SELECT courier.create_queue('ff_batch_cbd.fifo', fifo => true, content_based_dedup => true) \gset
CREATE TEMP TABLE fbc AS
    SELECT row_number() OVER () AS pos, id
      FROM courier.send_batch('ff_batch_cbd.fifo', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 1}']::jsonb[],
                              group_ids => ARRAY['g', 'h', 'h']) AS id;
SELECT is((SELECT id FROM fbc WHERE pos = 3), (SELECT id FROM fbc WHERE pos = 1),
          'content-based dedup inside one batch: a repeated payload returns the earlier id');
SELECT is(pg_temp.msg_count('ff_batch_cbd.fifo'), 2::bigint, 'and only two messages are stored');
SELECT lives_ok($$SELECT courier.send_batch('ff_batch_cbd.fifo', ARRAY['{"n": 9}']::jsonb[], delay => '0',
                                            group_ids => ARRAY['g'])$$,
                'FIFO send_batch with delay => ''0'' is accepted');

---------------------------------------------------------------------------
-- Queue-level delay on a FIFO queue
---------------------------------------------------------------------------
SELECT courier.create_queue('ff_delay.fifo', fifo => true, delay => '10 seconds') \gset
SELECT courier.send('ff_delay.fifo', '"late"', group_id => 'g', dedup_id => 'l') AS fd1 \gset
SELECT is(visible_at - sent_at, interval '10 seconds', 'the queue delay applies to a FIFO message')
  FROM courier.messages WHERE msg_id = :fd1;
SELECT results_eq($$SELECT g.visible_at FROM pg_temp.grp('ff_delay.fifo', 'g') AS g$$,
                  format('SELECT visible_at FROM courier.messages WHERE msg_id = %s', :fd1),
                  'the group becomes ready when its delayed message becomes visible');
SELECT is(pg_temp.recv('ff_delay.fifo', 10), '{}'::jsonb[], 'not receivable at once');
SET LOCAL courier.clock_offset = '9s';
SELECT is(pg_temp.recv('ff_delay.fifo', 10), '{}'::jsonb[], 'not receivable at +9s');
SET LOCAL courier.clock_offset = '11s';
SELECT is(pg_temp.recv('ff_delay.fifo', 10), ARRAY['"late"']::jsonb[], 'receivable at +11s');
SET LOCAL courier.clock_offset = 0;

SELECT * FROM finish();
ROLLBACK;
