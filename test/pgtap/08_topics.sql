-- 08_topics: SNS-style topics: create/drop, subscribe (idempotent, FIFO
-- rules, policy validation), publish fanout with filter policies on headers
-- and payload, raw delivery versus the notification envelope, envelope fields
-- on every delivery, FIFO topics (group order, dedup passed through),
-- rollback delivering nothing, a subscribed queue that cannot be dropped, the
-- audit trail, and misuse rejected with a SQLSTATE and no change.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- Statistics count committed publishes only, so they are tested by
-- test/scenarios/exercise2.sh, not in this rolled-back transaction.
BEGIN;
SELECT plan(110);

-- Fingerprint of what topics and queues store, to prove a rejected call
-- changed nothing.
CREATE FUNCTION pg_temp.courier_state() RETURNS text
LANGUAGE sql AS $$
    SELECT pg_catalog.md5(
        coalesce((SELECT string_agg(t::text, '|' ORDER BY t.topic_name) FROM courier.topics AS t), '')
        || '#' ||
        coalesce((SELECT string_agg(s::text, '|' ORDER BY s.subscription_id)
                    FROM courier.subscriptions AS s), '')
        || '#' ||
        coalesce((SELECT string_agg(q::text, '|' ORDER BY q.queue_name) FROM courier.queues AS q), '')
        || '#' ||
        coalesce((SELECT string_agg(m::text, '|' ORDER BY m.msg_id) FROM courier.messages AS m), '')
        || '#' ||
        coalesce((SELECT string_agg(a::text, '|' ORDER BY a.audit_id) FROM courier.audit_log AS a), ''))
$$;

CREATE FUNCTION pg_temp.rejects(stmt text, errcode text, descr text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.courier_state();
BEGIN
    RETURN NEXT throws_ok(stmt, errcode::char(5), NULL, descr || ' raises ' || errcode);
    RETURN NEXT is(pg_temp.courier_state(), before, descr || ': nothing changed');
END
$$;

-- Payloads waiting in a queue, oldest first.
CREATE FUNCTION pg_temp.payloads(q text) RETURNS jsonb[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(m.payload ORDER BY m.msg_id), '{}')
      FROM courier.messages AS m WHERE m.queue_name = q
$$;

---------------------------------------------------------------------------
-- create_topic / subscribe
---------------------------------------------------------------------------
SELECT lives_ok($$SELECT courier.create_queue('tp_all')$$, 'queue tp_all');
SELECT lives_ok($$SELECT courier.create_queue('tp_big')$$, 'queue tp_big');
SELECT lives_ok($$SELECT courier.create_queue('tp_env')$$, 'queue tp_env');
SELECT lives_ok($$SELECT courier.create_queue('tp_body')$$, 'queue tp_body');
SELECT lives_ok($$SELECT courier.create_topic('tp_orders')$$, 'create_topic succeeds');
SELECT results_eq($$SELECT fifo, content_based_dedup FROM courier.topics WHERE topic_name = 'tp_orders'$$,
                  $$VALUES (false, false)$$, 'a topic is standard by default');

CREATE TEMP TABLE sub AS
SELECT courier.subscribe('tp_orders', 'tp_all') AS s_all,
       courier.subscribe('tp_orders', 'tp_big', '{"size": ["big"]}') AS s_big,
       courier.subscribe('tp_orders', 'tp_env', raw_delivery => false) AS s_env,
       courier.subscribe('tp_orders', 'tp_body', '{"order": {"total": [{"numeric": [">", 100]}]}}',
                         filter_scope => 'payload') AS s_body;
SELECT is((SELECT count(DISTINCT x) FROM sub, LATERAL (VALUES (s_all), (s_big), (s_env), (s_body)) AS v(x)),
          4::bigint, 'four subscriptions, four ids');
SELECT is(courier.subscribe('tp_orders', 'tp_big', '{"size": ["big"]}'), (SELECT s_big FROM sub),
          'subscribing again with the same attributes returns the same id');
SELECT is((SELECT count(*) FROM courier.subscriptions WHERE topic_name = 'tp_orders'), 4::bigint,
          '... and adds no subscription');
SELECT is((SELECT count(*) FROM courier.audit_log WHERE action = 'subscribe' AND object_name = 'tp_orders'),
          4::bigint, 'each new subscription is audited');
SELECT results_eq($$SELECT queue_name COLLATE "default", filter_scope, raw_delivery, delivered IS NOT NULL
                      FROM courier.topic_stats WHERE topic_name = 'tp_orders' ORDER BY queue_name$$,
                  $$VALUES ('tp_all'::text, 'headers'::text, true, true), ('tp_big', 'headers', true, true),
                           ('tp_body', 'payload', true, true), ('tp_env', 'headers', false, true)$$,
                  'courier.topic_stats lists the subscriptions');

---------------------------------------------------------------------------
-- publish: fanout, filter policies, raw and envelope
---------------------------------------------------------------------------
CREATE TEMP TABLE pub AS
SELECT courier.publish('tp_orders', '{"order": {"id": 1, "total": 250}}',
                       '{"size": "big", "correlation_id": "corr-1", "type": "order.placed", "n": 3}') AS p1;
SELECT ok((SELECT p1 FROM pub) IS NOT NULL, 'publish returns an id');
SELECT is((SELECT count(*) FROM courier.messages WHERE msg_id = (SELECT p1 FROM pub)), 0::bigint,
          'the publish id is no message''s id');
SELECT is(pg_temp.payloads('tp_all'), ARRAY['{"order": {"id": 1, "total": 250}}']::jsonb[],
          'raw delivery: the payload as published');
SELECT is(pg_temp.payloads('tp_big'), ARRAY['{"order": {"id": 1, "total": 250}}']::jsonb[],
          'a headers policy that matches delivers');
SELECT is(pg_temp.payloads('tp_body'), ARRAY['{"order": {"id": 1, "total": 250}}']::jsonb[],
          'a payload policy that matches delivers (nested keys)');
SELECT results_eq($$SELECT DISTINCT correlation_id, type, headers FROM courier.messages
                     WHERE queue_name IN ('tp_all', 'tp_big', 'tp_body', 'tp_env')$$,
                  $$VALUES ('corr-1'::text, 'order.placed'::text, '{"n": 3, "size": "big"}'::jsonb)$$,
                  'every delivery carries the envelope fields and headers (raw or not)');

SELECT is((SELECT payload - 'Timestamp' FROM courier.messages WHERE queue_name = 'tp_env'),
          jsonb_build_object('Type', 'Notification', 'MessageId', (SELECT p1 FROM pub)::text,
                             'Topic', 'tp_orders', 'Message', '{"order": {"id": 1, "total": 250}}'::jsonb,
                             'MessageAttributes', '{"n": {"Type": "Number", "Value": "3"},
                                                    "size": {"Type": "String", "Value": "big"},
                                                    "type": {"Type": "String", "Value": "order.placed"},
                                                    "correlation_id": {"Type": "String", "Value": "corr-1"}}'::jsonb),
          'non-raw delivery: the notification envelope, MessageId = the publish id');
SELECT ok((SELECT payload->>'Timestamp' FROM courier.messages WHERE queue_name = 'tp_env')
            ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$',
          'the envelope Timestamp is ISO 8601 UTC with milliseconds');

SELECT lives_ok($$SELECT courier.publish('tp_orders', '{"order": {"id": 2, "total": 5}}', '{"size": "small"}')$$,
                'a small order without the big header');
SELECT is(cardinality(pg_temp.payloads('tp_all')), 2, 'the subscription without policy gets it');
SELECT is(cardinality(pg_temp.payloads('tp_big')), 1, 'the headers policy filters it out');
SELECT is(cardinality(pg_temp.payloads('tp_body')), 1, 'the payload policy filters it out');
SELECT ok((SELECT payload->'MessageAttributes' FROM courier.messages WHERE queue_name = 'tp_env'
            ORDER BY msg_id DESC LIMIT 1) = '{"size": {"Type": "String", "Value": "small"}}',
          'MessageAttributes mirror the headers');
SELECT lives_ok($$SELECT courier.publish('tp_orders', '"just a string"')$$,
                'a publish without headers');
SELECT ok(NOT (SELECT payload ? 'MessageAttributes' FROM courier.messages WHERE queue_name = 'tp_env'
                ORDER BY msg_id DESC LIMIT 1),
          'no headers: no MessageAttributes in the envelope');
SELECT is(cardinality(pg_temp.payloads('tp_body')), 1,
          'a payload that is not an object passes no payload policy');

-- A received delivery is an ordinary message.
SELECT is((SELECT r.payload FROM courier.receive('tp_big') AS r),
          '{"order": {"id": 1, "total": 250}}'::jsonb, 'deliveries are received like any message');

---------------------------------------------------------------------------
-- Transactions: a rolled-back publish delivers nothing
---------------------------------------------------------------------------
SAVEPOINT before_publish;
SELECT ok(courier.publish('tp_orders', '{"order": {"id": 3, "total": 999}}', '{"size": "big"}') > 0,
          'publish inside a savepoint');
SELECT is(cardinality(pg_temp.payloads('tp_all')), 4, 'inside the transaction the delivery is there');
ROLLBACK TO SAVEPOINT before_publish;
SELECT is(cardinality(pg_temp.payloads('tp_all')), 3, 'rolled back: nothing delivered');
SELECT is(cardinality(pg_temp.payloads('tp_body')), 1, 'rolled back: nothing delivered anywhere');

---------------------------------------------------------------------------
-- Subscription changes reach the next publish (cache invalidation)
---------------------------------------------------------------------------
SELECT lives_ok(format('SELECT courier.unsubscribe(%s)', (SELECT s_big FROM sub)), 'unsubscribe');
SELECT ok(courier.publish('tp_orders', '{"k": 1}', '{"size": "big"}') > 0, 'publish after unsubscribe');
SELECT is(cardinality(pg_temp.payloads('tp_big')), 1, 'an unsubscribed queue gets nothing more');
SELECT is(cardinality(pg_temp.payloads('tp_all')), 4, 'the others still do');
SELECT lives_ok($$SELECT courier.subscribe('tp_orders', 'tp_big', '{"size": ["huge"]}')$$,
                'subscribe again with another policy');
SELECT ok(courier.publish('tp_orders', '{"k": 2}', '{"size": "huge"}') > 0, 'publish after subscribe');
SELECT is(cardinality(pg_temp.payloads('tp_big')), 2, 'the new policy applies at once');
SELECT is((SELECT count(*) FROM courier.audit_log WHERE action = 'unsubscribe'
            AND details->>'subscription_id' = (SELECT s_big FROM sub)::text), 1::bigint,
          'unsubscribe is audited');

---------------------------------------------------------------------------
-- A subscribed queue cannot be dropped
---------------------------------------------------------------------------
SELECT pg_temp.rejects($$SELECT courier.drop_queue('tp_all')$$, '23503', 'drop_queue of a subscribed queue');

---------------------------------------------------------------------------
-- FIFO topics
---------------------------------------------------------------------------
SELECT lives_ok($$SELECT courier.create_queue('tp_f1.fifo', fifo => true)$$, 'FIFO queue 1');
SELECT lives_ok($$SELECT courier.create_queue('tp_f2.fifo', fifo => true)$$, 'FIFO queue 2');
SELECT lives_ok($$SELECT courier.create_topic('tp_events.fifo', fifo => true)$$, 'create_topic(fifo)');
SELECT lives_ok($$SELECT courier.subscribe('tp_events.fifo', 'tp_f1.fifo')$$, 'FIFO queue subscribes');
SELECT lives_ok($$SELECT courier.subscribe('tp_events.fifo', 'tp_f2.fifo', raw_delivery => false)$$,
                'second FIFO queue, envelope delivery');
SELECT pg_temp.rejects($$SELECT courier.subscribe('tp_events.fifo', 'tp_all')$$, '42809',
                       'a standard queue subscribing to a FIFO topic');
SELECT pg_temp.rejects($$SELECT courier.subscribe('tp_orders', 'tp_f1.fifo')$$, '42809',
                       'a FIFO queue subscribing to a standard topic');
SELECT pg_temp.rejects($$SELECT courier.publish('tp_events.fifo', '{"n": 1}')$$, '22023',
                       'FIFO publish without group_id');
SELECT pg_temp.rejects($$SELECT courier.publish('tp_events.fifo', '{"n": 1}', group_id => 'g')$$, '22023',
                       'FIFO publish without dedup_id or content-based dedup');

SELECT is((SELECT count(courier.publish('tp_events.fifo', jsonb_build_object('n', i), group_id => 'g' || (i % 2),
                                         dedup_id => 'd' || i))
             FROM generate_series(1, 6) AS i), 6::bigint, 'six FIFO publishes in two groups');
SELECT is(ARRAY(SELECT r.group_id || ':' || (r.payload->>'n') FROM courier.receive('tp_f1.fifo', 10) AS r),
          ARRAY['g1:1', 'g1:3', 'g1:5', 'g0:2', 'g0:4', 'g0:6'],
          'a FIFO subscriber receives each group in publish order');
SELECT is(ARRAY(SELECT m.group_id || ':' || m.dedup_id FROM courier.messages AS m
                 WHERE m.queue_name = 'tp_f2.fifo' ORDER BY m.msg_id),
          ARRAY['g1:d1', 'g0:d2', 'g1:d3', 'g0:d4', 'g1:d5', 'g0:d6'],
          'group and dedup ids pass through to every subscriber');
SELECT is(ARRAY(SELECT (m.payload->>'SequenceNumber')::bigint < lead((m.payload->>'SequenceNumber')::bigint)
                                                               OVER (ORDER BY m.msg_id)
                  FROM courier.messages AS m WHERE m.queue_name = 'tp_f2.fifo' ORDER BY m.msg_id LIMIT 5),
          ARRAY[true, true, true, true, true], 'FIFO envelopes carry increasing SequenceNumbers');
SELECT ok(courier.publish('tp_events.fifo', '{"n": 1}', group_id => 'g1', dedup_id => 'd1') > 0,
          'a duplicate publish still gets a publish id');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'tp_f2.fifo'), 6::bigint,
          'a duplicate dedup id delivers nothing new');

SELECT lives_ok($$SELECT courier.create_topic('tp_cbd.fifo', fifo => true, content_based_dedup => true)$$,
                'create_topic(content_based_dedup)');
SELECT lives_ok($$SELECT courier.subscribe('tp_cbd.fifo', 'tp_f2.fifo', raw_delivery => false)$$,
                'a queue may subscribe to several topics');
SELECT is((SELECT count(courier.publish('tp_cbd.fifo', '{"same": true}', group_id => 'c'))
             FROM generate_series(1, 2)), 2::bigint, 'the same payload published twice');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'tp_f2.fifo' AND group_id = 'c'), 1::bigint,
          'content-based dedup hashes the published payload, not the envelope');

---------------------------------------------------------------------------
-- Misuse: errors with SQLSTATEs, nothing changed
---------------------------------------------------------------------------
SELECT pg_temp.rejects($$SELECT courier.create_topic('tp_orders')$$, '42710', 'create_topic of an existing topic');
SELECT pg_temp.rejects($$SELECT courier.create_topic('bad name')$$, '42602', 'create_topic with an invalid name');
SELECT pg_temp.rejects($$SELECT courier.create_topic(NULL)$$, '22004', 'create_topic(NULL)');
SELECT pg_temp.rejects($$SELECT courier.create_topic('tp_x', content_based_dedup => true)$$, '22023',
                       'content_based_dedup on a standard topic');
SELECT pg_temp.rejects($$SELECT courier.publish('tp_nope', '{}')$$, '42704', 'publish to an unknown topic');
SELECT pg_temp.rejects($$SELECT courier.publish('tp_orders', NULL)$$, '22004', 'publish of a NULL payload');
SELECT pg_temp.rejects($$SELECT courier.publish(NULL, '{}')$$, '22004', 'publish to a NULL topic');
SELECT pg_temp.rejects($$SELECT courier.publish('tp_orders', '{}', group_id => 'g')$$, '22023',
                       'group_id on a standard topic');
SELECT pg_temp.rejects($$SELECT courier.publish('tp_orders', '{}', dedup_id => 'd')$$, '22023',
                       'dedup_id on a standard topic');
SELECT pg_temp.rejects($$SELECT courier.subscribe('tp_nope', 'tp_all')$$, '42704', 'subscribe to an unknown topic');
SELECT pg_temp.rejects($$SELECT courier.subscribe('tp_orders', 'tp_nope')$$, '42704',
                       'subscribe an unknown queue');
SELECT pg_temp.rejects($$SELECT courier.subscribe('tp_orders', 'tp_all', '{"size": ["x"]}')$$, '42710',
                       'subscribe again with different attributes');
SELECT pg_temp.rejects($$SELECT courier.subscribe('tp_orders', 'tp_env', '{"size": "big"}')$$, '22023',
                       'a policy value that is not a list');
SELECT pg_temp.rejects($$SELECT courier.subscribe('tp_orders', 'tp_env', '{"size": []}')$$, '22023',
                       'an empty value list');
SELECT pg_temp.rejects($$SELECT courier.subscribe('tp_orders', 'tp_env', filter_scope => 'body')$$, '22023',
                       'an unknown filter scope');
SELECT pg_temp.rejects($$SELECT courier.subscribe('tp_orders', 'tp_env', filter_scope => NULL)$$, '22004',
                       'a NULL filter scope');
SELECT pg_temp.rejects($$SELECT courier.unsubscribe(-1)$$, '42704', 'unsubscribe of an unknown subscription');
SELECT pg_temp.rejects($$SELECT courier.drop_topic('tp_nope')$$, '42704', 'drop_topic of an unknown topic');

---------------------------------------------------------------------------
-- Many subscriptions: from 8 policies of one scope on, a topic matches them
-- through a rule set (an index of their exact values).  The deliveries must
-- be exactly what courier.test_filter_policy() says of each policy.
---------------------------------------------------------------------------
CREATE TEMP TABLE tpm_subs (queue_name text, scope text, policy jsonb);
INSERT INTO tpm_subs VALUES
    ('tpm-h01', 'headers', '{"type": ["order.created"]}'),
    ('tpm-h02', 'headers', '{"type": ["order.created"], "region": ["eu"]}'),
    ('tpm-h03', 'headers', '{"type": [{"prefix": "order."}]}'),
    ('tpm-h04', 'headers', '{"region": [{"anything-but": ["eu"]}]}'),
    ('tpm-h05', 'headers', '{"amount": [{"numeric": [">", 100]}]}'),
    ('tpm-h06', 'headers', '{"type": ["order.cancelled"]}'),
    ('tpm-h07', 'headers', '{"region": ["us", "ap"]}'),
    ('tpm-h08', 'headers', '{"vip": [{"exists": false}]}'),
    ('tpm-h09', 'headers', '{"type": ["order.created", "order.cancelled"], "amount": [{"numeric": ["<=", 100]}]}'),
    ('tpm-h10', 'headers', '{"$or": [{"region": ["eu"]}, {"vip": ["yes"]}]}'),
    ('tpm-h11', 'headers', '{"tags": ["red"]}'),
    ('tpm-p01', 'payload', '{"kind": ["a"]}'),
    ('tpm-p02', 'payload', '{"kind": ["a"], "size": [{"numeric": [">=", 5]}]}'),
    ('tpm-p03', 'payload', '{"customer": {"tier": ["gold"]}}'),
    ('tpm-p04', 'payload', '{"kind": [{"prefix": "b"}]}'),
    ('tpm-p05', 'payload', '{"kind": [{"anything-but": {"prefix": "a"}}]}'),
    ('tpm-p06', 'payload', '{"size": [{"numeric": [">", 0, "<", 3]}]}'),
    ('tpm-p07', 'payload', '{"customer": {"country": ["de", "fr"]}}'),
    ('tpm-p08', 'payload', '{"missing": [{"exists": false}], "kind": ["c"]}'),
    ('tpm-p09', 'payload', '{"$or": [{"kind": ["a"]}, {"customer": {"tier": ["silver"]}}]}'),
    ('tpm-p10', 'payload', '{"flags": ["x"]}'),
    ('tpm-all', 'headers', NULL);
SELECT courier.create_topic('tp_many');
SELECT count(*) FROM (SELECT courier.create_queue(queue_name) FROM tpm_subs) AS c;
SELECT count(*) FROM (SELECT courier.subscribe('tp_many', queue_name, policy, scope) FROM tpm_subs) AS c;

-- 48 messages over every combination that matters to the policies above.
CREATE TEMP TABLE tpm_msgs AS
SELECT n,
       jsonb_strip_nulls(jsonb_build_object(
           'type', (ARRAY['order.created', 'order.cancelled', 'invoice.paid'])[n % 3 + 1],
           'region', (ARRAY['eu', 'us', 'ap', NULL])[n % 4 + 1],
           'amount', (ARRAY[50, 150, NULL]::int[])[(n / 3) % 3 + 1],
           'vip', (ARRAY['yes', NULL])[(n / 2) % 2 + 1],
           'tags', CASE WHEN n % 5 = 0 THEN '["red", "blue"]'::jsonb WHEN n % 5 = 1 THEN '["blue"]' END)) AS headers,
       jsonb_strip_nulls(jsonb_build_object(
           'n', n,
           'kind', (ARRAY['a', 'b', 'c', 'd'])[(n / 4) % 4 + 1],
           'size', (ARRAY[1, 7])[(n / 7) % 2 + 1],
           'customer', jsonb_build_object('tier', (ARRAY['gold', 'silver'])[(n / 5) % 2 + 1],
                                          'country', (ARRAY['de', 'us'])[(n / 11) % 2 + 1]),
           'flags', CASE WHEN n % 6 < 2 THEN '["x", "y"]'::jsonb END)) AS payload
  FROM generate_series(1, 48) AS n;
SELECT count(*) FROM (SELECT courier.publish('tp_many', payload, headers) FROM tpm_msgs) AS p;

CREATE TEMP TABLE tpm_expected AS
SELECT s.queue_name, m.n
  FROM tpm_subs AS s CROSS JOIN tpm_msgs AS m
 WHERE courier.test_filter_policy(s.policy, m.headers, m.payload, s.scope);
CREATE TEMP TABLE tpm_delivered AS
SELECT queue_name, (payload->>'n')::int AS n
  FROM courier.messages WHERE queue_name LIKE 'tpm-%';
SELECT is((SELECT string_agg(queue_name || ':' || n, ' ' ORDER BY queue_name, n) FROM tpm_delivered),
          (SELECT string_agg(queue_name || ':' || n, ' ' ORDER BY queue_name, n) FROM tpm_expected),
          'with 11 header and 10 payload policies, each subscription gets exactly the messages its policy passes');
SELECT ok((SELECT count(*) FROM tpm_expected) BETWEEN 200 AND 48 * 22 - 200,
          'the comparison is not trivial: many deliveries, and many messages filtered out');
SELECT is((SELECT count(DISTINCT queue_name) FROM tpm_delivered), 22::bigint,
          'every subscription received something');

---------------------------------------------------------------------------
-- drop_topic
---------------------------------------------------------------------------
CREATE TEMP TABLE before_drop AS
SELECT jsonb_agg(subscription_id ORDER BY subscription_id) AS ids
  FROM courier.subscriptions WHERE topic_name = 'tp_orders';
SELECT is(courier.drop_topic('tp_orders'), true, 'drop_topic');
SELECT is((SELECT count(*) FROM courier.subscriptions WHERE topic_name = 'tp_orders'), 0::bigint,
          'its subscriptions are gone');
SELECT is(cardinality(pg_temp.payloads('tp_all')), 5, 'messages already delivered stay');
SELECT is((SELECT details->'subscriptions' FROM courier.audit_log WHERE action = 'drop_topic'
            AND object_name = 'tp_orders'),
          (SELECT ids FROM before_drop),
          'drop_topic is audited with the subscriptions it removed');
SELECT lives_ok($$SELECT courier.drop_queue('tp_all')$$, 'an unsubscribed queue can be dropped');
SELECT is(courier.drop_topic('tp_orders', if_exists => true), false, 'drop_topic(if_exists) of a missing topic');

SELECT * FROM finish();
ROLLBACK;
