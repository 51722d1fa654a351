-- Operations: statistics of workflow executions, alarms with thresholds set
-- per object, and Prometheus metrics of everything (src/operations.c for the
-- counters).  See docs/operations.md#statistics.

-- Internal: add n to a counter of a queue ('expired') or a state machine
-- ('started', 'aborted') in the current transaction, for the PL/pgSQL paths
-- that do that work; the shared counter grows at commit.
CREATE FUNCTION courier._count_stats(kind text, name text, counter text, n bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_count_stats'
LANGUAGE C STRICT VOLATILE;

-- Internal: a committed drop_queue or delete_state_machine forgets the
-- object's counters (kind 'queue' or 'state_machine').
CREATE FUNCTION courier._forget_stats(kind text, name text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_forget_stats'
LANGUAGE C STRICT VOLATILE;

-- Internal: the committed execution totals of a state machine since the
-- server started (shared memory; nulls when pg_courier is not preloaded).
CREATE FUNCTION courier._execution_counts(
    state_machine_name      text,
    OUT started_total       bigint,
    OUT succeeded_total     bigint,
    OUT failed_total        bigint,
    OUT timed_out_total     bigint,
    OUT aborted_total       bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'courier_execution_counts'
LANGUAGE C STRICT VOLATILE;

-- Per state machine: executions running now (counted from the running rows,
-- which the partial index executions_due_idx holds), the oldest of them,
-- and the totals since the server started.
CREATE VIEW courier.execution_stats AS
SELECT m.state_machine_name, m.current_version,
       coalesce(r.running, 0) AS running,
       r.oldest_running_started_at,
       c.started_total, c.succeeded_total, c.failed_total, c.timed_out_total, c.aborted_total
  FROM courier.state_machines AS m
  LEFT JOIN (SELECT e.state_machine_name, count(*) AS running,
                    min(e.started_at) AS oldest_running_started_at
               FROM courier.executions AS e
              WHERE e.status = 'RUNNING' AND e.parent_execution_id IS NULL
              GROUP BY e.state_machine_name) AS r
         ON r.state_machine_name = m.state_machine_name
 CROSS JOIN LATERAL courier._execution_counts(m.state_machine_name) AS c;
COMMENT ON VIEW courier.execution_stats IS
    'per state machine: executions running now, and started, succeeded, failed, timed-out and aborted ones since the server started';

-- Internal: the alarms there are, per kind of object: what the value is
-- measured in, and the runbook section (docs/operations.md) that says what
-- to do when it fires.
CREATE FUNCTION courier._alarm_catalog()
RETURNS TABLE (object_kind text, alarm text, unit text, hint text)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('queue', 'dlq_not_empty', 'messages',
            'See docs/operations.md#alarm-dlq_not_empty: read courier.dead_letters, fix the consumer, then courier.redrive().'),
           ('queue', 'oldest_message_age', 'seconds',
            'See docs/operations.md#alarm-oldest_message_age: consumers are too slow or stopped.'),
           ('queue', 'visible_backlog', 'messages',
            'See docs/operations.md#alarm-visible_backlog: more messages arrive than consumers take.'),
           ('rule', 'failed_invocations', 'invocations',
            'See docs/operations.md#alarm-failed_invocations: a target of the rule raises errors.'),
           ('rule', 'dead_letters', 'deliveries',
            'See docs/operations.md#alarm-dead_letters: deliveries of the rule gave up.'),
           ('target', 'failed_invocations', 'invocations',
            'See docs/operations.md#alarm-failed_invocations: the target raises errors.'),
           ('target', 'dead_letters', 'deliveries',
            'See docs/operations.md#alarm-dead_letters: deliveries to the target gave up.'),
           ('state_machine', 'failed_executions', 'executions',
            'See docs/operations.md#alarm-failed_executions: courier.list_executions(name, ''FAILED'') shows them.'),
           ('state_machine', 'timed_out_executions', 'executions',
            'See docs/operations.md#alarm-timed_out_executions: courier.list_executions(name, ''TIMED_OUT'') shows them.'),
           ('archive', 'replay_running', 'seconds',
            'See docs/operations.md#alarm-replay_running: courier.replays shows its progress.'),
           ('database', 'oldest_transaction_age', 'seconds',
            'See docs/operations.md#alarm-oldest_transaction_age: an old transaction keeps vacuum from removing dead messages.'),
           ('database', 'dead_tuples', 'rows',
            'See docs/operations.md#alarm-dead_tuples: a pg_courier table has dead rows vacuum has not removed.')
$$;

-- Thresholds: an alarm fires for an object when its value passes the
-- threshold (counts: above it; ages and run times in seconds: above it,
-- except replay_running, which fires once a replay has run that long).
-- Configuration, kept by pg_dump; a threshold outlives its object and
-- applies again to an object created with the same name.
--   object_name  a queue, archive or state machine name; BUS/RULE for a
--                rule; BUS/RULE/TARGET_ID for a target
CREATE TABLE courier.alarm_thresholds (
    threshold           numeric NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    object_kind         text COLLATE "C" NOT NULL,
    object_name         text COLLATE "C" NOT NULL,
    alarm               text COLLATE "C" NOT NULL,
    severity            text NOT NULL,
    CONSTRAINT alarm_thresholds_pkey PRIMARY KEY (object_kind, object_name, alarm),
    CONSTRAINT alarm_thresholds_alarm_check
        CHECK ((object_kind OPERATOR(pg_catalog.=) 'queue'
                AND alarm OPERATOR(pg_catalog.=) ANY
                    (ARRAY['dlq_not_empty', 'oldest_message_age', 'visible_backlog']))
            OR (object_kind OPERATOR(pg_catalog.=) ANY (ARRAY['rule', 'target'])
                AND alarm OPERATOR(pg_catalog.=) ANY (ARRAY['failed_invocations', 'dead_letters']))
            OR (object_kind OPERATOR(pg_catalog.=) 'state_machine'
                AND alarm OPERATOR(pg_catalog.=) ANY
                    (ARRAY['failed_executions', 'timed_out_executions']))
            OR (object_kind OPERATOR(pg_catalog.=) 'archive'
                AND alarm OPERATOR(pg_catalog.=) 'replay_running')
            OR (object_kind OPERATOR(pg_catalog.=) 'database'
                AND alarm OPERATOR(pg_catalog.=) ANY (ARRAY['oldest_transaction_age', 'dead_tuples']))),
    CONSTRAINT alarm_thresholds_severity_check
        CHECK (severity OPERATOR(pg_catalog.=) ANY (ARRAY['critical', 'warning', 'info'])),
    CONSTRAINT alarm_thresholds_threshold_check
        CHECK (threshold OPERATOR(pg_catalog.>=) 0)
);
COMMENT ON TABLE courier.alarm_thresholds IS
    'pg_courier alarm thresholds per object (set with courier.set_alarm, listed when firing in courier.alarms)';
SELECT pg_catalog.pg_extension_config_dump('courier.alarm_thresholds', '');

-- Internal: validate an alarm of an object (22023 for a kind or alarm that
-- does not exist, 42704 for an object that does not), and return its unit.
CREATE FUNCTION courier._check_alarm(object_kind text, object_name text, alarm text,
                                     check_object boolean)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u text;
    parts text[];
    exists_ boolean;
BEGIN
    PERFORM courier._require('object_kind', object_kind IS NULL);
    PERFORM courier._require('object_name', object_name IS NULL);
    PERFORM courier._require('alarm', alarm IS NULL);
    IF NOT EXISTS (SELECT 1 FROM courier._alarm_catalog() AS c
                    WHERE c.object_kind = _check_alarm.object_kind) THEN
        RAISE EXCEPTION 'unknown alarm object kind "%"', object_kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kinds are queue, rule, target, state_machine, archive and database.';
    END IF;
    SELECT c.unit INTO u FROM courier._alarm_catalog() AS c
     WHERE c.object_kind = _check_alarm.object_kind AND c.alarm = _check_alarm.alarm;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown alarm "%" for a %', alarm, object_kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('The alarms of a %s are %s.', object_kind,
                                (SELECT string_agg(c.alarm, ', ' ORDER BY c.alarm)
                                   FROM courier._alarm_catalog() AS c
                                  WHERE c.object_kind = _check_alarm.object_kind));
    END IF;
    IF NOT check_object THEN
        RETURN u;
    END IF;
    parts := string_to_array(object_name, '/');
    exists_ := CASE object_kind
           WHEN 'queue' THEN EXISTS (SELECT 1 FROM courier.queues AS q WHERE q.queue_name = object_name)
           WHEN 'state_machine' THEN EXISTS (SELECT 1 FROM courier.state_machines AS m
                                              WHERE m.state_machine_name = object_name)
           WHEN 'archive' THEN EXISTS (SELECT 1 FROM courier.archives AS a WHERE a.archive_name = object_name)
           WHEN 'database' THEN object_name = current_database()
           WHEN 'rule' THEN cardinality(parts) = 2
                            AND EXISTS (SELECT 1 FROM courier.rules AS r
                                         WHERE r.bus_name = parts[1] AND r.rule_name = parts[2])
           WHEN 'target' THEN cardinality(parts) = 3
                              AND EXISTS (SELECT 1 FROM courier.targets AS t
                                           WHERE t.bus_name = parts[1] AND t.rule_name = parts[2]
                                             AND t.target_id = parts[3])
           END;
    IF NOT exists_ THEN
        RAISE EXCEPTION '% "%" does not exist', replace(object_kind, '_', ' '), object_name
            USING ERRCODE = 'undefined_object',
                  HINT = CASE object_kind
                         WHEN 'rule' THEN 'Name a rule as BUS/RULE.'
                         WHEN 'target' THEN 'Name a target as BUS/RULE/TARGET_ID.'
                         WHEN 'database' THEN 'A database alarm is set on the current database.'
                         ELSE 'Thresholds are set on objects that exist.' END;
    END IF;
    RETURN u;
END
$$;

CREATE FUNCTION courier.set_alarm(
    object_kind text,
    object_name text,
    alarm       text,
    threshold   numeric DEFAULT 0,
    severity    text DEFAULT 'warning')
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u text;
    ts timestamptz := courier.now();
BEGIN
    u := courier._check_alarm(object_kind, object_name, alarm, true);
    PERFORM courier._require('threshold', threshold IS NULL);
    PERFORM courier._require('severity', severity IS NULL);
    IF u = 'seconds' THEN
        RAISE EXCEPTION 'the threshold of alarm "%" is a duration', alarm
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Pass an interval, e.g. courier.set_alarm(%L, %L, %L, interval ''5 minutes'').',
                                object_kind, object_name, alarm);
    END IF;
    IF threshold < 0 OR threshold <> trunc(threshold) THEN
        RAISE EXCEPTION 'the threshold of alarm "%" must be a whole number of % at least 0', alarm, u
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', threshold);
    END IF;
    IF severity NOT IN ('critical', 'warning', 'info') THEN
        RAISE EXCEPTION 'invalid alarm severity "%"', severity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The severities are critical, warning and info.';
    END IF;
    INSERT INTO courier.alarm_thresholds AS t
           (threshold, created_at, updated_at, object_kind, object_name, alarm, severity)
    VALUES (threshold, ts, ts, object_kind, object_name, alarm, severity)
        ON CONFLICT ON CONSTRAINT alarm_thresholds_pkey
        DO UPDATE SET threshold = EXCLUDED.threshold, severity = EXCLUDED.severity,
                      updated_at = EXCLUDED.updated_at;
    PERFORM courier._audit('set_alarm', object_kind, object_name,
                           jsonb_build_object('alarm', alarm, 'threshold', threshold,
                                              'severity', severity));
END
$$;
COMMENT ON FUNCTION courier.set_alarm(text, text, text, numeric, text) IS
    'set (or change) the threshold of a counting alarm of a queue, rule, target or state machine';

CREATE FUNCTION courier.set_alarm(
    object_kind text,
    object_name text,
    alarm       text,
    threshold   interval,
    severity    text DEFAULT 'warning')
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u text;
    ts timestamptz := courier.now();
BEGIN
    u := courier._check_alarm(object_kind, object_name, alarm, true);
    PERFORM courier._require('threshold', threshold IS NULL);
    PERFORM courier._require('severity', severity IS NULL);
    IF u <> 'seconds' THEN
        RAISE EXCEPTION 'the threshold of alarm "%" is a number of %', alarm, u
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Pass a number, e.g. courier.set_alarm(%L, %L, %L, 10).',
                                object_kind, object_name, alarm);
    END IF;
    IF threshold < '0'::interval OR threshold > '10 years'::interval THEN
        RAISE EXCEPTION 'the threshold of alarm "%" must be between 0 and 10 years', alarm
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', threshold);
    END IF;
    IF severity NOT IN ('critical', 'warning', 'info') THEN
        RAISE EXCEPTION 'invalid alarm severity "%"', severity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The severities are critical, warning and info.';
    END IF;
    INSERT INTO courier.alarm_thresholds AS t
           (threshold, created_at, updated_at, object_kind, object_name, alarm, severity)
    VALUES (extract(epoch FROM threshold), ts, ts, object_kind, object_name, alarm, severity)
        ON CONFLICT ON CONSTRAINT alarm_thresholds_pkey
        DO UPDATE SET threshold = EXCLUDED.threshold, severity = EXCLUDED.severity,
                      updated_at = EXCLUDED.updated_at;
    PERFORM courier._audit('set_alarm', object_kind, object_name,
                           jsonb_build_object('alarm', alarm, 'threshold', threshold,
                                              'severity', severity));
END
$$;
COMMENT ON FUNCTION courier.set_alarm(text, text, text, interval, text) IS
    'set (or change) the threshold of an age alarm: a queue''s oldest message, an archive''s running replay';

-- The object need not exist any more: thresholds outlive their objects.
CREATE FUNCTION courier.clear_alarm(object_kind text, object_name text, alarm text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._check_alarm(object_kind, object_name, alarm, false);
    DELETE FROM courier.alarm_thresholds AS t
     WHERE t.object_kind = clear_alarm.object_kind AND t.object_name = clear_alarm.object_name
       AND t.alarm = clear_alarm.alarm;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM courier._audit('clear_alarm', object_kind, object_name, jsonb_build_object('alarm', alarm));
    RETURN true;
END
$$;
COMMENT ON FUNCTION courier.clear_alarm(text, text, text) IS
    'remove the threshold of an alarm; returns false when there was none';

-- The alarms firing now: one row per threshold whose object exists and whose
-- value passed it.  value is in unit (seconds for ages); since is when the
-- condition began, where that is known (the oldest message or dead letter,
-- the replay's start), else null.  Counting alarms of rules, targets and
-- state machines compare totals since the server started.
CREATE VIEW courier.alarms AS
WITH t AS (
    SELECT a.object_kind, a.object_name, a.alarm, a.severity, a.threshold, c.unit, c.hint
      FROM courier.alarm_thresholds AS a
      JOIN courier._alarm_catalog() AS c ON c.object_kind = a.object_kind AND c.alarm = a.alarm
), v AS (
    SELECT t.*, x.value, x.since
      FROM t
      JOIN courier.queue_stats AS s ON t.object_kind = 'queue' AND s.queue_name = t.object_name
     CROSS JOIN LATERAL (
           SELECT CASE t.alarm
                  WHEN 'dlq_not_empty' THEN (s.dead_lettered + s.dead_letters_held)::numeric
                  WHEN 'visible_backlog' THEN s.visible::numeric
                  ELSE coalesce(extract(epoch FROM s.oldest_age), 0) END AS value,
                  CASE t.alarm
                  WHEN 'oldest_message_age' THEN s.oldest_sent_at + make_interval(secs => t.threshold)
                  WHEN 'dlq_not_empty' THEN
                      (SELECT min(m.dead_lettered_at) FROM courier.messages AS m
                        WHERE m.dead_lettered_at IS NOT NULL
                          AND (m.queue_name = s.queue_name
                               OR (m.queue_name = s.dead_letter_queue AND m.source_queue = s.queue_name)))
                  END AS since) AS x
    UNION ALL
    SELECT t.*, CASE t.alarm WHEN 'failed_invocations' THEN sum(r.failed_invocations)
                             ELSE sum(r.dead_letters) END::numeric, NULL::timestamptz
      FROM t
      JOIN courier.rule_stats AS r
        ON (t.object_kind = 'rule' AND t.object_name = r.bus_name || '/' || r.rule_name)
        OR (t.object_kind = 'target' AND t.object_name = r.bus_name || '/' || r.rule_name || '/' || r.target_id)
     GROUP BY t.object_kind, t.object_name, t.alarm, t.severity, t.threshold, t.unit, t.hint
    UNION ALL
    SELECT t.*, CASE t.alarm WHEN 'failed_executions' THEN e.failed_total
                             ELSE e.timed_out_total END::numeric, NULL::timestamptz
      FROM t
      JOIN courier.execution_stats AS e
        ON t.object_kind = 'state_machine' AND e.state_machine_name = t.object_name
    UNION ALL
    SELECT t.*, x.value, x.started + make_interval(secs => t.threshold)
      FROM t
      JOIN courier.archives AS a ON t.object_kind = 'archive' AND a.archive_name = t.object_name
     CROSS JOIN LATERAL (
           SELECT extract(epoch FROM courier.now() - min(coalesce(r.replay_start_time, r.created_at))) AS value,
                  min(coalesce(r.replay_start_time, r.created_at)) AS started
             FROM courier.bus_replays AS r
            WHERE r.archive_name = a.archive_name
              AND r.state IN ('STARTING', 'RUNNING', 'CANCELLING')) AS x
    UNION ALL
    -- The database: the oldest transaction that holds back vacuum (a
    -- session of this database with a snapshot, or a prepared transaction),
    -- by courier.now(); and the most dead rows of a pg_courier table.  Other
    -- roles' sessions are seen by members of pg_read_all_stats.
    SELECT t.*, x.value, x.since
      FROM t
     CROSS JOIN LATERAL (
           SELECT CASE t.alarm
                  WHEN 'oldest_transaction_age'
                  THEN coalesce(extract(epoch FROM courier.now() - min(o.started)), 0)::numeric
                  ELSE (SELECT coalesce(max(st.n_dead_tup), 0)::numeric
                          FROM pg_catalog.pg_stat_all_tables AS st
                         WHERE st.schemaname = 'courier') END AS value,
                  CASE t.alarm WHEN 'oldest_transaction_age' THEN min(o.started) END AS since
             FROM (SELECT a.xact_start AS started FROM pg_catalog.pg_stat_activity AS a
                    WHERE a.datname = current_database() AND a.backend_xmin IS NOT NULL
                   UNION ALL
                   SELECT p.prepared FROM pg_catalog.pg_prepared_xacts AS p
                    WHERE p.database = current_database()) AS o) AS x
     WHERE t.object_kind = 'database' AND t.object_name = current_database()
)
SELECT v.object_kind, v.object_name, v.alarm, v.severity, v.threshold, v.value, v.unit, v.since, v.hint
  FROM v
 WHERE CASE WHEN v.alarm = 'replay_running' THEN v.value >= v.threshold
            ELSE v.value > v.threshold END;
COMMENT ON VIEW courier.alarms IS
    'alarms firing now: object, alarm, severity, threshold, current value, since when, and what to do';

-- Internal: Prometheus labels {k1="v1",k2="v2"} from name, value pairs,
-- values escaped as the text exposition format requires (backslash, double
-- quote, line feed).
CREATE FUNCTION courier._metric_labels(VARIADIC pairs text[])
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT '{' || string_agg(pairs[i] || '="'
                             || replace(replace(replace(coalesce(pairs[i + 1], ''),
                                                        E'\\', E'\\\\'),
                                                '"', E'\\"'),
                                        E'\n', E'\\n')
                             || '"', ',' ORDER BY i) || '}'
      FROM generate_subscripts(pairs, 1) AS i
     WHERE i % 2 = 1
$$;

-- Every statistic and firing alarm in the Prometheus text exposition format
-- (version 0.0.4): per metric family a # HELP and a # TYPE line, then its
-- samples in label order.  Counters (_total) are absent when pg_courier is
-- not preloaded; courier_stats_available says which.
CREATE FUNCTION courier.metrics()
RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
WITH families (ord, name, type, help) AS (VALUES
    (1, 'courier_stats_available', 'gauge', '1 when pg_courier is preloaded and counts committed work in shared memory, else 0 (counters are then absent).'),
    (2, 'courier_queue_messages', 'gauge', 'Messages in the queue now, by state.'),
    (3, 'courier_queue_oldest_message_age_seconds', 'gauge', 'Age of the oldest message in the queue (0 when it is empty).'),
    (4, 'courier_queue_dead_letters_held', 'gauge', 'Dead letters the queue holds now, as a dead-letter queue.'),
    (5, 'courier_queue_dead_lettered', 'gauge', 'Messages of the queue now in its dead-letter queue.'),
    (6, 'courier_queue_sent_messages_total', 'counter', 'Messages sent to the queue (send, send_batch, topics, buses, redrive) since the server started.'),
    (7, 'courier_queue_received_messages_total', 'counter', 'Messages leased by receive since the server started.'),
    (8, 'courier_queue_deleted_messages_total', 'counter', 'Messages deleted by their consumers since the server started.'),
    (9, 'courier_queue_dead_lettered_messages_total', 'counter', 'Messages moved to the queue''s dead-letter queue since the server started.'),
    (10, 'courier_queue_expired_messages_total', 'counter', 'Messages removed by tick() past the queue''s retention since the server started.'),
    (11, 'courier_subscription_delivered_messages_total', 'counter', 'Published messages the subscription delivered to its queue since the server started.'),
    (12, 'courier_subscription_filtered_out_messages_total', 'counter', 'Published messages the subscription''s filter policy filtered out since the server started.'),
    (13, 'courier_rule_matched_events_total', 'counter', 'Events the rule matched since the server started.'),
    (14, 'courier_target_invocations_total', 'counter', 'Deliveries made to the target, including failed ones, since the server started.'),
    (15, 'courier_target_failed_invocations_total', 'counter', 'Deliveries to the target that failed since the server started.'),
    (16, 'courier_target_retries_total', 'counter', 'Retries of deliveries to the target since the server started.'),
    (17, 'courier_target_dead_letters_total', 'counter', 'Exhausted deliveries sent to the target''s dead-letter queue since the server started.'),
    (18, 'courier_target_dropped_total', 'counter', 'Exhausted deliveries dropped (no dead-letter queue) since the server started.'),
    (19, 'courier_target_throttled_total', 'counter', 'Due deliveries a tick left for the next one since the server started.'),
    (20, 'courier_target_pending_deliveries', 'gauge', 'Deliveries to the target not made yet.'),
    (21, 'courier_executions_running', 'gauge', 'Executions of the state machine running now.'),
    (22, 'courier_executions_started_total', 'counter', 'Executions of the state machine started since the server started.'),
    (23, 'courier_executions_finished_total', 'counter', 'Executions of the state machine that ended since the server started, by status.'),
    (24, 'courier_alarm_firing', 'gauge', '1 for each alarm firing now (courier.alarms).')
), qs AS MATERIALIZED (
    SELECT * FROM courier.queue_stats
), ts AS MATERIALIZED (
    SELECT * FROM courier.topic_stats
), rs AS MATERIALIZED (
    SELECT * FROM courier.rule_stats
), es AS MATERIALIZED (
    SELECT * FROM courier.execution_stats
), samples (name, labels, value) AS MATERIALIZED (
    SELECT 'courier_stats_available', '',
           CASE WHEN (courier._queue_counts('')).sent_total IS NULL THEN '0' ELSE '1' END
    UNION ALL
    SELECT 'courier_queue_messages', courier._metric_labels('queue', q.queue_name, 'state', s.state), s.n::text
      FROM qs AS q
     CROSS JOIN LATERAL (VALUES ('visible', q.visible), ('in_flight', q.in_flight),
                                ('delayed', q.delayed), ('expired', q.expired)) AS s (state, n)
    UNION ALL
    SELECT 'courier_queue_oldest_message_age_seconds', courier._metric_labels('queue', q.queue_name),
           coalesce(extract(epoch FROM q.oldest_age), 0)::text
      FROM qs AS q
    UNION ALL
    SELECT 'courier_queue_dead_letters_held', courier._metric_labels('queue', q.queue_name),
           q.dead_letters_held::text
      FROM qs AS q
    UNION ALL
    SELECT 'courier_queue_dead_lettered',
           courier._metric_labels('queue', q.queue_name, 'dead_letter_queue', q.dead_letter_queue),
           q.dead_lettered::text
      FROM qs AS q WHERE q.dead_letter_queue IS NOT NULL
    UNION ALL
    SELECT c.name, courier._metric_labels('queue', q.queue_name), c.n::text
      FROM qs AS q
     CROSS JOIN LATERAL (VALUES ('courier_queue_sent_messages_total', q.sent_total),
                                ('courier_queue_received_messages_total', q.received_total),
                                ('courier_queue_deleted_messages_total', q.deleted_total),
                                ('courier_queue_dead_lettered_messages_total', q.dead_lettered_total),
                                ('courier_queue_expired_messages_total', q.expired_total)) AS c (name, n)
     WHERE c.n IS NOT NULL
    UNION ALL
    SELECT c.name, courier._metric_labels('topic', s.topic_name, 'subscription_id', s.subscription_id::text,
                                          'queue', s.queue_name), c.n::text
      FROM ts AS s
     CROSS JOIN LATERAL (VALUES ('courier_subscription_delivered_messages_total', s.delivered),
                                ('courier_subscription_filtered_out_messages_total', s.filtered_out)) AS c (name, n)
     WHERE c.n IS NOT NULL
    UNION ALL
    SELECT DISTINCT 'courier_rule_matched_events_total', courier._metric_labels('bus', r.bus_name, 'rule', r.rule_name),
           r.matched::text
      FROM rs AS r WHERE r.matched IS NOT NULL
    UNION ALL
    SELECT c.name, courier._metric_labels('bus', r.bus_name, 'rule', r.rule_name, 'target_id', r.target_id,
                                          'target', r.target), c.n::text
      FROM rs AS r
     CROSS JOIN LATERAL (VALUES ('courier_target_invocations_total', r.invocations),
                                ('courier_target_failed_invocations_total', r.failed_invocations),
                                ('courier_target_retries_total', r.retries),
                                ('courier_target_dead_letters_total', r.dead_letters),
                                ('courier_target_dropped_total', r.dropped),
                                ('courier_target_throttled_total', r.throttled),
                                ('courier_target_pending_deliveries', r.pending)) AS c (name, n)
     WHERE r.target_id IS NOT NULL AND c.n IS NOT NULL
    UNION ALL
    SELECT 'courier_executions_running', courier._metric_labels('state_machine', e.state_machine_name),
           e.running::text
      FROM es AS e
    UNION ALL
    SELECT 'courier_executions_started_total', courier._metric_labels('state_machine', e.state_machine_name),
           e.started_total::text
      FROM es AS e WHERE e.started_total IS NOT NULL
    UNION ALL
    SELECT 'courier_executions_finished_total',
           courier._metric_labels('state_machine', e.state_machine_name, 'status', c.status), c.n::text
      FROM es AS e
     CROSS JOIN LATERAL (VALUES ('succeeded', e.succeeded_total), ('failed', e.failed_total),
                                ('timed_out', e.timed_out_total), ('aborted', e.aborted_total)) AS c (status, n)
     WHERE c.n IS NOT NULL
    UNION ALL
    SELECT 'courier_alarm_firing',
           courier._metric_labels('object_kind', a.object_kind, 'object_name', a.object_name,
                                  'alarm', a.alarm, 'severity', a.severity), '1'
      FROM courier.alarms AS a
)
SELECT string_agg(format(E'# HELP %s %s\n# TYPE %s %s\n', f.name, f.help, f.name, f.type)
                  || coalesce((SELECT string_agg(s.name || s.labels || ' ' || s.value || E'\n', ''
                                                 ORDER BY s.labels COLLATE "C")
                                 FROM samples AS s WHERE s.name = f.name), ''),
                  '' ORDER BY f.ord)
  FROM families AS f
$$;
COMMENT ON FUNCTION courier.metrics() IS
    'queue, topic, bus, workflow statistics and firing alarms in the Prometheus text exposition format';
