-- Rule sets (courier.match_event_patterns): the index must give exactly the
-- answers of matching every pattern one by one.  A differential test over
-- random patterns and events (fixed seed), then edge cases and errors.

SELECT setseed(0.6);

CREATE FUNCTION pg_temp.pick(VARIADIC choices text[]) RETURNS text
LANGUAGE sql AS $$
    SELECT choices[1 + floor(random() * array_length(choices, 1))::int]
$$;

-- A scalar an event may hold: strings that differ in case, numbers written
-- several ways (300, 300.0 and 3e2 are the same number), null, booleans.
CREATE FUNCTION pg_temp.rand_value() RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pg_temp.pick('"a"', '"b"', '"c"', '"A"', '"ab"', '"abc"', '""', '"10.0.0.7"',
                        '300', '300.0', '3e2', '1', '2.5', '-4', 'null', 'true', 'false')::jsonb
$$;

-- One condition: mostly exact values, some of every operator.
CREATE FUNCTION pg_temp.rand_cond() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    RETURN CASE
        WHEN r < 0.55 THEN pg_temp.rand_value()
        WHEN r < 0.60 THEN jsonb_build_object('prefix', pg_temp.pick('a', 'ab', ''))
        WHEN r < 0.64 THEN jsonb_build_object('suffix', pg_temp.pick('c', 'bc'))
        WHEN r < 0.68 THEN jsonb_build_object('equals-ignore-case', pg_temp.pick('a', 'ABC'))
        WHEN r < 0.74 THEN jsonb_build_object('anything-but', pg_temp.pick('"a"', '["a", "b"]', '[300, 1]', '{"prefix": "a"}')::jsonb)
        WHEN r < 0.82 THEN jsonb_build_object('numeric', pg_temp.pick('[">", 1]', '["<=", 300]', '[">=", 1, "<", 300]', '["=", 3e2]')::jsonb)
        WHEN r < 0.90 THEN jsonb_build_object('exists', random() < 0.5)
        WHEN r < 0.93 THEN jsonb_build_object('wildcard', pg_temp.pick('a*', '*c', 'a*c'))
        WHEN r < 0.96 THEN '{"cidr": "10.0.0.0/24"}'::jsonb
        ELSE jsonb_build_object('anything-but', jsonb_build_object('equals-ignore-case', 'A'))
    END;
END
$$;

-- A pattern: one to three fields on paths that nest, repeat in arrays and
-- lie in arrays of objects, written nested or dotted; sometimes a $or.
CREATE FUNCTION pg_temp.rand_pattern(depth int DEFAULT 0) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    pattern jsonb := '{}';
    path text;
    conds jsonb;
    n int;
BEGIN
    FOR k IN 1 .. 1 + floor(random() * 3)::int LOOP
        path := pg_temp.pick('source', 'source', 'detail-type', 'detail.state', 'detail.n',
                             'detail.tags', 'detail.items.x', 'detail.items.y');
        conds := '[]';
        n := 1 + floor(random() * 2.5)::int;
        FOR c IN 1 .. n LOOP
            conds := conds || jsonb_build_array(pg_temp.rand_cond());
        END LOOP;
        IF path LIKE 'detail.%' AND random() < 0.6 THEN
            pattern := pattern || jsonb_build_object('detail',
                coalesce(pattern->'detail', '{}') || jsonb_build_object(substr(path, 8), conds));
        ELSE
            pattern := pattern || jsonb_build_object(path, conds);
        END IF;
    END LOOP;
    IF depth = 0 AND random() < 0.15 THEN
        pattern := pattern || jsonb_build_object('$or',
            jsonb_build_array(pg_temp.rand_pattern(1), pg_temp.rand_pattern(1)));
    END IF;
    RETURN pattern;
END
$$;

-- An event: every key present or not, arrays of values and of objects.
CREATE FUNCTION pg_temp.rand_event() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    detail jsonb := '{}';
    event jsonb := '{}';
BEGIN
    IF random() < 0.9 THEN event := event || jsonb_build_object('source', pg_temp.rand_value()); END IF;
    IF random() < 0.7 THEN event := event || jsonb_build_object('detail-type', pg_temp.rand_value()); END IF;
    IF random() < 0.8 THEN detail := detail || jsonb_build_object('state', pg_temp.rand_value()); END IF;
    IF random() < 0.8 THEN detail := detail || jsonb_build_object('n', pg_temp.rand_value()); END IF;
    IF random() < 0.7 THEN
        detail := detail || jsonb_build_object('tags',
            CASE WHEN random() < 0.2 THEN '[]'::jsonb
                 ELSE jsonb_build_array(pg_temp.rand_value(), pg_temp.rand_value()) END);
    END IF;
    IF random() < 0.7 THEN
        detail := detail || jsonb_build_object('items', jsonb_build_array(
            jsonb_build_object('x', pg_temp.rand_value(), 'y', pg_temp.rand_value()),
            jsonb_build_object('x', pg_temp.rand_value())));
    END IF;
    IF random() < 0.9 THEN event := event || jsonb_build_object('detail', detail); END IF;
    RETURN event;
END
$$;

CREATE TEMP TABLE patterns AS
SELECT i, pg_temp.rand_pattern() AS pattern FROM generate_series(1, 500) AS i;
CREATE TEMP TABLE events AS
SELECT j, pg_temp.rand_event() AS event FROM generate_series(1, 400) AS j;

-- Three answers per event: the index, the same compiled patterns one by
-- one, and courier.test_event_pattern on each pattern.
CREATE TEMP TABLE answers AS
WITH patterns_array AS (SELECT array_agg(pattern ORDER BY i) AS arr FROM patterns)
SELECT j,
       courier.match_event_patterns(arr, event) AS indexed,
       courier.match_event_patterns(arr, event, indexed => false) AS one_by_one,
       ARRAY(SELECT i FROM patterns WHERE courier.test_event_pattern(pattern, event) ORDER BY i)
           AS tested
  FROM events, patterns_array;

-- No differences; and enough matches for the comparison to mean something.
SELECT count(*) AS events,
       count(*) FILTER (WHERE indexed <> one_by_one) AS index_vs_one_by_one,
       count(*) FILTER (WHERE indexed <> tested) AS index_vs_test_event_pattern,
       sum(cardinality(indexed)) > 2000 AS many_matches,
       count(*) FILTER (WHERE cardinality(indexed) > 0) > 300 AS most_events_match_some
  FROM answers;

-- The same with a constant array (cached without comparing it again), on a
-- set where 2,000 patterns share few exact values.
CREATE TEMP TABLE dense AS
SELECT i, jsonb_build_object('source', jsonb_build_array('s' || (i % 7)),
                             'detail', jsonb_build_object('n', jsonb_build_array(i % 5, jsonb_build_object('numeric', jsonb_build_array('>', i % 3)))))
           AS pattern
  FROM generate_series(1, 2000) AS i;
SELECT format('SELECT count(*) FILTER (WHERE courier.match_event_patterns(%L::jsonb[], event) <> courier.match_event_patterns(%L::jsonb[], event, false)) AS differences, sum(cardinality(courier.match_event_patterns(%L::jsonb[], event))) AS matches FROM (SELECT jsonb_build_object(''source'', ''s'' || (k %% 8), ''detail'', jsonb_build_object(''n'', k %% 6)) AS event FROM generate_series(1, 200) AS k) AS e',
              a, a, a) AS q
  FROM (SELECT array_agg(pattern ORDER BY i)::text AS a FROM dense) AS x \gset
:q;

-- Edge cases.
SELECT courier.match_event_patterns('{}', '{"a": 1}') AS no_patterns;
SELECT courier.match_event_patterns(ARRAY['{"a": [1]}', '{"a": [1.0]}', '{"a": ["1"]}']::jsonb[], '{"a": 1}') AS numbers_by_value;
SELECT courier.match_event_patterns(ARRAY['{"a": [null]}', '{"a": [true]}', '{"a": [false]}']::jsonb[], '{"a": [true, null]}') AS null_and_booleans;
SELECT courier.match_event_patterns(ARRAY['{"a.b": ["x"]}', '{"a": {"b": ["x"]}}', '{"a": {"b": ["y"]}}']::jsonb[], '{"a": {"b": "x"}}') AS dotted_and_nested;
SELECT courier.match_event_patterns(ARRAY['{"e": {"f": ["Anna"], "l": ["Jones"]}}']::jsonb[],
                                    '{"e": [{"f": "Anna", "l": "Smith"}, {"f": "Peter", "l": "Jones"}]}') AS same_array_element;
SELECT courier.match_event_patterns(ARRAY['{"a": [{"exists": false}]}', '{"a": [{"anything-but": "x"}]}', '{"b": ["x"], "$or": [{"a": ["y"]}, {"c": ["z"]}]}']::jsonb[],
                                    '{"b": "x", "c": "z"}') AS unindexed_and_or;
SELECT courier.match_event_patterns(ARRAY['{"a": ["x"]}', '{"a": ["x"]}']::jsonb[], '{"a": "x"}') AS duplicates;

-- Errors.
SELECT courier.match_event_patterns(ARRAY['{"a": ["x"]}', '{"a": "x"}']::jsonb[], '{"a": "x"}');
SELECT courier.match_event_patterns(ARRAY['{"a": ["x"]}', NULL]::jsonb[], '{"a": "x"}');
SELECT courier.match_event_patterns(ARRAY[['{"a": ["x"]}'], ['{"a": ["y"]}']]::jsonb[], '{"a": "x"}');
SELECT courier.match_event_patterns(NULL, '{"a": "x"}');
SELECT courier.match_event_patterns(ARRAY['{"a": ["x"]}']::jsonb[], NULL);
SELECT courier.match_event_patterns(ARRAY['{"a": ["x"]}']::jsonb[], '[1]');
