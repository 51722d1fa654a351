-- generated from sql/parts/ by the Makefile; do not edit
\echo Use "CREATE EXTENSION pg_courier" to load this file. \quit

-- sql/parts/00_preamble.sql
-- Schema courier is created by CREATE EXTENSION (pg_courier.control: schema = courier).
COMMENT ON SCHEMA courier IS 'pg_courier: transactional queues, topics, event bus and workflows';

-- Internal: object-level lock that serialises drop_queue against senders.
-- exclusive = false is what send takes; exclusive = true is what drop_queue takes.
CREATE FUNCTION courier._lock_queue(queue_name text, exclusive boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_lock_queue'
LANGUAGE C STRICT VOLATILE;

-- The clock every courier function uses: the wall clock plus courier.clock_offset
-- (a superuser-only setting that tests use to move time without sleeping).
CREATE FUNCTION courier.now()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'courier_now'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION courier.now() IS
    'the clock pg_courier uses: clock_timestamp() shifted by courier.clock_offset';

-- sql/parts/10_queue_tables.sql
-- Queue definitions. One row per queue; the name is the key every other
-- queue table is keyed by first (see docs/design.md).
CREATE TABLE courier.queues (
    queue_name          text COLLATE "C" NOT NULL,
    visibility_timeout  interval NOT NULL,
    delay               interval NOT NULL,
    retention           interval NOT NULL,
    max_message_bytes   integer NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT queues_pkey PRIMARY KEY (queue_name),
    CONSTRAINT queues_name_check
        CHECK (queue_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_-]+(\.fifo)?$'
               AND pg_catalog.length(queue_name) OPERATOR(pg_catalog.<=) 80),
    CONSTRAINT queues_visibility_timeout_check
        CHECK (visibility_timeout OPERATOR(pg_catalog.>=) '0'::interval
               AND visibility_timeout OPERATOR(pg_catalog.<=) '12 hours'::interval),
    CONSTRAINT queues_delay_check
        CHECK (delay OPERATOR(pg_catalog.>=) '0'::interval
               AND delay OPERATOR(pg_catalog.<=) '15 minutes'::interval),
    CONSTRAINT queues_retention_check
        CHECK (retention OPERATOR(pg_catalog.>=) '60 seconds'::interval
               AND retention OPERATOR(pg_catalog.<=) '14 days'::interval),
    CONSTRAINT queues_max_message_bytes_check
        CHECK (max_message_bytes BETWEEN 1024 AND 1048576)
);
COMMENT ON TABLE courier.queues IS 'pg_courier queue definitions (one row per queue)';

-- Message ids are unique across all queues; ordering inside a queue never
-- depends on them being gap-free.
CREATE SEQUENCE courier.message_id_seq AS bigint;

-- Messages of every queue. Fixed-width columns first to avoid alignment padding.
--   visible_at       when the message may next be received (send time + delay,
--                    or end of the current lease)
--   receive_count    deliveries so far; together with receipt_nonce it names the
--                    current lease, so a receipt from an older lease matches nothing
--   receipt_nonce    random per receive call; makes receipts unguessable
CREATE TABLE courier.messages (
    msg_id              bigint NOT NULL,
    visible_at          timestamptz NOT NULL,
    sent_at             timestamptz NOT NULL,
    receipt_nonce       bigint,
    first_received_at   timestamptz,
    last_received_at    timestamptz,
    occurred_at         timestamptz,
    receive_count       integer NOT NULL DEFAULT 0,
    schema_version      integer,
    queue_name          text COLLATE "C" NOT NULL,
    type                text,
    correlation_id      text,
    causation_id        text,
    idempotency_key     text,
    tenant_id           text,
    last_error          text,
    headers             jsonb,
    payload             jsonb NOT NULL,
    CONSTRAINT messages_pkey PRIMARY KEY (queue_name, msg_id)
);
COMMENT ON TABLE courier.messages IS
    'pg_courier messages of every queue; read it freely, change it only through the courier functions';

-- receive() walks this index from the oldest visible_at up to now: in-flight and
-- delayed messages sort after now and are never visited.
CREATE INDEX messages_visible_idx ON courier.messages (queue_name, visible_at, msg_id);

-- Definitions and messages are user data: pg_dump must keep them.
SELECT pg_catalog.pg_extension_config_dump('courier.queues', '');
SELECT pg_catalog.pg_extension_config_dump('courier.messages', '');
SELECT pg_catalog.pg_extension_config_dump('courier.message_id_seq', '');

-- sql/parts/20_queue_admin.sql
-- Queue administration: create, alter, drop, purge, list.
-- Not hot paths, so plain PL/pgSQL; every function pins search_path and
-- schema-qualifies what it touches.

-- Internal: reject a NULL argument with 22004.
CREATE FUNCTION courier._require(param text, is_null boolean)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF is_null THEN
        RAISE EXCEPTION '% must not be null', param
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave the argument out to use its default.';
    END IF;
END
$$;

-- Internal: check a duration against its allowed range (22023).
CREATE FUNCTION courier._check_duration(
    param text, value interval, lo interval, hi interval, range_text text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value < lo OR value > hi THEN
        RAISE EXCEPTION '% must be between %', param, range_text
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', value);
    END IF;
END
$$;

-- Internal: validate every queue attribute that is not null.
CREATE FUNCTION courier._check_queue_attributes(
    visibility_timeout interval, delay interval, retention interval, max_message_bytes integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF visibility_timeout IS NOT NULL THEN
        PERFORM courier._check_duration('visibility_timeout', visibility_timeout,
                                        interval '0', interval '12 hours', '0 and 12 hours');
    END IF;
    IF delay IS NOT NULL THEN
        PERFORM courier._check_duration('delay', delay,
                                        interval '0', interval '15 minutes', '0 and 15 minutes');
    END IF;
    IF retention IS NOT NULL THEN
        PERFORM courier._check_duration('retention', retention,
                                        interval '60 seconds', interval '14 days',
                                        '60 seconds and 14 days');
    END IF;
    IF max_message_bytes IS NOT NULL
       AND (max_message_bytes < 1024 OR max_message_bytes > 1048576) THEN
        RAISE EXCEPTION 'max_message_bytes must be between 1024 and 1048576'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', max_message_bytes);
    END IF;
END
$$;

CREATE FUNCTION courier.create_queue(
    queue_name          text,
    visibility_timeout  interval DEFAULT '30 seconds',
    delay               interval DEFAULT '0',
    retention           interval DEFAULT '4 days',
    max_message_bytes   integer  DEFAULT 262144)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM courier._require('visibility_timeout', visibility_timeout IS NULL);
    PERFORM courier._require('delay', delay IS NULL);
    PERFORM courier._require('retention', retention IS NULL);
    PERFORM courier._require('max_message_bytes', max_message_bytes IS NULL);

    IF queue_name !~ '^[A-Za-z0-9_-]+(\.fifo)?$' OR length(queue_name) > 80 THEN
        RAISE EXCEPTION 'invalid queue name "%"', queue_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A queue name has 1 to 80 characters: letters, digits, "_" and "-", optionally ending in ".fifo".';
    END IF;
    PERFORM courier._check_queue_attributes(visibility_timeout, delay, retention, max_message_bytes);

    INSERT INTO courier.queues AS q
        (queue_name, visibility_timeout, delay, retention, max_message_bytes, created_at, updated_at)
    VALUES (create_queue.queue_name, create_queue.visibility_timeout, create_queue.delay,
            create_queue.retention, create_queue.max_message_bytes, ts, ts)
    ON CONFLICT ON CONSTRAINT queues_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" already exists', queue_name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Use courier.alter_queue() to change its attributes.';
    END IF;
END
$$;
COMMENT ON FUNCTION courier.create_queue(text, interval, interval, interval, integer) IS
    'create a standard queue';

CREATE FUNCTION courier.alter_queue(
    queue_name          text,
    visibility_timeout  interval DEFAULT NULL,
    delay               interval DEFAULT NULL,
    retention           interval DEFAULT NULL,
    max_message_bytes   integer  DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM courier._check_queue_attributes(visibility_timeout, delay, retention, max_message_bytes);

    UPDATE courier.queues AS q
       SET visibility_timeout = coalesce(alter_queue.visibility_timeout, q.visibility_timeout),
           delay = coalesce(alter_queue.delay, q.delay),
           retention = coalesce(alter_queue.retention, q.retention),
           max_message_bytes = coalesce(alter_queue.max_message_bytes, q.max_message_bytes),
           updated_at = courier.now()
     WHERE q.queue_name = alter_queue.queue_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue_name
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION courier.alter_queue(text, interval, interval, interval, integer) IS
    'change queue attributes; a null argument leaves that attribute unchanged';

CREATE FUNCTION courier.drop_queue(queue_name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
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
    DELETE FROM courier.messages AS m WHERE m.queue_name = drop_queue.queue_name;
    RETURN true;
END
$$;
COMMENT ON FUNCTION courier.drop_queue(text, boolean) IS
    'drop a queue and every message in it';

CREATE FUNCTION courier.purge_queue(queue_name text)
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
    DELETE FROM courier.messages AS m WHERE m.queue_name = purge_queue.queue_name;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION courier.purge_queue(text) IS
    'delete every message of a queue (visible, in flight and delayed); returns how many';

CREATE FUNCTION courier.list_queues()
RETURNS TABLE (
    queue_name          text,
    visibility_timeout  interval,
    delay               interval,
    retention           interval,
    max_message_bytes   integer,
    created_at          timestamptz,
    updated_at          timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT q.queue_name, q.visibility_timeout, q.delay, q.retention, q.max_message_bytes,
           q.created_at, q.updated_at
      FROM courier.queues AS q
     ORDER BY q.queue_name
$$;
COMMENT ON FUNCTION courier.list_queues() IS 'every queue with its attributes';

-- sql/parts/30_queue_messages.sql
-- Message functions: the hot paths, in C with plans prepared once per backend
-- (src/queue.c, src/queue_lease.c).

-- What receive() returns: one row per leased message.
CREATE TYPE courier.received AS (
    msg_id              bigint,
    receipt             text,
    payload             jsonb,
    headers             jsonb,
    type                text,
    schema_version      integer,
    correlation_id      text,
    causation_id        text,
    idempotency_key     text,
    tenant_id           text,
    occurred_at         timestamptz,
    receive_count       integer,
    sent_at             timestamptz,
    first_received_at   timestamptz,
    visible_at          timestamptz
);
COMMENT ON TYPE courier.received IS
    'a leased message: receipt names this lease; visible_at is when the lease ends';

CREATE FUNCTION courier.send(
    queue_name  text,
    payload     jsonb,
    headers     jsonb DEFAULT NULL,
    delay       interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.send(text, jsonb, jsonb, interval) IS
    'send one message; visible to consumers after commit (and after delay); returns its id';

CREATE FUNCTION courier.send_batch(
    queue_name  text,
    payloads    jsonb[],
    headers     jsonb[] DEFAULT NULL,
    delay       interval DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'courier_send_batch'
LANGUAGE C VOLATILE ROWS 100;
COMMENT ON FUNCTION courier.send_batch(text, jsonb[], jsonb[], interval) IS
    'send several messages in one call; returns their ids in input order';

CREATE FUNCTION courier.receive(
    queue_name          text,
    max_messages        integer DEFAULT 1,
    visibility_timeout  interval DEFAULT NULL)
RETURNS SETOF courier.received
AS 'MODULE_PATHNAME', 'courier_receive'
LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION courier.receive(text, integer, interval) IS
    'lease up to max_messages visible messages for visibility_timeout (queue default when null)';

CREATE FUNCTION courier.delete(queue_name text, receipt text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_delete'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.delete(text, text) IS
    'delete the message of a lease; false when the receipt no longer names a live lease';

CREATE FUNCTION courier.delete_batch(queue_name text, receipts text[])
RETURNS integer
AS 'MODULE_PATHNAME', 'courier_delete_batch'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.delete_batch(text, text[]) IS
    'delete the messages of several leases; returns how many were deleted';

CREATE FUNCTION courier.change_visibility(queue_name text, receipt text, visibility_timeout interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_change_visibility'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.change_visibility(text, text, interval) IS
    'end the lease at now + visibility_timeout (at most 12 hours after the receive)';

CREATE FUNCTION courier.release(
    queue_name  text,
    receipt     text,
    error       text DEFAULT NULL,
    delay       interval DEFAULT '0')
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_release'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.release(text, text, text, interval) IS
    'give a lease back (negative acknowledgement): visible again after delay; error is kept as evidence';

-- sql/parts/90_privileges.sql
-- Nothing is callable by PUBLIC until a DBA grants it (see docs/security.md).
REVOKE ALL ON SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA courier FROM PUBLIC;
