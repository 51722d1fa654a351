-- 09_deferred_leases: inside a transaction block, receive on a standard
-- queue locks the messages and writes their leases at commit
-- (courier.defer_leases, src/queue_defer.c).  Within one transaction: what
-- courier.messages shows, courier.flush_leases(), a message deleted before
-- commit (its lease is never written), a second receive, change_visibility
-- and release of a deferred lease, savepoints rolled back around receives
-- and deletes, delete_batch mixing deferred, stale and committed receipts,
-- dead-letter moves and redrive.  What other sessions see, and commit,
-- rollback and PREPARE TRANSACTION, are in test/specs/queue_deferred_lease.spec.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- Time moves only through courier.clock_offset; nothing sleeps.
BEGIN;
SELECT plan(37);
SET LOCAL courier.defer_leases = on;

SELECT courier.create_queue('df_q', visibility_timeout => '30 seconds');
SELECT courier.create_queue('df_dlq');
SELECT courier.create_queue('df_src', dead_letter_queue => 'df_dlq', max_receive_count => 1,
                            visibility_timeout => '10 seconds');

---------------------------------------------------------------------------
-- A deferred lease, then written by flush_leases()
---------------------------------------------------------------------------
SELECT courier.send('df_q', '"one"') AS m1 \gset
SELECT receipt AS r1, receive_count AS n1, visible_at AS v1, first_received_at AS f1
  FROM courier.receive('df_q') \gset
SELECT is(:n1, 1, 'receive returns the message as its first delivery');
SELECT ok(:'v1'::timestamptz - :'f1'::timestamptz = interval '30 seconds', 'with a 30 s lease');
SELECT results_eq(format('SELECT receive_count, receipt_nonce IS NULL, visible_at <= courier.now()
                            FROM courier.messages WHERE msg_id = %s', :m1),
                  $$VALUES (0, true, true)$$,
                  'until commit, courier.messages shows this transaction the message as before the receive');
SELECT is((SELECT count(*) FROM courier.receive('df_q')), 0::bigint,
          'a second receive in the transaction does not get it again');
SELECT results_eq(format('SELECT receive_count, visible_at, first_received_at, last_received_at
                            FROM courier.messages WHERE msg_id = %s', :m1),
                  format($$VALUES (1, %L::timestamptz, %L::timestamptz, %L::timestamptz)$$, :'v1', :'f1', :'f1'),
                  'the second receive wrote the lease first, with the values receive returned');
SELECT is(courier.flush_leases(), 0, 'nothing is left waiting');
SELECT is(courier.delete('df_q', :'r1'), true, 'the receipt deletes the written lease');

SELECT courier.send('df_q', '"two"') AS m2 \gset
SELECT receipt AS r2, visible_at AS v2 FROM courier.receive('df_q') \gset
SELECT is(courier.flush_leases(), 1, 'flush_leases() writes the one waiting lease and says so');
SELECT results_eq(format('SELECT receive_count, visible_at FROM courier.messages WHERE msg_id = %s', :m2),
                  format($$VALUES (1, %L::timestamptz)$$, :'v2'),
                  'courier.messages now shows it');
SELECT is(courier.flush_leases(), 0, 'a second flush_leases() has nothing to write');
SELECT is(courier.delete('df_q', :'r2'), true, 'and the receipt still deletes it');

---------------------------------------------------------------------------
-- Deleted before commit: the lease is never written
---------------------------------------------------------------------------
SELECT courier.send('df_q', '"three"') AS m3 \gset
SELECT receipt AS r3 FROM courier.receive('df_q') \gset
SELECT is(courier.delete('df_q', :'r3'), true, 'delete with the deferred lease''s receipt returns true');
SELECT is((SELECT count(*) FROM courier.messages WHERE msg_id = :m3), 0::bigint, 'the message is gone');
SELECT is(courier.flush_leases(), 0, 'and there is no lease left to write');
SELECT is(courier.delete('df_q', :'r3'), false, 'deleting again returns false');

-- A receipt the deferred lease replaced is stale.
SELECT courier.send('df_q', '"four"') AS m4 \gset
SELECT receipt AS r4a FROM courier.receive('df_q', 1, '0') \gset
SELECT receipt AS r4b, receive_count AS n4b FROM courier.receive('df_q') \gset
SELECT is(:n4b, 2, 'with visibility timeout 0 the message comes back at once: second delivery');
SELECT is(courier.delete('df_q', :'r4a'), false, 'the first delivery''s receipt deletes nothing');
SELECT is(courier.change_visibility('df_q', :'r4a', '1 minute'), false, '... and extends nothing');
SELECT is(courier.delete('df_q', :'r4b'), true, 'the current one deletes it');

---------------------------------------------------------------------------
-- change_visibility and release of a deferred lease
---------------------------------------------------------------------------
SELECT courier.send('df_q', '"five"') AS m5 \gset
SELECT receipt AS r5 FROM courier.receive('df_q') \gset
SELECT courier.now() AS cv_at \gset
SELECT is(courier.change_visibility('df_q', :'r5', '2 minutes'), true, 'change_visibility of a deferred lease');
SELECT ok(visible_at BETWEEN :'cv_at'::timestamptz + interval '2 minutes'
                         AND courier.now() + interval '2 minutes' AND receive_count = 1,
          'writes the lease, then moves its end to now + 2 minutes')
  FROM courier.messages WHERE msg_id = :m5;
SELECT is(courier.release('df_q', :'r5', 'no thanks'), true, 'release of the same lease');
SELECT results_eq(format('SELECT last_error, visible_at <= courier.now() FROM courier.messages WHERE msg_id = %s', :m5),
                  $$VALUES ('no thanks'::text, true)$$, 'records the error and makes the message visible');
SELECT receipt AS r5b, receive_count AS n5b FROM courier.receive('df_q') \gset
SELECT is(:n5b, 2, 'the next receive is its second delivery');
SELECT is(courier.delete('df_q', :'r5b'), true, 'and deletes it');

---------------------------------------------------------------------------
-- Savepoints
---------------------------------------------------------------------------
SELECT courier.send('df_q', '"six"') AS m6 \gset
SAVEPOINT sp_receive;
SELECT receipt AS r6_lost FROM courier.receive('df_q') \gset
ROLLBACK TO SAVEPOINT sp_receive;
SELECT is(courier.flush_leases(), 0, 'a receive rolled back to its savepoint leaves no lease waiting');
SELECT receipt AS r6, receive_count AS n6 FROM courier.receive('df_q') \gset
SELECT is(:n6, 1, 'the message is received again as its first delivery');
SELECT is(courier.delete('df_q', :'r6_lost'), false, 'the rolled-back receive''s receipt deletes nothing');
SAVEPOINT sp_delete;
SELECT courier.delete('df_q', :'r6') AS d6 \gset
ROLLBACK TO SAVEPOINT sp_delete;
SELECT is(:'d6'::boolean, true, 'inside the savepoint the delete succeeded');
SELECT is(courier.flush_leases(), 1, 'rolled back, the lease is waiting again and is written');
SELECT is(receive_count, 1, 'the message is there with its lease') FROM courier.messages WHERE msg_id = :m6;
SELECT is(courier.delete('df_q', :'r6'), true, 'and its receipt deletes it');

---------------------------------------------------------------------------
-- delete_batch: deferred, stale and written leases together
---------------------------------------------------------------------------
SELECT count(*) AS sent_b FROM courier.send_batch('df_q', ARRAY['"b1"', '"b2"', '"b3"']::jsonb[]) \gset
SELECT array_agg(receipt ORDER BY msg_id) AS rb FROM courier.receive('df_q', 2) \gset
SELECT receipt AS rb3 FROM courier.receive('df_q', 1) \gset
SELECT is(courier.delete_batch('df_q', :'rb'::text[] || :'rb3'::text || ('999999:1:' || repeat('0', 16))),
          3, 'delete_batch deletes two deferred leases and one written by the second receive, not an unknown one');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'df_q'), 0::bigint, 'df_q is empty');

---------------------------------------------------------------------------
-- Dead letters and redrive
---------------------------------------------------------------------------
SELECT courier.send('df_src', '"doomed"') AS d1 \gset
SELECT count(*) AS got_doomed FROM courier.receive('df_src') \gset
SET LOCAL courier.clock_offset = '11s';
SELECT courier.send('df_src', '"fresh"') AS d2 \gset
SELECT results_eq($$SELECT payload, receive_count FROM courier.receive('df_src', 10)$$,
                  $$VALUES ('"fresh"'::jsonb, 1)$$,
                  'after the deferred lease ran out, one receive moves the first message and returns the fresh one once');
SELECT is((SELECT receive_count FROM courier.dead_letters WHERE msg_id = :d1), 1,
          'the dead letter counts its one delivery');
SELECT count(*) AS got_dead FROM courier.receive('df_dlq') \gset
SELECT is(courier.redrive('df_dlq'), 0::bigint, 'a dead letter this transaction has received is leased: redrive leaves it');
SET LOCAL courier.clock_offset = 0;

SELECT * FROM finish();
ROLLBACK;
