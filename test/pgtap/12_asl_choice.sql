-- 12_asl_choice: ASL Choice rules against every comparison case recorded on
-- AWS Step Functions (test/conformance/asl-choice-cases.json, see its
-- README): for each case {operator, variable, value, expect} the rule
-- {"Variable": "$.Variable", OPERATOR: VALUE} (for the ...Path operators the
-- operand is "$.Value") is evaluated with the input {"Variable": variable,
-- "Value": value} and must match exactly when expect is true.  Then the
-- behaviour the vectors leave out: boolean nesting, StringMatches, missing
-- variables, timestamps (test/sql/asl_dataflow.sql shows more, with causes).
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run
-- (pg_prove runs from the project root, so the vectors' path is relative).
BEGIN;
SELECT no_plan();

\set cases `cat test/conformance/asl-choice-cases.json`
CREATE TEMP TABLE choice_cases AS
SELECT n, c->>'operator' AS operator, c->'variable' AS variable, c->'value' AS value,
       (c->>'expect')::boolean AS expect
  FROM jsonb_array_elements(:'cases'::jsonb) WITH ORDINALITY AS t(c, n);

-- The rule of a case, and what evaluating it gives (or the error).
CREATE FUNCTION pg_temp.outcome(operator text, variable jsonb, value jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN courier.test_asl_choice(
               jsonb_build_object('Variable', '$.Variable',
                                  operator, CASE WHEN operator LIKE '%Path' THEN to_jsonb('$.Value'::text)
                                                 ELSE value END,
                                  'Next', 'Matched'),
               jsonb_build_object('Variable', variable, 'Value', value))::text;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT is((SELECT count(*) FROM choice_cases), 285::bigint, 'all 285 recorded cases are loaded');
SELECT is(pg_temp.outcome(operator, variable, value), expect::text,
          format('case %s: %s, variable %s, value %s', n, operator, variable, value))
  FROM choice_cases ORDER BY n;

-- Beyond the vectors.
CREATE FUNCTION pg_temp.matches(rule jsonb, input jsonb) RETURNS boolean
LANGUAGE sql AS $$ SELECT courier.test_asl_choice(rule, input) $$;

SELECT ok(pg_temp.matches('{"And": [{"Or": [{"Variable": "$.a", "NumericEquals": 1}, {"Not": {"Variable": "$.b", "StringEquals": "x"}}]},
                                     {"Variable": "$.c", "BooleanEquals": true}]}', '{"a": 2, "b": "y", "c": true}'),
          'And of Or of Not, all holding');
SELECT ok(NOT pg_temp.matches('{"Not": {"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.b", "IsPresent": true}]}}',
                              '{"a": 2}'),
          'Not of Or, one holding');
SELECT ok(pg_temp.matches('{"Variable": "$.f", "StringMatches": "log-*.txt"}', '{"f": "log-2024-01.txt"}'),
          'StringMatches: * matches any run');
SELECT ok(NOT pg_temp.matches('{"Variable": "$.f", "StringMatches": "log-\\*.txt"}', '{"f": "log-2024.txt"}'),
          'StringMatches: \* is a literal star');
SELECT ok(pg_temp.matches('{"Variable": "$.f", "StringMatches": "log-\\*.txt"}', '{"f": "log-*.txt"}'),
          'StringMatches: \* matches a star');
SELECT ok(pg_temp.matches('{"Variable": "$.f", "StringMatches": "a\\\\b*"}', '{"f": "a\\bc"}'),
          'StringMatches: \\ is a literal backslash');
SELECT ok(pg_temp.matches('{"Variable": "$.z", "IsPresent": true}', '{"z": null}'), 'IsPresent is true for null');
SELECT ok(pg_temp.matches('{"Variable": "$.z", "IsPresent": false}', '{}'), 'IsPresent false for a missing key');
SELECT throws_ok($$SELECT courier.test_asl_choice('{"Variable": "$.z", "StringEquals": "x"}', '{}')$$,
                 '22000', 'States.Runtime: Invalid path ''$.z'': The choice state''s condition path references an invalid value.',
                 'a missing Variable fails with States.Runtime');
SELECT throws_ok($$SELECT courier.test_asl_choice('{"Variable": "$.a", "NumericEqualsPath": "$.z"}', '{"a": 1}')$$,
                 '22000', 'States.Runtime: Invalid path ''$.z'': The choice state''s condition path references an invalid value.',
                 'a missing operand path fails the same way');
SELECT ok(pg_temp.matches('{"Variable": "$.t", "TimestampEquals": "2023-01-01T00:00:00Z"}', '{"t": "2023-01-01T01:00:00+01:00"}'),
          'timestamps compare as instants across offsets');
SELECT ok(pg_temp.matches('{"Variable": "$.t", "TimestampLessThan": "2023-01-01T00:00:00-00:30"}', '{"t": "2023-01-01T00:15:00Z"}'),
          'a negative offset is behind UTC');
SELECT ok(NOT pg_temp.matches('{"Variable": "$.t", "TimestampEquals": "2023-01-01T00:00:00Z"}', '{"t": "2023-01-01T00:00:00"}'),
          'a timestamp without offset is not a timestamp: false');
SELECT throws_ok($$SELECT courier.test_asl_choice('{"Variable": "$.t", "TimestampEquals": "yesterday"}', '{}')$$,
                 '22023', NULL, 'a Timestamp operand that is not one is a compile error');

SELECT * FROM finish();
ROLLBACK;
