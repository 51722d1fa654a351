-- The SQL surface of standard queues: what exists, with which signature, and
-- the happy path through it.  Timestamps and receipts are random or
-- clock-dependent, so the output shows facts about them instead.
\set VERBOSITY terse

\x on
SELECT p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
       pg_catalog.pg_get_function_result(p.oid) AS result, p.proisstrict AS strict
  FROM pg_catalog.pg_proc p
 WHERE p.pronamespace = 'courier'::regnamespace
   AND p.proname !~ '^_'
 ORDER BY 1, 2;
\x off

-- Nothing is granted to PUBLIC.
SELECT count(*) AS public_executable
  FROM pg_catalog.pg_proc p
 WHERE p.pronamespace = 'courier'::regnamespace
   AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE');

-- Tables and sequence pg_dump keeps with the data.
SELECT c.relname, e.extcondition
  FROM pg_catalog.pg_extension x
  CROSS JOIN LATERAL unnest(x.extconfig, x.extcondition) AS e(cfg, extcondition)
  JOIN pg_catalog.pg_class c ON c.oid = e.cfg
 WHERE x.extname = 'pg_courier'
 ORDER BY 1;

SELECT courier.create_queue('orders');
SELECT courier.create_queue('slow-lane', visibility_timeout => '5 minutes', delay => '10 seconds',
                            retention => '1 day', max_message_bytes => 2048);
SELECT queue_name, visibility_timeout, delay, retention, max_message_bytes,
       created_at = updated_at AS unchanged
  FROM courier.list_queues();

SELECT courier.alter_queue('slow-lane', delay => '0');
SELECT queue_name, visibility_timeout, delay, updated_at >= created_at AS touched
  FROM courier.list_queues() WHERE queue_name = 'slow-lane';

-- send, with envelope fields taken from reserved header keys
SELECT courier.send('orders', '{"order": 1}',
                    '{"type": "order.placed", "schema_version": 2, "correlation_id": "c-1",
                      "causation_id": "m-0", "idempotency_key": "k-1", "tenant_id": "acme",
                      "occurred_at": "2026-01-02T03:04:05Z", "channel": "web", "tags": ["a", "b"]}')
       > 0 AS sent;
SELECT count(*) AS ids FROM courier.send_batch('orders',
    ARRAY['{"order": 2}', '{"order": 3}']::jsonb[],
    ARRAY['{"type": "order.placed"}', NULL]::jsonb[]);

SELECT payload, headers, type, schema_version, correlation_id, causation_id, idempotency_key,
       tenant_id, occurred_at AT TIME ZONE 'UTC' AS occurred_utc, receive_count,
       receipt ~ '^[0-9]+:1:[0-9a-f]{16}$' AS receipt_shape,
       first_received_at IS NOT NULL AS first_received,
       visible_at - first_received_at AS lease
  FROM courier.receive('orders', 10)
 ORDER BY payload->>'order';

-- everything is leased now
SELECT count(*) AS visible_now FROM courier.receive('orders', 10);

-- what each queue holds, as a DBA sees it
SELECT queue_name, fifo, visible, in_flight, delayed, expired, oldest_age IS NOT NULL AS has_oldest,
       max_receive_count_seen, dead_letters_held, dead_letter_queue, dead_lettered,
       sent_total, received_total, deleted_total, dead_lettered_total, expired_total
  FROM courier.queue_stats ORDER BY queue_name;

-- a queue's messages, as a DBA sees them
SELECT queue_name, payload, receive_count, last_error
  FROM courier.messages ORDER BY msg_id;

SELECT courier.purge_queue('orders') AS purged;
SELECT courier.drop_queue('slow-lane') AS dropped;
SELECT courier.drop_queue('slow-lane', if_exists => true) AS dropped_again;
SELECT queue_name FROM courier.list_queues();
SELECT courier.drop_queue('orders');
