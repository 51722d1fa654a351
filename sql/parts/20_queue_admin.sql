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
CREATE FUNCTION courier.drop_queue(queue_name text, if_exists boolean DEFAULT false)
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
CREATE FUNCTION courier.purge_queue(queue_name text)
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
