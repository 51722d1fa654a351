-- 07_tick_audit: courier.tick() (its report, retention on standard and FIFO
-- queues in every message state, expiry of dedup ids, removal of empty FIFO
-- groups, idempotence) and the audit trail of purge_queue and drop_queue.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run, in a
-- database that holds no committed queues (tick() reports over all queues).
-- Time moves only through courier.clock_offset; nothing sleeps.
BEGIN;
SELECT plan(46);

CREATE FUNCTION pg_temp.msg_count(q text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM courier.messages AS m WHERE m.queue_name = q $$;

CREATE FUNCTION pg_temp.payloads(q text) RETURNS jsonb[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(m.payload ORDER BY m.msg_id), '{}') FROM courier.messages AS m WHERE m.queue_name = q
$$;

-- The last audit row: what the function under test wrote.
CREATE FUNCTION pg_temp.last_audit()
RETURNS TABLE (action text, object_kind text, object_name text, messages text, session_role text, current_role_name text)
LANGUAGE sql AS $$
    SELECT a.action, a.object_kind, a.object_name COLLATE "default", a.details->>'messages',
           a.session_role::text COLLATE "default", a.current_role_name::text COLLATE "default"
      FROM courier.audit_log AS a ORDER BY a.audit_id DESC LIMIT 1
$$;

-- The queue part of tick()'s report (buses add counts of their own,
-- tested in 10_bus.sql).
CREATE FUNCTION pg_temp.queue_tick() RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_object_agg(r.key, r.value)
      FROM jsonb_each(courier.tick()) AS r
     WHERE r.key IN ('expired_messages', 'expired_dedup_ids', 'empty_groups_removed')
$$;

---------------------------------------------------------------------------
-- The report
---------------------------------------------------------------------------
CREATE TEMP TABLE first_report AS SELECT courier.tick() AS report;
SELECT ok((SELECT report ?& ARRAY['expired_messages', 'expired_dedup_ids', 'empty_groups_removed',
                                  'bus_deliveries_succeeded', 'bus_deliveries_failed', 'bus_dead_letters',
                                  'bus_deliveries_dropped', 'bus_deliveries_parked',
                                  'replayed_events', 'archive_partitions_created',
                                  'archive_partitions_dropped', 'archive_partitions_deferred']
             FROM first_report),
          'tick() returns a jsonb report of counts, queues and buses (deliveries, archives, replays)');
SELECT is((SELECT jsonb_object_agg(r.key, r.value) FROM first_report, jsonb_each(report) AS r
            WHERE r.value <> '0'), NULL,
          'with nothing to do every count is 0');

---------------------------------------------------------------------------
-- Retention: expired messages go in every state; younger ones stay
---------------------------------------------------------------------------
SELECT courier.create_queue('tk_std', retention => '60 seconds') \gset
SELECT courier.create_queue('tk_fifo.fifo', fifo => true, retention => '60 seconds') \gset
SELECT courier.create_queue('tk_keep') \gset
SELECT courier.create_queue('tk_keep.fifo', fifo => true) \gset

SELECT courier.send('tk_std', '"old leased"') AS s_leased \gset
SELECT courier.send('tk_std', '"old visible"') AS s_visible \gset
SELECT courier.send('tk_std', '"old delayed"', delay => '15 minutes') AS s_delayed \gset
SELECT is((SELECT msg_id FROM courier.receive('tk_std', 1, '1 hour')), :s_leased::bigint,
          'setup: one old standard message is leased for an hour');
SELECT courier.send('tk_fifo.fifo', '"old g1"', group_id => 'g1', dedup_id => 'o1') AS f_old1 \gset
SELECT courier.send('tk_fifo.fifo', '"old g2"', group_id => 'g2', dedup_id => 'o2') AS f_old2 \gset
SELECT courier.send('tk_keep', '"keep"') \gset
SELECT courier.send('tk_keep.fifo', '"keep fifo"', group_id => 'g', dedup_id => 'k') \gset

SET LOCAL courier.clock_offset = '30s';
SELECT courier.send('tk_std', '"young"') \gset
SELECT courier.send('tk_fifo.fifo', '"young g1"', group_id => 'g1', dedup_id => 'y1') \gset

SET LOCAL courier.clock_offset = '59s';
SELECT is(pg_temp.queue_tick(),
          '{"expired_messages": 0, "expired_dedup_ids": 0, "empty_groups_removed": 0}'::jsonb,
          'at +59s (retention 60s) tick() removes nothing');
SELECT is(pg_temp.msg_count('tk_std') + pg_temp.msg_count('tk_fifo.fifo'), 7::bigint,
          'all seven messages of the 60-second queues are still there');

SET LOCAL courier.clock_offset = '61s';
CREATE TEMP TABLE t61 AS SELECT courier.tick() AS report;
SELECT is((SELECT report->'expired_messages' FROM t61), '5'::jsonb,
          'at +61s tick() reports 5 expired messages (3 standard, 2 FIFO)');
SELECT is((SELECT report->'expired_dedup_ids' FROM t61), '0'::jsonb,
          'and no expired dedup id (the 5-minute window is not over)');
SELECT is((SELECT report->'empty_groups_removed' FROM t61), '1'::jsonb,
          'and removes group g2, which the expiry left empty');
SELECT is(pg_temp.payloads('tk_std'), ARRAY['"young"']::jsonb[],
          'the leased, the visible and the delayed old standard message are gone; the young one stays');
SELECT is(pg_temp.payloads('tk_fifo.fifo'), ARRAY['"young g1"']::jsonb[],
          'both old FIFO messages are gone; the young one stays');
SELECT is(pg_temp.payloads('tk_keep'), ARRAY['"keep"']::jsonb[], 'a queue with the default retention keeps its message');
SELECT is(pg_temp.payloads('tk_keep.fifo'), ARRAY['"keep fifo"']::jsonb[], 'so does a FIFO queue with the default retention');
SELECT is((SELECT count(*) FROM courier.dedup WHERE queue_name = 'tk_fifo.fifo'), 3::bigint,
          'expiring messages keeps their dedup ids (they live for the dedup window)');
SELECT is(courier.send('tk_fifo.fifo', '"again"', group_id => 'g2', dedup_id => 'o1'), :f_old1::bigint,
          'so a duplicate of an expired message is still recognised');

SELECT is(pg_temp.queue_tick(),
          '{"expired_messages": 0, "expired_dedup_ids": 0, "empty_groups_removed": 0}'::jsonb,
          'a second tick() right after reports zeros (idempotent)');
SELECT is(pg_temp.msg_count('tk_std') + pg_temp.msg_count('tk_fifo.fifo'), 2::bigint,
          'and removes nothing more');

---------------------------------------------------------------------------
-- Empty FIFO groups
---------------------------------------------------------------------------
-- The receive delivers "young g1" and finds group g2 empty, which parks it.
SELECT is((SELECT array_agg(payload) FROM courier.receive('tk_fifo.fifo', 10)), ARRAY['"young g1"']::jsonb[],
          'a receive on the FIFO queue delivers the young message');
SELECT results_eq($$SELECT group_id COLLATE "default", visible_at = 'infinity' FROM courier.message_groups
                     WHERE queue_name = 'tk_fifo.fifo' ORDER BY group_id$$,
                  $$VALUES ('g1'::text, false)$$,
                  'group g2 is gone; g1 holds the leased message');
SELECT is(pg_temp.queue_tick(),
          '{"expired_messages": 0, "expired_dedup_ids": 0, "empty_groups_removed": 0}'::jsonb,
          'tick() leaves a group alone while it holds a message');
SELECT results_eq($$SELECT group_id COLLATE "default" FROM courier.message_groups WHERE queue_name = 'tk_fifo.fifo'$$,
                  ARRAY['g1'], 'only the group with a message is left');
SELECT is(pg_temp.queue_tick(),
          '{"expired_messages": 0, "expired_dedup_ids": 0, "empty_groups_removed": 0}'::jsonb,
          'the next tick() reports zeros');
SELECT courier.send('tk_fifo.fifo', '"g2 is back"', group_id => 'g2', dedup_id => 'back') \gset
SELECT results_eq($$SELECT payload, group_id FROM courier.receive('tk_fifo.fifo', 10)$$,
                  $$VALUES ('"g2 is back"'::jsonb, 'g2'::text)$$,
                  'a removed group comes back with its next message');

---------------------------------------------------------------------------
-- Dedup ids expire after the dedup window
---------------------------------------------------------------------------
SET LOCAL courier.clock_offset = 0;
SELECT courier.create_queue('tk_dd.fifo', fifo => true, dedup_window => '10 seconds') \gset
SELECT courier.send('tk_dd.fifo', '"first"', group_id => 'g', dedup_id => 'X') AS x1 \gset
SET LOCAL courier.clock_offset = '9s';
SELECT is(pg_temp.queue_tick(),
          '{"expired_messages": 0, "expired_dedup_ids": 0, "empty_groups_removed": 0}'::jsonb,
          'at +9s (window 10s) tick() expires no dedup id');
SELECT is(courier.send('tk_dd.fifo', '"dup"', group_id => 'g', dedup_id => 'X'), :x1::bigint,
          'and the dedup id still returns the original');
SET LOCAL courier.clock_offset = '11s';
SELECT is((SELECT count(*) FROM courier.dedup WHERE queue_name = 'tk_dd.fifo' AND dedup_id = 'X'), 1::bigint,
          'at +11s the expired dedup id is still stored before tick()');
SELECT is(pg_temp.queue_tick(),
          '{"expired_messages": 0, "expired_dedup_ids": 1, "empty_groups_removed": 0}'::jsonb,
          'tick() at +11s expires exactly that dedup id');
SELECT is((SELECT count(*) FROM courier.dedup WHERE queue_name = 'tk_dd.fifo'), 0::bigint,
          'it is gone from courier.dedup');
SELECT is(pg_temp.payloads('tk_dd.fifo'), ARRAY['"first"']::jsonb[], 'the message itself stays');
SELECT courier.send('tk_dd.fifo', '"second"', group_id => 'g', dedup_id => 'X') AS x2 \gset
SELECT ok(:x2 > :x1, 'the same dedup id can be sent again: a new message');
SELECT is(pg_temp.payloads('tk_dd.fifo'), ARRAY['"first"', '"second"']::jsonb[], 'both messages are stored');
SELECT is(pg_temp.queue_tick(),
          '{"expired_messages": 0, "expired_dedup_ids": 0, "empty_groups_removed": 0}'::jsonb,
          'and the next tick() reports zeros');
SET LOCAL courier.clock_offset = 0;

---------------------------------------------------------------------------
-- Audit trail: purge_queue and drop_queue
---------------------------------------------------------------------------
SELECT count(*) AS audit_before FROM courier.audit_log \gset
SELECT courier.now() AS a_before \gset
SELECT is(courier.purge_queue('tk_keep'), 1::bigint, 'purge_queue removes one message');
SELECT courier.now() AS a_after \gset
SELECT results_eq('SELECT * FROM pg_temp.last_audit()',
                  $$VALUES ('purge_queue'::text, 'queue'::text, 'tk_keep'::text, '1'::text, session_user::text COLLATE "default", current_user::text COLLATE "default")$$,
                  'purge_queue writes an audit row: action, object, messages removed, session and current role');
SELECT ok(at >= :'a_before'::timestamptz AND at <= :'a_after'::timestamptz, 'the audit row has the purge time')
  FROM courier.audit_log ORDER BY audit_id DESC LIMIT 1;
SELECT is(courier.purge_queue('tk_keep'), 0::bigint, 'purging the now empty queue');
SELECT results_eq('SELECT action, object_name, messages FROM pg_temp.last_audit()',
                  $$VALUES ('purge_queue'::text, 'tk_keep'::text, '0'::text)$$,
                  'is audited too, with 0 messages');

SELECT is(courier.drop_queue('tk_std'), true, 'drop_queue of a standard queue with one message');
SELECT results_eq('SELECT * FROM pg_temp.last_audit()',
                  $$VALUES ('drop_queue'::text, 'queue'::text, 'tk_std'::text, '1'::text, session_user::text COLLATE "default", current_user::text COLLATE "default")$$,
                  'drop_queue writes an audit row with the number of messages dropped');
SELECT is(courier.drop_queue('tk_dd.fifo'), true, 'drop_queue of a FIFO queue with two messages');
SELECT results_eq('SELECT action, object_name, messages FROM pg_temp.last_audit()',
                  $$VALUES ('drop_queue'::text, 'tk_dd.fifo'::text, '2'::text)$$,
                  'is audited with 2 messages');
SELECT is((SELECT count(*) FROM courier.dedup WHERE queue_name = 'tk_dd.fifo')
          + (SELECT count(*) FROM courier.message_groups WHERE queue_name = 'tk_dd.fifo'), 0::bigint,
          'drop_queue also removes the FIFO queue''s groups and dedup ids');
SELECT is(courier.drop_queue('tk_missing', if_exists => true), false, 'drop_queue(if_exists) of a missing queue');
SELECT is((SELECT count(*) FROM courier.audit_log), :audit_before + 4::bigint,
          'writes no audit row: four rows were added by the two purges and two drops');
SELECT results_eq($$SELECT action, object_name COLLATE "default" FROM courier.audit_log
                     ORDER BY audit_id DESC LIMIT 4$$,
                  $$VALUES ('drop_queue'::text, 'tk_dd.fifo'::text), ('drop_queue', 'tk_std'),
                           ('purge_queue', 'tk_keep'), ('purge_queue', 'tk_keep')$$,
                  'the audit rows are in the order of the calls');

-- session_role is who logged in, current_role_name whom they act as
CREATE ROLE courier_tap_operator NOLOGIN;
GRANT USAGE ON SCHEMA courier TO courier_tap_operator;
GRANT EXECUTE ON FUNCTION courier.purge_queue(text), courier._require(text, boolean),
                          courier._audit(text, text, text, jsonb), courier.now() TO courier_tap_operator;
GRANT SELECT ON courier.queues TO courier_tap_operator;
GRANT SELECT, DELETE ON courier.messages, courier.message_groups, courier.dedup TO courier_tap_operator;
GRANT INSERT ON courier.audit_log TO courier_tap_operator;
GRANT USAGE ON SEQUENCE courier.audit_id_seq TO courier_tap_operator;
SELECT courier.send('tk_keep', '"for the operator"') \gset
SET ROLE courier_tap_operator;
SELECT courier.purge_queue('tk_keep') AS op_purged \gset
RESET ROLE;
SELECT is(:op_purged::bigint, 1::bigint, 'a role granted purge_queue purges one message');
SELECT results_eq('SELECT action, object_name, messages, session_role, current_role_name FROM pg_temp.last_audit()',
                  $$VALUES ('purge_queue'::text, 'tk_keep'::text, '1'::text, session_user::text COLLATE "default", 'courier_tap_operator'::text)$$,
                  'after SET ROLE the audit row keeps the session user in session_role and names the role in current_role_name');

SELECT * FROM finish();
ROLLBACK;
