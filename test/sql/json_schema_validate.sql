-- JSON Schema validation, keyword by keyword: each case is a schema and a
-- payload; the violations (path, message) follow, none for a valid payload.
\set VERBOSITY terse
CREATE TEMP TABLE cases (
    case_id     serial PRIMARY KEY,
    keyword     text NOT NULL,
    json_schema jsonb NOT NULL,
    payload     jsonb NOT NULL
);
INSERT INTO cases (keyword, json_schema, payload) VALUES
    -- type: each name, a list of names, integer within number
    ('type', '{"type": "string"}', '"a"'),
    ('type', '{"type": "string"}', '1'),
    ('type', '{"type": "number"}', '1.5'),
    ('type', '{"type": "integer"}', '2'),
    ('type', '{"type": "integer"}', '2.0'),
    ('type', '{"type": "integer"}', '2.5'),
    ('type', '{"type": "boolean"}', 'true'),
    ('type', '{"type": "boolean"}', '"true"'),
    ('type', '{"type": "null"}', 'null'),
    ('type', '{"type": "null"}', '0'),
    ('type', '{"type": "object"}', '{}'),
    ('type', '{"type": "object"}', '[]'),
    ('type', '{"type": "array"}', '[]'),
    ('type', '{"type": "array"}', '{}'),
    ('type', '{"type": ["string", "null"]}', 'null'),
    ('type', '{"type": ["string", "null"]}', '1'),
    -- properties: each property's schema applies where it is present
    ('properties', '{"properties": {"id": {"type": "integer"}}}', '{"id": 1}'),
    ('properties', '{"properties": {"id": {"type": "integer"}}}', '{"id": "1"}'),
    ('properties', '{"properties": {"id": {"type": "integer"}}}', '{}'),
    ('properties', '{"properties": {"a b": {"type": "integer"}, "q\"": {"type": "string"}}}',
                   '{"a b": "x", "q\"": 1}'),
    ('properties', '{"properties": {"a": {"properties": {"b": {"properties": {"c": {"type": "string"}}}}}}}',
                   '{"a": {"b": {"c": 7}}}'),
    ('properties', '{"properties": {"never": false}}', '{"never": 1}'),
    ('properties', '{"properties": {"id": {"type": "integer"}}}', '"not an object"'),
    -- required
    ('required', '{"required": ["id", "owner"]}', '{"id": 1, "owner": "x"}'),
    ('required', '{"required": ["id", "owner"]}', '{"id": 1}'),
    ('required', '{"required": ["id", "owner"]}', '{}'),
    ('required', '{"required": ["id"]}', '{"id": null}'),
    -- additionalProperties: false, or a schema
    ('additionalProperties', '{"properties": {"id": {}}, "additionalProperties": false}', '{"id": 1}'),
    ('additionalProperties', '{"properties": {"id": {}}, "additionalProperties": false}', '{"id": 1, "x": 2, "y": 3}'),
    ('additionalProperties', '{"additionalProperties": {"type": "string"}}', '{"a": "x", "b": 2}'),
    ('additionalProperties', '{"additionalProperties": true}', '{"a": 1}'),
    -- enum: jsonb equality (1 = 1.0, objects regardless of key order)
    ('enum', '{"enum": ["open", "closed"]}', '"open"'),
    ('enum', '{"enum": ["open", "closed"]}', '"held"'),
    ('enum', '{"enum": [1, null, {"a": [1, 2]}]}', '1.0'),
    ('enum', '{"enum": [1, null, {"a": [1, 2]}]}', '{"a": [1, 2]}'),
    ('enum', '{"enum": [1, null, {"a": [1, 2]}]}', '{"a": [2, 1]}'),
    ('enum', '{"enum": ["1"]}', '1'),
    -- const
    ('const', '{"const": "order"}', '"order"'),
    ('const', '{"const": "order"}', '"Order"'),
    ('const', '{"const": {"x": 1, "y": [true]}}', '{"y": [true], "x": 1.00}'),
    ('const', '{"const": null}', 'false'),
    -- items: every element
    ('items', '{"items": {"type": "integer"}}', '[1, 2, 3]'),
    ('items', '{"items": {"type": "integer"}}', '[1, "2", 3, null]'),
    ('items', '{"items": {"required": ["sku"]}}', '[{"sku": "a"}, {}]'),
    ('items', '{"items": {"type": "integer"}}', '[]'),
    ('items', '{"items": false}', '[1]'),
    -- minimum / maximum: inclusive, any number
    ('minimum', '{"minimum": 1}', '1'),
    ('minimum', '{"minimum": 1}', '0.999'),
    ('minimum', '{"minimum": -2.5}', '-3'),
    ('minimum', '{"minimum": 1}', '"0"'),
    ('maximum', '{"maximum": 10}', '10'),
    ('maximum', '{"maximum": 10}', '10.0001'),
    ('maximum', '{"maximum": 0, "minimum": 0}', '0'),
    -- minLength / maxLength: characters, not bytes
    ('minLength', '{"minLength": 2}', '"ab"'),
    ('minLength', '{"minLength": 2}', '"a"'),
    ('minLength', '{"minLength": 2}', '"é"'),
    ('maxLength', '{"maxLength": 3}', '"äöü"'),
    ('maxLength', '{"maxLength": 3}', '"abcd"'),
    ('maxLength', '{"maxLength": 0}', '""'),
    -- pattern: PostgreSQL regular expressions, not anchored
    ('pattern', '{"pattern": "^[A-Z]{3}$"}', '"EUR"'),
    ('pattern', '{"pattern": "^[A-Z]{3}$"}', '"eur"'),
    ('pattern', '{"pattern": "b"}', '"abc"'),
    ('pattern', '{"pattern": "\\d+"}', '"no digits"'),
    ('pattern', '{"pattern": "^a"}', '5'),
    -- format date-time: RFC 3339
    ('format', '{"format": "date-time"}', '"2026-01-02T03:04:05Z"'),
    ('format', '{"format": "date-time"}', '"2026-01-02t03:04:05.123456+05:30"'),
    ('format', '{"format": "date-time"}', '"2024-02-29T23:59:60-00:00"'),
    ('format', '{"format": "date-time"}', '"2026-01-02T03:04:05"'),
    ('format', '{"format": "date-time"}', '"2026-01-02 03:04:05Z"'),
    ('format', '{"format": "date-time"}', '"2026-02-29T00:00:00Z"'),
    ('format', '{"format": "date-time"}', '"2026-13-01T00:00:00Z"'),
    ('format', '{"format": "date-time"}', '"2026-01-02T24:00:00Z"'),
    ('format', '{"format": "date-time"}', '"2026-01-02T03:04:05.Z"'),
    ('format', '{"format": "date-time"}', '"2026-01-02T03:04:05+0530"'),
    ('format', '{"format": "date-time"}', '"2026-01-02"'),
    -- boolean schemas and annotations
    ('true', 'true', '{"anything": [1]}'),
    ('false', 'false', '1'),
    ('annotations', '{"title": "t", "description": "d", "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "$comment": "c", "default": 1, "examples": [1], "deprecated": false, "readOnly": false, "writeOnly": false}', '"any"'),
    -- several keywords, several violations
    ('together', '{"type": "object", "required": ["id", "lines"], "properties": {"id": {"type": "integer", "minimum": 1}, "lines": {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}, "sku": {"type": "string", "pattern": "^[A-Z]+-[0-9]+$"}}, "required": ["sku"], "additionalProperties": false}}, "at": {"type": "string", "format": "date-time"}}}',
                 '{"id": 0, "lines": [{"sku": "AB-1", "qty": 2}, {"qty": 0, "sku": "ab", "gift": true}, {}], "at": "yesterday"}');

SELECT c.case_id, c.keyword, c.payload, v.path, v.message
  FROM cases AS c
  LEFT JOIN LATERAL courier.test_json_schema(c.json_schema, c.payload) AS v ON true
 ORDER BY c.case_id, v.path, v.message;

-- validate_payload() checks against a registered version: the same answers
SELECT courier.register_schema('order.placed', 1, json_schema) FROM cases WHERE keyword = 'together';
SELECT * FROM courier.validate_payload('order.placed', 1,
    '{"id": 0, "lines": [{"sku": "AB-1", "qty": 2}, {"qty": 0, "sku": "ab", "gift": true}, {}], "at": "yesterday"}');
SELECT count(*) AS violations FROM courier.validate_payload('order.placed', 1,
    '{"id": 7, "lines": [{"sku": "AB-1"}], "at": "2026-01-02T03:04:05Z"}');

-- many violations: all of them are listed
SELECT count(*) FROM courier.test_json_schema('{"items": {"type": "string"}}',
    (SELECT jsonb_agg(i) FROM generate_series(1, 500) AS i));

-- schemas that are not checked as written are refused, with the path
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
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"properties": {"a": {"oneOf": []}}}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"$ref": "#/x"}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"format": "email"}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"items": [{"type": "string"}]}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"exclusiveMinimum": 1}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"type": "text"}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"type": []}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"type": 1}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"properties": []}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"properties": {"a": 1}}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"required": "a"}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"required": [1]}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"enum": []}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"minimum": "1"}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"minimum": 2, "maximum": 1}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"minLength": -1}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"maxLength": 1.5}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"minLength": 3, "maxLength": 2}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"pattern": "(unclosed"}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"pattern": 1}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{"format": 1}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('"string"', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('[]', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema(NULL, '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_json_schema('{}', NULL)$$);
SELECT courier.delete_schema('order.placed');
