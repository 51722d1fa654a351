-- Amazon States Language definitions: courier.validate_state_machine_definition
-- (src/asl_validate.c).  One focused case per rule, with the exact message,
-- detail and hint.  The conformance files are run by
-- test/scenarios/asl_conformance.sh.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- v() validates a jsonb definition (the text form is tested at the end).
CREATE FUNCTION pg_temp.v(definition jsonb) RETURNS text
LANGUAGE sql AS $$ SELECT courier.validate_state_machine_definition(definition)::text || 'ok' $$;

-- The smallest valid definition, and one with every top-level field.
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"Comment": "c", "Version": "1.0", "TimeoutSeconds": 60, "QueryLanguage": "JSONPath",
                   "StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}');

-- NULL is a caller bug (22004), in both forms.
SELECT courier.validate_state_machine_definition(NULL::jsonb);
SELECT courier.validate_state_machine_definition(NULL::text);

-- Top level
SELECT pg_temp.v('[]');
SELECT pg_temp.v('{"States": {"A": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": 1, "States": {"A": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "A"}');
SELECT pg_temp.v('{"StartAt": "A", "States": []}');
SELECT pg_temp.v('{"StartAt": "A", "States": {}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "Comment": 1}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "Version": "2.0"}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "TimeoutSeconds": 0}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "TimeoutSeconds": 1.5}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "TimeoutSeconds": 100000000}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "QueryLanguage": "XPath"}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "Timeout": 5}');
SELECT pg_temp.v('{"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}');

-- State names: at most 80 characters (80 is fine), unique in the whole machine
SELECT pg_temp.v(jsonb_build_object('StartAt', repeat('é', 80),
                 'States', jsonb_build_object(repeat('é', 80), '{"Type": "Succeed"}'::jsonb)));
SELECT pg_temp.v(jsonb_build_object('StartAt', repeat('x', 81),
                 'States', jsonb_build_object(repeat('x', 81), '{"Type": "Succeed"}'::jsonb)));
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": "Succeed"}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Parallel", "Next": "B",
                   "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}]},
                   "B": {"Type": "Succeed"}}}');

-- Type
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"End": true}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "task", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": 3, "End": true}}}');

-- Fields per type: unknown, of another type, of JSONata
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Resuld": 1}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Resource": "arn:aws:states:::x"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed", "ResultPath": "$.x"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Fail", "InputPath": "$"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Output": {}}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Comment": ["c"]}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "QueryLanguage": "jsonpath"}}}');

-- Next / End: exactly one where required, neither for Choice, Succeed, Fail
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B", "End": true}, "B": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": false}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": "yes"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": ""}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed", "Next": "A"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Fail", "End": true}}}');

-- Transitions name existing states of the same scope
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Z"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "IsNull": true, "Next": "B"}], "Default": "Z"}, "B": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]}}}');

-- Reachability and terminal states
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "B": {"Type": "Pass", "Next": "A"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}');
-- reachable through Default, Choices and Catch only
SELECT pg_temp.v('{"StartAt": "A", "States": {
                   "A": {"Type": "Task", "Resource": "arn:aws:states:::x", "Next": "C",
                         "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
                   "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "S"}], "Default": "A"},
                   "F": {"Type": "Fail"}, "S": {"Type": "Succeed"}}}');

-- Parallel
SELECT pg_temp.v('{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": []}}}');
SELECT pg_temp.v('{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": {}}}}');
SELECT pg_temp.v('{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [[]]}}}');
SELECT pg_temp.v('{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
                   "Branches": [{"States": {"B": {"Type": "Succeed"}}}]}}}');
SELECT pg_temp.v('{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
                   "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}, "Next": "P"}]}}}');
SELECT pg_temp.v('{"StartAt": "Fan", "States": {"Fan": {"Type": "Parallel", "End": true, "Branches": [
                   {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}},
                   {"StartAt": "Check", "States": {"Check": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                                                             "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": -1}]}}}]}}}');
SELECT pg_temp.v('{"StartAt": "Fan", "States": {"Fan": {"Type": "Parallel", "Next": "Done", "Branches": [
                   {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Done"}}}]},
                   "Done": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "Fan", "States": {"Fan": {"Type": "Parallel", "End": true, "Branches": [
                   {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}]}}}');
SELECT pg_temp.v('{"StartAt": "Fan", "States": {"Fan": {"Type": "Parallel", "Next": "A", "Branches": [
                   {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}]}}}');

-- Map
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}},
                   "Iterator": {"StartAt": "J", "States": {"J": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}, "Mode": "INLINE"}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
                   "ItemProcessor": {"ProcessorConfig": {"Mode": "inline"}, "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
                   "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
                   "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE", "ExecutionType": "EXPRESS"}, "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
                   "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "MaxConcurrency": -1,
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "MaxConcurrency": 2, "MaxConcurrencyPath": "$.n",
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ToleratedFailureCount": -1,
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ToleratedFailurePercentage": 100.5,
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ToleratedFailurePercentage": 12.5,
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "Parameters": {}, "ItemSelector": {},
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemsPath": "items",
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "Label": "this label is much longer than forty characters",
                   "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                     "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
                   "ItemBatcher": {"MaxInputBytesPerBatch": 300000},
                   "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                     "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "Next": "Out",
                   "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "Next": "Out"}}}},
                   "Out": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
                   "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Wait", "Seconds": 1}}}}}}');

-- Task
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": 7, "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "charge-card", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f:", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f:7", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${ChargeArn", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": {"Ref": "Charge"}, "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": {"Fn::Sub": "x"}, "End": true}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true, "TimeoutSeconds": 0}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "TimeoutSeconds": 30, "HeartbeatSeconds": 30}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "HeartbeatSeconds": 99999999}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "TimeoutSecondsPath": "$.t", "HeartbeatSeconds": 99999999}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "TimeoutSeconds": 30, "TimeoutSecondsPath": "$.t"}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "HeartbeatSecondsPath": "t"}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Credentials": "arn:aws:iam::1:role/r"}}}');

-- Wait: exactly one of Seconds, Timestamp, SecondsPath, TimestampPath
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Timestamp": "2026-01-02T03:04:05Z", "TimestampPath": "$.t"}}}');
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Seconds": -1}}}');
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Seconds": "10"}}}');
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Seconds": 0}}}');
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Timestamp": "2026-01-02 03:04:05Z"}}}');
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Timestamp": "2026-01-02T03:04:05z"}}}');
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Timestamp": "2025-02-29T03:04:05Z"}}}');
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Timestamp": "2024-02-29T23:59:59.123456-08:00"}}}');
SELECT pg_temp.v('{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "SecondsPath": 10}}}');

-- Fail
SELECT pg_temp.v('{"StartAt": "F", "States": {"F": {"Type": "Fail", "Cause": "c", "CausePath": "$.c"}}}');
SELECT pg_temp.v('{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": {"code": 1}}}}');
SELECT pg_temp.v('{"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format(''{} failed'', $.step)"}}}');
SELECT pg_temp.v('{"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "error"}}}');

-- Choice
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "S"}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [], "Default": "S"}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "StringEquals": "a"}], "Default": "S"}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"And": [{"Variable": "$.x", "IsPresent": true, "Next": "S"}], "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "StringEquals": "a", "IsNull": false, "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "Or": [{"Variable": "$.y", "IsNull": true}], "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"NumericEquals": 1, "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "StringEquals": 1, "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "NumericGreaterThan": "1", "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "BooleanEquals": "true", "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "IsTimestamp": 1, "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "TimestampLessThan": "yesterday", "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "StringEqualsPath": "y", "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "x", "IsNull": true, "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"And": [], "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Not": [{"Variable": "$.x", "IsNull": true}], "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "stringEquals": "a", "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Condition": "{% $x %}", "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"Variable": "$.x", "IsNull": true, "End": true}]}, "S": {"Type": "Succeed"}}}');
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                   {"And": [{"Variable": "$.a", "IsString": true}, {"Not": {"Variable": "$.b", "NumericLessThan": "0"}}], "Next": "S"}]},
                   "S": {"Type": "Succeed"}}}');
-- every operator with the right operand, Assign on a rule, variables and context paths
SELECT pg_temp.v('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "S", "Choices": [
                   {"Or": [{"Variable": "$.s", "StringEquals": "a"}, {"Variable": "$.s", "StringMatches": "a*"},
                           {"Variable": "$.s", "StringLessThanEqualsPath": "$$.Execution.Name"},
                           {"Variable": "$.n", "NumericGreaterThanEquals": -1.5}, {"Variable": "$n", "NumericEqualsPath": "$.m"},
                           {"Variable": "$.b", "BooleanEquals": false},
                           {"Variable": "$.t", "TimestampGreaterThan": "2026-01-02T03:04:05+02:00"},
                           {"Not": {"Variable": "$.t", "IsTimestamp": true}}],
                    "Next": "S", "Assign": {"seen": true, "last.$": "$.s"}}]},
                   "S": {"Type": "Succeed"}}}');

-- Retry and Catch
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true, "Retry": {}}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true, "Retry": ["E"]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true, "Retry": [{}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": []}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["States.Everything"]}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": [""]}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 2.5}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["E"], "MaxDelaySeconds": 31622401}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "HALF"}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["E"], "Next": "T"}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Retry": [{"ErrorEquals": ["E", "States.Timeout"], "IntervalSeconds": 2, "MaxAttempts": 0, "BackoffRate": 1,
                              "MaxDelaySeconds": 31622400, "JitterStrategy": "FULL", "Comment": "c"},
                             {"ErrorEquals": ["States.ALL"]}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Catch": [{"ErrorEquals": ["E"]}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Catch": [{"ErrorEquals": ["E"], "Next": "T", "ResultPath": "$$.error"}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Catch": [{"ErrorEquals": ["E"], "Next": "T", "Assign": {"2nd": 1}}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true,
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "T"}, {"ErrorEquals": ["E"], "Next": "T"}]}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Pass", "End": true, "Retry": []}}}');

-- Paths: a syntax check of the start (the data-flow code compiles them)
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "InputPath": "$.", "OutputPath": null, "ResultPath": null}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "OutputPath": 1}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "InputPath": "$$.Execution.Input", "OutputPath": "$[0]",
                   "ResultPath": "$.result"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "ResultPath": "$$.result"}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "InputPath": "$-x"}}}');

-- Payload templates
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"a.$": 1}}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"a": {"b": [{"c.$": "c"}]}}}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"a.$": "States.Now()"}}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"a.$": "States.UUID("}}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"a.$": "States.Format"}}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"id": 1, "id.$": "$.id"}}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": "x"}}}');
SELECT pg_temp.v('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::x", "End": true, "ResultSelector": [1]}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {
                   "a.$": "$", "b.$": "$$.Map.Item.Value", "c.$": "$var.field", "d.$": "States.Array(1, $.x)",
                   "e": [{"f.$": "$.f"}], "g": null}}}}');

-- Assign (JSONPath variables)
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Assign": []}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Assign": {"my-var": 1}}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Assign": {"x.$": "x"}}}}');
SELECT pg_temp.v('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Assign": {"x": {"y.$": "$.y"}, "_z.$": "$.z"}}}}');

-- JSONata is 0A000, wherever it is, before anything else is judged
SELECT pg_temp.v('{"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}');
SELECT pg_temp.v('{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "Bogus": 1,
                   "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true, "QueryLanguage": "JSONata"}}}}}}');

-- Duplicate keys: the text form rejects them; jsonb has already kept the last
SELECT courier.validate_state_machine_definition(
    '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Pass", "End": true}}}');
SELECT courier.validate_state_machine_definition(
    '{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
       {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true, "End": true}}}]}}}');
SELECT courier.validate_state_machine_definition('{"StartAt": "A", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}');
SELECT courier.validate_state_machine_definition(
    '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Pass", "End": true}}}'::jsonb);
SELECT courier.validate_state_machine_definition('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}');
SELECT courier.validate_state_machine_definition('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}');
-- keys that differ only in their escapes are the same key
SELECT courier.validate_state_machine_definition('{"StartAt": "A", "States": {"A": {"Type": "Succeed", "T\u0079pe": "Pass"}}}');
