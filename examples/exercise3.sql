-- Exercise 3: an event bus with two targets and an archive; a bug in one
-- target for a window of time; the fix; and a replay of only that window,
-- only to the rule whose target failed.
--
--   psql -d DB -f examples/exercise3.sql      (CREATE EXTENSION pg_courier first)
--
-- The shipping service is a SQL function target.  It is idempotent: it
-- records each event id once, and only a first delivery sends the
-- confirmation e-mail (here a row in ex3_emails standing for the external
-- side effect).  While the bug is on it raises; with no retries allowed,
-- each failed event goes to the target's dead-letter queue, where an
-- operator sees the window that failed.  After the fix, a replay of the
-- archive's events in that window (and one minute before it, on purpose)
-- goes to the shipping rule only: the analytics queue gets nothing twice,
-- the shipments and e-mails end up exactly one per order, and the replay is
-- visible in courier.replays and on every replayed event ("replay-name").
--
-- Event times are given explicitly, so the windows are the same on every
-- run; the script can be run again (it starts by dropping what it made).
\set ON_ERROR_STOP on
SET client_min_messages = warning;

SELECT courier.delete_replay('ex3-fix', if_exists => true);
SELECT courier.drop_bus('commerce', if_exists => true);
SELECT courier.drop_queue(q, if_exists => true) FROM unnest(ARRAY['ex3-analytics', 'ex3-ship-dlq']) AS q;
DROP TABLE IF EXISTS ex3_shipments, ex3_emails, ex3_config;
DROP FUNCTION IF EXISTS public.ex3_ship(jsonb);

CREATE TABLE ex3_config (bug boolean NOT NULL);
INSERT INTO ex3_config VALUES (false);
CREATE TABLE ex3_shipments (event_id uuid PRIMARY KEY, order_id integer NOT NULL,
                            replay_name text, deliveries integer NOT NULL DEFAULT 1);
CREATE TABLE ex3_emails (event_id uuid PRIMARY KEY, order_id integer NOT NULL);

-- The shipping service: deduplicates on the event id; the e-mail is sent
-- (recorded) only by the first delivery of an event.
CREATE FUNCTION public.ex3_ship(event jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    first boolean;
BEGIN
    IF (SELECT bug FROM ex3_config) THEN
        RAISE EXCEPTION 'shipping label printer offline for order %', event->'detail'->>'order_id'
            USING ERRCODE = 'external_routine_exception';
    END IF;
    INSERT INTO ex3_shipments AS s (event_id, order_id, replay_name)
    VALUES ((event->>'id')::uuid, (event->'detail'->>'order_id')::integer, event->>'replay-name')
        ON CONFLICT (event_id) DO UPDATE SET deliveries = s.deliveries + 1
    RETURNING s.deliveries = 1 INTO first;
    IF first THEN
        INSERT INTO ex3_emails VALUES ((event->>'id')::uuid, (event->'detail'->>'order_id')::integer);
    END IF;
END
$$;

-- Order i is placed at 10:00 + (i - 1) minutes; returns how many entries
-- put_events accepted.
CREATE FUNCTION pg_temp.place_orders(first integer, last integer) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*)
      FROM courier.put_events('commerce', (
            SELECT jsonb_agg(jsonb_build_object(
                       'source', 'shop.orders', 'detail-type', 'OrderPlaced',
                       'time', format('2026-12-01T10:%s:00Z', lpad((i - 1)::text, 2, '0')),
                       'detail', jsonb_build_object('order_id', i)))
              FROM generate_series(first, last) AS i))
     WHERE error IS NULL
$$;

SELECT courier.create_bus('commerce');
SELECT courier.create_queue('ex3-analytics');
SELECT courier.create_queue('ex3-ship-dlq');
SELECT courier.put_rule('commerce', 'ship', '{"source": ["shop.orders"], "detail-type": ["OrderPlaced"]}');
SELECT courier.put_target('commerce', 'ship', 'shipping', 'function:public.ex3_ship',
                          retry_policy => '{"MaximumRetryAttempts": 0}',
                          dead_letter_queue => 'ex3-ship-dlq');
SELECT courier.put_rule('commerce', 'analytics', '{"source": ["shop.orders"]}');
SELECT courier.put_target('commerce', 'analytics', 'warehouse', 'queue:ex3-analytics',
                          input_transformer => '{"InputPathsMap": {"order": "$.detail.order_id", "at": "$.time"},
                                                 "InputTemplate": "{\"order\": <order>, \"at\": \"<at>\"}"}');
SELECT courier.create_archive('commerce-archive', 'commerce');

-- Orders 1 to 3 (10:00 to 10:02): shipped.
SELECT pg_temp.place_orders(1, 3) AS accepted;
SELECT courier.tick() IS NOT NULL AS ticked;

-- The bug, from 10:03: orders 4 to 6 fail and land in the dead-letter queue.
UPDATE ex3_config SET bug = true;
SELECT pg_temp.place_orders(4, 6) AS accepted;
SELECT courier.tick() IS NOT NULL AS ticked;

-- What an operator sees: the failed window, from the dead letters.
SELECT min(m.payload->>'time') AS first_failed, max(m.payload->>'time') AS last_failed,
       count(*) AS failed, min(m.headers->>'ERROR_CODE') AS error_code
  FROM courier.messages AS m WHERE m.queue_name = 'ex3-ship-dlq';

-- The fix, at 10:06; orders 7 to 9 are shipped again.
UPDATE ex3_config SET bug = false;
SELECT pg_temp.place_orders(7, 9) AS accepted;
SELECT courier.tick() IS NOT NULL AS ticked;

-- Replay the failed window, from one minute before it (order 3, already
-- shipped: the service must not ship or e-mail it twice) to the fix, to the
-- shipping rule only.
SELECT courier.start_replay('ex3-fix', 'commerce-archive',
                            '2026-12-01T10:02:00Z', '2026-12-01T10:06:00Z',
                            rules => ARRAY['ship']);
-- tick() advances the replay; the replayed events become deliveries to the
-- function target, which the next tick (or the worker) makes.
SELECT courier.tick() IS NOT NULL AS ticked;
SELECT courier.tick() IS NOT NULL AS ticked;
SELECT courier.tick() IS NOT NULL AS ticked;

-- The replay is observable ...
SELECT replay_name, state, events_replayed, deliveries, rules
  FROM courier.replays WHERE replay_name = 'ex3-fix';
-- ... and so are its effects: every order shipped and e-mailed once; the
-- replayed ones say so; order 3 was delivered twice and shipped once.
SELECT order_id, replay_name, deliveries FROM ex3_shipments ORDER BY order_id;
SELECT count(*) AS emails, count(DISTINCT order_id) AS orders_emailed FROM ex3_emails;
-- The analytics queue was not replayed to: one message per order.
SELECT count(*) AS analytics_messages, count(DISTINCT m.payload->>'order') AS orders
  FROM courier.messages AS m WHERE m.queue_name = 'ex3-analytics';
SELECT rule_name, target_id, matched, invocations, failed_invocations, dead_letters
  FROM courier.rule_stats WHERE bus_name = 'commerce' ORDER BY rule_name;
