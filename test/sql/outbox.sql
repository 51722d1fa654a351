-- The outbox, idempotency and correlation SQL surface: what each call
-- returns, and every error with its SQLSTATE, leaving nothing changed.
-- try() runs a statement and shows "SQLSTATE: message" instead of failing;
-- state() shows every outbox row and aggregate, keys and audit rows.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT 'rows: ' || coalesce((SELECT string_agg(format('%s/%s v%s %s %s by %s x%s%s', o.aggregatetype,
                                                          o.aggregateid, o.aggregate_version, o.type,
                                                          o.status, coalesce(o.published_by, '-'),
                                                          o.attempts,
                                                          coalesce(' error ' || o.last_error, '')),
                                                   '; ' ORDER BY o.id)
                                   FROM courier.outbox AS o), '-')
        || E'\naggregates: ' || coalesce((SELECT string_agg(format('%s/%s last %s published %s pending %s relay %s',
                                                                   a.aggregatetype, a.aggregateid,
                                                                   a.last_version, a.published_version,
                                                                   a.pending, coalesce(a.relay, '-')),
                                                            '; ' ORDER BY a.aggregatetype, a.aggregateid)
                                            FROM courier.outbox_aggregates AS a), '-')
        || E'\nkeys: ' || coalesce((SELECT string_agg(k.scope || '/' || k.key || coalesce(' ' || k.result::text, ''),
                                                      '; ' ORDER BY k.scope, k.key)
                                      FROM courier.idempotency_keys AS k), '-')
        || E'\naudit: ' || (SELECT count(*) FROM courier.audit_log AS l WHERE l.action LIKE '%outbox')
$$;

---------------------------------------------------------------------------
-- emit_outbox
---------------------------------------------------------------------------
-- errors name outbox row ids: make them the same on every run
ALTER SEQUENCE courier.outbox_id_seq RESTART;
SELECT courier.emit_outbox('order', 'o-1', 'OrderPlaced', '{"total": 10}') > 0 AS emitted;
SELECT courier.emit_outbox('order', 'o-1', 'OrderPaid', '{"total": 10}',
                           '{"schema_version": 2, "correlation_id": "c-1", "causation_id": "k-1",
                             "idempotency_key": "pay-1", "tenant_id": "t-1",
                             "occurred_at": "2026-01-02T03:04:05Z", "channel": "web"}') > 0 AS emitted;
SELECT courier.emit_outbox('customer', 'c-9', 'CustomerRenamed', '"Ann"') > 0 AS emitted;
-- The Debezium outbox columns, then the envelope.
SELECT o.aggregatetype, o.aggregateid, o.type, o.payload, o.aggregate_version, o.schema_version,
       o.correlation_id, o.causation_id, o.idempotency_key, o.tenant_id, o.occurred_at AT TIME ZONE 'UTC' AS occurred_at,
       o.headers, o.status, o.attempts
  FROM courier.outbox AS o ORDER BY o.id;
SELECT pg_temp.state() AS before;

SELECT pg_temp.try($$SELECT courier.emit_outbox(NULL, 'x', 'T', '{}')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', NULL, 'T', '{}')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', 'x', NULL, '{}')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', 'x', 'T', NULL)$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('', 'x', 'T', '{}')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', repeat('x', 257), 'T', '{}')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', 'x', '', '{}')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', 'x', 'T', '{}', '{"type": "Other"}')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', 'x', 'T', '{}', '[1]')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', 'x', 'T', '{}', '{"schema_version": 0}')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', 'x', 'T', '{}', '{"bad name": "v"}')$$);
SELECT pg_temp.try($$SELECT courier.emit_outbox('order', 'x', 'T', jsonb_build_object('big', repeat('x', 1048577)))$$);
SELECT pg_temp.try($$SET courier.outbox_mode = 'kafka'$$);
SELECT pg_temp.state() = pg_temp.state() AS unchanged_check_works;
SELECT pg_temp.state() AS after_errors;

-- wal mode: the row goes at once (its insert stays in the WAL for CDC);
-- message mode: a logical decoding message, no row.  Versions advance.
SET courier.outbox_mode = 'wal';
SELECT courier.emit_outbox('customer', 'c-9', 'CustomerMoved', '{}') > 0 AS emitted;
SET courier.outbox_mode = 'message';
SELECT courier.emit_outbox('customer', 'c-9', 'CustomerMoved', '{}') > 0 AS emitted;
SELECT courier.emit_outbox('audit', 'a-1', 'Seen', '{}') > 0 AS emitted;
RESET courier.outbox_mode;
SELECT courier.emit_outbox('customer', 'c-9', 'CustomerClosed', '{}') > 0 AS emitted;
SELECT pg_temp.state() AS modes;

---------------------------------------------------------------------------
-- claim_outbox, ack_outbox, fail_outbox
---------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT courier.claim_outbox(NULL)$$);
SELECT pg_temp.try($$SELECT courier.claim_outbox('')$$);
SELECT pg_temp.try($$SELECT courier.claim_outbox('has space')$$);
SELECT pg_temp.try($$SELECT courier.claim_outbox(repeat('r', 129))$$);
SELECT pg_temp.try($$SELECT courier.claim_outbox('r1', 0)$$);
SELECT pg_temp.try($$SELECT courier.claim_outbox('r1', 10001)$$);
SELECT pg_temp.try($$SELECT courier.claim_outbox('r1', NULL)$$);
SELECT pg_temp.try($$SELECT courier.claim_outbox('r1', 10, '0.5 seconds')$$);
SELECT pg_temp.try($$SELECT courier.claim_outbox('r1', 10, '13 hours')$$);
SELECT pg_temp.try($$SELECT courier.claim_outbox('r1', 10, NULL)$$);
SELECT pg_temp.state() AS after_claim_errors;

-- r1 gets the oldest aggregate first, its rows in version order.
SELECT c.aggregatetype, c.aggregateid, c.aggregate_version, c.type, c.attempts
  FROM courier.claim_outbox('r1', 2) AS c;
-- r2 gets what r1 does not hold.
SELECT c.aggregatetype, c.aggregateid, c.aggregate_version, c.type, c.attempts
  FROM courier.claim_outbox('r2') AS c;
SELECT pg_temp.state() AS claimed;

CREATE TEMP TABLE ids AS
SELECT o.aggregatetype || '/' || o.aggregateid || '/' || o.aggregate_version AS name, o.id
  FROM courier.outbox AS o;
CREATE FUNCTION pg_temp.ids(VARIADIC names text[]) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT array_agg(i.id ORDER BY u.ord) FROM unnest(names) WITH ORDINALITY AS u(name, ord)
      JOIN ids AS i ON i.name = u.name
$$;

SELECT pg_temp.try($$SELECT courier.ack_outbox(NULL, ARRAY[1])$$);
SELECT pg_temp.try($$SELECT courier.ack_outbox('r1', NULL)$$);
SELECT pg_temp.try($$SELECT courier.ack_outbox('r1', ARRAY[1, NULL])$$);
SELECT pg_temp.try($$SELECT courier.ack_outbox('r1', ARRAY[[1], [2]])$$);
SELECT pg_temp.try($$SELECT courier.ack_outbox('r1', ARRAY[-7])$$);
-- r2 does not hold order/o-1; r1 does not hold customer/c-9
SELECT pg_temp.try(format('SELECT courier.ack_outbox(%L, %L)', 'r2', pg_temp.ids('order/o-1/1')));
SELECT pg_temp.try(format('SELECT courier.ack_outbox(%L, %L)', 'r1', pg_temp.ids('order/o-1/1', 'customer/c-9/1')));
-- version 2 before version 1
SELECT pg_temp.try(format('SELECT courier.ack_outbox(%L, %L)', 'r1', pg_temp.ids('order/o-1/2')));
SELECT pg_temp.try(format('SELECT courier.fail_outbox(%L, %L)', 'r2', pg_temp.ids('order/o-1/1')));
SELECT pg_temp.try($$SELECT courier.fail_outbox('r1', ARRAY[-7], 'x')$$);
SELECT pg_temp.state() AS after_ack_errors;

-- In order, in one call: both published, the aggregate released.
SELECT courier.ack_outbox('r1', pg_temp.ids('order/o-1/2', 'order/o-1/1')) AS acked;
-- A repeated ack changes nothing and is no error.
SELECT courier.ack_outbox('r1', pg_temp.ids('order/o-1/1')) AS acked_again;
SELECT pg_temp.try(format('SELECT courier.fail_outbox(%L, %L)', 'r1', pg_temp.ids('order/o-1/1')));
-- r2 fails customer/c-9's first row: the aggregate waits 1 s, then anyone may claim it.
SELECT f.attempts, f.retry_at > courier.now() AS backs_off
  FROM courier.fail_outbox('r2', pg_temp.ids('customer/c-9/1'), 'broker unavailable') AS f;
SELECT count(*) AS claimed_during_backoff FROM courier.claim_outbox('r3');
SELECT pg_temp.state() AS after_fail;

---------------------------------------------------------------------------
-- skip_outbox and purge_outbox (administrators; audited)
---------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT courier.skip_outbox(NULL, 'x')$$);
SELECT pg_temp.try(format('SELECT courier.skip_outbox(%L, NULL)', pg_temp.ids('customer/c-9/1')));
SELECT pg_temp.try($$SELECT courier.skip_outbox(ARRAY[-7], 'x')$$);
SELECT pg_temp.try($$SELECT courier.purge_outbox(NULL)$$);
SELECT pg_temp.try($$SELECT courier.purge_outbox('-1 second')$$);
SELECT pg_temp.state() AS after_admin_errors;
SELECT courier.skip_outbox(pg_temp.ids('customer/c-9/1'), 'poison event') AS skipped;
SELECT l.action, l.object_kind, l.object_name, l.details->'versions' AS versions, l.details->>'reason' AS reason
  FROM courier.audit_log AS l WHERE l.action = 'skip_outbox';
SELECT courier.purge_outbox('1 hour') AS purged_nothing_yet;
SELECT courier.purge_outbox() AS purged;
SELECT l.action, l.details->>'rows' AS rows FROM courier.audit_log AS l
 WHERE l.action = 'purge_outbox' ORDER BY l.audit_id;
SELECT pg_temp.state() AS after_admin;

---------------------------------------------------------------------------
-- Idempotency keys
---------------------------------------------------------------------------
SELECT courier.idempotency_claim('api', 'req-1') AS first, courier.idempotency_claim('api', 'req-1') AS second;
SELECT courier.idempotency_claim('other', 'req-1') AS other_scope;
SELECT courier.idempotency_result('api', 'req-1') AS nothing_stored;
SELECT courier.idempotency_store('api', 'req-1', '{"status": 201}');
SELECT courier.idempotency_result('api', 'req-1') AS stored;
SELECT courier.idempotency_result('api', 'req-2') AS unclaimed;
SELECT pg_temp.state() AS keys;

SELECT pg_temp.try($$SELECT courier.idempotency_claim(NULL, 'k')$$);
SELECT pg_temp.try($$SELECT courier.idempotency_claim('api', NULL)$$);
SELECT pg_temp.try($$SELECT courier.idempotency_claim('api', 'k', NULL)$$);
SELECT pg_temp.try($$SELECT courier.idempotency_claim('', 'k')$$);
SELECT pg_temp.try($$SELECT courier.idempotency_claim('api', '')$$);
SELECT pg_temp.try($$SELECT courier.idempotency_claim('api', repeat('k', 1025))$$);
SELECT pg_temp.try($$SELECT courier.idempotency_claim(repeat('s', 257), 'k')$$);
SELECT pg_temp.try($$SELECT courier.idempotency_claim('api', 'k', '0 seconds')$$);
SELECT pg_temp.try($$SELECT courier.idempotency_claim('api', 'k', '3651 days')$$);
SELECT pg_temp.try($$SELECT courier.idempotency_store('api', 'req-2', '{}')$$);
SELECT pg_temp.try($$SELECT courier.idempotency_store('api', 'req-1', NULL)$$);
SELECT pg_temp.try($$SELECT courier.idempotency_result(NULL, 'req-1')$$);
SELECT pg_temp.state() AS after_key_errors;

-- delete_once: a received message is deleted and its key claimed in one call.
SELECT courier.create_queue('once');
SELECT courier.send('once', '{"n": 1}', '{"idempotency_key": "evt-1"}') > 0 AS sent;
SELECT courier.send('once', '{"n": 2}', '{"idempotency_key": "evt-1"}') > 0 AS sent_again;
SELECT courier.send('once', '{"n": 3}') > 0 AS sent_without_key;
CREATE TEMP TABLE got AS SELECT r.payload, r.receipt FROM courier.receive('once', 3) AS r;
SELECT g.payload, courier.delete_once('once', g.receipt) AS apply_effects
  FROM got AS g ORDER BY g.payload->>'n';
SELECT courier.delete_once('once', (SELECT g.receipt FROM got AS g WHERE g.payload->>'n' = '3')) AS stale_receipt;
SELECT count(*) AS left_in_queue FROM courier.messages AS m WHERE m.queue_name = 'once';
SELECT k.scope, k.key FROM courier.idempotency_keys AS k WHERE k.scope = 'once';
SELECT pg_temp.try($$SELECT courier.delete_once(NULL, '1:1:0123456789abcdef')$$);
SELECT pg_temp.try($$SELECT courier.delete_once('once', NULL)$$);
SELECT pg_temp.try($$SELECT courier.delete_once('once', 'nonsense')$$);
SELECT pg_temp.try($$SELECT courier.delete_once('nope', '1:1:0123456789abcdef')$$);
SELECT pg_temp.try($$SELECT courier.delete_once('once', '1:1:0123456789abcdef', '')$$);
SELECT pg_temp.try($$SELECT courier.delete_once('once', '1:1:0123456789abcdef', NULL, '0 s')$$);
SELECT courier.drop_queue('once');

---------------------------------------------------------------------------
-- Correlation context
---------------------------------------------------------------------------
SELECT * FROM courier.current_context();
SELECT courier.set_context('outside');
SELECT * FROM courier.current_context() AS gone_with_the_statement;
BEGIN;
SELECT courier.set_context('flow-1', 'cause-1');
SELECT * FROM courier.current_context();
SELECT courier.set_context('flow-2');
SELECT * FROM courier.current_context() AS replaced;
SELECT courier.emit_outbox('order', 'o-2', 'OrderPlaced', '{}') > 0 AS emitted;
COMMIT;
SELECT * FROM courier.current_context() AS after_commit;
SELECT pg_temp.try($$SELECT courier.set_context('')$$);
SELECT pg_temp.try($$SELECT courier.set_context('x', repeat('y', 257))$$);
SELECT pg_temp.try($$SELECT courier.trace(NULL)$$);
SELECT t.kind, t.object, t.type, t.details->>'aggregate_version' AS version
  FROM courier.trace('flow-2') AS t;
SELECT count(*) AS nothing FROM courier.trace('no such flow');

-- leave nothing behind for the suites after this one
DELETE FROM courier.outbox;
DELETE FROM courier.outbox_aggregates;
DELETE FROM courier.idempotency_keys;
