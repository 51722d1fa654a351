-- 21_database_alarms: the alarms of the database itself (docs/operations.md,
-- "Alarm: oldest_transaction_age" and "Alarm: dead_tuples"): an old
-- transaction that keeps vacuum from removing dead messages, measured on
-- the controllable clock, and dead rows of pg_courier's tables that vacuum
-- has not removed.  Thresholds are validated like the others.
--
-- Statistics reach pg_stat_all_tables only after a transaction ends, so
-- this file does not run in one transaction; what it creates it removes.
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
SET client_min_messages = warning;
SELECT plan(10);

DELETE FROM courier.alarm_thresholds WHERE object_kind = 'database';
SELECT courier.drop_queue('dbal_q', if_exists => true);
DELETE FROM courier.audit_log WHERE object_name = 'dbal_q';

CREATE FUNCTION pg_temp.firing(a text) RETURNS boolean
LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM courier.alarms WHERE object_kind = 'database' AND alarm = a)
$$;

SELECT throws_ok($$SELECT courier.set_alarm('database', 'not_this_database', 'dead_tuples', 10)$$,
                 '42704', NULL, 'a database alarm names the current database');
SELECT throws_ok($$SELECT courier.set_alarm('database', current_database(), 'oldest_transaction_age', 60)$$,
                 '22023', NULL, 'an age alarm takes an interval');
SELECT is((SELECT count(*) FROM courier.alarm_thresholds WHERE object_kind = 'database'), 0::bigint,
          'the refused thresholds changed nothing');

-- this session's own statement is a transaction with a snapshot: 100
-- seconds old on the clock moved forward
SELECT courier.set_alarm('database', current_database(), 'oldest_transaction_age', interval '50 seconds');
SET courier.clock_offset = 100;
SELECT ok(pg_temp.firing('oldest_transaction_age'),
          'a transaction older than the threshold fires oldest_transaction_age');
SELECT ok((SELECT value >= 100 AND since IS NOT NULL AND unit = 'seconds'
                  AND hint LIKE '%#alarm-oldest_transaction_age%'
             FROM courier.alarms WHERE object_kind = 'database' AND alarm = 'oldest_transaction_age'),
          'its value is the age in seconds, since when, and the runbook section');
SELECT ok(courier.metrics() ~ 'courier_alarm_firing\{[^}]*alarm="oldest_transaction_age"',
          'metrics() reports it');
SELECT courier.set_alarm('database', current_database(), 'oldest_transaction_age', interval '1 hour');
SELECT ok(NOT pg_temp.firing('oldest_transaction_age'), 'under the threshold it does not fire');
RESET courier.clock_offset;

-- dead rows: 300 messages sent and deleted leave 300 dead rows in
-- courier.messages until vacuum
SELECT courier.create_queue('dbal_q');
SELECT count(courier.send('dbal_q', jsonb_build_object('n', g))) FROM generate_series(1, 300) AS g;
DELETE FROM courier.messages WHERE queue_name = 'dbal_q';
SELECT pg_stat_force_next_flush();
SELECT courier.set_alarm('database', current_database(), 'dead_tuples', 250, 'info');
SELECT ok((SELECT value >= 300 FROM courier.alarms WHERE object_kind = 'database' AND alarm = 'dead_tuples'),
          'dead rows over the threshold fire dead_tuples');
SELECT courier.clear_alarm('database', current_database(), 'dead_tuples');
SELECT ok(NOT pg_temp.firing('dead_tuples'), 'a cleared alarm does not fire');

SELECT courier.clear_alarm('database', current_database(), 'oldest_transaction_age');
SELECT courier.drop_queue('dbal_q');
-- other suites count audit rows: leave none behind
DELETE FROM courier.audit_log WHERE object_name = 'dbal_q'
    OR (object_kind = 'database' AND action IN ('set_alarm', 'clear_alarm'));
SELECT is((SELECT count(*) FROM courier.alarm_thresholds WHERE object_kind = 'database'), 0::bigint,
          'no database threshold is left');

SELECT * FROM finish();
