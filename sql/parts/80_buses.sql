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
