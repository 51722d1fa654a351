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

-- Nothing new is callable by PUBLIC either.
REVOKE ALL ON ALL TABLES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA courier FROM PUBLIC;
