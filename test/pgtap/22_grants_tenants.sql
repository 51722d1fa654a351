-- 22_grants_tenants: per-object privileges given with courier.grant() and
-- tenant isolation (docs/security.md#courier-grants).
--   - a role holding only courier grants uses the objects it was granted and
--     nothing else: no table privileges, 42501 everywhere else, and revoke
--     takes the privilege back;
--   - a tenant-bound role sends only its tenants' messages, receives only
--     them, and another tenant's receipt matches nothing; FIFO queues and
--     topics refuse it; idempotency keys are per tenant;
--   - manage covers the control functions of one object, a tenant-bound
--     manage grant only delegates within its tenant;
--   - row-level security and courier.dead_letters show a role bound to a
--     tenant its rows only, while unbound roles see all;
--   - the audit trail, started_by and run_as name the caller, not the owner
--     the call ran as.
-- Statements commit one by one (the grants are read per transaction); the
-- objects, grants, audit rows and roles are removed at the end.
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
SET client_min_messages = warning;
SELECT plan(90);

-- leftovers of an interrupted run
SELECT courier.drop_topic('gt_topic', if_exists => true);
SELECT courier.drop_bus('gt_bus', if_exists => true);
SELECT courier.drop_queue(q, if_exists => true)
  FROM unnest(ARRAY['gt_q', 'gt_other', 'gt_f.fifo', 'gt_src', 'gt_dlq', 'gt_made', 'gt_made2']) AS q;
DELETE FROM courier.execution_events WHERE execution_id IN
    (SELECT execution_id FROM courier.executions WHERE state_machine_name = 'gt_sm');
DELETE FROM courier.executions WHERE state_machine_name = 'gt_sm';
DELETE FROM courier.state_machines WHERE state_machine_name = 'gt_sm';
DELETE FROM courier.grants WHERE object_name LIKE 'gt\_%' OR grantee::text LIKE 'gt\_%';
DELETE FROM courier.idempotency_keys WHERE scope LIKE 'gt\_%';
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['gt_app', 'gt_t1', 'gt_t2', 'gt_admin', 'gt_dba1', 'gt_t1b',
                             'gt_reader', 'gt_member'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END LOOP;
END
$$;

-- Run stmt as role r; its first column as text, or ERROR and the SQLSTATE.
CREATE FUNCTION pg_temp.as_role(r text, stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    res text;
BEGIN
    EXECUTE format('SET ROLE %I', r);
    EXECUTE stmt INTO res;
    RESET ROLE;
    RETURN coalesce(res, 'null');
EXCEPTION WHEN OTHERS THEN
    RESET ROLE;
    RETURN 'ERROR ' || SQLSTATE;
END
$$;
CREATE FUNCTION pg_temp.tenants(q text) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(coalesce(m.tenant_id, '-'), ',' ORDER BY m.msg_id), '')
      FROM courier.messages AS m WHERE m.queue_name = q
$$;

SELECT courier.create_queue('gt_q', visibility_timeout => '0');
SELECT courier.create_queue('gt_other');
SELECT courier.create_queue('gt_f.fifo', fifo => true);
SELECT courier.create_queue('gt_dlq');
SELECT courier.create_queue('gt_src', visibility_timeout => '0', dead_letter_queue => 'gt_dlq',
                            max_receive_count => 1);
SELECT courier.create_topic('gt_topic');
SELECT courier.subscribe('gt_topic', 'gt_other');
SELECT courier.create_bus('gt_bus');
SELECT courier.put_rule('gt_bus', 'all', '{"source": ["shop"]}');
SELECT courier.put_target('gt_bus', 'all', 'q', 'queue:gt_other');
SELECT courier.create_state_machine('gt_sm', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}');

------------------------------------------------------------------------------
-- grant() and its checks
SELECT is(courier.grant('send', 'queue', 'gt_q', 'gt_app'), true, 'grant gives a privilege');
SELECT is(courier.grant('send', 'queue', 'gt_q', 'gt_app'), false, 'granting it again changes nothing');
SELECT courier.grant('receive', 'queue', 'gt_q', 'gt_app');
SELECT is((SELECT count(*) FROM courier.grants WHERE grantee = 'gt_app'::regrole), 2::bigint,
          'one row per privilege');
SELECT throws_ok($$SELECT courier.grant('fly', 'queue', 'gt_q', 'gt_app')$$, '22023',
                 'unknown privilege "fly"', 'an unknown privilege is refused');
SELECT throws_ok($$SELECT courier.grant('send', 'topic', 'gt_topic', 'gt_app')$$, '22023',
                 'privilege send applies to a queue, not to a topic', 'a privilege of another kind is refused');
SELECT throws_ok($$SELECT courier.grant('send', 'queue', 'gt_missing', 'gt_app')$$, '42704',
                 'queue "gt_missing" does not exist', 'an unknown object is refused');
SELECT throws_ok($$SELECT courier.grant('send', 'queue', 'gt_q', 'gt_nobody')$$, '42704',
                 'role "gt_nobody" does not exist', 'an unknown role is refused');
SELECT throws_ok($$SELECT courier.grant('put_events', 'bus', 'gt_bus', 'gt_t1', 't1')$$, '22023',
                 'a grant of put_events cannot be bound to a tenant',
                 'only send, receive, publish and manage can be bound to a tenant');
SELECT is((SELECT count(*) FROM courier.grants WHERE grantee::text LIKE 'gt\_%'), 2::bigint,
          'refused grants wrote nothing');

------------------------------------------------------------------------------
-- an unbound role with grants only
SELECT isnt(pg_temp.as_role('gt_app', $$SELECT courier.send('gt_q', '{"n": 1}')$$), NULL,
            'a send grant lets the role send to its queue');
SELECT is(pg_temp.tenants('gt_q'), '-', 'the message is there, with no tenant');
SELECT is(pg_temp.as_role('gt_app', $$SELECT courier.send('gt_other', '{}')$$), 'ERROR 42501',
          'and to no other queue');
SELECT throws_ok($$SET ROLE gt_app; SELECT courier.send('gt_other', '{}')$$, '42501',
                 'permission denied to send on queue "gt_other"', 'the error names the privilege and the object');
RESET ROLE;
SELECT is(pg_temp.as_role('gt_app', $$SELECT count(*) FROM courier.messages$$), 'ERROR 42501',
          'the role reads no table');
SELECT is(pg_temp.as_role('gt_app', $$SELECT count(*) FROM courier.send_batch('gt_q', ARRAY['{"n": 2}', '{"n": 3}']::jsonb[])$$),
          '2', 'a send grant covers send_batch');
SELECT is(pg_temp.as_role('gt_app', $$SELECT string_agg(payload->>'n', ',' ORDER BY msg_id) FROM courier.receive('gt_q', 10)$$),
          '1,2,3', 'a receive grant lets the role receive');
SELECT is(pg_temp.as_role('gt_app', $$SELECT courier.delete_batch('gt_q', array_agg(receipt)) FROM courier.receive('gt_q', 10)$$),
          '3', 'and delete what it received');
SELECT is(pg_temp.tenants('gt_q'), '', 'the queue is empty');
SELECT is(pg_temp.as_role('gt_app', $$SELECT courier.purge_queue('gt_q')$$), 'ERROR 42501',
          'send and receive do not cover purge_queue');

------------------------------------------------------------------------------
-- tenant-bound roles
SELECT courier.grant(p, 'queue', 'gt_q', r, t)
  FROM (VALUES ('gt_t1', 't1'), ('gt_t2', 't2')) AS v(r, t), unnest(ARRAY['send', 'receive']) AS p;
SELECT throws_ok($$SELECT courier.grant('send', 'queue', 'gt_other', 'gt_t1')$$, '0LP01',
                 'role "gt_t1" already holds tenant-bound grants', 'a bound role cannot also hold unbound grants');
SELECT throws_ok($$SELECT courier.grant('send', 'queue', 'gt_other', 'gt_app', 't1')$$, '0LP01',
                 'role "gt_app" already holds unbound grants', 'an unbound role cannot also hold bound grants');

SELECT isnt(pg_temp.as_role('gt_t1', $$SELECT courier.send('gt_q', '{"n": "a"}')$$), 'ERROR 42501',
            'a bound role sends');
SELECT is(pg_temp.tenants('gt_q'), 't1', 'its message gets its tenant');
SELECT is(pg_temp.as_role('gt_t1', $$SELECT courier.send('gt_q', '{}', '{"tenant_id": "t2"}')$$), 'ERROR 42501',
          'a message of another tenant is refused');
SELECT throws_ok($$SET ROLE gt_t1; SELECT courier.send('gt_q', '{}', '{"tenant_id": "t2"}')$$, '42501',
                 'permission denied to send messages of tenant "t2" to queue "gt_q"',
                 'the error names the tenant the caller gave');
RESET ROLE;
SELECT is(pg_temp.as_role('gt_t1', $$SELECT count(*) FROM courier.send_batch('gt_q', ARRAY['{}', '{}']::jsonb[], ARRAY[NULL, '{"tenant_id": "t2"}']::jsonb[])$$),
          'ERROR 42501', 'a batch with one message of another tenant is refused');
SELECT is(pg_temp.tenants('gt_q'), 't1', 'the refused calls wrote nothing');
SELECT pg_temp.as_role('gt_t2', $$SELECT courier.send('gt_q', '{"n": "b"}')$$);
SELECT pg_temp.as_role('gt_t1', $$SELECT courier.send('gt_q', '{"n": "c"}', '{"tenant_id": "t1"}')$$);
SELECT courier.send('gt_q', '{"n": "none"}');
SELECT courier.send('gt_q', '{"n": "d"}', '{"tenant_id": "t2"}');
SELECT is(pg_temp.tenants('gt_q'), 't1,t2,t1,-,t2', 'five messages of two tenants and none');

SELECT is(pg_temp.as_role('gt_t1', $$SELECT string_agg(payload->>'n' || ':' || tenant_id, ',' ORDER BY msg_id) FROM courier.receive('gt_q', 10)$$),
          'a:t1,c:t1', 'a bound receive leases only its tenant''s messages');
SELECT is(pg_temp.as_role('gt_t2', $$SELECT string_agg(payload->>'n' || ':' || tenant_id, ',' ORDER BY msg_id) FROM courier.receive('gt_q', 10)$$),
          'b:t2,d:t2', 'and the other tenant''s role only its own');
SELECT is((SELECT string_agg(m.payload->>'n', ',' ORDER BY m.msg_id) FROM courier.messages AS m
            WHERE m.queue_name = 'gt_q' AND m.receive_count = 0), 'none',
          'the message without a tenant was left to unbound consumers');

-- another tenant's receipt matches nothing
CREATE TEMP TABLE t2_receipt AS
SELECT r.receipt, r.msg_id FROM courier.receive('gt_q', 10) AS r WHERE r.tenant_id = 't2' ORDER BY r.msg_id LIMIT 1;
SELECT is(pg_temp.as_role('gt_t1', format('SELECT courier.delete(%L, %L)', 'gt_q', (SELECT receipt FROM t2_receipt))),
          'false', 'delete with another tenant''s receipt returns false');
SELECT is(pg_temp.as_role('gt_t1', format('SELECT courier.change_visibility(%L, %L, %L)', 'gt_q', (SELECT receipt FROM t2_receipt), '1 hour')),
          'false', 'change_visibility with it returns false');
SELECT is(pg_temp.as_role('gt_t1', format('SELECT courier.release(%L, %L)', 'gt_q', (SELECT receipt FROM t2_receipt))),
          'false', 'release with it returns false');
SELECT is(pg_temp.as_role('gt_t1', format('SELECT courier.delete_batch(%L, ARRAY[%L])', 'gt_q', (SELECT receipt FROM t2_receipt))),
          '0', 'delete_batch with it deletes nothing');
SELECT is((SELECT count(*) FROM courier.messages AS m WHERE m.msg_id = (SELECT msg_id FROM t2_receipt)),
          1::bigint, 'the message is still there');
SELECT is(courier.delete('gt_q', (SELECT receipt FROM t2_receipt)), true,
          'and its receipt still holds the lease');

-- FIFO queues and topics refuse tenant-bound calls
SELECT courier.grant('send', 'queue', 'gt_f.fifo', 'gt_t1', 't1');
SELECT courier.grant('receive', 'queue', 'gt_f.fifo', 'gt_t1', 't1');
SELECT is(pg_temp.as_role('gt_t1', $$SELECT courier.send('gt_f.fifo', '{}', group_id => 'g')$$), 'ERROR 0A000',
          'a tenant-bound send to a FIFO queue is refused');
SELECT is(pg_temp.as_role('gt_t1', $$SELECT count(*) FROM courier.receive('gt_f.fifo')$$), 'ERROR 0A000',
          'so is a tenant-bound receive');

-- publish
SELECT courier.grant('publish', 'topic', 'gt_topic', 'gt_t1', 't1');
SELECT isnt(pg_temp.as_role('gt_t1', $$SELECT courier.publish('gt_topic', '{"n": "p"}')$$), 'ERROR 42501',
            'a bound role publishes');
SELECT is(pg_temp.tenants('gt_other'), 't1', 'its message reaches the subscribed queue with its tenant');
SELECT is(pg_temp.as_role('gt_t1', $$SELECT courier.publish('gt_topic', '{}', '{"tenant_id": "t2"}')$$), 'ERROR 42501',
          'a publish for another tenant is refused');

------------------------------------------------------------------------------
-- idempotency keys are per tenant
SELECT is(courier.idempotency_claim('gt_s', 'k', tenant_id => 't1'), true, 'a key claimed for one tenant');
SELECT is(courier.idempotency_claim('gt_s', 'k', tenant_id => 't2'), true, 'is free for another');
SELECT is(courier.idempotency_claim('gt_s', 'k', tenant_id => 't1'), false, 'and taken for the first');
SELECT courier.idempotency_store('gt_s', 'k', '{"secret": "t2"}', tenant_id => 't2');
GRANT EXECUTE ON FUNCTION courier.idempotency_claim(text, text, interval, text),
                          courier.idempotency_result(text, text, text),
                          courier._check_idempotency_key(text, text, interval),
                          courier._check_duration(text, interval, interval, interval, text),
                          courier._require(text, boolean), courier.now()
    TO gt_t1, gt_t2;
GRANT SELECT, INSERT, UPDATE ON courier.idempotency_keys TO gt_t1, gt_t2;
SELECT is(pg_temp.as_role('gt_t1', $$SELECT courier.idempotency_result('gt_s', 'k')$$), 'null',
          'a bound role reads its own tenant''s key, never the other''s result');
SELECT is(pg_temp.as_role('gt_t1', $$SELECT courier.idempotency_result('gt_s', 'k', 't2')$$), 'ERROR 42501',
          'naming the other tenant is refused');
SELECT is(pg_temp.as_role('gt_t1', $$SELECT courier.idempotency_claim('gt_s', 'k2')$$), 'true',
          'a key another tenant may hold too is claimed for this one');
SELECT is(pg_temp.as_role('gt_t1', $$SELECT count(*) FROM courier.idempotency_keys WHERE scope = 'gt_s'$$), '2',
          'row-level security shows the role its tenant''s keys only');
SELECT is((SELECT string_agg(tenant_id || '/' || key, ',' ORDER BY tenant_id, key)
             FROM courier.idempotency_keys WHERE scope = 'gt_s'), 't1/k,t1/k2,t2/k',
          'the keys, each in its tenant');

-- delete_once claims the message's key in the message's tenant
SELECT courier.purge_queue('gt_q');
SELECT courier.send('gt_q', '{"n": "once"}', jsonb_build_object('tenant_id', t, 'idempotency_key', 'dup'))
  FROM unnest(ARRAY['t1', 't2']) AS t;
SELECT is(pg_temp.as_role('gt_t1', $$SELECT courier.delete_once('gt_q', receipt, 'gt_once') FROM courier.receive('gt_q')$$),
          'true', 'delete_once under a receive grant: the first time for tenant t1');
SELECT is(pg_temp.as_role('gt_t2', $$SELECT courier.delete_once('gt_q', receipt, 'gt_once') FROM courier.receive('gt_q')$$),
          'true', 'and for tenant t2, whose key is its own');
SELECT is((SELECT string_agg(tenant_id, ',' ORDER BY tenant_id) FROM courier.idempotency_keys WHERE scope = 'gt_once'),
          't1,t2', 'one claim per tenant');

------------------------------------------------------------------------------
-- manage, and delegation
SELECT courier.grant('manage', 'queue', 'gt_q', 'gt_admin');
SELECT courier.send('gt_q', '{"n": "purge me"}');
CREATE TEMP TABLE before_purge AS SELECT count(*)::text AS n FROM courier.messages WHERE queue_name = 'gt_q';
SELECT is(pg_temp.as_role('gt_admin', $$SELECT courier.purge_queue('gt_q')$$), (SELECT n FROM before_purge),
          'manage lets the role purge the queue');
SELECT is((SELECT current_role_name || ' ' || session_role FROM courier.audit_log
            WHERE action = 'purge_queue' AND object_name = 'gt_q' ORDER BY audit_id DESC LIMIT 1),
          'gt_admin postgres', 'the audit row names the caller, not the owner it acted as');
SELECT is(pg_temp.as_role('gt_admin', $$SELECT courier.alter_queue('gt_q', delay => '1 second')$$), '',
          'and alter it');
SELECT is((SELECT delay FROM courier.queues WHERE queue_name = 'gt_q'), '1 second'::interval, 'altered');
SELECT courier.alter_queue('gt_q', delay => '0');
SELECT is(pg_temp.as_role('gt_admin', $$SELECT courier.purge_queue('gt_other')$$), 'ERROR 42501',
          'but no other queue');
SELECT is(pg_temp.as_role('gt_admin', $$SELECT courier.create_queue('gt_made')$$), 'ERROR 42501',
          'manage on one queue does not let the role create another');
SELECT courier.grant('manage', 'queue', 'gt_made', 'gt_admin');
SELECT is(pg_temp.as_role('gt_admin', $$SELECT courier.create_queue('gt_made')$$), '',
          'manage on a name lets the role create the queue of that name');
SELECT is((SELECT count(*) FROM courier.queues WHERE queue_name = 'gt_made'), 1::bigint, 'the queue is there');
SELECT courier.grant('manage', 'queue', 'gt_made2', 'gt_admin');
SELECT is(pg_temp.as_role('gt_admin', $$SELECT courier.create_queue('gt_made2', dead_letter_queue => 'gt_other', max_receive_count => 3)$$),
          'ERROR 42501', 'a dead-letter queue the role may not send to is refused');
SELECT is(pg_temp.as_role('gt_admin', $$SELECT courier.grant('send', 'queue', 'gt_q', 'gt_reader')$$), 'true',
          'a manage grant delegates privileges on its object');
SELECT is(pg_temp.as_role('gt_admin', $$SELECT courier.grant('send', 'queue', 'gt_other', 'gt_reader')$$), 'ERROR 42501',
          'and on no other');
SELECT is(pg_temp.as_role('gt_app', $$SELECT courier.grant('send', 'queue', 'gt_q', 'gt_reader')$$), 'ERROR 42501',
          'a role without manage cannot grant');
SELECT is((SELECT granted_by FROM courier.grants WHERE grantee = 'gt_reader'::regrole), 'gt_admin',
          'granted_by names the delegating role');
SELECT is(pg_temp.as_role('gt_admin', $$SELECT courier.revoke('send', 'queue', 'gt_q', 'gt_reader')$$), 'true',
          'and it can revoke');

SELECT courier.grant('manage', 'queue', '*', 'gt_dba1', 't1');
SELECT is(pg_temp.as_role('gt_dba1', $$SELECT courier.purge_queue('gt_q')$$), 'ERROR 42501',
          'a tenant-bound manage grant does not cover purge_queue (every tenant''s messages)');
SELECT is(pg_temp.as_role('gt_dba1', $$SELECT courier.grant('receive', 'queue', 'gt_other', 'gt_t1b', 't1')$$), 'true',
          'it delegates grants bound to its tenant, on any queue (''*'')');
SELECT is(pg_temp.as_role('gt_dba1', $$SELECT courier.grant('receive', 'queue', 'gt_other', 'gt_t1b', 't2')$$), 'ERROR 42501',
          'but not for another tenant');
SELECT is(pg_temp.as_role('gt_dba1', $$SELECT courier.grant('send', 'queue', 'gt_other', 'gt_reader')$$), 'ERROR 42501',
          'nor unbound');

------------------------------------------------------------------------------
-- row-level security for DBAs reading the tables
GRANT USAGE ON SCHEMA courier TO gt_dba1, gt_reader;
GRANT SELECT ON courier.messages, courier.dead_letters TO gt_dba1, gt_reader;
SELECT courier.send('gt_q', '{}', jsonb_build_object('tenant_id', t)) FROM unnest(ARRAY['t1', 't2', 't1']) AS t;
SELECT is(pg_temp.as_role('gt_dba1', $$SELECT string_agg(DISTINCT coalesce(tenant_id, '-'), ',') FROM courier.messages$$),
          't1', 'a DBA role bound to t1 sees only t1''s messages');
SELECT is(pg_temp.as_role('gt_reader', $$SELECT count(*) FROM courier.messages WHERE queue_name = 'gt_q'$$),
          (SELECT count(*)::text FROM courier.messages WHERE queue_name = 'gt_q'),
          'an unbound role with SELECT sees every message');
-- membership binds too, from the next statement of the same session
GRANT SELECT ON courier.messages TO gt_member;
GRANT USAGE ON SCHEMA courier TO gt_member;
SELECT is(pg_temp.as_role('gt_member', $$SELECT count(DISTINCT tenant_id) FROM courier.messages WHERE queue_name = 'gt_q'$$),
          '2', 'a role with no grant of its own sees every tenant');
GRANT gt_dba1 TO gt_member;
SELECT is(pg_temp.as_role('gt_member', $$SELECT string_agg(DISTINCT tenant_id, ',') FROM courier.messages WHERE queue_name = 'gt_q'$$),
          't1', 'once a member of a role bound to t1, only t1''s');
SELECT courier.send('gt_src', '{}', jsonb_build_object('tenant_id', t)) FROM unnest(ARRAY['t1', 't2']) AS t;
SELECT count(*) FROM courier.receive('gt_src', 10);
SELECT count(*) FROM courier.receive('gt_src', 10);
SELECT is((SELECT count(*) FROM courier.dead_letters WHERE dead_letter_queue = 'gt_dlq'), 2::bigint,
          'two dead letters of two tenants');
SELECT is(pg_temp.as_role('gt_dba1', $$SELECT string_agg(tenant_id, ',') FROM courier.dead_letters WHERE dead_letter_queue = 'gt_dlq'$$),
          't1', 'courier.dead_letters shows the bound DBA its tenant''s only');
SELECT is(pg_temp.as_role('gt_reader', $$SELECT count(*) FROM courier.dead_letters WHERE dead_letter_queue = 'gt_dlq'$$),
          '2', 'and an unbound reader all of them');

------------------------------------------------------------------------------
-- the other privileges
SELECT courier.grant('put_events', 'bus', 'gt_bus', 'gt_app');
SELECT is(pg_temp.as_role('gt_app', $$SELECT count(*) FROM courier.put_events('gt_bus', '[{"source": "shop", "detail-type": "x", "detail": {}}]') WHERE error IS NULL$$),
          '1', 'put_events under a grant');
SELECT is(pg_temp.as_role('gt_app', $$SELECT count(*) FROM courier.put_events('gt_other_bus', '[{"source": "shop", "detail-type": "x", "detail": {}}]')$$), 'ERROR 42501',
          'not on another bus');
SELECT courier.grant('start_execution', 'state_machine', 'gt_sm', 'gt_app');
SELECT isnt(pg_temp.as_role('gt_app', $$SELECT courier.start_execution('gt_sm', '{}')$$), 'ERROR 42501',
            'start_execution under a grant');
SELECT is((SELECT started_by::text FROM courier.executions WHERE state_machine_name = 'gt_sm'), 'gt_app',
          'the execution is started by the caller (its tasks run as it), not the owner');
SELECT courier.grant('subscribe', 'topic', 'gt_topic', 'gt_app');
SELECT is(pg_temp.as_role('gt_app', $$SELECT courier.subscribe('gt_topic', 'gt_dlq')$$), 'ERROR 42501',
          'subscribe needs send on the queue the topic would deliver to');
SELECT isnt(pg_temp.as_role('gt_app', $$SELECT courier.subscribe('gt_topic', 'gt_q')$$), 'ERROR 42501',
            'and works with it');
SELECT is(pg_temp.as_role('gt_app', format('SELECT courier.unsubscribe(%s)',
              (SELECT subscription_id FROM courier.subscriptions WHERE topic_name = 'gt_topic' AND queue_name = 'gt_q'))),
          '', 'unsubscribe finds the topic from the subscription id');

------------------------------------------------------------------------------
-- revoke
SELECT is(courier.revoke('send', 'queue', 'gt_q', 'gt_app'), true, 'revoke takes a privilege back');
SELECT is(courier.revoke('send', 'queue', 'gt_q', 'gt_app'), false, 'revoking it again changes nothing');
SELECT is(pg_temp.as_role('gt_app', $$SELECT courier.send('gt_q', '{}')$$), 'ERROR 42501',
          'the role can no longer send');
SELECT isnt(pg_temp.as_role('gt_app', $$SELECT count(*) FROM courier.receive('gt_q')$$), 'ERROR 42501',
            'what it still holds keeps working');
SELECT is((SELECT string_agg(action, ',' ORDER BY audit_id) FROM courier.audit_log
            WHERE action IN ('grant', 'revoke') AND object_name = 'gt_q'
              AND details->>'role' = 'gt_app'),
          'grant,grant,revoke', 'grants and revokes are audited');

------------------------------------------------------------------------------
-- cleanup: objects, grants, their audit rows, roles
SELECT courier.drop_topic('gt_topic', if_exists => true);
SELECT courier.drop_bus('gt_bus', if_exists => true);
SELECT courier.drop_queue(q, if_exists => true)
  FROM unnest(ARRAY['gt_q', 'gt_other', 'gt_f.fifo', 'gt_src', 'gt_dlq', 'gt_made', 'gt_made2']) AS q;
DELETE FROM courier.execution_events WHERE execution_id IN
    (SELECT execution_id FROM courier.executions WHERE state_machine_name = 'gt_sm');
DELETE FROM courier.executions WHERE state_machine_name = 'gt_sm';
DELETE FROM courier.state_machines WHERE state_machine_name = 'gt_sm';
DELETE FROM courier.grants WHERE object_name LIKE 'gt\_%' OR grantee::text LIKE 'gt\_%' OR object_name = '*';
DELETE FROM courier.idempotency_keys WHERE scope LIKE 'gt\_%';
DELETE FROM courier.audit_log WHERE object_name LIKE 'gt\_%' OR object_name = '*';
SELECT courier._forget_stats('state_machine', 'gt_sm');
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['gt_app', 'gt_t1', 'gt_t2', 'gt_admin', 'gt_dba1', 'gt_t1b',
                             'gt_reader', 'gt_member'] LOOP
        EXECUTE format('DROP OWNED BY %I', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END
$$;

SELECT * FROM finish();
