-- 01_queue_admin: create_queue, alter_queue, drop_queue, purge_queue and
-- list_queues, including every rejected input and its SQLSTATE.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- Everything happens in one transaction that is rolled back at the end.
BEGIN;
SELECT plan(122);

-- Fingerprint of everything pg_courier stores (queues and messages), used to
-- prove that a rejected call changed nothing.
CREATE FUNCTION pg_temp.courier_state() RETURNS text
LANGUAGE sql AS $$
    SELECT pg_catalog.md5(
        coalesce((SELECT string_agg(q::text, '|' ORDER BY q.queue_name) FROM courier.queues AS q), '')
        || '#' ||
        coalesce((SELECT string_agg(m::text, '|' ORDER BY m.msg_id) FROM courier.messages AS m), ''))
$$;

-- Two tests: the statement raises exactly errcode, and afterwards the stored
-- state is what it was before.
CREATE FUNCTION pg_temp.rejects(stmt text, errcode text, descr text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.courier_state();
BEGIN
    RETURN NEXT throws_ok(stmt, errcode::char(5), NULL, descr || ' raises ' || errcode);
    RETURN NEXT is(pg_temp.courier_state(), before, descr || ': nothing changed');
END
$$;

CREATE FUNCTION pg_temp.attrs(name text)
RETURNS TABLE (vt interval, delay interval, retention interval, max_bytes integer)
LANGUAGE sql AS $$
    SELECT l.visibility_timeout, l.delay, l.retention, l.max_message_bytes
      FROM courier.list_queues() AS l WHERE l.queue_name = name
$$;

---------------------------------------------------------------------------
-- create_queue: defaults, explicit attributes, limits that are accepted
---------------------------------------------------------------------------
SELECT courier.now() AS t_before \gset
SELECT lives_ok($$SELECT courier.create_queue('adm_default')$$,
                'create_queue with only a name succeeds');
SELECT courier.now() AS t_after \gset

SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_default')$$,
    $$VALUES (interval '30 seconds', interval '0', interval '4 days', 262144)$$,
    'defaults: visibility_timeout 30s, delay 0, retention 4 days, max_message_bytes 262144');

SELECT ok(created_at >= :'t_before'::timestamptz AND created_at <= :'t_after'::timestamptz,
          'created_at is the courier clock at creation')
  FROM courier.list_queues() WHERE queue_name = 'adm_default';
SELECT is(updated_at, created_at, 'a new queue has updated_at = created_at')
  FROM courier.list_queues() WHERE queue_name = 'adm_default';

-- create_queue reads the controllable clock, not the wall clock.
SET LOCAL courier.clock_offset = '2d';
SELECT courier.create_queue('adm_later') \gset
SELECT ok(created_at > clock_timestamp() + interval '47 hours'
          AND created_at < clock_timestamp() + interval '49 hours',
          'created_at follows courier.clock_offset (2 days ahead)')
  FROM courier.list_queues() WHERE queue_name = 'adm_later';
SET LOCAL courier.clock_offset = 0;

SELECT lives_ok(
    $$SELECT courier.create_queue('adm_custom', visibility_timeout => '45 seconds',
                                  delay => '5 seconds', retention => '2 days',
                                  max_message_bytes => 4096)$$,
    'create_queue with every attribute given succeeds');
SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_custom')$$,
    $$VALUES (interval '45 seconds', interval '5 seconds', interval '2 days', 4096)$$,
    'explicit attributes are stored as given');

SELECT lives_ok(
    $$SELECT courier.create_queue('adm_max', '12 hours', '15 minutes', '14 days', 1048576)$$,
    'the upper limits (12h, 15min, 14 days, 1048576) are accepted');
SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_max')$$,
    $$VALUES (interval '12 hours', interval '15 minutes', interval '14 days', 1048576)$$,
    'upper-limit attributes are stored');
SELECT lives_ok(
    $$SELECT courier.create_queue('adm_min', '0', '0', '60 seconds', 1024)$$,
    'the lower limits (0, 0, 60s, 1024) are accepted');
SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_min')$$,
    $$VALUES (interval '0', interval '0', interval '60 seconds', 1024)$$,
    'lower-limit attributes are stored');

SELECT lives_ok(format('SELECT courier.create_queue(%L)', repeat('n', 80)),
                'an 80-character name is accepted');
SELECT lives_ok($$SELECT courier.create_queue('Mixed-Case_09.fifo')$$,
                'letters, digits, "-", "_" and a ".fifo" suffix are accepted');

SELECT results_eq(
    format($$SELECT queue_name FROM courier.list_queues()
              WHERE queue_name IN ('adm_min', 'adm_default', 'Mixed-Case_09.fifo', %L,
                                   'adm_custom', 'adm_max', 'adm_later')$$, repeat('n', 80)),
    ARRAY['Mixed-Case_09.fifo', 'adm_custom', 'adm_default', 'adm_later', 'adm_max',
          'adm_min', repeat('n', 80)],
    'list_queues lists every queue, ordered by name (byte order)');

---------------------------------------------------------------------------
-- alter_queue: only the non-null arguments change
---------------------------------------------------------------------------
SELECT created_at AS custom_created FROM courier.list_queues() WHERE queue_name = 'adm_custom' \gset
SELECT row(a.*)::text AS default_row FROM courier.list_queues() AS a WHERE queue_name = 'adm_default' \gset

SET LOCAL courier.clock_offset = '1h';
SELECT lives_ok($$SELECT courier.alter_queue('adm_custom', delay => '10 seconds')$$,
                'alter_queue with only delay succeeds');
SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_custom')$$,
    $$VALUES (interval '45 seconds', interval '10 seconds', interval '2 days', 4096)$$,
    'alter_queue(delay) changes delay only');
SELECT is(created_at, :'custom_created'::timestamptz, 'alter_queue keeps created_at')
  FROM courier.list_queues() WHERE queue_name = 'adm_custom';
SELECT ok(updated_at - created_at > interval '59 minutes'
          AND updated_at - created_at < interval '61 minutes',
          'alter_queue sets updated_at from the courier clock')
  FROM courier.list_queues() WHERE queue_name = 'adm_custom';

SELECT courier.alter_queue('adm_custom', visibility_timeout => '1 minute', retention => '3 days') \gset
SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_custom')$$,
    $$VALUES (interval '1 minute', interval '10 seconds', interval '3 days', 4096)$$,
    'alter_queue(visibility_timeout, retention) leaves delay and max_message_bytes alone');

SELECT courier.alter_queue('adm_custom', max_message_bytes => 2048) \gset
SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_custom')$$,
    $$VALUES (interval '1 minute', interval '10 seconds', interval '3 days', 2048)$$,
    'alter_queue(max_message_bytes) changes only max_message_bytes');

SELECT courier.alter_queue('adm_custom', NULL, NULL, NULL, NULL) \gset
SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_custom')$$,
    $$VALUES (interval '1 minute', interval '10 seconds', interval '3 days', 2048)$$,
    'alter_queue with every attribute null changes no attribute');

SELECT courier.alter_queue('adm_custom', '2 minutes', '0', '60 seconds', 1024) \gset
SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_custom')$$,
    $$VALUES (interval '2 minutes', interval '0', interval '60 seconds', 1024)$$,
    'alter_queue with every attribute changes all of them');

SELECT is(row(a.*)::text, :'default_row', 'altering one queue leaves the others untouched')
  FROM courier.list_queues() AS a WHERE queue_name = 'adm_default';
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- drop_queue
---------------------------------------------------------------------------
SELECT courier.create_queue('adm_drop') \gset
SELECT courier.create_queue('adm_keep') \gset
SELECT courier.send('adm_drop', '{"n": 1}') AS drop_m1 \gset
SELECT courier.send('adm_drop', '{"n": 2}') AS drop_m2 \gset
SELECT courier.send('adm_drop', '{"n": 3}', delay => '10 minutes') AS drop_m3 \gset
SELECT courier.send('adm_keep', '{"keep": true}') AS keep_m1 \gset
SELECT msg_id AS drop_leased FROM courier.receive('adm_drop', 1) \gset

SELECT is(courier.drop_queue('adm_drop'), true, 'drop_queue returns true for an existing queue');
SELECT is((SELECT count(*) FROM courier.list_queues() WHERE queue_name = 'adm_drop'), 0::bigint,
          'the dropped queue is gone from list_queues');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'adm_drop'), 0::bigint,
          'drop_queue deletes the queue''s visible, in-flight and delayed messages');
SELECT results_eq($$SELECT msg_id, payload FROM courier.messages WHERE queue_name = 'adm_keep'$$,
                  format($$VALUES (%s::bigint, '{"keep": true}'::jsonb)$$, :keep_m1),
                  'drop_queue leaves other queues'' messages alone');
SELECT is(courier.drop_queue('adm_missing', if_exists => true), false,
          'drop_queue(if_exists => true) returns false for a missing queue');
SELECT is(courier.drop_queue('adm_drop', true), false,
          'drop_queue(if_exists => true) returns false for an already dropped queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_queue('adm_missing')$$, '42704',
                              'drop_queue of a missing queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_queue('adm_drop')$$, '42704',
                              'drop_queue of an already dropped queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_queue(NULL)$$, '22004',
                              'drop_queue(NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_queue('adm_keep', NULL)$$, '22004',
                              'drop_queue(if_exists => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.send('adm_drop', '{}')$$, '42704',
                              'send to a dropped queue');
SELECT courier.create_queue('adm_drop') \gset
SELECT is((SELECT count(*) FROM courier.receive('adm_drop', 10)), 0::bigint,
          'a queue re-created under a dropped name starts empty');

---------------------------------------------------------------------------
-- purge_queue
---------------------------------------------------------------------------
SELECT courier.create_queue('adm_purge') \gset
SELECT courier.send('adm_purge', '"in flight"') \gset
SELECT is((SELECT payload FROM courier.receive('adm_purge', 10)), '"in flight"'::jsonb,
          'purge setup: one message is in flight');
SELECT courier.send('adm_purge', '"visible"') \gset
SELECT courier.send('adm_purge', '"delayed"', delay => '15 minutes') \gset
SELECT is(courier.purge_queue('adm_purge'), 3::bigint,
          'purge_queue returns the number of messages removed (visible + in flight + delayed)');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'adm_purge'), 0::bigint,
          'purge_queue leaves no message in the queue');
SET LOCAL courier.clock_offset = '1h';
SELECT is((SELECT count(*) FROM courier.receive('adm_purge', 10)), 0::bigint,
          'nothing becomes receivable after a purge, even once leases and delays are over');
SET LOCAL courier.clock_offset = 0;
SELECT is((SELECT count(*) FROM courier.list_queues() WHERE queue_name = 'adm_purge'), 1::bigint,
          'purge_queue keeps the queue itself');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'adm_keep'), 1::bigint,
          'purge_queue leaves other queues'' messages alone');
SELECT is(courier.purge_queue('adm_purge'), 0::bigint, 'purging an empty queue returns 0');
SELECT * FROM pg_temp.rejects($$SELECT courier.purge_queue('adm_missing')$$, '42704',
                              'purge_queue of a missing queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.purge_queue(NULL)$$, '22004',
                              'purge_queue(NULL)');

---------------------------------------------------------------------------
-- create_queue: rejected input
---------------------------------------------------------------------------
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_default')$$, '42710',
                              'create_queue of an existing name');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_default', '1 minute', '1 minute', '1 day', 2048)$$,
                              '42710', 'create_queue of an existing name with other attributes');

SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('has space')$$, '42602',
                              'name with a space');
SELECT * FROM pg_temp.rejects(format('SELECT courier.create_queue(%L)', repeat('a', 81)), '42602',
                              'name of 81 characters');
SELECT * FROM pg_temp.rejects(format('SELECT courier.create_queue(%L)', repeat('a', 76) || '.fifo'),
                              '42602', 'name of 81 characters ending in .fifo');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('')$$, '42602', 'empty name');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('.')$$, '42602', 'name "."');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('.fifo')$$, '42602', 'name ".fifo"');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('dot.name')$$, '42602',
                              'name with a dot other than the .fifo suffix');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('café')$$, '42602',
                              'name with a non-ASCII letter');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('队列')$$, '42602',
                              'name in CJK characters');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue(E'adm\nq')$$, '42602',
                              'name with a newline');

SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', visibility_timeout => '12 hours 1 second')$$,
                              '22023', 'visibility_timeout over 12 hours');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', visibility_timeout => '-1 second')$$,
                              '22023', 'negative visibility_timeout');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', delay => '15 minutes 1 second')$$,
                              '22023', 'delay over 15 minutes');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', delay => '-1 second')$$,
                              '22023', 'negative delay');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', retention => '59 seconds')$$,
                              '22023', 'retention under 60 seconds');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', retention => '14 days 1 second')$$,
                              '22023', 'retention over 14 days');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', max_message_bytes => 1023)$$,
                              '22023', 'max_message_bytes under 1024');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', max_message_bytes => 1048577)$$,
                              '22023', 'max_message_bytes over 1048576');

SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue(NULL)$$, '22004', 'create_queue(NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', visibility_timeout => NULL)$$,
                              '22004', 'create_queue(visibility_timeout => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', delay => NULL)$$,
                              '22004', 'create_queue(delay => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', retention => NULL)$$,
                              '22004', 'create_queue(retention => NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_queue('adm_bad', max_message_bytes => NULL)$$,
                              '22004', 'create_queue(max_message_bytes => NULL)');

---------------------------------------------------------------------------
-- alter_queue: rejected input
---------------------------------------------------------------------------
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('adm_missing', delay => '1 second')$$,
                              '42704', 'alter_queue of a missing queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue(NULL, delay => '1 second')$$,
                              '22004', 'alter_queue(NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('adm_default', visibility_timeout => '13 hours')$$,
                              '22023', 'alter_queue visibility_timeout over 12 hours');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('adm_default', visibility_timeout => '-5 seconds')$$,
                              '22023', 'alter_queue negative visibility_timeout');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('adm_default', delay => '16 minutes')$$,
                              '22023', 'alter_queue delay over 15 minutes');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('adm_default', retention => '30 seconds')$$,
                              '22023', 'alter_queue retention under 60 seconds');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('adm_default', retention => '15 days')$$,
                              '22023', 'alter_queue retention over 14 days');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('adm_default', max_message_bytes => 1000)$$,
                              '22023', 'alter_queue max_message_bytes under 1024');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('adm_default', max_message_bytes => 2000000)$$,
                              '22023', 'alter_queue max_message_bytes over 1048576');
SELECT * FROM pg_temp.rejects($$SELECT courier.alter_queue('adm_default', delay => '5 seconds', retention => '15 days')$$,
                              '22023', 'alter_queue with one valid and one invalid attribute (the valid one is not applied)');

SELECT results_eq(
    $$SELECT * FROM pg_temp.attrs('adm_default')$$,
    $$VALUES (interval '30 seconds', interval '0', interval '4 days', 262144)$$,
    'after all the rejected calls adm_default still has its defaults');

SELECT * FROM finish();
ROLLBACK;
