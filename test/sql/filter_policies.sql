-- SNS filter policies: the named cases of test/conformance/filter-policies.json
-- (our own, one per operator and per SNS-only rule; see its README), then the
-- exact errors for bad policies and arguments.

-- outcome() runs one case: match, no_match, invalid (22023), or the SQLSTATE
-- of any other error.
CREATE FUNCTION pg_temp.outcome(policy jsonb, headers jsonb, payload jsonb, scope text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN CASE WHEN courier.test_filter_policy(policy, headers, payload, scope)
                THEN 'match' ELSE 'no_match' END;
EXCEPTION WHEN OTHERS THEN
    RETURN CASE WHEN SQLSTATE = '22023' THEN 'invalid' ELSE 'error ' || SQLSTATE END;
END
$$;

-- try() shows the result, or "SQLSTATE: message (detail)" of the error.
CREATE FUNCTION pg_temp.try(policy jsonb, headers jsonb DEFAULT '{}', payload jsonb DEFAULT NULL,
                            scope text DEFAULT 'headers')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    RETURN courier.test_filter_policy(policy, headers, payload, scope)::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM
        || CASE WHEN detail <> '' THEN ' (' || detail || ')' ELSE '' END;
END
$$;

-- The named cases: a summary, then every case with its outcome.
\set cases `cat test/conformance/filter-policies.json`
CREATE TEMP TABLE cases AS
SELECT c->>'name' AS name, c->>'expect' AS expect,
       pg_temp.outcome(c->'policy', c->'headers', c->'payload', c->>'scope') AS outcome
  FROM jsonb_array_elements(:'cases'::jsonb) AS c;
SELECT expect, outcome, count(*) FROM cases GROUP BY 1, 2 ORDER BY 1, 2;
SELECT name, expect, outcome FROM cases WHERE outcome <> expect ORDER BY name;

-- Bad policies: the reason, as AWS words it where it has a wording, and the key.
SELECT pg_temp.try('{"store": "acme"}');
SELECT pg_temp.try('{"store": []}');
SELECT pg_temp.try('{"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"]}');
SELECT pg_temp.try('{"a": ["1"], "$or": [{"b": ["1"]}, {"c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"], "g": ["1"]}]}');
SELECT pg_temp.try('{"x": {"a": ["1"], "b": ["1"], "c": ["1"]}, "y": {"d": ["1"], "e": ["1"], "f": ["1"]}}', NULL, '{}', 'payload');
SELECT pg_temp.try('{"a": [1, 2, 3], "b": [1], "c": [1, 2]}');
SELECT pg_temp.try('{"a": [1, 2, 3, 4, 5], "b": [1, 2, 3, 4, 5, 6], "c": [1, 2, 3, 4, 5]}');
SELECT pg_temp.try('{"a": [1, 2, 3, 4, 5], "b": [1, 2, 3, 4, 5, 6], "c": [1, 2, 3, 4, 5, 6]}');
SELECT pg_temp.try('{"source": ["a", "b", "c", "d"], "$or": [{"m": [1, 2, 3, 4, 5, 6]}, {"n": [1, 2, 3, 4], "o": [1, 2, 3, 4]}, {"p": [1, 2, 3, 4], "q": [1, 2, 3, 4]}]}');
SELECT pg_temp.try('{"a": {"b": {"c": [1, 2, 3, 4]}}, "d": {"e": [1, 2, 3]}, "f": [1, 2, 3]}', NULL, '{}', 'payload');
SELECT pg_temp.try('{"a": {"b": ["x"]}}');
SELECT pg_temp.try('{"$or": [{"a": ["x"]}, {"b": {"c": ["y"]}}]}');
SELECT pg_temp.try('{"a": [{"wildcard": "x*"}]}');
SELECT pg_temp.try('{"a": [{"anything-but": {"suffix": "x"}}]}');
SELECT pg_temp.try('{"a": [{"anything-but": {"equals-ignore-case": "x"}}]}');
SELECT pg_temp.try('{"a": [{"anything-but": {"wildcard": "x*"}}]}');
SELECT pg_temp.try('{"a": [{"anything-but": {"prefix": ["x"]}}]}');
SELECT pg_temp.try('{"a": [{"prefix": {"equals-ignore-case": "x"}}]}');
SELECT pg_temp.try('{"a": [{"suffix": 5}]}');
SELECT pg_temp.try('{"n": [1000000000, -1000000000, 0.00001]}', '{"n": 0.00001}');
SELECT pg_temp.try('{"n": [1.500000]}', '{"n": 1.5}');
SELECT pg_temp.try('{"n": [1000000000.5]}');
SELECT pg_temp.try('{"n": [{"numeric": [">", -1000000001]}]}');
SELECT pg_temp.try('{"n": [{"numeric": ["=", 0.123456]}]}');
SELECT pg_temp.try('{"n": [{"anything-but": [1, 2e10]}]}');
SELECT pg_temp.try('{"n": [{"numeric": [">", 5, "<", 1]}]}');
SELECT pg_temp.try('{"a": [{"exists": "yes"}]}');
SELECT pg_temp.try('{"a": [{"prefix": "a", "suffix": "b"}]}');
SELECT pg_temp.try('{"ip": [{"cidr": "10.0.0.0"}]}');
SELECT pg_temp.try('["a"]');

-- Empty and NULL policies pass everything, even a payload that is not an object.
SELECT pg_temp.try('{}', NULL, '"text"', 'payload') AS empty_policy,
       pg_temp.try(NULL, NULL, '"text"', 'payload') AS null_policy,
       pg_temp.try(NULL, NULL, NULL) AS null_everything;

-- Headers: NULL is no attributes; a String.Array matches when any element does.
SELECT pg_temp.try('{"a": [{"exists": false}]}', NULL) AS null_headers_exists_false,
       pg_temp.try('{"a": [{"anything-but": "x"}]}', NULL) AS null_headers_anything_but,
       pg_temp.try('{"a": [{"suffix": "y"}]}', '{"a": ["x", "xy"]}') AS string_array;

-- Bad arguments.
SELECT pg_temp.try('{"a": ["x"]}', '["a"]');
SELECT pg_temp.try('{"a": ["x"]}', '{}', NULL, 'MessageAttributes');
SELECT pg_temp.try('{"a": ["x"]}', '{}', NULL, NULL);

-- One call site, many messages: the policy is compiled once and the answer
-- does not depend on the rows before (cache keyed on policy and scope).
SELECT scope, courier.test_filter_policy('{"a": ["x"]}', '{"a": "x"}', '{"a": "y"}', scope)
  FROM unnest(ARRAY['headers', 'payload', 'headers']) AS scope;
