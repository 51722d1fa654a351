-- courier.grant() and courier.revoke(): the SQL surface (docs/security.md#courier-grants).
--   1. bad input: each refusal with its SQLSTATE, message and hint, and
--      nothing written;
--   2. role separation: a role holding only courier grants, function by
--      function, what it may do and what it is refused (42501);
--   3. a hostile search_path (shadow functions and operators in an earlier
--      schema) changes nothing for grant(), revoke() and a grant-only role's
--      calls.
SET client_min_messages = warning;
\set VERBOSITY default
\set SHOW_CONTEXT never
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['regress_gr_app', 'regress_gr_tenant', 'regress_gr_other'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
        EXECUTE format('CREATE ROLE %I', r);
    END LOOP;
END
$$;
SELECT courier.create_queue('gr_q');
SELECT courier.create_queue('gr_private');
SELECT courier.create_topic('gr_t');
SELECT courier.subscribe('gr_t', 'gr_q') IS NOT NULL AS subscribed;

-- 1. Bad input.
SELECT courier.grant(NULL, 'queue', 'gr_q', 'regress_gr_app');
SELECT courier.grant('send', 'table', 'gr_q', 'regress_gr_app');
SELECT courier.grant('write', 'queue', 'gr_q', 'regress_gr_app');
SELECT courier.grant('publish', 'queue', 'gr_q', 'regress_gr_app');
SELECT courier.grant('send', 'queue', 'gr_nowhere', 'regress_gr_app');
SELECT courier.grant('send', 'queue', 'gr_q', 'regress_gr_nobody');
SELECT courier.grant('send', 'queue', 'gr_q', 'regress_gr_app', '');
SELECT courier.grant('subscribe', 'topic', 'gr_t', 'regress_gr_app', 'acme');
SELECT count(*) AS grants_written FROM courier.grants WHERE grantee::text LIKE 'regress_gr%';

-- 2. Role separation: regress_gr_app may send to and receive from gr_q,
-- publish to gr_t, and nothing else.
SELECT courier.grant('send', 'queue', 'gr_q', 'regress_gr_app') AS granted;
SELECT courier.grant('receive', 'queue', 'gr_q', 'regress_gr_app') AS granted;
SELECT courier.grant('publish', 'topic', 'gr_t', 'regress_gr_app') AS granted;
SELECT privilege, object_kind, object_name, grantee, tenant_id
  FROM courier.grants WHERE grantee::text LIKE 'regress_gr%' ORDER BY 1, 2, 3;
-- what courier.grant() gave in PostgreSQL terms: USAGE and EXECUTE, no table
SELECT has_schema_privilege('regress_gr_app', 'courier', 'USAGE') AS schema_usage;
SELECT p.oid::regprocedure AS executable
  FROM pg_proc AS p
 WHERE p.pronamespace = 'courier'::regnamespace
   AND has_function_privilege('regress_gr_app', p.oid, 'EXECUTE')
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT c.relname AS readable
  FROM pg_class AS c
 WHERE c.relnamespace = 'courier'::regnamespace AND c.relkind IN ('r', 'p', 'v')
   AND has_table_privilege('regress_gr_app', c.oid, 'SELECT');

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    res text;
BEGIN
    EXECUTE stmt INTO res;
    RETURN 'ok ' || coalesce(res, 'null');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.try_as(r text, stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    res text;
BEGIN
    EXECUTE format('SET ROLE %I', r);
    res := pg_temp.try(stmt);
    RESET ROLE;
    RETURN res;
END
$$;
SET ROLE regress_gr_app;
SELECT s AS statement, pg_temp.try(s) AS outcome
  FROM unnest(ARRAY[
        'SELECT courier.send(''gr_q'', ''{"n": 1}'') > 0',
        'SELECT count(*) FROM courier.send_batch(''gr_q'', ARRAY[''{"n": 2}'']::jsonb[])',
        'SELECT courier.publish(''gr_t'', ''{"n": 3}'') > 0',
        'SELECT string_agg(payload->>''n'', '','' ORDER BY msg_id) FROM courier.receive(''gr_q'', 10, ''1 hour'')',
        'SELECT courier.send(''gr_private'', ''{}'')',
        'SELECT count(*) FROM courier.receive(''gr_private'')',
        'SELECT courier.purge_queue(''gr_q'')',
        'SELECT courier.drop_queue(''gr_q'')',
        'SELECT courier.subscribe(''gr_t'', ''gr_private'')',
        'SELECT courier.grant(''send'', ''queue'', ''gr_private'', ''regress_gr_app'')',
        'SELECT courier.create_queue(''gr_mine'')',
        'SELECT count(*) FROM courier.messages',
        'SELECT count(*) FROM courier.grants',
        'SELECT count(*) FROM courier.audit_log']) AS s;
RESET ROLE;

-- a tenant-bound role: its tenant's messages only
SELECT courier.grant('send', 'queue', 'gr_q', 'regress_gr_tenant', 'acme') AS granted;
SELECT courier.grant('receive', 'queue', 'gr_q', 'regress_gr_tenant', 'acme') AS granted;
SELECT courier.grant('send', 'queue', 'gr_q', 'regress_gr_tenant');
SELECT courier.send('gr_q', '{"n": "globex"}', '{"tenant_id": "globex"}') > 0 AS sent;
SET ROLE regress_gr_tenant;
SELECT s AS statement, pg_temp.try(s) AS outcome
  FROM unnest(ARRAY[
        'SELECT courier.send(''gr_q'', ''{"n": "acme"}'') > 0',
        'SELECT courier.send(''gr_q'', ''{}'', ''{"tenant_id": "globex"}'')',
        'SELECT string_agg(payload->>''n'' || ''/'' || tenant_id, '','') FROM courier.receive(''gr_q'', 10)']) AS s;
RESET ROLE;
SELECT tenant_id, payload->>'n' AS n FROM courier.messages WHERE queue_name = 'gr_q' ORDER BY msg_id;

-- 3. A hostile search_path.
CREATE SCHEMA gr_evil;
GRANT USAGE ON SCHEMA gr_evil TO PUBLIC;
CREATE FUNCTION gr_evil.yes(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION gr_evil.yes(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION gr_evil.yes(name, name) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION gr_evil.yes(oid, oid) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR gr_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = gr_evil.yes);
CREATE OPERATOR gr_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = gr_evil.yes);
CREATE OPERATOR gr_evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = gr_evil.yes);
CREATE OPERATOR gr_evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = gr_evil.yes);
CREATE FUNCTION gr_evil.has_privs_of_role(name, name) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION gr_evil.pg_has_role(oid, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION pg_temp.exercise() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    out text := '';
BEGIN
    out := out || ' grant:' || courier.grant('send', 'queue', 'gr_private', 'regress_gr_other')::text;
    out := out || ' again:' || courier.grant('send', 'queue', 'gr_private', 'regress_gr_other')::text;
    out := out || ' execute:' || has_function_privilege('regress_gr_other',
        'courier.send(text, jsonb, jsonb, interval, text, text)', 'EXECUTE')::text;
    out := out || ' other_send:' || pg_temp.try_as('regress_gr_other', 'SELECT courier.send(''gr_private'', ''{}'') > 0');
    out := out || ' other_elsewhere:' || left(pg_temp.try_as('regress_gr_other', 'SELECT courier.send(''gr_q'', ''{}'')'), 5);
    out := out || ' revoke:' || courier.revoke('send', 'queue', 'gr_private', 'regress_gr_other')::text;
    out := out || ' revoked_send:' || left(pg_temp.try_as('regress_gr_other', 'SELECT courier.send(''gr_private'', ''{}'')'), 5);
    RETURN out;
END
$$;
SELECT pg_temp.exercise() AS normal \gset
SELECT courier.purge_queue('gr_private') AS purged;
SET search_path = gr_evil, public, pg_catalog;
SELECT pg_temp.exercise() AS hostile \gset
RESET search_path;
-- the control: the hostile operator really shadows the built-in there
SET search_path = gr_evil, public, pg_catalog;
SELECT 'a'::text = 'b'::text AS evil_eq;
RESET search_path;
SELECT :'normal' AS normal_results;
SELECT :'normal' = :'hostile' AS same_results_under_hostile_path;
SELECT count(*) AS grants_left FROM courier.grants WHERE grantee::text = 'regress_gr_other';

-- leave nothing behind
SELECT courier.drop_topic('gr_t');
SELECT courier.drop_queue('gr_q');
SELECT courier.drop_queue('gr_private');
DELETE FROM courier.grants WHERE grantee::text LIKE 'regress_gr%';
DELETE FROM courier.audit_log WHERE object_name LIKE 'gr\_%';
DROP SCHEMA gr_evil CASCADE;
DROP OWNED BY regress_gr_app, regress_gr_tenant, regress_gr_other;
DROP ROLE regress_gr_app, regress_gr_tenant, regress_gr_other;
