-- Per-object privileges and tenant binding (src/grants.c,
-- docs/security.md#courier-grants).

-- One row per privilege a role holds on an object (object_name '*': every
-- object of the kind, also those created later).  tenant_id binds the grant
-- to the messages of one tenant.
CREATE TABLE courier.grants (
    object_kind     text NOT NULL,
    object_name     text NOT NULL,
    privilege       text NOT NULL,
    grantee         regrole NOT NULL,
    tenant_id       text,
    granted_by      name NOT NULL,
    granted_at      timestamptz NOT NULL,
    CONSTRAINT grants_object_kind_check
        CHECK (object_kind IN ('queue', 'topic', 'bus', 'state_machine')),
    CONSTRAINT grants_privilege_check
        CHECK (privilege IN ('send', 'receive', 'publish', 'subscribe', 'put_events',
                             'start_execution', 'manage')),
    CONSTRAINT grants_tenant_id_check
        CHECK (tenant_id IS NULL
               OR (length(tenant_id) BETWEEN 1 AND 256
                   AND privilege IN ('send', 'receive', 'publish', 'manage')))
);
CREATE UNIQUE INDEX grants_key
    ON courier.grants (object_kind, object_name, privilege, grantee, (coalesce(tenant_id, '')));
CREATE INDEX grants_grantee ON courier.grants (grantee);
COMMENT ON TABLE courier.grants IS
    'per-object privileges given with courier.grant(); tenant_id binds one to a tenant''s messages';
SELECT pg_catalog.pg_extension_config_dump('courier.grants', '');

-- Every change makes the backends read the grants again (src/grants.c).
CREATE FUNCTION courier._grants_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'courier_grants_changed'
LANGUAGE C;
CREATE TRIGGER grants_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON courier.grants
    FOR EACH STATEMENT EXECUTE FUNCTION courier._grants_changed();

-- Internal: the tenants the running call is restricted to (NULL: none).
CREATE FUNCTION courier._acting_tenants()
RETURNS text[]
AS 'MODULE_PATHNAME', 'courier_acting_tenants'
LANGUAGE C VOLATILE;

-- Internal: whether the caller of the running call may also act on another
-- object (true when the call does not act through a grant).
CREATE FUNCTION courier._may(privilege text, object_kind text, object_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_may'
LANGUAGE C VOLATILE;

-- Internal: check the arguments of grant() and revoke() (verb says which);
-- returns the role.
CREATE FUNCTION courier._check_grant(verb text, privilege text, object_kind text,
                                     object_name text, role name, tenant_id text)
RETURNS regrole
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kinds constant jsonb := '{"send": "queue", "receive": "queue", "publish": "topic",
                              "subscribe": "topic", "put_events": "bus",
                              "start_execution": "state_machine"}';
    r oid;
    tenants text[] := courier._acting_tenants();
BEGIN
    PERFORM courier._require('privilege', privilege IS NULL);
    PERFORM courier._require('object_kind', object_kind IS NULL);
    PERFORM courier._require('object_name', object_name IS NULL);
    PERFORM courier._require('role', role IS NULL);
    IF object_kind NOT IN ('queue', 'topic', 'bus', 'state_machine') THEN
        RAISE EXCEPTION 'unknown object kind "%"', object_kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kinds are queue, topic, bus and state_machine.';
    END IF;
    IF privilege <> 'manage' AND NOT kinds ? privilege THEN
        RAISE EXCEPTION 'unknown privilege "%"', privilege
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The privileges are send, receive, publish, subscribe, put_events, start_execution and manage.';
    END IF;
    IF privilege <> 'manage' AND kinds->>privilege <> object_kind THEN
        RAISE EXCEPTION 'privilege % applies to a %, not to a %', privilege,
                        replace(kinds->>privilege, '_', ' '), replace(object_kind, '_', ' ')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- (a grant may outlive its object: it applies again to one created with
    -- the same name, and can still be revoked; a manage grant may name an
    -- object to be created: it lets the role create it)
    IF verb = 'grant' AND privilege <> 'manage' AND object_name <> '*' AND NOT (CASE object_kind
            WHEN 'queue' THEN EXISTS (SELECT 1 FROM courier.queues AS q WHERE q.queue_name = object_name)
            WHEN 'topic' THEN EXISTS (SELECT 1 FROM courier.topics AS t WHERE t.topic_name = object_name)
            WHEN 'bus' THEN EXISTS (SELECT 1 FROM courier.buses AS b WHERE b.bus_name = object_name)
            ELSE EXISTS (SELECT 1 FROM courier.state_machines AS m
                          WHERE m.state_machine_name = object_name) END) THEN
        RAISE EXCEPTION '% "%" does not exist', replace(object_kind, '_', ' '), object_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Name an existing object, or ''*'' for every object of the kind.';
    END IF;
    SELECT a.oid INTO r FROM pg_roles AS a WHERE a.rolname = role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', role
            USING ERRCODE = 'undefined_object';
    END IF;
    IF tenant_id IS NOT NULL THEN
        IF length(tenant_id) NOT BETWEEN 1 AND 256 THEN
            RAISE EXCEPTION 'tenant_id must have 1 to 256 characters'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF privilege NOT IN ('send', 'receive', 'publish', 'manage') THEN
            RAISE EXCEPTION 'a grant of % cannot be bound to a tenant', privilege
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A tenant binds the messages of queues and topics (their tenant_id); subscriptions, events and executions have none.',
                      HINT = 'Grant it without tenant_id.';
        END IF;
    END IF;
    -- A role bound to tenants by its grants acting through a tenant-bound
    -- manage grant gives only grants bound to its tenants.
    IF tenants IS NOT NULL AND (tenant_id IS NULL OR NOT tenant_id = ANY (tenants)) THEN
        RAISE EXCEPTION 'permission denied to % % on % "%" %', verb, privilege,
                        replace(object_kind, '_', ' '), object_name,
                        CASE WHEN tenant_id IS NULL THEN 'without a tenant'
                             ELSE format('for tenant "%s"', tenant_id) END
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('The manage grants of role "%s" on it are bound to the tenants %s.',
                                  courier._acting_role(), array_to_string(tenants, ', '));
    END IF;
    -- Acting as themselves, only the extension's owner (or a member) and
    -- superusers may give grants: courier.grant() gives EXECUTE on functions.
    IF courier._acting_role() = current_user
       AND NOT pg_has_role((SELECT n.nspowner FROM pg_namespace AS n WHERE n.nspname = 'courier'),
                           'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to % % on % "%"', verb, privilege,
                        replace(object_kind, '_', ' '), object_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role "%s" holds no manage grant on it.', current_user),
                  HINT = 'A superuser, the extension''s owner or a role holding manage on the object can.';
    END IF;
    RETURN r::regrole;
END
$$;

-- The functions a privilege is used through, which grant() lets the role
-- execute (the bodies they call need nothing: see src/grants.c).
CREATE FUNCTION courier._grant_functions(privilege text, object_kind text)
RETURNS regprocedure[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE privilege
        WHEN 'send' THEN ARRAY['courier.send(text, jsonb, jsonb, interval, text, text)',
                               'courier.send_batch(text, jsonb[], jsonb[], interval, text[], text[])']
        WHEN 'receive' THEN ARRAY['courier.receive(text, integer, interval, interval)',
                                  'courier.delete(text, text)', 'courier.delete_batch(text, text[])',
                                  'courier.change_visibility(text, text, interval)',
                                  'courier.release(text, text, text, interval)',
                                  'courier.delete_once(text, text, text, interval)']
        WHEN 'publish' THEN ARRAY['courier.publish(text, jsonb, jsonb, text, text)']
        WHEN 'subscribe' THEN ARRAY['courier.subscribe(text, text, jsonb, text, boolean)',
                                    'courier.unsubscribe(bigint)']
        WHEN 'put_events' THEN ARRAY['courier.put_events(text, jsonb)']
        WHEN 'start_execution' THEN ARRAY['courier.start_execution(text, jsonb, text)']
        ELSE ARRAY['courier.grant(text, text, text, name, text)',
                   'courier.revoke(text, text, text, name, text)']
             || CASE object_kind
                WHEN 'queue' THEN ARRAY[
                    'courier.create_queue(text, interval, interval, interval, integer, boolean, boolean, interval, text, integer)',
                    'courier.alter_queue(text, interval, interval, interval, integer, boolean, interval, text, integer)',
                    'courier.drop_queue(text, boolean)', 'courier.purge_queue(text)',
                    'courier.redrive(text, text, integer)']
                WHEN 'topic' THEN ARRAY['courier.create_topic(text, boolean, boolean)',
                    'courier.drop_topic(text, boolean)']
                WHEN 'bus' THEN ARRAY['courier.create_bus(text)', 'courier.drop_bus(text, boolean)',
                    'courier.put_rule(text, text, jsonb, boolean, text)',
                    'courier.delete_rule(text, text, boolean)', 'courier.enable_rule(text, text)',
                    'courier.disable_rule(text, text)',
                    'courier.put_target(text, text, text, text, jsonb, text, jsonb, jsonb, text)',
                    'courier.remove_target(text, text, text)']
                ELSE ARRAY['courier.create_state_machine(text, jsonb)',
                    'courier.update_state_machine(text, jsonb)',
                    'courier.delete_state_machine(text)',
                    'courier.stop_execution(bigint, text, text)',
                    'courier.redrive_execution(bigint)'] END
        END::regprocedure[]
$$;

CREATE FUNCTION courier._grant(privilege text, object_kind text, object_name text,
                               role name, tenant_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r regrole := courier._check_grant('grant', privilege, object_kind, object_name, role, tenant_id);
    fn regprocedure;
BEGIN
    -- A role is either bound to tenants or not: a bound role's unbound grant
    -- would let its tenant-bound reads see every tenant.
    IF EXISTS (SELECT 1 FROM courier.grants AS g
                WHERE g.grantee = r
                  AND (g.tenant_id IS NULL) <> (_grant.tenant_id IS NULL)) THEN
        RAISE EXCEPTION 'role "%" already holds % grants', role,
                        CASE WHEN tenant_id IS NULL THEN 'tenant-bound' ELSE 'unbound' END
            USING ERRCODE = 'invalid_grant_operation',
                  DETAIL = 'A role is either bound to tenants by all its grants, or by none.',
                  HINT = 'Use another role, or revoke the other grants first.';
    END IF;
    INSERT INTO courier.grants AS g
           (object_kind, object_name, privilege, grantee, tenant_id, granted_by, granted_at)
    VALUES (object_kind, object_name, privilege, r, tenant_id, courier._acting_role(),
            courier.now())
        ON CONFLICT (object_kind, object_name, privilege, grantee, (coalesce(tenant_id, '')))
        DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA courier TO %I', role);
    FOREACH fn IN ARRAY courier._grant_functions(privilege, object_kind) LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, role);
    END LOOP;
    PERFORM courier._audit('grant', object_kind, object_name,
                           jsonb_build_object('privilege', privilege, 'role', role,
                                              'tenant_id', tenant_id));
    RETURN true;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.grant(privilege text, object_kind text, object_name text,
                              role name, tenant_id text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.grant(text, text, text, name, text) IS
    'give role a privilege on one object (or ''*'': all of the kind), optionally bound to a tenant; false when it held it already';

CREATE FUNCTION courier._revoke(privilege text, object_kind text, object_name text,
                                role name, tenant_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r regrole := courier._check_grant('revoke', privilege, object_kind, object_name, role, tenant_id);
BEGIN
    DELETE FROM courier.grants AS g
     WHERE g.object_kind = _revoke.object_kind AND g.object_name = _revoke.object_name
       AND g.privilege = _revoke.privilege AND g.grantee = r
       AND g.tenant_id IS NOT DISTINCT FROM _revoke.tenant_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM courier._audit('revoke', object_kind, object_name,
                           jsonb_build_object('privilege', privilege, 'role', role,
                                              'tenant_id', tenant_id));
    RETURN true;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.revoke(privilege text, object_kind text, object_name text,
                               role name, tenant_id text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.revoke(text, text, text, name, text) IS
    'take back a privilege given with courier.grant(); false when role did not hold it';

-- A tenant-bound receive leases its tenant's messages oldest first through
-- this index, past other tenants' messages (src/queue_lease.c).  Partial:
-- messages without a tenant cost their insert only the predicate test.
CREATE INDEX messages_tenant_idx ON courier.messages (queue_name, tenant_id, visible_at, msg_id)
    WHERE tenant_id IS NOT NULL;

-- Row-level security: a role bound to tenants by its grants reads only its
-- tenants' messages, outbox events and idempotency keys; every other role reads what its
-- table privileges give (the policy is true for it).  The extension's owner
-- and superusers are not subject to it, so the courier functions acting
-- through a grant, tick() and the worker see every row.
ALTER TABLE courier.messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON courier.messages
    USING ((SELECT courier._tenant_unbound())
           OR tenant_id OPERATOR(pg_catalog.=) ANY ((SELECT courier._bound_tenants())::text[]));
ALTER TABLE courier.outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON courier.outbox
    USING ((SELECT courier._tenant_unbound())
           OR tenant_id OPERATOR(pg_catalog.=) ANY ((SELECT courier._bound_tenants())::text[]));
ALTER TABLE courier.idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON courier.idempotency_keys
    USING ((SELECT courier._tenant_unbound())
           OR tenant_id OPERATOR(pg_catalog.=) ANY ((SELECT courier._bound_tenants())::text[]));
