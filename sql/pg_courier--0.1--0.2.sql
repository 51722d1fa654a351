-- pg_courier 0.1 -> 0.2: FIFO queues, deduplication, dead-letter queues and
-- redrive, long polling, courier.tick() and the audit trail.
-- Hand-written; test/scenarios/upgrade.sh checks that an upgraded database has
-- exactly the catalog of a fresh 0.2 install.
\echo Use "ALTER EXTENSION pg_courier UPDATE TO '0.2'" to load this file. \quit

-- Queues: FIFO and redrive attributes (appended, as in a fresh install).
ALTER TABLE courier.queues
    ADD COLUMN fifo                boolean NOT NULL DEFAULT false,
    ADD COLUMN content_based_dedup boolean NOT NULL DEFAULT false,
    ADD COLUMN dedup_window        interval NOT NULL DEFAULT '5 minutes',
    ADD COLUMN dead_letter_queue   text COLLATE "C",
    ADD COLUMN max_receive_count   integer,
    ADD CONSTRAINT queues_content_based_dedup_check
        CHECK (fifo OR NOT content_based_dedup),
    ADD CONSTRAINT queues_dedup_window_check
        CHECK (dedup_window OPERATOR(pg_catalog.>=) '1 second'::interval
               AND dedup_window OPERATOR(pg_catalog.<=) '1 day'::interval),
    ADD CONSTRAINT queues_redrive_check
        CHECK ((dead_letter_queue IS NULL) = (max_receive_count IS NULL)
               AND max_receive_count BETWEEN 1 AND 1000
               AND dead_letter_queue OPERATOR(pg_catalog.<>) queue_name);

-- Messages: group, dedup id and dead-letter evidence (appended).
ALTER TABLE courier.messages
    ADD COLUMN group_id            text COLLATE "C",
    ADD COLUMN dedup_id            text,
    ADD COLUMN source_queue        text COLLATE "C",
    ADD COLUMN origin_msg_id       bigint,
    ADD COLUMN source_sent_at      timestamptz,
    ADD COLUMN source_receive_count integer,
    ADD COLUMN source_first_received_at timestamptz,
    ADD COLUMN source_last_received_at timestamptz,
    ADD COLUMN dead_lettered_at    timestamptz,
    ADD COLUMN returned_at         timestamptz;

-- FIFO queues: walks a group's messages in order.
CREATE INDEX messages_group_idx ON courier.messages (queue_name, group_id, msg_id)
    WHERE group_id IS NOT NULL;

-- FIFO message groups.  A group row is the lock that orders everything done to
-- the group's messages (senders, receivers, deleters all take it first), and
-- it says when the group may deliver next:
--   visible_at   end of the current lease of the group's in-flight messages,
--                or when its next message becomes visible; 'infinity' when the
--                group is empty (tick() removes such rows)
--   inflight     messages leased by the group's last receive and not yet
--                deleted or released
CREATE TABLE courier.message_groups (
    visible_at          timestamptz NOT NULL,
    inflight            integer NOT NULL DEFAULT 0,
    queue_name          text COLLATE "C" NOT NULL,
    group_id            text COLLATE "C" NOT NULL,
    CONSTRAINT message_groups_pkey PRIMARY KEY (queue_name, group_id)
);
COMMENT ON TABLE courier.message_groups IS 'pg_courier FIFO message groups and when each may deliver next';
-- receive() on a FIFO queue takes the ready group that has waited longest.
CREATE INDEX message_groups_ready_idx ON courier.message_groups (queue_name, visible_at, group_id);

-- FIFO deduplication history: a dedup id seen on a queue within its
-- dedup_window maps to the message first sent with it.
CREATE TABLE courier.dedup (
    msg_id              bigint,
    expires_at          timestamptz NOT NULL,
    queue_name          text COLLATE "C" NOT NULL,
    dedup_id            text COLLATE "C" NOT NULL,
    CONSTRAINT dedup_pkey PRIMARY KEY (queue_name, dedup_id)
);
COMMENT ON TABLE courier.dedup IS 'pg_courier FIFO deduplication ids and the message each first produced';
CREATE INDEX dedup_expiry_idx ON courier.dedup (queue_name, expires_at);

-- Who purged, dropped or redrove what, and when.
CREATE SEQUENCE courier.audit_id_seq AS bigint;
CREATE TABLE courier.audit_log (
    audit_id            bigint NOT NULL DEFAULT pg_catalog.nextval('courier.audit_id_seq'::pg_catalog.regclass),
    at                  timestamptz NOT NULL,
    session_role        name NOT NULL DEFAULT pg_catalog.session_user(),
    current_role_name   name NOT NULL DEFAULT pg_catalog.current_user(),
    action              text NOT NULL,
    object_kind         text NOT NULL,
    object_name         text NOT NULL,
    details             jsonb,
    CONSTRAINT audit_log_pkey PRIMARY KEY (audit_id)
);
COMMENT ON TABLE courier.audit_log IS 'pg_courier audit trail: purges, drops and redrives';

SELECT pg_catalog.pg_extension_config_dump('courier.message_groups', '');
SELECT pg_catalog.pg_extension_config_dump('courier.dedup', '');
SELECT pg_catalog.pg_extension_config_dump('courier.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('courier.audit_id_seq', '');

-- courier.received gains the FIFO fields (appended).
ALTER TYPE courier.received ADD ATTRIBUTE group_id text, ADD ATTRIBUTE dedup_id text;

-- Functions whose signature or result changed: dropped and created again.
DROP FUNCTION courier.create_queue(text, interval, interval, interval, integer);
DROP FUNCTION courier.alter_queue(text, interval, interval, interval, integer);
DROP FUNCTION courier.list_queues();
DROP FUNCTION courier.send(text, jsonb, jsonb, interval);
DROP FUNCTION courier.send_batch(text, jsonb[], jsonb[], interval);
DROP FUNCTION courier.receive(text, integer, interval);

-- Internal: validate the FIFO and redrive settings of queue q (as they will
-- be stored), and pin its dead-letter queue so it cannot be dropped meanwhile.
CREATE FUNCTION courier._check_queue_policy(q courier.queues)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dlq_fifo boolean;
BEGIN
    IF q.content_based_dedup AND NOT q.fifo THEN
        RAISE EXCEPTION 'content_based_dedup is only for FIFO queues'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Create the queue with fifo => true.';
    END IF;
    PERFORM courier._check_duration('dedup_window', q.dedup_window,
                                    interval '1 second', interval '1 day', '1 second and 1 day');
    IF (q.dead_letter_queue IS NULL) <> (q.max_receive_count IS NULL) THEN
        RAISE EXCEPTION 'dead_letter_queue and max_receive_count must be set together'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass dead_letter_queue => '''' to remove the redrive policy.';
    END IF;
    IF q.dead_letter_queue IS NULL THEN
        RETURN;
    END IF;
    IF q.max_receive_count < 1 OR q.max_receive_count > 1000 THEN
        RAISE EXCEPTION 'max_receive_count must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', q.max_receive_count);
    END IF;
    IF q.dead_letter_queue = q.queue_name THEN
        RAISE EXCEPTION 'queue "%" cannot be its own dead-letter queue', q.queue_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT d.fifo INTO dlq_fifo
      FROM courier.queues AS d
     WHERE d.queue_name = q.dead_letter_queue
       FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dead-letter queue "%" does not exist', q.dead_letter_queue
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first with courier.create_queue().';
    END IF;
    IF dlq_fifo <> q.fifo THEN
        RAISE EXCEPTION 'the dead-letter queue of a % queue must be a % queue',
                        CASE WHEN q.fifo THEN 'FIFO' ELSE 'standard' END,
                        CASE WHEN q.fifo THEN 'FIFO' ELSE 'standard' END
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Queue "%s" is %s.', q.dead_letter_queue,
                                  CASE WHEN dlq_fifo THEN 'a FIFO queue' ELSE 'a standard queue' END);
    END IF;
END
$$;

-- Internal: append to the audit trail.
CREATE FUNCTION courier._audit(action text, object_kind text, object_name text, details jsonb)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO courier.audit_log (at, action, object_kind, object_name, details)
    VALUES (courier.now(), action, object_kind, object_name, details)
$$;

CREATE FUNCTION courier.create_queue(
    queue_name          text,
    visibility_timeout  interval DEFAULT '30 seconds',
    delay               interval DEFAULT '0',
    retention           interval DEFAULT '4 days',
    max_message_bytes   integer  DEFAULT 262144,
    fifo                boolean  DEFAULT false,
    content_based_dedup boolean  DEFAULT false,
    dedup_window        interval DEFAULT '5 minutes',
    dead_letter_queue   text     DEFAULT NULL,
    max_receive_count   integer  DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    q courier.queues;
BEGIN
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM courier._require('visibility_timeout', visibility_timeout IS NULL);
    PERFORM courier._require('delay', delay IS NULL);
    PERFORM courier._require('retention', retention IS NULL);
    PERFORM courier._require('max_message_bytes', max_message_bytes IS NULL);
    PERFORM courier._require('fifo', fifo IS NULL);
    PERFORM courier._require('content_based_dedup', content_based_dedup IS NULL);
    PERFORM courier._require('dedup_window', dedup_window IS NULL);

    IF queue_name !~ '^[A-Za-z0-9_-]+(\.fifo)?$' OR length(queue_name) > 80 THEN
        RAISE EXCEPTION 'invalid queue name "%"', queue_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A queue name has 1 to 80 characters: letters, digits, "_" and "-", optionally ending in ".fifo".';
    END IF;
    PERFORM courier._check_queue_attributes(visibility_timeout, delay, retention, max_message_bytes);

    q.queue_name := create_queue.queue_name;
    q.visibility_timeout := create_queue.visibility_timeout;
    q.delay := create_queue.delay;
    q.retention := create_queue.retention;
    q.max_message_bytes := create_queue.max_message_bytes;
    q.created_at := ts;
    q.updated_at := ts;
    q.fifo := create_queue.fifo;
    q.content_based_dedup := create_queue.content_based_dedup;
    q.dedup_window := create_queue.dedup_window;
    q.dead_letter_queue := nullif(create_queue.dead_letter_queue, '');
    q.max_receive_count := create_queue.max_receive_count;
    PERFORM courier._check_queue_policy(q);

    INSERT INTO courier.queues SELECT (q).*
        ON CONFLICT ON CONSTRAINT queues_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" already exists', queue_name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Use courier.alter_queue() to change its attributes.';
    END IF;
END
$$;
COMMENT ON FUNCTION courier.create_queue(text, interval, interval, interval, integer, boolean, boolean, interval, text, integer) IS
    'create a standard or FIFO queue, optionally with a dead-letter queue';

CREATE FUNCTION courier.alter_queue(
    queue_name          text,
    visibility_timeout  interval DEFAULT NULL,
    delay               interval DEFAULT NULL,
    retention           interval DEFAULT NULL,
    max_message_bytes   integer  DEFAULT NULL,
    content_based_dedup boolean  DEFAULT NULL,
    dedup_window        interval DEFAULT NULL,
    dead_letter_queue   text     DEFAULT NULL,
    max_receive_count   integer  DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q courier.queues;
BEGIN
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM courier._check_queue_attributes(visibility_timeout, delay, retention, max_message_bytes);

    SELECT * INTO q FROM courier.queues AS c
     WHERE c.queue_name = alter_queue.queue_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue_name
            USING ERRCODE = 'undefined_object';
    END IF;
    q.visibility_timeout := coalesce(alter_queue.visibility_timeout, q.visibility_timeout);
    q.delay := coalesce(alter_queue.delay, q.delay);
    q.retention := coalesce(alter_queue.retention, q.retention);
    q.max_message_bytes := coalesce(alter_queue.max_message_bytes, q.max_message_bytes);
    q.content_based_dedup := coalesce(alter_queue.content_based_dedup, q.content_based_dedup);
    q.dedup_window := coalesce(alter_queue.dedup_window, q.dedup_window);
    IF alter_queue.dead_letter_queue = '' THEN
        -- '' removes the redrive policy, as in SQS
        q.dead_letter_queue := NULL;
        q.max_receive_count := NULL;
    ELSE
        q.dead_letter_queue := coalesce(alter_queue.dead_letter_queue, q.dead_letter_queue);
        q.max_receive_count := coalesce(alter_queue.max_receive_count, q.max_receive_count);
    END IF;
    q.updated_at := courier.now();
    PERFORM courier._check_queue_policy(q);

    UPDATE courier.queues AS c
       SET visibility_timeout = q.visibility_timeout, delay = q.delay,
           retention = q.retention, max_message_bytes = q.max_message_bytes,
           content_based_dedup = q.content_based_dedup, dedup_window = q.dedup_window,
           dead_letter_queue = q.dead_letter_queue, max_receive_count = q.max_receive_count,
           updated_at = q.updated_at
     WHERE c.queue_name = alter_queue.queue_name;
END
$$;
COMMENT ON FUNCTION courier.alter_queue(text, interval, interval, interval, integer, boolean, interval, text, integer) IS
    'change queue attributes; a null argument leaves that attribute unchanged, dead_letter_queue => '''' removes the redrive policy';

CREATE OR REPLACE FUNCTION courier.drop_queue(queue_name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
    users text;
BEGIN
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM courier._require('if_exists', if_exists IS NULL);

    -- A sender that looked the queue up before us must commit before we delete
    -- its messages, and our DELETE must see them: that needs a fresh snapshot.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'courier.drop_queue() must run at isolation level READ COMMITTED'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The current transaction is %s.',
                                  upper(current_setting('transaction_isolation'))),
                  HINT = 'A snapshot taken before the drop could miss messages sent concurrently.';
    END IF;
    PERFORM courier._lock_queue(queue_name, true);

    DELETE FROM courier.queues AS q WHERE q.queue_name = drop_queue.queue_name;
    IF NOT FOUND THEN
        IF if_exists THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'queue "%" does not exist', queue_name
            USING ERRCODE = 'undefined_object';
    END IF;
    -- Checked after the DELETE, which waited for anyone pinning this queue as
    -- their dead-letter queue, so this new statement sees them.
    SELECT string_agg(format('"%s"', q.queue_name), ', ' ORDER BY q.queue_name) INTO users
      FROM courier.queues AS q WHERE q.dead_letter_queue = drop_queue.queue_name;
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'queue "%" is the dead-letter queue of %', queue_name, users
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Remove their redrive policy first: courier.alter_queue(name, dead_letter_queue => '''').';
    END IF;
    -- Groups first: receivers lock a group before its messages.
    DELETE FROM courier.message_groups AS g WHERE g.queue_name = drop_queue.queue_name;
    DELETE FROM courier.messages AS m WHERE m.queue_name = drop_queue.queue_name;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM courier.dedup AS d WHERE d.queue_name = drop_queue.queue_name;
    PERFORM courier._audit('drop_queue', 'queue', queue_name, jsonb_build_object('messages', n));
    RETURN true;
END
$$;
COMMENT ON FUNCTION courier.drop_queue(text, boolean) IS
    'drop a queue and every message in it';

CREATE OR REPLACE FUNCTION courier.purge_queue(queue_name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM 1 FROM courier.queues AS q WHERE q.queue_name = purge_queue.queue_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue_name
            USING ERRCODE = 'undefined_object';
    END IF;
    -- Groups first: receivers lock a group before its messages.
    DELETE FROM courier.message_groups AS g WHERE g.queue_name = purge_queue.queue_name;
    DELETE FROM courier.messages AS m WHERE m.queue_name = purge_queue.queue_name;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- As in SQS, a purge also forgets the deduplication history.
    DELETE FROM courier.dedup AS d WHERE d.queue_name = purge_queue.queue_name;
    PERFORM courier._audit('purge_queue', 'queue', queue_name, jsonb_build_object('messages', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION courier.purge_queue(text) IS
    'delete every message of a queue (visible, in flight and delayed) and its dedup history; returns how many';

CREATE FUNCTION courier.list_queues()
RETURNS TABLE (
    queue_name          text,
    visibility_timeout  interval,
    delay               interval,
    retention           interval,
    max_message_bytes   integer,
    created_at          timestamptz,
    updated_at          timestamptz,
    fifo                boolean,
    content_based_dedup boolean,
    dedup_window        interval,
    dead_letter_queue   text,
    max_receive_count   integer)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT q.queue_name, q.visibility_timeout, q.delay, q.retention, q.max_message_bytes,
           q.created_at, q.updated_at, q.fifo, q.content_based_dedup, q.dedup_window,
           q.dead_letter_queue, q.max_receive_count
      FROM courier.queues AS q
     ORDER BY q.queue_name
$$;
COMMENT ON FUNCTION courier.list_queues() IS 'every queue with its attributes';

CREATE FUNCTION courier.send(
    queue_name  text,
    payload     jsonb,
    headers     jsonb DEFAULT NULL,
    delay       interval DEFAULT NULL,
    group_id    text DEFAULT NULL,
    dedup_id    text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.send(text, jsonb, jsonb, interval, text, text) IS
    'send one message; visible to consumers after commit (and after delay); returns its id (the original id for a FIFO duplicate)';

CREATE FUNCTION courier.send_batch(
    queue_name  text,
    payloads    jsonb[],
    headers     jsonb[] DEFAULT NULL,
    delay       interval DEFAULT NULL,
    group_ids   text[] DEFAULT NULL,
    dedup_ids   text[] DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'courier_send_batch'
LANGUAGE C VOLATILE ROWS 100;
COMMENT ON FUNCTION courier.send_batch(text, jsonb[], jsonb[], interval, text[], text[]) IS
    'send several messages in one call; returns their ids in input order';

CREATE FUNCTION courier.receive(
    queue_name          text,
    max_messages        integer DEFAULT 1,
    visibility_timeout  interval DEFAULT NULL,
    wait                interval DEFAULT '0')
RETURNS SETOF courier.received
AS 'MODULE_PATHNAME', 'courier_receive'
LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION courier.receive(text, integer, interval, interval) IS
    'lease up to max_messages visible messages for visibility_timeout (queue default when null); wait long-polls until a message arrives';

CREATE VIEW courier.dead_letters AS
SELECT m.queue_name              AS dead_letter_queue,
       m.source_queue,
       m.msg_id,
       m.origin_msg_id,
       m.last_error              AS error,
       m.source_receive_count    AS receive_count,
       m.source_sent_at          AS sent_at,
       m.source_first_received_at AS first_received_at,
       m.source_last_received_at AS last_received_at,
       m.dead_lettered_at,
       m.group_id,
       m.type,
       m.schema_version,
       m.correlation_id,
       m.tenant_id,
       m.headers,
       m.payload
  FROM courier.messages AS m
 WHERE m.dead_lettered_at IS NOT NULL;
COMMENT ON VIEW courier.dead_letters IS
    'messages moved to a dead-letter queue, with the evidence of why: source queue, deliveries, last error';

CREATE FUNCTION courier.redrive(
    dead_letter_queue   text,
    destination         text DEFAULT NULL,
    max_messages        integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_redrive'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.redrive(text, text, integer) IS
    'move up to max_messages dead letters back to their source queue (or to destination) as new messages; returns how many moved';

-- What each queue holds right now, for DBAs and for alarms.  Counted from the
-- messages table when read (cumulative counters of sends, receives and
-- deletes come later, from shared memory); reading it costs a scan of each
-- queue's messages, never anything on the hot paths.
CREATE VIEW courier.queue_stats AS
SELECT q.queue_name,
       q.fifo,
       coalesce(s.visible, 0) AS visible,
       coalesce(s.in_flight, 0) AS in_flight,
       coalesce(s.delayed, 0) AS delayed,
       coalesce(s.expired, 0) AS expired,
       s.oldest_sent_at,
       c.now OPERATOR(pg_catalog.-) s.oldest_sent_at AS oldest_age,
       s.max_receive_count_seen,
       coalesce(s.dead_letters_held, 0) AS dead_letters_held,
       q.dead_letter_queue,
       coalesce(d.dead_lettered, 0) AS dead_lettered
  FROM courier.queues AS q
 CROSS JOIN (SELECT courier.now() AS now) AS c
 CROSS JOIN LATERAL (SELECT c.now OPERATOR(pg_catalog.-) q.retention AS cutoff) AS k
  LEFT JOIN LATERAL (
       SELECT count(*) FILTER (WHERE m.sent_at OPERATOR(pg_catalog.>) k.cutoff
                                 AND m.visible_at OPERATOR(pg_catalog.<=) c.now) AS visible,
              count(*) FILTER (WHERE m.sent_at OPERATOR(pg_catalog.>) k.cutoff
                                 AND m.visible_at OPERATOR(pg_catalog.>) c.now
                                 AND m.receive_count OPERATOR(pg_catalog.>) 0
                                 AND m.returned_at IS NULL) AS in_flight,
              count(*) FILTER (WHERE m.sent_at OPERATOR(pg_catalog.>) k.cutoff
                                 AND m.visible_at OPERATOR(pg_catalog.>) c.now
                                 AND (m.receive_count OPERATOR(pg_catalog.=) 0
                                      OR m.returned_at IS NOT NULL)) AS delayed,
              count(*) FILTER (WHERE m.sent_at OPERATOR(pg_catalog.<=) k.cutoff) AS expired,
              min(m.sent_at) AS oldest_sent_at,
              max(m.receive_count) AS max_receive_count_seen,
              count(*) FILTER (WHERE m.dead_lettered_at IS NOT NULL) AS dead_letters_held
         FROM courier.messages AS m
        WHERE m.queue_name OPERATOR(pg_catalog.=) q.queue_name) AS s ON true
  LEFT JOIN LATERAL (
       SELECT count(*) AS dead_lettered
         FROM courier.messages AS dl
        WHERE dl.queue_name OPERATOR(pg_catalog.=) q.dead_letter_queue
          AND dl.source_queue OPERATOR(pg_catalog.=) q.queue_name) AS d ON true;
COMMENT ON VIEW courier.queue_stats IS
    'per queue: visible, in flight, delayed and expired messages, the oldest message''s age, and dead letters';

-- Periodic work: courier.tick(), called by the background worker or pg_cron.

-- Internal: remove up to max_rows expired messages of a standard queue, oldest
-- first.  Only the oldest max_rows messages (by id) are examined: one bounded
-- index scan per queue and tick.  (Not just the oldest one: send times are not
-- strictly in id order, for example after a clock step.)
CREATE FUNCTION courier._expire_standard(q courier.queues, now timestamptz, max_rows integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM courier.messages AS m
     WHERE m.queue_name = q.queue_name
       AND m.msg_id IN (SELECT o.msg_id
                          FROM (SELECT c.msg_id, c.sent_at
                                  FROM courier.messages AS c
                                 WHERE c.queue_name = q.queue_name
                                 ORDER BY c.msg_id
                                 LIMIT max_rows) AS o
                         WHERE o.sent_at <= now - q.retention)
       AND m.sent_at <= now - q.retention;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Internal: remove expired messages of a FIFO queue group by group (each group
-- locked first, as every FIFO writer does); _collect_groups then removes the
-- groups this leaves empty.
CREATE FUNCTION courier._expire_fifo(q courier.queues, now timestamptz, max_rows integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
    n bigint := 0;
    k bigint;
BEGIN
    FOR g IN
        SELECT DISTINCT o.group_id
          FROM (SELECT c.group_id, c.sent_at
                  FROM courier.messages AS c
                 WHERE c.queue_name = q.queue_name
                 ORDER BY c.msg_id
                 LIMIT max_rows) AS o
         WHERE o.sent_at <= now - q.retention
    LOOP
        PERFORM 1 FROM courier.message_groups AS mg
         WHERE mg.queue_name = q.queue_name AND mg.group_id = g.group_id
           FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        DELETE FROM courier.messages AS m
         WHERE m.queue_name = q.queue_name AND m.group_id = g.group_id
           AND m.sent_at <= now - q.retention;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;
    RETURN n;
END
$$;

-- Internal: remove FIFO groups that hold no message: those a receive found
-- empty ('infinity') and ready ones (emptied by deletes or expiry), the
-- longest waiting first.  A group row is locked before the check, and the
-- check is a new statement, so it sees every message committed by a sender
-- that held the lock before us; a sender that comes after us waits and then
-- creates the group again.
CREATE FUNCTION courier._collect_groups(q courier.queues, now timestamptz, max_rows integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
    n bigint := 0;
BEGIN
    FOR g IN
        -- Only groups that look empty are locked: a group that holds
        -- messages is never kept from its receivers and senders.
        SELECT mg.group_id
          FROM courier.message_groups AS mg
         WHERE mg.queue_name = q.queue_name
           AND mg.group_id IN (
               SELECT c.group_id
                 FROM (SELECT g2.group_id
                         FROM courier.message_groups AS g2
                        WHERE g2.queue_name = q.queue_name
                          AND (g2.visible_at <= now OR g2.visible_at = 'infinity')
                        ORDER BY g2.visible_at
                        LIMIT max_rows) AS c
                WHERE NOT EXISTS (SELECT 1 FROM courier.messages AS m
                                   WHERE m.queue_name = q.queue_name
                                     AND m.group_id = c.group_id))
           FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM 1 FROM courier.messages AS m
         WHERE m.queue_name = q.queue_name AND m.group_id = g.group_id
         LIMIT 1;
        IF NOT FOUND THEN
            DELETE FROM courier.message_groups AS mg
             WHERE mg.queue_name = q.queue_name AND mg.group_id = g.group_id;
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- Make every backend forget where it last found the head of each queue
-- (courier.scan_hints, src/queue_head.c): the next receive of each backend
-- scans its queue from the oldest entry again.  tick() calls it, so a message
-- written to courier.messages outside the courier functions (which the hints
-- cannot see) is found again within one tick interval; call it after such a
-- write to have it found at once.
CREATE FUNCTION courier.reset_scan_hints()
RETURNS void
AS 'MODULE_PATHNAME', 'courier_reset_scan_hints'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.reset_scan_hints() IS
    'make every session forget its receive scan hints (see docs/design.md); tick() calls it';

CREATE FUNCTION courier.tick()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q courier.queues;
    ts timestamptz := courier.now();
    batch constant integer := 10000;
    expired bigint := 0;
    dedup_expired bigint := 0;
    groups_removed bigint := 0;
    k bigint;
BEGIN
    PERFORM courier.reset_scan_hints();
    FOR q IN SELECT * FROM courier.queues ORDER BY queue_name LOOP
        IF q.fifo THEN
            expired := expired + courier._expire_fifo(q, ts, batch);
            groups_removed := groups_removed + courier._collect_groups(q, ts, 1000);
            DELETE FROM courier.dedup AS d
             WHERE d.queue_name = q.queue_name AND d.expires_at <= ts;
            GET DIAGNOSTICS k = ROW_COUNT;
            dedup_expired := dedup_expired + k;
        ELSE
            expired := expired + courier._expire_standard(q, ts, batch);
        END IF;
    END LOOP;
    RETURN jsonb_build_object('expired_messages', expired,
                              'expired_dedup_ids', dedup_expired,
                              'empty_groups_removed', groups_removed);
END
$$;
COMMENT ON FUNCTION courier.tick() IS
    'periodic maintenance (retention, dedup history, empty FIFO groups); idempotent, safe to run concurrently';

-- Event patterns (EventBridge dialect): validation and matching in C (src/pattern.c).

CREATE FUNCTION courier.test_event_pattern(event_pattern jsonb, event jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_test_event_pattern'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION courier.test_event_pattern(jsonb, jsonb) IS
'Does the event match the EventBridge event pattern?  Raises 22023 naming the offending key when the pattern is invalid.';

-- SNS filter policies: the same engine under SNS's rules (src/pattern.c).

CREATE FUNCTION courier.test_filter_policy(filter_policy jsonb, headers jsonb, payload jsonb,
                                           filter_scope text DEFAULT 'headers')
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_test_filter_policy'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION courier.test_filter_policy(jsonb, jsonb, jsonb, text) IS
'Would a subscription with this SNS filter policy and scope (headers or payload) receive the message?  NULL or {} passes everything; raises 22023 with the reason when the policy is invalid.';

-- Rule sets: many event patterns matched at once through an index of the
-- exact values they require (src/ruleset.c).

CREATE FUNCTION courier.match_event_patterns(event_patterns jsonb[], event jsonb,
                                             indexed boolean DEFAULT true)
RETURNS integer[]
AS 'MODULE_PATHNAME', 'courier_match_event_patterns'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION courier.match_event_patterns(jsonb[], jsonb, boolean) IS
'The positions (1-based, ascending) of the event patterns the event matches.  The patterns are compiled and indexed once per call site; indexed => false matches them one by one (same answer).';

-- Topics (SNS): fanout of one published message to the subscribed queues,
-- each subscription with its own filter policy.  publish() is C (src/topic.c);
-- administration is PL/pgSQL.  See docs/topics.md.

-- One row per topic.  version changes (to a fresh value of
-- subscription_id_seq) whenever the topic is created or its subscriptions
-- change; publish() compares it with the version its per-backend cache of
-- compiled filter policies was built from.
CREATE TABLE courier.topics (
    version             bigint NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    fifo                boolean NOT NULL DEFAULT false,
    content_based_dedup boolean NOT NULL DEFAULT false,
    topic_name          text COLLATE "C" NOT NULL,
    CONSTRAINT topics_pkey PRIMARY KEY (topic_name),
    CONSTRAINT topics_name_check
        CHECK (topic_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_-]+(\.fifo)?$'
               AND pg_catalog.length(topic_name) OPERATOR(pg_catalog.<=) 256),
    CONSTRAINT topics_content_based_dedup_check
        CHECK (fifo OR NOT content_based_dedup)
);
COMMENT ON TABLE courier.topics IS 'pg_courier topic definitions (one row per topic)';

-- Subscription ids, and the values topics.version takes.
CREATE SEQUENCE courier.subscription_id_seq AS bigint;

-- Subscriptions: which queues receive a topic's messages.  Keyed by the topic
-- first.  A queue subscribes to a topic at most once.  The foreign key to
-- courier.queues keeps a subscribed queue from being dropped: drop_queue()
-- fails with 23503 until the queue is unsubscribed (the check runs as the
-- table owner, so it needs no privilege on this table from the caller).
-- Dropping a topic drops its subscriptions.
CREATE TABLE courier.subscriptions (
    subscription_id     bigint NOT NULL,
    created_at          timestamptz NOT NULL,
    raw_delivery        boolean NOT NULL,
    topic_name          text COLLATE "C" NOT NULL,
    queue_name          text COLLATE "C" NOT NULL,
    filter_scope        text NOT NULL,
    filter_policy       jsonb,
    CONSTRAINT subscriptions_pkey PRIMARY KEY (topic_name, subscription_id),
    CONSTRAINT subscriptions_queue_key UNIQUE (topic_name, queue_name),
    CONSTRAINT subscriptions_id_key UNIQUE (subscription_id),
    CONSTRAINT subscriptions_topic_fkey FOREIGN KEY (topic_name)
        REFERENCES courier.topics (topic_name) ON DELETE CASCADE,
    CONSTRAINT subscriptions_queue_fkey FOREIGN KEY (queue_name)
        REFERENCES courier.queues (queue_name),
    CONSTRAINT subscriptions_filter_scope_check
        CHECK (filter_scope OPERATOR(pg_catalog.=) ANY (ARRAY['headers', 'payload']))
);
COMMENT ON TABLE courier.subscriptions IS 'pg_courier topic subscriptions: queue, filter policy, delivery format';
-- The foreign key check of drop_queue() looks subscriptions up by queue.
CREATE INDEX subscriptions_queue_idx ON courier.subscriptions (queue_name);

SELECT pg_catalog.pg_extension_config_dump('courier.topics', '');
SELECT pg_catalog.pg_extension_config_dump('courier.subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('courier.subscription_id_seq', '');

-- Internal: object-level lock that orders publishers against subscription
-- changes.  exclusive = false is what publish takes; subscribe, unsubscribe
-- and drop_topic take it exclusively.
CREATE FUNCTION courier._lock_topic(topic_name text, exclusive boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_lock_topic'
LANGUAGE C STRICT VOLATILE;

-- Internal: validate a filter policy for a scope; raises 22023 with the reason.
CREATE FUNCTION courier._check_filter_policy(filter_policy jsonb, filter_scope text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_check_filter_policy'
LANGUAGE C VOLATILE;

-- Internal: a committed unsubscribe forgets the subscription's statistics.
CREATE FUNCTION courier._forget_subscription_stats(subscription_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_forget_subscription_stats'
LANGUAGE C STRICT VOLATILE;

-- Internal: delivered and filtered-out counts of a subscription (shared
-- memory; nulls when pg_courier is not preloaded).
CREATE FUNCTION courier._subscription_counts(
    subscription_id bigint, OUT delivered bigint, OUT filtered_out bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'courier_subscription_counts'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION courier.create_topic(
    topic_name          text,
    fifo                boolean DEFAULT false,
    content_based_dedup boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._require('topic_name', topic_name IS NULL);
    PERFORM courier._require('fifo', fifo IS NULL);
    PERFORM courier._require('content_based_dedup', content_based_dedup IS NULL);
    IF topic_name !~ '^[A-Za-z0-9_-]+(\.fifo)?$' OR length(topic_name) > 256 THEN
        RAISE EXCEPTION 'invalid topic name "%"', topic_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A topic name has 1 to 256 characters: letters, digits, "_" and "-", optionally ending in ".fifo".';
    END IF;
    IF content_based_dedup AND NOT fifo THEN
        RAISE EXCEPTION 'content_based_dedup is only for FIFO topics'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Create the topic with fifo => true.';
    END IF;
    INSERT INTO courier.topics AS t
           (version, created_at, updated_at, fifo, content_based_dedup, topic_name)
    VALUES (nextval('courier.subscription_id_seq'), ts, ts,
            create_topic.fifo, create_topic.content_based_dedup, create_topic.topic_name)
        ON CONFLICT ON CONSTRAINT topics_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'topic "%" already exists', topic_name
            USING ERRCODE = 'duplicate_object';
    END IF;
END
$$;
COMMENT ON FUNCTION courier.create_topic(text, boolean, boolean) IS
    'create a standard or FIFO topic';

CREATE FUNCTION courier.drop_topic(topic_name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[];
BEGIN
    PERFORM courier._require('topic_name', topic_name IS NULL);
    PERFORM courier._require('if_exists', if_exists IS NULL);
    -- Waits for publishers in progress; later ones find no topic.
    PERFORM courier._lock_topic(topic_name, true);
    SELECT array_agg(s.subscription_id ORDER BY s.subscription_id) INTO ids
      FROM courier.subscriptions AS s WHERE s.topic_name = drop_topic.topic_name;
    DELETE FROM courier.topics AS t WHERE t.topic_name = drop_topic.topic_name;
    IF NOT FOUND THEN
        IF if_exists THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'topic "%" does not exist', topic_name
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM courier._forget_subscription_stats(i) FROM unnest(ids) AS i;
    PERFORM courier._audit('drop_topic', 'topic', topic_name,
                           jsonb_build_object('subscriptions', coalesce(to_jsonb(ids), '[]')));
    RETURN true;
END
$$;
COMMENT ON FUNCTION courier.drop_topic(text, boolean) IS
    'drop a topic and its subscriptions (messages already delivered stay in their queues)';

CREATE FUNCTION courier.subscribe(
    topic_name      text,
    queue_name      text,
    filter_policy   jsonb   DEFAULT NULL,
    filter_scope    text    DEFAULT 'headers',
    raw_delivery    boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t courier.topics;
    s courier.subscriptions;
    queue_fifo boolean;
    id bigint;
BEGIN
    PERFORM courier._require('topic_name', topic_name IS NULL);
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM courier._require('filter_scope', filter_scope IS NULL);
    PERFORM courier._require('raw_delivery', raw_delivery IS NULL);
    PERFORM courier._check_filter_policy(filter_policy, filter_scope);

    PERFORM courier._lock_topic(topic_name, true);
    SELECT * INTO t FROM courier.topics AS c
     WHERE c.topic_name = subscribe.topic_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'topic "%" does not exist', topic_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first with courier.create_topic().';
    END IF;
    SELECT q.fifo INTO queue_fifo FROM courier.queues AS q
     WHERE q.queue_name = subscribe.queue_name FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first with courier.create_queue().';
    END IF;
    IF t.fifo AND NOT queue_fifo THEN
        RAISE EXCEPTION 'only FIFO queues can subscribe to FIFO topic "%"', topic_name
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('Queue "%s" is a standard queue.', queue_name),
                  HINT = 'Subscribe a queue created with fifo => true.';
    END IF;
    IF queue_fifo AND NOT t.fifo THEN
        RAISE EXCEPTION 'FIFO queue "%" can subscribe only to FIFO topics', queue_name
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('Topic "%s" is a standard topic; its messages have no group.', topic_name),
                  HINT = 'Subscribe a standard queue, or use a topic created with fifo => true.';
    END IF;

    -- As in SNS, subscribing again with the same attributes returns the
    -- existing subscription.
    SELECT * INTO s FROM courier.subscriptions AS c
     WHERE c.topic_name = subscribe.topic_name AND c.queue_name = subscribe.queue_name;
    IF FOUND THEN
        IF s.filter_policy IS NOT DISTINCT FROM subscribe.filter_policy
           AND s.filter_scope = subscribe.filter_scope
           AND s.raw_delivery = subscribe.raw_delivery THEN
            RETURN s.subscription_id;
        END IF;
        RAISE EXCEPTION 'queue "%" is already subscribed to topic "%" with different attributes',
                        queue_name, topic_name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('Subscription %s has filter_policy %s, filter_scope %s, raw_delivery %s.',
                                  s.subscription_id, coalesce(s.filter_policy::text, 'null'),
                                  s.filter_scope, s.raw_delivery),
                  HINT = 'Unsubscribe it first with courier.unsubscribe(subscription_id).';
    END IF;

    id := nextval('courier.subscription_id_seq');
    INSERT INTO courier.subscriptions AS c
           (subscription_id, created_at, raw_delivery, topic_name, queue_name,
            filter_scope, filter_policy)
    VALUES (id, courier.now(), subscribe.raw_delivery, subscribe.topic_name,
            subscribe.queue_name, subscribe.filter_scope, subscribe.filter_policy);
    UPDATE courier.topics AS c
       SET version = nextval('courier.subscription_id_seq'), updated_at = courier.now()
     WHERE c.topic_name = subscribe.topic_name;
    PERFORM courier._audit('subscribe', 'topic', topic_name,
                           jsonb_build_object('subscription_id', id, 'queue', queue_name,
                                              'filter_policy', filter_policy,
                                              'filter_scope', filter_scope,
                                              'raw_delivery', raw_delivery));
    RETURN id;
END
$$;
COMMENT ON FUNCTION courier.subscribe(text, text, jsonb, text, boolean) IS
    'subscribe a queue to a topic, with an optional SNS filter policy on headers or payload; returns the subscription id';

CREATE FUNCTION courier.unsubscribe(subscription_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s courier.subscriptions;
BEGIN
    PERFORM courier._require('subscription_id', subscription_id IS NULL);
    SELECT * INTO s FROM courier.subscriptions AS c
     WHERE c.subscription_id = unsubscribe.subscription_id;
    IF FOUND THEN
        PERFORM courier._lock_topic(s.topic_name, true);
        DELETE FROM courier.subscriptions AS c
         WHERE c.topic_name = s.topic_name AND c.subscription_id = unsubscribe.subscription_id;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription % does not exist', subscription_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.topic_stats lists the subscriptions there are.';
    END IF;
    UPDATE courier.topics AS c
       SET version = nextval('courier.subscription_id_seq'), updated_at = courier.now()
     WHERE c.topic_name = s.topic_name;
    PERFORM courier._forget_subscription_stats(subscription_id);
    PERFORM courier._audit('unsubscribe', 'topic', s.topic_name,
                           jsonb_build_object('subscription_id', subscription_id,
                                              'queue', s.queue_name));
END
$$;
COMMENT ON FUNCTION courier.unsubscribe(bigint) IS
    'remove a subscription; messages already delivered stay in the queue';

CREATE FUNCTION courier.publish(
    topic_name  text,
    payload     jsonb,
    headers     jsonb DEFAULT NULL,
    group_id    text DEFAULT NULL,
    dedup_id    text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_publish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.publish(text, jsonb, jsonb, text, text) IS
    'publish a message to every subscription whose filter policy it passes, in the caller''s transaction; returns the publish id';

-- Per subscription: how many published messages it delivered and how many
-- its filter policy filtered out, counted in shared memory at commit since
-- the server started (null without shared_preload_libraries).
CREATE VIEW courier.topic_stats AS
SELECT s.topic_name, s.subscription_id, s.queue_name, s.raw_delivery,
       s.filter_scope, s.filter_policy, c.delivered, c.filtered_out
  FROM courier.subscriptions AS s
 CROSS JOIN LATERAL courier._subscription_counts(s.subscription_id) AS c;
COMMENT ON VIEW courier.topic_stats IS
    'per subscription: messages delivered and filtered out since the server started (committed publishes)';

-- Leases written at commit (courier.defer_leases).
CREATE FUNCTION courier.flush_leases()
RETURNS integer
AS 'MODULE_PATHNAME', 'courier_flush_leases'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.flush_leases() IS
    'write now the leases this transaction''s receives deferred to commit (courier.defer_leases); returns how many';

-- Nothing new is callable by PUBLIC either.
REVOKE ALL ON ALL TABLES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA courier FROM PUBLIC;

-- target input shaping (sql/parts/75_bus_input.sql)
CREATE FUNCTION courier.test_target_input(
    event             jsonb,
    input             jsonb DEFAULT NULL,
    input_path        text DEFAULT NULL,
    input_transformer jsonb DEFAULT NULL,
    rule_name         text DEFAULT 'test-rule',
    bus_name          text DEFAULT 'default')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_test_target_input'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_target_input(jsonb, jsonb, text, jsonb, text, text) IS
    'what a rule''s target with these input settings (at most one of input, input_path, input_transformer) would receive for the event; raises 22023 when the settings are invalid';

-- Internal: validate a target's input settings (at most one given); raises
-- 22023 with the reason.  For put_target.
CREATE FUNCTION courier._check_target_input(input jsonb, input_path text, input_transformer jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_check_target_input'
LANGUAGE C VOLATILE;

-- Like the rest, not callable by PUBLIC.
REVOKE ALL ON FUNCTION courier.test_target_input(jsonb, jsonb, text, jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION courier._check_target_input(jsonb, text, jsonb) FROM PUBLIC;
