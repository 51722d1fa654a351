-- 19_operations: statistics, alarms and metrics (docs/operations.md).
-- Queue totals (sent, received, deleted, dead-lettered, expired) count
-- committed work only: a rolled-back transaction and a rolled-back savepoint
-- count nothing, a batch counts each message; execution totals per state
-- machine; alarms fire and clear with the controllable clock, and their
-- thresholds are validated (bad input changes nothing); metrics() is valid
-- Prometheus text exposition.
--
-- Counters change at commit, so this file does not run in one transaction:
-- every statement commits on its own, and the objects (and their audit rows,
-- which other suites count) are removed at the end; dropping forgets their
-- counters.  Needs pg_courier preloaded.
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
SET client_min_messages = warning;
SELECT plan(80);

-- leftovers of an interrupted run
SELECT courier.drop_bus('ops_bus', if_exists => true);
SELECT courier.drop_queue(q, if_exists => true)
  FROM unnest(ARRAY['ops_q', 'ops_src', 'ops_dlq', 'ops_f.fifo', 'ops_fdlq.fifo', 'ops_exp',
                    'ops_fexp.fifo', 'ops_bdlq']) AS q;
DELETE FROM courier.alarm_thresholds WHERE object_name LIKE 'ops%';
DELETE FROM courier.bus_replays WHERE replay_name = 'ops_replay';
DELETE FROM courier.audit_log WHERE object_name LIKE 'ops\_%';
DELETE FROM courier.execution_events WHERE execution_id IN
    (SELECT execution_id FROM courier.executions WHERE state_machine_name LIKE 'ops%');
DELETE FROM courier.state_machines WHERE state_machine_name LIKE 'ops%';
SELECT courier._forget_stats('state_machine', m) FROM unnest(ARRAY['ops_ok', 'ops_fail', 'ops_slow']) AS m;
DROP FUNCTION IF EXISTS public.ops_handler(jsonb);

CREATE FUNCTION pg_temp.totals(q text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('sent %s received %s deleted %s dead_lettered %s expired %s',
                  sent_total, received_total, deleted_total, dead_lettered_total, expired_total)
      FROM courier.queue_stats WHERE queue_name = q
$$;
CREATE FUNCTION pg_temp.executions(m text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('running %s started %s succeeded %s failed %s timed_out %s aborted %s',
                  running, started_total, succeeded_total, failed_total, timed_out_total, aborted_total)
      FROM courier.execution_stats WHERE state_machine_name = m
$$;
CREATE FUNCTION pg_temp.firing(k text, n text, a text) RETURNS boolean
LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM courier.alarms WHERE object_kind = k AND object_name = n AND alarm = a)
$$;

------------------------------------------------------------------------------
-- queue totals
SELECT courier.create_queue('ops_q');
SELECT is(pg_temp.totals('ops_q'), 'sent 0 received 0 deleted 0 dead_lettered 0 expired 0',
          'a new queue has zero totals');

SELECT courier.send('ops_q', jsonb_build_object('n', g)) FROM generate_series(1, 3) AS g;
SELECT is(pg_temp.totals('ops_q'), 'sent 3 received 0 deleted 0 dead_lettered 0 expired 0',
          'three committed sends count three');

BEGIN;
SELECT courier.send('ops_q', '{"n": "rolled back"}');
SELECT is((SELECT sent_total FROM courier.queue_stats WHERE queue_name = 'ops_q'), 3::bigint,
          'a send is not counted before its transaction commits');
ROLLBACK;
SELECT is(pg_temp.totals('ops_q'), 'sent 3 received 0 deleted 0 dead_lettered 0 expired 0',
          'a rolled-back send counts nothing');

BEGIN;
SELECT courier.send('ops_q', '{"n": 4}');
SAVEPOINT s;
SELECT count(*) FROM courier.send_batch('ops_q', ARRAY['{"n": "x"}', '{"n": "y"}']::jsonb[]);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT is(pg_temp.totals('ops_q'), 'sent 4 received 0 deleted 0 dead_lettered 0 expired 0',
          'a rolled-back savepoint takes its sends with it; the rest of the transaction counts');

SELECT count(*) FROM courier.send_batch('ops_q', ARRAY['{"n": 5}', '{"n": 6}', '{"n": 7}',
                                                       '{"n": 8}', '{"n": 9}']::jsonb[]);
SELECT is(pg_temp.totals('ops_q'), 'sent 9 received 0 deleted 0 dead_lettered 0 expired 0',
          'a batch of five counts five');

CREATE TEMP TABLE ops_receipts AS SELECT receipt FROM courier.receive('ops_q', 4);
SELECT is((SELECT count(*) FROM ops_receipts), 4::bigint, 'four messages leased');
SELECT ok(courier.delete('ops_q', (SELECT min(receipt) FROM ops_receipts)), 'one deleted');
SELECT is(courier.delete_batch('ops_q', ARRAY(SELECT receipt FROM ops_receipts
                                              WHERE receipt > (SELECT min(receipt) FROM ops_receipts)
                                              ORDER BY receipt LIMIT 2)), 2, 'two deleted in a batch');
SELECT ok(NOT courier.delete('ops_q', (SELECT min(receipt) FROM ops_receipts)), 'a stale receipt deletes nothing');
SELECT is(pg_temp.totals('ops_q'), 'sent 9 received 4 deleted 3 dead_lettered 0 expired 0',
          'receive counts the messages leased, deletes the messages deleted');

BEGIN;
SELECT count(*) FROM courier.receive('ops_q', 2);
ROLLBACK;
SELECT is((SELECT received_total FROM courier.queue_stats WHERE queue_name = 'ops_q'), 4::bigint,
          'a rolled-back receive counts nothing');

-- dead-letter moves: counted on the source queue, not as sends to the DLQ
SELECT courier.create_queue('ops_dlq');
SELECT courier.create_queue('ops_src', dead_letter_queue => 'ops_dlq', max_receive_count => 1);
SELECT count(*) FROM courier.send_batch('ops_src', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[]);
SELECT is((SELECT count(*) FROM courier.receive('ops_src', 10, visibility_timeout => '0')), 2::bigint,
          'two messages received once');
SELECT is((SELECT count(*) FROM courier.receive('ops_src', 10)), 0::bigint,
          'the next receive moves them to the dead-letter queue');
SELECT is(pg_temp.totals('ops_src'), 'sent 2 received 2 deleted 0 dead_lettered 2 expired 0',
          'the source queue counts two dead-lettered');
SELECT is(pg_temp.totals('ops_dlq'), 'sent 0 received 0 deleted 0 dead_lettered 0 expired 0',
          'a move is not a send to the dead-letter queue');
SELECT is((SELECT format('%s %s', dead_lettered, dead_letters_held) FROM courier.queue_stats
            WHERE queue_name = 'ops_src') || ' / ' ||
          (SELECT format('%s %s', dead_lettered, dead_letters_held) FROM courier.queue_stats
            WHERE queue_name = 'ops_dlq'),
          '2 0 / 0 2', 'depth: the source has 2 dead-lettered, the DLQ holds 2');

SELECT courier.create_queue('ops_fdlq.fifo', fifo => true);
SELECT courier.create_queue('ops_f.fifo', fifo => true, content_based_dedup => true,
                            dead_letter_queue => 'ops_fdlq.fifo', max_receive_count => 1);
SELECT courier.send('ops_f.fifo', '{"n": 1}', group_id => 'g');
SELECT courier.send('ops_f.fifo', '{"n": 1}', group_id => 'g');
SELECT is((SELECT count(*) FROM courier.receive('ops_f.fifo', 10, visibility_timeout => '0')), 1::bigint,
          'FIFO: one message (the second send was a duplicate)');
SELECT is((SELECT count(*) FROM courier.receive('ops_f.fifo', 10)), 0::bigint, 'FIFO: moved on the next receive');
SELECT is(pg_temp.totals('ops_f.fifo'), 'sent 2 received 1 deleted 0 dead_lettered 1 expired 0',
          'FIFO: sends (a duplicate too), the lease and the move are counted');

SELECT is(courier.redrive('ops_dlq'), 2::bigint, 'redrive moves the two back');
SELECT is((SELECT sent_total FROM courier.queue_stats WHERE queue_name = 'ops_src'), 4::bigint,
          'redriven messages count as sent to the queue they enter');

-- retention: tick() counts what it expires, on standard and FIFO queues
SELECT courier.create_queue('ops_exp', retention => '60 seconds');
SELECT courier.create_queue('ops_fexp.fifo', fifo => true, retention => '60 seconds');
SELECT count(*) FROM courier.send_batch('ops_exp', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[]);
SELECT courier.send('ops_fexp.fifo', '{"n": 1}', group_id => 'g', dedup_id => 'd1');
SET courier.clock_offset = '2min';
SELECT ok((courier.tick()->>'expired_messages')::integer >= 3, 'tick expires them');
RESET courier.clock_offset;
SELECT is(pg_temp.totals('ops_exp'), 'sent 2 received 0 deleted 0 dead_lettered 0 expired 2',
          'two expired on the standard queue');
SELECT is((SELECT expired_total FROM courier.queue_stats WHERE queue_name = 'ops_fexp.fifo'), 1::bigint,
          'one expired on the FIFO queue');

-- a dropped queue's totals are forgotten
SELECT courier.drop_queue('ops_exp');
SELECT courier.create_queue('ops_exp', retention => '60 seconds');
SELECT is(pg_temp.totals('ops_exp'), 'sent 0 received 0 deleted 0 dead_lettered 0 expired 0',
          'a queue created again under a dropped one''s name starts from zero');

------------------------------------------------------------------------------
-- execution totals
SELECT courier.create_state_machine('ops_ok', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}');
SELECT courier.create_state_machine('ops_fail',
    '{"StartAt": "A", "States": {"A": {"Type": "Fail", "Error": "Ops.Broken", "Cause": "on purpose"}}}');
SELECT courier.create_state_machine('ops_slow',
    '{"StartAt": "W", "TimeoutSeconds": 30, "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}');
SELECT is(pg_temp.executions('ops_ok'), 'running 0 started 0 succeeded 0 failed 0 timed_out 0 aborted 0',
          'a new state machine has zero totals');

SELECT courier.start_execution('ops_ok') FROM generate_series(1, 2);
BEGIN;
SELECT courier.start_execution('ops_ok');
ROLLBACK;
SELECT is(pg_temp.executions('ops_ok'), 'running 2 started 2 succeeded 0 failed 0 timed_out 0 aborted 0',
          'two started and running; a rolled-back start counts nothing');
SELECT courier.start_execution('ops_fail');
SELECT courier.start_execution('ops_slow', execution_name => 'slow-1');
SELECT courier.start_execution('ops_slow', execution_name => 'slow-2');
SELECT ok(courier.run_executions(1000) >= 5, 'the engine advances them');
SELECT is(pg_temp.executions('ops_ok'), 'running 0 started 2 succeeded 2 failed 0 timed_out 0 aborted 0',
          'two succeeded');
SELECT is(pg_temp.executions('ops_fail'), 'running 0 started 1 succeeded 0 failed 1 timed_out 0 aborted 0',
          'one failed');
SELECT courier.stop_execution((SELECT execution_id FROM courier.executions WHERE execution_name = 'slow-1'));
SELECT is(pg_temp.executions('ops_slow'), 'running 1 started 2 succeeded 0 failed 0 timed_out 0 aborted 1',
          'one aborted, one still running');
SET courier.clock_offset = '1min';
SELECT courier.run_executions(1000);
RESET courier.clock_offset;
SELECT is(pg_temp.executions('ops_slow'), 'running 0 started 2 succeeded 0 failed 0 timed_out 1 aborted 1',
          'the other timed out');

------------------------------------------------------------------------------
-- alarms: validation
SELECT throws_ok($$SELECT courier.set_alarm('queue', 'ops_nope', 'dlq_not_empty')$$, '42704', NULL,
                 'an unknown queue');
SELECT throws_ok($$SELECT courier.set_alarm('queue', 'ops_q', 'dlq_full')$$, '22023', NULL,
                 'an unknown alarm');
SELECT throws_ok($$SELECT courier.set_alarm('topic', 'ops_q', 'dlq_not_empty')$$, '22023', NULL,
                 'an unknown object kind');
SELECT throws_ok($$SELECT courier.set_alarm('queue', 'ops_q', 'oldest_message_age', 60)$$, '22023', NULL,
                 'an age alarm takes an interval');
SELECT throws_ok($$SELECT courier.set_alarm('queue', 'ops_q', 'visible_backlog', interval '1 minute')$$, '22023', NULL,
                 'a counting alarm takes a number');
SELECT throws_ok($$SELECT courier.set_alarm('queue', 'ops_q', 'visible_backlog', -1)$$, '22023', NULL,
                 'a negative threshold');
SELECT throws_ok($$SELECT courier.set_alarm('queue', 'ops_q', 'visible_backlog', 1.5)$$, '22023', NULL,
                 'a fractional count');
SELECT throws_ok($$SELECT courier.set_alarm('queue', 'ops_q', 'visible_backlog', 1, 'page')$$, '22023', NULL,
                 'an unknown severity');
SELECT throws_ok($$SELECT courier.set_alarm('rule', 'ops_bus', 'failed_invocations')$$, '42704', NULL,
                 'a rule is named BUS/RULE');
SELECT throws_ok($$SELECT courier.set_alarm('queue', NULL, 'visible_backlog')$$, '22004', NULL,
                 'a NULL object name');
SELECT is((SELECT count(*) FROM courier.alarm_thresholds WHERE object_name LIKE 'ops%'), 0::bigint,
          'rejected thresholds were not stored');
SELECT is((SELECT count(*) FROM courier.audit_log WHERE action = 'set_alarm' AND object_name LIKE 'ops%'),
          0::bigint, 'nor audited');

-- queue alarms
SELECT courier.set_alarm('queue', 'ops_src', 'dlq_not_empty', 0, 'critical');
SELECT courier.set_alarm('queue', 'ops_dlq', 'dlq_not_empty');
SELECT courier.set_alarm('queue', 'ops_q', 'visible_backlog', 100);
SELECT courier.set_alarm('queue', 'ops_q', 'oldest_message_age', interval '5 minutes', 'critical');
SELECT is((SELECT details FROM courier.audit_log WHERE action = 'set_alarm' AND object_name = 'ops_q'
            ORDER BY audit_id DESC LIMIT 1),
          '{"alarm": "oldest_message_age", "severity": "critical", "threshold": "00:05:00"}'::jsonb,
          'set_alarm is audited with its arguments');
SELECT ok(NOT pg_temp.firing('queue', 'ops_src', 'dlq_not_empty')
          AND NOT pg_temp.firing('queue', 'ops_dlq', 'dlq_not_empty'),
          'dlq_not_empty is quiet once the dead letters were redriven');
SELECT count(*) FROM courier.receive('ops_src', 10, visibility_timeout => '0');
SELECT count(*) FROM courier.receive('ops_src', 10);
SELECT is((SELECT format('%s %s %s %s', severity, threshold, value, unit) FROM courier.alarms
            WHERE object_name = 'ops_src' AND alarm = 'dlq_not_empty'),
          'critical 0 2 messages', 'dlq_not_empty fires on the source queue, with its value');
SELECT ok(pg_temp.firing('queue', 'ops_dlq', 'dlq_not_empty'), '... and on the dead-letter queue');
SELECT ok((SELECT since IS NOT NULL AND hint LIKE '%#alarm-dlq_not_empty%' FROM courier.alarms
            WHERE object_name = 'ops_src' AND alarm = 'dlq_not_empty'),
          'it says since when and where the runbook is');
SELECT ok(NOT pg_temp.firing('queue', 'ops_q', 'visible_backlog'), 'visible_backlog: 5 visible is below 100');
SELECT courier.set_alarm('queue', 'ops_q', 'visible_backlog', 4, 'info');
SELECT is((SELECT format('%s %s %s', severity, threshold, value) FROM courier.alarms
            WHERE object_name = 'ops_q' AND alarm = 'visible_backlog'),
          'info 4 5', 'set_alarm again changes threshold and severity; it fires');
SELECT ok(NOT pg_temp.firing('queue', 'ops_q', 'oldest_message_age'), 'oldest_message_age: not yet');
SET courier.clock_offset = '10min';
SELECT ok(pg_temp.firing('queue', 'ops_q', 'oldest_message_age'), 'ten minutes later it fires');
SELECT ok((SELECT value >= 600 AND unit = 'seconds' AND since = (SELECT oldest_sent_at + interval '5 minutes'
                                                             FROM courier.queue_stats WHERE queue_name = 'ops_q')
             FROM courier.alarms WHERE object_name = 'ops_q' AND alarm = 'oldest_message_age'),
          'value in seconds, since = oldest send + the SLA');
RESET courier.clock_offset;
SELECT ok(NOT pg_temp.firing('queue', 'ops_q', 'oldest_message_age'), 'and back in time it clears');

-- state machine alarms (totals since the server started)
SELECT courier.set_alarm('state_machine', 'ops_fail', 'failed_executions', 0, 'critical');
SELECT courier.set_alarm('state_machine', 'ops_slow', 'timed_out_executions', 1);
SELECT courier.set_alarm('state_machine', 'ops_ok', 'failed_executions');
SELECT is((SELECT string_agg(object_name || ':' || alarm || '=' || value, ' ' ORDER BY object_name)
             FROM courier.alarms WHERE object_kind = 'state_machine' AND object_name LIKE 'ops%'),
          'ops_fail:failed_executions=1', 'failed executions fire; one timed out is not above 1');

-- rule and target alarms
CREATE FUNCTION public.ops_handler(e jsonb) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'failing on purpose'; END $$;
SELECT courier.create_queue('ops_bdlq');
SELECT courier.create_bus('ops_bus');
SELECT courier.put_rule('ops_bus', 'r', '{"source": ["ops"]}');
SELECT courier.put_target('ops_bus', 'r', 'f', 'function:public.ops_handler',
                          retry_policy => '{"MaximumRetryAttempts": 0}', dead_letter_queue => 'ops_bdlq');
SELECT courier.set_alarm('rule', 'ops_bus/r', 'failed_invocations');
SELECT courier.set_alarm('target', 'ops_bus/r/f', 'dead_letters', 0, 'critical');
SELECT ok(NOT pg_temp.firing('rule', 'ops_bus/r', 'failed_invocations'), 'no failed invocation yet');
SELECT count(*) FROM courier.put_events('ops_bus', '[{"source": "ops", "detail-type": "t", "detail": {}}]');
SELECT courier._deliver_bus_events(courier.now(), 10);
SELECT ok(pg_temp.firing('rule', 'ops_bus/r', 'failed_invocations')
          AND pg_temp.firing('target', 'ops_bus/r/f', 'dead_letters'),
          'the failed delivery fires failed_invocations on the rule and dead_letters on the target');
SELECT ok(pg_temp.firing('queue', 'ops_bdlq', 'dlq_not_empty') IS FALSE,
          'no threshold, no alarm (ops_bdlq has none)');

-- replay_running
SELECT courier.create_archive('ops_arch', 'ops_bus');
SELECT courier.set_alarm('archive', 'ops_arch', 'replay_running', interval '0');
SELECT ok(NOT pg_temp.firing('archive', 'ops_arch', 'replay_running'), 'no replay, no alarm');
SELECT courier.start_replay('ops_replay', 'ops_arch', courier.now() - interval '1 hour', courier.now());
SELECT ok(pg_temp.firing('archive', 'ops_arch', 'replay_running'), 'a replay under way fires replay_running');
UPDATE courier.bus_replays SET state = 'COMPLETED' WHERE replay_name = 'ops_replay';
SELECT ok(NOT pg_temp.firing('archive', 'ops_arch', 'replay_running'), 'an ended replay does not');

-- clear_alarm
SELECT ok(courier.clear_alarm('queue', 'ops_src', 'dlq_not_empty'), 'clear_alarm removes a threshold');
SELECT ok(NOT courier.clear_alarm('queue', 'ops_src', 'dlq_not_empty'), '... and says when there was none');
SELECT is((SELECT count(*) FROM courier.audit_log WHERE action = 'clear_alarm' AND object_name = 'ops_src'),
          1::bigint, 'a clear that removed a threshold is audited, one that found none is not');
SELECT ok(NOT pg_temp.firing('queue', 'ops_src', 'dlq_not_empty'), 'a cleared alarm does not fire');
SELECT throws_ok($$SELECT courier.clear_alarm('queue', 'ops_src', 'dlq_full')$$, '22023', NULL,
                 'clear_alarm checks the alarm name');

------------------------------------------------------------------------------
-- metrics(): every line is a comment or a sample of the exposition format
CREATE TEMP TABLE ops_lines AS
SELECT l AS line, n FROM regexp_split_to_table(rtrim(courier.metrics(), E'\n'), E'\n') WITH ORDINALITY AS t(l, n);
SELECT is((SELECT count(*) FROM ops_lines
            WHERE line !~ '^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* '
              AND line !~ '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\["\\n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\["\\n])*")*\})? -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$'),
          0::bigint, 'every line of metrics() matches the exposition grammar');
SELECT is((SELECT count(*) FROM (SELECT split_part(line, ' ', 3) AS name, split_part(line, ' ', 2) AS what
                                   FROM ops_lines WHERE line LIKE '# %') AS c
            GROUP BY name HAVING count(*) <> 2 OR count(DISTINCT what) <> 2), NULL,
          'each metric family has one HELP and one TYPE line');
SELECT is((SELECT count(*) FROM ops_lines AS s
            WHERE s.line !~ '^#'
              AND NOT EXISTS (SELECT 1 FROM ops_lines AS t
                               WHERE t.line LIKE '# TYPE %' AND t.n < s.n
                                 AND split_part(s.line, '{', 1) LIKE split_part(t.line, ' ', 3) || '%')),
          0::bigint, 'every sample comes after the TYPE line of its family');
SELECT is((SELECT count(*) FROM ops_lines WHERE line ~ '^# TYPE \S+ counter$' AND line !~ '_total counter$'),
          0::bigint, 'counters end in _total');
SELECT is((SELECT line FROM ops_lines WHERE line LIKE 'courier_queue_sent_messages_total{queue="ops_q"}%'),
          'courier_queue_sent_messages_total{queue="ops_q"} 9', 'a queue counter with its value');
SELECT is((SELECT string_agg(line, ' | ' ORDER BY line) FROM ops_lines
            WHERE line LIKE 'courier_queue_messages{queue="ops_src"%'),
          'courier_queue_messages{queue="ops_src",state="delayed"} 0 | '
          'courier_queue_messages{queue="ops_src",state="expired"} 0 | '
          'courier_queue_messages{queue="ops_src",state="in_flight"} 0 | '
          'courier_queue_messages{queue="ops_src",state="visible"} 0', 'queue gauges by state');
SELECT is((SELECT line FROM ops_lines WHERE line LIKE 'courier_executions_finished_total{state_machine="ops_slow",status="timed_out"}%'),
          'courier_executions_finished_total{state_machine="ops_slow",status="timed_out"} 1', 'execution counters');
SELECT is((SELECT line FROM ops_lines WHERE line LIKE 'courier_target_failed_invocations_total{bus="ops_bus"%'),
          'courier_target_failed_invocations_total{bus="ops_bus",rule="r",target_id="f",target="function:public.ops_handler"} 1',
          'target counters');
SELECT is((SELECT line FROM ops_lines WHERE line LIKE 'courier_alarm_firing{%ops_bus/r/f%'),
          'courier_alarm_firing{object_kind="target",object_name="ops_bus/r/f",alarm="dead_letters",severity="critical"} 1',
          'firing alarms');
SELECT is((SELECT line FROM ops_lines WHERE line LIKE 'courier_stats_available%'), 'courier_stats_available 1',
          'the counters are available (preloaded)');

------------------------------------------------------------------------------
-- clean up: dropping the objects forgets their counters
SELECT courier.drop_bus('ops_bus');
DROP FUNCTION public.ops_handler(jsonb);
SELECT courier.alter_queue('ops_src', dead_letter_queue => '');
SELECT courier.alter_queue('ops_f.fifo', dead_letter_queue => '');
SELECT courier.drop_queue(q)
  FROM unnest(ARRAY['ops_q', 'ops_src', 'ops_dlq', 'ops_f.fifo', 'ops_fdlq.fifo', 'ops_exp',
                    'ops_fexp.fifo', 'ops_bdlq']) AS q;
SELECT courier.delete_state_machine(m) FROM unnest(ARRAY['ops_ok', 'ops_fail', 'ops_slow']) AS m;
SELECT is((SELECT sent_total FROM courier._queue_counts('ops_q')), 0::bigint, 'a dropped queue''s totals are gone');
SELECT is((SELECT started_total FROM courier._execution_counts('ops_ok')), 0::bigint,
          'a deleted state machine''s totals are gone');
DELETE FROM courier.alarm_thresholds WHERE object_name LIKE 'ops%';
DELETE FROM courier.bus_replays WHERE replay_name = 'ops_replay';
-- other suites count audit rows: leave none behind
DELETE FROM courier.audit_log WHERE object_name LIKE 'ops\_%';
SELECT * FROM finish();
