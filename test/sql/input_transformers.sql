-- Target input shaping: Input, InputPath and InputTransformer as
-- courier.test_target_input() applies them (src/bus_input.c).  The AWS
-- documentation's examples first, then each splicing rule, missing values,
-- the predefined placeholders, and every error with its SQLSTATE.

-- try() shows what the target would receive (the database name, part of
-- rule ARNs, as <db>), or "SQLSTATE: message (detail)" of the error.
CREATE FUNCTION pg_temp.try(event jsonb, input jsonb DEFAULT NULL, input_path text DEFAULT NULL,
                            input_transformer jsonb DEFAULT NULL,
                            rule_name text DEFAULT 'test-rule', bus_name text DEFAULT 'default')
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    RETURN replace(courier.test_target_input(event, input, input_path, input_transformer,
                                             rule_name, bus_name)::text,
                   ':' || current_database() || ':', ':<db>:');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM
        || CASE WHEN detail <> '' THEN ' (' || detail || ')' ELSE '' END;
END
$$;

-- The example EC2 event of the EventBridge user guide, and an event whose
-- values are of every JSON type, with characters that need escaping.
CREATE TEMP TABLE events (name text PRIMARY KEY, event jsonb);
INSERT INTO events VALUES
('ec2', $${"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
          "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
          "account": "123456789012", "time": "2015-11-11T21:29:54Z", "region": "us-east-1",
          "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
          "detail": {"instance-id": "i-0123456789", "state": "RUNNING"}}$$),
('typed', $${"detail-type": "typed", "time": "2026-01-02T03:04:05.678+02:00",
            "detail": {"s": "say \"hi\"\\ then\nleave\ttab", "n": 1.50, "big": -3e20,
                       "t": true, "f": false, "z": null, "o": {"k": [1, "x"]}, "a": [],
                       "items": [{"id": 1}, {"name": "no id"}, {"id": "two", "tags": ["p", "q"]}],
                       "snake_key": "s", "dash-key": "d", "ünï": "code"}}$$);

-- ec2 / typed: the events above.
CREATE FUNCTION pg_temp.ec2() RETURNS jsonb LANGUAGE sql AS
$$ SELECT event FROM events WHERE name = 'ec2' $$;
CREATE FUNCTION pg_temp.typed() RETURNS jsonb LANGUAGE sql AS
$$ SELECT event FROM events WHERE name = 'typed' $$;

-- No setting: the event as is.  Input: the constant, whatever the event.
SELECT pg_temp.try(pg_temp.ec2()) = (SELECT event::text FROM events WHERE name = 'ec2') AS event_as_is;
SELECT label, pg_temp.try(pg_temp.ec2(), input => input::jsonb) AS result
  FROM (VALUES
    ('object',       '{"a": [1, {"b": null}]}'),
    ('string',       '"just text"'),
    ('number',       '42.0'),
    ('null',         'null'),
    ('array',        '[]'),
    ('placeholder text is not special', '"<instance> is <state>"')
  ) AS t(label, input);

-- InputPath.
SELECT path, pg_temp.try(pg_temp.ec2(), input_path => path) AS result
  FROM (VALUES ('$'), ('$.detail'), ('$.detail.state'), ('$.detail-type'), ('$.detail.instance-id'),
               ('$.resources[0]'), ('$.resources[1]'), ('$.resources[*]'), ('$.detail.*'),
               ('$.source.x'), ('$.detail.state[0]'), ('$.nope'), ('$.nope[*]')) AS t(path);
SELECT path, pg_temp.try(pg_temp.typed(), input_path => path) AS result
  FROM (VALUES ('$.detail.items[*].id'), ('$.detail.items[2].tags[1]'), ('$.detail.items[*].tags[*]'),
               ('$.detail.items[*]'), ('$.detail.a[*]'), ('$.*.items[0].id'), ('$[*]'),
               ('$.detail.snake_key'), ('$.detail.dash-key'), ('$.detail.ünï'),
               ('$.detail.z'), ('$.detail.n'), ('$.detail.big'), ('$.detail.items[0]')) AS t(path);

-- The input transformer examples of the EventBridge user guide
-- ("Transforming target input"), on its EC2 event.
CREATE TEMP TABLE ec2_paths AS
SELECT '{"timestamp": "$.time", "instance": "$.detail.instance-id", "state": "$.detail.state"}'::jsonb AS paths;
SELECT label, pg_temp.try(pg_temp.ec2(),
                          input_transformer => jsonb_build_object('InputPathsMap', paths,
                                                                  'InputTemplate', template),
                          rule_name => 'example') AS result
  FROM ec2_paths, (VALUES
    ('simple string',               '"instance <instance> is in <state>"'),
    ('string with escaped quotes',  '"instance \"<instance>\" is in <state>"'),
    ('simple JSON',                 E'{\n  "instance" : <instance>,\n  "state": <state>\n}'),
    ('JSON with strings and variables',
                                    '{"instance" : <instance>, "state": "<state>", "instanceStatus": "instance \"<instance>\" is in <state>"}'),
    ('JSON with static information', '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}'),
    ('reserved variables in JSON',  '{"instance" : <instance>, "state": <state>, "ruleArn" : <aws.events.rule-arn>, "ruleName" : <aws.events.rule-name>, "originalEvent" : <aws.events.event>}'),
    ('reserved variables in a string', '"<aws.events.rule-name> triggered"'),
    ('CloudWatch log group (AWS leaves the time bare: invalid JSON)',
                                    '{"timestamp" : <timestamp>, "message": "instance \"<instance>\" is in <state>"}')
  ) AS t(label, template);

-- The PutTargets API reference examples: plain text, without the quotes
-- of a JSON string literal.
SELECT pg_temp.try(pg_temp.ec2(), input_transformer =>
    '{"InputPathsMap": {"instance": "$.detail.instance-id", "status": "$.detail.state"},
      "InputTemplate": "<instance> is in state <status>"}');
SELECT pg_temp.try(pg_temp.ec2(), input_transformer =>
    '{"InputPathsMap": {"instance": "$.detail.instance-id", "status": "$.detail.state"},
      "InputTemplate": "<instance> is in state \"<status>\""}');
-- The tutorial: a key with a dash.
SELECT pg_temp.try('{"detail-type": "customerCreated", "detail": {}}', input_transformer =>
    '{"InputPathsMap": {"detail-type": "$.detail-type"},
      "InputTemplate": "\"This event was of <detail-type> type.\""}');

-- Splicing: every value type in JSON context (unquoted), inside a string,
-- and in plain text.
CREATE TEMP TABLE typed_paths AS
SELECT '{"s": "$.detail.s", "n": "$.detail.n", "big": "$.detail.big", "t": "$.detail.t",
         "f": "$.detail.f", "z": "$.detail.z", "o": "$.detail.o", "a": "$.detail.a",
         "ids": "$.detail.items[*].id", "u": "$.detail.ünï", "m": "$.detail.missing",
         "mi": "$.detail.items[5]", "mw": "$.detail.missing[*]"}'::jsonb AS paths;
SELECT name,
       pg_temp.try(pg_temp.typed(), input_transformer => jsonb_build_object(
           'InputPathsMap', paths, 'InputTemplate', format('{"v": <%s>}', name))) AS unquoted,
       pg_temp.try(pg_temp.typed(), input_transformer => jsonb_build_object(
           'InputPathsMap', paths, 'InputTemplate', format('{"v": "[<%s>]"}', name))) AS quoted,
       pg_temp.try(pg_temp.typed(), input_transformer => jsonb_build_object(
           'InputPathsMap', paths, 'InputTemplate', format('%s=[<%s>]', name, name))) AS plain_text,
       pg_temp.try(pg_temp.typed(), input_transformer => jsonb_build_object(
           'InputPathsMap', paths, 'InputTemplate', format('<%s>', name))) AS alone
  FROM typed_paths, (VALUES ('s'), ('n'), ('big'), ('t'), ('f'), ('z'), ('o'), ('a'), ('ids'),
                            ('u'), ('m'), ('mi'), ('mw')) AS t(name);

-- The spliced string is a real jsonb string: its text comes back unchanged.
SELECT courier.test_target_input(pg_temp.typed(), input_transformer =>
           '{"InputPathsMap": {"s": "$.detail.s"}, "InputTemplate": "{\"v\": \"<<s>>\"}"}')->>'v'
       = '<' || (pg_temp.typed()->'detail'->>'s') || '>' AS round_trip;

-- Templates: nesting, constants of every type, several placeholders in one
-- string, the same one twice, white space around, escapes, "<" that is not a
-- placeholder, and "\u003c" for a literal "<" in a JSON template.
SELECT label, pg_temp.try(pg_temp.ec2(), input_transformer => jsonb_build_object(
           'InputPathsMap', '{"i": "$.detail.instance-id", "st": "$.detail.state", "r": "$.resources"}'::jsonb,
           'InputTemplate', template)) AS result
  FROM (VALUES
    ('nested',                 '{"a": {"b": [<i>, {"c": <r>}]}, "d": [[<st>]]}'),
    ('constants',              '[1, -2.50, 3e2, 0.1E-1, true, false, null, "x", {}, [], {"k": {}}]'),
    ('text and placeholders',  '{"m": "<i>/<st>/<i><st>"}'),
    ('white space around',     E'  \n\t{ "i" : <i> }  \n'),
    ('escapes',                '["a\"b\\c\/d\b\f\n\r\t", "\u00e9\ud83d\ude00"]'),
    ('literal <',              '{"html": "a < b, <> and <not a placeholder>", "x": "\u003ci>"}'),
    ('top-level array',        '[<i>, "<st>"]'),
    ('string literal alone',   '"<i>"'),
    ('constant string',        '"no placeholders"'),
    ('placeholder alone',      '  <r>  '),
    ('plain text',             'a < b: <i> > <st>'),
    ('plain text, JSON-like',  'x {"i": <i>}'),
    ('plain text, keeps quotes and backslashes', '<i> said "\n" \u'),
    ('plain text, number',     '42'),
    ('duplicate keys: last wins', '{"k": 1, "k": <i>}')
  ) AS t(label, template);

-- Predefined placeholders: rule name and ARN (the bus named), the ingestion
-- time (the event's time, in UTC, to the second), the event without detail,
-- the whole event.
SELECT pg_temp.try(pg_temp.typed(), input_transformer =>
    '{"InputTemplate": "{\"name\": <aws.events.rule-name>, \"arn\": <aws.events.rule-arn>, \"time\": <aws.events.event.ingestion-time>, \"text\": \"<aws.events.rule-name>@<aws.events.rule-arn>@<aws.events.event.ingestion-time>\"}"}',
    rule_name => 'my.rule-1', bus_name => 'orders');
SELECT pg_temp.try(pg_temp.ec2(), input_transformer => '{"InputTemplate": "{\"e\": <aws.events.event>}"}');
SELECT pg_temp.try(pg_temp.ec2(), input_transformer => '{"InputTemplate": "<aws.events.event>"}');
SELECT pg_temp.try('{"source": "no detail"}', input_transformer => '{"InputTemplate": "<aws.events.event>"}');
SELECT pg_temp.try(pg_temp.ec2(), input_transformer => '{"InputTemplate": "<aws.events.event.json>"}')
       = (SELECT event::text FROM events WHERE name = 'ec2') AS event_json_is_the_event;
SELECT pg_temp.try(pg_temp.ec2(), input_transformer => '{"InputTemplate": "[<aws.events.event.json>]"}')
       = '[' || (SELECT event::text FROM events WHERE name = 'ec2') || ']' AS event_json_in_array;
-- A map key may contain dots, as long as it does not begin with "aws.".
SELECT pg_temp.try(pg_temp.ec2(), input_transformer =>
    '{"InputPathsMap": {"my.state": "$.detail.state", "awsx": "$.source"}, "InputTemplate": "<my.state> <awsx>"}');
-- An event without a usable time: the ingestion time is courier.now().
SELECT t.time,
       (r #>> '{}') ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$' AS iso_utc,
       abs(extract(epoch FROM (r #>> '{}')::timestamptz - courier.now())) < 5 AS is_now
  FROM (VALUES ('"now"'), ('"infinity"'), ('"yesterday"'), ('"2015-13-45T00:00:00Z"'), ('"12"'),
               ('12'), ('null'), (NULL)) AS t(time),
       LATERAL courier.test_target_input(
           CASE WHEN t.time IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('time', t.time::jsonb) END,
           input_transformer => '{"InputTemplate": "<aws.events.event.ingestion-time>"}') AS r;
SELECT t.time, pg_temp.try(jsonb_build_object('time', t.time),
                           input_transformer => '{"InputTemplate": "<aws.events.event.ingestion-time>"}') AS result
  FROM (VALUES ('2015-11-11T21:29:54Z'), ('2015-11-11T21:29:54.999Z'), ('2015-11-11T23:29:54+02:00'),
               ('2015-11-11 21:29:54'), ('1999-01-08 04:05:06 PST')) AS t(time);

-- Errors, each with its SQLSTATE.
-- More than one mode.
SELECT pg_temp.try(pg_temp.ec2(), input => '1', input_path => '$');
SELECT pg_temp.try(pg_temp.ec2(), input => '1', input_transformer => '{"InputTemplate": "x"}');
SELECT pg_temp.try(pg_temp.ec2(), input_path => '$', input_transformer => '{"InputTemplate": "x"}');
SELECT pg_temp.try(pg_temp.ec2(), '1', '$', '{"InputTemplate": "x"}');
-- Bad input paths, as input_path and in InputPathsMap.
SELECT path, pg_temp.try(pg_temp.ec2(), input_path => path) AS result
  FROM (VALUES (''), ('detail'), ('$detail'), ('$.'), ('$.detail.'), ('$..state'), ('$[0'),
               ('$[]'), ('$[-1]'), ('$[x]'), ($$$['detail']$$), ('$[?(@.a)]'), ('$[0:2]'),
               ('$.a b'), ('$[2147483648]'), ('$.detail state'), ('$.*x')) AS t(path);
SELECT regexp_replace(pg_temp.try(pg_temp.ec2(), input_path => '$' || repeat('.a', 128)),
                      '(\.a)+', '.a...') AS path_too_long;
SELECT pg_temp.try(pg_temp.ec2(), input_path => '$' || repeat('.a', 127) || 'b') AS longest_path;
SELECT pg_temp.try(pg_temp.ec2(), input_transformer => '{"InputPathsMap": {"ok": "$.a", "x": "$.a."}, "InputTemplate": "<x>"}');
-- Bad transformers.
SELECT label, pg_temp.try(pg_temp.ec2(), input_transformer => transformer::jsonb) AS result
  FROM (VALUES
    ('not an object',         '"<a>"'),
    ('an array',              '[{"InputTemplate": "x"}]'),
    ('no template',           '{"InputPathsMap": {}}'),
    ('empty',                 '{}'),
    ('unknown key',           '{"InputTemplate": "x", "inputPathsMap": {}}'),
    ('template not a string', '{"InputTemplate": {"a": 1}}'),
    ('empty template',        '{"InputTemplate": ""}'),
    ('map not an object',     '{"InputPathsMap": ["$.a"], "InputTemplate": "x"}'),
    ('map null',              '{"InputPathsMap": null, "InputTemplate": "x"}'),
    ('path not a string',     '{"InputPathsMap": {"a": 1}, "InputTemplate": "x"}'),
    ('reserved name',         '{"InputPathsMap": {"aws.events.rule-name": "$.a"}, "InputTemplate": "x"}'),
    ('reserved name, case',   '{"InputPathsMap": {"AWS.mine": "$.a"}, "InputTemplate": "x"}'),
    ('bad name: space',       '{"InputPathsMap": {"a b": "$.a"}, "InputTemplate": "x"}'),
    ('bad name: empty',       '{"InputPathsMap": {"": "$.a"}, "InputTemplate": "x"}'),
    ('bad name: <',           '{"InputPathsMap": {"<a>": "$.a"}, "InputTemplate": "x"}'),
    ('unknown placeholder',   '{"InputPathsMap": {"a": "$.a"}, "InputTemplate": "{\"x\": <b>}"}'),
    ('unknown in a string',   '{"InputPathsMap": {"a": "$.a"}, "InputTemplate": "\"<a> <b>\""}'),
    ('unknown in plain text', '{"InputTemplate": "line<br>break"}'),
    ('unknown aws. name',     '{"InputTemplate": "<aws.events.rule>"}'),
    ('placeholder as key',    '{"InputPathsMap": {"a": "$.a"}, "InputTemplate": "{<a>: 1}"}'),
    ('placeholder in a key',  '{"InputPathsMap": {"a": "$.a"}, "InputTemplate": "{\"k<a>\": 1}"}'),
    ('nested key',            '{"InputPathsMap": {"a": "$.a"}, "InputTemplate": "[{\"x\": {\"<a>\": 1}}]"}'),
    ('event quoted',          '{"InputTemplate": "{\"e\": \"<aws.events.event>\"}"}'),
    ('event.json quoted',     '{"InputTemplate": "\"<aws.events.event.json>\""}'),
    ('event in plain text',   '{"InputTemplate": "event: <aws.events.event>"}'),
    ('trailing comma',        '{"InputPathsMap": {"a": "$.a"}, "InputTemplate": "{\"x\": <a>,}"}'),
    ('missing colon',         '{"InputTemplate": "{\"x\" 1}"}'),
    ('unquoted key',          '{"InputTemplate": "{x: 1}"}'),
    ('unclosed object',       '{"InputTemplate": "{\"x\": 1"}'),
    ('unclosed array',        '{"InputTemplate": "[1, 2"}'),
    ('unclosed string',       '{"InputTemplate": "\"abc"}'),
    ('text after the value',  '{"InputTemplate": "\"abc\" and more"}'),
    ('two placeholders',      '{"InputPathsMap": {"a": "$.a"}, "InputTemplate": "[<a> <a>]"}'),
    ('bare word',             '{"InputTemplate": "[running]"}'),
    ('bad number',            '{"InputTemplate": "[01]"}'),
    ('bad number 2',          '{"InputTemplate": "[1.]"}'),
    ('bad number 3',          '{"InputTemplate": "[-]"}'),
    ('bad escape',            '{"InputTemplate": "[\"a\\qb\"]"}'),
    ('short \u',              '{"InputTemplate": "[\"a\\u12\"]"}'),
    ('\u0000',                '{"InputTemplate": "[\"a\\u0000\"]"}'),
    ('lone high surrogate',   '{"InputTemplate": "[\"\\ud83d x\"]"}'),
    ('lone low surrogate',    '{"InputTemplate": "[\"\\ude00\"]"}'),
    ('raw newline in string', '{"InputTemplate": "[\"a\nb\"]"}'),
    ('< not a placeholder',   '{"InputTemplate": "[<a b>]"}')
  ) AS t(label, transformer);
-- Limits: 100 paths, 8192 characters of template.
SELECT pg_temp.try(pg_temp.ec2(), input_transformer => jsonb_build_object(
           'InputPathsMap', (SELECT jsonb_object_agg('p' || g, '$.id') FROM generate_series(1, 100) g),
           'InputTemplate', '<p1>/<p100>')) AS hundred_paths;
SELECT pg_temp.try(pg_temp.ec2(), input_transformer => jsonb_build_object(
           'InputPathsMap', (SELECT jsonb_object_agg('p' || g, '$.id') FROM generate_series(1, 101) g),
           'InputTemplate', '<p1>')) AS too_many_paths;
SELECT length(pg_temp.try(pg_temp.ec2(), input_transformer => jsonb_build_object(
           'InputTemplate', repeat('é', 8192)))) AS longest_template;
SELECT pg_temp.try(pg_temp.ec2(), input_transformer => jsonb_build_object(
           'InputTemplate', repeat('é', 8193))) AS template_too_long;
SELECT pg_temp.try(pg_temp.ec2(), input_transformer => jsonb_build_object(
           'InputPathsMap', jsonb_build_object(repeat('n', 256), '$.id'),
           'InputTemplate', '<' || repeat('n', 256) || '>')) AS longest_name;
SELECT replace(pg_temp.try(pg_temp.ec2(), input_transformer => jsonb_build_object(
                   'InputPathsMap', jsonb_build_object(repeat('n', 257), '$.id'),
                   'InputTemplate', 'x')),
               repeat('n', 257), 'n...n') AS name_too_long;
-- The event.
SELECT pg_temp.try(NULL, input => '1');
SELECT pg_temp.try('[]');
SELECT pg_temp.try('"x"', input => '1');
SELECT pg_temp.try('{}', rule_name => NULL);
SELECT pg_temp.try('{}', bus_name => NULL);
-- Invalid settings are reported whatever the event.
SELECT pg_temp.try('{}', input_path => '$.');

-- courier._check_target_input(): the same checks, nothing applied.
CREATE FUNCTION pg_temp.check(input jsonb, input_path text, input_transformer jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM courier._check_target_input(input, input_path, input_transformer);
    RETURN 'valid';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT pg_temp.check(NULL, NULL, NULL) AS nothing,
       pg_temp.check('{"a": 1}', NULL, NULL) AS input,
       pg_temp.check(NULL, '$.detail[*].x', NULL) AS input_path,
       pg_temp.check(NULL, NULL, '{"InputPathsMap": {"a": "$.a"}, "InputTemplate": "<a>"}') AS transformer;
SELECT pg_temp.check('1', '$', NULL) AS two_modes,
       pg_temp.check(NULL, '$[', NULL) AS bad_path,
       pg_temp.check(NULL, NULL, '{"InputTemplate": "<a>"}') AS undefined_placeholder;
