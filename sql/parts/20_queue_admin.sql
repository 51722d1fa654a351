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
