-- EventBridge event patterns: every conformance vector recorded against AWS
-- (test/conformance/event-patterns.json, see its README), then our own edge
-- cases and the exact errors for bad patterns.

-- outcome() runs one case: match, no_match, invalid (22023), or the SQLSTATE
-- of any other error.
CREATE FUNCTION pg_temp.outcome(pattern jsonb, event jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN CASE WHEN courier.test_event_pattern(pattern, event)
                THEN 'match' ELSE 'no_match' END;
EXCEPTION WHEN OTHERS THEN
    RETURN CASE WHEN SQLSTATE = '22023' THEN 'invalid' ELSE 'error ' || SQLSTATE END;
END
$$;

-- try() shows the result, or "SQLSTATE: message (detail)" of the error.
CREATE FUNCTION pg_temp.try(pattern jsonb, event jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    RETURN courier.test_event_pattern(pattern, event)::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM
        || CASE WHEN detail <> '' THEN ' (' || detail || ')' ELSE '' END;
END
$$;

-- The conformance vectors: a summary, then the failing cases (none).
\set vectors `cat test/conformance/event-patterns.json`
CREATE TEMP TABLE conformance AS
SELECT c->>'name' AS name, c->>'expect' AS expect,
       pg_temp.outcome(c->'pattern', c->'event') AS outcome
  FROM jsonb_array_elements(:'vectors'::jsonb) AS c;
SELECT expect, outcome, count(*) FROM conformance GROUP BY 1, 2 ORDER BY 1, 2;
SELECT name, expect, outcome FROM conformance WHERE outcome <> expect ORDER BY name;

-- Edge cases beyond the vectors.
SELECT label, pg_temp.try(pattern::jsonb, event::jsonb) AS result
  FROM (VALUES
    ('array of objects: same element',       '{"emp": {"first": ["Anna"], "last": ["Jones"]}}',
                                             '{"emp": [{"first": "Anna", "last": "Smith"}, {"first": "Anna", "last": "Jones"}]}'),
    ('array of objects: split elements',     '{"emp": {"first": ["Anna"], "last": ["Jones"]}}',
                                             '{"emp": [{"first": "Anna", "last": "Smith"}, {"first": "Peter", "last": "Jones"}]}'),
    ('nested arrays, consistent',            '{"a": {"b": {"c": [1], "d": [2]}}}',
                                             '{"a": [{"b": [{"c": 1, "d": 3}, {"c": 5, "d": 2}]}, {"b": [{"c": 1, "d": 2}]}]}'),
    ('nested arrays, inconsistent',          '{"a": {"b": {"c": [1], "d": [2]}}}',
                                             '{"a": [{"b": [{"c": 1, "d": 3}, {"c": 5, "d": 2}]}]}'),
    ('scalar array: any element',            '{"tags": ["b"]}',                  '{"tags": ["a", "b"]}'),
    ('empty event array: exists',            '{"tags": [{"exists": true}]}',     '{"tags": []}'),
    ('empty event array: exists false',      '{"tags": [{"exists": false}]}',    '{"tags": []}'),
    ('empty event array: anything-but',      '{"tags": [{"anything-but": "x"}]}', '{"tags": []}'),
    ('object value: exists false',           '{"a": [{"exists": false}]}',       '{"a": {"b": 1}}'),
    ('null: exists true',                    '{"a": [{"exists": true}]}',        '{"a": null}'),
    ('null: empty string',                   '{"a": [""]}',                      '{"a": null}'),
    ('empty string: null',                   '{"a": [null]}',                    '{"a": ""}'),
    ('null: numeric',                        '{"a": [{"numeric": [">", 0]}]}',   '{"a": null}'),
    ('null: anything-but number',            '{"a": [{"anything-but": [1, 2]}]}', '{"a": null}'),
    ('absent: anything-but',                 '{"a": [{"anything-but": [1, 2]}]}', '{"b": 1}'),
    ('300 vs 300.0',                         '{"n": [300]}',                     '{"n": 300.0}'),
    ('3e2 vs 300',                           '{"n": [3e2]}',                     '{"n": 300}'),
    ('numeric = 3.018e2',                    '{"n": [{"numeric": ["=", 3.018e2]}]}', '{"n": 301.80}'),
    ('numeric bounds inclusive',             '{"n": [{"numeric": [">=", 1, "<=", 2]}]}', '{"n": 2}'),
    ('numeric bounds exclusive',             '{"n": [{"numeric": [">", 1, "<", 2]}]}', '{"n": 2}'),
    ('string "1" vs 1',                      '{"n": ["1"]}',                     '{"n": 1}'),
    ('string "true" vs true',                '{"b": ["true"]}',                  '{"b": true}'),
    ('anything-but string vs number',        '{"a": [{"anything-but": "x"}]}',   '{"a": 12}'),
    ('anything-but number vs string',        '{"a": [{"anything-but": 12}]}',    '{"a": "12"}'),
    ('anything-but prefix vs number',        '{"a": [{"anything-but": {"prefix": "1"}}]}', '{"a": 12}'),
    ('anything-but ignore case',             '{"a": [{"anything-but": {"equals-ignore-case": ["X", "y"]}}]}', '{"a": "Y"}'),
    ('prefix ignore case',                   '{"a": [{"prefix": {"equals-ignore-case": "EventB"}}]}', '{"a": "eventbridge"}'),
    ('suffix ignore case',                   '{"a": [{"suffix": {"equals-ignore-case": ".PNG"}}]}', '{"a": "cat.png"}'),
    ('prefix on a number',                   '{"a": [{"prefix": "1"}]}',         '{"a": 12}'),
    ('wildcard escaped star',                '{"a": [{"wildcard": "a\\*b*"}]}',   '{"a": "a*bc"}'),
    ('wildcard escaped star, no star',       '{"a": [{"wildcard": "a\\*b*"}]}',   '{"a": "axbc"}'),
    ('wildcard star matches nothing',        '{"a": [{"wildcard": "ab*"}]}',     '{"a": "ab"}'),
    ('wildcard backtracking',                '{"a": [{"wildcard": "*/dir/*.jar"}]}', '{"a": "x/dir/dir/y.jar"}'),
    ('wildcard on a number',                 '{"a": [{"wildcard": "1*"}]}',      '{"a": 12}'),
    ('cidr IPv6 inside',                     '{"ip": [{"cidr": "2001:db8::/32"}]}', '{"ip": "2001:0DB8:ffff::1"}'),
    ('cidr IPv4 vs IPv6 address',            '{"ip": [{"cidr": "10.0.0.0/8"}]}', '{"ip": "::ffff:10.0.0.1"}'),
    ('cidr host bits set',                   '{"ip": [{"cidr": "10.1.2.3/16"}]}', '{"ip": "10.1.200.4"}'),
    ('cidr /0',                              '{"ip": [{"cidr": "0.0.0.0/0"}]}',  '{"ip": "255.255.255.255"}'),
    ('dotted key in both',                   '{"a.b": {"c": ["x"]}}',            '{"a": {"b.c": "x"}}'),
    ('dotted key and arrays',                '{"a.b": ["x"]}',                   '{"a": [{"b": "y"}, {"b": "x"}]}'),
    ('$or nested',                           '{"$or": [{"a": [1]}, {"$or": [{"b": [2]}, {"c": [3]}]}]}', '{"c": 3}'),
    ('$or with sibling field',               '{"s": ["x"], "$or": [{"a": [1]}, {"b": [2]}]}', '{"s": "y", "b": 2}'),
    ('$or of operators is a field',          '{"$or": [{"prefix": "a"}, {"suffix": "z"}]}', '{"$or": "abc"}'),
    ('key case-sensitive',                   '{"Source": ["x"]}',                '{"source": "x"}'),
    ('JSON in a string is not parsed',       '{"d": {"k": ["v"]}}',              '{"d": "{\"k\": \"v\"}"}')
  ) AS t(label, pattern, event);

-- Bad patterns: each error names the key and the operator.
SELECT pg_temp.try('[]');
SELECT pg_temp.try('{}');
SELECT pg_temp.try('{"detail": {}}');
SELECT pg_temp.try('{"detail": {"state": "running"}}');
SELECT pg_temp.try('{"detail": {"state": []}}');
SELECT pg_temp.try('{"detail": {"state": [["a"]]}}');
SELECT pg_temp.try('{"detail": {"state": [{}]}}');
SELECT pg_temp.try('{"detail": {"state": [{"prefix": "a", "suffix": "b"}]}}');
SELECT pg_temp.try('{"detail": {"state": [{"EXISTS": true}]}}');
SELECT pg_temp.try('{"detail": {"state": [{"like": "a%"}]}}');
SELECT pg_temp.try('{"detail": {"state": [{"exists": "yes"}]}}');
SELECT pg_temp.try('{"a": [{"prefix": ["x"]}]}');
SELECT pg_temp.try('{"a": [{"prefix": {"wildcard": "x*"}}]}');
SELECT pg_temp.try('{"a": [{"equals-ignore-case": ["x"]}]}');
SELECT pg_temp.try('{"a": [{"wildcard": "a**b"}]}');
SELECT pg_temp.try('{"a": [{"wildcard": "a\\b"}]}');
SELECT pg_temp.try('{"a": [{"wildcard": "*a*b*c*d*e*"}]}');
SELECT pg_temp.try('{"a": [{"numeric": "> 5"}]}');
SELECT pg_temp.try('{"a": [{"numeric": []}]}');
SELECT pg_temp.try('{"a": [{"numeric": ["!=", 5]}]}');
SELECT pg_temp.try('{"a": [{"numeric": [">", "5"]}]}');
SELECT pg_temp.try('{"a": [{"numeric": [">", 0, ">", 0]}]}');
SELECT pg_temp.try('{"a": [{"numeric": ["<", 5, ">", 0]}]}');
SELECT pg_temp.try('{"a": [{"numeric": [">", 5, "<", 5]}]}');
SELECT pg_temp.try('{"a": [{"numeric": [">", 0, "<", 5, "<", 6]}]}');
SELECT pg_temp.try('{"a": [{"anything-but": null}]}');
SELECT pg_temp.try('{"a": [{"anything-but": []}]}');
SELECT pg_temp.try('{"a": [{"anything-but": ["a", 1]}]}');
SELECT pg_temp.try('{"a": [{"anything-but": [true]}]}');
SELECT pg_temp.try('{"a": [{"anything-but": {"numeric": [">", 1]}}]}');
SELECT pg_temp.try('{"a": [{"anything-but": {"prefix": ""}}]}');
SELECT pg_temp.try('{"a": [{"anything-but": {"prefix": {"equals-ignore-case": "x"}}}]}');
SELECT pg_temp.try('{"a": [{"anything-but": {"equals-ignore-case": [1]}}]}');
SELECT pg_temp.try('{"a": [{"anything-but": {"wildcard": ["x**"]}}]}');
SELECT pg_temp.try('{"ip": [{"cidr": "10.0.0.0"}]}');
SELECT pg_temp.try('{"ip": [{"cidr": "10.0.0.0/33"}]}');
SELECT pg_temp.try('{"ip": [{"cidr": "10.0.0.0/x"}]}');
SELECT pg_temp.try('{"ip": [{"cidr": "10.0.0/8"}]}');
SELECT pg_temp.try('{"s": ["x"], "$or": [{"a": [{"NUMERIC": [">", 1]}]}, {"b": [1]}]}');
SELECT pg_temp.try('{"$or": [{"a": [1]}]}');
SELECT pg_temp.try('{"a": [1]}', '[1]');
SELECT pg_temp.try(NULL, '{}');
SELECT pg_temp.try('{"a": [1]}', NULL);
