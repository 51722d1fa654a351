-- 11_bus_archives: EventBridge archives and replays: create/delete/list
-- archives (validation, audit, bus version), archiving by put_events (the
-- archive's pattern, replayed events never archived again), partitions
-- created on demand per archive and UTC day, retention dropping whole
-- partitions as the clock moves, tomorrow's partition made ahead, orphan
-- partitions removed; replays: validation, the event-time range, batches in
-- (event_time, event_id) order with a cursor, only the chosen rules,
-- "replay-name" on the delivered event with its id unchanged, dry runs,
-- cancel, FAILED when a rule, the archive or the bus is gone or a delivery
-- fails, tick() advancing them, the audit trail, and misuse rejected with a
-- SQLSTATE and no change.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run, in a
-- database with no committed archives or replays.  Time moves only through
-- courier.clock_offset; nothing sleeps.  Concurrent ticks are tested by
-- test/specs/replay_concurrent_ticks.spec, pg_dump by
-- test/scenarios/dump_restore.sh.
BEGIN;
SELECT plan(176);

-- Fingerprint of what buses, archives, replays and queues store, to prove a
-- rejected call changed nothing.
CREATE FUNCTION pg_temp.courier_state() RETURNS text
LANGUAGE sql AS $$
    SELECT pg_catalog.md5(
        coalesce((SELECT string_agg(b::text, '|' ORDER BY b.bus_name) FROM courier.buses AS b), '')
        || '#' ||
        coalesce((SELECT string_agg(a::text, '|' ORDER BY a.archive_id) FROM courier.archives AS a), '')
        || '#' ||
        coalesce((SELECT string_agg(e::text, '|' ORDER BY e.archive_id, e.event_time, e.event_id)
                    FROM courier.archived_events AS e), '')
        || '#' ||
        coalesce((SELECT string_agg(c.relname, '|' ORDER BY c.relname) FROM pg_class AS c
                   WHERE c.relnamespace = 'courier'::regnamespace AND c.relname LIKE 'archived_events_%'), '')
        || '#' ||
        coalesce((SELECT string_agg(r::text, '|' ORDER BY r.replay_name) FROM courier.bus_replays AS r), '')
        || '#' ||
        coalesce((SELECT string_agg(m::text, '|' ORDER BY m.msg_id) FROM courier.messages AS m), '')
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

-- The messages waiting in a queue, oldest first, received and deleted.
CREATE FUNCTION pg_temp.drain(queue text) RETURNS TABLE (payload jsonb, headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM courier.receive(queue, 100) ORDER BY msg_id LOOP
        payload := r.payload;
        headers := r.headers;
        RETURN NEXT;
        PERFORM courier.delete(queue, r.receipt);
    END LOOP;
END
$$;

CREATE FUNCTION pg_temp.archive_id(archive text) RETURNS bigint
LANGUAGE sql AS $$ SELECT a.archive_id FROM courier.archives AS a WHERE a.archive_name = archive $$;

-- The days of an archive's partitions, relative to the UTC day of courier.now().
CREATE FUNCTION pg_temp.partition_days(archive text) RETURNS integer[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(p.archived_day - courier._archive_day(courier.now()) ORDER BY p.archived_day), '{}')
      FROM courier._archive_partitions(pg_temp.archive_id(archive)) AS p
$$;

-- An entry for put_events with an event time hours before now.
CREATE FUNCTION pg_temp.entry(detail_type text, n integer, hours_ago integer) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('source', 'shop', 'detail-type', detail_type, 'detail', jsonb_build_object('n', n),
                              'time', to_char((courier.now() - make_interval(hours => hours_ago)) AT TIME ZONE 'UTC',
                                              'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
$$;

-- A whole event as put_events builds it, for _archive_event.
CREATE FUNCTION pg_temp.event(id uuid, detail_type text, event_time timestamptz, detail jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('version', '0', 'id', id, 'detail-type', detail_type, 'source', 'shop',
                              'account', 'a', 'time', to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                              'region', 'r', 'resources', '[]'::jsonb, 'detail', detail)
$$;

CREATE FUNCTION pg_temp.replay(name text) RETURNS courier.replays
LANGUAGE sql AS $$ SELECT * FROM courier.replays AS r WHERE r.replay_name = name $$;

---------------------------------------------------------------------------
-- Setup: a bus with two rules, each targeting a queue
---------------------------------------------------------------------------
SELECT courier.create_bus('ab') \gset
SELECT courier.create_bus('ab_other') \gset
SELECT courier.create_queue('ab_q1') \gset
SELECT courier.create_queue('ab_q2') \gset
SELECT courier.put_rule('ab', 'r1', '{"source": ["shop"]}') \gset
SELECT courier.put_rule('ab', 'r2', '{"source": ["shop"]}') \gset
SELECT courier.put_target('ab', 'r1', 't1', 'queue:ab_q1') \gset
SELECT courier.put_target('ab', 'r2', 't2', 'queue:ab_q2') \gset

---------------------------------------------------------------------------
-- create_archive
---------------------------------------------------------------------------
CREATE TEMP TABLE v0 AS SELECT version FROM courier.buses WHERE bus_name = 'ab';
SELECT ok(courier.create_archive('ab_all', 'ab', description => 'everything') > 0,
          'create_archive returns the archive id');
SELECT ok((SELECT version FROM courier.buses WHERE bus_name = 'ab') <> (SELECT version FROM v0),
          'creating an archive changes the bus version (put_events sees it)');
SELECT lives_ok($$SELECT courier.create_archive('ab_orders', 'ab', '{"detail-type": ["order"]}', '2 days')$$,
                'an archive with a pattern and a retention');
SELECT results_eq($$SELECT archive_name, bus_name, event_pattern, retention, description, event_count, size_bytes, partitions
                      FROM courier.list_archives('ab')$$,
                  $$VALUES ('ab_all'::text, 'ab'::text, NULL::jsonb, NULL::interval, 'everything'::text, 0::bigint, 0::bigint, 0),
                           ('ab_orders', 'ab', '{"detail-type": ["order"]}', '2 days', NULL, 0, 0, 0)$$,
                  'list_archives shows them, empty, in name order');
SELECT results_eq($$SELECT action, object_kind, object_name COLLATE "default", details->>'bus', details->>'retention'
                      FROM courier.audit_log WHERE action = 'create_archive' ORDER BY audit_id$$,
                  $$VALUES ('create_archive'::text, 'archive'::text, 'ab_all'::text, 'ab'::text, NULL::text),
                           ('create_archive', 'archive', 'ab_orders', 'ab', '2 days')$$,
                  'each creation is audited');
SELECT is((SELECT archives FROM courier.list_buses() WHERE bus_name = 'ab'), 2::bigint,
          'list_buses counts the archives');
SELECT is((SELECT count(*) FROM courier.list_archives()), 2::bigint, 'list_archives() lists every bus''s archives');

SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive(NULL, 'ab')$$, '22004', 'a null archive name');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive('x', NULL)$$, '22004', 'a null bus name');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive(repeat('a', 49), 'ab')$$, '42602', 'a 49-character name');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive('bad/name', 'ab')$$, '42602', 'a name with "/"');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive('', 'ab')$$, '42602', 'an empty name');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive('x', 'ab', '{"source": "shop"}')$$, '22023',
                              'an invalid event pattern');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive('x', 'ab', retention => '0')$$, '22023', 'retention 0');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive('x', 'ab', retention => '-1 day')$$, '22023',
                              'a negative retention');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive('x', 'nobus')$$, '42704', 'a missing bus');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive('ab_all', 'ab')$$, '42710', 'a duplicate name');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_archive('ab_all', 'ab_other')$$, '42710',
                              'the name of an archive of another bus');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.list_archives('nobus')$$, '42704', 'list_archives of a missing bus');
SELECT lives_ok($$SELECT courier.create_archive(repeat('a', 48) || '', 'ab_other')$$, 'a 48-character name is fine');

---------------------------------------------------------------------------
-- Archiving: put_events, patterns, partitions on demand
---------------------------------------------------------------------------
CREATE TEMP TABLE put1 AS
SELECT * FROM courier.put_events('ab', jsonb_build_array(pg_temp.entry('order', 1, 3), pg_temp.entry('refund', 2, 2),
                                                         pg_temp.entry('order', 3, 1)));
SELECT is((SELECT count(*) FROM put1 WHERE event_id IS NOT NULL), 3::bigint, 'three events put');
SELECT is((SELECT count(*) FROM pg_temp.drain('ab_q1')) + (SELECT count(*) FROM pg_temp.drain('ab_q2')), 6::bigint,
          'and delivered to both rules'' queues');
SELECT results_eq($$SELECT archive_name, event_count, partitions FROM courier.list_archives('ab')$$,
                  $$VALUES ('ab_all'::text, 3::bigint, 1), ('ab_orders', 2, 1)$$,
                  'the archive without pattern holds all three, the one with a pattern the two orders');
SELECT ok((SELECT bool_and(size_bytes > 0) FROM courier.list_archives('ab')), 'and they have a size');
SELECT is(pg_temp.partition_days('ab_all'), ARRAY[0], 'one partition, of today (UTC)');
SELECT ok(to_regclass(format('courier.archived_events_%s_%s', pg_temp.archive_id('ab_all'),
                             courier._archive_day(courier.now()))) IS NOT NULL,
          'named courier.archived_events_<archive id>_<day>');
SELECT bag_eq($$SELECT event_id FROM courier.archived_events WHERE archive_id = pg_temp.archive_id('ab_all')$$,
              $$SELECT event_id FROM put1$$, 'the archive keeps the events under their ids');
SELECT ok((SELECT bool_and(e.event_id = (e.event->>'id')::uuid AND e.event_time = (e.event->>'time')::timestamptz
                           AND e.event ?& ARRAY['version', 'source', 'detail-type', 'detail', 'account', 'region'])
             FROM courier.archived_events AS e WHERE e.archive_id = pg_temp.archive_id('ab_all')),
          'each whole event, with its event time (the "time" field)');

-- _archive_event directly: other days get partitions of their own.
CREATE TEMP TABLE extra AS
SELECT gen_random_uuid() AS id, 'old'::text AS detail_type, date_trunc('second', courier.now() - interval '10 days') AS event_time,
       courier.now() - interval '10 days' AS archived_at
UNION ALL
SELECT gen_random_uuid(), 'late', date_trunc('second', courier.now() - interval '210 minutes'), courier.now() + interval '1 day';
SELECT courier._archive_event(pg_temp.archive_id('ab_all'), x.archived_at, x.event_time, x.id,
                              pg_temp.event(x.id, x.detail_type, x.event_time))
  FROM extra AS x;
SELECT is(pg_temp.partition_days('ab_all'), ARRAY[-10, 0, 1], 'an event archived on another day makes that day''s partition');
SELECT is((SELECT count(*) FROM courier.archived_events AS e
            WHERE e.archive_id = pg_temp.archive_id('ab_all')
              AND e.archived_day = courier._archive_day(courier.now() - interval '10 days')), 1::bigint,
          'which holds that event');
SELECT is(courier._archive_event(-1, courier.now(), courier.now(), gen_random_uuid(), '{}')::text, '',
          '_archive_event for an archive that does not exist stores nothing');
SELECT is(to_regclass(format('courier.archived_events_-1_%s', courier._archive_day(courier.now()))), NULL,
          '... and creates no partition');
SELECT courier._archive_event(pg_temp.archive_id('ab_all'), courier.now(), courier.now(), gen_random_uuid(),
                              '{"id": "z", "replay-name": "r"}');
SELECT is((SELECT count(*) FROM courier.archived_events WHERE event->>'id' = 'z'), 0::bigint,
          'an event with "replay-name" is never archived');

---------------------------------------------------------------------------
-- Replays: validation
---------------------------------------------------------------------------
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay(NULL, 'ab_all', now() - interval '1 day', now())$$,
                              '22004', 'a null replay name');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', NULL, now() - interval '1 day', now())$$,
                              '22004', 'a null archive');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', NULL, now())$$, '22004', 'a null start');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', now() - interval '1 day', NULL)$$,
                              '22004', 'a null end');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', now() - interval '1 day', now(), dry_run => NULL)$$,
                              '22004', 'a null dry_run');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay(repeat('r', 65), 'ab_all', now() - interval '1 day', now())$$,
                              '42602', 'a 65-character replay name');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('a b', 'ab_all', now() - interval '1 day', now())$$,
                              '42602', 'a replay name with a space');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', now(), now())$$, '22023',
                              'start equal to end');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', now(), now() - interval '1 hour')$$, '22023',
                              'start after end');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', now() - interval '1 day', courier.now() + interval '1 hour')$$,
                              '22023', 'an end in the future');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', '-infinity', now())$$, '22023',
                              'an infinite start');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'noarchive', now() - interval '1 day', now())$$,
                              '42704', 'a missing archive');
SELECT throws_ok($$SELECT courier.start_replay('x', 'ab_all', now() - interval '1 day', now(), ARRAY['r1', 'nope'])$$,
                 '42704', 'rule "nope" does not exist on bus "ab"', 'a missing rule raises 42704 and names it');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', now() - interval '1 day', now(), ARRAY['r1', 'nope'])$$,
                              '42704', 'a missing rule');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', now() - interval '1 day', now(), '{}')$$,
                              '22023', 'an empty rule list');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', now() - interval '1 day', now(), ARRAY['r1', NULL])$$,
                              '22004', 'a null rule');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('x', 'ab_all', now() - interval '1 day', now(), ARRAY[['r1'], ['r2']])$$,
                              '2202E', 'a two-dimensional rule list');
SELECT * FROM pg_temp.rejects($$SELECT courier.run_replays(0)$$, '22023', 'run_replays(0)');
SELECT * FROM pg_temp.rejects($$SELECT courier.run_replays(NULL)$$, '22004', 'run_replays(NULL)');
SELECT * FROM pg_temp.rejects($$SELECT courier.cancel_replay('nope')$$, '42704', 'cancelling a missing replay');
SELECT * FROM pg_temp.rejects($$SELECT courier.cancel_replay(NULL)$$, '22004', 'cancelling a null replay');

---------------------------------------------------------------------------
-- A replay to one rule, in batches
---------------------------------------------------------------------------
-- Events of ab_all by event time: -10 days ("old"), -3.5 h ("late"), -3 h,
-- -2 h, -1 h (the three put).  The range [-4 h, now) holds the last four.
SELECT is(courier.start_replay('rp_r2', 'ab_all', courier.now() - interval '4 hours', courier.now(), ARRAY['r2', 'r2']),
          'STARTING', 'start_replay returns STARTING');
SELECT results_eq($$SELECT archive_name COLLATE "default", bus_name COLLATE "default", state,
                           rules::text[] COLLATE "default", dry_run, events_replayed, deliveries,
                           started_by, replay_start_time IS NULL, replay_end_time IS NULL
                      FROM courier.replays WHERE replay_name = 'rp_r2'$$,
                  $$VALUES ('ab_all'::text, 'ab'::text, 'STARTING'::text, ARRAY['r2']::text[], false, 0::bigint, 0::bigint,
                            current_user, true, true)$$,
                  'courier.replays shows it STARTING, with its rules (duplicates dropped) and who started it');
SELECT * FROM pg_temp.rejects($$SELECT courier.start_replay('rp_r2', 'ab_orders', now() - interval '1 day', now())$$,
                              '42710', 'a duplicate replay name');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_archive('ab_all')$$, '55006',
                              'deleting an archive while it is replayed');

SELECT is(courier.run_replays(1), 1::bigint, 'run_replays(1) replays one event');
SELECT results_eq($$SELECT state, events_replayed, deliveries, replay_start_time IS NOT NULL,
                           event_last_replayed_time = (SELECT event_time FROM extra WHERE detail_type = 'late')
                      FROM courier.replays WHERE replay_name = 'rp_r2'$$,
                  $$VALUES ('RUNNING'::text, 1::bigint, 1::bigint, true, true)$$,
                  'the replay is RUNNING after its first batch, which ended at the first event of the range');
SELECT is((SELECT count(*) FROM courier.archived_events WHERE archive_id = pg_temp.archive_id('ab_all')), 5::bigint,
          'replayed events are not archived again');
SELECT is(courier.run_replays(2), 2::bigint, 'the next batch replays two more');
SELECT is(courier.run_replays(2), 1::bigint, 'the last batch replays the last one');
SELECT results_eq($$SELECT state, events_replayed, deliveries, replay_end_time IS NOT NULL
                      FROM courier.replays WHERE replay_name = 'rp_r2'$$,
                  $$VALUES ('COMPLETED'::text, 4::bigint, 4::bigint, true)$$,
                  'and the replay is COMPLETED, with four events and four deliveries');
SELECT is(courier.run_replays(), 0::bigint, 'a completed replay replays nothing more');
SELECT is((SELECT count(*) FROM pg_temp.drain('ab_q1')), 0::bigint, 'rule r1''s queue got nothing');
CREATE TEMP TABLE got_r2 AS SELECT row_number() OVER () AS i, d.* FROM pg_temp.drain('ab_q2') AS d;
SELECT is((SELECT array_agg(coalesce(payload->'detail'->>'n', payload->>'detail-type') ORDER BY i) FROM got_r2),
          ARRAY['late', '1', '2', '3'], 'rule r2''s queue got the four events of the range, in event-time order');
SELECT is((SELECT array_agg(DISTINCT payload->>'replay-name') FROM got_r2), ARRAY['rp_r2'],
          'each delivered event carries "replay-name"');
SELECT is((SELECT array_agg(DISTINCT headers->>'replay_name') FROM got_r2), ARRAY['rp_r2'],
          'and the message a replay_name header');
SELECT bag_eq($$SELECT (payload->>'id')::uuid FROM got_r2 WHERE i > 1$$,
              $$SELECT event_id FROM put1$$,
              'the replayed events keep the ids of the original events');
SELECT is((SELECT payload - 'replay-name' FROM got_r2 WHERE i = 2),
          (SELECT event FROM courier.archived_events WHERE archive_id = pg_temp.archive_id('ab_all')
                                                AND event->>'id' = (SELECT payload->>'id' FROM got_r2 WHERE i = 2)),
          'a replayed event is the archived event plus "replay-name"');
SELECT results_eq($$SELECT action, details->>'state', (details->>'events_replayed')::bigint
                      FROM courier.audit_log WHERE object_kind = 'replay' AND object_name = 'rp_r2' ORDER BY audit_id$$,
                  $$VALUES ('start_replay'::text, NULL::text, NULL::bigint), ('end_replay', 'COMPLETED', 4)$$,
                  'its start and its completion are audited');

---------------------------------------------------------------------------
-- Every rule, by tick(); a dry run
---------------------------------------------------------------------------
SELECT courier.start_replay('rp_all', 'ab_orders', courier.now() - interval '1 day', courier.now()) \gset
SELECT courier.start_replay('rp_dry', 'ab_all', courier.now() - interval '1 day', courier.now(), dry_run => true) \gset
CREATE TEMP TABLE tick1 AS SELECT courier.tick() AS report;
SELECT is((SELECT report->'replayed_events' FROM tick1), '6'::jsonb,
          'tick() advances every replay and reports the events replayed (2 + 4)');
SELECT results_eq($$SELECT replay_name COLLATE "default", state, events_replayed, deliveries FROM courier.replays
                     WHERE replay_name IN ('rp_all', 'rp_dry') ORDER BY replay_name$$,
                  $$VALUES ('rp_all'::text, 'COMPLETED'::text, 2::bigint, 4::bigint),
                           ('rp_dry', 'COMPLETED', 4, 8)$$,
                  'both complete; the dry run counts the deliveries it would have made');
SELECT is((SELECT count(*) FROM pg_temp.drain('ab_q1')), 2::bigint, 'the replay to every rule reached r1''s queue ...');
SELECT is((SELECT array_agg(DISTINCT payload->>'replay-name') FROM pg_temp.drain('ab_q2')), ARRAY['rp_all'],
          '... and r2''s, and the dry run delivered nothing');

---------------------------------------------------------------------------
-- Cancel
---------------------------------------------------------------------------
SELECT courier.start_replay('rp_cancel', 'ab_all', courier.now() - interval '1 day', courier.now()) \gset
SELECT is(courier.run_replays(1), 1::bigint, 'a replay to cancel runs one batch');
SELECT is(courier.cancel_replay('rp_cancel'), 'CANCELLING', 'cancel_replay returns CANCELLING');
SELECT is((pg_temp.replay('rp_cancel')).state, 'CANCELLING', 'the replay is CANCELLING');
SELECT is(courier.cancel_replay('rp_cancel'), 'CANCELLING', 'cancelling it again is a no-op');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_archive('ab_all')$$, '55006',
                              'deleting the archive of a CANCELLING replay');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_replay('rp_cancel')$$, '55006',
                              'deleting a replay that is not over');
SELECT is(courier.run_replays(), 0::bigint, 'the next batch replays nothing ...');
SELECT results_eq($$SELECT state, events_replayed, replay_end_time IS NOT NULL FROM courier.replays
                     WHERE replay_name = 'rp_cancel'$$,
                  $$VALUES ('CANCELLED'::text, 1::bigint, true)$$,
                  '... and ends the replay CANCELLED');
SELECT * FROM pg_temp.rejects($$SELECT courier.cancel_replay('rp_cancel')$$, '55000', 'cancelling a cancelled replay');
SELECT * FROM pg_temp.rejects($$SELECT courier.cancel_replay('rp_r2')$$, '55000', 'cancelling a completed replay');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_replay('nope')$$, '42704', 'deleting a missing replay');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_replay(NULL)$$, '22004', 'deleting a null replay');
SELECT results_eq($$SELECT action, details->>'state' FROM courier.audit_log
                     WHERE object_kind = 'replay' AND object_name = 'rp_cancel' ORDER BY audit_id$$,
                  $$VALUES ('start_replay'::text, NULL::text), ('cancel_replay', 'RUNNING'), ('end_replay', 'CANCELLED')$$,
                  'the start, the cancel and the end are audited');
SELECT courier.start_replay('rp_cancel0', 'ab_all', courier.now() - interval '1 day', courier.now()) \gset
SELECT is(courier.cancel_replay('rp_cancel0'), 'CANCELLING', 'a STARTING replay can be cancelled too');
SELECT is(courier.run_replays(), 0::bigint, 'it replays nothing');
SELECT is((pg_temp.replay('rp_cancel0')).state, 'CANCELLED', 'and ends CANCELLED');
SELECT is((SELECT count(*) FROM pg_temp.drain('ab_q1')) + (SELECT count(*) FROM pg_temp.drain('ab_q2')), 2::bigint,
          'only the batch before the cancel was delivered');

---------------------------------------------------------------------------
-- FAILED
---------------------------------------------------------------------------
SELECT courier.start_replay('rp_rule', 'ab_all', courier.now() - interval '1 day', courier.now(), ARRAY['r1']) \gset
SELECT courier.delete_rule('ab', 'r1', force => true) \gset
SELECT is(courier.run_replays(), 0::bigint, 'a replay whose rule was deleted replays nothing');
SELECT results_eq($$SELECT state, state_reason, replay_end_time IS NOT NULL FROM courier.replays WHERE replay_name = 'rp_rule'$$,
                  $$VALUES ('FAILED'::text, 'rule "r1" was deleted from bus "ab"'::text, true)$$,
                  'it is FAILED, with the reason');
SELECT * FROM pg_temp.rejects($$SELECT courier.cancel_replay('rp_rule')$$, '55000', 'cancelling a failed replay');

-- A delivery that fails: the batch is undone and the replay FAILED.
SELECT courier.create_queue('ab_small', max_message_bytes => 1024) \gset
SELECT courier.put_rule('ab', 'r_small', '{"detail-type": ["big"]}') \gset
SELECT courier.put_target('ab', 'r_small', 't', 'queue:ab_small') \gset
SELECT courier._archive_event(pg_temp.archive_id('ab_all'), courier.now(), courier.now() - interval '30 minutes',
                              '00000000-0000-0000-0000-0000000000b1',
                              pg_temp.event('00000000-0000-0000-0000-0000000000b1', 'big',
                                            courier.now() - interval '30 minutes',
                                            jsonb_build_object('blob', repeat('x', 2000))));
SELECT courier.start_replay('rp_big', 'ab_all', courier.now() - interval '40 minutes', courier.now(), ARRAY['r_small']) \gset
SELECT is(courier.run_replays(), 0::bigint, 'a replay whose delivery fails replays nothing');
SELECT results_eq($$SELECT state, state_reason LIKE 'event 00000000-0000-0000-0000-0000000000b1 could not be replayed: %(SQLSTATE 54000)',
                           events_replayed FROM courier.replays WHERE replay_name = 'rp_big'$$,
                  $$VALUES ('FAILED'::text, true, 0::bigint)$$,
                  'it is FAILED, naming the event and the error');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'ab_small'), 0::bigint, 'nothing was delivered');

-- The archive removed behind its back (not through delete_archive): FAILED,
-- and tick() drops its orphaned partitions.
SELECT courier.create_archive('ab_gone', 'ab') \gset
SELECT courier._archive_event(pg_temp.archive_id('ab_gone'), courier.now(), courier.now(), gen_random_uuid(),
                              pg_temp.event(gen_random_uuid(), 'gone', courier.now()));
SELECT courier.start_replay('rp_gone', 'ab_gone', courier.now() - interval '1 day', courier.now()) \gset
CREATE TEMP TABLE gone AS SELECT pg_temp.archive_id('ab_gone') AS id;
DELETE FROM courier.archives WHERE archive_name = 'ab_gone';
SELECT is(courier.run_replays(), 0::bigint, 'a replay whose archive is gone replays nothing');
SELECT is((pg_temp.replay('rp_gone')).state_reason, 'archive "ab_gone" was deleted', 'it is FAILED: archive deleted');
SELECT cmp_ok((SELECT (courier.tick()->>'archive_partitions_dropped')::integer), '>=', 1,
              'tick() drops the partitions of an archive that no longer exists');
SELECT is((SELECT count(*) FROM courier._archive_partitions((SELECT id FROM gone))), 0::bigint, 'none is left');

---------------------------------------------------------------------------
-- delete_archive
---------------------------------------------------------------------------
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_archive('noarchive')$$, '42704', 'deleting a missing archive');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_archive(NULL)$$, '22004', 'deleting a null archive');
CREATE TEMP TABLE del AS SELECT pg_temp.archive_id('ab_all') AS id,
                                (SELECT version FROM courier.buses WHERE bus_name = 'ab') AS version;
SELECT lives_ok($$SELECT courier.delete_archive('ab_all')$$, 'delete_archive of an archive whose replays ended');
SELECT is((SELECT count(*) FROM courier._archive_partitions((SELECT id FROM del))), 0::bigint, 'its partitions are dropped');
SELECT is((SELECT count(*) FROM courier.archived_events WHERE archive_id = (SELECT id FROM del)), 0::bigint,
          'with its events');
SELECT ok((SELECT version FROM courier.buses WHERE bus_name = 'ab') <> (SELECT version FROM del),
          'the bus version changed');
SELECT results_eq($$SELECT object_name COLLATE "default", (details->>'partitions_dropped')::integer >= 3
                      FROM courier.audit_log WHERE action = 'delete_archive' ORDER BY audit_id DESC LIMIT 1$$,
                  $$VALUES ('ab_all'::text, true)$$, 'the deletion is audited with the partitions dropped');
SELECT is((SELECT count(*) FROM courier.replays WHERE archive_name = 'ab_all'), 6::bigint,
          'the replays of a deleted archive stay listed');
SELECT is(courier.delete_replay('rp_dry'), true, 'delete_replay forgets a replay that has ended');
SELECT is((SELECT count(*) FROM courier.replays WHERE replay_name = 'rp_dry'), 0::bigint, 'it is no longer listed');
SELECT is(courier.delete_replay('rp_dry', if_exists => true), false, 'with if_exists, a missing replay is no error');
SELECT results_eq($$SELECT action, details->>'state' FROM courier.audit_log
                     WHERE object_kind = 'replay' AND object_name = 'rp_dry' ORDER BY audit_id DESC LIMIT 1$$,
                  $$VALUES ('delete_replay'::text, 'COMPLETED'::text)$$, 'the deletion is audited');
SELECT lives_ok($$SELECT courier.start_replay('rp_dry', 'ab_orders', courier.now() - interval '1 day', courier.now())$$,
                'and the name can be used again');
SELECT is(courier.run_replays(), 2::bigint, 'by a replay of another archive');

---------------------------------------------------------------------------
-- Retention: whole partitions, as the clock moves
---------------------------------------------------------------------------
SELECT courier.create_archive('ab_ret', 'ab', retention => '2 days') \gset
SELECT courier.create_archive('ab_keep', 'ab') \gset
SELECT courier._archive_event(pg_temp.archive_id(a), courier.now() - make_interval(days => d), courier.now(),
                              gen_random_uuid(), pg_temp.event(gen_random_uuid(), 'ret', courier.now(), jsonb_build_object('d', d)))
  FROM unnest(ARRAY['ab_ret', 'ab_keep']) AS a, unnest(ARRAY[10, 0]) AS d;
SELECT is(pg_temp.partition_days('ab_ret'), ARRAY[-10, 0], 'setup: partitions of 10 days ago and of today');
CREATE TEMP TABLE ret0 AS SELECT courier.tick() AS report;
SELECT is(pg_temp.partition_days('ab_ret'), ARRAY[0, 1],
          'tick() drops the partition older than the retention, and makes tomorrow''s');
SELECT is(pg_temp.partition_days('ab_keep'), ARRAY[-10, 0, 1], 'an archive without retention keeps everything');
SELECT results_eq($$SELECT (report->>'archive_partitions_dropped')::integer, (report->>'archive_partitions_created')::integer,
                           (report->>'archive_partitions_deferred')::integer FROM ret0$$,
                  $$VALUES (1, 2, 0)$$, 'the report counts one partition dropped and two made ahead');
SELECT is((SELECT array_agg(event->'detail'->>'d') FROM courier.archived_events WHERE archive_id = pg_temp.archive_id('ab_ret')),
          ARRAY['0'], 'the events of today stay');
CREATE TEMP TABLE ret_again AS SELECT courier.tick() AS report;
SELECT results_eq($$SELECT (report->>'archive_partitions_dropped')::integer, (report->>'archive_partitions_created')::integer
                      FROM ret_again$$,
                  $$VALUES (0, 0)$$, 'a second tick() right after changes no partition');

SET LOCAL courier.clock_offset = 172800;   -- +2 days
SELECT courier.tick() \gset
SELECT is(pg_temp.partition_days('ab_ret'), ARRAY[-2, -1],
          'two days later (retention 2 days) today''s events are kept: their day is not wholly older than now - 2 days');
SET LOCAL courier.clock_offset = 259200;   -- +3 days
SELECT courier.tick() \gset
SELECT is(pg_temp.partition_days('ab_ret'), ARRAY[-2],
          'three days later their partition is dropped (kept at least the retention, at most a day more)');
SELECT is((SELECT count(*) FROM courier.archived_events WHERE archive_id = pg_temp.archive_id('ab_ret')), 0::bigint,
          'the archive is empty; the last partition, made ahead, waits for its own day');
SELECT is(pg_temp.partition_days('ab_keep'), ARRAY[-13, -3, -2], 'the archive without retention still keeps everything');
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- drop_bus takes the archives with it; their replays fail
---------------------------------------------------------------------------
SELECT courier.start_replay('rp_bus', 'ab_keep', courier.now() - interval '1 day', courier.now()) \gset
CREATE TEMP TABLE keep AS SELECT pg_temp.archive_id('ab_keep') AS id;
SELECT lives_ok($$SELECT courier.drop_bus('ab')$$, 'drop_bus of a bus with archives and a replay under way');
SELECT is((SELECT count(*) FROM courier.archives WHERE bus_name = 'ab'), 0::bigint, 'its archives are gone');
SELECT is((SELECT count(*) FROM courier._archive_partitions((SELECT id FROM keep))), 0::bigint, 'with their partitions');
SELECT is((SELECT count(*) FROM courier.audit_log WHERE action = 'delete_archive' AND details->>'with_bus' = 'true'), 3::bigint,
          'each archive deleted with the bus is audited');
SELECT is(courier.run_replays(), 0::bigint, 'the replay of a dropped bus replays nothing');
SELECT is((pg_temp.replay('rp_bus')).state_reason, 'bus "ab" was dropped', 'it is FAILED: bus dropped');

SELECT * FROM finish();
ROLLBACK;
