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
