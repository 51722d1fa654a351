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
    ADD COLUMN require_schema      boolean NOT NULL DEFAULT false,
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

-- Internal: who the running call acts for: its caller, also while a call
-- that a courier grant covers runs as the extension's owner (src/grants.c).
CREATE FUNCTION courier._acting_role()
RETURNS name
AS 'MODULE_PATHNAME', 'courier_acting_role'
LANGUAGE C VOLATILE;

-- Internal, for row-level security (sql/parts/97_grants.sql): whether the
-- current role is bound to no tenant, and the tenants it is bound to.
CREATE FUNCTION courier._tenant_unbound()
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_tenant_unbound'
LANGUAGE C STABLE;

CREATE FUNCTION courier._bound_tenants()
RETURNS text[]
AS 'MODULE_PATHNAME', 'courier_bound_tenants'
LANGUAGE C STABLE;

-- Internal: append to the audit trail, in the name of the role acting.
CREATE FUNCTION courier._audit(action text, object_kind text, object_name text, details jsonb)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO courier.audit_log (at, current_role_name, action, object_kind, object_name, details)
    VALUES (courier.now(), courier._acting_role(), action, object_kind, object_name, details)
$$;

CREATE FUNCTION courier._create_queue(
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

    q.queue_name := _create_queue.queue_name;
    q.visibility_timeout := _create_queue.visibility_timeout;
    q.delay := _create_queue.delay;
    q.retention := _create_queue.retention;
    q.max_message_bytes := _create_queue.max_message_bytes;
    q.created_at := ts;
    q.updated_at := ts;
    q.fifo := _create_queue.fifo;
    q.content_based_dedup := _create_queue.content_based_dedup;
    q.dedup_window := _create_queue.dedup_window;
    q.dead_letter_queue := nullif(_create_queue.dead_letter_queue, '');
    q.max_receive_count := _create_queue.max_receive_count;
    q.require_schema := false;
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
-- the entry point: courier grants (src/grants.c), then the body above
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
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.create_queue(text, interval, interval, interval, integer, boolean, boolean, interval, text, integer) IS
    'create a standard or FIFO queue, optionally with a dead-letter queue';

CREATE FUNCTION courier._alter_queue(
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
     WHERE c.queue_name = _alter_queue.queue_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue_name
            USING ERRCODE = 'undefined_object';
    END IF;
    q.visibility_timeout := coalesce(_alter_queue.visibility_timeout, q.visibility_timeout);
    q.delay := coalesce(_alter_queue.delay, q.delay);
    q.retention := coalesce(_alter_queue.retention, q.retention);
    q.max_message_bytes := coalesce(_alter_queue.max_message_bytes, q.max_message_bytes);
    q.content_based_dedup := coalesce(_alter_queue.content_based_dedup, q.content_based_dedup);
    q.dedup_window := coalesce(_alter_queue.dedup_window, q.dedup_window);
    IF _alter_queue.dead_letter_queue = '' THEN
        -- '' removes the redrive policy, as in SQS
        q.dead_letter_queue := NULL;
        q.max_receive_count := NULL;
    ELSE
        q.dead_letter_queue := coalesce(_alter_queue.dead_letter_queue, q.dead_letter_queue);
        q.max_receive_count := coalesce(_alter_queue.max_receive_count, q.max_receive_count);
    END IF;
    q.updated_at := courier.now();
    PERFORM courier._check_queue_policy(q);

    UPDATE courier.queues AS c
       SET visibility_timeout = q.visibility_timeout, delay = q.delay,
           retention = q.retention, max_message_bytes = q.max_message_bytes,
           content_based_dedup = q.content_based_dedup, dedup_window = q.dedup_window,
           dead_letter_queue = q.dead_letter_queue, max_receive_count = q.max_receive_count,
           updated_at = q.updated_at
     WHERE c.queue_name = _alter_queue.queue_name;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
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
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.alter_queue(text, interval, interval, interval, integer, boolean, interval, text, integer) IS
    'change queue attributes; a null argument leaves that attribute unchanged, dead_letter_queue => '''' removes the redrive policy';

CREATE FUNCTION courier._drop_queue(queue_name text, if_exists boolean DEFAULT false)
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

    DELETE FROM courier.queues AS q WHERE q.queue_name = _drop_queue.queue_name;
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
      FROM courier.queues AS q WHERE q.dead_letter_queue = _drop_queue.queue_name;
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'queue "%" is the dead-letter queue of %', queue_name, users
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Remove their redrive policy first: courier.alter_queue(name, dead_letter_queue => '''').';
    END IF;
    -- Groups first: receivers lock a group before its messages.
    DELETE FROM courier.message_groups AS g WHERE g.queue_name = _drop_queue.queue_name;
    DELETE FROM courier.messages AS m WHERE m.queue_name = _drop_queue.queue_name;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM courier.dedup AS d WHERE d.queue_name = _drop_queue.queue_name;
    PERFORM courier._forget_stats('queue', queue_name);
    PERFORM courier._audit('drop_queue', 'queue', queue_name, jsonb_build_object('messages', n));
    RETURN true;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE OR REPLACE FUNCTION courier.drop_queue(queue_name text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.drop_queue(text, boolean) IS
    'drop a queue and every message in it';

CREATE FUNCTION courier._purge_queue(queue_name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM 1 FROM courier.queues AS q WHERE q.queue_name = _purge_queue.queue_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue_name
            USING ERRCODE = 'undefined_object';
    END IF;
    -- Groups first: receivers lock a group before its messages.
    DELETE FROM courier.message_groups AS g WHERE g.queue_name = _purge_queue.queue_name;
    DELETE FROM courier.messages AS m WHERE m.queue_name = _purge_queue.queue_name;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- As in SQS, a purge also forgets the deduplication history.
    DELETE FROM courier.dedup AS d WHERE d.queue_name = _purge_queue.queue_name;
    PERFORM courier._audit('purge_queue', 'queue', queue_name, jsonb_build_object('messages', n));
    RETURN n;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE OR REPLACE FUNCTION courier.purge_queue(queue_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
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
 WHERE m.dead_lettered_at IS NOT NULL
   -- a role bound to tenants sees theirs only (docs/security.md#tenants)
   AND ((SELECT courier._tenant_unbound())
        OR m.tenant_id = ANY ((SELECT courier._bound_tenants())::text[]));
COMMENT ON VIEW courier.dead_letters IS
    'messages moved to a dead-letter queue, with the evidence of why: source queue, deliveries, last error';

CREATE FUNCTION courier._redrive(
    dead_letter_queue   text,
    destination         text DEFAULT NULL,
    max_messages        integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_redrive'
LANGUAGE C VOLATILE;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.redrive(
    dead_letter_queue   text,
    destination         text DEFAULT NULL,
    max_messages        integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.redrive(text, text, integer) IS
    'move up to max_messages dead letters back to their source queue (or to destination) as new messages; returns how many moved';

-- Internal: the committed totals of a queue since the server started,
-- counted in shared memory (src/operations.c); nulls when pg_courier is not
-- preloaded.
CREATE FUNCTION courier._queue_counts(
    queue_name              text,
    OUT sent_total          bigint,
    OUT received_total      bigint,
    OUT deleted_total       bigint,
    OUT dead_lettered_total bigint,
    OUT expired_total       bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'courier_queue_counts'
LANGUAGE C STRICT VOLATILE;

-- What each queue holds right now, for DBAs and for alarms: counted from the
-- messages table when read, so reading it costs a scan of each queue's
-- messages, never anything on the hot paths.  The *_total columns are
-- counters of committed work since the server started, kept in shared
-- memory (docs/operations.md#statistics).
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
       coalesce(d.dead_lettered, 0) AS dead_lettered,
       t.sent_total,
       t.received_total,
       t.deleted_total,
       t.dead_lettered_total,
       t.expired_total
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
          AND dl.source_queue OPERATOR(pg_catalog.=) q.queue_name) AS d ON true
 CROSS JOIN LATERAL courier._queue_counts(q.queue_name) AS t;
COMMENT ON VIEW courier.queue_stats IS
    'per queue: visible, in flight, delayed and expired messages, the oldest message''s age, dead letters, and totals since the server started';

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
    PERFORM courier._count_stats('queue', q.queue_name, 'expired', n);
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
    PERFORM courier._count_stats('queue', q.queue_name, 'expired', n);
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
                              'empty_groups_removed', groups_removed)
           || courier._bus_tick(ts) || courier._workflow_tick(ts)
           || courier._outbox_tick(ts);
END
$$;
COMMENT ON FUNCTION courier.tick() IS
    'periodic maintenance (retention, dedup history, empty FIFO groups, bus deliveries, archives, replays, workflow executions, published outbox rows, expired idempotency keys); idempotent, safe to run concurrently';

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
    require_schema      boolean NOT NULL DEFAULT false,
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

CREATE FUNCTION courier._create_topic(
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
            _create_topic.fifo, _create_topic.content_based_dedup, _create_topic.topic_name)
        ON CONFLICT ON CONSTRAINT topics_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'topic "%" already exists', topic_name
            USING ERRCODE = 'duplicate_object';
    END IF;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.create_topic(
    topic_name          text,
    fifo                boolean DEFAULT false,
    content_based_dedup boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.create_topic(text, boolean, boolean) IS
    'create a standard or FIFO topic';

CREATE FUNCTION courier._drop_topic(topic_name text, if_exists boolean DEFAULT false)
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
      FROM courier.subscriptions AS s WHERE s.topic_name = _drop_topic.topic_name;
    DELETE FROM courier.topics AS t WHERE t.topic_name = _drop_topic.topic_name;
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
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.drop_topic(topic_name text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.drop_topic(text, boolean) IS
    'drop a topic and its subscriptions (messages already delivered stay in their queues)';

CREATE FUNCTION courier._subscribe(
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
     WHERE c.topic_name = _subscribe.topic_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'topic "%" does not exist', topic_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first with courier.create_topic().';
    END IF;
    SELECT q.fifo INTO queue_fifo FROM courier.queues AS q
     WHERE q.queue_name = _subscribe.queue_name FOR KEY SHARE;
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
     WHERE c.topic_name = _subscribe.topic_name AND c.queue_name = _subscribe.queue_name;
    IF FOUND THEN
        IF s.filter_policy IS NOT DISTINCT FROM _subscribe.filter_policy
           AND s.filter_scope = _subscribe.filter_scope
           AND s.raw_delivery = _subscribe.raw_delivery THEN
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
    VALUES (id, courier.now(), _subscribe.raw_delivery, _subscribe.topic_name,
            _subscribe.queue_name, _subscribe.filter_scope, _subscribe.filter_policy);
    UPDATE courier.topics AS c
       SET version = nextval('courier.subscription_id_seq'), updated_at = courier.now()
     WHERE c.topic_name = _subscribe.topic_name;
    PERFORM courier._audit('subscribe', 'topic', topic_name,
                           jsonb_build_object('subscription_id', id, 'queue', queue_name,
                                              'filter_policy', filter_policy,
                                              'filter_scope', filter_scope,
                                              'raw_delivery', raw_delivery));
    RETURN id;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.subscribe(
    topic_name      text,
    queue_name      text,
    filter_policy   jsonb   DEFAULT NULL,
    filter_scope    text    DEFAULT 'headers',
    raw_delivery    boolean DEFAULT true)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.subscribe(text, text, jsonb, text, boolean) IS
    'subscribe a queue to a topic, with an optional SNS filter policy on headers or payload; returns the subscription id';

CREATE FUNCTION courier._unsubscribe(subscription_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s courier.subscriptions;
BEGIN
    PERFORM courier._require('subscription_id', subscription_id IS NULL);
    SELECT * INTO s FROM courier.subscriptions AS c
     WHERE c.subscription_id = _unsubscribe.subscription_id;
    IF FOUND THEN
        PERFORM courier._lock_topic(s.topic_name, true);
        DELETE FROM courier.subscriptions AS c
         WHERE c.topic_name = s.topic_name AND c.subscription_id = _unsubscribe.subscription_id;
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
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.unsubscribe(subscription_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
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

-- target input shaping (sql/parts/75_bus_input.sql)

-- Target input shaping (EventBridge Input, InputPath, InputTransformer):
-- what an event bus delivers to a rule's target.  Compiled once per target
-- and applied per event in C (src/bus_input.c).  See docs/input-shaping.md.

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

-- event buses (sql/parts/80_buses.sql)

-- Event buses (EventBridge): rules match events by their content (event
-- patterns, src/pattern.c) and hand them to targets.  put_events() and the
-- delivery of asynchronous targets are C (src/bus.c, src/bus_delivery.c);
-- administration is PL/pgSQL.  See docs/buses.md.

-- Versions of buses, ids of rules, targets and deliveries.  A bus's version
-- changes (to a fresh value, never reused) whenever one of its rules,
-- targets or archives changes; put_events() compares it with the version its
-- per-backend cache of compiled rules was built from.
CREATE SEQUENCE courier.bus_object_id_seq AS bigint;

CREATE TABLE courier.buses (
    version     bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    require_schema boolean NOT NULL DEFAULT false,
    bus_name    text COLLATE "C" NOT NULL,
    CONSTRAINT buses_pkey PRIMARY KEY (bus_name),
    CONSTRAINT buses_name_check
        CHECK (bus_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9._-]+$'
               AND pg_catalog.length(bus_name) OPERATOR(pg_catalog.<=) 256)
);
COMMENT ON TABLE courier.buses IS 'pg_courier event buses (one row per bus)';

-- Rules: an event pattern on a bus.  PutRule replaces a rule as a whole.
CREATE TABLE courier.rules (
    rule_id         bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    enabled         boolean NOT NULL,
    bus_name        text COLLATE "C" NOT NULL,
    rule_name       text COLLATE "C" NOT NULL,
    event_pattern   jsonb NOT NULL,
    description     text,
    CONSTRAINT rules_pkey PRIMARY KEY (bus_name, rule_name),
    CONSTRAINT rules_id_key UNIQUE (rule_id),
    CONSTRAINT rules_bus_fkey FOREIGN KEY (bus_name)
        REFERENCES courier.buses (bus_name) ON DELETE CASCADE,
    CONSTRAINT rules_name_check
        CHECK (rule_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9._-]+$'
               AND pg_catalog.length(rule_name) OPERATOR(pg_catalog.<=) 64)
);
COMMENT ON TABLE courier.rules IS 'pg_courier bus rules: an event pattern and whether it is enabled';

-- Targets: where a rule's matched events go, and how they are shaped.
-- kind is the part of target before the colon; exactly one of the name
-- columns is set, by kind.  The foreign keys keep a targeted queue, topic or
-- bus (and a dead-letter queue) from being dropped while a target names it:
-- drop_queue() and friends fail with 23503 until the target is removed.
-- run_as is the role that put the target: a function target runs as it.
CREATE TABLE courier.targets (
    target_key              bigint NOT NULL,
    created_at              timestamptz NOT NULL,
    bus_name                text COLLATE "C" NOT NULL,
    rule_name               text COLLATE "C" NOT NULL,
    target_id               text COLLATE "C" NOT NULL,
    target                  text NOT NULL,
    kind                    text NOT NULL,
    queue_name              text COLLATE "C",
    topic_name              text COLLATE "C",
    target_bus              text COLLATE "C",
    function_name           text,
    state_machine_name      text COLLATE "C",
    run_as                  name NOT NULL,
    input                   jsonb,
    input_path              text,
    input_transformer       jsonb,
    max_retry_attempts      integer NOT NULL,
    max_event_age           integer NOT NULL,
    dead_letter_queue       text COLLATE "C",
    CONSTRAINT targets_pkey PRIMARY KEY (bus_name, rule_name, target_id),
    CONSTRAINT targets_key_key UNIQUE (target_key),
    CONSTRAINT targets_rule_fkey FOREIGN KEY (bus_name, rule_name)
        REFERENCES courier.rules (bus_name, rule_name) ON DELETE CASCADE,
    CONSTRAINT targets_queue_fkey FOREIGN KEY (queue_name)
        REFERENCES courier.queues (queue_name),
    CONSTRAINT targets_topic_fkey FOREIGN KEY (topic_name)
        REFERENCES courier.topics (topic_name),
    CONSTRAINT targets_bus_fkey FOREIGN KEY (target_bus)
        REFERENCES courier.buses (bus_name),
    CONSTRAINT targets_dead_letter_queue_fkey FOREIGN KEY (dead_letter_queue)
        REFERENCES courier.queues (queue_name),
    CONSTRAINT targets_id_check
        CHECK (target_id OPERATOR(pg_catalog.~) '^[A-Za-z0-9._-]+$'
               AND pg_catalog.length(target_id) OPERATOR(pg_catalog.<=) 64),
    CONSTRAINT targets_kind_check
        CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['queue', 'topic', 'bus', 'function', 'state_machine'])),
    CONSTRAINT targets_retry_check
        CHECK (max_retry_attempts OPERATOR(pg_catalog.>=) 0
               AND max_retry_attempts OPERATOR(pg_catalog.<=) 185
               AND max_event_age OPERATOR(pg_catalog.>=) 60
               AND max_event_age OPERATOR(pg_catalog.<=) 86400)
);
COMMENT ON TABLE courier.targets IS 'pg_courier rule targets: destination, input shaping, retry policy, dead-letter queue';
-- The foreign key checks of drop_queue(), drop_topic() and drop_bus().
CREATE INDEX targets_queue_idx ON courier.targets (queue_name) WHERE queue_name IS NOT NULL;
CREATE INDEX targets_topic_idx ON courier.targets (topic_name) WHERE topic_name IS NOT NULL;
CREATE INDEX targets_bus_idx ON courier.targets (target_bus) WHERE target_bus IS NOT NULL;
CREATE INDEX targets_dead_letter_queue_idx ON courier.targets (dead_letter_queue)
    WHERE dead_letter_queue IS NOT NULL;

-- Deliveries to asynchronous targets (functions) not yet made: put_events()
-- adds one per event and target, tick() attempts them (src/bus_delivery.c)
-- and deletes each once it succeeded, went to the dead-letter queue or was
-- dropped.  event is the event as it entered the bus (what a dead-letter
-- queue receives); input is what the target is called with.
CREATE SEQUENCE courier.bus_delivery_id_seq AS bigint;
CREATE TABLE courier.bus_deliveries (
    delivery_id         bigint NOT NULL,
    bus_name            text COLLATE "C" NOT NULL,
    rule_name           text COLLATE "C" NOT NULL,
    target_id           text COLLATE "C" NOT NULL,
    target_key          bigint NOT NULL,
    ingested_at         timestamptz NOT NULL,
    next_attempt_at     timestamptz NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,
    last_error_code     text,
    last_error_message  text,
    replay_name         text,
    event               jsonb NOT NULL,
    input               jsonb NOT NULL,
    correlation_id      text,
    causation_id        text,
    CONSTRAINT bus_deliveries_pkey PRIMARY KEY (bus_name, delivery_id)
);
COMMENT ON TABLE courier.bus_deliveries IS 'pg_courier pending deliveries to function targets, with their retry state';
CREATE INDEX bus_deliveries_due_idx ON courier.bus_deliveries (next_attempt_at);
CREATE INDEX bus_deliveries_target_idx ON courier.bus_deliveries (target_key);

-- Archives: the events of a bus that match the archive's pattern (all of
-- them when it has none), kept for retention (indefinitely when null).
-- Archive names are unique across buses, as EventBridge's are per account.
CREATE TABLE courier.archives (
    archive_id      bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    bus_name        text COLLATE "C" NOT NULL,
    archive_name    text COLLATE "C" NOT NULL,
    event_pattern   jsonb,
    retention       interval,
    description     text,
    CONSTRAINT archives_pkey PRIMARY KEY (archive_name),
    CONSTRAINT archives_id_key UNIQUE (archive_id),
    CONSTRAINT archives_bus_fkey FOREIGN KEY (bus_name)
        REFERENCES courier.buses (bus_name),
    CONSTRAINT archives_name_check
        CHECK (archive_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9._-]+$'
               AND pg_catalog.length(archive_name) OPERATOR(pg_catalog.<=) 48),
    CONSTRAINT archives_retention_check
        CHECK (retention OPERATOR(pg_catalog.>) '0'::interval)
);
COMMENT ON TABLE courier.archives IS 'pg_courier bus archives: which events of a bus are kept, and for how long';
CREATE INDEX archives_bus_idx ON courier.archives (bus_name);

-- Archived events, partitioned by archive and by the day (UTC, days since
-- 1970-01-01) they were archived, so retention drops whole partitions.
CREATE TABLE courier.archived_events (
    archive_id      bigint NOT NULL,
    archived_day    integer NOT NULL,
    archived_at     timestamptz NOT NULL,
    event_time      timestamptz NOT NULL,
    event_id        uuid NOT NULL,
    event           jsonb NOT NULL
) PARTITION BY RANGE (archive_id, archived_day);
COMMENT ON TABLE courier.archived_events IS 'pg_courier archived events (one partition per archive and day)';
-- No index on the parent: each partition gets its own index on (event_time,
-- event_id) when it is created (sql/parts/84_bus_archives.sql).  A
-- partitioned index would break pg_dump: the partitions, created at run time,
-- are dumped as tables attached to this parent, the attach creates their
-- child index, and the dump's own CREATE INDEX of that child then fails.

SELECT pg_catalog.pg_extension_config_dump('courier.buses', '');
SELECT pg_catalog.pg_extension_config_dump('courier.archives', '');
SELECT pg_catalog.pg_extension_config_dump('courier.rules', '');
SELECT pg_catalog.pg_extension_config_dump('courier.targets', '');
SELECT pg_catalog.pg_extension_config_dump('courier.bus_deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('courier.bus_object_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('courier.bus_delivery_id_seq', '');

-- Internal: object-level lock that orders put_events() against changes of
-- the bus's rules and targets.  put_events() takes it shared; drop_bus,
-- delete_rule and remove_target take it exclusively.
CREATE FUNCTION courier._lock_bus(bus_name text, exclusive boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_lock_bus'
LANGUAGE C STRICT VOLATILE;

-- Internal: validate an event pattern; raises 22023 with the reason.
CREATE FUNCTION courier._check_event_pattern(event_pattern jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_check_event_pattern'
LANGUAGE C STRICT VOLATILE;

-- Internal: a committed removal forgets the object's statistics
-- (kind 'rule' or 'target').
CREATE FUNCTION courier._forget_bus_stats(kind text, id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_forget_bus_stats'
LANGUAGE C STRICT VOLATILE;

-- Internal: the counters of a rule or target (shared memory; nulls when
-- pg_courier is not preloaded).
CREATE FUNCTION courier._rule_counts(rule_id bigint, OUT matched bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_rule_counts'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION courier._target_counts(
    target_key bigint, OUT invocations bigint, OUT failed_invocations bigint,
    OUT retries bigint, OUT dead_letters bigint, OUT dropped bigint, OUT throttled bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'courier_target_counts'
LANGUAGE C STRICT VOLATILE;

-- Internal: a new bus version, after a change of its rules, targets or
-- archives (the caller holds the bus's lock or row lock).
CREATE FUNCTION courier._bump_bus(bus_name text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE courier.buses AS b
       SET version = nextval('courier.bus_object_id_seq'), updated_at = courier.now()
     WHERE b.bus_name = _bump_bus.bus_name
$$;

-- Internal: the bus row, locked against concurrent changes, or 42704.
CREATE FUNCTION courier._bus_for_change(bus_name text)
RETURNS courier.buses
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b courier.buses;
BEGIN
    PERFORM courier._require('bus_name', bus_name IS NULL);
    SELECT * INTO b FROM courier.buses AS c WHERE c.bus_name = _bus_for_change.bus_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'bus "%" does not exist', bus_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first with courier.create_bus(); courier.list_buses() shows the buses there are.';
    END IF;
    RETURN b;
END
$$;

CREATE FUNCTION courier._create_bus(bus_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._require('bus_name', bus_name IS NULL);
    IF bus_name !~ '^[A-Za-z0-9._-]+$' OR length(bus_name) > 256 THEN
        RAISE EXCEPTION 'invalid bus name "%"', bus_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A bus name has 1 to 256 characters: letters, digits, ".", "_" and "-".';
    END IF;
    INSERT INTO courier.buses AS b (version, created_at, updated_at, bus_name)
    VALUES (nextval('courier.bus_object_id_seq'), ts, ts, _create_bus.bus_name)
        ON CONFLICT ON CONSTRAINT buses_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'bus "%" already exists', bus_name
            USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM courier._audit('create_bus', 'bus', bus_name, '{}');
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.create_bus(bus_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.create_bus(text) IS 'create an event bus';

CREATE FUNCTION courier._drop_bus(bus_name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rule_ids bigint[];
    target_keys bigint[];
    pending bigint;
BEGIN
    PERFORM courier._require('bus_name', bus_name IS NULL);
    PERFORM courier._require('if_exists', if_exists IS NULL);
    -- Waits for put_events() in progress; later ones find no bus.
    PERFORM courier._lock_bus(bus_name, true);
    PERFORM 1 FROM courier.buses AS b WHERE b.bus_name = _drop_bus.bus_name FOR UPDATE;
    IF NOT FOUND THEN
        IF if_exists THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'bus "%" does not exist', bus_name
            USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM courier.targets AS t
                WHERE t.target_bus = _drop_bus.bus_name AND t.bus_name <> _drop_bus.bus_name) THEN
        RAISE EXCEPTION 'bus "%" is the target of rules on other buses', bus_name
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = (SELECT string_agg(format('%s/%s target %s', t.bus_name, t.rule_name, t.target_id), ', '
                                              ORDER BY t.bus_name, t.rule_name, t.target_id)
                              FROM courier.targets AS t
                             WHERE t.target_bus = _drop_bus.bus_name AND t.bus_name <> _drop_bus.bus_name),
                  HINT = 'Remove those targets first with courier.remove_target().';
    END IF;
    SELECT array_agg(r.rule_id ORDER BY r.rule_id) INTO rule_ids
      FROM courier.rules AS r WHERE r.bus_name = _drop_bus.bus_name;
    SELECT array_agg(t.target_key ORDER BY t.target_key) INTO target_keys
      FROM courier.targets AS t WHERE t.bus_name = _drop_bus.bus_name;
    DELETE FROM courier.bus_deliveries AS d WHERE d.bus_name = _drop_bus.bus_name;
    GET DIAGNOSTICS pending = ROW_COUNT;
    PERFORM courier._drop_bus_archives(bus_name);
    DELETE FROM courier.buses AS b WHERE b.bus_name = _drop_bus.bus_name;
    PERFORM courier._forget_bus_stats('rule', i) FROM unnest(rule_ids) AS i;
    PERFORM courier._forget_bus_stats('target', i) FROM unnest(target_keys) AS i;
    PERFORM courier._audit('drop_bus', 'bus', bus_name,
                           jsonb_build_object('rules', coalesce(cardinality(rule_ids), 0),
                                              'pending_deliveries_dropped', pending));
    RETURN true;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.drop_bus(bus_name text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.drop_bus(text, boolean) IS
    'drop a bus with its rules, targets, pending deliveries and archives';

CREATE FUNCTION courier.list_buses()
RETURNS TABLE (bus_name text, created_at timestamptz, rules bigint, archives bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT b.bus_name COLLATE "default", b.created_at,
           (SELECT count(*) FROM courier.rules AS r WHERE r.bus_name = b.bus_name),
           (SELECT count(*) FROM courier.archives AS a WHERE a.bus_name = b.bus_name)
      FROM courier.buses AS b
     ORDER BY b.bus_name
$$;
COMMENT ON FUNCTION courier.list_buses() IS 'the buses, with how many rules and archives each has';

CREATE FUNCTION courier._put_rule(
    bus_name        text,
    rule_name       text,
    event_pattern   jsonb,
    enabled         boolean DEFAULT true,
    description     text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b courier.buses;
    id bigint;
    ts timestamptz := courier.now();
    created boolean := false;
    max_rules integer := coalesce(current_setting('courier.max_rules_per_bus', true), '300')::integer;
BEGIN
    PERFORM courier._require('rule_name', rule_name IS NULL);
    PERFORM courier._require('event_pattern', event_pattern IS NULL);
    PERFORM courier._require('enabled', enabled IS NULL);
    IF rule_name !~ '^[A-Za-z0-9._-]+$' OR length(rule_name) > 64 THEN
        RAISE EXCEPTION 'invalid rule name "%"', rule_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A rule name has 1 to 64 characters: letters, digits, ".", "_" and "-".';
    END IF;
    IF length(event_pattern::text) > 4096 THEN
        RAISE EXCEPTION 'event pattern is too long'
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = format('The pattern has %s characters; a rule''s pattern has at most 4096.',
                                  length(event_pattern::text));
    END IF;
    PERFORM courier._check_event_pattern(event_pattern);
    b := courier._bus_for_change(bus_name);
    SELECT r.rule_id INTO id FROM courier.rules AS r
     WHERE r.bus_name = _put_rule.bus_name AND r.rule_name = _put_rule.rule_name;
    IF FOUND THEN
        -- PutRule replaces the rule; its targets stay.
        UPDATE courier.rules AS r
           SET event_pattern = _put_rule.event_pattern, enabled = _put_rule.enabled,
               description = _put_rule.description, updated_at = ts
         WHERE r.bus_name = _put_rule.bus_name AND r.rule_name = _put_rule.rule_name;
    ELSE
        IF (SELECT count(*) FROM courier.rules AS r WHERE r.bus_name = _put_rule.bus_name)
           >= max_rules THEN
            RAISE EXCEPTION 'bus "%" already has % rules', bus_name, max_rules
                USING ERRCODE = 'program_limit_exceeded',
                      HINT = 'Delete rules that are no longer used, combine patterns with $or, or have a superuser raise courier.max_rules_per_bus.';
        END IF;
        id := nextval('courier.bus_object_id_seq');
        created := true;
        INSERT INTO courier.rules AS r
               (rule_id, created_at, updated_at, enabled, bus_name, rule_name, event_pattern, description)
        VALUES (id, ts, ts, _put_rule.enabled, _put_rule.bus_name, _put_rule.rule_name,
                _put_rule.event_pattern, _put_rule.description);
    END IF;
    PERFORM courier._bump_bus(bus_name);
    PERFORM courier._audit('put_rule', 'bus', bus_name,
                           jsonb_build_object('rule', rule_name, 'rule_id', id, 'created', created,
                                              'enabled', enabled, 'event_pattern', event_pattern));
    RETURN id;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.put_rule(
    bus_name        text,
    rule_name       text,
    event_pattern   jsonb,
    enabled         boolean DEFAULT true,
    description     text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.put_rule(text, text, jsonb, boolean, text) IS
    'create or replace a rule (an EventBridge event pattern) on a bus; returns the rule id';

-- Internal: enable or disable a rule.
CREATE FUNCTION courier._set_rule_enabled(bus_name text, rule_name text, enabled boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('rule_name', rule_name IS NULL);
    PERFORM courier._bus_for_change(bus_name);
    UPDATE courier.rules AS r SET enabled = _set_rule_enabled.enabled, updated_at = courier.now()
     WHERE r.bus_name = _set_rule_enabled.bus_name AND r.rule_name = _set_rule_enabled.rule_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'rule "%" does not exist on bus "%"', rule_name, bus_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_rules(bus_name) shows the rules there are.';
    END IF;
    PERFORM courier._bump_bus(bus_name);
    PERFORM courier._audit(CASE WHEN enabled THEN 'enable_rule' ELSE 'disable_rule' END,
                           'bus', bus_name, jsonb_build_object('rule', rule_name));
END
$$;

CREATE FUNCTION courier._enable_rule(bus_name text, rule_name text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT courier._set_rule_enabled(bus_name, rule_name, true) $$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.enable_rule(bus_name text, rule_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.enable_rule(text, text) IS 'let a rule match events again';

CREATE FUNCTION courier._disable_rule(bus_name text, rule_name text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT courier._set_rule_enabled(bus_name, rule_name, false) $$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.disable_rule(bus_name text, rule_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.disable_rule(text, text) IS
    'stop a rule from matching events (its targets and pending deliveries stay)';

CREATE FUNCTION courier._delete_rule(bus_name text, rule_name text, force boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    keys bigint[];
    pending bigint;
BEGIN
    PERFORM courier._require('rule_name', rule_name IS NULL);
    PERFORM courier._require('force', force IS NULL);
    PERFORM courier._lock_bus(bus_name, true);
    PERFORM courier._bus_for_change(bus_name);
    SELECT r.rule_id INTO id FROM courier.rules AS r
     WHERE r.bus_name = _delete_rule.bus_name AND r.rule_name = _delete_rule.rule_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'rule "%" does not exist on bus "%"', rule_name, bus_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_rules(bus_name) shows the rules there are.';
    END IF;
    SELECT array_agg(t.target_key ORDER BY t.target_key) INTO keys FROM courier.targets AS t
     WHERE t.bus_name = _delete_rule.bus_name AND t.rule_name = _delete_rule.rule_name;
    IF keys IS NOT NULL AND NOT force THEN
        -- As EventBridge: a rule with targets cannot be deleted.
        RAISE EXCEPTION 'rule "%" on bus "%" still has targets', rule_name, bus_name
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Remove them first with courier.remove_target(), or pass force => true.';
    END IF;
    DELETE FROM courier.bus_deliveries AS d
     WHERE d.bus_name = _delete_rule.bus_name AND d.target_key = ANY (keys);
    GET DIAGNOSTICS pending = ROW_COUNT;
    DELETE FROM courier.rules AS r
     WHERE r.bus_name = _delete_rule.bus_name AND r.rule_name = _delete_rule.rule_name;
    PERFORM courier._bump_bus(bus_name);
    PERFORM courier._forget_bus_stats('rule', id);
    PERFORM courier._forget_bus_stats('target', k) FROM unnest(keys) AS k;
    PERFORM courier._audit('delete_rule', 'bus', bus_name,
                           jsonb_build_object('rule', rule_name, 'targets', coalesce(cardinality(keys), 0),
                                              'pending_deliveries_dropped', pending));
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.delete_rule(bus_name text, rule_name text, force boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.delete_rule(text, text, boolean) IS
    'delete a rule; one with targets only with force => true (its targets and pending deliveries go too)';

CREATE FUNCTION courier.list_rules(bus_name text)
RETURNS TABLE (rule_name text, rule_id bigint, enabled boolean, event_pattern jsonb,
               description text, targets bigint, created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('bus_name', bus_name IS NULL);
    IF NOT EXISTS (SELECT 1 FROM courier.buses AS b WHERE b.bus_name = list_rules.bus_name) THEN
        RAISE EXCEPTION 'bus "%" does not exist', bus_name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    SELECT r.rule_name COLLATE "default", r.rule_id, r.enabled, r.event_pattern, r.description,
           (SELECT count(*) FROM courier.targets AS t
             WHERE t.bus_name = r.bus_name AND t.rule_name = r.rule_name),
           r.created_at, r.updated_at
      FROM courier.rules AS r
     WHERE r.bus_name = list_rules.bus_name
     ORDER BY r.rule_name;
END
$$;
COMMENT ON FUNCTION courier.list_rules(text) IS 'the rules of a bus';

CREATE FUNCTION courier._put_target(
    bus_name            text,
    rule_name           text,
    target_id           text,
    target              text,
    input               jsonb DEFAULT NULL,
    input_path          text DEFAULT NULL,
    input_transformer   jsonb DEFAULT NULL,
    retry_policy        jsonb DEFAULT NULL,
    dead_letter_queue   text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind text;
    dest text;
    t courier.targets;
    fn regprocedure;
    retries integer := 185;
    max_age integer := 86400;
    k text;
    ts timestamptz := courier.now();
    existing bigint;
    dest_fifo boolean;
BEGIN
    PERFORM courier._require('rule_name', rule_name IS NULL);
    PERFORM courier._require('target_id', target_id IS NULL);
    PERFORM courier._require('target', target IS NULL);
    IF target_id !~ '^[A-Za-z0-9._-]+$' OR length(target_id) > 64 THEN
        RAISE EXCEPTION 'invalid target id "%"', target_id
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A target id has 1 to 64 characters: letters, digits, ".", "_" and "-".';
    END IF;
    kind := split_part(target, ':', 1);
    dest := substr(target, length(kind) + 2);
    IF position(':' IN target) = 0 OR dest = ''
       OR kind <> ALL (ARRAY['queue', 'topic', 'bus', 'function', 'state_machine']) THEN
        RAISE EXCEPTION 'invalid target "%"', target
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A target is queue:NAME, topic:NAME, bus:NAME, function:SCHEMA.NAME or state_machine:NAME.';
    END IF;

    -- retry policy: EventBridge's keys and ranges
    IF retry_policy IS NOT NULL THEN
        IF jsonb_typeof(retry_policy) <> 'object' THEN
            RAISE EXCEPTION 'retry_policy must be a JSON object'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Example: {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}.';
        END IF;
        FOR k IN SELECT jsonb_object_keys(retry_policy) LOOP
            IF k <> ALL (ARRAY['MaximumRetryAttempts', 'MaximumEventAgeInSeconds']) THEN
                RAISE EXCEPTION 'unknown retry_policy key "%"', k
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = 'A retry policy has the keys MaximumRetryAttempts and MaximumEventAgeInSeconds.';
            END IF;
        END LOOP;
        IF retry_policy ? 'MaximumRetryAttempts' THEN
            IF jsonb_typeof(retry_policy->'MaximumRetryAttempts') <> 'number'
               OR (retry_policy->>'MaximumRetryAttempts')::numeric NOT BETWEEN 0 AND 185
               OR (retry_policy->>'MaximumRetryAttempts')::numeric % 1 <> 0 THEN
                RAISE EXCEPTION 'MaximumRetryAttempts must be an integer between 0 and 185'
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = format('The value given was %s.', retry_policy->'MaximumRetryAttempts');
            END IF;
            retries := (retry_policy->>'MaximumRetryAttempts')::integer;
        END IF;
        IF retry_policy ? 'MaximumEventAgeInSeconds' THEN
            IF jsonb_typeof(retry_policy->'MaximumEventAgeInSeconds') <> 'number'
               OR (retry_policy->>'MaximumEventAgeInSeconds')::numeric NOT BETWEEN 60 AND 86400
               OR (retry_policy->>'MaximumEventAgeInSeconds')::numeric % 1 <> 0 THEN
                RAISE EXCEPTION 'MaximumEventAgeInSeconds must be an integer between 60 and 86400'
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = format('The value given was %s.', retry_policy->'MaximumEventAgeInSeconds');
            END IF;
            max_age := (retry_policy->>'MaximumEventAgeInSeconds')::integer;
        END IF;
    END IF;
    IF kind = 'bus' AND (input IS NOT NULL OR input_path IS NOT NULL OR input_transformer IS NOT NULL) THEN
        RAISE EXCEPTION 'a bus target takes the event as it is'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'input, input_path and input_transformer cannot be set on a bus target.';
    END IF;
    PERFORM courier._check_target_input(input, input_path, input_transformer);

    t.bus_name := bus_name;
    t.rule_name := rule_name;
    t.target_id := target_id;
    t.target := target;
    t.kind := kind;
    t.run_as := courier._acting_role();
    t.input := input;
    t.input_path := input_path;
    t.input_transformer := input_transformer;
    t.max_retry_attempts := retries;
    t.max_event_age := max_age;
    t.dead_letter_queue := nullif(dead_letter_queue, '');
    t.created_at := ts;

    CASE kind
    WHEN 'queue', 'topic' THEN
        IF kind = 'queue' THEN
            t.queue_name := dest;
            SELECT q.fifo INTO dest_fifo FROM courier.queues AS q WHERE q.queue_name = dest;
        ELSE
            t.topic_name := dest;
            SELECT c.fifo INTO dest_fifo FROM courier.topics AS c WHERE c.topic_name = dest;
        END IF;
        IF NOT FOUND THEN
            RAISE EXCEPTION '% "%" does not exist', kind, dest
                USING ERRCODE = 'undefined_object',
                      HINT = format('Create it first with courier.create_%s().', kind);
        END IF;
        IF dest_fifo THEN
            RAISE EXCEPTION 'FIFO % "%" cannot be a bus target', kind, dest
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = format('A bus target has no way yet to give the message group a FIFO %s needs.', kind),
                      HINT = format('Target a standard %s.', kind);
        END IF;
    WHEN 'bus' THEN
        t.target_bus := dest;
        IF dest = bus_name THEN
            RAISE EXCEPTION 'a rule cannot target its own bus "%"', bus_name
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Every event it matched would enter the bus again.';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM courier.buses AS c WHERE c.bus_name = dest) THEN
            RAISE EXCEPTION 'bus "%" does not exist', dest
                USING ERRCODE = 'undefined_object',
                      HINT = 'Create it first with courier.create_bus().';
        END IF;
    WHEN 'function' THEN
        IF position('.' IN dest) = 0 THEN
            RAISE EXCEPTION 'function target "%" must name its schema', target
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Write function:SCHEMA.NAME; the function is called with search_path = pg_catalog, pg_temp.';
        END IF;
        BEGIN
            fn := (dest || '(jsonb)')::regprocedure;
        EXCEPTION WHEN undefined_function OR invalid_schema_name OR invalid_name
                       OR syntax_error OR invalid_text_representation THEN
            RAISE EXCEPTION 'function %(jsonb) does not exist', dest
                USING ERRCODE = 'undefined_function',
                      HINT = 'A function target is function:SCHEMA.NAME of a function that takes one jsonb argument.';
        END;
        IF NOT has_function_privilege(courier._acting_role(), fn, 'EXECUTE') THEN
            RAISE EXCEPTION 'permission denied for function %', fn
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'A function target is called as the role that puts the target.';
        END IF;
        t.function_name := fn::text;
    WHEN 'state_machine' THEN
        t.state_machine_name := dest;
        IF NOT EXISTS (SELECT 1 FROM courier.state_machines AS m WHERE m.state_machine_name = dest) THEN
            RAISE EXCEPTION 'state machine "%" does not exist', dest
                USING ERRCODE = 'undefined_object',
                      HINT = 'Create it first with courier.create_state_machine().';
        END IF;
    END CASE;

    IF t.dead_letter_queue IS NOT NULL THEN
        IF kind NOT IN ('function', 'state_machine') THEN
            RAISE EXCEPTION 'only function and state machine targets have a dead-letter queue'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Queue, topic and bus targets are delivered in the put_events() transaction: they succeed or the call fails.';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM courier.queues AS q
                        WHERE q.queue_name = t.dead_letter_queue AND NOT q.fifo) THEN
            RAISE EXCEPTION 'dead-letter queue "%" does not exist or is a FIFO queue', t.dead_letter_queue
                USING ERRCODE = 'undefined_object',
                      HINT = 'A target''s dead-letter queue is a standard queue; create it with courier.create_queue().';
        END IF;
    END IF;
    IF retry_policy IS NOT NULL AND kind NOT IN ('function', 'state_machine') THEN
        RAISE EXCEPTION 'only function and state machine targets have a retry policy'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Queue, topic and bus targets are delivered in the put_events() transaction: they succeed or the call fails.';
    END IF;

    -- Put through a courier grant on the bus (src/grants.c), the target's
    -- destination must be one its caller may deliver to as well.
    IF NOT ((CASE kind WHEN 'queue' THEN courier._may('send', 'queue', dest)
                      WHEN 'topic' THEN courier._may('publish', 'topic', dest)
                      WHEN 'bus' THEN courier._may('put_events', 'bus', dest)
                      WHEN 'state_machine' THEN courier._may('start_execution', 'state_machine', dest)
                      ELSE true END)
            OR courier._may('manage', kind, dest))
       OR NOT (t.dead_letter_queue IS NULL OR courier._may('send', 'queue', t.dead_letter_queue)
               OR courier._may('manage', 'queue', t.dead_letter_queue)) THEN
        RAISE EXCEPTION 'permission denied to deliver to %',
                        (CASE WHEN t.dead_letter_queue IS NOT NULL
                              AND NOT (courier._may('send', 'queue', t.dead_letter_queue)
                                       OR courier._may('manage', 'queue', t.dead_letter_queue))
                             THEN format('dead-letter queue "%s"', t.dead_letter_queue)
                             ELSE format('%s "%s"', replace(kind, '_', ' '), dest) END)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role "%s" manages bus "%s" through a courier grant, not what the target delivers to.',
                                  courier._acting_role(), bus_name),
                  HINT = 'Grant it send, publish, put_events or start_execution on the destination with courier.grant().';
    END IF;

    PERFORM courier._lock_bus(bus_name, true);
    PERFORM courier._bus_for_change(bus_name);
    IF NOT EXISTS (SELECT 1 FROM courier.rules AS r
                    WHERE r.bus_name = _put_target.bus_name AND r.rule_name = _put_target.rule_name) THEN
        RAISE EXCEPTION 'rule "%" does not exist on bus "%"', rule_name, bus_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first with courier.put_rule().';
    END IF;
    SELECT c.target_key INTO existing FROM courier.targets AS c
     WHERE c.bus_name = _put_target.bus_name AND c.rule_name = _put_target.rule_name
       AND c.target_id = _put_target.target_id;
    IF FOUND THEN
        -- PutTargets replaces a target with the same id; its pending
        -- deliveries keep their place and are made to the new target.
        t.target_key := existing;
        DELETE FROM courier.targets AS c WHERE c.target_key = existing;
    ELSE
        IF (SELECT count(*) FROM courier.targets AS c
             WHERE c.bus_name = _put_target.bus_name AND c.rule_name = _put_target.rule_name) >= 5 THEN
            RAISE EXCEPTION 'rule "%" on bus "%" already has 5 targets', rule_name, bus_name
                USING ERRCODE = 'program_limit_exceeded',
                      HINT = 'Target a topic to fan out to more destinations.';
        END IF;
        t.target_key := nextval('courier.bus_object_id_seq');
    END IF;
    INSERT INTO courier.targets SELECT t.*;
    PERFORM courier._bump_bus(bus_name);
    PERFORM courier._audit('put_target', 'bus', bus_name,
                           jsonb_build_object('rule', rule_name, 'target_id', target_id, 'target', target,
                                              'replaced', existing IS NOT NULL,
                                              'max_retry_attempts', retries, 'max_event_age', max_age,
                                              'dead_letter_queue', t.dead_letter_queue));
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.put_target(
    bus_name            text,
    rule_name           text,
    target_id           text,
    target              text,
    input               jsonb DEFAULT NULL,
    input_path          text DEFAULT NULL,
    input_transformer   jsonb DEFAULT NULL,
    retry_policy        jsonb DEFAULT NULL,
    dead_letter_queue   text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.put_target(text, text, text, text, jsonb, text, jsonb, jsonb, text) IS
    'create or replace a target of a rule: queue:NAME, topic:NAME, bus:NAME or function:SCHEMA.NAME';

CREATE FUNCTION courier._remove_target(bus_name text, rule_name text, target_id text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key bigint;
    pending bigint;
BEGIN
    PERFORM courier._require('rule_name', rule_name IS NULL);
    PERFORM courier._require('target_id', target_id IS NULL);
    PERFORM courier._lock_bus(bus_name, true);
    PERFORM courier._bus_for_change(bus_name);
    DELETE FROM courier.targets AS t
     WHERE t.bus_name = _remove_target.bus_name AND t.rule_name = _remove_target.rule_name
       AND t.target_id = _remove_target.target_id
    RETURNING t.target_key INTO key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'target "%" of rule "%" does not exist on bus "%"', target_id, rule_name, bus_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_targets(bus_name, rule_name) shows the targets there are.';
    END IF;
    -- As EventBridge: retries of a removed target are not made.
    DELETE FROM courier.bus_deliveries AS d
     WHERE d.bus_name = _remove_target.bus_name AND d.target_key = key;
    GET DIAGNOSTICS pending = ROW_COUNT;
    PERFORM courier._bump_bus(bus_name);
    PERFORM courier._forget_bus_stats('target', key);
    PERFORM courier._audit('remove_target', 'bus', bus_name,
                           jsonb_build_object('rule', rule_name, 'target_id', target_id,
                                              'pending_deliveries_dropped', pending));
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.remove_target(bus_name text, rule_name text, target_id text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.remove_target(text, text, text) IS
    'remove a target from a rule; its pending deliveries are dropped';

CREATE FUNCTION courier.list_targets(bus_name text, rule_name text DEFAULT NULL)
RETURNS TABLE (rule text, target_id text, target text, input jsonb, input_path text,
               input_transformer jsonb, retry_policy jsonb, dead_letter_queue text,
               run_as name, created_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('bus_name', bus_name IS NULL);
    IF NOT EXISTS (SELECT 1 FROM courier.buses AS b WHERE b.bus_name = list_targets.bus_name) THEN
        RAISE EXCEPTION 'bus "%" does not exist', bus_name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    SELECT t.rule_name COLLATE "default", t.target_id COLLATE "default", t.target,
           t.input, t.input_path, t.input_transformer,
           CASE WHEN t.kind IN ('function', 'state_machine')
                THEN jsonb_build_object('MaximumRetryAttempts', t.max_retry_attempts,
                                        'MaximumEventAgeInSeconds', t.max_event_age) END,
           t.dead_letter_queue COLLATE "default", t.run_as, t.created_at
      FROM courier.targets AS t
     WHERE t.bus_name = list_targets.bus_name
       AND (list_targets.rule_name IS NULL OR t.rule_name = list_targets.rule_name)
     ORDER BY t.rule_name, t.target_id;
END
$$;
COMMENT ON FUNCTION courier.list_targets(text, text) IS 'the targets of a bus, or of one of its rules';

CREATE FUNCTION courier.put_events(bus_name text, events jsonb)
RETURNS TABLE (event_id uuid, error text, error_code text)
AS 'MODULE_PATHNAME', 'courier_put_events'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.put_events(text, jsonb) IS
    'put an array of EventBridge entries on a bus; one result row per entry, in order: its event id, or why it failed';

-- Internal: route one event that is already whole (a replay re-sends
-- archived events through it), to the enabled rules of the bus, or only to
-- those named in rules; the event gets "replay-name" when replay_name is
-- set.  Returns how many targets it was delivered to (dry_run: would be).
CREATE FUNCTION courier._route_event(bus_name text, event jsonb, replay_name text,
                                     rules text[], dry_run boolean)
RETURNS integer
AS 'MODULE_PATHNAME', 'courier_route_event'
LANGUAGE C VOLATILE;

-- Per rule: events matched since the server started (committed puts); per
-- target: invocations (deliveries made, including ones that failed),
-- failed invocations (attempts that failed), retries, dead letters
-- (exhausted deliveries sent to the target's dead-letter queue), dropped
-- (exhausted without one), throttled (due deliveries a tick left for the
-- next one).  Nulls without shared_preload_libraries.
CREATE VIEW courier.rule_stats AS
SELECT r.bus_name, r.rule_name, r.rule_id, r.enabled, rc.matched,
       t.target_id, t.target, tc.invocations, tc.failed_invocations, tc.retries,
       tc.dead_letters, tc.dropped, tc.throttled,
       (SELECT count(*) FROM courier.bus_deliveries AS d
         WHERE d.bus_name = r.bus_name AND d.target_key = t.target_key) AS pending
  FROM courier.rules AS r
 CROSS JOIN LATERAL courier._rule_counts(r.rule_id) AS rc
  LEFT JOIN courier.targets AS t ON t.bus_name = r.bus_name AND t.rule_name = r.rule_name
  LEFT JOIN LATERAL courier._target_counts(t.target_key) AS tc ON true;
COMMENT ON VIEW courier.rule_stats IS
    'per rule and target: events matched, invocations, failures, retries, dead letters, dropped, throttled, pending';

-- Internal: make the deliveries to function targets that are due, at most
-- max_deliveries of them (src/bus_delivery.c).
CREATE FUNCTION courier._deliver_bus_events(ts timestamptz, max_deliveries integer)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_deliver_bus_events'
LANGUAGE C VOLATILE;

-- Internal: the bus part of tick(): deliveries to function targets that are
-- due, then archive retention and replay batches.
CREATE FUNCTION courier._bus_tick(ts timestamptz)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN courier._deliver_bus_events(ts, 1000) || courier._archive_tick(ts);
END
$$;

-- bus archives and replays (sql/parts/84_bus_archives.sql)

-- Bus archives and replays (EventBridge).  See docs/archives.md.
--
-- Vocabulary:
--   archive     a named store of the events entering one bus that match its
--               pattern (every event when it has none), courier.archives
--   partition   the archived events of one archive and one UTC day (days
--               since 1970-01-01 of archived_at), a table of its own named
--               courier.archived_events_<archive_id>_<day>, created on demand
--               by the first event of that day; retention drops partitions
--               whole, never rows
--   replay      the re-sending of an archive's events whose event time lies in
--               [event_start_time, event_end_time) to the rules of its bus,
--               in batches run by tick(), with "replay-name" added to each
--   cursor      (event_last_replayed_time, last_event_id): the last event a
--               replay re-sent; the next batch starts after it, in
--               (event_time, event_id) order
--
-- Partition DDL needs the ownership of courier.archived_events, which the
-- roles that put events, administer archives or run tick() do not have: three
-- small SECURITY DEFINER helpers (_create_archive_partition,
-- _drop_archive_partitions, _archive_partition_maintenance) do that DDL and
-- nothing else.  Everything else runs with the caller's privileges.

-- Replays: one row per replay, kept after it ended (the name stays taken
-- until delete_replay() forgets it).
-- archive_id, archive_name and bus_name are copies, not foreign keys: a
-- replay outlives its archive, and one whose archive is gone fails.
CREATE TABLE courier.bus_replays (
    archive_id                  bigint NOT NULL,
    event_start_time            timestamptz NOT NULL,
    event_end_time              timestamptz NOT NULL,
    created_at                  timestamptz NOT NULL,
    replay_start_time           timestamptz,
    replay_end_time             timestamptz,
    event_last_replayed_time    timestamptz,
    events_replayed             bigint NOT NULL DEFAULT 0,
    deliveries                  bigint NOT NULL DEFAULT 0,
    dry_run                     boolean NOT NULL,
    last_event_id               uuid,
    started_by                  name NOT NULL,
    replay_name                 text COLLATE "C" NOT NULL,
    archive_name                text COLLATE "C" NOT NULL,
    bus_name                    text COLLATE "C" NOT NULL,
    state                       text NOT NULL,
    state_reason                text,
    rules                       text[] COLLATE "C",
    CONSTRAINT bus_replays_pkey PRIMARY KEY (replay_name),
    CONSTRAINT bus_replays_name_check
        CHECK (replay_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9._-]+$'
               AND pg_catalog.length(replay_name) OPERATOR(pg_catalog.<=) 64),
    CONSTRAINT bus_replays_state_check
        CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['STARTING', 'RUNNING', 'CANCELLING',
                                                       'COMPLETED', 'CANCELLED', 'FAILED'])),
    CONSTRAINT bus_replays_time_check
        CHECK (event_start_time OPERATOR(pg_catalog.<) event_end_time)
);
COMMENT ON TABLE courier.bus_replays IS
    'pg_courier replays of archived events: state, range, rules, progress (see the view courier.replays)';
-- tick() looks for the replays that are not over; delete_archive() for those
-- of one archive.
CREATE INDEX bus_replays_active_idx ON courier.bus_replays (archive_id)
    WHERE state OPERATOR(pg_catalog.=) ANY (ARRAY['STARTING', 'RUNNING', 'CANCELLING']);

SELECT pg_catalog.pg_extension_config_dump('courier.bus_replays', '');

CREATE VIEW courier.replays AS
SELECT r.replay_name, r.archive_name, r.bus_name, r.state, r.state_reason,
       r.event_start_time, r.event_end_time, r.rules, r.dry_run,
       r.events_replayed, r.deliveries, r.event_last_replayed_time,
       r.started_by, r.created_at, r.replay_start_time, r.replay_end_time
  FROM courier.bus_replays AS r;
COMMENT ON VIEW courier.replays IS
    'replays of archived events: state (STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED, FAILED) and progress';

-- Internal: the partitions of archived_events (of one archive, or of all
-- when archive_id is null), read from their names.
CREATE FUNCTION courier._archive_partitions(archive_id bigint)
RETURNS TABLE (archive_id bigint, archived_day integer, partition_name text, relid oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.parts[1]::bigint, p.parts[2]::integer, p.relname::text, p.oid
      FROM (SELECT c.oid, c.relname,
                   regexp_match(c.relname::text, '^archived_events_([0-9]+)_([0-9]+)$') AS parts
              FROM pg_catalog.pg_inherits AS i
              JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'courier.archived_events'::regclass) AS p
     WHERE p.parts IS NOT NULL
       AND (_archive_partitions.archive_id IS NULL
            OR p.parts[1]::bigint = _archive_partitions.archive_id)
$$;

-- Internal: the UTC day (days since 1970-01-01) of a timestamp.
CREATE FUNCTION courier._archive_day(ts timestamptz)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT floor(extract(epoch FROM ts) / 86400)::integer $$;

-- Internal: create the partition of an archive for a day, unless it exists.
-- false when the archive does not exist (it was deleted meanwhile): nothing
-- is then archived.  SECURITY DEFINER: the caller (put_events) need not own
-- courier.archived_events.  The archive row is locked FOR KEY SHARE, so a
-- concurrent delete_archive() waits for this transaction.
CREATE FUNCTION courier._create_archive_partition(archive_id bigint, day integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part text := format('archived_events_%s_%s', archive_id, day);
BEGIN
    PERFORM 1 FROM courier.archives AS a
     WHERE a.archive_id = _create_archive_partition.archive_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF to_regclass(format('courier.%I', part)) IS NOT NULL THEN
        RETURN true;
    END IF;
    BEGIN
        -- Locks courier.archived_events in ACCESS EXCLUSIVE mode until commit.
        EXECUTE format('CREATE TABLE courier.%I PARTITION OF courier.archived_events '
                       'FOR VALUES FROM (%s, %s) TO (%s, %s)',
                       part, archive_id, day, archive_id, day::bigint + 1);
        -- The replay order, within one archive (see 80_buses.sql for why the
        -- index is not inherited from the parent).
        EXECUTE format('CREATE INDEX %I ON courier.%I (event_time, event_id)', part || '_time_idx', part);
        EXECUTE format('COMMENT ON TABLE courier.%I IS %L', part,
                       format('pg_courier archived events of archive %s on day %s (%s UTC)',
                              archive_id, day, to_char(date '1970-01-01' + day, 'YYYY-MM-DD')));
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;   -- another transaction created it while this one waited for the lock
    END;
    RETURN true;
END
$$;

-- Internal: archive one event (called by put_events() in C, through SPI, for
-- each archive of the bus whose pattern matches).  On the put_events path,
-- so kept cheap: a catalog lookup of the day's partition by name, creating
-- it only for the first event of the day, and one insert through the parent.
CREATE FUNCTION courier._archive_event(archive_id bigint, archived_at timestamptz,
                                       event_time timestamptz, event_id uuid, event jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- courier._archive_day(), written out: this runs for every archived event.
    day integer := floor(extract(epoch FROM archived_at) / 86400)::integer;
BEGIN
    -- A replayed event is never archived again.
    IF event ? 'replay-name' THEN
        RETURN;
    END IF;
    IF to_regclass(format('courier.archived_events_%s_%s', archive_id, day)) IS NULL
       AND NOT courier._create_archive_partition(archive_id, day) THEN
        RETURN;
    END IF;
    INSERT INTO courier.archived_events AS e
           (archive_id, archived_day, archived_at, event_time, event_id, event)
    VALUES (_archive_event.archive_id, day, _archive_event.archived_at,
            _archive_event.event_time, _archive_event.event_id, _archive_event.event);
END
$$;

-- Internal: drop every partition of an archive that no longer exists (the
-- caller deleted its row in this transaction); returns how many.  Refusing
-- archives that still exist keeps this SECURITY DEFINER function from
-- destroying the events of a live archive.
CREATE FUNCTION courier._drop_archive_partitions(archive_id bigint)
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
    n integer := 0;
BEGIN
    IF EXISTS (SELECT 1 FROM courier.archives AS a
                WHERE a.archive_id = _drop_archive_partitions.archive_id) THEN
        RAISE EXCEPTION 'archive % still exists', archive_id
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Only the partitions of a deleted archive are dropped this way.',
                  HINT = 'Delete it with courier.delete_archive().';
    END IF;
    FOR p IN SELECT * FROM courier._archive_partitions(archive_id) AS ap
              ORDER BY ap.archived_day LOOP
        EXECUTE format('DROP TABLE courier.%I', p.partition_name);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- Internal: the partition work of tick(), as of now: drop the partitions
-- whose whole day is older than now - retention, and those of archives that
-- no longer exist; create tomorrow's partition of every archive that has one for
-- today, so that the first events after midnight do not wait for DDL.  The
-- DDL locks courier.archived_events in ACCESS EXCLUSIVE mode, which stops
-- put_events() from archiving until this transaction ends: the lock is
-- waited for 100 ms at most (a long transaction that archived events holds
-- it off), and the work is left for a later tick when it cannot be had.
-- (No time argument: this SECURITY DEFINER function applies retention as of
-- courier.now() only, so a caller cannot make it drop what is not due.)
CREATE FUNCTION courier._archive_partition_maintenance()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    today integer := courier._archive_day(ts);
    doomed text[];
    growing bigint[];
    p text;
    id bigint;
    dropped integer := 0;
    created integer := 0;
    old_timeout text;
BEGIN
    -- What is due, found without any lock on archived_events.
    SELECT array_agg(ap.partition_name ORDER BY ap.archive_id, ap.archived_day) INTO doomed
      FROM courier._archive_partitions(NULL) AS ap
      LEFT JOIN courier.archives AS a ON a.archive_id = ap.archive_id
     WHERE a.archive_id IS NULL
        OR (a.retention IS NOT NULL
            AND ap.archived_day < courier._archive_day(
                    ((ts AT TIME ZONE 'UTC') OPERATOR(pg_catalog.-) a.retention) AT TIME ZONE 'UTC'));
    SELECT array_agg(a.archive_id ORDER BY a.archive_id) INTO growing
      FROM courier.archives AS a
     WHERE to_regclass(format('courier.archived_events_%s_%s', a.archive_id, today)) IS NOT NULL
       AND to_regclass(format('courier.archived_events_%s_%s', a.archive_id, today + 1)) IS NULL;
    IF doomed IS NULL AND growing IS NULL THEN
        RETURN jsonb_build_object('archive_partitions_created', 0,
                                  'archive_partitions_dropped', 0,
                                  'archive_partitions_deferred', 0);
    END IF;

    BEGIN
        old_timeout := current_setting('lock_timeout');
        PERFORM set_config('lock_timeout', '100ms', true);
        LOCK TABLE courier.archived_events IN ACCESS EXCLUSIVE MODE;
        PERFORM set_config('lock_timeout', old_timeout, true);
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
        -- (The setting reverted with the block.)
        RETURN jsonb_build_object('archive_partitions_created', 0,
                                  'archive_partitions_dropped', 0,
                                  'archive_partitions_deferred',
                                  coalesce(cardinality(doomed), 0) + coalesce(cardinality(growing), 0));
    END;

    -- Under the lock nothing else changes partitions; a concurrent tick that
    -- did this work first has committed, so look again before each step.
    FOREACH p IN ARRAY coalesce(doomed, '{}') LOOP
        IF to_regclass(format('courier.%I', p)) IS NOT NULL THEN
            EXECUTE format('DROP TABLE courier.%I', p);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    FOREACH id IN ARRAY coalesce(growing, '{}') LOOP
        IF to_regclass(format('courier.archived_events_%s_%s', id, today + 1)) IS NULL
           AND courier._create_archive_partition(id, today + 1) THEN
            created := created + 1;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('archive_partitions_created', created,
                              'archive_partitions_dropped', dropped,
                              'archive_partitions_deferred', 0);
END
$$;

CREATE FUNCTION courier.create_archive(
    archive_name    text,
    bus_name        text,
    event_pattern   jsonb DEFAULT NULL,
    retention       interval DEFAULT NULL,
    description     text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM courier._require('archive_name', archive_name IS NULL);
    PERFORM courier._require('bus_name', bus_name IS NULL);
    IF archive_name !~ '^[A-Za-z0-9._-]+$' OR length(archive_name) > 48 THEN
        RAISE EXCEPTION 'invalid archive name "%"', archive_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'An archive name has 1 to 48 characters: letters, digits, ".", "_" and "-".';
    END IF;
    IF event_pattern IS NOT NULL THEN
        PERFORM courier._check_event_pattern(event_pattern);
    END IF;
    IF retention <= interval '0' THEN
        RAISE EXCEPTION 'retention must be positive'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', retention),
                  HINT = 'Leave retention out (null) to keep the events forever.';
    END IF;
    PERFORM courier._bus_for_change(bus_name);
    id := nextval('courier.bus_object_id_seq');
    INSERT INTO courier.archives AS a
           (archive_id, created_at, bus_name, archive_name, event_pattern, retention, description)
    VALUES (id, courier.now(), create_archive.bus_name, create_archive.archive_name,
            create_archive.event_pattern, create_archive.retention, create_archive.description)
        ON CONFLICT ON CONSTRAINT archives_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'archive "%" already exists', archive_name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('It archives bus "%s"; archive names are unique across buses.',
                                  (SELECT a.bus_name FROM courier.archives AS a
                                    WHERE a.archive_name = create_archive.archive_name));
    END IF;
    -- put_events() sees the new archive from its next call on.
    PERFORM courier._bump_bus(bus_name);
    PERFORM courier._audit('create_archive', 'archive', archive_name,
                           jsonb_build_object('bus', bus_name, 'archive_id', id,
                                              'event_pattern', event_pattern,
                                              'retention', retention::text));
    RETURN id;
END
$$;
COMMENT ON FUNCTION courier.create_archive(text, text, jsonb, interval, text) IS
    'archive the events of a bus that match a pattern (all when null), for retention (forever when null); returns the archive id';

CREATE FUNCTION courier.delete_archive(archive_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a courier.archives;
    busy courier.bus_replays;
    parts integer;
BEGIN
    PERFORM courier._require('archive_name', archive_name IS NULL);
    SELECT * INTO a FROM courier.archives AS c WHERE c.archive_name = delete_archive.archive_name;
    IF FOUND THEN
        -- Waits for put_events() in progress on the bus, which may be
        -- archiving into this archive; later ones no longer see it.
        PERFORM courier._lock_bus(a.bus_name, true);
        PERFORM courier._bus_for_change(a.bus_name);
        SELECT * INTO a FROM courier.archives AS c
         WHERE c.archive_name = delete_archive.archive_name FOR UPDATE;
    END IF;
    IF a.archive_id IS NULL THEN
        RAISE EXCEPTION 'archive "%" does not exist', archive_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_archives() shows the archives there are.';
    END IF;
    SELECT * INTO busy FROM courier.bus_replays AS r
     WHERE r.archive_id = a.archive_id AND r.state IN ('STARTING', 'RUNNING', 'CANCELLING')
     ORDER BY r.created_at LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'archive "%" is being replayed', archive_name
            USING ERRCODE = 'object_in_use',
                  DETAIL = format('Replay "%s" is %s.', busy.replay_name, busy.state),
                  HINT = 'Wait for the replay to end, or cancel it with courier.cancel_replay() and let the next tick finish cancelling it.';
    END IF;
    DELETE FROM courier.archives AS c WHERE c.archive_id = a.archive_id;
    parts := courier._drop_archive_partitions(a.archive_id);
    PERFORM courier._bump_bus(a.bus_name);
    PERFORM courier._audit('delete_archive', 'archive', archive_name,
                           jsonb_build_object('bus', a.bus_name, 'archive_id', a.archive_id,
                                              'partitions_dropped', parts));
END
$$;
COMMENT ON FUNCTION courier.delete_archive(text) IS
    'delete an archive and its archived events (not while a replay of it is under way)';

-- Internal: drop_bus() deletes the bus's archives with it, whatever their
-- replays are doing (those fail at their next batch).  drop_bus() holds the
-- bus's lock.
CREATE FUNCTION courier._drop_bus_archives(bus_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a courier.archives;
    parts integer;
BEGIN
    FOR a IN DELETE FROM courier.archives AS c WHERE c.bus_name = _drop_bus_archives.bus_name
             RETURNING * LOOP
        parts := courier._drop_archive_partitions(a.archive_id);
        PERFORM courier._audit('delete_archive', 'archive', a.archive_name,
                               jsonb_build_object('bus', a.bus_name, 'archive_id', a.archive_id,
                                                  'partitions_dropped', parts, 'with_bus', true));
    END LOOP;
END
$$;

-- Internal: list_archives() of a bus that does not exist raises 42704.
CREATE FUNCTION courier._bus_listed(bus_name text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF bus_name IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM courier.buses AS b WHERE b.bus_name = _bus_listed.bus_name) THEN
        RAISE EXCEPTION 'bus "%" does not exist', bus_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_buses() shows the buses there are.';
    END IF;
    RETURN true;
END
$$;

-- event_count (see docs/archives.md): the partitions of today (and later)
-- still fill, so their rows are counted; those of past days no longer change,
-- and count as their reltuples once autovacuum has analyzed them (an
-- estimate; exact for small tables), counted too until then.
-- (LANGUAGE sql: in PL/pgSQL the parameter bus_name and the result column
-- bus_name would clash.  The check is a one-time filter, run first.)
CREATE FUNCTION courier.list_archives(bus_name text DEFAULT NULL)
RETURNS TABLE (archive_name text, archive_id bigint, bus_name text, event_pattern jsonb,
               retention interval, description text, event_count bigint, size_bytes bigint,
               partitions integer, created_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.archive_name COLLATE "default", a.archive_id, a.bus_name COLLATE "default",
           a.event_pattern, a.retention, a.description,
           coalesce(sum(CASE WHEN c.reltuples >= 0 AND p.archived_day < courier._archive_day(courier.now())
                             THEN c.reltuples::bigint
                             ELSE (SELECT count(*) FROM courier.archived_events AS e
                                    WHERE e.archive_id = p.archive_id
                                      AND e.archived_day = p.archived_day) END), 0)::bigint,
           coalesce(sum(pg_total_relation_size(p.relid)), 0)::bigint,
           count(p.relid)::integer,
           a.created_at
      FROM courier.archives AS a
      LEFT JOIN courier._archive_partitions(NULL) AS p ON p.archive_id = a.archive_id
      LEFT JOIN pg_catalog.pg_class AS c ON c.oid = p.relid
     WHERE courier._bus_listed(list_archives.bus_name)
       AND (list_archives.bus_name IS NULL OR a.bus_name = list_archives.bus_name)
     GROUP BY a.archive_name, a.archive_id, a.bus_name, a.event_pattern, a.retention,
              a.description, a.created_at
     ORDER BY a.archive_name
$$;
COMMENT ON FUNCTION courier.list_archives(text) IS
    'the archives (of one bus, or all), with their approximate event count, size and partitions';

CREATE FUNCTION courier.start_replay(
    replay_name         text,
    archive_name        text,
    event_start_time    timestamptz,
    event_end_time      timestamptz,
    rules               text[] DEFAULT NULL,
    dry_run             boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a courier.archives;
    ts timestamptz := courier.now();
    missing text;
    wanted text[];
BEGIN
    PERFORM courier._require('replay_name', replay_name IS NULL);
    PERFORM courier._require('archive_name', archive_name IS NULL);
    PERFORM courier._require('event_start_time', event_start_time IS NULL);
    PERFORM courier._require('event_end_time', event_end_time IS NULL);
    PERFORM courier._require('dry_run', dry_run IS NULL);
    IF replay_name !~ '^[A-Za-z0-9._-]+$' OR length(replay_name) > 64 THEN
        RAISE EXCEPTION 'invalid replay name "%"', replay_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A replay name has 1 to 64 characters: letters, digits, ".", "_" and "-".';
    END IF;
    IF NOT isfinite(event_start_time) OR NOT isfinite(event_end_time) THEN
        RAISE EXCEPTION 'event_start_time and event_end_time must be finite'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF event_start_time >= event_end_time THEN
        RAISE EXCEPTION 'event_start_time must be before event_end_time'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The range given was [%s, %s).', event_start_time, event_end_time);
    END IF;
    IF event_end_time > ts THEN
        RAISE EXCEPTION 'event_end_time must not be in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('event_end_time is %s; it is now %s.', event_end_time, ts);
    END IF;
    IF rules IS NOT NULL THEN
        IF array_ndims(rules) > 1 THEN
            RAISE EXCEPTION 'rules must be a one-dimensional array'
                USING ERRCODE = 'array_subscript_error';
        END IF;
        IF cardinality(rules) = 0 THEN
            RAISE EXCEPTION 'rules must name at least one rule'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Leave rules out (null) to replay to every enabled rule of the bus.';
        END IF;
        IF array_position(rules, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'rules must not contain nulls'
                USING ERRCODE = 'null_value_not_allowed',
                      DETAIL = format('Element %s is null.', array_position(rules, NULL));
        END IF;
        SELECT array_agg(DISTINCT x ORDER BY x) INTO wanted FROM unnest(rules) AS x;
    END IF;
    -- FOR SHARE: delete_archive() waits for this transaction, and then sees
    -- the replay.
    SELECT * INTO a FROM courier.archives AS c
     WHERE c.archive_name = start_replay.archive_name FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'archive "%" does not exist', archive_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_archives() shows the archives there are.';
    END IF;
    SELECT x INTO missing FROM unnest(wanted) AS x
     WHERE NOT EXISTS (SELECT 1 FROM courier.rules AS r
                        WHERE r.bus_name = a.bus_name AND r.rule_name = x)
     ORDER BY x LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'rule "%" does not exist on bus "%"', missing, a.bus_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = format('A replay of archive "%s" goes to the rules of its bus.', a.archive_name),
                  HINT = 'courier.list_rules(bus_name) shows the rules there are.';
    END IF;
    INSERT INTO courier.bus_replays AS r
           (archive_id, event_start_time, event_end_time, created_at, dry_run, started_by,
            replay_name, archive_name, bus_name, state, rules)
    VALUES (a.archive_id, start_replay.event_start_time, start_replay.event_end_time, ts,
            start_replay.dry_run, courier._acting_role(), start_replay.replay_name, a.archive_name,
            a.bus_name, 'STARTING', wanted)
        ON CONFLICT ON CONSTRAINT bus_replays_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replay "%" already exists', replay_name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('It is %s.', (SELECT r.state FROM courier.bus_replays AS r
                                                 WHERE r.replay_name = start_replay.replay_name)),
                  HINT = 'A replay name stays taken until courier.delete_replay() forgets the replay.';
    END IF;
    PERFORM courier._audit('start_replay', 'replay', replay_name,
                           jsonb_build_object('archive', a.archive_name, 'bus', a.bus_name,
                                              'event_start_time', event_start_time,
                                              'event_end_time', event_end_time,
                                              'rules', to_jsonb(wanted), 'dry_run', dry_run));
    RETURN 'STARTING';
END
$$;
COMMENT ON FUNCTION courier.start_replay(text, text, timestamptz, timestamptz, text[], boolean) IS
    'replay the archived events with an event time in [event_start_time, event_end_time) to the rules of the archive''s bus (all enabled ones, or those named); tick() advances it';

CREATE FUNCTION courier.cancel_replay(replay_name text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r courier.bus_replays;
BEGIN
    PERFORM courier._require('replay_name', replay_name IS NULL);
    -- Waits for a batch of the replay in progress.
    SELECT * INTO r FROM courier.bus_replays AS c
     WHERE c.replay_name = cancel_replay.replay_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replay "%" does not exist', replay_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT * FROM courier.replays shows the replays there are.';
    END IF;
    IF r.state IN ('COMPLETED', 'CANCELLED', 'FAILED') THEN
        RAISE EXCEPTION 'replay "%" has already ended', replay_name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is %s.', r.state);
    END IF;
    IF r.state = 'CANCELLING' THEN
        RETURN r.state;
    END IF;
    UPDATE courier.bus_replays AS c SET state = 'CANCELLING'
     WHERE c.replay_name = cancel_replay.replay_name;
    PERFORM courier._audit('cancel_replay', 'replay', replay_name,
                           jsonb_build_object('archive', r.archive_name, 'state', r.state,
                                              'events_replayed', r.events_replayed));
    RETURN 'CANCELLING';
END
$$;
COMMENT ON FUNCTION courier.cancel_replay(text) IS
    'cancel a replay: CANCELLING now, CANCELLED at its next batch (events already replayed stay delivered)';

CREATE FUNCTION courier.delete_replay(replay_name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r courier.bus_replays;
BEGIN
    PERFORM courier._require('replay_name', replay_name IS NULL);
    PERFORM courier._require('if_exists', if_exists IS NULL);
    SELECT * INTO r FROM courier.bus_replays AS c
     WHERE c.replay_name = delete_replay.replay_name FOR UPDATE;
    IF NOT FOUND THEN
        IF if_exists THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'replay "%" does not exist', replay_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT * FROM courier.replays shows the replays there are.';
    END IF;
    IF r.state IN ('STARTING', 'RUNNING', 'CANCELLING') THEN
        RAISE EXCEPTION 'replay "%" is under way', replay_name
            USING ERRCODE = 'object_in_use',
                  DETAIL = format('It is %s.', r.state),
                  HINT = 'Cancel it with courier.cancel_replay() and let the next tick finish cancelling it.';
    END IF;
    DELETE FROM courier.bus_replays AS c WHERE c.replay_name = delete_replay.replay_name;
    PERFORM courier._audit('delete_replay', 'replay', replay_name,
                           jsonb_build_object('archive', r.archive_name, 'state', r.state,
                                              'events_replayed', r.events_replayed));
    RETURN true;
END
$$;
COMMENT ON FUNCTION courier.delete_replay(text, boolean) IS
    'forget a replay that has ended (its name can then be used again)';

-- Internal: end a replay in state (COMPLETED, CANCELLED or FAILED).
CREATE FUNCTION courier._end_replay(replay_name text, state text, reason text, ts timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r courier.bus_replays;
BEGIN
    UPDATE courier.bus_replays AS c
       SET state = _end_replay.state, state_reason = reason, replay_end_time = ts
     WHERE c.replay_name = _end_replay.replay_name
    RETURNING * INTO r;
    PERFORM courier._audit('end_replay', 'replay', replay_name,
                           jsonb_build_object('archive', r.archive_name, 'state', r.state,
                                              'state_reason', r.state_reason,
                                              'events_replayed', r.events_replayed,
                                              'deliveries', r.deliveries, 'dry_run', r.dry_run));
END
$$;

-- Internal: advance every replay that is not over and that no other
-- transaction is advancing, by at most max_events events each, as of ts.
-- Returns how many events were replayed.
CREATE FUNCTION courier._run_replays(ts timestamptz, max_events integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    names text[];
    n text;
    bus text;
    r courier.bus_replays;
    e record;
    reason text;
    batch integer;
    delivered bigint;
    last_time timestamptz;
    last_id uuid;
    current_id uuid;
    total bigint := 0;
BEGIN
    -- Most ticks find none; then tick() needs no more than SELECT here.
    IF NOT EXISTS (SELECT 1 FROM courier.bus_replays AS c
                    WHERE c.state IN ('STARTING', 'RUNNING', 'CANCELLING')) THEN
        RETURN 0;
    END IF;
    -- Claim the replays: a replay another transaction is advancing is
    -- skipped, so concurrent ticks never replay the same events.
    SELECT array_agg(x.replay_name ORDER BY x.created_at, x.replay_name) INTO names
      FROM (SELECT c.replay_name, c.created_at FROM courier.bus_replays AS c
             WHERE c.state IN ('STARTING', 'RUNNING', 'CANCELLING')
               FOR UPDATE SKIP LOCKED) AS x;
    IF names IS NULL THEN
        RETURN 0;
    END IF;
    -- Take the bus locks put_events() takes (shared), in name order, before
    -- reading any archived event: put_events() takes its bus lock first and
    -- then archives, and so do the DDL of delete_archive() and drop_bus(), so
    -- this order cannot deadlock with them.
    FOR bus IN SELECT DISTINCT c.bus_name FROM courier.bus_replays AS c
                WHERE c.replay_name = ANY (names) AND c.state <> 'CANCELLING'
                ORDER BY c.bus_name LOOP
        PERFORM courier._lock_bus(bus, false);
    END LOOP;

    FOREACH n IN ARRAY names LOOP
        SELECT * INTO r FROM courier.bus_replays AS c WHERE c.replay_name = n;
        IF r.state = 'CANCELLING' THEN
            PERFORM courier._end_replay(n, 'CANCELLED', NULL, ts);
            CONTINUE;
        END IF;
        reason := NULL;
        IF NOT EXISTS (SELECT 1 FROM courier.buses AS b WHERE b.bus_name = r.bus_name) THEN
            reason := format('bus "%s" was dropped', r.bus_name);
        ELSIF NOT EXISTS (SELECT 1 FROM courier.archives AS a WHERE a.archive_id = r.archive_id) THEN
            reason := format('archive "%s" was deleted', r.archive_name);
        ELSE
            SELECT format('rule "%s" was deleted from bus "%s"', x, r.bus_name) INTO reason
              FROM unnest(r.rules) AS x
             WHERE NOT EXISTS (SELECT 1 FROM courier.rules AS ru
                                WHERE ru.bus_name = r.bus_name AND ru.rule_name = x)
             ORDER BY x LIMIT 1;
        END IF;
        IF reason IS NOT NULL THEN
            PERFORM courier._end_replay(n, 'FAILED', reason, ts);
            CONTINUE;
        END IF;

        batch := 0;
        delivered := 0;
        current_id := NULL;
        -- Before the first batch the cursor is just before event_start_time
        -- (timestamps have microsecond resolution).
        last_time := coalesce(r.event_last_replayed_time, r.event_start_time - interval '1 microsecond');
        last_id := coalesce(r.last_event_id, '00000000-0000-0000-0000-000000000000');
        BEGIN
            FOR e IN SELECT ae.event_time, ae.event_id, ae.event
                       FROM courier.archived_events AS ae
                      WHERE ae.archive_id = r.archive_id
                        AND (ae.event_time, ae.event_id) > (last_time, last_id)
                        AND ae.event_time < r.event_end_time
                      ORDER BY ae.event_time, ae.event_id
                      LIMIT max_events LOOP
                current_id := e.event_id;
                delivered := delivered
                             + courier._route_event(r.bus_name, e.event, r.replay_name, r.rules, r.dry_run);
                batch := batch + 1;
                last_time := e.event_time;
                last_id := e.event_id;
            END LOOP;
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected OR lock_not_available THEN
                -- Transient: the batch is undone and tried again next time.
                CONTINUE;
            WHEN OTHERS THEN
                -- The batch is undone; the replay stops after the last batch
                -- that went through.
                PERFORM courier._end_replay(
                    n, 'FAILED',
                    CASE WHEN current_id IS NULL
                         THEN format('the archive could not be read: %s (SQLSTATE %s)', SQLERRM, SQLSTATE)
                         ELSE format('event %s could not be replayed: %s (SQLSTATE %s)',
                                     current_id, SQLERRM, SQLSTATE) END,
                    ts);
                CONTINUE;
        END;
        UPDATE courier.bus_replays AS c
           SET state = 'RUNNING',
               replay_start_time = coalesce(c.replay_start_time, ts),
               events_replayed = c.events_replayed + batch,
               deliveries = c.deliveries + delivered,
               event_last_replayed_time = CASE WHEN batch > 0 THEN last_time
                                               ELSE c.event_last_replayed_time END,
               last_event_id = CASE WHEN batch > 0 THEN last_id ELSE c.last_event_id END
         WHERE c.replay_name = n;
        IF batch < max_events THEN
            PERFORM courier._end_replay(n, 'COMPLETED', NULL, ts);
        END IF;
        total := total + batch;
    END LOOP;
    RETURN total;
END
$$;

CREATE FUNCTION courier.run_replays(max_events integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('max_events', max_events IS NULL);
    IF max_events < 1 OR max_events > 100000 THEN
        RAISE EXCEPTION 'max_events must be between 1 and 100000'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', max_events);
    END IF;
    RETURN courier._run_replays(courier.now(), max_events);
END
$$;
COMMENT ON FUNCTION courier.run_replays(integer) IS
    'advance every replay under way by a batch of at most max_events events now, as tick() does; returns how many events were replayed';

-- Internal: the archive part of tick(): a batch of each replay, then the
-- partition work (retention).
CREATE FUNCTION courier._archive_tick(ts timestamptz)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    replayed bigint := courier._run_replays(ts, 1000);
BEGIN
    RETURN jsonb_build_object('replayed_events', replayed)
           || courier._archive_partition_maintenance();
END
$$;

-- ASL validation (sql/parts/86_asl_validate.sql)

-- State machine definitions (Amazon States Language, JSONPath query
-- language): strict validation in C (src/asl_validate.c).  See
-- docs/asl-validation.md.

CREATE FUNCTION courier.validate_state_machine_definition(definition jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_validate_state_machine_definition'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION courier.validate_state_machine_definition(jsonb) IS
    'check an Amazon States Language definition; raises 22023 naming the state and field of the first problem, 0A000 for the JSONata query language';

-- The text form also sees duplicate keys, which a jsonb value has already
-- collapsed to the last one.  An untyped literal picks this form.
CREATE FUNCTION courier.validate_state_machine_definition(definition text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_validate_state_machine_definition_text'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION courier.validate_state_machine_definition(text) IS
    'check an Amazon States Language definition given as JSON text, duplicate keys included; raises 22023 naming the state and field of the first problem, 0A000 for the JSONata query language';

-- ASL data flow (sql/parts/87_asl_dataflow.sql)

-- The data flow of Amazon States Language states (JSONPath mode): paths,
-- input and output processing, payload templates with intrinsic functions,
-- Choice rules.  Pure C functions over jsonb (src/asl_*.c) that the
-- workflow engine calls; these SQL functions run them for tests and for
-- trying a definition out.  A state failure raises 22000 with the message
-- "<ASL error name>: <cause>".  See docs/asl-data-flow.md.

CREATE FUNCTION courier.test_asl_path(
    path    text,
    input   jsonb,
    context jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_test_asl_path'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_asl_path(text, jsonb, jsonb) IS
    'what the ASL JSONPath selects in input (or, for "$$...", in the context object); an indefinite path selects the array of its matches; raises 22023 for a path that does not parse, 22000 "States.Runtime: ..." when a definite path selects nothing';

CREATE FUNCTION courier.test_asl_state_io(
    state   jsonb,
    input   jsonb,
    result  jsonb DEFAULT NULL,
    context jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_test_asl_state_io'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_asl_state_io(jsonb, jsonb, jsonb, jsonb) IS
    'the output of a state with this state object''s InputPath, Parameters, ResultSelector, ResultPath and OutputPath for input; the result is the state''s Result, else result, else the effective input (as a Pass state); raises 22023 for invalid fields, 22000 "<ASL error>: <cause>" when the state fails';

CREATE FUNCTION courier.test_asl_choice(
    rule    jsonb,
    input   jsonb,
    context jsonb DEFAULT '{}')
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_test_asl_choice'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_asl_choice(jsonb, jsonb, jsonb) IS
    'does the ASL Choice rule (with or without Next) match input; raises 22023 for an invalid rule, 22000 "States.Runtime: ..." when its Variable selects nothing (except for IsPresent)';

CREATE FUNCTION courier.test_asl_template(
    template jsonb,
    input    jsonb,
    context  jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_test_asl_template'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_asl_template(jsonb, jsonb, jsonb) IS
    'the ASL payload template (Parameters, ResultSelector, ItemSelector: "key.$" fields with paths, context paths and intrinsic functions) applied to input; raises 22023 for an invalid template, 22000 "<ASL error>: <cause>" when applying fails';

-- workflows (sql/parts/88_workflows.sql)

-- Workflows (Step Functions): state machines in the Amazon States Language,
-- executions advanced by tick() (src/workflow.c), and their history.
-- Administration is PL/pgSQL.  See docs/workflows.md.

-- State machines: a name and the version new executions start on.
CREATE TABLE courier.state_machines (
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    current_version     integer NOT NULL,
    state_machine_name  text COLLATE "C" NOT NULL,
    CONSTRAINT state_machines_pkey PRIMARY KEY (state_machine_name),
    CONSTRAINT state_machines_name_check
        CHECK (state_machine_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_-]+$'
               AND pg_catalog.length(state_machine_name) OPERATOR(pg_catalog.<=) 80)
);
COMMENT ON TABLE courier.state_machines IS 'pg_courier state machines (one row per machine; definitions in state_machine_versions)';

-- Every definition a machine has had: an execution runs to its end on the
-- version it started with.
CREATE TABLE courier.state_machine_versions (
    state_machine_name  text COLLATE "C" NOT NULL,
    version             integer NOT NULL,
    created_at          timestamptz NOT NULL,
    definition          jsonb NOT NULL,
    CONSTRAINT state_machine_versions_pkey PRIMARY KEY (state_machine_name, version),
    CONSTRAINT state_machine_versions_machine_fkey FOREIGN KEY (state_machine_name)
        REFERENCES courier.state_machines (state_machine_name) ON DELETE CASCADE
);
COMMENT ON TABLE courier.state_machine_versions IS 'pg_courier state machine definitions, one row per version';

CREATE SEQUENCE courier.execution_id_seq AS bigint;

-- Executions.  A running execution is at one state (current_state, with the
-- input it entered with); next_step_at says when tick() advances it: now or
-- in the past when it can run, the end of a Wait or of a retry's backoff,
-- NULL once it ended.  state_phase: 0 the state is to be entered, 1 a Wait
-- is under way, 2 a retry's backoff is, 3 a Task waits for its task token,
-- 4 a Parallel or Map state waits for its children; retry_counts: per
-- retrier of the current state, the retries made.  status as Step Functions:
-- RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED; and PENDING for a Map
-- iteration waiting for a MaxConcurrency slot.  last_event_id: the highest
-- event id of its history (new events follow it without a max() query);
-- redriven_at: when redrive_execution last resumed it.
CREATE TABLE courier.executions (
    execution_id        bigint NOT NULL,
    state_machine_name  text COLLATE "C" NOT NULL,
    execution_name      text COLLATE "C" NOT NULL,
    version             integer NOT NULL,
    status              text NOT NULL,
    started_at          timestamptz NOT NULL,
    stopped_at          timestamptz,
    timeout_at          timestamptz,
    next_step_at        timestamptz,
    current_state       text,
    state_entered_at    timestamptz,
    state_phase         smallint NOT NULL DEFAULT 0,
    retry_counts        integer[],
    redrive_count       integer NOT NULL DEFAULT 0,
    redriven_at         timestamptz,
    last_event_id       integer NOT NULL DEFAULT 0,
    started_by          name NOT NULL,
    error               text,
    cause               text,
    input               jsonb NOT NULL,
    state_input         jsonb,
    output              jsonb,
    -- A branch of a Parallel state or an iteration of a Map state runs as a
    -- child execution (src/workflow_map.c): its parent, the path of its
    -- sub-machine ({state, branch, state, branch, ...} from the top), and its
    -- branch or item index.  children_from: on a parent in a Parallel or Map
    -- state, the lowest execution_id of that attempt's children.
    parent_execution_id bigint,
    branch_path         text[],
    item_index          integer,
    children_from       bigint,
    correlation_id      text,
    causation_id        text,
    CONSTRAINT executions_pkey PRIMARY KEY (state_machine_name, execution_name),
    CONSTRAINT executions_id_key UNIQUE (execution_id),
    CONSTRAINT executions_version_fkey FOREIGN KEY (state_machine_name, version)
        REFERENCES courier.state_machine_versions (state_machine_name, version) ON DELETE CASCADE,
    CONSTRAINT executions_name_check
        CHECK (parent_execution_id IS NOT NULL
               OR (execution_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_.-]+$'
                   AND pg_catalog.length(execution_name) OPERATOR(pg_catalog.<=) 80)),
    CONSTRAINT executions_status_check
        CHECK (status OPERATOR(pg_catalog.=) ANY
               (ARRAY['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING']))
);
COMMENT ON TABLE courier.executions IS 'pg_courier workflow executions: status, current state, input and output';
CREATE INDEX executions_due_idx ON courier.executions (next_step_at) WHERE status = 'RUNNING';
CREATE INDEX executions_parent_idx ON courier.executions (parent_execution_id, item_index)
    WHERE parent_execution_id IS NOT NULL;
-- courier.trace() finds a flow's executions by their correlation id.
CREATE INDEX executions_correlation_idx ON courier.executions (correlation_id)
    WHERE correlation_id IS NOT NULL;

-- What happened to each execution, in order, with Step Functions' event
-- type names (ExecutionStarted, PassStateEntered, TaskScheduled, ...).
-- Stored as one row per batch of events the engine wrote at once (one step
-- run of an execution writes one row, however many states it went
-- through): events first_event_id to last_event_id, their times, types and
-- details in three arrays of that length.  A row per event made the
-- history most of what a Task state cost (a heap tuple and an index entry
-- per event, five events per Task); courier.execution_history shows one
-- row per event.
CREATE TABLE courier.execution_events (
    execution_id        bigint NOT NULL,
    first_event_id      integer NOT NULL,
    last_event_id       integer NOT NULL,
    timestamps          timestamptz[] NOT NULL,
    types               text[] NOT NULL,
    details             jsonb[] NOT NULL,
    CONSTRAINT execution_events_pkey PRIMARY KEY (execution_id, first_event_id),
    CONSTRAINT execution_events_range_check
        CHECK (first_event_id OPERATOR(pg_catalog.>=) 1
               AND last_event_id OPERATOR(pg_catalog.>=) first_event_id
               AND pg_catalog.cardinality(types) OPERATOR(pg_catalog.=)
                   (last_event_id OPERATOR(pg_catalog.-) first_event_id OPERATOR(pg_catalog.+) 1))
);
COMMENT ON TABLE courier.execution_events IS
    'pg_courier execution history, one row per batch of events (read courier.execution_history)';

-- A save's row is usually over the 2 kB TOAST threshold (a Task state
-- records 5 events), so its arrays are compressed on the way in: with pglz
-- that was a tenth of what a Task state cost, lz4 takes a fraction of it.
-- A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE courier.execution_events
        ALTER COLUMN timestamps SET COMPRESSION lz4,
        ALTER COLUMN types SET COMPRESSION lz4,
        ALTER COLUMN details SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;

-- One row per event: the view a DBA reads, and what get_execution_history
-- returns.  A condition on execution_id reaches execution_events' index.
CREATE VIEW courier.execution_history AS
SELECT b.execution_id,
       (b.first_event_id OPERATOR(pg_catalog.+) e.n OPERATOR(pg_catalog.-) 1)::integer AS event_id,
       (b.first_event_id OPERATOR(pg_catalog.+) e.n OPERATOR(pg_catalog.-) 2)::integer AS previous_event_id,
       e."timestamp", e.type, e.details
  FROM courier.execution_events AS b
 CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(b.timestamps), pg_catalog.unnest(b.types),
                               pg_catalog.unnest(b.details))
       WITH ORDINALITY AS e ("timestamp", type, details, n);
COMMENT ON VIEW courier.execution_history IS
    'pg_courier execution history events (Step Functions event types), one row per event';

-- A bus target may start executions (sql/parts/80_buses.sql): the machine
-- it names cannot be deleted while it does.
ALTER TABLE courier.targets
    ADD CONSTRAINT targets_state_machine_fkey FOREIGN KEY (state_machine_name)
        REFERENCES courier.state_machines (state_machine_name);
CREATE INDEX targets_state_machine_idx ON courier.targets (state_machine_name)
    WHERE state_machine_name IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('courier.state_machines', '');
SELECT pg_catalog.pg_extension_config_dump('courier.state_machine_versions', '');
SELECT pg_catalog.pg_extension_config_dump('courier.executions', '');
SELECT pg_catalog.pg_extension_config_dump('courier.execution_events', '');
SELECT pg_catalog.pg_extension_config_dump('courier.execution_id_seq', '');

CREATE FUNCTION courier._check_state_machine_name(state_machine_name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('state_machine_name', state_machine_name IS NULL);
    IF state_machine_name !~ '^[A-Za-z0-9_-]+$' OR length(state_machine_name) > 80 THEN
        RAISE EXCEPTION 'invalid state machine name "%"', state_machine_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A state machine name has 1 to 80 characters: letters, digits, "_" and "-".';
    END IF;
END
$$;

CREATE FUNCTION courier._create_state_machine(state_machine_name text, definition jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._check_state_machine_name(state_machine_name);
    PERFORM courier._require('definition', definition IS NULL);
    PERFORM courier.validate_state_machine_definition(definition);
    INSERT INTO courier.state_machines AS m (created_at, updated_at, current_version, state_machine_name)
    VALUES (ts, ts, 1, _create_state_machine.state_machine_name)
        ON CONFLICT ON CONSTRAINT state_machines_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'state machine "%" already exists', state_machine_name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Change its definition with courier.update_state_machine().';
    END IF;
    INSERT INTO courier.state_machine_versions (state_machine_name, version, created_at, definition)
    VALUES (state_machine_name, 1, ts, definition);
    PERFORM courier._audit('create_state_machine', 'state_machine', state_machine_name,
                           jsonb_build_object('version', 1));
    RETURN 1;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.create_state_machine(state_machine_name text, definition jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.create_state_machine(text, jsonb) IS
    'create a state machine from an Amazon States Language definition (validated); returns its version, 1';

CREATE FUNCTION courier._update_state_machine(state_machine_name text, definition jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v integer;
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._check_state_machine_name(state_machine_name);
    PERFORM courier._require('definition', definition IS NULL);
    PERFORM courier.validate_state_machine_definition(definition);
    UPDATE courier.state_machines AS m
       SET current_version = m.current_version + 1, updated_at = ts
     WHERE m.state_machine_name = _update_state_machine.state_machine_name
    RETURNING m.current_version INTO v;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'state machine "%" does not exist', state_machine_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_state_machines() shows the state machines there are.';
    END IF;
    INSERT INTO courier.state_machine_versions (state_machine_name, version, created_at, definition)
    VALUES (state_machine_name, v, ts, definition);
    PERFORM courier._audit('update_state_machine', 'state_machine', state_machine_name,
                           jsonb_build_object('version', v));
    RETURN v;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.update_state_machine(state_machine_name text, definition jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.update_state_machine(text, jsonb) IS
    'give a state machine a new definition (a new version); running executions finish on theirs';

CREATE FUNCTION courier._delete_state_machine(state_machine_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    running bigint;
    total bigint;
BEGIN
    PERFORM courier._check_state_machine_name(state_machine_name);
    PERFORM 1 FROM courier.state_machines AS m
     WHERE m.state_machine_name = _delete_state_machine.state_machine_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'state machine "%" does not exist', state_machine_name
            USING ERRCODE = 'undefined_object';
    END IF;
    SELECT count(*) FILTER (WHERE e.status = 'RUNNING' AND e.parent_execution_id IS NULL),
           count(*) FILTER (WHERE e.parent_execution_id IS NULL) INTO running, total
      FROM courier.executions AS e
     WHERE e.state_machine_name = _delete_state_machine.state_machine_name;
    IF running > 0 THEN
        RAISE EXCEPTION 'state machine "%" has % running executions', state_machine_name, running
            USING ERRCODE = 'object_in_use',
                  HINT = 'Let them finish, or stop them with courier.stop_execution().';
    END IF;
    DELETE FROM courier.execution_events AS h
     WHERE h.execution_id IN (SELECT e.execution_id FROM courier.executions AS e
                               WHERE e.state_machine_name = _delete_state_machine.state_machine_name);
    DELETE FROM courier.state_machines AS m
     WHERE m.state_machine_name = _delete_state_machine.state_machine_name;
    PERFORM courier._forget_stats('state_machine', state_machine_name);
    PERFORM courier._audit('delete_state_machine', 'state_machine', state_machine_name,
                           jsonb_build_object('executions', total));
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.delete_state_machine(state_machine_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.delete_state_machine(text) IS
    'delete a state machine with its versions and finished executions (refused while one runs)';

CREATE FUNCTION courier.list_state_machines()
RETURNS TABLE (state_machine_name text, current_version integer, created_at timestamptz,
               updated_at timestamptz, running bigint, executions bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.state_machine_name COLLATE "default", m.current_version, m.created_at, m.updated_at,
           (SELECT count(*) FROM courier.executions AS e
             WHERE e.state_machine_name = m.state_machine_name AND e.status = 'RUNNING'
               AND e.parent_execution_id IS NULL),
           (SELECT count(*) FROM courier.executions AS e
             WHERE e.state_machine_name = m.state_machine_name AND e.parent_execution_id IS NULL)
      FROM courier.state_machines AS m
     ORDER BY m.state_machine_name
$$;
COMMENT ON FUNCTION courier.list_state_machines() IS
    'the state machines, with their current version and how many executions run';

-- Internal: add an event to an execution's history.
CREATE FUNCTION courier._history(execution_id bigint, type text, details jsonb)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH e AS (
        UPDATE courier.executions AS e SET last_event_id = e.last_event_id + 1
         WHERE e.execution_id = _history.execution_id
        RETURNING e.last_event_id)
    INSERT INTO courier.execution_events
           (execution_id, first_event_id, last_event_id, timestamps, types, details)
    SELECT _history.execution_id, e.last_event_id, e.last_event_id,
           ARRAY[courier.now()], ARRAY[_history.type], ARRAY[_history.details]
      FROM e
$$;

CREATE FUNCTION courier._start_execution(
    state_machine_name  text,
    input               jsonb DEFAULT '{}',
    execution_name      text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m courier.state_machines;
    def jsonb;
    e courier.executions;
    id bigint;
    name text := execution_name;
    ts timestamptz := courier.now();
    ctx record;
BEGIN
    PERFORM courier._check_state_machine_name(state_machine_name);
    PERFORM courier._require('input', input IS NULL);
    IF name IS NOT NULL AND (name !~ '^[A-Za-z0-9_.-]+$' OR length(name) > 80) THEN
        RAISE EXCEPTION 'invalid execution name "%"', name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'An execution name has 1 to 80 characters: letters, digits, ".", "_" and "-".';
    END IF;
    IF length(input::text) > 262144 THEN
        RAISE EXCEPTION 'execution input is too large'
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = format('The input has %s characters; at most 262144.', length(input::text));
    END IF;
    SELECT * INTO m FROM courier.state_machines AS c
     WHERE c.state_machine_name = _start_execution.state_machine_name FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'state machine "%" does not exist', state_machine_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with courier.create_state_machine().';
    END IF;
    IF name IS NOT NULL THEN
        -- As StartExecution: the same name and input while it runs returns
        -- the running execution; anything else with that name is an error.
        SELECT * INTO e FROM courier.executions AS c
         WHERE c.state_machine_name = _start_execution.state_machine_name AND c.execution_name = name;
        IF FOUND THEN
            IF e.status = 'RUNNING' AND e.input = _start_execution.input THEN
                RETURN e.execution_id;
            END IF;
            RAISE EXCEPTION 'execution "%" of state machine "%" already exists', name, state_machine_name
                USING ERRCODE = 'duplicate_object',
                      DETAIL = format('It is %s%s.', e.status,
                                      CASE WHEN e.input <> _start_execution.input
                                           THEN ', with another input' ELSE '' END),
                      HINT = 'Execution names are unique per state machine; choose another.';
        END IF;
    END IF;
    SELECT v.definition INTO def FROM courier.state_machine_versions AS v
     WHERE v.state_machine_name = m.state_machine_name AND v.version = m.current_version;
    id := nextval('courier.execution_id_seq');
    name := coalesce(name, gen_random_uuid()::text);
    -- the transaction's correlation context (docs/correlation.md)
    SELECT * INTO ctx FROM courier.current_context();
    INSERT INTO courier.executions
           (execution_id, state_machine_name, execution_name, version, status, started_at,
            timeout_at, next_step_at, current_state, state_entered_at, started_by, input, state_input,
            correlation_id, causation_id, last_event_id)
    VALUES (id, m.state_machine_name, name, m.current_version, 'RUNNING', ts,
            ts + make_interval(secs => (def->>'TimeoutSeconds')::double precision),
            ts, def->>'StartAt', ts, courier._acting_role(), input, input,
            ctx.correlation_id, ctx.causation_id, 1)
        ON CONFLICT ON CONSTRAINT executions_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution "%" of state machine "%" already exists', name, state_machine_name
            USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM courier._count_stats('state_machine', m.state_machine_name, 'started', 1);
    -- its first event, 1 (last_event_id above), written directly
    INSERT INTO courier.execution_events
           (execution_id, first_event_id, last_event_id, timestamps, types, details)
    VALUES (id, 1, 1, ARRAY[ts], ARRAY['ExecutionStarted'],
            ARRAY[jsonb_build_object('input', input, 'version', m.current_version,
                                     'name', name, 'startedBy', courier._acting_role())]);
    PERFORM courier._wake_executions();
    RETURN id;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.start_execution(
    state_machine_name  text,
    input               jsonb DEFAULT '{}',
    execution_name      text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.start_execution(text, jsonb, text) IS
    'start an execution in the caller''s transaction (idempotent by name while it runs with the same input); returns its id';

-- Internal: the id of an existing execution, or 22004 / 42704.
CREATE FUNCTION courier._existing_execution(execution_id bigint)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('execution_id', _existing_execution.execution_id IS NULL);
    IF NOT EXISTS (SELECT 1 FROM courier.executions AS e
                    WHERE e.execution_id = _existing_execution.execution_id) THEN
        RAISE EXCEPTION 'execution % does not exist', _existing_execution.execution_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_executions() shows the executions there are.';
    END IF;
    RETURN _existing_execution.execution_id;
END
$$;

CREATE FUNCTION courier.describe_execution(execution_id bigint)
RETURNS TABLE (execution_id bigint, state_machine_name text, execution_name text,
               version integer, status text, current_state text, started_at timestamptz,
               stopped_at timestamptz, input jsonb, output jsonb, error text, cause text,
               redrive_count integer, next_step_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.execution_id, e.state_machine_name COLLATE "default", e.execution_name COLLATE "default",
           e.version, e.status, e.current_state, e.started_at, e.stopped_at, e.input, e.output,
           e.error, e.cause, e.redrive_count, e.next_step_at
      FROM courier.executions AS e
     WHERE e.execution_id = courier._existing_execution($1)
$$;
COMMENT ON FUNCTION courier.describe_execution(bigint) IS 'an execution: status, current state, input, output, error';

CREATE FUNCTION courier.get_execution_history(execution_id bigint)
RETURNS TABLE (event_id integer, previous_event_id integer, "timestamp" timestamptz, type text, details jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.event_id, h.previous_event_id, h."timestamp", h.type, h.details
      FROM courier.execution_history AS h
     WHERE h.execution_id = courier._existing_execution($1)
     ORDER BY h.event_id
$$;
COMMENT ON FUNCTION courier.get_execution_history(bigint) IS
    'the history of an execution, in order, with Step Functions event types';

CREATE FUNCTION courier.list_executions(state_machine_name text DEFAULT NULL, status text DEFAULT NULL)
RETURNS TABLE (execution_id bigint, state_machine_name text, execution_name text, status text,
               current_state text, started_at timestamptz, stopped_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.execution_id, e.state_machine_name COLLATE "default", e.execution_name COLLATE "default",
           e.status, e.current_state, e.started_at, e.stopped_at
      FROM courier.executions AS e
     WHERE (list_executions.state_machine_name IS NULL OR e.state_machine_name = list_executions.state_machine_name)
       AND (list_executions.status IS NULL OR e.status = list_executions.status)
       AND e.parent_execution_id IS NULL
     ORDER BY e.started_at DESC, e.execution_id DESC
$$;
COMMENT ON FUNCTION courier.list_executions(text, text) IS 'executions, newest first, of one machine or all, of one status or all';

CREATE FUNCTION courier._stop_execution(execution_id bigint, error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e courier.executions;
    ts timestamptz := courier.now();
    state_type text;
    iterations jsonb[];
    iteration jsonb;
BEGIN
    PERFORM courier._require('execution_id', _stop_execution.execution_id IS NULL);
    SELECT * INTO e FROM courier.executions AS c
     WHERE c.execution_id = _stop_execution.execution_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', _stop_execution.execution_id
            USING ERRCODE = 'undefined_object';
    END IF;
    IF e.parent_execution_id IS NOT NULL THEN
        RAISE EXCEPTION 'execution % is a branch of execution %', _stop_execution.execution_id,
                        e.parent_execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'It runs a branch or an iteration of a Parallel or Map state.',
                  HINT = 'Stop the execution it belongs to; its branches stop with it.';
    END IF;
    IF e.status <> 'RUNNING' THEN
        RAISE EXCEPTION 'execution % is not running', _stop_execution.execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is %s since %s.', e.status, e.stopped_at);
    END IF;
    -- The state it is in, if it has entered it (state_phase 0: it is still
    -- to be entered): a Task, Wait, Parallel or Map state in the middle of
    -- its work is aborted with it, as Step Functions records.
    IF e.state_phase <> 0 THEN
        SELECT v.definition->'States'->e.current_state->>'Type' INTO state_type
          FROM courier.state_machine_versions AS v
         WHERE v.state_machine_name = e.state_machine_name AND v.version = e.version;
    END IF;
    UPDATE courier.executions AS c
       SET status = 'ABORTED', stopped_at = ts, next_step_at = NULL,
           error = _stop_execution.error, cause = _stop_execution.cause
     WHERE c.execution_id = _stop_execution.execution_id;
    -- every running or pending descendant is stopped; a Map's own running
    -- iterations each get MapIterationAborted, as when the Map fails
    SELECT array_agg(jsonb_build_object('name', e.current_state, 'index', s.item_index,
                                        'executionId', s.execution_id)
                     ORDER BY s.item_index)
               FILTER (WHERE state_type = 'Map' AND s.parent_execution_id = e.execution_id
                         AND s.was = 'RUNNING')
      INTO iterations
      FROM courier._stop_children(e.execution_id, ts) AS s;
    FOREACH iteration IN ARRAY coalesce(iterations, '{}') LOOP
        PERFORM courier._history(e.execution_id, 'MapIterationAborted', iteration);
    END LOOP;
    IF state_type IN ('Task', 'Wait', 'Parallel', 'Map') THEN
        PERFORM courier._history(e.execution_id, state_type || 'StateAborted',
                                 jsonb_build_object('name', e.current_state));
    END IF;
    PERFORM courier._count_stats('state_machine', e.state_machine_name, 'aborted', 1);
    PERFORM courier._history(e.execution_id, 'ExecutionAborted',
                             jsonb_strip_nulls(jsonb_build_object('error', error, 'cause', cause)));
    PERFORM courier._audit('stop_execution', 'state_machine', e.state_machine_name,
                           jsonb_build_object('execution_id', e.execution_id, 'execution', e.execution_name));
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.stop_execution(execution_id bigint, error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.stop_execution(bigint, text, text) IS 'abort a running execution';

-- Internal: advance due executions by at most max_steps state transitions
-- (src/workflow.c); tick() calls it.
CREATE FUNCTION courier._run_executions(ts timestamptz, max_steps integer)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_run_executions'
LANGUAGE C VOLATILE;

CREATE FUNCTION courier.run_executions(max_steps integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('max_steps', max_steps IS NULL);
    IF max_steps < 1 OR max_steps > 1000000 THEN
        RAISE EXCEPTION 'max_steps must be between 1 and 1000000'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', max_steps);
    END IF;
    RETURN (courier._run_executions(courier.now(), max_steps)->>'workflow_transitions')::integer;
END
$$;
COMMENT ON FUNCTION courier.run_executions(integer) IS
    'advance due executions now by at most max_steps state transitions, as tick() does; returns how many were made';

-- Internal: have the worker advance executions once this transaction commits.
CREATE FUNCTION courier._wake_executions()
RETURNS void
AS 'MODULE_PATHNAME', 'courier_wake_executions'
LANGUAGE C VOLATILE;

-- Raised by a function task to fail with a named ASL error (for Retry and
-- Catch), e.g. courier.task_error('Payment.Declined', 'card expired').
CREATE FUNCTION courier.task_error(error_name text, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_task_error'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.task_error(text, text) IS
    'fail the calling workflow task with a named error (matched by Retry and Catch ErrorEquals)';

-- Internal: the workflow part of tick(): advance due executions, as of
-- now rather than of the tick's start, so that executions the tick's bus
-- deliveries started run in the same tick.
CREATE FUNCTION courier._workflow_tick(ts timestamptz)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT courier._run_executions(greatest(ts, courier.now()), 10000) $$;

-- Internal: what the background worker does when a commit woke it: bus
-- deliveries, then executions; true when either took a full batch (the
-- worker then runs again at once).
CREATE FUNCTION courier._run_woken()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deliveries integer;
    transitions integer;
BEGIN
    deliveries := (courier._deliver_bus_events(courier.now(), 1000)->>'bus_deliveries_taken')::integer;
    transitions := (courier._run_executions(courier.now(), 1000)->>'workflow_transitions')::integer;
    RETURN deliveries >= 1000 OR transitions >= 1000;
END
$$;

-- outbox (sql/parts/89_outbox.sql)

-- The transactional outbox, idempotency keys and the correlation context.
-- emit_outbox() and the context are C (src/outbox.c, src/context.c); relays,
-- idempotency and trace() are PL/pgSQL: each is one or two set-based
-- statements, where the interpreter costs little next to the writes.
-- See docs/outbox.md, docs/idempotency.md and docs/correlation.md.

---------------------------------------------------------------------------
-- Outbox
---------------------------------------------------------------------------

CREATE SEQUENCE courier.outbox_id_seq AS bigint;

-- Outbox events.  The first five columns are the shape Debezium's outbox
-- event router reads (id, aggregatetype, aggregateid, type, payload), so a
-- CDC connector can read the table unchanged; the rest is our envelope and
-- the relays' bookkeeping:
--   aggregate_version  1, 2, 3 ... per aggregate, in commit order
--   status             pending, published (a relay acknowledged it) or
--                      skipped (an administrator did, skip_outbox)
--   attempts           how often a relay claimed it
--   last_error         what the last fail_outbox() said
CREATE TABLE courier.outbox (
    id                  bigint NOT NULL,
    aggregatetype       text COLLATE "C" NOT NULL,
    aggregateid         text COLLATE "C" NOT NULL,
    type                text NOT NULL,
    payload             jsonb NOT NULL,
    aggregate_version   bigint NOT NULL,
    created_at          timestamptz NOT NULL,
    occurred_at         timestamptz,
    published_at        timestamptz,
    last_failed_at      timestamptz,
    attempts            integer NOT NULL DEFAULT 0,
    schema_version      integer,
    status              text NOT NULL DEFAULT 'pending',
    correlation_id      text,
    causation_id        text,
    idempotency_key     text,
    tenant_id           text,
    published_by        text,
    last_error          text,
    headers             jsonb,
    CONSTRAINT outbox_pkey PRIMARY KEY (aggregatetype, aggregateid, aggregate_version),
    CONSTRAINT outbox_id_key UNIQUE (id),
    CONSTRAINT outbox_status_check
        CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'published', 'skipped']))
);
COMMENT ON TABLE courier.outbox IS
    'pg_courier outbox events (Debezium outbox shape plus envelope); read it freely, change it only through the courier functions';
-- tick() removes published rows after courier.outbox_retention.
CREATE INDEX outbox_published_idx ON courier.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_correlation_idx ON courier.outbox (correlation_id) WHERE correlation_id IS NOT NULL;

-- One row per aggregate that ever emitted.  The row is the lock that orders
-- emitters (they upsert it) and relays (they claim it FOR UPDATE SKIP
-- LOCKED), and it holds the relay lease:
--   last_version       the version of its last event
--   published_version  every version up to this one is published (or has
--                      no row: wal and message modes)
--   pending            rows with status pending
--   ready_at           when relays may claim it: since it has had pending
--                      rows, or the end of a backoff after fail_outbox()
--   relay, lease_until the relay that holds it, and until when the lease
--                      runs; it holds it until another relay claims it
--                      after that, or it acknowledges all pending rows or
--                      fails one
CREATE TABLE courier.outbox_aggregates (
    last_version        bigint NOT NULL,
    published_version   bigint NOT NULL DEFAULT 0,
    pending             integer NOT NULL DEFAULT 0,
    ready_at            timestamptz NOT NULL,
    lease_until         timestamptz,
    claimed_at          timestamptz,
    aggregatetype       text COLLATE "C" NOT NULL,
    aggregateid         text COLLATE "C" NOT NULL,
    relay               text COLLATE "C",
    CONSTRAINT outbox_aggregates_pkey PRIMARY KEY (aggregatetype, aggregateid)
);
COMMENT ON TABLE courier.outbox_aggregates IS
    'pg_courier outbox aggregates: version counter, pending rows and the relay lease';
-- claim_outbox() takes the aggregates that have waited longest.
CREATE INDEX outbox_aggregates_ready_idx ON courier.outbox_aggregates (ready_at)
    WHERE pending OPERATOR(pg_catalog.>) 0;

SELECT pg_catalog.pg_extension_config_dump('courier.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('courier.outbox_aggregates', '');
SELECT pg_catalog.pg_extension_config_dump('courier.outbox_id_seq', '');

CREATE FUNCTION courier.emit_outbox(
    aggregate_type  text,
    aggregate_id    text,
    event_type      text,
    payload         jsonb,
    headers         jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_emit_outbox'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.emit_outbox(text, text, text, jsonb, jsonb) IS
    'emit an outbox event in the caller''s transaction (courier.outbox_mode: table, wal or message); returns its id';

-- Internal: a relay name is 1 to 128 printable ASCII characters (22004 / 22023).
CREATE FUNCTION courier._check_relay(relay text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('relay', relay IS NULL);
    IF relay !~ '^[!-~]{1,128}$' THEN
        RAISE EXCEPTION 'invalid relay name "%"', relay
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A relay name has 1 to 128 letters, digits or ASCII punctuation, without spaces.';
    END IF;
END
$$;

-- Internal: the ids argument of ack_outbox, fail_outbox and skip_outbox.
CREATE FUNCTION courier._check_outbox_ids(ids bigint[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM courier._require('ids', ids IS NULL);
    IF array_ndims(ids) > 1 THEN
        RAISE EXCEPTION 'ids must be a one-dimensional array' USING ERRCODE = 'array_subscript_error';
    END IF;
    IF array_position(ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'ids must not contain nulls'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = format('Element %s is null.', array_position(ids, NULL));
    END IF;
    SELECT u.id INTO missing
      FROM unnest(ids) AS u(id)
     WHERE NOT EXISTS (SELECT 1 FROM courier.outbox AS o WHERE o.id = u.id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'outbox row % does not exist', missing
            USING ERRCODE = 'undefined_object',
                  HINT = 'Published rows are removed after courier.outbox_retention; wal and message modes keep none.';
    END IF;
END
$$;

-- Internal: lock the aggregates of the given outbox rows, in key order (two
-- calls over the same aggregates never deadlock), and check that relay holds
-- every one that still has one of the rows pending (55000 otherwise).  With
-- relay NULL (skip_outbox) only the locks are taken.
CREATE FUNCTION courier._lock_outbox_aggregates(relay text, ids bigint[], what text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    PERFORM 1 FROM courier.outbox_aggregates AS a
     WHERE (a.aggregatetype, a.aggregateid) IN
           (SELECT o.aggregatetype, o.aggregateid FROM courier.outbox AS o WHERE o.id = ANY (ids))
     ORDER BY a.aggregatetype, a.aggregateid
       FOR UPDATE;
    IF relay IS NULL THEN
        RETURN;
    END IF;
    -- a new statement: sees what committed while we waited for the locks
    SELECT o.id, o.aggregatetype, o.aggregateid, a.relay AS holder, a.lease_until INTO bad
      FROM courier.outbox AS o
      JOIN courier.outbox_aggregates AS a
        ON a.aggregatetype = o.aggregatetype AND a.aggregateid = o.aggregateid
     WHERE o.id = ANY (ids) AND o.status = 'pending'
       AND a.relay IS DISTINCT FROM _lock_outbox_aggregates.relay
     ORDER BY o.id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'relay "%" does not hold the lease of outbox row %', relay, bad.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN bad.holder IS NULL
                                THEN format('No relay holds aggregate %s/%s.', bad.aggregatetype, bad.aggregateid)
                                ELSE format('Relay "%s" holds aggregate %s/%s (lease until %s).',
                                            bad.holder, bad.aggregatetype, bad.aggregateid, bad.lease_until)
                           END,
                  HINT = format('Nothing was %s. Claim the rows again with courier.claim_outbox(); another relay may have published them.', what);
    END IF;
END
$$;

-- Internal: after rows of these aggregates stopped being pending, bring the
-- aggregates' counters up to date and release those with nothing pending.
CREATE FUNCTION courier._settle_outbox_aggregates(ids bigint[])
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE courier.outbox_aggregates AS a
       SET pending = s.pending,
           published_version = coalesce(s.first_pending - 1, a.last_version),
           relay = CASE WHEN s.pending = 0 THEN NULL ELSE a.relay END,
           lease_until = CASE WHEN s.pending = 0 THEN NULL ELSE a.lease_until END
      FROM (SELECT g.aggregatetype, g.aggregateid,
                   (SELECT count(*) FROM courier.outbox AS p
                     WHERE p.aggregatetype = g.aggregatetype AND p.aggregateid = g.aggregateid
                       AND p.aggregate_version > g.published_version AND p.status = 'pending') AS pending,
                   (SELECT min(p.aggregate_version) FROM courier.outbox AS p
                     WHERE p.aggregatetype = g.aggregatetype AND p.aggregateid = g.aggregateid
                       AND p.aggregate_version > g.published_version AND p.status = 'pending') AS first_pending
              FROM courier.outbox_aggregates AS g
             WHERE (g.aggregatetype, g.aggregateid) IN
                   (SELECT o.aggregatetype, o.aggregateid FROM courier.outbox AS o WHERE o.id = ANY (ids))) AS s
     WHERE a.aggregatetype = s.aggregatetype AND a.aggregateid = s.aggregateid
$$;

CREATE FUNCTION courier.claim_outbox(
    relay       text,
    max_rows    integer DEFAULT 100,
    lease       interval DEFAULT '30 seconds')
RETURNS SETOF courier.outbox
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._check_relay(relay);
    PERFORM courier._require('max_rows', max_rows IS NULL);
    PERFORM courier._require('lease', lease IS NULL);
    IF max_rows < 1 OR max_rows > 10000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 10000'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', max_rows);
    END IF;
    PERFORM courier._check_duration('lease', lease, '1 second', '12 hours', '1 second and 12 hours');

    -- Aggregates with pending rows that nobody else holds (or whose lease
    -- ran out), longest waiting first; an aggregate another transaction has
    -- locked (an emitter, another relay claiming) is skipped, never waited
    -- for.  Of each, its first pending rows in version order.
    RETURN QUERY
    WITH candidates AS (
        SELECT a.aggregatetype, a.aggregateid, a.published_version, a.ready_at
          FROM courier.outbox_aggregates AS a
         WHERE a.pending > 0 AND a.ready_at <= ts
           AND (a.relay IS NULL OR a.relay = claim_outbox.relay OR a.lease_until <= ts)
         ORDER BY a.ready_at, a.aggregatetype, a.aggregateid
         LIMIT max_rows
           FOR UPDATE SKIP LOCKED
    ), picked AS (
        SELECT r.id, c.aggregatetype, c.aggregateid, r.aggregate_version,
               row_number() OVER (ORDER BY c.ready_at, c.aggregatetype, c.aggregateid,
                                           r.aggregate_version) AS ord
          FROM candidates AS c
         CROSS JOIN LATERAL (
               SELECT o.id, o.aggregate_version
                 FROM courier.outbox AS o
                WHERE o.aggregatetype = c.aggregatetype AND o.aggregateid = c.aggregateid
                  AND o.aggregate_version > c.published_version AND o.status = 'pending'
                ORDER BY o.aggregate_version
                LIMIT max_rows) AS r
         ORDER BY ord
         LIMIT max_rows
    ), leased AS (
        UPDATE courier.outbox_aggregates AS a
           SET relay = claim_outbox.relay, lease_until = ts + lease, claimed_at = ts
         WHERE (a.aggregatetype, a.aggregateid) IN (SELECT p.aggregatetype, p.aggregateid FROM picked AS p)
        RETURNING 1
    ), handed AS (
        UPDATE courier.outbox AS o
           SET attempts = o.attempts + 1
         WHERE o.id IN (SELECT p.id FROM picked AS p)
        RETURNING o.*
    )
    SELECT h.* FROM handed AS h JOIN picked AS p ON p.id = h.id ORDER BY p.ord;
END
$$;
COMMENT ON FUNCTION courier.claim_outbox(text, integer, interval) IS
    'lease aggregates with pending outbox rows to a relay and return their rows in per-aggregate order; an aggregate is held by one relay at a time';

CREATE FUNCTION courier.ack_outbox(relay text, ids bigint[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    bad record;
    n integer;
BEGIN
    PERFORM courier._check_relay(relay);
    PERFORM courier._check_outbox_ids(ids);
    PERFORM courier._lock_outbox_aggregates(relay, ids, 'acknowledged');
    -- Order: a row is published only after every earlier row of its aggregate.
    SELECT o.id, p.id AS before_id, p.aggregate_version INTO bad
      FROM courier.outbox AS o
      JOIN courier.outbox AS p
        ON p.aggregatetype = o.aggregatetype AND p.aggregateid = o.aggregateid
       AND p.aggregate_version < o.aggregate_version AND p.status = 'pending'
       AND p.id <> ALL (ids)
     WHERE o.id = ANY (ids) AND o.status = 'pending'
     ORDER BY o.id, p.aggregate_version
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'outbox row % cannot be acknowledged before row %', bad.id, bad.before_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Row %s (version %s of the same aggregate) is still pending.',
                                  bad.before_id, bad.aggregate_version),
                  HINT = 'Publish and acknowledge an aggregate''s rows in aggregate_version order. Nothing was acknowledged.';
    END IF;
    -- Rows already published (a repeated ack) are left as they are.
    UPDATE courier.outbox AS o
       SET status = 'published', published_at = ts, published_by = ack_outbox.relay
     WHERE o.id = ANY (ids) AND o.status = 'pending';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM courier._settle_outbox_aggregates(ids);
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION courier.ack_outbox(text, bigint[]) IS
    'mark outbox rows the relay published; refused (55000) unless the relay holds their aggregates and they come in order; returns how many were pending';

CREATE FUNCTION courier.fail_outbox(relay text, ids bigint[], error text DEFAULT NULL)
RETURNS TABLE (id bigint, attempts integer, retry_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    done bigint;
BEGIN
    PERFORM courier._check_relay(relay);
    PERFORM courier._check_outbox_ids(ids);
    PERFORM courier._lock_outbox_aggregates(relay, ids, 'failed');
    SELECT o.id INTO done FROM courier.outbox AS o
     WHERE o.id = ANY (ids) AND o.status <> 'pending' ORDER BY o.id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'outbox row % is already published', done
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Nothing was failed.';
    END IF;
    UPDATE courier.outbox AS o
       SET last_error = fail_outbox.error, last_failed_at = ts
     WHERE o.id = ANY (ids);
    -- The aggregate waits before a relay may claim it again: 1 s after the
    -- first attempt, doubling up to 5 minutes, from its most tried row.
    UPDATE courier.outbox_aggregates AS a
       SET relay = NULL, lease_until = NULL,
           ready_at = ts + least(power(2, greatest(f.attempts, 1) - 1), 300) * interval '1 second'
      FROM (SELECT o.aggregatetype, o.aggregateid, max(o.attempts) AS attempts
              FROM courier.outbox AS o WHERE o.id = ANY (ids)
             GROUP BY o.aggregatetype, o.aggregateid) AS f
     WHERE a.aggregatetype = f.aggregatetype AND a.aggregateid = f.aggregateid;
    RETURN QUERY
    SELECT o.id, o.attempts, a.ready_at
      FROM courier.outbox AS o
      JOIN courier.outbox_aggregates AS a
        ON a.aggregatetype = o.aggregatetype AND a.aggregateid = o.aggregateid
     WHERE o.id = ANY (ids)
     ORDER BY o.id;
END
$$;
COMMENT ON FUNCTION courier.fail_outbox(text, bigint[], text) IS
    'record that the relay could not publish outbox rows: releases their aggregates for a retry after a backoff; returns each row''s attempts and when it may be claimed again';

CREATE FUNCTION courier.skip_outbox(ids bigint[], reason text)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    g record;
    n integer := 0;
BEGIN
    PERFORM courier._check_outbox_ids(ids);
    PERFORM courier._require('reason', reason IS NULL);
    PERFORM courier._lock_outbox_aggregates(NULL, ids, 'skipped');
    FOR g IN
        WITH s AS (
            UPDATE courier.outbox AS o
               SET status = 'skipped', published_at = ts, published_by = NULL,
                   last_error = coalesce(o.last_error, skip_outbox.reason)
             WHERE o.id = ANY (ids) AND o.status = 'pending'
            RETURNING o.aggregatetype, o.aggregateid, o.id, o.aggregate_version
        )
        SELECT s.aggregatetype, s.aggregateid, array_agg(s.id ORDER BY s.aggregate_version) AS skipped,
               array_agg(s.aggregate_version ORDER BY s.aggregate_version) AS versions
          FROM s GROUP BY s.aggregatetype, s.aggregateid ORDER BY 1, 2
    LOOP
        PERFORM courier._audit('skip_outbox', 'outbox_aggregate', g.aggregatetype || '/' || g.aggregateid,
                               jsonb_build_object('ids', to_jsonb(g.skipped), 'versions', to_jsonb(g.versions),
                                                  'reason', reason));
        n := n + cardinality(g.skipped);
    END LOOP;
    IF n > 0 THEN
        PERFORM courier._settle_outbox_aggregates(ids);
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION courier.skip_outbox(bigint[], text) IS
    'administrator: give up on pending outbox rows (status skipped, audited) whatever relay holds them, so their aggregates move on; returns how many';

CREATE FUNCTION courier.purge_outbox(older_than interval DEFAULT '0')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM courier._require('older_than', older_than IS NULL);
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', older_than);
    END IF;
    DELETE FROM courier.outbox AS o
     WHERE o.published_at IS NOT NULL AND o.published_at <= courier.now() - older_than;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM courier._audit('purge_outbox', 'outbox', 'courier.outbox',
                           jsonb_build_object('rows', n, 'older_than', older_than::text));
    RETURN n;
END
$$;
COMMENT ON FUNCTION courier.purge_outbox(interval) IS
    'administrator: delete published and skipped outbox rows older than older_than now (audited); pending rows are never touched; returns how many';

---------------------------------------------------------------------------
-- Idempotency keys
---------------------------------------------------------------------------

-- A key claimed in a scope, until it expires; result is what the first
-- processing stored for retries to return (idempotency_store).  Keys are
-- per tenant ('' for none): the same key of two tenants is two claims, and
-- no call of one tenant learns anything of the other's (docs/security.md).
CREATE TABLE courier.idempotency_keys (
    claimed_at          timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    stored_at           timestamptz,
    scope               text COLLATE "C" NOT NULL,
    tenant_id           text COLLATE "C" NOT NULL DEFAULT '',
    key                 text COLLATE "C" NOT NULL,
    result              jsonb,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, tenant_id, key)
);
COMMENT ON TABLE courier.idempotency_keys IS
    'pg_courier idempotency keys: claimed per scope until they expire, with the stored result';
CREATE INDEX idempotency_keys_expiry_idx ON courier.idempotency_keys (expires_at);
SELECT pg_catalog.pg_extension_config_dump('courier.idempotency_keys', '');

-- Internal: check a scope, key and ttl (22004 / 22023).
CREATE FUNCTION courier._check_idempotency_key(scope text, key text, ttl interval)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('scope', scope IS NULL);
    PERFORM courier._require('key', key IS NULL);
    IF length(scope) NOT BETWEEN 1 AND 256 THEN
        RAISE EXCEPTION 'scope must have 1 to 256 characters'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given has %s characters.', length(scope));
    END IF;
    IF length(key) NOT BETWEEN 1 AND 1024 THEN
        RAISE EXCEPTION 'key must have 1 to 1024 characters'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given has %s characters.', length(key)),
                  HINT = 'Hash a longer key, for example with sha256().';
    END IF;
    IF ttl IS NOT NULL THEN
        PERFORM courier._check_duration('ttl', ttl, '1 second', '3650 days', '1 second and 3650 days');
    END IF;
END
$$;

-- Internal: the tenant a role's idempotency keys belong to: the one given,
-- which must be one of the role's tenants when it is bound to tenants
-- (src/grants.c), else its only tenant, else '' (none).
CREATE FUNCTION courier._tenant_for(tenant_id text)
RETURNS text
AS 'MODULE_PATHNAME', 'courier_tenant_for'
LANGUAGE C VOLATILE;

CREATE FUNCTION courier.idempotency_claim(scope text, key text, ttl interval DEFAULT '7 days',
                                          tenant_id text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    t text := courier._tenant_for(tenant_id);
BEGIN
    -- A hot path: the checks are plain expressions (no PERFORM of the
    -- shared checks, each of which would run a statement); the same rules
    -- and messages as courier._check_idempotency_key.
    IF scope IS NULL OR key IS NULL OR ttl IS NULL
       OR length(scope) NOT BETWEEN 1 AND 256 OR length(key) NOT BETWEEN 1 AND 1024
       OR ttl < interval '1 second' OR ttl > interval '3650 days' THEN
        PERFORM courier._require('ttl', ttl IS NULL);
        PERFORM courier._check_idempotency_key(scope, key, ttl);
    END IF;
    -- A concurrent claim of the same key waits here for the first one's
    -- transaction: false once it commits, true if it rolls back.  A claim
    -- that finds the key taken locks nothing, so duplicates never queue up
    -- behind each other.
    FOR attempt IN 1 .. 3 LOOP
        INSERT INTO courier.idempotency_keys AS k (claimed_at, expires_at, scope, tenant_id, key)
        VALUES (ts, ts + ttl, idempotency_claim.scope, t, idempotency_claim.key)
            ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO NOTHING;
        IF FOUND THEN
            RETURN true;
        END IF;
        -- taken: unless it expired and tick() has not removed it yet
        UPDATE courier.idempotency_keys AS k
           SET claimed_at = ts, expires_at = ts + ttl, stored_at = NULL, result = NULL
         WHERE k.scope = idempotency_claim.scope AND k.tenant_id = t
           AND k.key = idempotency_claim.key AND k.expires_at <= ts;
        IF FOUND THEN
            RETURN true;
        END IF;
        -- still there (and live): taken.  Gone: tick() removed it meanwhile.
        PERFORM 1 FROM courier.idempotency_keys AS k
         WHERE k.scope = idempotency_claim.scope AND k.tenant_id = t
           AND k.key = idempotency_claim.key;
        IF FOUND THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN false;
END
$$;
COMMENT ON FUNCTION courier.idempotency_claim(text, text, interval, text) IS
    'claim a key in a scope (and tenant) in the caller''s transaction: true the first time (released again if the transaction rolls back), false while it is claimed; expires after ttl';

CREATE FUNCTION courier.idempotency_store(scope text, key text, result jsonb,
                                          tenant_id text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    t text := courier._tenant_for(tenant_id);
BEGIN
    PERFORM courier._check_idempotency_key(scope, key, NULL);
    PERFORM courier._require('result', result IS NULL);
    UPDATE courier.idempotency_keys AS k
       SET result = idempotency_store.result, stored_at = ts
     WHERE k.scope = idempotency_store.scope AND k.tenant_id = t
       AND k.key = idempotency_store.key AND k.expires_at > ts;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'idempotency key "%" is not claimed in scope "%"', key, scope
            USING ERRCODE = 'undefined_object',
                  HINT = 'Claim it with courier.idempotency_claim() first, in the same transaction.';
    END IF;
END
$$;
COMMENT ON FUNCTION courier.idempotency_store(text, text, jsonb, text) IS
    'store the result of the processing a claimed key guards, for retries to read with idempotency_result()';

CREATE FUNCTION courier.idempotency_result(scope text, key text, tenant_id text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb;
    t text := courier._tenant_for(tenant_id);
BEGIN
    PERFORM courier._check_idempotency_key(scope, key, NULL);
    SELECT k.result INTO r FROM courier.idempotency_keys AS k
     WHERE k.scope = idempotency_result.scope AND k.tenant_id = t
       AND k.key = idempotency_result.key AND k.expires_at > courier.now();
    RETURN r;
END
$$;
COMMENT ON FUNCTION courier.idempotency_result(text, text, text) IS
    'the result stored for a claimed key, or NULL (not claimed, expired, or nothing stored)';

CREATE FUNCTION courier._delete_once(
    queue_name  text,
    receipt     text,
    scope       text DEFAULT NULL,
    ttl         interval DEFAULT '7 days')
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    t text;
BEGIN
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM courier._require('receipt', receipt IS NULL);
    PERFORM courier._require('ttl', ttl IS NULL);
    IF scope IS NOT NULL THEN
        PERFORM courier._check_idempotency_key(scope, 'k', ttl);
    ELSE
        PERFORM courier._check_duration('ttl', ttl, '1 second', '3650 days', '1 second and 3650 days');
    END IF;
    -- the message's key, read before the delete takes the row away
    SELECT m.idempotency_key, m.tenant_id INTO k, t FROM courier.messages AS m
     WHERE m.queue_name = _delete_once.queue_name
       AND m.msg_id = CASE WHEN receipt ~ '^[0-9]{1,18}:' THEN split_part(receipt, ':', 1)::bigint END;
    IF NOT courier.delete(queue_name, receipt) THEN
        RETURN false;
    END IF;
    IF k IS NULL THEN
        RETURN true;
    END IF;
    -- the key is the message's, in the message's tenant
    RETURN courier.idempotency_claim(coalesce(scope, _delete_once.queue_name), k, ttl, t);
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.delete_once(
    queue_name  text,
    receipt     text,
    scope       text DEFAULT NULL,
    ttl         interval DEFAULT '7 days')
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.delete_once(text, text, text, interval) IS
    'delete a received message and claim its idempotency key (scope: the queue) in one call: true when this transaction should apply the message''s effects, false for a duplicate or a receipt that no longer holds the message';

---------------------------------------------------------------------------
-- Correlation
---------------------------------------------------------------------------

CREATE FUNCTION courier.set_context(correlation_id text, causation_id text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_set_context'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.set_context(text, text) IS
    'set the correlation and causation ids what this transaction sends, publishes, puts, starts and emits inherits (NULL: inherit from the one received message)';

CREATE FUNCTION courier.current_context(OUT correlation_id text, OUT causation_id text)
RETURNS record
AS 'MODULE_PATHNAME', 'courier_current_context'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.current_context() IS
    'the correlation and causation ids a message sent now without those headers would carry';

CREATE FUNCTION courier.trace(correlation_id text)
RETURNS TABLE (at timestamptz, kind text, id text, object text, type text,
               causation_id text, details jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('correlation_id', correlation_id IS NULL);
    RETURN QUERY
    WITH msgs AS (
        SELECT m.* FROM courier.messages AS m WHERE m.correlation_id = trace.correlation_id
    ), execs AS (
        SELECT e.* FROM courier.executions AS e WHERE e.correlation_id = trace.correlation_id
    ), items AS (
        -- messages; those a bus delivered name their event
        SELECT m.sent_at AS at,
               CASE WHEN m.source_queue IS NOT NULL THEN 'dead_letter'
                    WHEN m.headers ? 'bus' THEN 'delivery' ELSE 'message' END AS kind,
               m.msg_id::text AS id, m.queue_name::text AS object, m.type, m.causation_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'receive_count', m.receive_count, 'group_id', m.group_id,
                   'idempotency_key', m.idempotency_key, 'source_queue', m.source_queue,
                   'last_error', m.last_error,
                   'event_id', CASE WHEN m.headers ? 'bus' THEN m.idempotency_key END)) AS details,
               1 AS rank
          FROM msgs AS m
        UNION ALL
        -- events, as the deliveries that are still there show them
        SELECT min(x.at), 'event', x.event_id, x.bus, min(x.type), min(x.causation_id), '{}'::jsonb, 0
          FROM (SELECT coalesce(m.occurred_at, m.sent_at) AS at, m.idempotency_key AS event_id,
                       m.headers->>'bus' AS bus, m.type, m.causation_id
                  FROM msgs AS m WHERE m.headers ? 'bus' AND m.idempotency_key IS NOT NULL
                UNION ALL
                SELECT d.ingested_at, d.event->>'id', d.bus_name::text, d.event->>'detail-type', d.causation_id
                  FROM courier.bus_deliveries AS d WHERE d.correlation_id = trace.correlation_id) AS x
         GROUP BY x.event_id, x.bus
        UNION ALL
        SELECT d.ingested_at, 'delivery', d.delivery_id::text,
               d.bus_name || '/' || d.rule_name || '/' || d.target_id, d.event->>'detail-type',
               d.causation_id,
               jsonb_build_object('event_id', d.event->>'id', 'attempts', d.attempts,
                                  'next_attempt_at', d.next_attempt_at), 1
          FROM courier.bus_deliveries AS d WHERE d.correlation_id = trace.correlation_id
        UNION ALL
        SELECT e.started_at, 'execution', e.execution_id::text, e.state_machine_name::text,
               e.status, e.causation_id,
               jsonb_strip_nulls(jsonb_build_object('execution_name', e.execution_name,
                                                    'current_state', e.current_state,
                                                    'stopped_at', e.stopped_at)), 2
          FROM execs AS e
        UNION ALL
        SELECT h."timestamp", 'execution_step', e.execution_id || ':' || h.event_id,
               e.state_machine_name::text, h.type, NULL::text, h.details, 3
          FROM execs AS e JOIN courier.execution_history AS h ON h.execution_id = e.execution_id
        UNION ALL
        SELECT o.created_at, 'outbox', o.id::text, o.aggregatetype || '/' || o.aggregateid,
               o.type, o.causation_id,
               jsonb_strip_nulls(jsonb_build_object('aggregate_version', o.aggregate_version,
                                                    'status', o.status, 'attempts', o.attempts,
                                                    'published_at', o.published_at)), 4
          FROM courier.outbox AS o WHERE o.correlation_id = trace.correlation_id
    )
    SELECT i.at, i.kind, i.id, i.object, i.type, i.causation_id, i.details
      FROM items AS i
     ORDER BY i.at, i.rank, i.kind, length(i.id), i.id;
END
$$;
COMMENT ON FUNCTION courier.trace(text) IS
    'everything of one flow still stored, in time order: messages, dead letters, events and deliveries, executions and their steps, outbox rows';

---------------------------------------------------------------------------
-- tick()
---------------------------------------------------------------------------

-- Internal: the outbox and idempotency part of tick(): published outbox
-- rows past courier.outbox_retention and expired idempotency keys, at most
-- 10000 of each per tick, oldest first; rows another transaction holds are
-- left for the next tick.
CREATE FUNCTION courier._outbox_tick(ts timestamptz)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    retention interval := coalesce(current_setting('courier.outbox_retention', true), '1 day')::interval;
    rows_removed bigint;
    keys_expired bigint;
BEGIN
    DELETE FROM courier.outbox AS o
     WHERE o.id IN (SELECT c.id FROM courier.outbox AS c
                     WHERE c.published_at IS NOT NULL AND c.published_at <= ts - retention
                     ORDER BY c.published_at
                     LIMIT 10000
                       FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS rows_removed = ROW_COUNT;
    DELETE FROM courier.idempotency_keys AS k
     WHERE (k.scope, k.tenant_id, k.key) IN (SELECT c.scope, c.tenant_id, c.key
                                   FROM courier.idempotency_keys AS c
                                 WHERE c.expires_at <= ts
                                 ORDER BY c.expires_at
                                 LIMIT 10000
                                   FOR UPDATE SKIP LOCKED)
       AND k.expires_at <= ts;
    GET DIAGNOSTICS keys_expired = ROW_COUNT;
    RETURN jsonb_build_object('outbox_rows_removed', rows_removed,
                              'expired_idempotency_keys', keys_expired);
END
$$;

-- courier.trace() finds a flow's messages by their correlation id.  Partial:
-- a message without one costs its insert only the predicate test.
CREATE INDEX messages_correlation_idx ON courier.messages (correlation_id)
    WHERE correlation_id IS NOT NULL;

-- schemas (sql/parts/91_schemas.sql)

-- Schema registry: JSON Schemas of message types, versioned, with
-- compatibility checks between versions (src/schema.c, src/schema_compat.c).
-- Queues, topics and buses with require_schema accept only messages of a
-- registered type and version whose payload the schema accepts.  See
-- docs/schemas.md.

-- One row per message type that has schemas: its compatibility mode.
CREATE TABLE courier.schema_types (
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    message_type    text COLLATE "C" NOT NULL,
    compatibility   text NOT NULL,
    CONSTRAINT schema_types_pkey PRIMARY KEY (message_type),
    CONSTRAINT schema_types_compatibility_check
        CHECK (compatibility OPERATOR(pg_catalog.=) ANY (ARRAY[
            'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE',
            'FULL', 'FULL_TRANSITIVE', 'NONE']))
);
COMMENT ON TABLE courier.schema_types IS 'pg_courier message types with schemas, and the compatibility mode of each';

-- Schema ids: one per registration, never reused; the per-backend cache of
-- compiled schemas compares them.
CREATE SEQUENCE courier.schema_id_seq AS bigint;

-- One row per registered version of a type.  Versions are given by the
-- caller and increase per type (gaps allowed); a row never changes.
CREATE TABLE courier.schemas (
    schema_id       bigint NOT NULL,
    registered_at   timestamptz NOT NULL,
    schema_version  integer NOT NULL,
    message_type    text COLLATE "C" NOT NULL,
    registered_by   name NOT NULL DEFAULT pg_catalog.current_user(),
    json_schema     jsonb NOT NULL,
    CONSTRAINT schemas_pkey PRIMARY KEY (message_type, schema_version),
    CONSTRAINT schemas_id_key UNIQUE (schema_id),
    CONSTRAINT schemas_type_fkey FOREIGN KEY (message_type)
        REFERENCES courier.schema_types (message_type) ON DELETE CASCADE,
    CONSTRAINT schemas_version_check CHECK (schema_version OPERATOR(pg_catalog.>=) 1)
);
COMMENT ON TABLE courier.schemas IS 'pg_courier registered JSON Schemas, one row per message type and version';

SELECT pg_catalog.pg_extension_config_dump('courier.schema_types', '');
SELECT pg_catalog.pg_extension_config_dump('courier.schemas', '');
SELECT pg_catalog.pg_extension_config_dump('courier.schema_id_seq', '');

-- Internal: raises 22023/0A000/2201B when the schema is not one pg_courier
-- can check.
CREATE FUNCTION courier._compile_json_schema(json_schema jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_compile_json_schema'
LANGUAGE C VOLATILE;

-- Internal: what breaks the mode between new_schema and the previous
-- versions (oldest first); an empty array when nothing does.
CREATE FUNCTION courier._schema_compat_report(
    new_schema jsonb, previous jsonb[], versions integer[], compatibility text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'courier_schema_compat_report'
LANGUAGE C STRICT VOLATILE;

-- Internal: check the arguments every registry function shares.
CREATE FUNCTION courier._check_schema_key(message_type text, schema_version integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF length(message_type) NOT BETWEEN 1 AND 256 THEN
        RAISE EXCEPTION 'invalid message type "%"', left(message_type, 64)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A message type has 1 to 256 characters, as the "type" header.';
    END IF;
    IF schema_version < 1 THEN
        RAISE EXCEPTION 'schema_version must be a positive integer'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', schema_version);
    END IF;
END
$$;

-- Internal: a compatibility mode, upper-cased, or 22023.
CREATE FUNCTION courier._compatibility(compatibility text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF upper(compatibility) = ANY (ARRAY['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD',
                                         'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE']) THEN
        RETURN upper(compatibility);
    END IF;
    RAISE EXCEPTION 'invalid compatibility "%"', compatibility
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'The modes are BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE and NONE.';
END
$$;

-- Register a version of a message type's schema.  compatibility null: the
-- type's mode (BACKWARD for a new type); given: the type's mode from now on,
-- and the mode this version is checked under.  Returns false when exactly
-- this schema is already registered as this version (nothing changes).
CREATE FUNCTION courier.register_schema(
    message_type    text,
    schema_version  integer,
    json_schema     jsonb,
    compatibility   text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    t courier.schema_types;
    mode text;
    existing jsonb;
    latest integer;
    report text[];
BEGIN
    PERFORM courier._require('message_type', message_type IS NULL);
    PERFORM courier._require('schema_version', schema_version IS NULL);
    PERFORM courier._require('json_schema', json_schema IS NULL);
    PERFORM courier._check_schema_key(message_type, schema_version);
    IF compatibility IS NOT NULL THEN
        mode := courier._compatibility(compatibility);
    END IF;
    PERFORM courier._compile_json_schema(json_schema);

    -- the type row orders registrations of one type
    INSERT INTO courier.schema_types AS s (created_at, updated_at, message_type, compatibility)
    VALUES (ts, ts, register_schema.message_type, coalesce(mode, 'BACKWARD'))
        ON CONFLICT ON CONSTRAINT schema_types_pkey DO NOTHING;
    SELECT * INTO STRICT t FROM courier.schema_types AS s
     WHERE s.message_type = register_schema.message_type FOR UPDATE;
    mode := coalesce(mode, t.compatibility);

    SELECT s.json_schema INTO existing FROM courier.schemas AS s
     WHERE s.message_type = register_schema.message_type
       AND s.schema_version = register_schema.schema_version;
    IF FOUND THEN
        IF existing = register_schema.json_schema THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'schema "%" version % is already registered', message_type, schema_version
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'A registered version never changes; this one has another JSON Schema.',
                  HINT = 'Register the new schema as a higher version.';
    END IF;
    SELECT max(s.schema_version) INTO latest FROM courier.schemas AS s
     WHERE s.message_type = register_schema.message_type;
    IF latest > schema_version THEN
        RAISE EXCEPTION 'schema_version must be greater than %', latest
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Type "%s" has versions up to %s; versions only increase.',
                                  message_type, latest);
    END IF;

    IF mode <> 'NONE' AND latest IS NOT NULL THEN
        SELECT courier._schema_compat_report(register_schema.json_schema,
                   array_agg(s.json_schema ORDER BY s.schema_version),
                   array_agg(s.schema_version ORDER BY s.schema_version), mode)
          INTO report
          FROM courier.schemas AS s
         WHERE s.message_type = register_schema.message_type;
        IF cardinality(report) > 0 THEN
            RAISE EXCEPTION 'schema "%" version % is not % compatible', message_type,
                  schema_version, mode
                USING ERRCODE = 'CS001',
                      DETAIL = array_to_string(report, E'\n'),
                      HINT = 'Change the schema, register it under a new message type, or change the mode with courier.set_schema_compatibility().';
        END IF;
    END IF;

    INSERT INTO courier.schemas (schema_id, registered_at, schema_version, message_type, json_schema)
    VALUES (nextval('courier.schema_id_seq'), ts, register_schema.schema_version,
            register_schema.message_type, register_schema.json_schema);
    -- always a new row version of the type: a registration in REPEATABLE READ
    -- or SERIALIZABLE whose snapshot predates this one then fails (40001) at
    -- its FOR UPDATE instead of being checked without this version
    UPDATE courier.schema_types AS s SET compatibility = mode, updated_at = ts
     WHERE s.message_type = register_schema.message_type;
    PERFORM courier._audit('register_schema', 'schema', message_type,
                           jsonb_build_object('schema_version', schema_version,
                                              'compatibility', mode));
    RETURN true;
END
$$;
COMMENT ON FUNCTION courier.register_schema(text, integer, jsonb, text) IS
    'register a version of a message type''s JSON Schema, checked against the earlier versions under the compatibility mode';

-- A version's schema; null version: the latest.
CREATE FUNCTION courier.get_schema(message_type text, schema_version integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    PERFORM courier._require('message_type', message_type IS NULL);
    SELECT s.json_schema INTO result FROM courier.schemas AS s
     WHERE s.message_type = get_schema.message_type
       AND (get_schema.schema_version IS NULL OR s.schema_version = get_schema.schema_version)
     ORDER BY s.schema_version DESC LIMIT 1;
    IF NOT FOUND THEN
        IF schema_version IS NULL THEN
            RAISE EXCEPTION 'message type "%" has no registered schema', message_type
                USING ERRCODE = 'undefined_object',
                      HINT = 'courier.list_schemas() shows the registered schemas.';
        END IF;
        RAISE EXCEPTION 'schema "%" version % is not registered', message_type, schema_version
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_schemas() shows the registered schemas.';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION courier.get_schema(text, integer) IS
    'the JSON Schema of a message type''s version (null: the latest)';

CREATE FUNCTION courier.list_schemas(message_type text DEFAULT NULL)
RETURNS TABLE (message_type text, schema_version integer, schema_id bigint,
               compatibility text, latest boolean, registered_at timestamptz,
               registered_by name)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.message_type COLLATE "default", s.schema_version, s.schema_id, t.compatibility,
           s.schema_version = max(s.schema_version) OVER (PARTITION BY s.message_type),
           s.registered_at, s.registered_by
      FROM courier.schemas AS s
      JOIN courier.schema_types AS t ON t.message_type = s.message_type
     WHERE list_schemas.message_type IS NULL OR s.message_type = list_schemas.message_type
     ORDER BY s.message_type, s.schema_version
$$;
COMMENT ON FUNCTION courier.list_schemas(text) IS
    'the registered schema versions (of one message type, or of all), with each type''s compatibility mode';

-- Delete one version, or (null version) every version of the type and its
-- mode.  Returns how many versions were deleted.
CREATE FUNCTION courier.delete_schema(message_type text, schema_version integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    PERFORM courier._require('message_type', message_type IS NULL);
    PERFORM 1 FROM courier.schema_types AS t
     WHERE t.message_type = delete_schema.message_type FOR UPDATE;
    DELETE FROM courier.schemas AS s
     WHERE s.message_type = delete_schema.message_type
       AND (delete_schema.schema_version IS NULL OR s.schema_version = delete_schema.schema_version);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        IF schema_version IS NULL THEN
            RAISE EXCEPTION 'message type "%" has no registered schema', message_type
                USING ERRCODE = 'undefined_object',
                      HINT = 'courier.list_schemas() shows the registered schemas.';
        END IF;
        RAISE EXCEPTION 'schema "%" version % is not registered', message_type, schema_version
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_schemas() shows the registered schemas.';
    END IF;
    DELETE FROM courier.schema_types AS t
     WHERE t.message_type = delete_schema.message_type
       AND NOT EXISTS (SELECT 1 FROM courier.schemas AS s
                        WHERE s.message_type = delete_schema.message_type);
    PERFORM courier._audit('delete_schema', 'schema', message_type,
                           jsonb_build_object('schema_version', schema_version, 'deleted', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION courier.delete_schema(text, integer) IS
    'delete a version of a message type''s schema (null: every version); senders to objects that require schemas then fail for it';

-- Change a type's compatibility mode; returns the previous one.  Versions
-- already registered are not checked again.
CREATE FUNCTION courier.set_schema_compatibility(message_type text, compatibility text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mode text;
    previous text;
BEGIN
    PERFORM courier._require('message_type', message_type IS NULL);
    PERFORM courier._require('compatibility', compatibility IS NULL);
    mode := courier._compatibility(compatibility);
    SELECT t.compatibility INTO previous FROM courier.schema_types AS t
     WHERE t.message_type = set_schema_compatibility.message_type FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message type "%" has no registered schema', message_type
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register its first version with courier.register_schema(..., compatibility => ...).';
    END IF;
    UPDATE courier.schema_types AS t SET compatibility = mode, updated_at = courier.now()
     WHERE t.message_type = set_schema_compatibility.message_type;
    PERFORM courier._audit('set_schema_compatibility', 'schema', message_type,
                           jsonb_build_object('compatibility', mode, 'previous', previous));
    RETURN previous;
END
$$;
COMMENT ON FUNCTION courier.set_schema_compatibility(text, text) IS
    'change the compatibility mode later versions of a message type are checked under; returns the previous mode';

CREATE FUNCTION courier.validate_payload(message_type text, schema_version integer, payload jsonb)
RETURNS TABLE (path text, message text)
AS 'MODULE_PATHNAME', 'courier_validate_payload'
LANGUAGE C STABLE;
COMMENT ON FUNCTION courier.validate_payload(text, integer, jsonb) IS
    'the violations of a payload against a registered schema version: no rows when it is valid';

CREATE FUNCTION courier.test_json_schema(json_schema jsonb, payload jsonb)
RETURNS TABLE (path text, message text)
AS 'MODULE_PATHNAME', 'courier_test_json_schema'
LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION courier.test_json_schema(jsonb, jsonb) IS
    'the violations of a payload against a JSON Schema that is not registered: no rows when it is valid';

CREATE FUNCTION courier.test_schema_compatibility(
    new_schema jsonb, previous_schemas jsonb[], compatibility text DEFAULT 'BACKWARD')
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'courier_test_schema_compatibility'
LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION courier.test_schema_compatibility(jsonb, jsonb[], text) IS
    'what register_schema would report for new_schema after previous_schemas (oldest first, versions 1, 2, ...): no rows when compatible';

-- Require registered, valid payloads of a queue's senders, a topic's
-- publishers or a bus's put_events (kind: queue, topic or bus).  Returns the
-- previous setting.
CREATE FUNCTION courier.set_require_schema(kind text, name text, require_schema boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    previous boolean;
BEGIN
    PERFORM courier._require('kind', kind IS NULL);
    PERFORM courier._require('name', name IS NULL);
    PERFORM courier._require('require_schema', require_schema IS NULL);
    IF kind = 'queue' THEN
        SELECT q.require_schema INTO previous FROM courier.queues AS q
         WHERE q.queue_name = set_require_schema.name FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'queue "%" does not exist', name
                USING ERRCODE = 'undefined_object',
                      HINT = 'courier.list_queues() shows the queues there are.';
        END IF;
        UPDATE courier.queues AS q
           SET require_schema = set_require_schema.require_schema, updated_at = courier.now()
         WHERE q.queue_name = set_require_schema.name;
    ELSIF kind = 'topic' THEN
        SELECT t.require_schema INTO previous FROM courier.topics AS t
         WHERE t.topic_name = set_require_schema.name FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'topic "%" does not exist', name
                USING ERRCODE = 'undefined_object';
        END IF;
        UPDATE courier.topics AS t
           SET require_schema = set_require_schema.require_schema, updated_at = courier.now()
         WHERE t.topic_name = set_require_schema.name;
    ELSIF kind = 'bus' THEN
        SELECT b.require_schema INTO previous FROM courier.buses AS b
         WHERE b.bus_name = set_require_schema.name FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'bus "%" does not exist', name
                USING ERRCODE = 'undefined_object',
                      HINT = 'courier.list_buses() shows the buses there are.';
        END IF;
        UPDATE courier.buses AS b
           SET require_schema = set_require_schema.require_schema, updated_at = courier.now()
         WHERE b.bus_name = set_require_schema.name;
    ELSE
        RAISE EXCEPTION 'invalid kind "%"', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kinds are queue, topic and bus.';
    END IF;
    PERFORM courier._audit('set_require_schema', kind, name,
                           jsonb_build_object('require_schema', require_schema));
    RETURN previous;
END
$$;
COMMENT ON FUNCTION courier.set_require_schema(text, text, boolean) IS
    'require (or stop requiring) a registered type and version and a valid payload of every message sent to a queue, published to a topic or put on a bus; returns the previous setting';

-- task tokens (sql/parts/93_task_tokens.sql)

-- Task tokens: a Task whose Resource ends with ".waitForTaskToken" runs its
-- resource with $$.Task.Token, then waits for send_task_success,
-- send_task_failure or a timeout (src/task_token.c).  See docs/workflows.md.

-- One row per token the engine gave out.  Only the token's SHA-256 is kept:
-- the token itself travels in the task's message and nowhere else.
-- status: WAITING until a caller completes it (SUCCEEDED, FAILED) or the
-- engine times it out (TIMED_OUT); resumed_at: when the engine took it up
-- (or dropped it for a newer one), null while the execution waits on it.
-- state_phase 3 of courier.executions is "waiting for a task token".
CREATE TABLE courier.task_tokens (
    token_hash          bytea NOT NULL,
    execution_id        bigint NOT NULL,
    state_name          text NOT NULL,
    status              text NOT NULL,
    scheduled_at        timestamptz NOT NULL,
    timeout_at          timestamptz,
    heartbeat_seconds   integer,
    heartbeat_at        timestamptz NOT NULL,
    completed_at        timestamptz,
    resumed_at          timestamptz,
    output              jsonb,
    error               text,
    cause               text,
    CONSTRAINT task_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT task_tokens_execution_fkey FOREIGN KEY (execution_id)
        REFERENCES courier.executions (execution_id) ON DELETE CASCADE,
    CONSTRAINT task_tokens_status_check
        CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['WAITING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT']))
);
COMMENT ON TABLE courier.task_tokens IS
    'pg_courier task tokens of executions waiting in .waitForTaskToken tasks (SHA-256 of each token, its deadlines and outcome)';
CREATE INDEX task_tokens_open_idx ON courier.task_tokens (execution_id) WHERE resumed_at IS NULL;

SELECT pg_catalog.pg_extension_config_dump('courier.task_tokens', '');

-- Internal: the task a token names, with its execution's row and then its
-- own locked (the engine's order), if a caller may still complete it;
-- otherwise an error that names the Step Functions exception and changes
-- nothing.
CREATE FUNCTION courier._open_task(task_token text)
RETURNS courier.task_tokens
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    h bytea;
    t courier.task_tokens;
    e courier.executions;
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._require('task_token', task_token IS NULL);
    IF task_token !~ '^[A-Za-z0-9_-]{43}$' THEN
        RAISE EXCEPTION 'InvalidToken: the task token is malformed'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A task token has 43 characters from A-Z, a-z, 0-9, "-" and "_".',
                  HINT = 'Pass the token exactly as $$.Task.Token gave it to the task.';
    END IF;
    h := sha256(convert_to(task_token, 'UTF8'));
    SELECT * INTO e FROM courier.executions AS c
     WHERE c.execution_id = (SELECT k.execution_id FROM courier.task_tokens AS k WHERE k.token_hash = h)
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'TaskDoesNotExist: no task has this task token'
            USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO t FROM courier.task_tokens AS k WHERE k.token_hash = h FOR UPDATE;
    IF t.status = 'TIMED_OUT' OR (t.resumed_at IS NULL AND e.status = 'TIMED_OUT') THEN
        RAISE EXCEPTION 'TaskTimedOut: the task of this task token timed out'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Execution %s, state "%s".', t.execution_id, t.state_name);
    END IF;
    IF t.status <> 'WAITING' OR t.resumed_at IS NOT NULL OR e.status <> 'RUNNING'
       OR e.state_phase <> 3 OR e.current_state IS DISTINCT FROM t.state_name THEN
        RAISE EXCEPTION 'TaskDoesNotExist: the task of this task token is over'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Execution %s is %s; the task in state "%s" %s.',
                                  t.execution_id, e.status, t.state_name,
                                  CASE WHEN t.status = 'WAITING' THEN 'no longer waits'
                                       ELSE lower(t.status) END);
    END IF;
    IF ts >= t.timeout_at OR ts >= t.heartbeat_at + make_interval(secs => t.heartbeat_seconds) THEN
        RAISE EXCEPTION 'TaskTimedOut: the task of this task token timed out'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Execution %s, state "%s": its %s passed.', t.execution_id, t.state_name,
                                  CASE WHEN ts >= t.timeout_at THEN 'TimeoutSeconds' ELSE 'HeartbeatSeconds' END);
    END IF;
    RETURN t;
END
$fn$;

-- Internal: a completed task's execution is due now; the worker runs it
-- after commit.
CREATE FUNCTION courier._complete_task(t courier.task_tokens, status text, output jsonb,
                                       error text, cause text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    UPDATE courier.task_tokens AS k
       SET status = _complete_task.status, completed_at = ts, output = _complete_task.output,
           error = _complete_task.error, cause = _complete_task.cause
     WHERE k.token_hash = (_complete_task.t).token_hash;
    UPDATE courier.executions AS c SET next_step_at = ts
     WHERE c.execution_id = (_complete_task.t).execution_id;
    PERFORM courier._wake_executions();
END
$$;

CREATE FUNCTION courier.send_task_success(task_token text, output jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t courier.task_tokens;
BEGIN
    PERFORM courier._require('output', output IS NULL);
    IF length(output::text) > 262144 THEN
        RAISE EXCEPTION 'task output is too large'
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = format('The output has %s characters; at most 262144.', length(output::text));
    END IF;
    t := courier._open_task(task_token);
    PERFORM courier._complete_task(t, 'SUCCEEDED', output, NULL, NULL);
END
$$;
COMMENT ON FUNCTION courier.send_task_success(text, jsonb) IS
    'complete the task waiting for this task token with its output, in the caller''s transaction';

CREATE FUNCTION courier.send_task_failure(task_token text, error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t courier.task_tokens;
BEGIN
    IF length(error) > 256 OR length(cause) > 32768 THEN
        RAISE EXCEPTION 'task error or cause is too long'
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = 'An error has at most 256 characters, a cause at most 32768.';
    END IF;
    t := courier._open_task(task_token);
    PERFORM courier._complete_task(t, 'FAILED', NULL, error, cause);
END
$$;
COMMENT ON FUNCTION courier.send_task_failure(text, text, text) IS
    'fail the task waiting for this task token with a named error (States.TaskFailed when null), in the caller''s transaction';

CREATE FUNCTION courier.send_task_heartbeat(task_token text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t courier.task_tokens;
    ts timestamptz := courier.now();
BEGIN
    t := courier._open_task(task_token);
    IF t.heartbeat_seconds IS NULL THEN
        RETURN;
    END IF;
    UPDATE courier.task_tokens AS k SET heartbeat_at = ts WHERE k.token_hash = t.token_hash;
    UPDATE courier.executions AS c
       SET next_step_at = least(t.timeout_at, ts + make_interval(secs => t.heartbeat_seconds), c.timeout_at)
     WHERE c.execution_id = t.execution_id;
END
$$;
COMMENT ON FUNCTION courier.send_task_heartbeat(text) IS
    'tell the task waiting for this task token that its worker is alive: its HeartbeatSeconds start again';

-- workflow map (sql/parts/94_workflow_map.sql)

-- Parallel and Map states (src/workflow_map.c): each branch or iteration
-- runs as a child execution, a row of courier.executions with its parent's
-- id (courier.executions.parent_execution_id).  See docs/workflows.md,
-- "Parallel and Map".

-- Internal: abort the running and pending descendants of an execution that
-- ended or was stopped.  Descendants another transaction is stepping right
-- now are skipped rather than waited for (waiting could deadlock with a
-- child that waits for this parent's row): the engine aborts such a child
-- the next time it takes it, because its parent no longer waits for it.
CREATE FUNCTION courier._stop_children(execution_id bigint, ts timestamptz)
RETURNS TABLE (execution_id bigint, parent_execution_id bigint, item_index integer, was text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE tree AS (
        SELECT c.execution_id FROM courier.executions AS c
         WHERE c.parent_execution_id = _stop_children.execution_id
           AND c.status IN ('RUNNING', 'PENDING')
        UNION ALL
        SELECT c.execution_id FROM courier.executions AS c JOIN tree AS t
            ON c.parent_execution_id = t.execution_id
         WHERE c.status IN ('RUNNING', 'PENDING')
    ), locked AS (
        SELECT c.execution_id, c.status FROM courier.executions AS c
         WHERE c.execution_id IN (SELECT t.execution_id FROM tree AS t)
           FOR UPDATE SKIP LOCKED
    )
    UPDATE courier.executions AS c
       SET status = 'ABORTED', stopped_at = ts, next_step_at = NULL
      FROM locked AS l
     WHERE c.execution_id = l.execution_id
    RETURNING c.execution_id, c.parent_execution_id, c.item_index, l.status
$$;

-- The history of an execution with the histories of its branches and
-- iterations (child executions, at any depth), in time order.
CREATE FUNCTION courier.get_execution_history_tree(execution_id bigint)
RETURNS TABLE (execution_id bigint, parent_execution_id bigint, branch_path text[],
               item_index integer, event_id integer, "timestamp" timestamptz, type text,
               details jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE tree AS (
        SELECT e.execution_id, e.parent_execution_id, e.branch_path, e.item_index
          FROM courier.executions AS e
         WHERE e.execution_id = courier._existing_execution($1)
        UNION ALL
        SELECT c.execution_id, c.parent_execution_id, c.branch_path, c.item_index
          FROM courier.executions AS c JOIN tree AS t ON c.parent_execution_id = t.execution_id
    )
    SELECT t.execution_id, t.parent_execution_id, t.branch_path, t.item_index, h.event_id,
           h."timestamp", h.type, h.details
      FROM tree AS t JOIN courier.execution_history AS h ON h.execution_id = t.execution_id
     ORDER BY h."timestamp", t.execution_id, h.event_id
$$;
COMMENT ON FUNCTION courier.get_execution_history_tree(bigint) IS
    'the history of an execution and of its Parallel branches and Map iterations, in time order';

-- workflow redrive (sql/parts/95_workflow_redrive.sql)

-- Redriving executions (RedriveExecution): a FAILED, TIMED_OUT or ABORTED
-- execution resumes at the state it stopped in, with the input it entered
-- that state with, on the version it started on.  The states it had left
-- are not run again; in a Parallel or Map state, only the branches and
-- iterations that did not succeed run again.  See docs/workflows.md
-- ("Redriving an execution").

-- Internal: the type of state `state` in the machine or sub-machine that
-- a branch path ({state, branch, state, branch, ...} from the top; a Map's
-- ItemProcessor is its branch 0) names in definition def.
CREATE FUNCTION courier._state_type(def jsonb, branch_path text[], state text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m jsonb := def;
    s jsonb;
    i integer := 1;
BEGIN
    WHILE i < coalesce(array_length(branch_path, 1), 0) LOOP
        s := m->'States'->branch_path[i];
        IF s->>'Type' = 'Parallel' THEN
            m := s->'Branches'->(branch_path[i + 1]::integer);
        ELSE
            m := coalesce(s->'ItemProcessor', s->'Iterator');
        END IF;
        i := i + 2;
    END LOOP;
    RETURN m->'States'->state->>'Type';
END
$$;

-- Internal: resume an execution at the state it stopped in.  When that is
-- a Parallel or Map state whose children of this entry are still there, the
-- state is not entered again: its failed, timed-out and aborted children
-- are resumed the same way (at any depth), and it waits for them, so the
-- branches and iterations that succeeded keep their outputs and are not
-- run again.  top: the execution being redriven, due at once; a child is
-- left PENDING, for its parent to start within MaxConcurrency.
CREATE FUNCTION courier._resume_execution(execution_id bigint, def jsonb, top boolean,
                                          ts timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e courier.executions;
    branches boolean;
    child bigint;
BEGIN
    SELECT * INTO e FROM courier.executions AS x
     WHERE x.execution_id = _resume_execution.execution_id FOR UPDATE;
    -- (children_from is the first child of the state's last entry; a child
    -- started before the state was last entered is of an earlier entry)
    branches := e.children_from IS NOT NULL
        AND courier._state_type(def, e.branch_path, e.current_state) IN ('Parallel', 'Map')
        AND EXISTS (SELECT 1 FROM courier.executions AS x
                     WHERE x.parent_execution_id = e.execution_id
                       AND x.execution_id >= e.children_from
                       AND x.started_at >= e.state_entered_at);
    IF branches THEN
        FOR child IN
            SELECT x.execution_id FROM courier.executions AS x
             WHERE x.parent_execution_id = e.execution_id
               AND x.execution_id >= e.children_from
               AND x.started_at >= e.state_entered_at
               AND x.status IN ('FAILED', 'TIMED_OUT', 'ABORTED')
             ORDER BY x.item_index
        LOOP
            PERFORM courier._resume_execution(child, def, false, ts);
        END LOOP;
    END IF;
    -- Entered again now, with the input it entered with (state_input), its
    -- retry counters reset; a state waiting for its children keeps its entry.
    -- The machine's TimeoutSeconds counts again from now.
    UPDATE courier.executions AS x
       SET status = CASE WHEN top THEN 'RUNNING' ELSE 'PENDING' END, stopped_at = NULL,
           next_step_at = CASE WHEN top THEN ts END,
           state_entered_at = CASE WHEN branches THEN e.state_entered_at ELSE ts END,
           state_phase = CASE WHEN branches THEN 4 ELSE 0 END,   -- PHASE_CHILDREN, PHASE_ENTER
           retry_counts = NULL, error = NULL, cause = NULL, output = NULL,
           timeout_at = CASE WHEN top
                             THEN ts + make_interval(secs => (def->>'TimeoutSeconds')::double precision)
                             ELSE x.timeout_at END,
           redrive_count = e.redrive_count + 1, redriven_at = ts
     WHERE x.execution_id = e.execution_id;
    PERFORM courier._history(e.execution_id, 'ExecutionRedriven',
                             jsonb_build_object('redriveCount', e.redrive_count + 1,
                                                'name', e.current_state, 'status', e.status,
                                                'error', e.error));
END
$$;

CREATE FUNCTION courier._redrive_execution(execution_id bigint)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e courier.executions;
    def jsonb;
    ts timestamptz := courier.now();
    -- As Step Functions: within 14 days of the stop, at most 1,000 times.
    redrivable_for constant interval := '14 days';
    max_redrives constant integer := 1000;
BEGIN
    PERFORM courier._require('execution_id', _redrive_execution.execution_id IS NULL);
    SELECT * INTO e FROM courier.executions AS c
     WHERE c.execution_id = _redrive_execution.execution_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist (ExecutionDoesNotExist)', _redrive_execution.execution_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_executions() shows the executions there are.';
    END IF;
    IF e.status NOT IN ('FAILED', 'TIMED_OUT', 'ABORTED') THEN
        RAISE EXCEPTION 'execution % cannot be redriven (ExecutionNotRedrivable)', e.execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is %s; only a FAILED, TIMED_OUT or ABORTED execution can be redriven.',
                                  e.status);
    END IF;
    IF e.stopped_at < ts - redrivable_for THEN
        RAISE EXCEPTION 'execution % cannot be redriven (ExecutionNotRedrivable)', e.execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It stopped at %s, more than 14 days ago.', e.stopped_at),
                  HINT = 'Start a new execution with its input.';
    END IF;
    IF e.redrive_count >= max_redrives THEN
        RAISE EXCEPTION 'execution % cannot be redriven (ExecutionNotRedrivable)', e.execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was redriven %s times, the most an execution can be.', e.redrive_count),
                  HINT = 'Start a new execution with its input.';
    END IF;
    -- the machine cannot be deleted meanwhile (delete_state_machine locks it FOR UPDATE)
    PERFORM 1 FROM courier.state_machines AS m
     WHERE m.state_machine_name = e.state_machine_name FOR KEY SHARE;
    SELECT v.definition INTO def FROM courier.state_machine_versions AS v
     WHERE v.state_machine_name = e.state_machine_name AND v.version = e.version;

    PERFORM courier._resume_execution(e.execution_id, def, true, ts);
    PERFORM courier._audit('redrive_execution', 'state_machine', e.state_machine_name,
                           jsonb_build_object('execution_id', e.execution_id, 'execution', e.execution_name,
                                              'redrive_count', e.redrive_count + 1,
                                              'state', e.current_state, 'status', e.status));
    PERFORM courier._wake_executions();
    RETURN ts;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.redrive_execution(execution_id bigint)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.redrive_execution(bigint) IS
    'resume a FAILED, TIMED_OUT or ABORTED execution at the state it stopped in (within 14 days, at most 1000 times); returns the redrive time';

-- operations (sql/parts/96_operations.sql)

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

-- grants (sql/parts/97_grants.sql)

-- Per-object privileges and tenant binding (src/grants.c,
-- docs/security.md#courier-grants).

-- One row per privilege a role holds on an object (object_name '*': every
-- object of the kind, also those created later).  tenant_id binds the grant
-- to the messages of one tenant.
CREATE TABLE courier.grants (
    object_kind     text NOT NULL,
    object_name     text NOT NULL,
    privilege       text NOT NULL,
    grantee         regrole NOT NULL,
    tenant_id       text,
    granted_by      name NOT NULL,
    granted_at      timestamptz NOT NULL,
    CONSTRAINT grants_object_kind_check
        CHECK (object_kind IN ('queue', 'topic', 'bus', 'state_machine')),
    CONSTRAINT grants_privilege_check
        CHECK (privilege IN ('send', 'receive', 'publish', 'subscribe', 'put_events',
                             'start_execution', 'manage')),
    CONSTRAINT grants_tenant_id_check
        CHECK (tenant_id IS NULL
               OR (length(tenant_id) BETWEEN 1 AND 256
                   AND privilege IN ('send', 'receive', 'publish', 'manage')))
);
CREATE UNIQUE INDEX grants_key
    ON courier.grants (object_kind, object_name, privilege, grantee, (coalesce(tenant_id, '')));
CREATE INDEX grants_grantee ON courier.grants (grantee);
COMMENT ON TABLE courier.grants IS
    'per-object privileges given with courier.grant(); tenant_id binds one to a tenant''s messages';
SELECT pg_catalog.pg_extension_config_dump('courier.grants', '');

-- Every change makes the backends read the grants again (src/grants.c).
CREATE FUNCTION courier._grants_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'courier_grants_changed'
LANGUAGE C;
CREATE TRIGGER grants_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON courier.grants
    FOR EACH STATEMENT EXECUTE FUNCTION courier._grants_changed();

-- Internal: the tenants the running call is restricted to (NULL: none).
CREATE FUNCTION courier._acting_tenants()
RETURNS text[]
AS 'MODULE_PATHNAME', 'courier_acting_tenants'
LANGUAGE C VOLATILE;

-- Internal: whether the caller of the running call may also act on another
-- object (true when the call does not act through a grant).
CREATE FUNCTION courier._may(privilege text, object_kind text, object_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_may'
LANGUAGE C VOLATILE;

-- Internal: check the arguments of grant() and revoke() (verb says which);
-- returns the role.
CREATE FUNCTION courier._check_grant(verb text, privilege text, object_kind text,
                                     object_name text, role name, tenant_id text)
RETURNS regrole
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kinds constant jsonb := '{"send": "queue", "receive": "queue", "publish": "topic",
                              "subscribe": "topic", "put_events": "bus",
                              "start_execution": "state_machine"}';
    r oid;
    tenants text[] := courier._acting_tenants();
BEGIN
    PERFORM courier._require('privilege', privilege IS NULL);
    PERFORM courier._require('object_kind', object_kind IS NULL);
    PERFORM courier._require('object_name', object_name IS NULL);
    PERFORM courier._require('role', role IS NULL);
    IF object_kind NOT IN ('queue', 'topic', 'bus', 'state_machine') THEN
        RAISE EXCEPTION 'unknown object kind "%"', object_kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kinds are queue, topic, bus and state_machine.';
    END IF;
    IF privilege <> 'manage' AND NOT kinds ? privilege THEN
        RAISE EXCEPTION 'unknown privilege "%"', privilege
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The privileges are send, receive, publish, subscribe, put_events, start_execution and manage.';
    END IF;
    IF privilege <> 'manage' AND kinds->>privilege <> object_kind THEN
        RAISE EXCEPTION 'privilege % applies to a %, not to a %', privilege,
                        replace(kinds->>privilege, '_', ' '), replace(object_kind, '_', ' ')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- (a grant may outlive its object: it applies again to one created with
    -- the same name, and can still be revoked; a manage grant may name an
    -- object to be created: it lets the role create it)
    IF verb = 'grant' AND privilege <> 'manage' AND object_name <> '*' AND NOT (CASE object_kind
            WHEN 'queue' THEN EXISTS (SELECT 1 FROM courier.queues AS q WHERE q.queue_name = object_name)
            WHEN 'topic' THEN EXISTS (SELECT 1 FROM courier.topics AS t WHERE t.topic_name = object_name)
            WHEN 'bus' THEN EXISTS (SELECT 1 FROM courier.buses AS b WHERE b.bus_name = object_name)
            ELSE EXISTS (SELECT 1 FROM courier.state_machines AS m
                          WHERE m.state_machine_name = object_name) END) THEN
        RAISE EXCEPTION '% "%" does not exist', replace(object_kind, '_', ' '), object_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Name an existing object, or ''*'' for every object of the kind.';
    END IF;
    SELECT a.oid INTO r FROM pg_roles AS a WHERE a.rolname = role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', role
            USING ERRCODE = 'undefined_object';
    END IF;
    IF tenant_id IS NOT NULL THEN
        IF length(tenant_id) NOT BETWEEN 1 AND 256 THEN
            RAISE EXCEPTION 'tenant_id must have 1 to 256 characters'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF privilege NOT IN ('send', 'receive', 'publish', 'manage') THEN
            RAISE EXCEPTION 'a grant of % cannot be bound to a tenant', privilege
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A tenant binds the messages of queues and topics (their tenant_id); subscriptions, events and executions have none.',
                      HINT = 'Grant it without tenant_id.';
        END IF;
    END IF;
    -- A role bound to tenants by its grants acting through a tenant-bound
    -- manage grant gives only grants bound to its tenants.
    IF tenants IS NOT NULL AND (tenant_id IS NULL OR NOT tenant_id = ANY (tenants)) THEN
        RAISE EXCEPTION 'permission denied to % % on % "%" %', verb, privilege,
                        replace(object_kind, '_', ' '), object_name,
                        CASE WHEN tenant_id IS NULL THEN 'without a tenant'
                             ELSE format('for tenant "%s"', tenant_id) END
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('The manage grants of role "%s" on it are bound to the tenants %s.',
                                  courier._acting_role(), array_to_string(tenants, ', '));
    END IF;
    -- Acting as themselves, only the extension's owner (or a member) and
    -- superusers may give grants: courier.grant() gives EXECUTE on functions.
    IF courier._acting_role() = current_user
       AND NOT pg_has_role((SELECT n.nspowner FROM pg_namespace AS n WHERE n.nspname = 'courier'),
                           'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to % % on % "%"', verb, privilege,
                        replace(object_kind, '_', ' '), object_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role "%s" holds no manage grant on it.', current_user),
                  HINT = 'A superuser, the extension''s owner or a role holding manage on the object can.';
    END IF;
    RETURN r::regrole;
END
$$;

-- The functions a privilege is used through, which grant() lets the role
-- execute (the bodies they call need nothing: see src/grants.c).
CREATE FUNCTION courier._grant_functions(privilege text, object_kind text)
RETURNS regprocedure[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE privilege
        WHEN 'send' THEN ARRAY['courier.send(text, jsonb, jsonb, interval, text, text)',
                               'courier.send_batch(text, jsonb[], jsonb[], interval, text[], text[])']
        WHEN 'receive' THEN ARRAY['courier.receive(text, integer, interval, interval)',
                                  'courier.delete(text, text)', 'courier.delete_batch(text, text[])',
                                  'courier.change_visibility(text, text, interval)',
                                  'courier.release(text, text, text, interval)',
                                  'courier.delete_once(text, text, text, interval)']
        WHEN 'publish' THEN ARRAY['courier.publish(text, jsonb, jsonb, text, text)']
        WHEN 'subscribe' THEN ARRAY['courier.subscribe(text, text, jsonb, text, boolean)',
                                    'courier.unsubscribe(bigint)']
        WHEN 'put_events' THEN ARRAY['courier.put_events(text, jsonb)']
        WHEN 'start_execution' THEN ARRAY['courier.start_execution(text, jsonb, text)']
        ELSE ARRAY['courier.grant(text, text, text, name, text)',
                   'courier.revoke(text, text, text, name, text)']
             || CASE object_kind
                WHEN 'queue' THEN ARRAY[
                    'courier.create_queue(text, interval, interval, interval, integer, boolean, boolean, interval, text, integer)',
                    'courier.alter_queue(text, interval, interval, interval, integer, boolean, interval, text, integer)',
                    'courier.drop_queue(text, boolean)', 'courier.purge_queue(text)',
                    'courier.redrive(text, text, integer)']
                WHEN 'topic' THEN ARRAY['courier.create_topic(text, boolean, boolean)',
                    'courier.drop_topic(text, boolean)']
                WHEN 'bus' THEN ARRAY['courier.create_bus(text)', 'courier.drop_bus(text, boolean)',
                    'courier.put_rule(text, text, jsonb, boolean, text)',
                    'courier.delete_rule(text, text, boolean)', 'courier.enable_rule(text, text)',
                    'courier.disable_rule(text, text)',
                    'courier.put_target(text, text, text, text, jsonb, text, jsonb, jsonb, text)',
                    'courier.remove_target(text, text, text)']
                ELSE ARRAY['courier.create_state_machine(text, jsonb)',
                    'courier.update_state_machine(text, jsonb)',
                    'courier.delete_state_machine(text)',
                    'courier.stop_execution(bigint, text, text)',
                    'courier.redrive_execution(bigint)'] END
        END::regprocedure[]
$$;

CREATE FUNCTION courier._grant(privilege text, object_kind text, object_name text,
                               role name, tenant_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r regrole := courier._check_grant('grant', privilege, object_kind, object_name, role, tenant_id);
    fn regprocedure;
BEGIN
    -- A role is either bound to tenants or not: a bound role's unbound grant
    -- would let its tenant-bound reads see every tenant.
    IF EXISTS (SELECT 1 FROM courier.grants AS g
                WHERE g.grantee = r
                  AND (g.tenant_id IS NULL) <> (_grant.tenant_id IS NULL)) THEN
        RAISE EXCEPTION 'role "%" already holds % grants', role,
                        CASE WHEN tenant_id IS NULL THEN 'tenant-bound' ELSE 'unbound' END
            USING ERRCODE = 'invalid_grant_operation',
                  DETAIL = 'A role is either bound to tenants by all its grants, or by none.',
                  HINT = 'Use another role, or revoke the other grants first.';
    END IF;
    INSERT INTO courier.grants AS g
           (object_kind, object_name, privilege, grantee, tenant_id, granted_by, granted_at)
    VALUES (object_kind, object_name, privilege, r, tenant_id, courier._acting_role(),
            courier.now())
        ON CONFLICT (object_kind, object_name, privilege, grantee, (coalesce(tenant_id, '')))
        DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA courier TO %I', role);
    FOREACH fn IN ARRAY courier._grant_functions(privilege, object_kind) LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, role);
    END LOOP;
    PERFORM courier._audit('grant', object_kind, object_name,
                           jsonb_build_object('privilege', privilege, 'role', role,
                                              'tenant_id', tenant_id));
    RETURN true;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.grant(privilege text, object_kind text, object_name text,
                              role name, tenant_id text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.grant(text, text, text, name, text) IS
    'give role a privilege on one object (or ''*'': all of the kind), optionally bound to a tenant; false when it held it already';

CREATE FUNCTION courier._revoke(privilege text, object_kind text, object_name text,
                                role name, tenant_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r regrole := courier._check_grant('revoke', privilege, object_kind, object_name, role, tenant_id);
BEGIN
    DELETE FROM courier.grants AS g
     WHERE g.object_kind = _revoke.object_kind AND g.object_name = _revoke.object_name
       AND g.privilege = _revoke.privilege AND g.grantee = r
       AND g.tenant_id IS NOT DISTINCT FROM _revoke.tenant_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM courier._audit('revoke', object_kind, object_name,
                           jsonb_build_object('privilege', privilege, 'role', role,
                                              'tenant_id', tenant_id));
    RETURN true;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.revoke(privilege text, object_kind text, object_name text,
                               role name, tenant_id text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.revoke(text, text, text, name, text) IS
    'take back a privilege given with courier.grant(); false when role did not hold it';

-- A tenant-bound receive leases its tenant's messages oldest first through
-- this index, past other tenants' messages (src/queue_lease.c).  Partial:
-- messages without a tenant cost their insert only the predicate test.
CREATE INDEX messages_tenant_idx ON courier.messages (queue_name, tenant_id, visible_at, msg_id)
    WHERE tenant_id IS NOT NULL;

-- Row-level security: a role bound to tenants by its grants reads only its
-- tenants' messages, outbox events and idempotency keys; every other role reads what its
-- table privileges give (the policy is true for it).  The extension's owner
-- and superusers are not subject to it, so the courier functions acting
-- through a grant, tick() and the worker see every row.
ALTER TABLE courier.messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON courier.messages
    USING ((SELECT courier._tenant_unbound())
           OR tenant_id OPERATOR(pg_catalog.=) ANY ((SELECT courier._bound_tenants())::text[]));
ALTER TABLE courier.outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON courier.outbox
    USING ((SELECT courier._tenant_unbound())
           OR tenant_id OPERATOR(pg_catalog.=) ANY ((SELECT courier._bound_tenants())::text[]));
ALTER TABLE courier.idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON courier.idempotency_keys
    USING ((SELECT courier._tenant_unbound())
           OR tenant_id OPERATOR(pg_catalog.=) ANY ((SELECT courier._bound_tenants())::text[]));

-- Nothing new is callable by PUBLIC either.
REVOKE ALL ON ALL TABLES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA courier FROM PUBLIC;

-- Row-level security calls the first two as the role reading the tables,
-- and the functions that audit, put a target or claim an idempotency key
-- the others, whoever their caller: every role may (they tell a role only about itself; see
-- src/grants.c).
GRANT EXECUTE ON FUNCTION courier._tenant_unbound(), courier._bound_tenants(),
                          courier._acting_role(), courier._may(text, text, text),
                          courier._tenant_for(text) TO PUBLIC;
