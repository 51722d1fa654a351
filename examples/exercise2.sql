-- pg_courier Exercise 2: one domain-event topic, three subscribers with
-- different filter policies, and one of them always fails.
--
-- The orders service publishes domain events to the topic 'domain-events',
-- each with a correlation id in its headers.  Three queues subscribe:
--   billing    order.placed and order.cancelled events (a policy on the
--              headers), raw delivery
--   shipping   events of orders to Germany or France (a policy on the
--              payload, nested keys), raw delivery; its consumer always fails
--              ("carrier API down"), so after 3 deliveries each message moves
--              to shipping-dlq
--   analytics  every order.* event (prefix policy), delivered in the SNS
--              notification envelope
-- and we check: the failing subscriber's messages reach only its own
-- dead-letter queue, billing and analytics handle every event meant for them,
-- and the correlation id is present in every delivered message.
--
-- One session, deterministic: time moves with SET courier.clock_offset
-- (superuser-only), never by sleeping.  Run it as a superuser in a database
-- where CREATE EXTENSION pg_courier has been run:
--     psql -v ON_ERROR_STOP=1 -f examples/exercise2.sql
-- It can be run again: it drops what it creates first.
-- test/scenarios/exercise2.sh runs it and checks the results.
\set ON_ERROR_STOP on
\pset footer off
\set QUIET on
SET client_min_messages = warning;
RESET courier.clock_offset;
-- The topic first (its subscriptions pin the queues), then each queue before
-- its dead-letter queue.
SELECT courier.drop_topic('domain-events', if_exists => true) AS dropped \gset
SELECT count(courier.drop_queue(q, if_exists => true)) AS dropped
  FROM unnest(ARRAY['billing', 'shipping', 'analytics',
                    'billing-dlq', 'shipping-dlq', 'analytics-dlq']) AS q \gset
DROP TABLE IF EXISTS handled;
DROP FUNCTION IF EXISTS consume(text, boolean);
\set QUIET off

\echo
\echo '== 0. Setup: three queues, each with its own dead-letter queue (3 deliveries), one topic'
SELECT courier.create_queue(q || '-dlq') FROM unnest(ARRAY['billing', 'shipping', 'analytics']) AS q;
SELECT courier.create_queue(q, visibility_timeout => '30 seconds',
                            dead_letter_queue => q || '-dlq', max_receive_count => 3)
  FROM unnest(ARRAY['billing', 'shipping', 'analytics']) AS q;
SELECT courier.create_topic('domain-events');

\echo '-- billing: a policy on the headers (message attributes)'
SELECT courier.subscribe('domain-events', 'billing',
                         filter_policy => '{"type": ["order.placed", "order.cancelled"]}') AS billing_subscription;
\echo '-- shipping: a policy on the payload, nested keys'
SELECT courier.subscribe('domain-events', 'shipping',
                         filter_policy => '{"order": {"country": ["DE", "FR"]}}',
                         filter_scope => 'payload') AS shipping_subscription;
\echo '-- analytics: every order.* event, in the SNS notification envelope'
SELECT courier.subscribe('domain-events', 'analytics',
                         filter_policy => '{"type": [{"prefix": "order."}]}',
                         raw_delivery => false) AS analytics_subscription;
SELECT queue_name, filter_scope, raw_delivery, filter_policy
  FROM courier.topic_stats WHERE topic_name = 'domain-events' ORDER BY queue_name;

-- What the consumers did: one row per message handled, with the correlation
-- id the message carried.
CREATE TABLE handled (
    queue_name      text NOT NULL,
    msg_id          bigint NOT NULL,
    correlation_id  text,
    event_type      text,
    order_id        integer,
    PRIMARY KEY (queue_name, msg_id)
);

-- A consumer: receives what is visible, and for each message either records
-- it and deletes it in the same transaction (the call's), or, when its
-- downstream is down, releases it with the error as evidence.  Returns how
-- many messages it received.  Analytics reads the order out of the envelope's
-- Message field.
CREATE FUNCTION consume(queue text, downstream_down boolean)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    m courier.received;
    body jsonb;
    n integer := 0;
BEGIN
    FOR m IN SELECT * FROM courier.receive(queue, 10) LOOP
        n := n + 1;
        IF downstream_down THEN
            PERFORM courier.release(queue, m.receipt, error => 'carrier API down (503)');
            CONTINUE;
        END IF;
        body := CASE WHEN m.payload->>'Type' = 'Notification' THEN m.payload->'Message' ELSE m.payload END;
        INSERT INTO handled VALUES (queue, m.msg_id, m.correlation_id, m.type,
                                    (body->'order'->>'id')::integer);
        IF NOT courier.delete(queue, m.receipt) THEN
            RAISE EXCEPTION 'lease of message % lost', m.msg_id;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

\echo
\echo '== 1. The orders service publishes six domain events, each with its own correlation id'
SELECT e.event_type, e.payload,
       courier.publish('domain-events', e.payload,
                       jsonb_build_object('type', e.event_type,
                                          'correlation_id', 'corr-' || e.n,
                                          'source', 'orders-service')) > 0 AS published
  FROM (VALUES (1, 'order.placed',       '{"order": {"id": 1, "country": "DE", "total": 120}}'::jsonb),
               (2, 'order.placed',       '{"order": {"id": 2, "country": "US", "total": 80}}'),
               (3, 'order.shipped',      '{"order": {"id": 1, "country": "DE"}}'),
               (4, 'order.cancelled',    '{"order": {"id": 2, "country": "US"}}'),
               (5, 'order.placed',       '{"order": {"id": 3, "country": "FR", "total": 42}}'),
               (6, 'customer.registered', '{"customer": {"id": 9, "country": "DE"}}'))
       AS e(n, event_type, payload)
 ORDER BY e.n;
\echo '-- a publish that rolls back delivers nothing:'
BEGIN;
SELECT courier.publish('domain-events', '{"order": {"id": 99, "country": "DE"}}',
                       '{"type": "order.placed", "correlation_id": "corr-rolled-back"}') > 0 AS published;
ROLLBACK;
\echo '-- what each queue holds now:'
SELECT queue_name, count(*) AS messages,
       string_agg(coalesce(type, '-') || ' ' || correlation_id, ', ' ORDER BY msg_id) AS events
  FROM courier.messages
 WHERE queue_name IN ('billing', 'shipping', 'analytics')
 GROUP BY queue_name ORDER BY queue_name;

\echo
\echo '== 2. The consumers run; shipping''s carrier API is down (t = 0 s)'
SELECT consume('billing', false) AS billing, consume('analytics', false) AS analytics,
       consume('shipping', true) AS shipping;
\echo '-- shipping retries, and fails again each time (t = 1 s, 2 s)'
SET courier.clock_offset = '1s';
SELECT consume('shipping', true) AS shipping;
SET courier.clock_offset = '2s';
SELECT consume('shipping', true) AS shipping;
\echo '-- the next receive finds each message delivered 3 times: it moves to shipping-dlq (t = 3 s)'
SET courier.clock_offset = '3s';
SELECT consume('shipping', true) AS shipping;
RESET courier.clock_offset;

\echo
\echo '== 3. Results'
\echo '-- billing and analytics handled every event meant for them, with its correlation id:'
SELECT queue_name, event_type, order_id, correlation_id
  FROM handled ORDER BY queue_name, msg_id;
\echo '-- shipping''s messages are in its own dead-letter queue, and only there:'
SELECT dead_letter_queue, source_queue, type, correlation_id, receive_count, error
  FROM courier.dead_letters ORDER BY msg_id;
SELECT queue_name, count(*) AS messages_left
  FROM courier.messages
 WHERE queue_name IN ('billing', 'shipping', 'analytics', 'billing-dlq', 'shipping-dlq', 'analytics-dlq')
 GROUP BY queue_name ORDER BY queue_name;
\echo '-- every delivered message carried a correlation id:'
SELECT (SELECT count(*) FROM handled WHERE correlation_id IS NULL)
     + (SELECT count(*) FROM courier.messages
         WHERE queue_name LIKE '%-dlq' AND correlation_id IS NULL) AS without_correlation_id;
\echo '-- per subscription: delivered and filtered out (committed publishes):'
SELECT queue_name, delivered, filtered_out
  FROM courier.topic_stats WHERE topic_name = 'domain-events' ORDER BY queue_name;
