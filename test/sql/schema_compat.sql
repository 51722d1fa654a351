-- The compatibility checker, table-driven: one table of cases per mode
-- (old versions, new schema, whether it may follow them, and the report of
-- what broke), checked twice: by test_schema_compatibility() alone, and by
-- register_schema() on a type whose earlier versions were registered under
-- NONE (so any history can be set up).  Every row must say true; the
-- mismatches query must return nothing.
\set VERBOSITY terse
CREATE TEMP TABLE compat_cases (
    case_id     serial PRIMARY KEY,
    mode        text NOT NULL,
    name        text NOT NULL,
    previous    jsonb[] NOT NULL,
    new_schema  jsonb NOT NULL,
    accepted    boolean NOT NULL,
    report      text[] NOT NULL
);

INSERT INTO compat_cases (mode, name, previous, new_schema, accepted, report) VALUES
    ('BACKWARD', 'add optional property to a closed model',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"additionalProperties":false}',
     true, '{}'),
    ('BACKWARD', 'field became required',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"},"owner":{"type":"string"}},"additionalProperties":false}']::jsonb[],
     '{"type":"object","required":["owner"],"properties":{"id":{"type":"integer"},"owner":{"type":"string"}},"additionalProperties":false}',
     false, ARRAY[
      '$.owner: became required (backward, against version 1)']),
    ('BACKWARD', 'property removed under a closed model',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"additionalProperties":false}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}',
     false, ARRAY[
      '$.name: property is no longer allowed (backward, against version 1)']),
    ('BACKWARD', 'type widened integer to number',
     ARRAY['{"type":"object","properties":{"n":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"n":{"type":"number"}}}',
     true, '{}'),
    ('BACKWARD', 'type narrowed number to integer',
     ARRAY['{"type":"object","properties":{"n":{"type":"number"}}}']::jsonb[],
     '{"type":"object","properties":{"n":{"type":"integer"}}}',
     false, ARRAY[
      '$.n: type changed from "number" to "integer" (backward, against version 1)']),
    ('BACKWARD', 'type changed string to array',
     ARRAY['{"properties":{"tags":{"type":"string"}}}']::jsonb[],
     '{"properties":{"tags":{"type":"array","items":{"type":"string"}}}}',
     false, ARRAY[
      '$.tags: type changed from "string" to "array" (backward, against version 1)']),
    ('BACKWARD', 'enum value added',
     ARRAY['{"properties":{"status":{"enum":["open","closed"]}}}']::jsonb[],
     '{"properties":{"status":{"enum":["open","closed","held"]}}}',
     true, '{}'),
    ('BACKWARD', 'enum value removed',
     ARRAY['{"properties":{"status":{"enum":["open","closed","held"]}}}']::jsonb[],
     '{"properties":{"status":{"enum":["open","closed"]}}}',
     false, ARRAY[
      '$.status: enum value "held" removed (backward, against version 1)']),
    ('BACKWARD', 'property added to an open model',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}}}',
     false, ARRAY[
      '$.name: property added to an open content model (old data may hold any value there) (backward, against version 1)']),
    ('BACKWARD', 'minimum raised, maxLength lowered',
     ARRAY['{"properties":{"n":{"type":"integer","minimum":0},"s":{"type":"string","maxLength":10}}}']::jsonb[],
     '{"properties":{"n":{"type":"integer","minimum":1},"s":{"type":"string","maxLength":5}}}',
     false, ARRAY[
      '$.n: minimum raised from 0 to 1 (backward, against version 1)',
      '$.s: maxLength lowered from 10 to 5 (backward, against version 1)']),
    ('BACKWARD', 'required dropped',
     ARRAY['{"type":"object","required":["id"],"properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}}}',
     true, '{}'),
    ('BACKWARD', 'additionalProperties closed',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}',
     false, ARRAY[
      '$: additionalProperties closed (old data may have other properties) (backward, against version 1)']),
    ('BACKWARD', 'only the latest counts',
     ARRAY['{"type":"object","required":["id"],"properties":{"id":{"type":"integer"}}}', '{"type":"object","properties":{"id":{"type":"string"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"string"}}}',
     true, '{}'),
    ('BACKWARD', 'nested items narrowed',
     ARRAY['{"properties":{"lines":{"type":"array","items":{"type":"object","properties":{"qty":{"type":"number"}}}}}}']::jsonb[],
     '{"properties":{"lines":{"type":"array","items":{"type":"object","properties":{"qty":{"type":"integer","minimum":1}}}}}}',
     false, ARRAY[
      '$.lines[*].qty: type changed from "number" to "integer" (backward, against version 1)',
      '$.lines[*].qty: minimum 1 added (backward, against version 1)']),
    ('BACKWARD_TRANSITIVE', 'passes the latest, fails an older version',
     ARRAY['{"type":"object","required":["id"],"properties":{"id":{"type":"integer"}}}', '{"type":"object","properties":{"id":{"type":"string"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"string"}}}',
     false, ARRAY[
      '$.id: type changed from "integer" to "string" (backward, against version 1)']),
    ('BACKWARD_TRANSITIVE', 'compatible with every version',
     ARRAY['{"type":"object","properties":{"n":{"type":"integer"}},"additionalProperties":false}', '{"type":"object","properties":{"n":{"type":"integer"},"m":{"type":"string"}},"additionalProperties":false}']::jsonb[],
     '{"type":"object","properties":{"n":{"type":"number"},"m":{"type":"string"},"o":{"type":"boolean"}},"additionalProperties":false}',
     true, '{}'),
    ('BACKWARD_TRANSITIVE', 'became required against every version',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"},"owner":{"type":"string"}},"additionalProperties":false}', '{"type":"object","properties":{"id":{"type":"integer"},"owner":{"type":"string"}},"additionalProperties":false}']::jsonb[],
     '{"type":"object","required":["owner"],"properties":{"id":{"type":"integer"},"owner":{"type":"string"}},"additionalProperties":false}',
     false, ARRAY[
      '$.owner: became required (backward, against version 2)',
      '$.owner: became required (backward, against version 1)']),
    ('BACKWARD_TRANSITIVE', 'first version',
     '{}',
     '{"type":"object"}',
     true, '{}'),
    ('BACKWARD_TRANSITIVE', 'enum value of an older version removed',
     ARRAY['{"enum":["a","b","c"]}', '{"enum":["a","b"]}']::jsonb[],
     '{"enum":["a","b","d"]}',
     false, ARRAY[
      '$: enum value "c" removed (backward, against version 1)']),
    ('BACKWARD_TRANSITIVE', 'maxLength of an older version',
     ARRAY['{"type":"string"}', '{"type":"string","maxLength":8}']::jsonb[],
     '{"type":"string","maxLength":8}',
     false, ARRAY[
      '$: maxLength 8 added (backward, against version 1)']),
    ('FORWARD', 'property removed from a closed model',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"additionalProperties":false}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}',
     true, '{}'),
    ('FORWARD', 'property added to a closed model',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"additionalProperties":false}',
     false, ARRAY[
      '$.name: property added, but the old schema does not allow it (forward, against version 1)']),
    ('FORWARD', 'property added to an open model',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}}}',
     true, '{}'),
    ('FORWARD', 'type narrowed number to integer',
     ARRAY['{"type":"object","properties":{"n":{"type":"number"}}}']::jsonb[],
     '{"type":"object","properties":{"n":{"type":"integer"}}}',
     true, '{}'),
    ('FORWARD', 'type widened integer to number',
     ARRAY['{"type":"object","properties":{"n":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"n":{"type":"number"}}}',
     false, ARRAY[
      '$.n: type changed from "integer" to "number" (forward, against version 1)']),
    ('FORWARD', 'enum value added',
     ARRAY['{"properties":{"status":{"enum":["open","closed"]}}}']::jsonb[],
     '{"properties":{"status":{"enum":["open","closed","held"]}}}',
     false, ARRAY[
      '$.status: enum value "held" added (forward, against version 1)']),
    ('FORWARD', 'field no longer required',
     ARRAY['{"type":"object","required":["id"],"properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}}}',
     false, ARRAY[
      '$.id: is no longer required (forward, against version 1)']),
    ('FORWARD', 'property removed from an open model',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object"}',
     false, ARRAY[
      '$.id: property removed from an open content model (new data may hold any value there) (forward, against version 1)']),
    ('FORWARD', 'minimum lowered, pattern removed',
     ARRAY['{"properties":{"n":{"type":"integer","minimum":1},"code":{"type":"string","pattern":"^[A-Z]{3}$"}}}']::jsonb[],
     '{"properties":{"n":{"type":"integer","minimum":0},"code":{"type":"string"}}}',
     false, ARRAY[
      '$.code: pattern "^[A-Z]{3}$" removed (forward, against version 1)',
      '$.n: minimum lowered from 1 to 0 (forward, against version 1)']),
    ('FORWARD', 'only the latest counts',
     ARRAY['{"type":"object","properties":{"n":{"type":"integer"}}}', '{"type":"object","properties":{"n":{"type":"number"}}}']::jsonb[],
     '{"type":"object","properties":{"n":{"type":"number"}}}',
     true, '{}'),
    ('FORWARD_TRANSITIVE', 'passes the latest, fails an older version',
     ARRAY['{"type":"object","properties":{"n":{"type":"integer"}}}', '{"type":"object","properties":{"n":{"type":"number"}}}']::jsonb[],
     '{"type":"object","properties":{"n":{"type":"number"}}}',
     false, ARRAY[
      '$.n: type changed from "integer" to "number" (forward, against version 1)']),
    ('FORWARD_TRANSITIVE', 'compatible with every version',
     ARRAY['{"type":"object","properties":{"n":{"type":"number"}}}', '{"type":"object","properties":{"n":{"type":"number"},"m":{"type":"string"}}}']::jsonb[],
     '{"type":"object","required":["n"],"properties":{"n":{"type":"integer"},"m":{"type":"string","maxLength":4}}}',
     true, '{}'),
    ('FORWARD_TRANSITIVE', 'first version',
     '{}',
     '{"type":"string"}',
     true, '{}'),
    ('FORWARD_TRANSITIVE', 'enum value added against every version',
     ARRAY['{"enum":["a","b"]}', '{"enum":["a","b"]}']::jsonb[],
     '{"enum":["a","b","c"]}',
     false, ARRAY[
      '$: enum value "c" added (forward, against version 2)',
      '$: enum value "c" added (forward, against version 1)']),
    ('FORWARD_TRANSITIVE', 'required by an older version only',
     ARRAY['{"type":"object","required":["id"],"properties":{"id":{"type":"integer"}}}', '{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}}}',
     false, ARRAY[
      '$.id: is no longer required (forward, against version 1)']),
    ('FORWARD_TRANSITIVE', 'date-time format of an older version dropped',
     ARRAY['{"properties":{"at":{"type":"string","format":"date-time"}}}', '{"properties":{"at":{"type":"string"}}}']::jsonb[],
     '{"properties":{"at":{"type":"string"}}}',
     false, ARRAY[
      '$.at: format "date-time" removed (forward, against version 1)']),
    ('FULL', 'identical schema',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}',
     true, '{}'),
    ('FULL', 'annotations and enum order only',
     ARRAY['{"title":"Order","properties":{"status":{"enum":["open","closed"]}}}']::jsonb[],
     '{"title":"Order placed","description":"v2","properties":{"status":{"enum":["closed","open"],"description":"state"}}}',
     true, '{}'),
    ('FULL', 'optional property with any value, open model',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"},"note":{}}}',
     true, '{}'),
    ('FULL', 'property added to a closed model',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"additionalProperties":false}',
     false, ARRAY[
      '$.name: property added, but the old schema does not allow it (forward, against version 1)']),
    ('FULL', 'enum value removed',
     ARRAY['{"properties":{"status":{"enum":["open","closed","held"]}}}']::jsonb[],
     '{"properties":{"status":{"enum":["open","closed"]}}}',
     false, ARRAY[
      '$.status: enum value "held" removed (backward, against version 1)']),
    ('FULL', 'pattern changed',
     ARRAY['{"properties":{"code":{"type":"string","pattern":"^[A-Z]{3}$"}}}']::jsonb[],
     '{"properties":{"code":{"type":"string","pattern":"^[A-Z]{2,3}$"}}}',
     false, ARRAY[
      '$.code: pattern changed from "^[A-Z]{3}$" to "^[A-Z]{2,3}$" (backward, against version 1)',
      '$.code: pattern changed from "^[A-Z]{3}$" to "^[A-Z]{2,3}$" (forward, against version 1)']),
    ('FULL', 'only the latest counts',
     ARRAY['{"type":"object","properties":{"id":{"type":"string"}}}', '{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}}}',
     true, '{}'),
    ('FULL_TRANSITIVE', 'passes the latest, fails an older version',
     ARRAY['{"type":"object","properties":{"id":{"type":"string"}}}', '{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}}}',
     false, ARRAY[
      '$.id: type changed from "string" to "integer" (backward, against version 1)',
      '$.id: type changed from "string" to "integer" (forward, against version 1)']),
    ('FULL_TRANSITIVE', 'compatible with every version',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}}}', '{"type":"object","title":"v2","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","description":"v3","properties":{"id":{"type":"integer","title":"id"}}}',
     true, '{}'),
    ('FULL_TRANSITIVE', 'first version',
     '{}',
     '{"type":"object"}',
     true, '{}'),
    ('FULL_TRANSITIVE', 'const changed',
     ARRAY['{"properties":{"kind":{"const":"order"}}}', '{"properties":{"kind":{"const":"order"}}}']::jsonb[],
     '{"properties":{"kind":{"const":"purchase"}}}',
     false, ARRAY[
      '$.kind: const changed from "order" to "purchase" (backward, against version 2)',
      '$.kind: const changed from "order" to "purchase" (forward, against version 2)',
      '$.kind: const changed from "order" to "purchase" (backward, against version 1)',
      '$.kind: const changed from "order" to "purchase" (forward, against version 1)']),
    ('FULL_TRANSITIVE', 'closed in an older version only',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}', '{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","properties":{"id":{"type":"integer"}}}',
     false, ARRAY[
      '$: additionalProperties opened (the old schema allows no other properties) (forward, against version 1)']),
    ('FULL_TRANSITIVE', 'maximum raised against every version',
     ARRAY['{"type":"integer","maximum":10}', '{"type":"integer","maximum":10}']::jsonb[],
     '{"type":"integer","maximum":20}',
     false, ARRAY[
      '$: maximum raised from 10 to 20 (forward, against version 2)',
      '$: maximum raised from 10 to 20 (forward, against version 1)']),
    ('NONE', 'type changed entirely',
     ARRAY['{"type":"object"}']::jsonb[],
     '{"type":"string"}',
     true, '{}'),
    ('NONE', 'field became required',
     ARRAY['{"type":"object","properties":{"id":{"type":"integer"}}}']::jsonb[],
     '{"type":"object","required":["id"],"properties":{"id":{"type":"integer"}}}',
     true, '{}'),
    ('NONE', 'enum value removed',
     ARRAY['{"enum":["a","b"]}']::jsonb[],
     '{"enum":["a"]}',
     true, '{}'),
    ('NONE', 'additionalProperties closed',
     ARRAY['{"type":"object"}']::jsonb[],
     '{"type":"object","additionalProperties":false}',
     true, '{}'),
    ('NONE', 'first version',
     '{}',
     '{"type":"boolean"}',
     true, '{}'),
    ('NONE', 'every older version differs',
     ARRAY['{"type":"string"}', '{"type":"integer"}']::jsonb[],
     '{"type":"null"}',
     true, '{}');

-- every mode has its cases, accepted and rejected ones
SELECT mode, count(*) AS cases, count(*) FILTER (WHERE accepted) AS accepted,
       count(*) FILTER (WHERE NOT accepted) AS rejected
  FROM compat_cases GROUP BY mode ORDER BY mode;

-- 1. the checker alone
CREATE TEMP TABLE checked AS
SELECT c.case_id,
       coalesce((SELECT array_agg(r) FROM courier.test_schema_compatibility(c.new_schema, c.previous, c.mode) AS r),
                '{}') AS report
  FROM compat_cases AS c;

SELECT c.case_id, c.mode, c.name, c.accepted,
       (k.report = '{}') = c.accepted AS verdict_ok, k.report = c.report AS report_ok
  FROM compat_cases AS c JOIN checked AS k USING (case_id)
 ORDER BY c.case_id;

SELECT c.case_id, c.name, k.report AS actual, c.report AS expected
  FROM compat_cases AS c JOIN checked AS k USING (case_id)
 WHERE k.report IS DISTINCT FROM c.report;

-- 2. register_schema() decides the same, and reports the same lines in its
-- error's detail (SQLSTATE CS001); a rejected version is not registered.
CREATE TEMP TABLE registered (case_id integer, accepted boolean, sqlstate text, detail text,
                              versions integer);
DO $$
DECLARE
    c record;
    t text;
    i integer;
    st text;
    det text;
BEGIN
    FOR c IN SELECT * FROM compat_cases ORDER BY case_id LOOP
        t := 'case-' || c.case_id;
        FOR i IN 1 .. coalesce(cardinality(c.previous), 0) LOOP
            PERFORM courier.register_schema(t, i, c.previous[i], 'NONE');
        END LOOP;
        st := NULL;
        det := NULL;
        BEGIN
            PERFORM courier.register_schema(t, coalesce(cardinality(c.previous), 0) + 1,
                                            c.new_schema, c.mode);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
        END;
        INSERT INTO registered
        VALUES (c.case_id, st IS NULL, st, det,
                (SELECT count(*) FROM courier.schemas AS s WHERE s.message_type = t));
    END LOOP;
END
$$;

SELECT c.case_id, c.mode, r.accepted = c.accepted AS verdict_ok, r.sqlstate,
       coalesce(r.detail, '') = array_to_string(c.report, E'\n') AS detail_ok,
       r.versions = coalesce(cardinality(c.previous), 0) + CASE WHEN c.accepted THEN 1 ELSE 0 END
           AS versions_ok
  FROM compat_cases AS c JOIN registered AS r USING (case_id)
 ORDER BY c.case_id;

-- the mode given to register_schema() became the type's mode
SELECT count(*) AS types_in_their_case_mode
  FROM compat_cases AS c
  JOIN courier.schema_types AS t ON t.message_type = 'case-' || c.case_id
 WHERE t.compatibility = c.mode OR (NOT c.accepted AND t.compatibility = 'NONE');
SELECT count(*) AS cases FROM compat_cases;

-- bad arguments
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT pg_temp.try($$SELECT courier.test_schema_compatibility('{}', '{}', 'SIDEWAYS')$$);
SELECT pg_temp.try($$SELECT courier.test_schema_compatibility('{}', ARRAY[NULL]::jsonb[])$$);
SELECT pg_temp.try($$SELECT courier.test_schema_compatibility('{}', NULL)$$);
SELECT pg_temp.try($$SELECT courier.test_schema_compatibility('{"anyOf": []}', '{}')$$);
SELECT pg_temp.try($$SELECT courier.test_schema_compatibility('{}', ARRAY['{"type": 1}'::jsonb])$$);
SELECT pg_temp.try($$SELECT courier.test_schema_compatibility('{}', ARRAY[ARRAY['{}'::jsonb]])$$);
-- modes are matched without regard to case
SELECT count(*) FROM courier.test_schema_compatibility('{"type": "string"}', ARRAY['{"type": "integer"}'::jsonb], 'full_transitive');

-- leave no types behind for later suites
SELECT sum(courier.delete_schema(message_type)) AS versions_deleted
  FROM courier.schema_types WHERE message_type LIKE 'case-%';
