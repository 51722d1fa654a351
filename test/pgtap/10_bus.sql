-- 10_bus: EventBridge-style event buses: buses, rules and targets
-- (validation, replacement, limits), put_events (the envelope it builds,
-- per-entry failures by position, call-level errors), transactional
-- routing to queue, topic and bus targets (rollback delivers nothing, loops
-- stop), function targets delivered by tick() (success commits with the
-- function's writes, retries with backoff, MaximumRetryAttempts and
-- MaximumEventAgeInSeconds, dead-letter queue with EventBridge's attributes,
-- dropped without one, errors that skip retries, the role a target runs
-- as), replays through _route_event, and misuse rejected with a SQLSTATE
-- and no change.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
-- Statistics count committed work only, so they are tested by
-- test/sql/bus_api.sql, not in this rolled-back transaction.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.bus_state() RETURNS text
LANGUAGE sql AS $$
    SELECT pg_catalog.md5(
        coalesce((SELECT string_agg(b::text, '|' ORDER BY b.bus_name) FROM courier.buses AS b), '')
        || '#' ||
        coalesce((SELECT string_agg(r::text, '|' ORDER BY r.rule_id) FROM courier.rules AS r), '')
        || '#' ||
        coalesce((SELECT string_agg(t::text, '|' ORDER BY t.target_key) FROM courier.targets AS t), '')
        || '#' ||
        coalesce((SELECT string_agg(d::text, '|' ORDER BY d.delivery_id)
                    FROM courier.bus_deliveries AS d), '')
        || '#' ||
        coalesce((SELECT string_agg(m::text, '|' ORDER BY m.msg_id) FROM courier.messages AS m), '')
        || '#' ||
        coalesce((SELECT string_agg(a::text, '|' ORDER BY a.audit_id) FROM courier.audit_log AS a), ''))
$$;

CREATE FUNCTION pg_temp.rejects(stmt text, errcode text, descr text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.bus_state();
BEGIN
    RETURN NEXT throws_ok(stmt, errcode::char(5), NULL, descr || ' raises ' || errcode);
    RETURN NEXT is(pg_temp.bus_state(), before, descr || ': nothing changed');
END
$$;

-- The payloads waiting in a queue, oldest first, received and deleted (the
-- clock jumps ahead in this file: a message only received would come back).
CREATE FUNCTION pg_temp.drain(queue text) RETURNS jsonb[]
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    got jsonb[] := '{}';
BEGIN
    FOR r IN SELECT * FROM courier.receive(queue, 100) ORDER BY msg_id LOOP
        got := got || r.payload;
        PERFORM courier.delete(queue, r.receipt);
    END LOOP;
    RETURN got;
END
$$;

-- The same for the headers of the dead letters.
CREATE FUNCTION pg_temp.dead_letters() RETURNS TABLE (event_id text, headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM courier.receive('bus_dlq', 100) ORDER BY msg_id LOOP
        event_id := r.payload->>'id';
        headers := r.headers;
        RETURN NEXT;
        PERFORM courier.delete('bus_dlq', r.receipt);
    END LOOP;
END
$$;

CREATE FUNCTION pg_temp.entry(source text, detail_type text, detail jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('source', source, 'detail-type', detail_type, 'detail', detail)
$$;

SELECT courier.create_queue('bus_orders');
SELECT courier.create_queue('bus_big');
SELECT courier.create_queue('bus_dlq');
SELECT courier.create_queue('bus_fifo.fifo', fifo => true, content_based_dedup => true);

------------------------------------------------------------------------------
-- buses
SELECT lives_ok($$SELECT courier.create_bus('shop')$$, 'create_bus');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_bus('shop')$$, '42710', 'an existing bus');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_bus('no spaces')$$, '42602', 'a bus name with a space');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_bus(repeat('b', 257))$$, '42602', 'a bus name of 257 characters');
SELECT * FROM pg_temp.rejects($$SELECT courier.create_bus(NULL)$$, '22004', 'a NULL bus name');
SELECT is((SELECT count(*) FROM courier.list_buses() WHERE bus_name = 'shop'), 1::bigint,
          'list_buses shows the bus');

------------------------------------------------------------------------------
-- rules
SELECT ok(courier.put_rule('shop', 'orders', '{"source": ["shop.orders"]}') > 0, 'put_rule returns an id');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_rule('shop', 'bad', '{"source": "shop"}')$$,
                              '22023', 'an invalid event pattern');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_rule('nobus', 'r', '{"source": ["x"]}')$$,
                              '42704', 'a rule on a missing bus');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_rule('shop', 'bad name', '{"source": ["x"]}')$$,
                              '42602', 'a rule name with a space');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_rule('shop', repeat('r', 65), '{"source": ["x"]}')$$,
                              '42602', 'a rule name of 65 characters');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_rule('shop', 'r', NULL)$$, '22004', 'a NULL pattern');
SELECT * FROM pg_temp.rejects(
    format($$SELECT courier.put_rule('shop', 'long', '{"source": [%s]}')$$,
           (SELECT string_agg(format('"%s"', repeat('s', 40) || i), ',') FROM generate_series(1, 100) AS i)),
    '54000', 'a pattern over 4096 characters');
SELECT courier.put_rule('shop', 'big', '{"detail": {"total": [{"numeric": [">", 100]}]}}');
SET LOCAL courier.max_rules_per_bus = 2;
SELECT * FROM pg_temp.rejects($$SELECT courier.put_rule('shop', 'third', '{"source": ["x"]}')$$,
                              '54000', 'a rule past courier.max_rules_per_bus');
SELECT lives_ok($$SELECT courier.put_rule('shop', 'big', '{"detail": {"total": [{"numeric": [">", 100]}]}}')$$,
                'replacing a rule at the limit');
RESET courier.max_rules_per_bus;

------------------------------------------------------------------------------
-- targets
SELECT lives_ok($$SELECT courier.put_target('shop', 'orders', 'q', 'queue:bus_orders')$$,
                'a queue target');
SELECT lives_ok($$SELECT courier.put_target('shop', 'big', 'q', 'queue:bus_big')$$,
                'a queue target on another rule');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'queue')$$,
                              '22023', 'a target without a kind');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'lambda:f')$$,
                              '22023', 'an unknown target kind');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'state_machine:m')$$,
                              '42704', 'a missing state machine');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'queue:nope')$$,
                              '42704', 'a missing queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'queue:bus_fifo.fifo')$$,
                              '0A000', 'a FIFO queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'topic:nope')$$,
                              '42704', 'a missing topic');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'bus:shop')$$,
                              '22023', 'the rule''s own bus');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'bus:nope')$$,
                              '42704', 'a missing bus');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:public.nope')$$,
                              '42883', 'a missing function');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'nope', 'x', 'queue:bus_orders')$$,
                              '42704', 'a missing rule');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'bad id', 'queue:bus_orders')$$,
                              '42602', 'a target id with a space');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'queue:bus_orders',
                                                          dead_letter_queue => 'bus_dlq')$$,
                              '22023', 'a dead-letter queue on a queue target');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'queue:bus_orders',
                                                          retry_policy => '{"MaximumRetryAttempts": 1}')$$,
                              '22023', 'a retry policy on a queue target');

CREATE TABLE public.bus_seen (event_id text PRIMARY KEY, role name, body jsonb);
CREATE TABLE public.bus_fail (fail boolean);
INSERT INTO public.bus_fail VALUES (false);
-- A target function: fails while bus_fail says so, else records the event.
CREATE FUNCTION public.bus_handler(e jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    IF (SELECT fail FROM bus_fail) THEN
        RAISE EXCEPTION 'target bug' USING ERRCODE = 'data_exception';
    END IF;
    INSERT INTO bus_seen VALUES (e->>'id', current_user, e);
END
$$;
CREATE FUNCTION public.bus_handler_text(e text) RETURNS void LANGUAGE sql AS $$ SELECT $$;

SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:public.bus_handler_text')$$,
                              '42883', 'a function that takes no jsonb');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:bus_handler')$$,
                              '22023', 'a function target without its schema');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:public.bus_handler',
                                                          retry_policy => '[]')$$,
                              '22023', 'a retry policy that is not an object');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:public.bus_handler',
                                                          retry_policy => '{"MaximumRetries": 3}')$$,
                              '22023', 'an unknown retry policy key');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:public.bus_handler',
                                                          retry_policy => '{"MaximumRetryAttempts": 186}')$$,
                              '22023', 'MaximumRetryAttempts 186');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:public.bus_handler',
                                                          retry_policy => '{"MaximumRetryAttempts": 1.5}')$$,
                              '22023', 'MaximumRetryAttempts 1.5');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:public.bus_handler',
                                                          retry_policy => '{"MaximumEventAgeInSeconds": 59}')$$,
                              '22023', 'MaximumEventAgeInSeconds 59');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:public.bus_handler',
                                                          retry_policy => '{"MaximumEventAgeInSeconds": 86401}')$$,
                              '22023', 'MaximumEventAgeInSeconds 86401');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'function:public.bus_handler',
                                                          dead_letter_queue => 'bus_fifo.fifo')$$,
                              '42704', 'a FIFO dead-letter queue');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'orders', 'x', 'bus:shop', input => '{}')$$,
                              '22023', 'input on a bus target');

SELECT results_eq($$SELECT rule, target_id, target, retry_policy FROM courier.list_targets('shop')$$,
                  $$VALUES ('big'::text, 'q'::text, 'queue:bus_big'::text, NULL::jsonb),
                           ('orders', 'q', 'queue:bus_orders', NULL)$$,
                  'list_targets');
SELECT results_eq($$SELECT rule_name, enabled, targets FROM courier.list_rules('shop')$$,
                  $$VALUES ('big'::text, true, 1::bigint), ('orders', true, 1)$$,
                  'list_rules');

-- five targets per rule
SELECT courier.put_rule('shop', 'five', '{"source": ["five"]}');
SELECT courier.put_target('shop', 'five', 't' || i, 'queue:bus_orders') FROM generate_series(1, 5) AS i;
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'five', 't6', 'queue:bus_orders')$$,
                              '54000', 'a sixth target');
SELECT lives_ok($$SELECT courier.put_target('shop', 'five', 't5', 'queue:bus_big')$$,
                'replacing one of five targets');
SELECT is((SELECT target FROM courier.targets WHERE rule_name = 'five' AND target_id = 't5'),
          'queue:bus_big', 'put_target replaced the target');
SELECT * FROM pg_temp.rejects($$SELECT courier.delete_rule('shop', 'five')$$, '2BP01',
                              'deleting a rule that has targets');
SELECT lives_ok($$SELECT courier.delete_rule('shop', 'five', force => true)$$, 'delete_rule with force');
SELECT is((SELECT count(*) FROM courier.targets WHERE rule_name = 'five'), 0::bigint,
          'its targets went with it');

-- a targeted queue cannot be dropped
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_queue('bus_big')$$, '23503', 'dropping a targeted queue');

------------------------------------------------------------------------------
-- put_events: the call
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.put_events('nobus', '[{"source": "a", "detail-type": "b", "detail": {}}]')$$,
                              '42704', 'put_events on a missing bus');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.put_events('shop', '{}')$$, '22023', 'events not an array');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.put_events('shop', '[]')$$, '22023', 'no entries');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.put_events('shop',
                                  (SELECT jsonb_agg(pg_temp.entry('a', 'b', '{}')) FROM generate_series(1, 11)))$$,
                              '22023', 'eleven entries');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.put_events('shop', NULL)$$, '22004', 'NULL events');
SELECT * FROM pg_temp.rejects($$SELECT * FROM courier.put_events(NULL, '[]')$$, '22004', 'a NULL bus');

-- put_events: entries fail alone, by position
CREATE TEMP TABLE results AS
SELECT row_number() OVER () AS n, r.*
  FROM courier.put_events('shop', jsonb_build_array(
        pg_temp.entry('shop.orders', 'OrderPlaced', '{"total": 250}'),
        jsonb_build_object('source', 'shop.orders', 'detail', '{}'::jsonb),
        jsonb_build_object('detail-type', 'x', 'detail', '{}'::jsonb),
        pg_temp.entry('shop.orders', 'OrderPlaced', '[1]'),
        jsonb_build_object('source', 'shop.orders', 'detail-type', 'x'),
        pg_temp.entry('aws.ec2', 'x', '{}'),
        pg_temp.entry('shop.orders', 'x', '{}') || '{"time": "yesterday"}',
        pg_temp.entry('shop.orders', 'x', '{}') || '{"colour": "red"}',
        '"not an object"'::jsonb,
        pg_temp.entry('shop.orders', 'OrderPlaced', '{"total": 5}')
            || '{"time": "2026-12-01T10:00:00.5+01:00", "resources": ["arn:shop:order/1"]}')) AS r;
SELECT results_eq($$SELECT n, event_id IS NOT NULL, error_code FROM results ORDER BY n$$,
                  $$VALUES (1::bigint, true, NULL::text), (2, false, 'InvalidArgument'),
                           (3, false, 'InvalidArgument'), (4, false, 'MalformedDetail'),
                           (5, false, 'InvalidArgument'), (6, false, 'NotAuthorizedForSourceException'),
                           (7, false, 'InvalidArgument'), (8, false, 'InvalidArgument'),
                           (9, false, 'InvalidArgument'), (10, true, NULL)$$,
                  'one result per entry, in order: bad entries fail alone with their code');
SELECT ok((SELECT bool_and(error IS NOT NULL) FROM results WHERE event_id IS NULL),
          'every failure has a message');
SELECT alike((SELECT error FROM results WHERE n = 2), '%detail-type%', 'the message names the field');

-- what the bus made of the entries
CREATE TEMP TABLE got AS SELECT unnest(pg_temp.drain('bus_orders')) AS e;
SELECT is((SELECT count(*) FROM got), 2::bigint, 'the two valid entries reached the queue target');
SELECT is((SELECT array_agg(e->>'id' ORDER BY e->>'id') FROM got),
          (SELECT array_agg(event_id::text ORDER BY event_id::text) FROM results WHERE event_id IS NOT NULL),
          'the events carry the ids put_events returned');
SELECT is((SELECT e - 'id' - 'time' FROM got WHERE e->'detail'->>'total' = '250'),
          jsonb_build_object('version', '0', 'detail-type', 'OrderPlaced', 'source', 'shop.orders',
                             'account', current_database(), 'region', current_setting('courier.region'),
                             'resources', '[]'::jsonb, 'detail', '{"total": 250}'::jsonb),
          'the envelope: version, detail-type, source, account, region, resources, detail');
SELECT ok((SELECT e->>'time' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$' FROM got WHERE e->'detail'->>'total' = '250'),
          'time is yyyy-MM-ddTHH:mm:ssZ');
SELECT is((SELECT e->>'time' FROM got WHERE e->'detail'->>'total' = '5'), '2026-12-01T09:00:00Z',
          'a given time is kept, in UTC');
SELECT is((SELECT e->'resources' FROM got WHERE e->'detail'->>'total' = '5'), '["arn:shop:order/1"]',
          'resources are kept');
SELECT is(pg_temp.drain('bus_big'), ARRAY[(SELECT e FROM got WHERE e->'detail'->>'total' = '250')],
          'the other rule matched only the big order');

-- the headers a queue target's message carries
SELECT courier.put_events('shop', jsonb_build_array(pg_temp.entry('shop.orders', 'OrderPlaced', '{}')));
SELECT results_eq($$SELECT type, idempotency_key = payload->>'id', headers FROM courier.receive('bus_orders', 1)$$,
                  $$VALUES ('OrderPlaced'::text, true,
                            '{"bus": "shop", "rule": "orders", "event_source": "shop.orders"}'::jsonb)$$,
                  'type is the detail-type, idempotency_key the event id');
SELECT courier.purge_queue('bus_orders');

-- an oversized entry fails alone
SELECT results_eq($$SELECT error_code FROM courier.put_events('shop', jsonb_build_array(
                        pg_temp.entry('shop.orders', 'x', jsonb_build_object('blob', repeat('x', 262144))),
                        pg_temp.entry('shop.orders', 'x', '{}')))$$,
                  $$VALUES ('EntryTooLarge'::text), (NULL)$$,
                  'an entry over 256 KB fails alone');
SELECT is(cardinality(pg_temp.drain('bus_orders')), 1, 'and only the other one was delivered');

-- a rollback delivers nothing
SAVEPOINT before_put;
SELECT courier.put_events('shop', jsonb_build_array(pg_temp.entry('shop.orders', 'x', '{"total": 500}')));
ROLLBACK TO SAVEPOINT before_put;
SELECT is(cardinality(pg_temp.drain('bus_orders')) + cardinality(pg_temp.drain('bus_big')), 0,
          'rolled back: nothing delivered to any target');

-- a disabled rule matches nothing; enabled again, it does
SELECT courier.disable_rule('shop', 'orders');
SELECT courier.put_events('shop', jsonb_build_array(pg_temp.entry('shop.orders', 'x', '{}')));
SELECT is(cardinality(pg_temp.drain('bus_orders')), 0, 'a disabled rule delivers nothing');
SELECT courier.enable_rule('shop', 'orders');
SELECT courier.put_events('shop', jsonb_build_array(pg_temp.entry('shop.orders', 'x', '{}')));
SELECT is(cardinality(pg_temp.drain('bus_orders')), 1, 'enabled again, it does');
SELECT * FROM pg_temp.rejects($$SELECT courier.disable_rule('shop', 'nope')$$, '42704', 'disabling a missing rule');

-- put_rule replaces the pattern and keeps the targets
SELECT courier.put_rule('shop', 'orders', '{"source": ["shop.returns"]}');
SELECT courier.put_events('shop', jsonb_build_array(pg_temp.entry('shop.orders', 'x', '{}'),
                                                    pg_temp.entry('shop.returns', 'x', '{}')));
SELECT is((SELECT array_agg(p->>'source') FROM unnest(pg_temp.drain('bus_orders')) AS p), ARRAY['shop.returns'],
          'put_rule replaced the pattern; the target stayed');
SELECT courier.put_rule('shop', 'orders', '{"source": ["shop.orders"]}');

------------------------------------------------------------------------------
-- input shaping on targets (the engine: test/sql/input_transformers.sql)
SELECT courier.create_queue('bus_shaped');
SELECT courier.put_rule('shop', 'shaped', '{"source": ["shop.shaped"]}');
SELECT courier.put_target('shop', 'shaped', 'const', 'queue:bus_shaped', input => '{"fixed": true}');
SELECT courier.put_target('shop', 'shaped', 'path', 'queue:bus_shaped', input_path => '$.detail.order');
SELECT courier.put_target('shop', 'shaped', 'tmpl', 'queue:bus_shaped', input_transformer =>
    '{"InputPathsMap": {"id": "$.detail.order.id", "kind": "$.detail-type"},
      "InputTemplate": "{\"order\": <id>, \"text\": \"<kind> <id> by <aws.events.rule-name>\"}"}');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'shaped', 'two', 'queue:bus_shaped',
                                                          input => '{}', input_path => '$')$$,
                              '22023', 'input and input_path together');
SELECT * FROM pg_temp.rejects($$SELECT courier.put_target('shop', 'shaped', 'bad', 'queue:bus_shaped',
                                                          input_transformer => '{"InputTemplate": "<nope>"}')$$,
                              '22023', 'a template with an unknown placeholder');
SELECT courier.put_events('shop', jsonb_build_array(pg_temp.entry('shop.shaped', 'OrderPlaced',
                                                                  '{"order": {"id": 7, "lines": 2}}')));
SELECT is(pg_temp.drain('bus_shaped'),
          ARRAY['{"fixed": true}', '{"id": 7, "lines": 2}',
                '{"order": 7, "text": "OrderPlaced 7 by shaped"}']::jsonb[],
          'each target got its own shape of the event: constant, path, template (in target id order)');

------------------------------------------------------------------------------
-- topic and bus targets
SELECT courier.create_topic('bus_topic');
SELECT courier.create_queue('bus_topic_sub');
SELECT courier.subscribe('bus_topic', 'bus_topic_sub', filter_policy => '{"type": ["Shipped"]}');
SELECT courier.put_rule('shop', 'shipped', '{"detail-type": ["Shipped", "Lost"]}');
SELECT courier.put_target('shop', 'shipped', 't', 'topic:bus_topic');
SELECT courier.put_events('shop', jsonb_build_array(pg_temp.entry('shop.x', 'Shipped', '{"n": 1}'),
                                                    pg_temp.entry('shop.x', 'Lost', '{"n": 2}')));
SELECT is((SELECT array_agg(p->'detail'->>'n') FROM unnest(pg_temp.drain('bus_topic_sub')) AS p), ARRAY['1'],
          'a topic target publishes; the subscription''s filter policy sees the headers');

SELECT courier.create_bus('audit');
SELECT courier.create_queue('bus_audit');
SELECT courier.put_rule('audit', 'all', '{"source": [{"prefix": ""}]}');
SELECT courier.put_target('audit', 'all', 'q', 'queue:bus_audit');
SELECT courier.put_rule('shop', 'forward', '{"source": ["shop.orders"]}');
SELECT courier.put_target('shop', 'forward', 'b', 'bus:audit');
CREATE TEMP TABLE fwd AS
SELECT event_id FROM courier.put_events('shop', jsonb_build_array(pg_temp.entry('shop.orders', 'x', '{}')));
SELECT is((SELECT array_agg(p->>'id') FROM unnest(pg_temp.drain('bus_audit')) AS p),
          ARRAY[(SELECT event_id::text FROM fwd)],
          'a bus target forwards the event with its id unchanged');
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_bus('audit')$$, '2BP01', 'dropping a bus another bus targets');

-- a loop: audit forwards back to shop; each bus sees the event once
SELECT pg_temp.drain('bus_orders');
SELECT courier.put_rule('audit', 'back', '{"source": ["shop.orders"]}');
SELECT courier.put_target('audit', 'back', 'b', 'bus:shop');
SELECT courier.put_events('shop', jsonb_build_array(pg_temp.entry('shop.orders', 'x', '{}')));
SELECT is(cardinality(pg_temp.drain('bus_audit')), 1, 'loop: the second bus got the event once');
SELECT is(cardinality(pg_temp.drain('bus_orders')), 1, 'loop: the first bus did not route it again');
SELECT courier.put_events('audit', jsonb_build_array(pg_temp.entry('shop.orders', 'x', '{}')));
SELECT is(cardinality(pg_temp.drain('bus_orders')), 1, 'put on the second bus: forwarded to the first');
SELECT is(cardinality(pg_temp.drain('bus_audit')), 1, 'and not back again');
SELECT courier.remove_target('audit', 'back', 'b');
SELECT * FROM pg_temp.rejects($$SELECT courier.remove_target('audit', 'back', 'b')$$, '42704',
                              'removing a missing target');

------------------------------------------------------------------------------
-- function targets, delivered by tick()
SELECT courier.create_bus('jobs');
SELECT courier.put_rule('jobs', 'work', '{"source": ["jobs"]}');
SELECT courier.put_target('jobs', 'work', 'f', 'function:public.bus_handler',
                          retry_policy => '{"MaximumRetryAttempts": 2}', dead_letter_queue => 'bus_dlq');
SELECT is((SELECT retry_policy FROM courier.list_targets('jobs')),
          '{"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 86400}', 'the retry policy, defaults filled in');
CREATE TEMP TABLE job1 AS
SELECT event_id FROM courier.put_events('jobs', jsonb_build_array(pg_temp.entry('jobs', 'Run', '{"n": 1}')));
SELECT is((SELECT count(*) FROM courier.bus_deliveries WHERE bus_name = 'jobs'), 1::bigint,
          'put_events wrote a delivery for the function target');
SELECT is((SELECT count(*) FROM public.bus_seen), 0::bigint, 'the function is not called by put_events');
SELECT courier.tick();
SELECT results_eq($$SELECT event_id, role FROM public.bus_seen$$,
                  $$SELECT event_id::text, current_user::name FROM job1$$,
                  'tick called the function with the event, as the role that put the target');
SELECT is((SELECT count(*) FROM courier.bus_deliveries WHERE bus_name = 'jobs'), 0::bigint,
          'a successful delivery is gone');

-- a failure is retried after a backoff
UPDATE public.bus_fail SET fail = true;
SELECT courier.put_events('jobs', jsonb_build_array(pg_temp.entry('jobs', 'Run', '{"n": 2}')));
SELECT courier.tick();
SELECT results_eq($$SELECT attempts, last_error_code, last_error_message FROM courier.bus_deliveries$$,
                  $$VALUES (1, '22000'::text, 'target bug'::text)$$,
                  'a failed attempt is recorded with its SQLSTATE and message');
SELECT ok((SELECT next_attempt_at - ingested_at BETWEEN interval '0.4 s' AND interval '1.5 s'
             FROM courier.bus_deliveries),
          'the first retry waits about a second');
SELECT courier.tick();
SELECT is((SELECT attempts FROM courier.bus_deliveries), 1, 'not retried before its time');
UPDATE public.bus_fail SET fail = false;
SET LOCAL courier.clock_offset = 2;
SELECT courier.tick();
SELECT is((SELECT count(*) FROM courier.bus_deliveries), 0::bigint, 'retried once due, it succeeded');
SELECT is((SELECT count(*) FROM public.bus_seen WHERE body->'detail'->>'n' = '2'), 1::bigint,
          'the function''s writes of the successful attempt are there, once');

-- MaximumRetryAttempts exhausted: to the dead-letter queue
UPDATE public.bus_fail SET fail = true;
CREATE TEMP TABLE job3 AS
SELECT event_id FROM courier.put_events('jobs', jsonb_build_array(pg_temp.entry('jobs', 'Run', '{"n": 3}')));
SET LOCAL courier.clock_offset = 10;
SELECT courier.tick();
SET LOCAL courier.clock_offset = 20;
SELECT courier.tick();
SELECT is((SELECT attempts FROM courier.bus_deliveries), 2, 'two attempts failed');
SET LOCAL courier.clock_offset = 40;
SELECT courier.tick();
SELECT is((SELECT count(*) FROM courier.bus_deliveries), 0::bigint, 'after the last retry the delivery is gone');
SELECT results_eq($$SELECT event_id, headers FROM pg_temp.dead_letters()$$,
                  $$SELECT event_id::text, jsonb_build_object(
                        'ERROR_CODE', '22000', 'ERROR_MESSAGE', 'target bug',
                        'EXHAUSTED_RETRY_CONDITION', 'MaximumRetryAttempts', 'RETRY_ATTEMPTS', 2,
                        'RULE_ARN', format('arn:courier:events:%s:%s:rule/jobs/work',
                                           current_setting('courier.region'), current_database()),
                        'TARGET_ARN', 'function:public.bus_handler') FROM job3$$,
                  'the event went to the dead-letter queue with EventBridge''s attributes');
SELECT is((SELECT count(*) FROM public.bus_seen WHERE body->'detail'->>'n' = '3'), 0::bigint,
          'failed attempts left no writes');

-- MaximumEventAgeInSeconds: no retry past the event's age
SELECT courier.put_target('jobs', 'work', 'f', 'function:public.bus_handler',
                          retry_policy => '{"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 60}',
                          dead_letter_queue => 'bus_dlq');
SELECT courier.put_events('jobs', jsonb_build_array(pg_temp.entry('jobs', 'Run', '{"n": 4}')));
SELECT courier.tick();
SET LOCAL courier.clock_offset = 100;
SELECT courier.tick();
SELECT is((SELECT count(*) FROM courier.bus_deliveries), 0::bigint, 'too old to retry: the delivery is gone');
SELECT is((SELECT headers->>'EXHAUSTED_RETRY_CONDITION' FROM pg_temp.dead_letters()),
          'MaximumEventAgeInSeconds', 'the dead letter says why');

-- without a dead-letter queue, an exhausted event is dropped
SELECT courier.put_target('jobs', 'work', 'f', 'function:public.bus_handler',
                          retry_policy => '{"MaximumRetryAttempts": 0}');
SELECT courier.put_events('jobs', jsonb_build_array(pg_temp.entry('jobs', 'Run', '{"n": 5}')));
SET LOCAL courier.clock_offset = 200;
SELECT courier.tick();
SELECT is((SELECT count(*) FROM courier.bus_deliveries), 0::bigint, 'no retries: gone after one attempt');
SELECT is((SELECT count(*) FROM pg_temp.dead_letters()), 0::bigint, 'dropped: no dead letter');

-- an error no retry can fix skips the retries
SELECT courier.put_target('jobs', 'work', 'f', 'function:public.bus_handler',
                          retry_policy => '{"MaximumRetryAttempts": 185}', dead_letter_queue => 'bus_dlq');
SELECT courier.put_events('jobs', jsonb_build_array(pg_temp.entry('jobs', 'Run', '{"n": 6}')));
ALTER FUNCTION public.bus_handler(jsonb) RENAME TO bus_handler_gone;
SET LOCAL courier.clock_offset = 300;
SELECT courier.tick();
SELECT results_eq($$SELECT headers->>'ERROR_CODE', headers->'RETRY_ATTEMPTS', headers ? 'EXHAUSTED_RETRY_CONDITION'
                      FROM pg_temp.dead_letters()$$,
                  $$VALUES ('42883'::text, '0'::jsonb, false)$$,
                  'a missing function goes to the dead-letter queue at once');
ALTER FUNCTION public.bus_handler_gone(jsonb) RENAME TO bus_handler;

-- a removed target drops its pending deliveries
SELECT courier.put_events('jobs', jsonb_build_array(pg_temp.entry('jobs', 'Run', '{"n": 7}')));
SELECT courier.remove_target('jobs', 'work', 'f');
SELECT is((SELECT count(*) FROM courier.bus_deliveries), 0::bigint, 'remove_target dropped the pending delivery');
SELECT is((SELECT details->>'pending_deliveries_dropped' FROM courier.audit_log
            WHERE action = 'remove_target' ORDER BY audit_id DESC LIMIT 1), '1',
          'and the audit trail says so');

-- a failing function target does not affect the producer or other targets
UPDATE public.bus_fail SET fail = true;
SELECT courier.put_target('jobs', 'work', 'f', 'function:public.bus_handler');
SELECT courier.put_target('jobs', 'work', 'q', 'queue:bus_orders');
SELECT is((SELECT count(*) FROM courier.put_events('jobs', jsonb_build_array(pg_temp.entry('jobs', 'Run', '{}')))
            WHERE error IS NULL), 1::bigint, 'put_events succeeds whatever the function will do');
SELECT is(cardinality(pg_temp.drain('bus_orders')), 1, 'the queue target got the event at once');
SET LOCAL courier.clock_offset = 400;
SELECT lives_ok($$SELECT courier.tick()$$, 'tick survives the failing function');
SELECT is((SELECT attempts FROM courier.bus_deliveries), 1, 'and recorded the failure');

------------------------------------------------------------------------------
-- replays re-route through _route_event
SELECT courier.put_rule('shop', 'returns', '{"source": ["shop.orders"]}');
SELECT courier.put_target('shop', 'returns', 'q', 'queue:bus_big');
SELECT pg_temp.drain('bus_orders'), pg_temp.drain('bus_big'), pg_temp.drain('bus_audit');
CREATE TEMP TABLE original AS
SELECT p AS e FROM unnest(pg_temp.drain('bus_orders')) AS p LIMIT 0;
INSERT INTO original
SELECT jsonb_build_object('version', '0', 'id', '9b2c0f4e-4d8b-4b7a-9c1e-0a1b2c3d4e5f', 'source', 'shop.orders',
                          'detail-type', 'OrderPlaced', 'account', current_database(), 'region', 'local',
                          'time', '2026-12-01T00:00:00Z', 'resources', '[]'::jsonb, 'detail', '{}'::jsonb);
SELECT is(courier._route_event('shop', (SELECT e FROM original), 'rp1', ARRAY['returns'], true), 1,
          'a dry run counts what it would deliver');
SELECT is(cardinality(pg_temp.drain('bus_big')), 0, 'and delivers nothing');
SELECT is(courier._route_event('shop', (SELECT e FROM original), 'rp1', ARRAY['returns'], false), 1,
          'a replay to one chosen rule delivers once');
SELECT is(pg_temp.drain('bus_big'), ARRAY[(SELECT e || '{"replay-name": "rp1"}' FROM original)],
          'the replayed event carries replay-name and its original id');
SELECT is(cardinality(pg_temp.drain('bus_orders')) + cardinality(pg_temp.drain('bus_audit')), 0,
          'rules not chosen got nothing');
SELECT * FROM pg_temp.rejects($$SELECT courier._route_event('shop', '{"id": "x"}', NULL, NULL, false)$$,
                              '22023', 'routing a partial event');

------------------------------------------------------------------------------
-- drop_bus
SELECT courier.remove_target('shop', 'forward', 'b');
SELECT is(courier.drop_bus('audit'), true, 'drop_bus');
SELECT is(courier.drop_bus('audit', if_exists => true), false, 'drop_bus if_exists of a missing bus');
SELECT * FROM pg_temp.rejects($$SELECT courier.drop_bus('audit')$$, '42704', 'dropping a missing bus');
SELECT is((SELECT count(*) FROM courier.rules WHERE bus_name = 'audit'), 0::bigint, 'its rules went with it');

SELECT * FROM finish();
ROLLBACK;
