-- 04_transactions: queue operations are ordinary transactional writes (a
-- rolled-back send, receive, delete, ... leaves no trace), and a hostile
-- search_path does not change what the courier functions do.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- pgTAP assertions are never made inside a savepoint that is rolled back (that
-- would roll back pgTAP's own bookkeeping): values are carried out of the
-- savepoint in psql variables (\gset) and checked afterwards.
-- Receives in this transaction write their leases at commit (courier.defer_leases);
-- courier.flush_leases() writes them first where a test reads courier.messages.
BEGIN;
SELECT plan(37);

CREATE FUNCTION pg_temp.msg_count(q text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM courier.messages AS m WHERE m.queue_name = q $$;

SELECT courier.create_queue('tx_q') \gset

---------------------------------------------------------------------------
-- send / send_batch rolled back
---------------------------------------------------------------------------
SAVEPOINT send_sp;
SELECT courier.send('tx_q', '"rolled back"') AS tx_s1 \gset
SELECT count(*) AS tx_batch_n FROM courier.send_batch('tx_q', ARRAY['"b1"', '"b2"']::jsonb[]) \gset
SELECT count(*) AS tx_inside FROM courier.messages WHERE queue_name = 'tx_q' \gset
ROLLBACK TO SAVEPOINT send_sp;
SELECT is(:tx_inside::bigint, 3::bigint, 'inside the savepoint the three sent messages exist');
SELECT is(pg_temp.msg_count('tx_q'), 0::bigint, 'after ROLLBACK TO SAVEPOINT no sent message is left');
SELECT is((SELECT count(*) FROM courier.messages WHERE msg_id = :tx_s1), 0::bigint,
          'the id send returned names no row');
SELECT is((SELECT count(*) FROM courier.receive('tx_q', 10)), 0::bigint, 'and receive finds nothing');

SAVEPOINT outer_sp;
SELECT courier.send('tx_q', '"outer"') \gset
SAVEPOINT inner_sp;
SELECT courier.send('tx_q', '"inner"') \gset
RELEASE SAVEPOINT inner_sp;
ROLLBACK TO SAVEPOINT outer_sp;
SELECT is(pg_temp.msg_count('tx_q'), 0::bigint,
          'a send in a released inner savepoint is rolled back with its outer savepoint');

SAVEPOINT keep_sp;
SELECT courier.send('tx_q', '"kept"') AS tx_kept \gset
RELEASE SAVEPOINT keep_sp;
SELECT results_eq($$SELECT payload FROM courier.messages WHERE queue_name = 'tx_q'$$, ARRAY['"kept"']::jsonb[],
                  'a send in a released savepoint stays');

SAVEPOINT queue_sp;
SELECT courier.create_queue('tx_new') \gset
SELECT courier.send('tx_new', '1') \gset
ROLLBACK TO SAVEPOINT queue_sp;
SELECT is((SELECT count(*) FROM courier.list_queues() WHERE queue_name = 'tx_new'), 0::bigint,
          'a queue created in a rolled-back savepoint does not exist');
SELECT is(pg_temp.msg_count('tx_new'), 0::bigint, 'nor do the messages sent to it');

---------------------------------------------------------------------------
-- receive rolled back
---------------------------------------------------------------------------
SELECT row(m.*)::text AS tx_before_receive FROM courier.messages AS m WHERE msg_id = :tx_kept \gset
SAVEPOINT receive_sp;
SELECT receipt AS tx_lost_receipt, receive_count AS tx_lost_n FROM courier.receive('tx_q') \gset
ROLLBACK TO SAVEPOINT receive_sp;
SELECT is(:tx_lost_n, 1, 'inside the savepoint the message was received (receive_count 1)');
SELECT is(row(m.*)::text, :'tx_before_receive',
          'after the rollback the row is exactly as before the receive')
  FROM courier.messages AS m WHERE msg_id = :tx_kept;
SELECT results_eq(format('SELECT receive_count, first_received_at, receipt_nonce, visible_at = sent_at
                            FROM courier.messages WHERE msg_id = %s', :tx_kept),
                  $$VALUES (0, NULL::timestamptz, NULL::bigint, true)$$,
                  'receive_count is 0 again and the message is visible');
SELECT receipt AS tx_receipt, receive_count AS tx_n FROM courier.receive('tx_q') \gset
SELECT is(:tx_n, 1, 'the next receive gets it as its first delivery');
SELECT isnt(:'tx_receipt'::text, :'tx_lost_receipt'::text, 'with another receipt than the rolled-back receive');
SELECT is(courier.delete('tx_q', :'tx_lost_receipt'), false,
          'the rolled-back receive''s receipt names no lease (delete returns false)');

---------------------------------------------------------------------------
-- change_visibility, release, delete rolled back
---------------------------------------------------------------------------
SELECT courier.flush_leases() AS flushed \gset
SELECT row(m.*)::text AS tx_leased FROM courier.messages AS m WHERE msg_id = :tx_kept \gset
SAVEPOINT cv_sp;
SELECT courier.change_visibility('tx_q', :'tx_receipt', '0') AS tx_cv \gset
ROLLBACK TO SAVEPOINT cv_sp;
SAVEPOINT release_sp;
SELECT courier.release('tx_q', :'tx_receipt', 'rolled back error') AS tx_rel \gset
ROLLBACK TO SAVEPOINT release_sp;
SELECT is(:'tx_cv' || '/' || :'tx_rel', 't/t', 'inside savepoints change_visibility and release succeeded');
SELECT is(row(m.*)::text, :'tx_leased',
          'after rolling them back the lease and last_error are unchanged')
  FROM courier.messages AS m WHERE msg_id = :tx_kept;
SELECT is((SELECT count(*) FROM courier.receive('tx_q')), 0::bigint, 'the message is still leased');

SAVEPOINT delete_sp;
SELECT courier.delete('tx_q', :'tx_receipt') AS tx_deleted \gset
SELECT count(*) AS tx_after_delete FROM courier.messages WHERE msg_id = :tx_kept \gset
ROLLBACK TO SAVEPOINT delete_sp;
SELECT is(:'tx_deleted' || '/' || :tx_after_delete, 't/0', 'inside the savepoint delete removed the message');
SELECT is(row(m.*)::text, :'tx_leased', 'after the rollback the message is back, unchanged')
  FROM courier.messages AS m WHERE msg_id = :tx_kept;
SELECT is(courier.delete('tx_q', :'tx_receipt'), true, 'and its receipt still deletes it');

SELECT courier.send('tx_q', '"survivor"') \gset
SAVEPOINT purge_sp;
SELECT courier.purge_queue('tx_q') AS tx_purged \gset
ROLLBACK TO SAVEPOINT purge_sp;
SAVEPOINT drop_sp;
SELECT courier.drop_queue('tx_q') AS tx_dropped \gset
ROLLBACK TO SAVEPOINT drop_sp;
SELECT is(:'tx_purged' || '/' || :'tx_dropped', '1/t', 'inside savepoints purge_queue and drop_queue succeeded');
SELECT results_eq($$SELECT q.queue_name COLLATE "default", m.payload
                      FROM courier.list_queues() AS q JOIN courier.messages AS m USING (queue_name)
                     WHERE q.queue_name = 'tx_q'$$,
                  $$VALUES ('tx_q'::text, '"survivor"'::jsonb)$$,
                  'after rolling them back the queue and its message are there');

---------------------------------------------------------------------------
-- A hostile search_path changes nothing
---------------------------------------------------------------------------
SELECT courier.create_queue('sec_q') \gset
SELECT courier.create_queue('sec_other') \gset
SELECT courier.send('sec_other', '"other queue"') AS sec_other_id \gset
-- Prime the cached plans under the normal search_path first: they must be
-- re-planned safely when the search_path changes.
SELECT courier.send('sec_q', '"warm up"') \gset
SELECT courier.delete('sec_q', receipt) FROM courier.receive('sec_q') \gset

CREATE SCHEMA evil;
CREATE TABLE evil.queues (LIKE courier.queues INCLUDING DEFAULTS);
CREATE TABLE evil.messages (LIKE courier.messages INCLUDING DEFAULTS);
INSERT INTO evil.queues VALUES ('sec_q', '0', '0', '14 days', 1048576, now(), now());
INSERT INTO evil.messages (msg_id, visible_at, sent_at, queue_name, payload)
VALUES (-1, '-infinity', now(), 'sec_q', '"from evil.messages"');
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01 00:00:00+00'::timestamptz $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01 00:00:00+00'::timestamptz $$;
CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE sql AS $$ SELECT -42::bigint $$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql
    AS $$ SELECT u FROM pg_catalog.unnest($1) AS u WHERE false $$;
CREATE FUNCTION evil.yes(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION evil.yes(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION evil.yes(integer, integer) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION evil.yes(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION evil.plus(integer, integer) RETURNS integer LANGUAGE sql AS $$ SELECT 1000 $$;
CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.yes);
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.yes);
CREATE OPERATOR evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.yes);
CREATE OPERATOR evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.yes);
CREATE OPERATOR evil.> (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.yes);
CREATE OPERATOR evil.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.yes);
CREATE OPERATOR evil.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.plus);
CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);

SET LOCAL search_path = evil, public, pg_catalog;
-- Controls: the hostile objects really do shadow the built-ins here.
SELECT now() AS sec_evil_now, ('a'::pg_catalog.text = 'b'::pg_catalog.text) AS sec_evil_eq,
       (1 + 1) AS sec_evil_plus \gset
SELECT courier.create_queue('sec_made') \gset
SELECT courier.send('sec_q', '{"secure": 1}', '{"type": "sec.test", "k": "v"}') AS sec_id \gset
SELECT courier.send('sec_q', '"delayed"', delay => '10 minutes') AS sec_delayed_id \gset
SELECT count(*) AS sec_batch_n FROM courier.send_batch('sec_q', ARRAY['"b1"', '"b2"']::jsonb[]) \gset
CREATE TEMP TABLE sec_got AS SELECT * FROM courier.receive('sec_q', 10);
SELECT receipt AS sec_r1 FROM sec_got ORDER BY msg_id LIMIT 1 \gset
SELECT receipt AS sec_r2 FROM sec_got ORDER BY msg_id LIMIT 1 OFFSET 1 \gset
SELECT receipt AS sec_r3 FROM sec_got ORDER BY msg_id LIMIT 1 OFFSET 2 \gset
SELECT courier.delete('sec_q', :'sec_r2') AS sec_del_ok \gset
SELECT courier.change_visibility('sec_q', :'sec_r3', '0') AS sec_cv_ok \gset
SELECT courier.release('sec_q', :'sec_r1', 'evil-path error') AS sec_rel_ok \gset
SELECT courier.delete_batch('sec_q', ARRAY[:'sec_r2']) AS sec_delb_stale \gset
SELECT courier.delete('sec_q', :'sec_r2') AS sec_del_stale \gset
SET LOCAL search_path TO DEFAULT;

SELECT is(:'sec_evil_now'::timestamptz, '2000-01-01 00:00:00+00'::timestamptz, 'control: now() is evil.now() under the hostile path');
SELECT is(:'sec_evil_eq'::boolean, true, 'control: = on text is evil.= under the hostile path');
SELECT is(:sec_evil_plus, 1000, 'control: + on integer is evil.+ under the hostile path');

SELECT results_eq($$SELECT pg_temp.msg_count('sec_made'), (SELECT count(*) FROM courier.list_queues() WHERE queue_name = 'sec_made')$$,
                  $$VALUES (0::bigint, 1::bigint)$$,
                  'create_queue under the hostile path creates the queue in courier.queues');
SELECT ok(created_at > courier.now() - interval '1 minute' AND visibility_timeout = interval '30 seconds',
          'with the courier clock and the real defaults')
  FROM courier.list_queues() WHERE queue_name = 'sec_made';
SELECT ok(:sec_id > 0, 'send under the hostile path returns a real id (not evil.nextval)');
SELECT results_eq(format('SELECT queue_name COLLATE "default", payload, headers, type,
                                 sent_at > courier.now() - interval ''1 minute''
                            FROM courier.messages WHERE msg_id = %s', :sec_id),
                  $$VALUES ('sec_q'::text, '{"secure": 1}'::jsonb, '{"k": "v"}'::jsonb, 'sec.test'::text, true)$$,
                  'send under the hostile path stores the message as usual');
SELECT is(:sec_batch_n::bigint, 2::bigint, 'send_batch under the hostile path sends both messages (not evil.unnest)');
SELECT results_eq('SELECT payload, receive_count FROM sec_got ORDER BY msg_id',
                  $$VALUES ('{"secure": 1}'::jsonb, 1), ('"b1"', 1), ('"b2"', 1)$$,
                  'receive under the hostile path returns exactly the visible messages of the queue, counted from 1');
SELECT ok(bool_and(receipt ~ ('^' || msg_id || ':1:[0-9a-f]{16}$') AND visible_at - first_received_at = interval '30 seconds'),
          'with well-formed receipts and 30-second leases')
  FROM sec_got;
SELECT results_eq(format('SELECT receive_count FROM courier.messages WHERE msg_id IN (%s, %s) ORDER BY msg_id',
                         :sec_other_id, :sec_delayed_id),
                  ARRAY[0, 0],
                  'the other queue''s message and the delayed message were not leased');
SELECT results_eq($$SELECT (SELECT count(*) FROM evil.messages), (SELECT count(*) FROM evil.queues)$$,
                  $$VALUES (1::bigint, 1::bigint)$$,
                  'the shadowing tables were neither read as queues nor written');
SELECT is(:'sec_del_ok' || :'sec_cv_ok' || :'sec_rel_ok' || :sec_delb_stale || :'sec_del_stale', 'ttt0f',
          'delete, change_visibility and release work; a deleted message''s receipt deletes nothing');
SELECT results_eq($$SELECT payload, receive_count, last_error FROM courier.messages WHERE queue_name = 'sec_q' ORDER BY msg_id$$,
                  $$VALUES ('{"secure": 1}'::jsonb, 1, 'evil-path error'::text), ('"delayed"', 0, NULL), ('"b2"', 1, NULL)$$,
                  'courier.messages holds exactly what those calls should have left');
SELECT results_eq($$SELECT payload FROM courier.receive('sec_q', 10)$$, ARRAY['{"secure": 1}', '"b2"']::jsonb[],
                  'back under the normal search_path, the released and changed leases are visible again');

SELECT * FROM finish();
ROLLBACK;
