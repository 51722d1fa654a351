-- 13_workflows: state machines and executions: create/update/delete with
-- validation and versions, start_execution (transactional, idempotent by
-- name), the engine through run_executions (Pass, Task with SQL functions,
-- Choice, Wait, Succeed, Fail), Retry with backoff on the controllable
-- clock, Catch with ResultPath, error names (task_error and SQLSTATE
-- condition names), the machine's TimeoutSeconds, stop_execution, the
-- history's event types, and misuse rejected with a SQLSTATE.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.run() RETURNS integer
LANGUAGE sql AS $$ SELECT courier.run_executions(1000) $$;

CREATE FUNCTION pg_temp.status(id bigint) RETURNS text
LANGUAGE sql AS $$ SELECT status || coalesce(':' || error, '') FROM courier.executions WHERE execution_id = id $$;

CREATE FUNCTION pg_temp.events(id bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(type, ' ' ORDER BY event_id) FROM courier.get_execution_history(id)
$$;

------------------------------------------------------------------------------
-- state machines
SELECT is(courier.create_state_machine('wf_pass', '{
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a.x, $.n)"}, "ResultPath": "$.b", "End": true}
    }}'), 1, 'create_state_machine returns version 1');
SELECT throws_ok($$SELECT courier.create_state_machine('wf_pass', '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}')$$,
                 '42710', NULL, 'an existing name');
SELECT throws_ok($$SELECT courier.create_state_machine('bad name', '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}')$$,
                 '42602', NULL, 'a name with a space');
SELECT throws_ok($$SELECT courier.create_state_machine('wf_bad', '{"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}')$$,
                 '22023', NULL, 'an invalid definition');
SELECT throws_ok($$SELECT courier.create_state_machine('wf_null', NULL)$$, '22004', NULL, 'a NULL definition');
SELECT is((SELECT count(*) FROM courier.state_machines WHERE state_machine_name IN ('wf_bad', 'wf_null')),
          0::bigint, 'rejected machines were not created');

------------------------------------------------------------------------------
-- executions: Pass states, data flow, history
CREATE TEMP TABLE ids (name text PRIMARY KEY, id bigint);
INSERT INTO ids SELECT 'pass', courier.start_execution('wf_pass', '{"n": 41}', 'pass-1');
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'pass')), 'RUNNING', 'a started execution runs');
SELECT is(courier.start_execution('wf_pass', '{"n": 41}', 'pass-1'), (SELECT id FROM ids WHERE name = 'pass'),
          'starting it again with the same name and input returns it');
SELECT throws_ok($$SELECT courier.start_execution('wf_pass', '{"n": 1}', 'pass-1')$$, '42710', NULL,
                 'the same name with another input');
SELECT throws_ok($$SELECT courier.start_execution('nope', '{}')$$, '42704', NULL, 'a missing machine');
SELECT throws_ok($$SELECT courier.start_execution('wf_pass', '{}', 'bad name')$$, '42602', NULL, 'a bad execution name');
SELECT ok(pg_temp.run() >= 2, 'run_executions made the transitions');
SELECT results_eq($$SELECT status, output FROM courier.describe_execution((SELECT id FROM ids WHERE name = 'pass'))$$,
                  $$VALUES ('SUCCEEDED'::text, '{"n": 41, "a": {"x": 1}, "b": {"sum": 42}}'::jsonb)$$,
                  'Result, ResultPath, Parameters with an intrinsic: the output');
SELECT is(pg_temp.events((SELECT id FROM ids WHERE name = 'pass')),
          'ExecutionStarted PassStateEntered PassStateExited PassStateEntered PassStateExited ExecutionSucceeded',
          'the history, with Step Functions event types');
SELECT is(pg_temp.run(), 0, 'nothing left to run');

-- a rolled-back start leaves nothing
SAVEPOINT s;
SELECT courier.start_execution('wf_pass', '{"n": 0}', 'rolled-back');
ROLLBACK TO SAVEPOINT s;
SELECT is((SELECT count(*) FROM courier.executions WHERE execution_name = 'rolled-back'), 0::bigint,
          'a rolled-back start_execution leaves no execution');

------------------------------------------------------------------------------
-- Task states: SQL functions, their writes, errors, Retry and Catch
CREATE TABLE public.wf_orders (id integer PRIMARY KEY, status text);
CREATE SEQUENCE public.wf_attempts;
CREATE FUNCTION public.wf_reserve(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    IF input ? 'fail_times' AND nextval('wf_attempts') <= (input->>'fail_times')::integer THEN
        RAISE EXCEPTION 'warehouse busy' USING ERRCODE = 'lock_not_available';
    END IF;
    IF input ? 'declined' THEN
        PERFORM courier.task_error('Payment.Declined', 'card expired');
    END IF;
    INSERT INTO wf_orders VALUES ((input->>'order')::integer, 'reserved');
    RETURN jsonb_build_object('reserved', input->'order', 'by', current_user);
END
$$;
SELECT courier.create_state_machine('wf_task', '{
    "StartAt": "Reserve",
    "States": {
        "Reserve": {"Type": "Task", "Resource": "function:public.wf_reserve",
                    "ResultSelector": {"item.$": "$.reserved"}, "ResultPath": "$.reservation",
                    "Retry": [{"ErrorEquals": ["lock_not_available"], "IntervalSeconds": 2,
                               "MaxAttempts": 2, "BackoffRate": 3}],
                    "Catch": [{"ErrorEquals": ["Payment.Declined"], "ResultPath": "$.error", "Next": "Declined"},
                              {"ErrorEquals": ["States.ALL"], "Next": "Broken"}],
                    "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "Declined": {"Type": "Fail", "Error": "OrderDeclined", "CausePath": "$.error.Cause"},
        "Broken": {"Type": "Fail", "ErrorPath": "$.Error"}
    }}');

INSERT INTO ids SELECT 'task', courier.start_execution('wf_task', '{"order": 1}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.describe_execution((SELECT id FROM ids WHERE name = 'task'))$$,
                  $$VALUES ('SUCCEEDED'::text, '{"order": 1, "reservation": {"item": 1}}'::jsonb)$$,
                  'a Task: the function''s result through ResultSelector and ResultPath');
SELECT is((SELECT status FROM public.wf_orders WHERE id = 1), 'reserved', 'and its write is there');
SELECT is((SELECT count(*) FROM courier.get_execution_history((SELECT id FROM ids WHERE name = 'task'))
            WHERE type IN ('TaskScheduled', 'TaskSucceeded')), 2::bigint, 'TaskScheduled and TaskSucceeded');

-- retried after its backoff, then succeeded
INSERT INTO ids SELECT 'retry', courier.start_execution('wf_task', '{"order": 2, "fail_times": 2}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, current_state, retry_counts FROM courier.executions
                     WHERE execution_id = (SELECT id FROM ids WHERE name = 'retry')$$,
                  $$VALUES ('RUNNING'::text, 'Reserve'::text, '{1}'::integer[])$$,
                  'a failed attempt waits for its retry');
SELECT ok((SELECT next_step_at - courier.now() BETWEEN interval '1.5 s' AND interval '2.5 s'
             FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'retry')),
          'IntervalSeconds 2 before the first retry');
SELECT is((SELECT count(*) FROM public.wf_orders WHERE id = 2), 0::bigint, 'a failed attempt wrote nothing');
SET LOCAL courier.clock_offset = 3;
SELECT pg_temp.run();
SELECT ok((SELECT next_step_at - courier.now() BETWEEN interval '5.5 s' AND interval '6.5 s'
             FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'retry')),
          'BackoffRate 3: 6 seconds before the second retry');
SET LOCAL courier.clock_offset = 10;
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'retry')), 'SUCCEEDED', 'the second retry succeeded');
SELECT is((SELECT count(*) FROM public.wf_orders WHERE id = 2), 1::bigint, 'its write is there once');

-- retries used up: Catch States.ALL; the error name is the SQLSTATE condition
ALTER SEQUENCE public.wf_attempts RESTART;
INSERT INTO ids SELECT 'exhausted', courier.start_execution('wf_task', '{"order": 3, "fail_times": 10}');
SET LOCAL courier.clock_offset = 20;
SELECT pg_temp.run();
SET LOCAL courier.clock_offset = 30;
SELECT pg_temp.run();
SET LOCAL courier.clock_offset = 40;
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'exhausted')), 'FAILED:lock_not_available',
          'retries used up: caught by States.ALL, failed with the SQLSTATE condition name');

-- a named error from courier.task_error, caught with ResultPath
INSERT INTO ids SELECT 'declined', courier.start_execution('wf_task', '{"order": 4, "declined": true}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, error, cause FROM courier.executions
                     WHERE execution_id = (SELECT id FROM ids WHERE name = 'declined')$$,
                  $$VALUES ('FAILED'::text, 'OrderDeclined'::text, 'card expired'::text)$$,
                  'task_error: caught by name, its cause kept in ResultPath');
SELECT throws_ok($$SELECT courier.task_error(NULL)$$, '22004', NULL, 'task_error needs a name');

------------------------------------------------------------------------------
-- Choice, Wait, the machine's timeout
SELECT courier.create_state_machine('wf_choice', '{
    "StartAt": "Size",
    "States": {
        "Size": {"Type": "Choice",
                 "Choices": [{"Variable": "$.total", "NumericGreaterThan": 100, "Next": "Big"},
                             {"And": [{"Variable": "$.total", "IsPresent": true},
                                      {"Variable": "$.total", "NumericLessThanEquals": 0}], "Next": "Zero"}],
                 "Default": "Small"},
        "Big": {"Type": "Wait", "Seconds": 60, "Next": "Small"},
        "Zero": {"Type": "Choice", "Choices": [{"Variable": "$.total", "NumericEquals": -1, "Next": "Small"}]},
        "Small": {"Type": "Pass", "Result": "done", "ResultPath": "$.result", "End": true}
    }}');
INSERT INTO ids SELECT 'small', courier.start_execution('wf_choice', '{"total": 5}');
INSERT INTO ids SELECT 'big', courier.start_execution('wf_choice', '{"total": 500}');
INSERT INTO ids SELECT 'zero', courier.start_execution('wf_choice', '{"total": 0}');
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'small')), 'SUCCEEDED', 'Choice: Default');
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'zero')), 'FAILED:States.NoChoiceMatched',
          'Choice without a match nor Default: States.NoChoiceMatched');
SELECT results_eq($$SELECT status, current_state FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'big')$$,
                  $$VALUES ('RUNNING'::text, 'Big'::text)$$, 'Choice: the first matching rule; Wait waits');
SET LOCAL courier.clock_offset = 100;
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output->>'result' FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'big')$$,
                  $$VALUES ('SUCCEEDED'::text, 'done'::text)$$, 'after its 60 seconds the Wait went on');

SELECT courier.create_state_machine('wf_timeout', '{
    "StartAt": "Long", "TimeoutSeconds": 10,
    "States": {"Long": {"Type": "Wait", "Seconds": 3600, "End": true}}}');
INSERT INTO ids SELECT 'timeout', courier.start_execution('wf_timeout', '{}');
SELECT pg_temp.run();
SET LOCAL courier.clock_offset = 111;
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'timeout')), 'TIMED_OUT:States.Timeout',
          'the machine''s TimeoutSeconds ends a long Wait');
SELECT ok(pg_temp.events((SELECT id FROM ids WHERE name = 'timeout')) LIKE '%ExecutionTimedOut',
          'ExecutionTimedOut in the history');

------------------------------------------------------------------------------
-- a bus rule starts executions (a state machine target)
SELECT courier.create_bus('wf_bus');
SELECT courier.put_rule('wf_bus', 'orders', '{"source": ["shop"]}');
SELECT courier.put_target('wf_bus', 'orders', 'flow', 'state_machine:wf_pass', input_path => '$.detail');
SELECT courier.put_events('wf_bus', '[{"source": "shop", "detail-type": "Order", "detail": {"n": 1}}]');
SELECT courier.tick();
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE state_machine_name = 'wf_pass'
                     AND input = '{"n": 1}'$$,
                  $$VALUES ('SUCCEEDED'::text, '{"n": 1, "a": {"x": 1}, "b": {"sum": 2}}'::jsonb)$$,
                  'a bus state machine target started an execution with the shaped event, and tick ran it');
SELECT throws_ok($$SELECT courier.delete_state_machine('wf_pass')$$, '23503', NULL,
                 'a state machine a bus target names cannot be deleted');
SELECT courier.drop_bus('wf_bus');

------------------------------------------------------------------------------
-- versions, stop, delete
INSERT INTO ids SELECT 'v1', courier.start_execution('wf_choice', '{"total": 500}');
SELECT pg_temp.run();
SELECT is(courier.update_state_machine('wf_choice', '{
    "StartAt": "Only", "States": {"Only": {"Type": "Pass", "Result": "v2", "ResultPath": "$.result", "End": true}}}'),
    2, 'update_state_machine makes version 2');
INSERT INTO ids SELECT 'v2', courier.start_execution('wf_choice', '{"total": 500}');
SET LOCAL courier.clock_offset = 200;
SELECT pg_temp.run();
SELECT results_eq($$SELECT e.version, e.output->>'result' FROM courier.executions AS e
                     WHERE e.execution_id IN (SELECT id FROM ids WHERE name IN ('v1', 'v2')) ORDER BY e.version$$,
                  $$VALUES (1, 'done'::text), (2, 'v2')$$,
                  'a running execution finished on its version; a new one started on the new');

INSERT INTO ids SELECT 'stop', courier.start_execution('wf_timeout', '{}');
SELECT lives_ok($$SELECT courier.stop_execution((SELECT id FROM ids WHERE name = 'stop'), 'Operator', 'no longer needed')$$,
                'stop_execution');
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'stop')), 'ABORTED:Operator', 'an aborted execution');
SELECT throws_ok($$SELECT courier.stop_execution((SELECT id FROM ids WHERE name = 'stop'))$$, '55000', NULL,
                 'stopping it again');
SELECT is(pg_temp.events((SELECT id FROM ids WHERE name = 'stop')), 'ExecutionStarted ExecutionAborted',
          'stopped before it entered a state: no state is aborted');
INSERT INTO ids SELECT 'stop_wait', courier.start_execution('wf_timeout', '{}');
SELECT pg_temp.run();
SELECT courier.stop_execution((SELECT id FROM ids WHERE name = 'stop_wait'));
SELECT is(pg_temp.events((SELECT id FROM ids WHERE name = 'stop_wait')),
          'ExecutionStarted WaitStateEntered WaitStateAborted ExecutionAborted',
          'stopped in a Wait state: WaitStateAborted before ExecutionAborted');
SELECT is((SELECT details FROM courier.get_execution_history((SELECT id FROM ids WHERE name = 'stop_wait'))
            WHERE type = 'WaitStateAborted'), '{"name": "Long"}'::jsonb, 'WaitStateAborted names the state');
SELECT throws_ok($$SELECT courier.describe_execution(-1)$$, '42704', NULL, 'a missing execution');

INSERT INTO ids SELECT 'running', courier.start_execution('wf_timeout', '{}');
SELECT throws_ok($$SELECT courier.delete_state_machine('wf_timeout')$$, '55006', NULL,
                 'deleting a machine with a running execution');
SELECT courier.stop_execution((SELECT id FROM ids WHERE name = 'running'));
SELECT lives_ok($$SELECT courier.delete_state_machine('wf_timeout')$$, 'deleting it once nothing runs');
SELECT is((SELECT count(*) FROM courier.executions WHERE state_machine_name = 'wf_timeout'), 0::bigint,
          'its executions went with it');
SELECT is((SELECT count(*) FROM courier.list_state_machines() WHERE state_machine_name LIKE 'wf\_%'), 3::bigint,
          'list_state_machines');

-- A task function changed in the same transaction is called as it is now:
-- the call information kept for the transaction is made again when the
-- function's pg_proc row changes (its SET options, its body), and a
-- function re-created under the same name is looked up again.
CREATE FUNCTION public.wf_setting(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    RETURN jsonb_build_object('path', current_setting('search_path'), 'v', 1);
END
$$;
SELECT courier.create_state_machine('wf_setting', '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "function:public.wf_setting", "End": true}}}');
INSERT INTO ids SELECT 'setting1', courier.start_execution('wf_setting', '{}');
SELECT pg_temp.run();
ALTER FUNCTION public.wf_setting(jsonb) SET search_path = pg_catalog, public;
INSERT INTO ids SELECT 'setting2', courier.start_execution('wf_setting', '{}');
SELECT pg_temp.run();
CREATE OR REPLACE FUNCTION public.wf_setting(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    RETURN jsonb_build_object('path', current_setting('search_path'), 'v', 2);
END
$$;
INSERT INTO ids SELECT 'setting3', courier.start_execution('wf_setting', '{}');
SELECT pg_temp.run();
DROP FUNCTION public.wf_setting(jsonb);
CREATE FUNCTION public.wf_setting(input jsonb) RETURNS text
LANGUAGE sql AS $$ SELECT 'not jsonb' $$;
INSERT INTO ids SELECT 'setting4', courier.start_execution('wf_setting', '{}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT i.name, e.status, e.output FROM ids AS i
                     JOIN courier.executions AS e ON e.execution_id = i.id
                    WHERE i.name LIKE 'setting%' ORDER BY i.name$$,
                  $$VALUES ('setting1'::text, 'SUCCEEDED'::text, '{"path": "public", "v": 1}'::jsonb),
                           ('setting2', 'SUCCEEDED', '{"path": "pg_catalog, public", "v": 1}'),
                           ('setting3', 'SUCCEEDED', '{"path": "pg_catalog", "v": 2}'),
                           ('setting4', 'SUCCEEDED', 'null')$$,
                  'a task function altered, replaced or re-created in the transaction is called as it is now');

-- ResultPath writes into an object of 70 members (jsonb keeps an offset
-- every 32 entries: the merge writes the binary form itself) with every
-- member as it was.
SELECT ok((WITH i AS (SELECT jsonb_object_agg('k' || g || repeat('x', g % 7),
                                             CASE g % 4 WHEN 0 THEN to_jsonb(g * 1.5) WHEN 1 THEN to_jsonb('s' || g)
                                                        WHEN 2 THEN jsonb_build_object('a', g, 'b', jsonb_build_array(g, true, null))
                                                        ELSE 'null'::jsonb END) AS input
                        FROM generate_series(1, 70) AS g),
                o AS (SELECT input,
                             courier.test_asl_state_io('{"ResultPath": "$.k34xxxxxx.new"}', input, '{"r": [1, {"z": 2}]}', '{}') AS deep,
                             courier.test_asl_state_io('{"ResultPath": "$.zz"}', input, '{"r": 5}', '{}') AS top
                        FROM i)
           SELECT (top - 'zz') = input AND top->'zz' = '{"r": 5}' AND top::text::jsonb = top
                  AND (deep #- '{k34xxxxxx,new}') = input AND deep->'k34xxxxxx'->'new' = '{"r": [1, {"z": 2}]}'
                  AND deep::text::jsonb = deep
                  AND (SELECT bool_and(top->k = input->k) FROM jsonb_object_keys(input) AS k)
             FROM o),
          'ResultPath into an object of 70 members keeps each member');

-- The events' arrays are compressed with lz4 where the server has it.
SELECT is((SELECT string_agg(DISTINCT attcompression::text, ',') FROM pg_attribute
            WHERE attrelid = 'courier.execution_events'::regclass
              AND attname IN ('timestamps', 'types', 'details')),
          CASE WHEN (SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression')
               THEN 'l' ELSE '' END,
          'execution_events: lz4 for the events'' arrays where the server supports it');

SELECT * FROM finish();
ROLLBACK;
