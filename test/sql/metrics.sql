-- courier.metrics(): the exact Prometheus text exposition of a fixed setup.
-- Counters count committed work since the server started, so every step
-- runs in its own transaction on objects created here (dropped at the end,
-- which forgets their counters).  Only the lines of these objects are shown,
-- with every comment line; the oldest message's age is masked, and the
-- subscription id (from a sequence) too.
\set VERBOSITY terse

SELECT courier.create_queue('met_dlq');
SELECT courier.create_queue('met_q', dead_letter_queue => 'met_dlq', max_receive_count => 1);
SELECT courier.create_queue('met_sub');
SELECT courier.send('met_q', '{"n": 1}') > 0 AS sent;
SELECT count(*) AS received FROM courier.receive('met_q', 1, visibility_timeout => '0');
SELECT count(*) AS sent FROM courier.send_batch('met_q', ARRAY['{"n": 2}', '{"n": 3}']::jsonb[]);
-- the first message goes to the dead-letter queue, the second is leased
SELECT receipt FROM courier.receive('met_q', 1) \gset
SELECT courier.delete('met_q', :'receipt') AS deleted;

SELECT courier.create_topic('met_t');
SELECT courier.subscribe('met_t', 'met_sub', '{"kind": ["a"]}') > 0 AS subscribed;
SELECT courier.publish('met_t', '{}', '{"kind": "a"}') > 0 AS published;
SELECT courier.publish('met_t', '{}', '{"kind": "b"}') > 0 AS published;

SELECT courier.create_state_machine('met_sm', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}');
SELECT courier.start_execution('met_sm') > 0 AS started;
SELECT courier.run_executions(100) AS transitions;

-- A function target in a schema whose name needs escaping in a label:
-- a double quote, a backslash and a line feed.
CREATE SCHEMA "met""s\x
y";
CREATE FUNCTION "met""s\x
y".handler(e jsonb) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'failing on purpose'; END $$;
SELECT courier.create_bus('met_bus');
SELECT courier.put_rule('met_bus', 'r', '{"source": ["met"]}') > 0 AS rule;
SELECT courier.put_target('met_bus', 'r', 'f', 'function:"met""s\x' || E'\n' || 'y".handler',
                          retry_policy => '{"MaximumRetryAttempts": 0}');
SELECT count(*) AS accepted FROM courier.put_events('met_bus', '[{"source": "met", "detail-type": "t", "detail": {}}]')
 WHERE error IS NULL;
SELECT courier._deliver_bus_events(courier.now(), 10)->'bus_deliveries_dropped' AS dropped;

SELECT courier.set_alarm('queue', 'met_q', 'dlq_not_empty', 0, 'critical');
SELECT courier.set_alarm('queue', 'met_sub', 'visible_backlog', 5);

SELECT regexp_replace(regexp_replace(line,
           '^(courier_queue_oldest_message_age_seconds\{queue="met_[a-z]+"\}) [0-9.]+$', '\1 <age>'),
           'subscription_id="[0-9]+"', 'subscription_id="<id>"') AS line
  FROM regexp_split_to_table(courier.metrics(), E'\n') WITH ORDINALITY AS t (line, n)
 WHERE line LIKE '#%' OR line LIKE 'courier_stats_available %' OR line LIKE '%met\_%'
 ORDER BY n;

-- the output ends with a line feed, and holds no line twice
SELECT right(courier.metrics(), 1) = E'\n' AS ends_with_newline;
SELECT count(*) AS repeated
  FROM (SELECT line FROM regexp_split_to_table(courier.metrics(), E'\n') AS line
         WHERE line <> '' GROUP BY line HAVING count(*) > 1) AS d;

SELECT courier.drop_bus('met_bus');
DROP SCHEMA "met""s\x
y" CASCADE;
SELECT courier.drop_topic('met_t');
SELECT courier.alter_queue('met_q', dead_letter_queue => '');
SELECT courier.drop_queue('met_q'), courier.drop_queue('met_dlq'), courier.drop_queue('met_sub');
SELECT courier.delete_state_machine('met_sm');
SELECT courier.clear_alarm('queue', 'met_q', 'dlq_not_empty'), courier.clear_alarm('queue', 'met_sub', 'visible_backlog');
