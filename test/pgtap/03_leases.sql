-- 03_leases: what a receipt can do, and when it stops working: delete,
-- delete_batch, change_visibility (and its 12-hour cap), release.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- Time moves only through courier.clock_offset; nothing sleeps.
-- Receives in this transaction write their leases at commit (courier.defer_leases);
-- courier.flush_leases() writes them first where a test reads courier.messages.
BEGIN;
SELECT plan(120);

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
    RETURN NEXT is(pg_temp.courier_state(), before, descr || ': nothing changed');
END
$$;

CREATE FUNCTION pg_temp.receivable(q text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM courier.receive(q, 1000) $$;

CREATE FUNCTION pg_temp.msg_count(q text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM courier.messages AS m WHERE m.queue_name = q $$;

-- The same receipt with another nonce: right message and delivery, wrong lease.
CREATE FUNCTION pg_temp.forged(receipt text) RETURNS text
LANGUAGE sql AS $$
    SELECT regexp_replace(receipt, ':[0-9a-f]{16}$',
                          CASE WHEN right(receipt, 16) = '0000000000000000'
                               THEN ':0000000000000001' ELSE ':0000000000000000' END)
$$;

---------------------------------------------------------------------------
-- delete
---------------------------------------------------------------------------
SELECT courier.create_queue('ls_del') \gset
SELECT courier.send('ls_del', '"one"') AS d1 \gset
SELECT receipt AS d1_r FROM courier.receive('ls_del') \gset
SELECT is(courier.delete('ls_del', :'d1_r'), true, 'delete with the current receipt returns true');
SELECT is(pg_temp.msg_count('ls_del'), 0::bigint, 'and the message is gone');
SELECT is(courier.delete('ls_del', :'d1_r'), false, 'deleting again with the same receipt returns false');

-- A receipt of an earlier delivery is dead once the message was received again.
SELECT courier.send('ls_del', '"two"') AS d2 \gset
SELECT receipt AS d2_ra FROM courier.receive('ls_del') \gset
SET LOCAL courier.clock_offset = '31s';
SELECT receipt AS d2_rb, receive_count AS d2_nb FROM courier.receive('ls_del') \gset
SELECT is(:d2_nb, 2, 'the message was received a second time after its lease ran out');
SELECT is(courier.delete('ls_del', :'d2_ra'), false, 'delete with the first delivery''s receipt returns false');
SELECT courier.flush_leases() AS flushed \gset
SELECT results_eq($$SELECT msg_id, receive_count FROM courier.messages WHERE queue_name = 'ls_del'$$,
                  format('VALUES (%s::bigint, 2)', :d2),
                  'the message is still there, leased by the second delivery');
SELECT is(courier.delete('ls_del', pg_temp.forged(:'d2_rb')), false,
          'a receipt with the right id and count but another nonce returns false');
SELECT is(pg_temp.msg_count('ls_del'), 1::bigint, 'and deletes nothing');
SELECT is(courier.delete('ls_del', :'d2_rb'), true, 'the second delivery''s receipt deletes it');
SET LOCAL courier.clock_offset = 0;

-- A lease that ran out but that nobody took over is still the current lease.
SELECT courier.create_queue('ls_exp') \gset
SELECT courier.send('ls_exp', '"expired"') \gset
SELECT receipt AS e_r FROM courier.receive('ls_exp') \gset
SET LOCAL courier.clock_offset = '5min';
SELECT is(courier.delete('ls_exp', :'e_r'), true,
          'an expired receipt whose message was not received again still deletes (true)');
SELECT is(pg_temp.msg_count('ls_exp'), 0::bigint, 'and the message is gone');
SET LOCAL courier.clock_offset = 0;

-- Receipts are scoped to their queue.
SELECT courier.create_queue('ls_a') \gset
SELECT courier.create_queue('ls_b') \gset
SELECT courier.send('ls_a', '"in a"') AS a1 \gset
SELECT courier.send('ls_b', '"in b"') AS b1 \gset
SELECT receipt AS a1_r FROM courier.receive('ls_a') \gset
SELECT is(courier.delete('ls_b', :'a1_r'), false, 'delete on another queue with a queue''s receipt returns false');
SELECT results_eq($$SELECT queue_name COLLATE "default", payload FROM courier.messages WHERE queue_name IN ('ls_a', 'ls_b') ORDER BY msg_id$$,
                  $$VALUES ('ls_a'::text, '"in a"'::jsonb), ('ls_b', '"in b"')$$,
                  'and deletes nothing in either queue');
SELECT is(courier.change_visibility('ls_b', :'a1_r', '0'), false, 'change_visibility on another queue returns false');
SELECT is(courier.release('ls_b', :'a1_r'), false, 'release on another queue returns false');
SELECT is(pg_temp.receivable('ls_a'), 0::bigint, 'and the lease in its own queue is untouched');

SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(''ls_no_such_queue'', %L)', :'a1_r'), '42704',
                              'delete on a missing queue');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(NULL, %L)', :'a1_r'), '22004', 'delete(queue_name => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete('ls_a', NULL)$$, '22004', 'delete(receipt => NULL)');

-- Malformed receipts
SELECT * FROM pg_temp.rejects($$SELECT courier.delete('ls_a', '')$$, '22P02', 'delete with an empty receipt');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete('ls_a', 'garbage')$$, '22P02', 'delete with receipt "garbage"');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(''ls_a'', %L)', :a1), '22P02', 'delete with a bare message id');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(''ls_a'', %L)', :a1 || ':1'), '22P02', 'delete with a receipt without nonce');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(''ls_a'', %L)', :a1 || ':0:0123456789abcdef'), '22P02',
                              'delete with receive_count 0');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(''ls_a'', %L)', :a1 || ':1:0123456789ABCDEF'), '22P02',
                              'delete with an upper-case nonce');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(''ls_a'', %L)', :a1 || ':1:0123456789abcde'), '22P02',
                              'delete with a 15-digit nonce');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(''ls_a'', %L)', :a1 || ':1:0123456789abcdef0'), '22P02',
                              'delete with a 17-digit nonce');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(''ls_a'', %L)', '-' || :'a1_r'), '22P02',
                              'delete with a negative message id');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete('ls_a', '99999999999999999999:1:0123456789abcdef')$$, '22P02',
                              'delete with a message id beyond bigint');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete(''ls_a'', %L)', :'a1_r' || ' '), '22P02',
                              'delete with trailing space after the receipt');
SELECT * FROM pg_temp.rejects($$SELECT courier.change_visibility('ls_a', '1:1:xyz', '1 second')$$, '22P02',
                              'change_visibility with a malformed receipt');
SELECT * FROM pg_temp.rejects($$SELECT courier.release('ls_a', 'not-a-receipt')$$, '22P02',
                              'release with a malformed receipt');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_batch('ls_a', ARRAY['1:1:0123456789abcdef', 'bad'])$$, '22P02',
                              'delete_batch with one malformed receipt');
SELECT is(courier.delete('ls_a', :'a1_r'), true, 'after all that, the real receipt still deletes its message');

---------------------------------------------------------------------------
-- change_visibility
---------------------------------------------------------------------------
SELECT courier.create_queue('ls_cv', visibility_timeout => '30 seconds') \gset
SELECT courier.send('ls_cv', '"extend me"') AS cv1 \gset
SELECT receipt AS cv1_r, first_received_at AS cv1_recv FROM courier.receive('ls_cv') \gset
SET LOCAL courier.clock_offset = '20s';
SELECT courier.now() AS cv_before \gset
SELECT is(courier.change_visibility('ls_cv', :'cv1_r', '60 seconds'), true,
          'change_visibility with the current receipt returns true');
SELECT courier.now() AS cv_after \gset
SELECT ok(visible_at >= :'cv_before'::timestamptz + interval '60 seconds'
          AND visible_at <= :'cv_after'::timestamptz + interval '60 seconds',
          'change_visibility(60s) at +20s ends the lease at now + 60s (about +80s), not at +90s')
  FROM courier.messages WHERE msg_id = :cv1;
SET LOCAL courier.clock_offset = '79s';
SELECT is(pg_temp.receivable('ls_cv'), 0::bigint, 'not receivable at +79s');
SET LOCAL courier.clock_offset = '81s';
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('ls_cv', 1, '1 hour')$$,
                  $$VALUES ('"extend me"'::jsonb, 2)$$,
                  'receivable again at +81s');
SELECT courier.flush_leases() AS flushed \gset
SELECT visible_at AS cv1_vis FROM courier.messages WHERE msg_id = :cv1 \gset
SELECT is(courier.change_visibility('ls_cv', :'cv1_r', '0'), false,
          'change_visibility with the receipt of an earlier delivery returns false');
SELECT is(visible_at, :'cv1_vis'::timestamptz, 'and leaves the current lease as it was')
  FROM courier.messages WHERE msg_id = :cv1;
SET LOCAL courier.clock_offset = 0;

SELECT courier.send('ls_cv', '"release by zero"') AS cv2 \gset
SELECT receipt AS cv2_r FROM courier.receive('ls_cv') \gset
SELECT is(courier.change_visibility('ls_cv', :'cv2_r', '0'), true, 'change_visibility(0) returns true');
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('ls_cv')$$,
                  $$VALUES ('"release by zero"'::jsonb, 2)$$,
                  'change_visibility(0) makes the message receivable at once');

SELECT courier.send('ls_cv', '"shorten"') AS cv3 \gset
SELECT receipt AS cv3_r FROM courier.receive('ls_cv', 1, '1 hour') \gset
SELECT is(courier.change_visibility('ls_cv', :'cv3_r', '10 seconds'), true, 'change_visibility can shorten a lease');
SET LOCAL courier.clock_offset = '11s';
SELECT results_eq($$SELECT payload FROM courier.receive('ls_cv')$$, ARRAY['"shorten"']::jsonb[],
                  'the shortened (10s instead of 1h) lease is over at +11s');
SET LOCAL courier.clock_offset = 0;

SELECT * FROM pg_temp.rejects(format('SELECT courier.change_visibility(''ls_cv'', %L, NULL)', :'cv3_r'), '22004',
                              'change_visibility(visibility_timeout => NULL)');
SELECT * FROM pg_temp.rejects(format('SELECT courier.change_visibility(''ls_cv'', %L, ''-1 second'')', :'cv3_r'), '22023',
                              'change_visibility with a negative timeout');
SELECT * FROM pg_temp.rejects(format('SELECT courier.change_visibility(''ls_cv'', %L, ''12 hours 1 second'')', :'cv3_r'), '22023',
                              'change_visibility over 12 hours');
SELECT * FROM pg_temp.rejects(format('SELECT courier.change_visibility(''ls_no_such_queue'', %L, ''1 second'')', :'cv3_r'), '42704',
                              'change_visibility on a missing queue');

-- The 12-hour cap is measured from the receive.
SELECT courier.create_queue('ls_cap') \gset
SELECT courier.send('ls_cap', '"long job"') AS cap1 \gset
SELECT receipt AS cap_r, first_received_at AS cap_recv FROM courier.receive('ls_cap') \gset
SET LOCAL courier.clock_offset = '6h';
SELECT * FROM pg_temp.rejects(format('SELECT courier.change_visibility(''ls_cap'', %L, ''6 hours 1 second'')', :'cap_r'),
                              '22023', 'at receive + 6h, extending by 6h 1s (lease end past receive + 12h)');
SELECT * FROM pg_temp.rejects(format('SELECT courier.change_visibility(''ls_cap'', %L, ''12 hours'')', :'cap_r'),
                              '22023', 'at receive + 6h, extending by 12h');
SELECT * FROM pg_temp.rejects(format('SELECT courier.release(''ls_cap'', %L, ''e'', ''7 hours'')', :'cap_r'),
                              '22023', 'at receive + 6h, release with a 7h delay (the same cap applies)');
SELECT is(courier.change_visibility('ls_cap', :'cap_r', '5 hours 59 minutes'), true,
          'at receive + 6h, extending by 5h 59min (lease end before receive + 12h) is accepted');
SELECT ok(visible_at - :'cap_recv'::timestamptz > interval '11 hours 58 minutes'
          AND visible_at - :'cap_recv'::timestamptz < interval '12 hours',
          'the lease now ends just under 12 hours after the receive')
  FROM courier.messages WHERE msg_id = :cap1;
SET LOCAL courier.clock_offset = '12h';
SELECT receipt AS cap_r2 FROM courier.receive('ls_cap') \gset
SELECT is(courier.change_visibility('ls_cap', :'cap_r2', '11 hours'), true,
          'a new receive starts a new 12-hour window');
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- release
---------------------------------------------------------------------------
SELECT courier.create_queue('ls_rel') \gset
SELECT courier.send('ls_rel', '"flaky"') AS rel1 \gset
SELECT receipt AS rel_r1 FROM courier.receive('ls_rel') \gset
SELECT is(courier.release('ls_rel', :'rel_r1', error => 'boom'), true, 'release with the current receipt returns true');
SELECT is(last_error, 'boom', 'release records the error in courier.messages.last_error')
  FROM courier.messages WHERE msg_id = :rel1;
SELECT receipt AS rel_r2, receive_count AS rel_n2 FROM courier.receive('ls_rel') \gset
SELECT is(:rel_n2, 2, 'release without a delay makes the message receivable at once');

SELECT courier.now() AS rel_before \gset
SELECT is(courier.release('ls_rel', :'rel_r2', 'second failure', '60 seconds'), true, 'release with a 60s delay');
SELECT courier.now() AS rel_after \gset
SELECT ok(visible_at >= :'rel_before'::timestamptz + interval '60 seconds'
          AND visible_at <= :'rel_after'::timestamptz + interval '60 seconds',
          'release(delay => 60s) makes the message visible at now + 60s')
  FROM courier.messages WHERE msg_id = :rel1;
SELECT is(last_error, 'second failure', 'the newer error replaces the older one')
  FROM courier.messages WHERE msg_id = :rel1;
SET LOCAL courier.clock_offset = '59s';
SELECT is(pg_temp.receivable('ls_rel'), 0::bigint, 'not receivable 59s after the release');
SET LOCAL courier.clock_offset = '61s';
SELECT receipt AS rel_r3, receive_count AS rel_n3 FROM courier.receive('ls_rel') \gset
SELECT is(:rel_n3, 3, 'receivable 61s after the release');

SELECT courier.flush_leases() AS flushed \gset
SELECT visible_at AS rel_vis3 FROM courier.messages WHERE msg_id = :rel1 \gset
SELECT is(courier.release('ls_rel', :'rel_r2', 'late'), false, 'release with an earlier delivery''s receipt returns false');
SELECT results_eq(format('SELECT last_error, visible_at, receive_count FROM courier.messages WHERE msg_id = %s', :rel1),
                  format($$VALUES ('second failure'::text, %L::timestamptz, 3)$$, :'rel_vis3'),
                  'and changes neither last_error nor the current lease');
SELECT is(courier.release('ls_rel', :'rel_r3'), true, 'release without an error');
SELECT is(last_error, 'second failure', 'release without an error keeps the last recorded error')
  FROM courier.messages WHERE msg_id = :rel1;
SELECT is(courier.delete('ls_rel', :'rel_r3'), true,
          'a released lease that nobody took over still deletes with its receipt');
SET LOCAL courier.clock_offset = 0;

SELECT courier.send('ls_rel', '"bad release"') \gset
SELECT receipt AS rel_r4 FROM courier.receive('ls_rel') \gset
SELECT * FROM pg_temp.rejects(format('SELECT courier.release(''ls_rel'', %L, ''e'', NULL)', :'rel_r4'), '22004',
                              'release(delay => NULL)');
SELECT * FROM pg_temp.rejects(format('SELECT courier.release(''ls_rel'', %L, ''e'', ''-1 second'')', :'rel_r4'), '22023',
                              'release with a negative delay');
SELECT * FROM pg_temp.rejects(format('SELECT courier.release(''ls_rel'', %L, ''e'', ''12 hours 1 second'')', :'rel_r4'), '22023',
                              'release with a delay over 12 hours');
SELECT * FROM pg_temp.rejects(format('SELECT courier.release(''ls_no_such_queue'', %L)', :'rel_r4'), '42704',
                              'release on a missing queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.release('ls_rel', NULL)$$, '22004', 'release(receipt => NULL)');

---------------------------------------------------------------------------
-- delete_batch
---------------------------------------------------------------------------
SELECT courier.create_queue('ls_batch') \gset
SELECT count(*) AS lb_sent FROM courier.send_batch('ls_batch', ARRAY['1', '2', '3', '4']::jsonb[]) \gset
CREATE TEMP TABLE lb AS SELECT payload::int AS n, receipt FROM courier.receive('ls_batch', 10);
SELECT is((SELECT count(*) FROM lb), 4::bigint, 'delete_batch setup: four messages leased');
SELECT courier.release('ls_batch', receipt) FROM lb WHERE n = 2 \gset
SELECT receipt AS lb_r2b FROM courier.receive('ls_batch') \gset

SELECT is(courier.delete_batch('ls_batch',
                               ARRAY[(SELECT receipt FROM lb WHERE n = 1),
                                     (SELECT receipt FROM lb WHERE n = 2),
                                     (SELECT receipt FROM lb WHERE n = 3),
                                     (SELECT receipt FROM lb WHERE n = 3),
                                     pg_temp.forged((SELECT receipt FROM lb WHERE n = 4))]),
          2,
          'delete_batch counts deletions: stale, duplicate and forged receipts delete nothing');
SELECT results_eq($$SELECT payload FROM courier.messages WHERE queue_name = 'ls_batch' ORDER BY msg_id$$,
                  ARRAY['2', '4']::jsonb[],
                  'messages 1 and 3 are gone; 2 (re-received) and 4 (forged receipt) remain');
SELECT is(courier.delete_batch('ls_batch', ARRAY[:'lb_r2b', (SELECT receipt FROM lb WHERE n = 4)]), 2,
          'the current receipts of 2 and 4 delete both');
SELECT is(pg_temp.msg_count('ls_batch'), 0::bigint, 'the queue is empty');
SELECT is(courier.delete_batch('ls_batch', '{}'::text[]), 0, 'delete_batch of an empty array returns 0');

SELECT courier.send('ls_batch', '"keep"') \gset
SELECT receipt AS lb_keep FROM courier.receive('ls_batch') \gset
SELECT is(courier.delete_batch('ls_a', ARRAY[:'lb_keep']), 0, 'delete_batch on another queue deletes nothing');
SELECT is(pg_temp.msg_count('ls_batch'), 1::bigint, 'and the message is still in its own queue');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete_batch(''ls_batch'', ARRAY[%L, NULL])', :'lb_keep'), '22004',
                              'delete_batch with a NULL element (nothing deleted)');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_batch('ls_batch', NULL)$$, '22004', 'delete_batch(receipts => NULL)');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete_batch(NULL, ARRAY[%L])', :'lb_keep'), '22004',
                              'delete_batch(queue_name => NULL)');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete_batch(''ls_no_such_queue'', ARRAY[%L])', :'lb_keep'), '42704',
                              'delete_batch on a missing queue');
SELECT * FROM pg_temp.rejects(format('SELECT courier.delete_batch(''ls_batch'', ARRAY[ARRAY[%L]])', :'lb_keep'), '2202E',
                              'delete_batch with a two-dimensional array');
SELECT is(courier.delete_batch('ls_batch', ARRAY[:'lb_keep']), 1, 'the receipt still deletes its message afterwards');

SELECT * FROM finish();
ROLLBACK;
