-- The schema registry: register_schema, get_schema, list_schemas,
-- delete_schema, set_schema_compatibility, validate_payload and
-- set_require_schema.  Every error has its SQLSTATE and changes nothing;
-- try() shows "SQLSTATE: message / detail" instead of failing.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    det text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' / ' || nullif(det, ''), '');
END
$$;
-- everything the registry holds, as one line
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce((SELECT string_agg(t.message_type || ':' || t.compatibility, ' ' ORDER BY t.message_type)
                       FROM courier.schema_types AS t), '-')
        || ' | ' ||
           coalesce((SELECT string_agg(s.message_type || '@' || s.schema_version || '=' || md5(s.json_schema::text),
                                       ' ' ORDER BY s.message_type, s.schema_version)
                       FROM courier.schemas AS s), '-')
        || ' | audit ' || (SELECT count(*) FROM courier.audit_log WHERE object_kind = 'schema')
$$;

-- a first version: BACKWARD unless said otherwise
SELECT courier.register_schema('order.created', 1,
    '{"type": "object", "properties": {"id": {"type": "integer"}, "owner": {"type": "string"}}, "additionalProperties": false}');
-- the same schema again: nothing changes, false
SELECT courier.register_schema('order.created', 1,
    '{"type": "object", "properties": {"owner": {"type": "string"}, "id": {"type": "integer"}}, "additionalProperties": false}');
-- a compatible version: an optional property in a closed model
SELECT courier.register_schema('order.created', 2,
    '{"type": "object", "properties": {"id": {"type": "integer"}, "owner": {"type": "string"}, "note": {"type": "string"}}, "additionalProperties": false}');
-- versions may leave gaps
SELECT courier.register_schema('order.created', 5,
    '{"type": "object", "properties": {"id": {"type": "number"}, "owner": {"type": "string"}, "note": {"type": "string"}}, "additionalProperties": false}');
SELECT courier.register_schema('invoice.paid', 1, '{"type": "object"}', compatibility => 'full');
SELECT message_type, schema_version, compatibility, latest, registered_by = current_user AS registered_by_me
  FROM courier.list_schemas() WHERE message_type IN ('order.created', 'invoice.paid') ORDER BY 1, 2;
SELECT message_type, schema_version, latest FROM courier.list_schemas('invoice.paid');
SELECT courier.get_schema('order.created') = courier.get_schema('order.created', 5) AS latest_is_5;
SELECT courier.get_schema('order.created', 1);
SELECT pg_temp.state() AS before \gset

-- what breaks the mode is rejected, with one line per break in the detail
SELECT pg_temp.try($$SELECT courier.register_schema('order.created', 6,
    '{"type": "object", "required": ["owner"], "properties": {"id": {"type": "integer"}, "owner": {"type": "string", "enum": ["a", "b"]}}, "additionalProperties": false}')$$);
-- the same under a transitive mode names each version it breaks
SELECT pg_temp.try($$SELECT courier.register_schema('order.created', 6,
    '{"type": "object", "required": ["owner"], "properties": {"id": {"type": "number"}, "owner": {"type": "string"}, "note": {"type": "string"}}, "additionalProperties": false}',
    'BACKWARD_TRANSITIVE')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('invoice.paid', 2, '{"type": "object", "properties": {"total": {"type": "number"}}}')$$);
-- arguments
SELECT pg_temp.try($$SELECT courier.register_schema(NULL, 1, '{}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('t', NULL, '{}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('t', 1, NULL)$$);
SELECT pg_temp.try($$SELECT courier.register_schema('', 1, '{}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema(repeat('x', 257), 1, '{}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('t', 0, '{}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('t', -3, '{}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('t', 1, '{}', 'LENIENT')$$);
-- schemas pg_courier would not check as written
SELECT pg_temp.try($$SELECT courier.register_schema('t', 1, '{"properties": {"a": {"anyOf": [{"type": "string"}]}}}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('t', 1, '{"format": "uuid"}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('t', 1, '{"type": "strnig"}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('t', 1, '{"pattern": "[a-"}')$$);
-- a version never changes, and versions only increase
SELECT pg_temp.try($$SELECT courier.register_schema('order.created', 2, '{"type": "object"}')$$);
SELECT pg_temp.try($$SELECT courier.register_schema('order.created', 4, '{"type": "object", "properties": {"id": {"type": "number"}, "owner": {"type": "string"}, "note": {"type": "string"}}, "additionalProperties": false}')$$);
-- reading
SELECT pg_temp.try($$SELECT courier.get_schema('order.created', 3)$$);
SELECT pg_temp.try($$SELECT courier.get_schema('nothing')$$);
SELECT pg_temp.try($$SELECT courier.get_schema(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM courier.validate_payload('order.created', 3, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM courier.validate_payload('nothing', 1, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM courier.validate_payload(NULL, 1, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM courier.validate_payload('order.created', NULL, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM courier.validate_payload('order.created', 1, NULL)$$);
-- modes
SELECT pg_temp.try($$SELECT courier.set_schema_compatibility('nothing', 'FULL')$$);
SELECT pg_temp.try($$SELECT courier.set_schema_compatibility('order.created', 'SOME')$$);
SELECT pg_temp.try($$SELECT courier.set_schema_compatibility('order.created', NULL)$$);
SELECT pg_temp.try($$SELECT courier.set_schema_compatibility(NULL, 'FULL')$$);
-- deleting
SELECT pg_temp.try($$SELECT courier.delete_schema('order.created', 3)$$);
SELECT pg_temp.try($$SELECT courier.delete_schema('nothing')$$);
SELECT pg_temp.try($$SELECT courier.delete_schema(NULL)$$);
-- require_schema
SELECT pg_temp.try($$SELECT courier.set_require_schema('view', 'q', true)$$);
SELECT pg_temp.try($$SELECT courier.set_require_schema('queue', 'nothing', true)$$);
SELECT pg_temp.try($$SELECT courier.set_require_schema('topic', 'nothing', true)$$);
SELECT pg_temp.try($$SELECT courier.set_require_schema('bus', 'nothing', true)$$);
SELECT pg_temp.try($$SELECT courier.set_require_schema(NULL, 'q', true)$$);
SELECT pg_temp.try($$SELECT courier.set_require_schema('queue', NULL, true)$$);
SELECT pg_temp.try($$SELECT courier.set_require_schema('queue', 'q', NULL)$$);
SELECT pg_temp.state() = :'before' AS nothing_changed;

-- a type's mode, changed: later versions are checked under it
SELECT courier.set_schema_compatibility('order.created', 'none');
SELECT courier.register_schema('order.created', 6, '{"type": "string"}');
SELECT courier.set_schema_compatibility('order.created', 'FORWARD');
-- under FORWARD a new constraint is fine (new data fits the old schema)
SELECT courier.register_schema('order.created', 7, '{"type": "string", "maxLength": 10}');
-- compatibility given to register_schema is checked and becomes the type's mode
SELECT courier.register_schema('order.created', 8, '{"type": "string", "maxLength": 20}', 'BACKWARD');
SELECT pg_temp.try($$SELECT courier.register_schema('order.created', 9, '{"type": "string", "maxLength": 5}')$$);
SELECT message_type, compatibility FROM courier.list_schemas()
 WHERE latest AND message_type IN ('order.created', 'invoice.paid') ORDER BY 1;

-- validate_payload against a registered version
SELECT * FROM courier.validate_payload('order.created', 2, '{"id": 1.5, "owner": 7, "extra": true}');
SELECT count(*) FROM courier.validate_payload('order.created', 2, '{"id": 1, "owner": "x"}');

-- the compiled schema is cached per backend, and never outlives its row:
-- a version deleted and registered again with another schema, even in one
-- transaction, is validated against the new schema
SELECT count(*) AS v1_violations FROM courier.validate_payload('invoice.paid', 1, '"a string"');
BEGIN;
SELECT courier.delete_schema('invoice.paid');
SELECT courier.register_schema('invoice.paid', 1, '{"type": "string"}');
SELECT count(*) AS v1_violations FROM courier.validate_payload('invoice.paid', 1, '"a string"');
SELECT * FROM courier.validate_payload('invoice.paid', 1, '{}');
ROLLBACK;
SELECT * FROM courier.validate_payload('invoice.paid', 1, '"a string"');

-- deleting one version, then all: the type goes with its last version
SELECT courier.delete_schema('order.created', 1);
SELECT array_agg(schema_version ORDER BY schema_version) FROM courier.list_schemas('order.created');
SELECT pg_temp.try($$SELECT * FROM courier.validate_payload('order.created', 1, '{}')$$);
SELECT courier.delete_schema('order.created');
SELECT count(*) FROM courier.schema_types WHERE message_type = 'order.created';
SELECT courier.delete_schema('invoice.paid', 1);
SELECT count(*) FROM courier.schema_types WHERE message_type IN ('order.created', 'invoice.paid');

-- the audit trail
SELECT action, object_name, details FROM courier.audit_log
 WHERE object_kind = 'schema' AND object_name IN ('order.created', 'invoice.paid') ORDER BY audit_id;
