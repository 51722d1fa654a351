-- Security of the whole SQL surface, read from the catalog so that a
-- function or table added later is covered without editing this file
-- (docs/security.md):
--   1. every function of the extension pins search_path;
--   2. a role with no grants can call no function and read no table, view
--      or sequence (PUBLIC has nothing), and is refused with 42501;
--   3. a hostile search_path (shadow functions and operators in an earlier
--      schema) changes nothing for the features beyond queues (bus,
--      workflows, outbox, idempotency, schemas, alarms): their results are
--      the same as under the normal path.  (test/pgtap/04_transactions.sql
--      does the same for the queue functions.)
SET client_min_messages = warning;

-- 1. Functions without a pinned search_path (expected: none).
SELECT p.oid::regprocedure AS function_without_search_path
  FROM pg_proc AS p
  JOIN pg_depend AS d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension AS x ON x.oid = d.refobjid AND x.extname = 'pg_courier'
 WHERE p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
 ORDER BY 1;

-- How many were checked (a guard against the query matching nothing).
SELECT count(*) > 100 AS many_functions_checked
  FROM pg_depend AS d JOIN pg_extension AS x ON x.oid = d.refobjid AND x.extname = 'pg_courier'
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e';

-- 2. A role with no grants.
DROP ROLE IF EXISTS regress_courier_nobody;
CREATE ROLE regress_courier_nobody;
-- (expected: only the five helpers that row-level security, the audit
-- trail, put_target and idempotency keys call as any role, which tell it
-- only about itself)
SELECT d.objid::regprocedure AS callable_without_grants
  FROM pg_depend AS d JOIN pg_extension AS x ON x.oid = d.refobjid AND x.extname = 'pg_courier'
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND has_function_privilege('regress_courier_nobody', d.objid, 'EXECUTE')
 ORDER BY d.objid::regprocedure::text COLLATE "C";
SELECT c.relname AS readable_without_grants, c.relkind
  FROM pg_class AS c
 WHERE c.relnamespace = 'courier'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
   AND (CASE WHEN c.relkind = 'S' THEN has_sequence_privilege('regress_courier_nobody', c.oid, 'USAGE')
             ELSE has_table_privilege('regress_courier_nobody', c.oid, 'SELECT') END)
 ORDER BY 1;
SELECT has_schema_privilege('regress_courier_nobody', 'courier', 'USAGE') AS schema_usage;

-- ... and what that role meets when it tries (each refused with 42501).
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ran';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SET ROLE regress_courier_nobody;
SELECT s AS statement, pg_temp.try(s) AS sqlstate
  FROM unnest(ARRAY[
        'SELECT courier.send(''q'', ''{}'')',
        'SELECT courier.put_events(''b'', ''[]'')',
        'SELECT courier.start_execution(''m'', ''{}'')',
        'SELECT courier.emit_outbox(''order'', ''1'', ''placed'', ''{}'')',
        'SELECT courier.idempotency_claim(''s'', ''k'')',
        'SELECT courier.register_schema(''t'', 1, ''{}'')',
        'SELECT courier.metrics()',
        'SELECT count(*) FROM courier.messages',
        'SELECT count(*) FROM courier.execution_history',
        'SELECT count(*) FROM courier.alarms']) AS s;
RESET ROLE;
DROP ROLE regress_courier_nobody;

-- 3. The newer features under a hostile search_path.  Setup under the
-- normal path; then the same calls, once normally and once under the
-- hostile path, must give the same results.
SELECT courier.create_queue('sec2_q');
SELECT courier.create_bus('sec2_bus');
SELECT courier.put_rule('sec2_bus', 'all', '{"source": ["shop"]}') IS NOT NULL AS rule_put;
SELECT courier.put_target('sec2_bus', 'all', 'q', 'queue:sec2_q');
SELECT courier.create_state_machine('sec2_flow', '{"StartAt": "A", "States": {
    "A": {"Type": "Pass", "Parameters": {"n.$": "$.n", "s.$": "States.Format(''n={}'', $.n)"}, "Next": "C"},
    "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}],
          "Default": "Small"},
    "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": true},
    "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": true}}}');
SELECT courier.register_schema('sec2.type', 1,
    '{"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 0}}}');

CREATE SCHEMA sec2_evil;
CREATE FUNCTION sec2_evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01 00:00:00+00'::timestamptz $$;
CREATE FUNCTION sec2_evil.yes(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION sec2_evil.yes(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION sec2_evil.yes(integer, integer) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION sec2_evil.plus(integer, integer) RETURNS integer LANGUAGE sql AS $$ SELECT 1000 $$;
CREATE FUNCTION sec2_evil.length(text) RETURNS integer LANGUAGE sql AS $$ SELECT 1000 $$;
CREATE FUNCTION sec2_evil.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION sec2_evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION sec2_evil.cardinality(anyarray) RETURNS integer LANGUAGE sql AS $$ SELECT 1000 $$;
CREATE OPERATOR sec2_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec2_evil.yes);
CREATE OPERATOR sec2_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = sec2_evil.yes);
CREATE OPERATOR sec2_evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = sec2_evil.yes);
CREATE OPERATOR sec2_evil.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = sec2_evil.plus);

-- The harness runs under the caller's search_path too, so it qualifies
-- every operator it uses that the hostile schema shadows.
CREATE FUNCTION pg_temp.exercise(tag text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := '{}';
    e bigint;
    o bigint;
BEGIN
    r := r || jsonb_build_object('put_events',
        (SELECT jsonb_agg(p.error_code) FROM courier.put_events('sec2_bus',
            '[{"source": "shop", "detail-type": "t", "detail": {"a": 1}},
              {"source": "shop", "detail-type": "t", "detail": 7}]') AS p));
    e := courier.start_execution('sec2_flow', '{"n": 2}', 'sec2-' || tag);
    PERFORM courier.run_executions(100);
    r := r || jsonb_build_object('execution',
        (SELECT x.status || ' ' || x.output::text FROM courier.executions AS x
          WHERE x.execution_id OPERATOR(pg_catalog.=) e));
    r := r || jsonb_build_object('history',
        (SELECT string_agg(h.type, ' ' ORDER BY h.event_id) FROM courier.get_execution_history(e) AS h));
    o := courier.emit_outbox('order', 'sec2-' || tag, 'placed', '{"n": 1}');
    r := r || jsonb_build_object('outbox',
        (SELECT b.aggregatetype || ' ' || b.type || ' v' || b.aggregate_version FROM courier.outbox AS b
          WHERE b.id OPERATOR(pg_catalog.=) o));
    r := r || jsonb_build_object('claims',
        jsonb_build_array(courier.idempotency_claim('sec2', tag), courier.idempotency_claim('sec2', tag)));
    r := r || jsonb_build_object('violations',
        (SELECT jsonb_agg(v.path || ': ' || v.message ORDER BY v.path)
           FROM courier.validate_payload('sec2.type', 1, '{"n": -1}') AS v));
    RETURN r;
END
$$;

SELECT pg_temp.exercise('a') AS normal \gset
SET search_path = sec2_evil, public, pg_catalog;
SELECT pg_temp.exercise('b') AS hostile \gset
RESET search_path;
-- the controls: the hostile objects really shadow the built-ins there
SET search_path = sec2_evil, public, pg_catalog;
SELECT 'a'::text = 'b'::text AS evil_eq, 1 + 1 AS evil_plus, length('abc') AS evil_length,
       jsonb_typeof('{}') AS evil_typeof;
RESET search_path;
SELECT :'normal'::jsonb AS normal_results;
SELECT :'hostile'::jsonb AS hostile_results;
SELECT :'normal'::jsonb = :'hostile'::jsonb AS same_results_under_hostile_path;

-- leave nothing behind
SELECT courier.drop_bus('sec2_bus');
SELECT courier.delete_state_machine('sec2_flow');
SELECT courier.delete_schema('sec2.type');
SELECT courier.drop_queue('sec2_q');
DROP SCHEMA sec2_evil CASCADE;
