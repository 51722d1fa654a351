-- ASL data flow (JSONPath mode), as src/asl_*.c implement it and the
-- courier.test_asl_* functions expose it: the processing chain InputPath ->
-- Parameters -> ResultSelector -> ResultPath -> OutputPath (pitfall 12:
-- ResultPath merges into the RAW input), path misses with AWS's causes,
-- context object paths, JSONPath features, payload templates, every
-- intrinsic function with its edge cases and errors, the payload size limit,
-- Choice rules beyond the conformance vectors (test/pgtap/12_asl_choice.sql
-- runs those), and the SQLSTATE of every misuse.

-- Each helper shows the result, or "SQLSTATE: message (detail)".
CREATE FUNCTION pg_temp.err(detail text) RETURNS text
LANGUAGE sql AS $$ SELECT CASE WHEN detail <> '' THEN ' (' || detail || ')' ELSE '' END $$;

CREATE FUNCTION pg_temp.io(state jsonb, input jsonb, result jsonb DEFAULT NULL,
                           context jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    RETURN courier.test_asl_state_io(state, input, result, context)::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || pg_temp.err(detail);
END
$$;

CREATE FUNCTION pg_temp.path(path text, input jsonb, context jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    RETURN courier.test_asl_path(path, input, context)::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || pg_temp.err(detail);
END
$$;

CREATE FUNCTION pg_temp.tpl(template jsonb, input jsonb DEFAULT '{}',
                            context jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    RETURN courier.test_asl_template(template, input, context)::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || pg_temp.err(detail);
END
$$;

-- fn(): one intrinsic call, as the value of "r.$"; shows what r becomes.
CREATE FUNCTION pg_temp.fn(call text, input jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    RETURN courier.test_asl_template(jsonb_build_object('r.$', call), input)->'r';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || pg_temp.err(detail);
END
$$;

CREATE FUNCTION pg_temp.choice(rule jsonb, input jsonb, context jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    RETURN courier.test_asl_choice(rule, input, context)::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || pg_temp.err(detail);
END
$$;

--
-- The processing chain
--

-- The AWS developer guide's example: InputPath picks the Lambda's input,
-- ResultPath puts the result into the RAW input, OutputPath picks data.
SELECT pg_temp.io('{"InputPath": "$.lambda", "ResultPath": "$.data.lambdaresult",
                    "OutputPath": "$.data"}',
                  '{"comment": "An input comment.", "data": {"val1": 23, "val2": 17},
                    "extra": "foo", "lambda": {"who": "AWS Step Functions"}}',
                  '"Hello, AWS Step Functions!"');

-- Pitfall 12, step by step.
SELECT label, pg_temp.io(state::jsonb, input::jsonb, result::jsonb) AS output
  FROM (VALUES
    ('defaults: the output is the result',         '{}', '{"a": 1}', '{"r": 2}'),
    ('ResultPath $: the result replaces the input', '{"ResultPath": "$"}', '{"a": 1}', '{"r": 2}'),
    ('ResultPath merges into the RAW input',       '{"InputPath": "$.a", "ResultPath": "$.r"}', '{"a": {"x": 1}, "b": 2}', '"res"'),
    ('ResultPath creates missing objects',         '{"ResultPath": "$.x.y.z"}', '{"a": 1}', '[1, 2]'),
    ('ResultPath replaces what is there',          '{"ResultPath": "$.a.b"}', '{"a": {"b": [1], "c": 3}}', '{"new": true}'),
    ('ResultPath into an array element',           '{"ResultPath": "$.a[1]"}', '{"a": [0, 1, 2]}', '"one"'),
    ('ResultPath into the last element',           '{"ResultPath": "$.a[-1]"}', '{"a": [0, 1, 2]}', '"two"'),
    ('ResultPath bracket notation',                '{"ResultPath": "$[''k y'']"}', '{}', '1'),
    ('ResultPath null discards the result',        '{"ResultPath": null}', '{"a": 1}', '{"r": 2}'),
    ('ResultPath null keeps the RAW input',        '{"InputPath": "$.a", "ResultPath": null}', '{"a": {"x": 1}, "b": 2}', '{"r": 2}'),
    ('InputPath null gives {} (Pass: the result)', '{"InputPath": null}', '{"a": 1}', NULL),
    ('InputPath null, result merged into raw',     '{"InputPath": null, "ResultPath": "$.in"}', '{"a": 1}', NULL),
    ('OutputPath null gives {}',                   '{"OutputPath": null}', '{"a": 1}', '{"r": 2}'),
    ('OutputPath selects from ResultPath''s output', '{"ResultPath": "$.r", "OutputPath": "$.r.v"}', '{"a": 1}', '{"v": [true]}'),
    ('a scalar input and result',                  '{}', '5', '"six"'),
    ('Pass without Result: the effective input',   '{"InputPath": "$.a"}', '{"a": {"x": 1}}', NULL)
  ) AS t(label, state, input, result);

-- Pass states: Result is the result (even when a result is given); with
-- Parameters and no Result, the Parameters output is.
SELECT label, pg_temp.io(state::jsonb, input::jsonb, result::jsonb) AS output
  FROM (VALUES
    ('Result',                         '{"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r"}', '{"a": 1}', NULL),
    ('Result wins over result',        '{"Type": "Pass", "Result": "fixed"}', '{"a": 1}', '"ignored"'),
    ('Parameters as the result',       '{"Type": "Pass", "InputPath": "$.a", "Parameters": {"v.$": "$.b", "lit": [1]}, "ResultPath": "$.p"}', '{"a": {"b": 2}}', NULL),
    ('Parameters then Result',         '{"Type": "Pass", "Parameters": {"v.$": "$.a"}, "Result": "r"}', '{"a": 1}', NULL)
  ) AS t(label, state, input, result);

-- ResultSelector shapes the result only, before ResultPath: it does not see
-- the input.
SELECT pg_temp.io('{"ResultSelector": {"code.$": "$.StatusCode", "body.$": "States.StringToJson($.Payload)"},
                    "ResultPath": "$.res"}',
                  '{"in": 1}', '{"StatusCode": 200, "Payload": "{\"ok\": true}"}');
SELECT pg_temp.io('{"ResultSelector": {"code.$": "$.StatusCode", "input.$": "$.in"}}',
                  '{"in": 1}', '{"StatusCode": 200}');

-- The whole chain with the context object.
SELECT pg_temp.io('{"InputPath": "$.order", "Parameters": {"id.$": "$.id", "execution.$": "$$.Execution.Id",
                                                          "state.$": "$$.State.Name"},
                    "ResultSelector": {"status.$": "$.status", "request.$": "$.request"},
                    "ResultPath": "$.outcome", "OutputPath": "$.outcome"}',
                  '{"order": {"id": 7}}',
                  '{"status": "SHIPPED", "request": {"id": 7}}',
                  '{"Execution": {"Id": "arn:courier:states:local:db:execution:m:e1"}, "State": {"Name": "Ship"}}');

-- ResultPath failures: the target is not an object (or an array long enough).
SELECT label, pg_temp.io(state::jsonb, input::jsonb, result::jsonb) AS output
  FROM (VALUES
    ('raw input is an array',   '{"ResultPath": "$.x"}', '[1, 2]', '3'),
    ('raw input is a string',   '{"ResultPath": "$.x"}', '"s"', '3'),
    ('through a number',        '{"ResultPath": "$.a.b"}', '{"a": 5}', '3'),
    ('through null',            '{"ResultPath": "$.a.b"}', '{"a": null}', '3'),
    ('index past the end',      '{"ResultPath": "$.a[5]"}', '{"a": [0, 1]}', '3'),
    ('index into an object',    '{"ResultPath": "$.a[0]"}', '{"a": {"b": 1}}', '3'),
    ('index of a missing key',  '{"ResultPath": "$.a[0]"}', '{}', '3'),
    ('not a reference path',    '{"ResultPath": "$.a[*]"}', '{"a": [0, 1]}', '3'),
    ('the context object',      '{"ResultPath": "$$.Execution.x"}', '{}', '3')
  ) AS t(label, state, input, result);

--
-- Path misses: States.Runtime, with the causes AWS gives
--

SELECT label, pg_temp.io(state::jsonb, input::jsonb, '{"r": 1}') AS output
  FROM (VALUES
    ('InputPath, missing key',          '{"InputPath": "$.x"}', '{"a": 1}'),
    ('InputPath, missing in the middle', '{"InputPath": "$.a.b.c"}', '{"a": {}}'),
    ('InputPath, index out of range',   '{"InputPath": "$.a[3]"}', '{"a": [1]}'),
    ('InputPath, key of a string',      '{"InputPath": "$.a.b"}', '{"a": "s"}'),
    ('InputPath, key of null',          '{"InputPath": "$.a.b"}', '{"a": null}'),
    ('InputPath, index of null',        '{"InputPath": "$.a[0]"}', '{"a": null}'),
    ('InputPath, index of an object',   '{"InputPath": "$.a[0]"}', '{"a": {"k": 1}}'),
    ('OutputPath, missing key',         '{"OutputPath": "$.x"}', '{"a": 1}'),
    ('Parameters field',                '{"Parameters": {"JobName.$": "$.JobName"}}', '{}'),
    ('Parameters field, nested',        '{"Parameters": {"a": {"b": [{"c.$": "$.nope"}]}}}', '{"x": 1}'),
    ('Parameters context field',        '{"Parameters": {"t.$": "$$.Task.Token"}}', '{}'),
    ('ResultSelector field',            '{"ResultSelector": {"p.$": "$.Payload"}}', '{}'),
    ('intrinsic function argument',     '{"Parameters": {"s.$": "States.Format(''{}'', $.receipt_bucket)"}}', '{"a": 1}')
  ) AS t(label, state, input);

-- An indefinite path never misses: it selects [] when nothing matches.
SELECT pg_temp.io('{"InputPath": "$.items[?(@.n > 5)]"}', '{"items": [{"n": 1}]}');
SELECT pg_temp.io('{"InputPath": "$.missing[*]"}', '{"items": []}');

--
-- Paths
--

CREATE TEMP TABLE store (doc jsonb);
INSERT INTO store VALUES ($${"store": {"book": [
    {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
    {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
    {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99},
    {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99}],
  "bicycle": {"color": "red", "price": 19.95}},
  "expensive": 10, "odd key": {"a.b": 1, "it's": 2}, "empty": [], "nothing": null}$$);

SELECT path, pg_temp.path(path, (SELECT doc FROM store)) AS selects
  FROM unnest(ARRAY[
    '$.store.bicycle.color',
    '$.store.book[0].title',
    '$.store.book[-1].title',
    '$.store[''bicycle''].color',
    '$["odd key"]["a.b"]',
    '$[''odd key''][''it\''s'']',
    '$.nothing',
    '$.empty',
    '$.store.book[*].author',
    '$.store.book.*.price',
    '$..author',
    '$..price',
    '$.store.*.color',
    '$.store.book[0,2].title',
    '$.store.book[1:3].title',
    '$.store.book[2:].title',
    '$.store.book[:1].title',
    '$.store.book[-2:].title',
    '$.store.book[7:].title',
    '$..book[3].author',
    '$..[1].title',
    '$..book[?(@.isbn)].title',
    '$.store.book[?(!@.isbn)].title',
    '$.store.book[?(@.price < 10)].title',
    '$.store.book[?(@.price <= 8.99 || @.category == ''reference'')].title',
    '$.store.book[?(@.category == "fiction" && @.price > $.expensive)].title',
    '$.store.book[?(@.price != 8.95)].price',
    '$.store.book[?(@.author =~ /.*tolkien/i)].title',
    '$.store.book[?(@.author =~ /Herman/)].title',
    '$.store.book[?(@.category in [''reference'', ''poetry''])].title',
    '$.store.book[?(@.category nin [''fiction''])].title',
    '$.store.book[?(@.title size 9)].title',
    '$.store.book[?(@.title contains ''Dick'')].title',
    '$.store[?(@.color == ''red'')].price',
    '$.store.bicycle[?(@.color)].price',
    '$[?(@.expensive >= 10)].expensive',
    '$.store.book[?(@.isbn empty false)].isbn',
    '$.store.book[?((@.price > 20 || @.price < 9) && !(@.category == ''reference''))].title'
  ]) AS path;

-- Context object paths ($$): evaluated on the context object.
CREATE TEMP TABLE ctx (c jsonb);
INSERT INTO ctx VALUES ($${"Execution": {"Id": "arn:courier:states:local:db:execution:orders:e-1",
    "Input": {"order": 7}, "Name": "e-1", "RoleArn": "arn:aws:iam::123456789012:role/r",
    "StartTime": "2026-01-02T03:04:05.678Z", "RedriveCount": 0},
  "State": {"EnteredTime": "2026-01-02T03:04:06Z", "Name": "Ship", "RetryCount": 2},
  "StateMachine": {"Id": "arn:courier:states:local:db:stateMachine:orders", "Name": "orders"},
  "Task": {"Token": "tok-1"}, "Map": {"Item": {"Index": 3, "Value": {"sku": "a"}}}}$$);
SELECT path, pg_temp.path(path, '{"Execution": "the input, not the context"}', (SELECT c FROM ctx)) AS selects
  FROM unnest(ARRAY['$$.Execution.Id', '$$.Execution.Input.order', '$$.State.RetryCount',
                    '$$.StateMachine.Name', '$$.Task.Token', '$$.Map.Item.Index', '$$.Map.Item.Value',
                    '$$', '$$.Execution.Nope', '$.Execution']) AS path;
SELECT pg_temp.tpl('{"index.$": "$$.Map.Item.Index", "item.$": "$$.Map.Item.Value", "input.$": "$"}',
                   '{"from": "input"}', (SELECT c FROM ctx));

-- Syntax errors: 22023 naming the path, at compile time.
SELECT path, pg_temp.path(path, '{}') AS error
  FROM unnest(ARRAY['', 'a.b', '$.', '$.a..', '$a', '$.a b', '$[', '$[1', '$[x]', '$.a[1:2:3]',
                    '$[''a'', ''b'']', '$.a.length()', '$[''unterminated]', '$.a[?(@.b ==)]',
                    '$.a[?(@.b === 1)]', '$.a[?(@.b =~ ''x'')]', '$.a[?(@.b =~ /x/g)]', '$.a[?(1)]',
                    '$[99999999999]']) AS path;
SELECT pg_temp.io('{"ResultPath": "$..a"}', '{}', '1');
SELECT pg_temp.io('{"InputPath": 5}', '{}');
SELECT pg_temp.io('[]', '{}');

--
-- Payload templates
--

SELECT pg_temp.tpl('{"literal": "x", "number": 1.50, "nested": {"deep": {"v.$": "$.a"}, "keep": [1, {"k": "v"}]},
                     "list": [{"i.$": "$.b[0]"}, "plain", {"no": "dollar"}], "all.$": "$", "dollar$": "not a path",
                     "arr.$": "$.b[*]"}',
                   '{"a": {"x": 1}, "b": [10, 20]}');
SELECT pg_temp.tpl('"a string template"', '{}'), pg_temp.tpl('[1, {"a.$": "$.v"}]', '{"v": 2}'),
       pg_temp.tpl('{}', '{"v": 2}');
-- a ".$" value that selects a value of any type
SELECT pg_temp.tpl('{"s.$": "$.s", "n.$": "$.n", "t.$": "$.t", "z.$": "$.z", "o.$": "$.o", "a.$": "$.a"}',
                   '{"s": "x", "n": -1e3, "t": true, "z": null, "o": {}, "a": []}');
-- Compile errors, naming the field.
SELECT label, pg_temp.tpl(template::jsonb, '{"v": 1}') AS error
  FROM (VALUES
    ('not a string',          '{"a.$": 5}'),
    ('not a path or call',    '{"a.$": "hello"}'),
    ('bad path',              '{"outer": {"a.$": "$.x["}}'),
    ('workflow variable',     '{"a.$": "$myVar"}'),
    ('both a and a.$',        '{"a": 1, "a.$": "$.v"}'),
    ('unknown function',      '{"a.$": "States.Nope(1)"}'),
    ('missing parenthesis',   '{"a.$": "States.Array(1"}'),
    ('two arguments glued',   '{"a.$": "States.Array(1 2)"}'),
    ('trailing text',         '{"a.$": "States.Array(1) x"}'),
    ('unterminated literal',  '{"a.$": "States.Format(''abc)"}'),
    ('open escape',           '{"a.$": "States.Format(''a\\nb'')"}'),
    ('bad argument',          '{"a.$": "States.Array(foo)"}'),
    ('variable argument',     '{"a.$": "States.Array($v)"}'),
    ('bad path argument',     '{"a.$": "States.Array($.a[)"}'),
    ('11 nested calls',       '{"a.$": "States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(1)))))))))))"}')
  ) AS t(label, template);

--
-- Intrinsic functions
--

CREATE TEMP TABLE args (v jsonb);
INSERT INTO args VALUES ($${"name": "Arnav", "template": "Hello, my name is {}.", "n": 5, "f": 1.5,
  "arr": [1, 2, 2, "a", {"b": 1}, {"b": 1.0}, [1], null, [1]], "o": {"x": 1, "y": [1, "z"]},
  "json": "{\"a\": [1, 2.50, \"\\u00e9\"], \"b\": {}}", "s": "This.is+a,test=string", "e": "", "t": true,
  "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
  "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}, "Data": "input data", "nul": "\"\\u0000\""}$$);

SELECT call, pg_temp.fn(call, (SELECT v FROM args)) AS result
  FROM unnest(ARRAY[
    -- States.Format
    $$States.Format('Hello, my name is {}.', $.name)$$,
    'States.Format($.template, $.name)',
    $$States.Format('{}{}{}', $.n, $.f, $.t)$$,
    $$States.Format('object {} array {} null {}', $.o, $.arr, null)$$,
    $$States.Format('escaped \{\} braces, {} and \'quotes\' and a backslash \\', 'one')$$,
    $$States.Format('no placeholders')$$,
    $$States.Format('{} {}', $.name)$$,
    $$States.Format('{}', 1, 2)$$,
    'States.Format($.n)',
    'States.Format()',
    -- States.StringToJson, States.JsonToString
    'States.StringToJson($.json)',
    $$States.StringToJson('[1, "two", null]')$$,
    $$States.StringToJson('  42 ')$$,
    $$States.StringToJson('{"a": 1,}')$$,
    'States.StringToJson($.nul)',
    $$States.StringToJson('1e5000')$$,
    'States.StringToJson($.e)',
    'States.StringToJson($.n)',
    'States.JsonToString($.o)',
    'States.JsonToString($.name)',
    'States.JsonToString($.json)',
    -- arrays
    'States.Array($.n, $.name, $.o, States.Array())',
    'States.Array()',
    'States.ArrayPartition($.inputArray, 4)',
    'States.ArrayPartition($.inputArray, 9)',
    'States.ArrayPartition($.e, 2)',
    'States.ArrayPartition(States.Array(), 2)',
    'States.ArrayPartition($.inputArray, 0)',
    'States.ArrayPartition($.inputArray, 1.5)',
    'States.ArrayContains($.inputArray, 5)',
    'States.ArrayContains($.inputArray, 5.0)',
    $$States.ArrayContains($.arr, 'a')$$,
    'States.ArrayContains($.arr, $.o)',
    'States.ArrayContains($.arr, null)',
    $$States.ArrayContains($.arr, States.StringToJson('{"b": 1.00}'))$$,
    'States.ArrayContains($.o, 1)',
    'States.ArrayRange(1, 9, 2)',
    'States.ArrayRange(0, 10, 3)',
    'States.ArrayRange(9, 1, -3)',
    'States.ArrayRange(5, 5, 1)',
    'States.ArrayRange(1, 9, -1)',
    'States.ArrayRange(-2, 2, 1)',
    'States.ArrayRange(1, 1001, 1)',
    'States.ArrayRange(1, 9, 0)',
    'States.ArrayRange(1.5, 9, 1)',
    $$States.ArrayRange('1', 9, 1)$$,
    'States.ArrayGetItem($.inputArray, 5)',
    'States.ArrayGetItem($.arr, 4)',
    'States.ArrayGetItem($.inputArray, 9)',
    'States.ArrayGetItem($.inputArray, -1)',
    'States.ArrayGetItem($.o, 0)',
    'States.ArrayLength($.inputArray)',
    'States.ArrayLength(States.Array())',
    'States.ArrayLength($.name)',
    'States.ArrayUnique($.arr)',
    'States.ArrayUnique(States.Array(1, 1.0, 1.00, -0, 0))',
    'States.ArrayUnique(States.Array())',
    -- encoding and hashing
    $$States.Base64Encode('Data to encode')$$,
    $$States.Base64Encode('é')$$,
    'States.Base64Encode($.e)',
    $$States.Base64Decode('RGF0YSB0byBlbmNvZGU=')$$,
    $$States.Base64Decode('RGF0YSB0byBlbmNvZGU')$$,
    $$States.Base64Decode('w6k=')$$,
    $$States.Base64Decode('not base64!')$$,
    $$States.Base64Decode('AA==')$$,
    $$States.Base64Decode('/w==')$$,
    'States.Base64Decode($.n)',
    'States.Hash($.Data, ''MD5'')',
    'States.Hash($.Data, ''SHA-1'')',
    'States.Hash($.Data, ''SHA-256'')',
    'States.Hash($.Data, ''SHA-384'')',
    'States.Hash($.Data, ''SHA-512'')',
    'States.Hash($.e, ''SHA-256'')',
    'States.Hash($.Data, ''sha-256'')',
    'States.Hash($.o, ''MD5'')',
    -- JSON merge
    'States.JsonMerge($.json1, $.json2, false)',
    'States.JsonMerge($.json1, $.json2, true)',
    'States.JsonMerge($.json1, $.arr, false)',
    'States.JsonMerge($.json1, $.json2, 0)',
    -- math
    'States.MathRandom(1, 999, 1234)',
    'States.MathRandom(1, 999, 1234)',
    'States.MathRandom(7, 7)',
    'States.MathRandom(1.4, 1.6, 3)',
    'States.MathRandom(10, 1)',
    $$States.MathRandom(1, 'x')$$,
    'States.MathRandom(1)',
    'States.MathAdd(111, -1)',
    'States.MathAdd($.n, $.f)',
    'States.MathAdd(2.5, -2.5)',
    'States.MathAdd(2147483647, 1)',
    'States.MathAdd(2147483648, 1)',
    'States.MathAdd($.name, 1)',
    -- strings
    $$States.StringSplit($.s, '.+,=')$$,
    $$States.StringSplit('1,2,,3,', ',')$$,
    $$States.StringSplit('a é b', 'é')$$,
    $$States.StringSplit('abc', '')$$,
    $$States.StringSplit($.e, ',')$$,
    $$States.StringSplit($.n, ',')$$,
    -- nesting (the AWS guide's example, shortened)
    $$States.Format('{}.{}', States.ArrayGetItem(States.StringSplit('arn:aws:imagebuilder:x/image/name.v1', '/'), 1), States.ArrayLength($.inputArray))$$
  ]) AS call;

-- States.UUID and unseeded States.MathRandom: properties, not values.
SELECT pg_temp.fn('States.UUID()') ~ '^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$' AS uuid_v4,
       pg_temp.fn('States.UUID()') <> pg_temp.fn('States.UUID()') AS uuids_differ,
       pg_temp.fn('States.UUID(1)') AS uuid_with_argument;
SELECT min(r::int) >= 1 AND max(r::int) <= 3 AS in_range, count(DISTINCT r) = 3 AS both_ends_reached
  FROM (SELECT pg_temp.fn('States.MathRandom(1, 3)') AS r FROM generate_series(1, 200)) AS t;
SELECT count(DISTINCT pg_temp.fn(format('States.MathRandom(1, 1000000, %s)', s))) AS distinct_for_10_seeds
  FROM generate_series(1, 10) AS s;

-- Limits: 10,000 characters for Base64 and Hash; 1,000 items for ArrayRange.
SELECT pg_temp.fn('States.Base64Encode($.s)', jsonb_build_object('s', repeat('é', 10000))) LIKE '"w6nD%' AS encodes_10000_chars,
       pg_temp.fn('States.Base64Encode($.s)', jsonb_build_object('s', repeat('é', 10001))) AS encode_10001,
       pg_temp.fn('States.Hash($.s, ''MD5'')', jsonb_build_object('s', repeat('x', 10001))) AS hash_10001,
       pg_temp.fn('States.ArrayLength(States.ArrayRange(-999, 0, 1))') AS range_1000;

--
-- The payload size limit: 262,144 bytes of compact JSON text
--

SELECT length(pg_temp.io('{}', jsonb_build_object('s', repeat('x', 262144 - 8)))) AS input_at_the_limit,
       pg_temp.io('{}', jsonb_build_object('s', repeat('x', 262144 - 7))) AS input_one_over;
SELECT pg_temp.io('{"ResultPath": "$.r"}', jsonb_build_object('s', repeat('x', 200000)),
                  to_jsonb(repeat('y', 70000))) AS result_path_output;
SELECT pg_temp.io('{}', '{}', to_jsonb(repeat('y', 262144))) AS result_over;
SELECT pg_temp.tpl('{"a.$": "$.s", "b.$": "$.s"}', jsonb_build_object('s', repeat('x', 140000))) AS parameters_output;
-- escapes count as written: 40,000 newlines are 80,000 bytes of JSON text
SELECT pg_temp.tpl('{"a.$": "$.s", "b.$": "$.s", "c.$": "$.s", "d.$": "$.s"}',
                   jsonb_build_object('s', repeat(E'\n', 40000))) AS escaped_output;

--
-- Choice rules (the 285 AWS vectors are in test/pgtap/12_asl_choice.sql)
--

CREATE TEMP TABLE order_input (v jsonb);
INSERT INTO order_input VALUES ($${"type": "Private", "value": 42, "rating": 4.5, "express": true,
  "nothing": null, "name": "file*.txt", "path": "C:\\dir\\a.txt", "when": "2016-08-18T17:33:00Z",
  "local": "2016-08-18T19:33:00+02:00", "fraction": "2016-08-18T17:33:00.000000001Z",
  "limit": 50, "other": "Private", "list": [1, 2]}$$);

SELECT label, pg_temp.choice(rule::jsonb, (SELECT v FROM order_input)) AS matched
  FROM (VALUES
    ('And: all hold',              '{"And": [{"Variable": "$.type", "StringEquals": "Private"}, {"Variable": "$.value", "NumericGreaterThan": 20}], "Next": "X"}'),
    ('And: one fails',             '{"And": [{"Variable": "$.type", "StringEquals": "Private"}, {"Variable": "$.value", "NumericGreaterThan": 50}]}'),
    ('Or: one holds',              '{"Or": [{"Variable": "$.type", "StringEquals": "Public"}, {"Variable": "$.value", "NumericLessThanEquals": 42}]}'),
    ('Or: none holds',             '{"Or": [{"Variable": "$.type", "StringEquals": "Public"}, {"Variable": "$.value", "NumericLessThan": 42}]}'),
    ('Not',                        '{"Not": {"Variable": "$.type", "StringEquals": "Public"}, "Next": "X"}'),
    ('Not Not',                    '{"Not": {"Not": {"Variable": "$.express", "BooleanEquals": true}}}'),
    ('And of Or and Not',          '{"And": [{"Or": [{"Variable": "$.value", "NumericEquals": 1}, {"Variable": "$.value", "NumericEquals": 42}]}, {"Not": {"Variable": "$.nothing", "IsPresent": false}}]}'),
    ('Or short-circuits a miss',   '{"Or": [{"Variable": "$.value", "NumericEquals": 42}, {"Variable": "$.missing", "NumericEquals": 1}]}'),
    ('And stops at the first false', '{"And": [{"Variable": "$.value", "NumericEquals": 0}, {"Variable": "$.missing", "NumericEquals": 1}]}'),
    ('IsPresent on null',          '{"Variable": "$.nothing", "IsPresent": true}'),
    ('IsPresent on a miss',        '{"Variable": "$.missing", "IsPresent": false}'),
    ('IsPresent guards a miss',    '{"And": [{"Variable": "$.missing", "IsPresent": true}, {"Variable": "$.missing", "NumericEquals": 1}]}'),
    ('IsNull on null',             '{"Variable": "$.nothing", "IsNull": true}'),
    ('IsNull on a miss',           '{"Variable": "$.missing", "IsNull": true}'),
    ('missing Variable',           '{"Variable": "$.missing", "StringEquals": "x"}'),
    ('missing Variable, nested',   '{"Not": {"Variable": "$.a.b", "NumericEquals": 1}}'),
    ('missing operand path',       '{"Variable": "$.value", "NumericEqualsPath": "$.missing"}'),
    ('NumericEqualsPath',          '{"Variable": "$.value", "NumericLessThanPath": "$.limit"}'),
    ('StringEqualsPath',           '{"Variable": "$.type", "StringEqualsPath": "$.other"}'),
    ('type mismatch is false',     '{"Variable": "$.value", "StringEquals": "42"}'),
    ('mismatch via a path',        '{"Variable": "$.type", "NumericEqualsPath": "$.other"}'),
    ('StringLessThan by code point', '{"Variable": "$.type", "StringLessThan": "private"}'),
    ('StringMatches *',            '{"Variable": "$.type", "StringMatches": "Pri*"}'),
    ('StringMatches * * *',        '{"Variable": "$.type", "StringMatches": "*r*v*"}'),
    ('StringMatches no wildcard',  '{"Variable": "$.type", "StringMatches": "Private"}'),
    ('StringMatches whole string', '{"Variable": "$.type", "StringMatches": "Priv"}'),
    ('StringMatches escaped *',    '{"Variable": "$.name", "StringMatches": "file\\*.txt"}'),
    ('escaped * is not a wildcard', '{"Variable": "$.type", "StringMatches": "Pri\\*"}'),
    ('StringMatches escaped \\',   '{"Variable": "$.path", "StringMatches": "C:\\\\dir\\\\*"}'),
    ('StringMatches on a number',  '{"Variable": "$.value", "StringMatches": "*"}'),
    ('BooleanEquals',              '{"Variable": "$.express", "BooleanEquals": true}'),
    ('IsNumeric on a float',       '{"Variable": "$.rating", "IsNumeric": true}'),
    ('IsString on a timestamp',    '{"Variable": "$.when", "IsString": true}'),
    ('IsTimestamp',                '{"Variable": "$.when", "IsTimestamp": true}'),
    ('IsTimestamp with an offset', '{"Variable": "$.local", "IsTimestamp": true}'),
    ('IsTimestamp on a name',      '{"Variable": "$.type", "IsTimestamp": true}'),
    ('the same instant, two zones', '{"Variable": "$.local", "TimestampEquals": "2016-08-18T17:33:00Z"}'),
    ('TimestampEqualsPath',        '{"Variable": "$.local", "TimestampEqualsPath": "$.when"}'),
    ('nanoseconds count',          '{"Variable": "$.fraction", "TimestampGreaterThan": "2016-08-18T17:33:00Z"}'),
    ('negative offset',            '{"Variable": "$.when", "TimestampLessThan": "2016-08-18T12:34:00-05:00"}'),
    ('TimestampLessThanEquals',    '{"Variable": "$.when", "TimestampLessThanEquals": "2016-08-18T17:33:00.000Z"}'),
    ('Timestamp on a non-timestamp', '{"Variable": "$.type", "TimestampEquals": "2016-08-18T17:33:00Z"}'),
    ('Timestamp path to a number', '{"Variable": "$.when", "TimestampEqualsPath": "$.value"}'),
    ('indefinite Variable',        '{"Variable": "$.list[*]", "IsPresent": true}'),
    ('context Variable',           '{"Variable": "$$.State.RetryCount", "NumericGreaterThanEquals": 2}')
  ) AS t(label, rule);
SELECT pg_temp.choice('{"Variable": "$$.State.RetryCount", "NumericGreaterThanEquals": 2}', '{}',
                      (SELECT c FROM ctx)) AS context_variable;

-- What a timestamp is: RFC 3339 with uppercase T and Z (or an offset).
SELECT ts, pg_temp.choice(jsonb_build_object('Variable', '$.t', 'IsTimestamp', true),
                          jsonb_build_object('t', ts)) AS is_timestamp
  FROM unnest(ARRAY['2016-08-18T17:33:00Z', '2016-08-18T17:33:00.123456789Z', '2016-08-18T17:33:00+23:59',
                    '2016-08-18t17:33:00Z', '2016-08-18T17:33:00z', '2016-08-18T17:33:00', '2016-08-18 17:33:00Z',
                    '2016-08-18T17:33Z', '2016-08-18T17:33:00+0200', '2016-02-30T00:00:00Z', '2016-02-29T00:00:00Z',
                    '2015-02-29T00:00:00Z', '2016-08-18T24:00:00Z', '2016-08-18T17:33:60Z', '2016-08-18T17:33:00.Z',
                    '2016-08-18']) AS ts;

-- Invalid rules: 22023 at compile time.
SELECT label, pg_temp.choice(rule::jsonb, '{}') AS error
  FROM (VALUES
    ('not an object',           '[]'),
    ('no operator',             '{"Variable": "$.a", "Next": "X"}'),
    ('two operators',           '{"Variable": "$.a", "StringEquals": "x", "IsNull": true}'),
    ('unknown operator',        '{"Variable": "$.a", "StringEqual": "x"}'),
    ('no Variable',             '{"StringEquals": "x"}'),
    ('Variable on And',         '{"Variable": "$.a", "And": [{"Variable": "$.a", "IsNull": true}]}'),
    ('empty And',               '{"And": []}'),
    ('And not an array',        '{"And": {"Variable": "$.a", "IsNull": true}}'),
    ('Not an array',            '{"Not": []}'),
    ('nested Next',             '{"Or": [{"Variable": "$.a", "IsNull": true, "Next": "X"}]}'),
    ('nested rule invalid',     '{"And": [{"Not": {"Variable": "$.a"}}]}'),
    ('wrong operand type',      '{"Variable": "$.a", "NumericEquals": "1"}'),
    ('Is* takes a boolean',     '{"Variable": "$.a", "IsNull": "true"}'),
    ('not a timestamp',         '{"Variable": "$.a", "TimestampEquals": "2016-08-18"}'),
    ('bad Variable path',       '{"Variable": "a.b", "IsNull": true}'),
    ('bad operand path',        '{"Variable": "$.a", "StringEqualsPath": "$.["}'),
    ('operand path not a string', '{"Variable": "$.a", "StringEqualsPath": 1}')
  ) AS t(label, rule);

--
-- NULL arguments: 22004
--

SELECT pg_temp.path(NULL, '{}'), pg_temp.path('$', NULL), pg_temp.path('$', '{}', NULL);
SELECT pg_temp.io(NULL, '{}'), pg_temp.io('{}', NULL), pg_temp.io('{}', '{}', NULL, NULL);
SELECT pg_temp.tpl(NULL, '{}'), pg_temp.tpl('{}', NULL), pg_temp.choice(NULL, '{}'),
       pg_temp.choice('{"Variable": "$", "IsNull": true}', NULL);
