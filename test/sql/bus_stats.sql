-- Statistics of bus rules and targets (courier.rule_stats): they count
-- committed work only, so this file runs each step in its own transaction.
-- Event ids are random: the output shows counts, never ids.
\set VERBOSITY terse

SELECT courier.create_queue('stats_q');
SELECT courier.create_queue('stats_dlq');
SELECT courier.create_bus('stats');
SELECT courier.put_rule('stats', 'all', '{"source": ["app"]}');
SELECT courier.put_rule('stats', 'big', '{"detail": {"n": [{"numeric": [">", 10]}]}}');
SELECT courier.put_rule('stats', 'idle', '{"source": ["nobody"]}');
SELECT courier.put_target('stats', 'all', 'q', 'queue:stats_q');
SELECT courier.put_target('stats', 'big', 'q', 'queue:stats_q');

CREATE TABLE stats_fail (fail boolean);
INSERT INTO stats_fail VALUES (true);
CREATE FUNCTION public.stats_handler(e jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    IF (SELECT fail FROM stats_fail) THEN
        RAISE EXCEPTION 'failing on purpose';
    END IF;
END
$$;
SELECT courier.put_target('stats', 'big', 'f', 'function:public.stats_handler',
                          retry_policy => '{"MaximumRetryAttempts": 1}', dead_letter_queue => 'stats_dlq');
SELECT courier.put_target('stats', 'idle', 'f', 'function:public.stats_handler');

-- Nothing counted yet.
SELECT rule_name, matched, target_id, invocations, failed_invocations, retries,
       dead_letters, dropped, throttled, pending
  FROM courier.rule_stats WHERE bus_name = 'stats' ORDER BY rule_name, target_id;

-- Three events, two of them big; one more put_events rolled back.
SELECT count(*) AS accepted FROM courier.put_events('stats',
    '[{"source": "app", "detail-type": "t", "detail": {"n": 1}},
      {"source": "app", "detail-type": "t", "detail": {"n": 20}},
      {"source": "app", "detail-type": "t", "detail": {"n": 30}}]') WHERE error IS NULL;
BEGIN;
SELECT count(*) AS accepted FROM courier.put_events('stats',
    '[{"source": "app", "detail-type": "t", "detail": {"n": 40}}]') WHERE error IS NULL;
ROLLBACK;

-- The function target fails: one tick with room for one delivery leaves the
-- other throttled.
SELECT courier._deliver_bus_events(courier.now(), 1)->'bus_deliveries_failed' AS failed;
SELECT courier._deliver_bus_events(courier.now(), 10)->'bus_deliveries_failed' AS failed;
-- The retries are due a second later at most; the last one exhausts them.
SET courier.clock_offset = 5;
SELECT courier._deliver_bus_events(courier.now(), 10)->'bus_dead_letters' AS dead_letters;
RESET courier.clock_offset;

SELECT rule_name, matched, target_id, invocations, failed_invocations, retries,
       dead_letters, dropped, throttled, pending
  FROM courier.rule_stats WHERE bus_name = 'stats' ORDER BY rule_name, target_id;
SELECT count(*) AS messages, count(*) FILTER (WHERE m.queue_name = 'stats_dlq') AS dead_letters
  FROM courier.messages AS m WHERE m.queue_name IN ('stats_q', 'stats_dlq');

-- A removed target's counters are forgotten; a removed rule's too.
SELECT t.target_key AS removed_key, r.rule_id AS big_rule
  FROM courier.targets AS t JOIN courier.rules AS r USING (bus_name, rule_name)
 WHERE t.bus_name = 'stats' AND t.rule_name = 'big' AND t.target_id = 'f' \gset
SELECT courier.remove_target('stats', 'big', 'f');
SELECT * FROM courier._target_counts(:removed_key);
SELECT courier.delete_rule('stats', 'big', force => true);
SELECT * FROM courier._rule_counts(:big_rule);
SELECT rule_name, matched, target_id, invocations, failed_invocations
  FROM courier.rule_stats WHERE bus_name = 'stats' ORDER BY rule_name, target_id;

SELECT courier.drop_bus('stats');
SELECT courier.drop_queue('stats_q');
SELECT courier.drop_queue('stats_dlq');
DROP FUNCTION public.stats_handler(jsonb);
DROP TABLE stats_fail;
