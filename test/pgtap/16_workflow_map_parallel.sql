-- 16_workflow_map_parallel: Parallel and Map states.  Outputs in branch and
-- item order (also when iterations end in another order), nested Map in
-- Parallel, Wait and Task retries inside iterations on the controllable
-- clock, MaxConcurrency (how many children run at once), tolerated
-- failures by count and by percentage (and their Path forms), Retry and
-- Catch on the Map state, a branch's error and
-- States.ExceedToleratedFailureThreshold, ItemsPath that selects no array,
-- distributed Map refused at run time, stop_execution and the machine's
-- timeout stopping children, children hidden from list_executions, a pure
-- Map of 100 items in one run, and the history's event types.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.run() RETURNS integer
LANGUAGE sql AS $$ SELECT courier.run_executions(10000) $$;

CREATE FUNCTION pg_temp.status(id bigint) RETURNS text
LANGUAGE sql AS $$ SELECT status || coalesce(':' || error, '') FROM courier.executions WHERE execution_id = id $$;

CREATE FUNCTION pg_temp.events(id bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(type, ' ' ORDER BY event_id) FROM courier.get_execution_history(id)
$$;

-- children of an execution with a given status
CREATE FUNCTION pg_temp.children(id bigint, st text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM courier.executions WHERE parent_execution_id = id AND status = st
$$;

CREATE TEMP TABLE ids (name text PRIMARY KEY, id bigint);
CREATE FUNCTION pg_temp.id(n text) RETURNS bigint
LANGUAGE sql AS $$ SELECT id FROM ids WHERE name = n $$;

------------------------------------------------------------------------------
-- Parallel: branch order, data flow, history
SELECT courier.create_state_machine('wm_parallel', '{
    "StartAt": "Both",
    "States": {
        "Both": {"Type": "Parallel", "InputPath": "$.in", "Parameters": {"n.$": "$.n", "tag": "p"},
                 "ResultSelector": {"first.$": "$[0]", "second.$": "$[1].m"}, "ResultPath": "$.both",
                 "Branches": [
                     {"StartAt": "Slow", "States": {
                         "Slow": {"Type": "Wait", "Seconds": 30, "Next": "One"},
                         "One": {"Type": "Pass", "Parameters": {"from": "slow", "n.$": "$.n"}, "End": true}}},
                     {"StartAt": "Two", "States": {
                         "Two": {"Type": "Pass", "Parameters": {"m.$": "States.MathAdd($.n, 1)"}, "End": true}}}],
                 "Next": "Done"},
        "Done": {"Type": "Succeed", "OutputPath": "$.both"}
    }}');
INSERT INTO ids SELECT 'parallel', courier.start_execution('wm_parallel', '{"in": {"n": 41}}', 'par-1');
SELECT pg_temp.run();
SELECT results_eq($$SELECT pg_temp.status(pg_temp.id('parallel')), pg_temp.children(pg_temp.id('parallel'), 'RUNNING'),
                           pg_temp.children(pg_temp.id('parallel'), 'SUCCEEDED')$$,
                  $$VALUES ('RUNNING', 1::bigint, 1::bigint)$$,
                  'Parallel: the pure branch finished, the one with a Wait waits; the parent waits for it');
SELECT is((SELECT current_state FROM courier.executions
            WHERE parent_execution_id = pg_temp.id('parallel') AND status = 'RUNNING'), 'Slow',
          'the waiting branch is at its Wait state');
SET LOCAL courier.clock_offset = 31;
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.describe_execution(pg_temp.id('parallel'))$$,
                  $$VALUES ('SUCCEEDED'::text, '{"first": {"from": "slow", "n": 41}, "second": 42}'::jsonb)$$,
                  'Parallel: outputs in branch order (the first branch ended last), ResultSelector, ResultPath, OutputPath');
SELECT is(pg_temp.events(pg_temp.id('parallel')),
          'ExecutionStarted ParallelStateEntered ParallelStateStarted ParallelStateSucceeded ParallelStateExited '
          'SucceedStateEntered SucceedStateExited ExecutionSucceeded',
          'Parallel: the history''s event types');
SELECT is((SELECT string_agg(type, ' ' ORDER BY event_id) FROM courier.get_execution_history_tree(pg_temp.id('parallel'))
            WHERE execution_id <> pg_temp.id('parallel') AND item_index = 0),
          'WaitStateEntered WaitStateExited PassStateEntered PassStateExited',
          'a branch''s own events, under its execution id, in get_execution_history_tree');
SELECT throws_ok($$SELECT * FROM courier.get_execution_history_tree(-1)$$, '42704', NULL,
                 'get_execution_history_tree of a missing execution');
SELECT throws_ok($$SELECT * FROM courier.get_execution_history_tree(NULL)$$, '22004', NULL,
                 'get_execution_history_tree of NULL');
SELECT results_eq($$SELECT branch_path, item_index, input FROM courier.executions
                     WHERE parent_execution_id = pg_temp.id('parallel') ORDER BY item_index$$,
                  $$VALUES ('{Both,0}'::text[], 0, '{"n": 41, "tag": "p"}'::jsonb), ('{Both,1}', 1, '{"n": 41, "tag": "p"}')$$,
                  'children: their branch path, index, and input');
SELECT results_eq($$SELECT state_input FROM courier.executions
                     WHERE parent_execution_id = pg_temp.id('parallel') ORDER BY item_index$$,
                  $$VALUES ('{"n": 41, "tag": "p"}'::jsonb), ('{"n": 41, "tag": "p"}')$$,
                  'every branch gets the effective input (InputPath, then Parameters)');
SELECT is((SELECT count(*) FROM courier.list_executions('wm_parallel')), 1::bigint,
          'list_executions does not show branches');
SELECT is((SELECT executions FROM courier.list_state_machines() WHERE state_machine_name = 'wm_parallel'), 1::bigint,
          'nor does list_state_machines count them');

-- a branch fails: the state fails with the branch's error, the other branch stops
SELECT courier.create_state_machine('wm_parallel_fail', '{
    "StartAt": "Both",
    "States": {
        "Both": {"Type": "Parallel", "End": true,
                 "Branches": [
                     {"StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 3600, "End": true}}},
                     {"StartAt": "Broke", "States": {"Broke": {"Type": "Fail", "Error": "Branch.Broke", "Cause": "by design"}}}]}
    }}');
INSERT INTO ids SELECT 'parallel_fail', courier.start_execution('wm_parallel_fail', '{}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, error, cause FROM courier.executions WHERE execution_id = pg_temp.id('parallel_fail')$$,
                  $$VALUES ('FAILED'::text, 'Branch.Broke'::text, 'by design'::text)$$,
                  'a failed branch fails the Parallel state with its error and cause');
SELECT results_eq($$SELECT status FROM courier.executions WHERE parent_execution_id = pg_temp.id('parallel_fail') ORDER BY item_index$$,
                  $$VALUES ('ABORTED'::text), ('FAILED')$$,
                  'the other branch was stopped');
SELECT ok(pg_temp.events(pg_temp.id('parallel_fail')) LIKE '%ParallelStateFailed ExecutionFailed',
          'ParallelStateFailed in the history');

------------------------------------------------------------------------------
-- Map: item order, ItemSelector with $$.Map.Item, Wait inside an iteration
SET LOCAL courier.clock_offset = 40;
SELECT courier.create_state_machine('wm_map', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items",
                 "ItemSelector": {"wait.$": "$$.Map.Item.Value.wait", "index.$": "$$.Map.Item.Index", "k.$": "$.k"},
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "W", "States": {
                     "W": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Out"},
                     "Out": {"Type": "Pass", "Parameters": {"i.$": "$.index", "k.$": "$.k"}, "End": true}}},
                 "ResultPath": "$.out", "End": true}
    }}');
INSERT INTO ids SELECT 'map', courier.start_execution('wm_map',
    '{"k": "x", "items": [{"wait": 20}, {"wait": 10}, {"wait": 0}]}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT item_index, status, current_state FROM courier.executions
                     WHERE parent_execution_id = pg_temp.id('map') ORDER BY item_index$$,
                  $$VALUES (0, 'RUNNING'::text, 'W'::text), (1, 'RUNNING', 'W'), (2, 'SUCCEEDED', 'Out')$$,
                  'Map: each iteration runs its Wait on its own');
SET LOCAL courier.clock_offset = 51;
SELECT pg_temp.run();
SELECT results_eq($$SELECT item_index, status FROM courier.executions
                     WHERE parent_execution_id = pg_temp.id('map') ORDER BY item_index$$,
                  $$VALUES (0, 'RUNNING'::text), (1, 'SUCCEEDED'), (2, 'SUCCEEDED')$$,
                  'after 11 seconds the second iteration went on');
SELECT is(pg_temp.status(pg_temp.id('map')), 'RUNNING', 'the Map waits for the last one');
SET LOCAL courier.clock_offset = 61;
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.describe_execution(pg_temp.id('map'))$$,
                  $$VALUES ('SUCCEEDED'::text, '{"k": "x", "items": [{"wait": 20}, {"wait": 10}, {"wait": 0}],
                            "out": [{"i": 0, "k": "x"}, {"i": 1, "k": "x"}, {"i": 2, "k": "x"}]}'::jsonb)$$,
                  'Map: outputs in item order though the iterations ended in reverse order');
SELECT is(pg_temp.events(pg_temp.id('map')),
          'ExecutionStarted MapStateEntered MapStateStarted MapIterationStarted MapIterationStarted '
          'MapIterationStarted MapIterationSucceeded MapIterationSucceeded MapIterationSucceeded '
          'MapStateSucceeded MapStateExited ExecutionSucceeded',
          'Map: the history''s event types');
SELECT is((SELECT string_agg((details->>'index'), ',' ORDER BY event_id) FROM courier.get_execution_history(pg_temp.id('map'))
            WHERE type = 'MapIterationSucceeded'), '2,1,0',
          'MapIterationSucceeded events carry the item index, in the order the iterations ended');

-- the context object inside an iteration is the execution's
SELECT courier.create_state_machine('wm_context', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map",
                 "ItemProcessor": {"StartAt": "Inner", "States": {
                     "Inner": {"Type": "Map", "ItemsPath": "$.xs",
                               "ItemProcessor": {"StartAt": "Ctx", "States": {
                                   "Ctx": {"Type": "Pass", "End": true,
                                           "Parameters": {"name.$": "$$.Execution.Name", "tag.$": "$$.Execution.Input[0].tag",
                                                          "state.$": "$$.State.Name"}}}},
                               "End": true}}},
                 "End": true}
    }}');
INSERT INTO ids SELECT 'context', courier.start_execution('wm_context', '[{"tag": "T", "xs": [1]}]', 'ctx-1');
SELECT pg_temp.run();
SELECT is((SELECT output FROM courier.executions WHERE execution_id = pg_temp.id('context')),
          '[[{"name": "ctx-1", "tag": "T", "state": "Ctx"}]]'::jsonb,
          '$$.Execution inside a nested iteration is the execution''s; $$.State the iteration''s');
SELECT is((SELECT count(*) FROM courier.executions WHERE execution_name LIKE 'ctx-1/0-%'), 2::bigint,
          'children at any depth are named after the top-level execution');

-- legacy Iterator and Parameters, ItemsPath default, empty input
SELECT courier.create_state_machine('wm_legacy', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map", "Parameters": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                 "Iterator": {"StartAt": "Double", "States": {
                     "Double": {"Type": "Pass", "Parameters": {"d.$": "States.MathAdd($.v, $.v)", "i.$": "$.i"}, "End": true}}},
                 "End": true}
    }}');
INSERT INTO ids SELECT 'legacy', courier.start_execution('wm_legacy', '[1, 2, 3]');
INSERT INTO ids SELECT 'empty', courier.start_execution('wm_legacy', '[]');
INSERT INTO ids SELECT 'not_array', courier.start_execution('wm_legacy', '{"a": 1}');
SELECT pg_temp.run();
SELECT is((SELECT output FROM courier.executions WHERE execution_id = pg_temp.id('legacy')),
          '[{"d": 2, "i": 0}, {"d": 4, "i": 1}, {"d": 6, "i": 2}]'::jsonb,
          'Iterator and Parameters (the older names); ItemsPath defaults to $');
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = pg_temp.id('empty')$$,
                  $$VALUES ('SUCCEEDED'::text, '[]'::jsonb)$$, 'no items: an empty array at once');
SELECT results_eq($$SELECT status, error FROM courier.executions WHERE execution_id = pg_temp.id('not_array')$$,
                  $$VALUES ('FAILED'::text, 'States.Runtime'::text)$$,
                  'ItemsPath that does not select an array: States.Runtime');

------------------------------------------------------------------------------
-- MaxConcurrency: how many iterations run at once
SELECT courier.create_state_machine('wm_limit', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map", "MaxConcurrency": 2,
                 "ItemProcessor": {"StartAt": "W", "States": {
                     "W": {"Type": "Wait", "Seconds": 10, "End": true}}},
                 "End": true}
    }}');
SET LOCAL courier.clock_offset = 100;
INSERT INTO ids SELECT 'limit', courier.start_execution('wm_limit', '[0, 1, 2, 3, 4]');
SELECT pg_temp.run();
SELECT results_eq($$SELECT pg_temp.children(pg_temp.id('limit'), 'RUNNING'), pg_temp.children(pg_temp.id('limit'), 'PENDING')$$,
                  $$VALUES (2::bigint, 3::bigint)$$, 'MaxConcurrency 2: two iterations run, three are pending');
SELECT is((SELECT array_agg(item_index ORDER BY item_index) FROM courier.executions
            WHERE parent_execution_id = pg_temp.id('limit') AND status = 'RUNNING'), '{0,1}'::integer[],
          'the first items first');
SELECT is((SELECT count(*) FROM courier.executions WHERE parent_execution_id = pg_temp.id('limit')
            AND status = 'PENDING' AND next_step_at IS NULL), 3::bigint, 'pending iterations are not due');
SET LOCAL courier.clock_offset = 110;
SELECT pg_temp.run();
SELECT results_eq($$SELECT pg_temp.children(pg_temp.id('limit'), 'SUCCEEDED'), pg_temp.children(pg_temp.id('limit'), 'RUNNING'),
                           pg_temp.children(pg_temp.id('limit'), 'PENDING')$$,
                  $$VALUES (2::bigint, 2::bigint, 1::bigint)$$, 'two ended: the next two started, never more than two');
SET LOCAL courier.clock_offset = 120;
SELECT pg_temp.run();
SELECT results_eq($$SELECT pg_temp.children(pg_temp.id('limit'), 'SUCCEEDED'), pg_temp.children(pg_temp.id('limit'), 'RUNNING')$$,
                  $$VALUES (4::bigint, 1::bigint)$$, 'then the last one');
SET LOCAL courier.clock_offset = 130;
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = pg_temp.id('limit')$$,
                  $$VALUES ('SUCCEEDED'::text, '[0, 1, 2, 3, 4]'::jsonb)$$, 'MaxConcurrency: all items, in order');
SELECT is((SELECT count(*) FROM courier.get_execution_history(pg_temp.id('limit')) WHERE type = 'MapIterationStarted'),
          5::bigint, 'a MapIterationStarted for each item, when it started');

-- MaxConcurrencyPath
SELECT courier.create_state_machine('wm_limit_path', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrencyPath": "$.limit",
                 "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": true}}},
                 "End": true}
    }}');
INSERT INTO ids SELECT 'limit_path', courier.start_execution('wm_limit_path', '{"limit": 3, "items": [1, 2, 3, 4, 5]}');
INSERT INTO ids SELECT 'limit_bad', courier.start_execution('wm_limit_path', '{"limit": "x", "items": [1]}');
SELECT pg_temp.run();
SELECT is(pg_temp.children(pg_temp.id('limit_path'), 'RUNNING'), 3::bigint, 'MaxConcurrencyPath 3: three run');
SELECT is(pg_temp.status(pg_temp.id('limit_bad')), 'FAILED:States.Runtime',
          'a MaxConcurrencyPath that selects no number: States.Runtime');

------------------------------------------------------------------------------
-- failures: not tolerated, tolerated by count and by percentage
CREATE FUNCTION pg_temp.map_machine(tolerance text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT ('{"StartAt": "Each", "States": {"Each": {"Type": "Map", ' || tolerance || '
               "ItemProcessor": {"StartAt": "Check", "States": {
                   "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "BooleanEquals": true, "Next": "Bad"}],
                             "Default": "Good"},
                   "Bad": {"Type": "Fail", "Error": "Item.Bad", "Cause": "a bad item"},
                   "Good": {"Type": "Pass", "Result": "ok", "End": true}}},
               "End": true}}}')::jsonb
$$;
SELECT courier.create_state_machine('wm_strict', pg_temp.map_machine(''));
SELECT courier.create_state_machine('wm_count', pg_temp.map_machine('"ToleratedFailureCount": 1,'));
SELECT courier.create_state_machine('wm_percent', pg_temp.map_machine('"ToleratedFailurePercentage": 40,'));
SELECT courier.create_state_machine('wm_count_path', pg_temp.map_machine('"ItemsPath": "$.items", "ToleratedFailureCountPath": "$.tolerate",'));
INSERT INTO ids SELECT 'strict', courier.start_execution('wm_strict', '[false, true, false]');
INSERT INTO ids SELECT 'count_ok', courier.start_execution('wm_count', '[false, true, false]');
INSERT INTO ids SELECT 'count_over', courier.start_execution('wm_count', '[true, true, false]');
INSERT INTO ids SELECT 'percent_ok', courier.start_execution('wm_percent', '[true, true, false, false, false]');
INSERT INTO ids SELECT 'percent_over', courier.start_execution('wm_percent', '[true, true, true, false, false]');
INSERT INTO ids SELECT 'count_path', courier.start_execution('wm_count_path', '{"tolerate": 2, "items": [true, true, false]}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, error, cause FROM courier.executions WHERE execution_id = pg_temp.id('strict')$$,
                  $$VALUES ('FAILED'::text, 'Item.Bad'::text, 'a bad item'::text)$$,
                  'a failed iteration fails the Map with its error');
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = pg_temp.id('count_ok')$$,
                  $$VALUES ('SUCCEEDED'::text, '["ok", {"Error": "Item.Bad", "Cause": "a bad item"}, "ok"]'::jsonb)$$,
                  'ToleratedFailureCount 1, one failure: succeeded, the failed item''s error output in its place');
SELECT is(pg_temp.status(pg_temp.id('count_over')), 'FAILED:States.ExceedToleratedFailureThreshold',
          'ToleratedFailureCount 1, two failures: States.ExceedToleratedFailureThreshold');
SELECT is(pg_temp.status(pg_temp.id('percent_ok')), 'SUCCEEDED', 'ToleratedFailurePercentage 40, 2 of 5 failed');
SELECT is(pg_temp.status(pg_temp.id('percent_over')), 'FAILED:States.ExceedToleratedFailureThreshold',
          'ToleratedFailurePercentage 40, 3 of 5 failed');
SELECT is(pg_temp.status(pg_temp.id('count_path')), 'SUCCEEDED', 'ToleratedFailureCountPath');
SELECT ok(pg_temp.events(pg_temp.id('count_over')) LIKE '%MapIterationFailed%MapStateFailed ExecutionFailed',
          'MapIterationFailed and MapStateFailed in the history');

-- a failure with iterations still running and pending: they are aborted
SELECT courier.create_state_machine('wm_abort', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map", "MaxConcurrency": 2,
                 "ItemProcessor": {"StartAt": "Check", "States": {
                     "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "BooleanEquals": true, "Next": "Bad"}],
                               "Default": "Slow"},
                     "Bad": {"Type": "Fail", "Error": "Item.Bad"},
                     "Slow": {"Type": "Wait", "Seconds": 60, "End": true}}},
                 "End": true}
    }}');
INSERT INTO ids SELECT 'abort', courier.start_execution('wm_abort', '[false, true, false, false]');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, error FROM courier.executions WHERE execution_id = pg_temp.id('abort')$$,
                  $$VALUES ('FAILED'::text, 'Item.Bad'::text)$$, 'the second iteration failed the Map');
SELECT is((SELECT string_agg(status, ',' ORDER BY item_index) FROM courier.executions
            WHERE parent_execution_id = pg_temp.id('abort')),
          'ABORTED,FAILED,ABORTED,ABORTED', 'the running and the pending iterations were aborted');
SELECT is((SELECT count(*) FROM courier.get_execution_history(pg_temp.id('abort')) WHERE type = 'MapIterationAborted'),
          1::bigint, 'MapIterationAborted for the one that was running');

------------------------------------------------------------------------------
-- Retry and Catch on the Map state; Task with Retry backoff inside an iteration
CREATE SEQUENCE public.wm_attempts;
CREATE FUNCTION public.wm_flaky(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    IF nextval('wm_attempts') <= (input->>'fail_times')::integer THEN
        RAISE EXCEPTION 'busy' USING ERRCODE = 'lock_not_available';
    END IF;
    IF input ? 'fatal' THEN
        PERFORM courier.task_error('Item.Fatal', 'cannot do it');
    END IF;
    RETURN jsonb_build_object('done', input->'n');
END
$$;
SELECT courier.create_state_machine('wm_retry', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items",
                 "ItemProcessor": {"StartAt": "Work", "States": {
                     "Work": {"Type": "Task", "Resource": "function:public.wm_flaky", "End": true}}},
                 "Retry": [{"ErrorEquals": ["lock_not_available"], "IntervalSeconds": 5, "MaxAttempts": 2}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                 "ResultPath": "$.results", "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "Caught": {"Type": "Pass", "Result": "caught", "ResultPath": "$.outcome", "End": true}
    }}');
SET LOCAL courier.clock_offset = 200;
ALTER SEQUENCE public.wm_attempts RESTART;
INSERT INTO ids SELECT 'map_retry', courier.start_execution('wm_retry', '{"items": [{"n": 1, "fail_times": 1}]}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, current_state, state_phase, retry_counts FROM courier.executions
                     WHERE execution_id = pg_temp.id('map_retry')$$,
                  $$VALUES ('RUNNING'::text, 'Each'::text, 2::smallint, '{1}'::integer[])$$,
                  'the iteration failed: the Map state waits for its retry');
SET LOCAL courier.clock_offset = 206;
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output->'results' FROM courier.executions WHERE execution_id = pg_temp.id('map_retry')$$,
                  $$VALUES ('SUCCEEDED'::text, '[{"done": 1}]'::jsonb)$$,
                  'Retry on the Map state runs its iterations again');
SELECT results_eq($$SELECT status FROM courier.executions WHERE parent_execution_id = pg_temp.id('map_retry') ORDER BY execution_id$$,
                  $$VALUES ('FAILED'::text), ('SUCCEEDED')$$,
                  'one child per attempt; the first attempt''s failed child is kept');
INSERT INTO ids SELECT 'map_catch', courier.start_execution('wm_retry', '{"items": [{"n": 1, "fail_times": 0}, {"n": 2, "fatal": true, "fail_times": 0}]}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output - 'items' FROM courier.executions WHERE execution_id = pg_temp.id('map_catch')$$,
                  $$VALUES ('SUCCEEDED'::text, '{"error": {"Error": "Item.Fatal", "Cause": "cannot do it"}, "outcome": "caught"}'::jsonb)$$,
                  'Catch on the Map state: the iteration''s error output');

-- a Task retried with backoff inside an iteration
SELECT courier.create_state_machine('wm_inner_retry', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map",
                 "ItemProcessor": {"StartAt": "Work", "States": {
                     "Work": {"Type": "Task", "Resource": "function:public.wm_flaky",
                              "Retry": [{"ErrorEquals": ["lock_not_available"], "IntervalSeconds": 3, "MaxAttempts": 1}],
                              "End": true}}},
                 "End": true}
    }}');
SET LOCAL courier.clock_offset = 300;
ALTER SEQUENCE public.wm_attempts RESTART;
INSERT INTO ids SELECT 'inner_retry', courier.start_execution('wm_inner_retry', '[{"n": 7, "fail_times": 1}]');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, state_phase, next_step_at - courier.now() BETWEEN interval '2.5 s' AND interval '3.5 s'
                     FROM courier.executions
                     WHERE parent_execution_id = pg_temp.id('inner_retry')$$,
                  $$VALUES ('RUNNING'::text, 2::smallint, true)$$,
                  'a Task inside an iteration waits for its retry''s backoff');
SET LOCAL courier.clock_offset = 304;
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = pg_temp.id('inner_retry')$$,
                  $$VALUES ('SUCCEEDED'::text, '[{"done": 7}]'::jsonb)$$, 'and then succeeds');

------------------------------------------------------------------------------
-- nested: a Map inside a Parallel branch, with a Wait inside the inner iterations
SELECT courier.create_state_machine('wm_nested', '{
    "StartAt": "Outer",
    "States": {
        "Outer": {"Type": "Parallel", "End": true,
                  "Branches": [
                      {"StartAt": "Inner", "States": {
                          "Inner": {"Type": "Map", "ItemsPath": "$.items",
                                    "ItemProcessor": {"StartAt": "W", "States": {
                                        "W": {"Type": "Wait", "Seconds": 5, "Next": "Sq"},
                                        "Sq": {"Type": "Pass", "Parameters": {"sq.$": "States.MathAdd($, $)"}, "End": true}}},
                                    "End": true}}},
                      {"StartAt": "Name", "States": {"Name": {"Type": "Pass", "InputPath": "$.name", "End": true}}}]}
    }}');
SET LOCAL courier.clock_offset = 400;
INSERT INTO ids SELECT 'nested', courier.start_execution('wm_nested', '{"name": "n", "items": [1, 2]}');
SELECT pg_temp.run();
SELECT is((SELECT count(*) FROM courier.executions AS c JOIN courier.executions AS b ON c.parent_execution_id = b.execution_id
            WHERE b.parent_execution_id = pg_temp.id('nested') AND c.status = 'RUNNING'), 2::bigint,
          'nested: the inner Map''s two iterations wait');
SELECT is((SELECT c.branch_path FROM courier.executions AS c JOIN courier.executions AS b ON c.parent_execution_id = b.execution_id
            WHERE b.parent_execution_id = pg_temp.id('nested') AND c.item_index = 1), '{Outer,0,Inner,0}'::text[],
          'an inner iteration''s branch path');
SET LOCAL courier.clock_offset = 406;
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = pg_temp.id('nested')$$,
                  $$VALUES ('SUCCEEDED'::text, '[[{"sq": 2}, {"sq": 4}], "n"]'::jsonb)$$,
                  'nested Map in Parallel: the outputs');

-- a waiting parent is looked at again every 5 minutes: a child that a stop
-- could not lock (another tick was stepping it) is aborted then
INSERT INTO ids SELECT 'orphan', courier.start_execution('wm_nested', '{"name": "n", "items": [1]}');
SELECT pg_temp.run();
SELECT ok((SELECT next_step_at - courier.now() BETWEEN interval '299 s' AND interval '301 s' FROM courier.executions
             WHERE parent_execution_id = pg_temp.id('orphan') AND item_index = 0),
          'a Map waiting for its iterations is due again in 5 minutes at the latest');
UPDATE courier.executions SET status = 'ABORTED', next_step_at = NULL   -- what a stop that skipped the branch does
 WHERE execution_id = pg_temp.id('orphan')
    OR parent_execution_id IN (SELECT execution_id FROM courier.executions WHERE parent_execution_id = pg_temp.id('orphan'));
SET LOCAL courier.clock_offset = 707;
SELECT pg_temp.run();
SELECT is((SELECT status FROM courier.executions WHERE parent_execution_id = pg_temp.id('orphan') AND item_index = 0),
          'ABORTED', 'the branch whose parent stopped is aborted when next looked at');

------------------------------------------------------------------------------
-- stop_execution and the machine's timeout stop the children (at any depth)
SET LOCAL courier.clock_offset = 800;
INSERT INTO ids SELECT 'stop', courier.start_execution('wm_nested', '{"name": "n", "items": [1, 2, 3]}');
SELECT pg_temp.run();
SELECT throws_ok(format('SELECT courier.stop_execution(%s)',
                        (SELECT execution_id FROM courier.executions WHERE parent_execution_id = pg_temp.id('stop') AND item_index = 0)),
                 '55000', NULL, 'a branch cannot be stopped on its own');
SELECT courier.stop_execution(pg_temp.id('stop'));
SELECT is((SELECT count(*) FROM courier.executions AS c JOIN courier.executions AS b ON c.parent_execution_id = b.execution_id
            WHERE b.parent_execution_id = pg_temp.id('stop') AND c.status = 'ABORTED'), 3::bigint,
          'stop_execution aborted the inner iterations');
SELECT is((SELECT string_agg(status, ',' ORDER BY item_index) FROM courier.executions WHERE parent_execution_id = pg_temp.id('stop')),
          'ABORTED,SUCCEEDED', 'and the running branch');
SELECT ok(pg_temp.events(pg_temp.id('stop')) LIKE '%ParallelStateStarted ParallelStateAborted ExecutionAborted',
          'ParallelStateAborted before ExecutionAborted');
SELECT is((SELECT count(*) FROM courier.get_execution_history(pg_temp.id('stop')) WHERE type LIKE 'Map%'), 0::bigint,
          'no Map events in the history of the Parallel state''s execution');

-- stopped in a Map state: MapIterationAborted for each running iteration
-- (not for the pending ones, which never started), then MapStateAborted
SELECT courier.create_state_machine('wm_stop_map', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map", "MaxConcurrency": 2,
                 "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}},
                 "End": true}
    }}');
INSERT INTO ids SELECT 'stop_map', courier.start_execution('wm_stop_map', '["a", "b", "c"]');
SELECT pg_temp.run();
SELECT courier.stop_execution(pg_temp.id('stop_map'), 'Ops.Stop', 'by hand');
SELECT is(pg_temp.events(pg_temp.id('stop_map')),
          'ExecutionStarted MapStateEntered MapStateStarted MapIterationStarted MapIterationStarted '
          'MapIterationAborted MapIterationAborted MapStateAborted ExecutionAborted',
          'stopped in a Map state: its running iterations and the state are aborted, then the execution');
SELECT results_eq($$SELECT (h.details->>'index')::integer, (h.details->>'executionId')::bigint, h.details->>'name'
                      FROM courier.get_execution_history(pg_temp.id('stop_map')) AS h
                     WHERE h.type = 'MapIterationAborted' ORDER BY h.event_id$$,
                  $$SELECT c.item_index, c.execution_id, 'Each'::text FROM courier.executions AS c
                     WHERE c.parent_execution_id = pg_temp.id('stop_map') AND c.item_index < 2
                     ORDER BY c.item_index$$,
                  'MapIterationAborted names the state, the index and the iteration''s execution');
SELECT is((SELECT string_agg(status, ',' ORDER BY item_index) FROM courier.executions
            WHERE parent_execution_id = pg_temp.id('stop_map')),
          'ABORTED,ABORTED,ABORTED', 'every iteration, running or pending, is aborted');
SET LOCAL courier.clock_offset = 810;
SELECT is(pg_temp.run(), 0, 'nothing of it runs any more');

SELECT courier.create_state_machine('wm_timeout', '{
    "StartAt": "Each", "TimeoutSeconds": 10,
    "States": {
        "Each": {"Type": "Map",
                 "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}},
                 "End": true}
    }}');
SET LOCAL courier.clock_offset = 900;
INSERT INTO ids SELECT 'timeout', courier.start_execution('wm_timeout', '[1, 2]');
SELECT pg_temp.run();
SELECT ok((SELECT next_step_at = timeout_at FROM courier.executions WHERE execution_id = pg_temp.id('timeout')),
          'a Map waiting for its children is due at the execution''s timeout');
SET LOCAL courier.clock_offset = 911;
SELECT pg_temp.run();
SELECT is(pg_temp.status(pg_temp.id('timeout')), 'TIMED_OUT:States.Timeout', 'the execution timed out');
SELECT is(pg_temp.children(pg_temp.id('timeout'), 'ABORTED'), 2::bigint, 'its iterations were stopped');

------------------------------------------------------------------------------
-- a pure Map of 100 items in one run; a distributed Map is refused at run time
SELECT courier.create_state_machine('wm_pure', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map", "ItemSelector": {"v.$": "$$.Map.Item.Value"},
                 "ItemProcessor": {"StartAt": "C", "States": {
                     "C": {"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericGreaterThan": 50, "Next": "Big"}],
                           "Default": "Small"},
                     "Big": {"Type": "Pass", "Result": "big", "End": true},
                     "Small": {"Type": "Pass", "InputPath": "$.v", "End": true}}},
                 "End": true}
    }}');
INSERT INTO ids SELECT 'pure', courier.start_execution('wm_pure', (SELECT jsonb_agg(i) FROM generate_series(1, 100) AS i));
SELECT ok(pg_temp.run() > 100, 'one run_executions call');
SELECT results_eq($$SELECT status, jsonb_array_length(output), output->0, output->99 FROM courier.executions
                     WHERE execution_id = pg_temp.id('pure')$$,
                  $$VALUES ('SUCCEEDED'::text, 100, '1'::jsonb, '"big"'::jsonb)$$,
                  'a pure Map of 100 items finished within it');

SELECT courier.create_state_machine('wm_distributed', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map",
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                   "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                 "End": true},
        "Caught": {"Type": "Succeed"}
    }}');
INSERT INTO ids SELECT 'distributed', courier.start_execution('wm_distributed', '[1]');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, error, cause LIKE 'distributed Map states are not run%' FROM courier.executions
                     WHERE execution_id = pg_temp.id('distributed')$$,
                  $$VALUES ('FAILED'::text, 'States.Runtime'::text, true)$$,
                  'a distributed Map is accepted but fails at run time with States.Runtime (not caught)');

SELECT lives_ok($$SELECT courier.delete_state_machine('wm_parallel')$$, 'deleting a machine with branch executions');
SELECT is((SELECT count(*) FROM courier.executions WHERE state_machine_name = 'wm_parallel'), 0::bigint,
          'its branch executions went with it');

SELECT * FROM finish();
ROLLBACK;
