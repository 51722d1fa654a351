-- 15_require_schema: queues, topics and buses that require schemas.  A
-- message sent, published or put there must carry a registered type and
-- version (headers type and schema_version; a bus entry's detail-type and
-- schema-version) and a payload the schema accepts.  Rejected sends and
-- publishes raise CS002 (42704 for a version not registered) and write
-- nothing; send_batch is all or nothing; a bus entry fails alone, with an
-- error code, as in put_events' other per-entry failures.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.courier_state() RETURNS text
LANGUAGE sql AS $$
    SELECT pg_catalog.md5(
        coalesce((SELECT string_agg(q::text, '|' ORDER BY q.queue_name) FROM courier.queues AS q), '')
        || '#' ||
        coalesce((SELECT string_agg(t::text, '|' ORDER BY t.topic_name) FROM courier.topics AS t), '')
        || '#' ||
        coalesce((SELECT string_agg(b::text, '|' ORDER BY b.bus_name) FROM courier.buses AS b), '')
        || '#' ||
        coalesce((SELECT string_agg(m::text, '|' ORDER BY m.msg_id) FROM courier.messages AS m), '')
        || '#' ||
        coalesce((SELECT string_agg(d::text, '|' ORDER BY d.delivery_id)
                    FROM courier.bus_deliveries AS d), '')
        || '#' ||
        coalesce((SELECT string_agg(s::text, '|' ORDER BY s.schema_id) FROM courier.schemas AS s), ''))
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

-- The detail of the error a statement raises.
CREATE FUNCTION pg_temp.error_detail(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    det text;
BEGIN
    EXECUTE stmt;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL;
    RETURN det;
END
$$;

CREATE FUNCTION pg_temp.payloads(q text) RETURNS jsonb[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(m.payload ORDER BY m.msg_id), '{}')
      FROM courier.messages AS m WHERE m.queue_name = q
$$;

SELECT lives_ok($$SELECT courier.register_schema('order.placed', 1,
    '{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}, "additionalProperties": false}')$$,
    'order.placed version 1');
SELECT lives_ok($$SELECT courier.register_schema('order.placed', 2,
    '{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "note": {"type": "string"}}, "additionalProperties": false}')$$,
    'order.placed version 2');

---------------------------------------------------------------------------
-- Queues
---------------------------------------------------------------------------
SELECT lives_ok($$SELECT courier.create_queue('rs_orders')$$, 'queue rs_orders');
SELECT lives_ok($$SELECT courier.create_queue('rs_plain')$$, 'queue rs_plain');
SELECT is((SELECT require_schema FROM courier.queues WHERE queue_name = 'rs_orders'), false,
          'a new queue does not require schemas');
SELECT is(courier.set_require_schema('queue', 'rs_orders', true), false,
          'set_require_schema returns the previous setting');
SELECT is((SELECT require_schema FROM courier.queues WHERE queue_name = 'rs_orders'), true,
          'the queue now requires schemas');

SELECT pg_temp.rejects($$SELECT courier.send('rs_orders', '{"id": 1}')$$,
                       'CS002', 'a send without headers');
SELECT pg_temp.rejects($$SELECT courier.send('rs_orders', '{"id": 1}', '{"type": "order.placed"}')$$,
                       'CS002', 'a send without schema_version');
SELECT pg_temp.rejects($$SELECT courier.send('rs_orders', '{"id": 1}', '{"schema_version": 1}')$$,
                       'CS002', 'a send without type');
SELECT pg_temp.rejects($$SELECT courier.send('rs_orders', '{"id": 1}', '{"type": "order.placed", "schema_version": 3}')$$,
                       '42704', 'a send of a version not registered');
SELECT pg_temp.rejects($$SELECT courier.send('rs_orders', '{"id": 1}', '{"type": "order.shipped", "schema_version": 1}')$$,
                       '42704', 'a send of a type not registered');
SELECT pg_temp.rejects($$SELECT courier.send('rs_orders', '{"id": "1", "note": "x"}', '{"type": "order.placed", "schema_version": 1}')$$,
                       'CS002', 'a send whose payload does not match');
SELECT is(pg_temp.error_detail($$SELECT courier.send('rs_orders', '{"id": "1", "note": "x"}', '{"type": "order.placed", "schema_version": 1}')$$),
          E'$.id: expected integer, got string\n$.note: property is not allowed (additionalProperties is false)',
          'the error lists every violation by path');
SELECT throws_ok($$SELECT courier.send('rs_orders', '{}', '{"type": "order.placed", "schema_version": 2}')$$,
                 'CS002', 'message does not match schema "order.placed" version 2',
                 'the message names the schema');

SELECT ok(courier.send('rs_orders', '{"id": 1}', '{"type": "order.placed", "schema_version": 1}') > 0,
          'a valid message of version 1 is sent');
SELECT ok(courier.send('rs_orders', '{"id": 2, "note": "gift"}', '{"type": "order.placed", "schema_version": "2", "tenant_id": "t1"}') > 0,
          'a valid message of version 2 is sent');
SELECT is((SELECT array_agg(type || '@' || schema_version ORDER BY msg_id) FROM courier.messages WHERE queue_name = 'rs_orders'),
          ARRAY['order.placed@1', 'order.placed@2'], 'type and schema_version are stored in the envelope');
SELECT ok(courier.send('rs_plain', '{"anything": true}') > 0,
          'a queue that does not require schemas takes anything');

-- send_batch: every message is checked before any is written
SELECT pg_temp.rejects($$SELECT * FROM courier.send_batch('rs_orders',
    ARRAY['{"id": 3}', '{"id": 4, "extra": 1}', '{"id": 5}']::jsonb[],
    ARRAY['{"type": "order.placed", "schema_version": 1}', '{"type": "order.placed", "schema_version": 1}',
          '{"type": "order.placed", "schema_version": 1}']::jsonb[])$$,
    'CS002', 'a batch with one bad message');
SELECT is(pg_temp.error_detail($$SELECT * FROM courier.send_batch('rs_orders',
    ARRAY['{"id": 3}', '{"id": 4, "extra": 1}', '{"id": 5}']::jsonb[],
    ARRAY['{"type": "order.placed", "schema_version": 1}', '{"type": "order.placed", "schema_version": 1}',
          '{"type": "order.placed", "schema_version": 1}']::jsonb[])$$),
    E'Element 2 of the batch:\n$.extra: property is not allowed (additionalProperties is false)',
    'the error names the element');
SELECT pg_temp.rejects($$SELECT * FROM courier.send_batch('rs_orders', ARRAY['{"id": 3}', '{"id": 4}']::jsonb[])$$,
    'CS002', 'a batch without headers');
SELECT pg_temp.rejects($$SELECT * FROM courier.send_batch('rs_orders', ARRAY['{"id": 3}', '{"id": 4}']::jsonb[],
    ARRAY['{"type": "order.placed", "schema_version": 1}', '{"type": "order.placed", "schema_version": 7}']::jsonb[])$$,
    '42704', 'a batch with a version not registered');
SELECT is((SELECT count(*) FROM courier.send_batch('rs_orders', ARRAY['{"id": 3}', '{"id": 4, "note": "n"}']::jsonb[],
    ARRAY['{"type": "order.placed", "schema_version": 1}', '{"type": "order.placed", "schema_version": 2}']::jsonb[])),
    2::bigint, 'a valid batch (versions may differ per message) is sent');
SELECT is(pg_temp.payloads('rs_orders'),
          ARRAY['{"id": 1}', '{"id": 2, "note": "gift"}', '{"id": 3}', '{"id": 4, "note": "n"}']::jsonb[],
          'only valid messages were written');

-- FIFO queues check before deduplication and group ordering
SELECT lives_ok($$SELECT courier.create_queue('rs_orders.fifo', fifo => true, content_based_dedup => true)$$,
                'FIFO queue rs_orders.fifo');
SELECT lives_ok($$SELECT courier.set_require_schema('queue', 'rs_orders.fifo', true)$$,
                'it requires schemas');
SELECT pg_temp.rejects($$SELECT courier.send('rs_orders.fifo', '{"id": null}', '{"type": "order.placed", "schema_version": 1}', group_id => 'g')$$,
                       'CS002', 'a FIFO send whose payload does not match');
SELECT pg_temp.rejects($$SELECT * FROM courier.send_batch('rs_orders.fifo', ARRAY['{"id": 1}', '{}']::jsonb[],
    ARRAY['{"type": "order.placed", "schema_version": 1}', '{"type": "order.placed", "schema_version": 1}']::jsonb[],
    group_ids => ARRAY['g', 'g'])$$,
    'CS002', 'a FIFO batch with one bad message');
SELECT is((SELECT count(*) FROM courier.send_batch('rs_orders.fifo', ARRAY['{"id": 1}', '{"id": 2}']::jsonb[],
    ARRAY['{"type": "order.placed", "schema_version": 1}', '{"type": "order.placed", "schema_version": 1}']::jsonb[],
    group_ids => ARRAY['g', 'g'])), 2::bigint, 'a valid FIFO batch is sent');

-- a deleted version is refused from then on
SELECT lives_ok($$SELECT courier.delete_schema('order.placed', 1)$$, 'version 1 deleted');
SELECT pg_temp.rejects($$SELECT courier.send('rs_orders', '{"id": 1}', '{"type": "order.placed", "schema_version": 1}')$$,
                       '42704', 'a send of a deleted version');
SELECT ok(courier.send('rs_orders', '{"id": 9}', '{"type": "order.placed", "schema_version": 2}') > 0,
          'version 2 is still accepted');

-- turned off again: anything goes
SELECT is(courier.set_require_schema('queue', 'rs_orders', false), true, 'requirement lifted');
SELECT ok(courier.send('rs_orders', '"not even an object"') > 0, 'then any message is sent');
SELECT lives_ok($$SELECT courier.set_require_schema('queue', 'rs_orders', true)$$, 'required again');

-- a rejected send inside a transaction leaves the transaction's earlier work
SAVEPOINT before_bad_send;
SELECT ok(courier.send('rs_plain', '{"in": "transaction"}') > 0, 'an earlier send in the transaction');
SELECT throws_ok($$SELECT courier.send('rs_orders', '{}', '{"type": "order.placed", "schema_version": 2}')$$,
                 'CS002', NULL, 'a bad send in the same transaction');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'rs_plain' AND payload = '{"in": "transaction"}'),
          1::bigint, 'the earlier send is still there');
ROLLBACK TO SAVEPOINT before_bad_send;

---------------------------------------------------------------------------
-- Topics
---------------------------------------------------------------------------
SELECT lives_ok($$SELECT courier.create_topic('rs_events')$$, 'topic rs_events');
SELECT lives_ok($$SELECT courier.create_queue('rs_sub')$$, 'queue rs_sub');
SELECT lives_ok($$SELECT courier.subscribe('rs_events', 'rs_sub')$$, 'rs_sub subscribes');
SELECT lives_ok($$SELECT courier.subscribe('rs_events', 'rs_plain', raw_delivery => false)$$, 'rs_plain subscribes (envelope)');
SELECT is(courier.set_require_schema('topic', 'rs_events', true), false, 'the topic requires schemas');
SELECT pg_temp.rejects($$SELECT courier.publish('rs_events', '{"id": 1}')$$, 'CS002', 'a publish without headers');
SELECT pg_temp.rejects($$SELECT courier.publish('rs_events', '{"id": "x"}', '{"type": "order.placed", "schema_version": 2}')$$,
                       'CS002', 'a publish whose payload does not match');
SELECT pg_temp.rejects($$SELECT courier.publish('rs_events', '{"id": 1}', '{"type": "order.placed", "schema_version": 4}')$$,
                       '42704', 'a publish of a version not registered');
SELECT ok(courier.publish('rs_events', '{"id": 10}', '{"type": "order.placed", "schema_version": 2}') > 0,
          'a valid message is published');
SELECT is(pg_temp.payloads('rs_sub'), ARRAY['{"id": 10}']::jsonb[], 'and delivered');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'rs_plain' AND payload ? 'Message'),
          1::bigint, 'also in an envelope to a non-raw subscription');
-- the topic checked the message: subscribed queues do not check it again
-- (a queue's requirement guards send and send_batch to it)
SELECT lives_ok($$SELECT courier.set_require_schema('topic', 'rs_events', false)$$, 'topic requirement lifted');
SELECT lives_ok($$SELECT courier.subscribe('rs_events', 'rs_orders')$$, 'rs_orders (which requires schemas) subscribes');
SELECT ok(courier.publish('rs_events', '"free"') > 0, 'a topic without the requirement publishes anything');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'rs_orders' AND payload = '"free"'),
          1::bigint, 'even into a queue that requires schemas of its senders');

---------------------------------------------------------------------------
-- Buses
---------------------------------------------------------------------------
SELECT lives_ok($$SELECT courier.create_bus('rs_bus')$$, 'bus rs_bus');
SELECT lives_ok($$SELECT courier.create_queue('rs_target')$$, 'queue rs_target');
SELECT lives_ok($$SELECT courier.put_rule('rs_bus', 'all', '{"source": ["shop"]}')$$, 'a rule');
SELECT lives_ok($$SELECT courier.put_target('rs_bus', 'all', 'q', 'queue:rs_target')$$, 'a queue target');
SELECT is(courier.set_require_schema('bus', 'rs_bus', true), false, 'the bus requires schemas');

CREATE TEMP TABLE put AS
SELECT row_number() OVER () AS n, r.*
  FROM courier.put_events('rs_bus', '[
    {"source": "shop", "detail-type": "order.placed", "schema-version": 2, "detail": {"id": 1}},
    {"source": "shop", "detail-type": "order.placed", "schema-version": 2, "detail": {"id": "one"}},
    {"source": "shop", "detail-type": "order.placed", "detail": {"id": 1}},
    {"source": "shop", "detail-type": "order.placed", "schema-version": 6, "detail": {"id": 1}},
    {"source": "shop", "detail-type": "order.placed", "schema-version": "x", "detail": {"id": 1}},
    {"source": "shop", "detail-type": "order.placed", "schema-version": "2", "detail": {"id": 2, "note": "n"}}
  ]') AS r;
SELECT is((SELECT array_agg(coalesce(error_code, 'ok') ORDER BY n) FROM put),
          ARRAY['ok', 'SchemaViolation', 'InvalidArgument', 'SchemaNotFound', 'InvalidArgument', 'ok'],
          'each entry fails alone, with an error code');
SELECT is((SELECT error FROM put WHERE n = 2),
          'Detail does not match schema "order.placed" version 2: $.id: expected integer, got string.',
          'the error says what does not match');
SELECT is((SELECT count(*) FROM put WHERE event_id IS NOT NULL), 2::bigint, 'two events have ids');
SELECT is((SELECT array_agg(payload->'detail' ORDER BY msg_id) FROM courier.messages WHERE queue_name = 'rs_target'),
          ARRAY['{"id": 1}', '{"id": 2, "note": "n"}']::jsonb[], 'only the valid entries were routed');
SELECT is((SELECT array_agg(type || '@' || schema_version ORDER BY msg_id) FROM courier.messages WHERE queue_name = 'rs_target'),
          ARRAY['order.placed@2', 'order.placed@2'], 'a queue target gets type and schema_version');
SELECT is((SELECT array_agg((payload->>'schema-version')::int ORDER BY msg_id) FROM courier.messages WHERE queue_name = 'rs_target'),
          ARRAY[2, 2], 'the event keeps its schema-version');
-- a bus that does not require schemas takes schema-version but does not check it
SELECT is(courier.set_require_schema('bus', 'rs_bus', false), true, 'bus requirement lifted');
SELECT is((SELECT count(*) FROM courier.put_events('rs_bus',
             '[{"source": "shop", "detail-type": "anything", "schema-version": 99, "detail": {}}]') WHERE event_id IS NOT NULL),
          1::bigint, 'then an unregistered version is routed');
SELECT is((SELECT error_code FROM courier.put_events('rs_bus',
             '[{"source": "shop", "detail-type": "anything", "schema-version": 0, "detail": {}}]')),
          'InvalidArgument', 'a schema-version that is not a positive integer still fails its entry');

SELECT * FROM finish();
ROLLBACK;
