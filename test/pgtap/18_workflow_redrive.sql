-- 18_workflow_redrive: courier.redrive_execution().  Only FAILED, TIMED_OUT
-- and ABORTED executions, within 14 days of the stop (the controllable
-- clock), at most 1000 times, else ExecutionNotRedrivable (55000); a
-- missing execution is ExecutionDoesNotExist (42704); nothing changes on
-- error.  A redriven execution resumes at the state that failed, with that
-- state's input and fresh retry counters, does not run the states it had
-- left again, counts $$.Execution.RedriveCount up, shows ExecutionRedriven
-- in its history, runs on the version it started on, and is audited.  In
-- a Map or Parallel state only the iterations and branches that did not
-- succeed run again.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.run() RETURNS integer
LANGUAGE sql AS $$ SELECT courier.run_executions(1000) $$;

CREATE FUNCTION pg_temp.status(id bigint) RETURNS text
LANGUAGE sql AS $$ SELECT status || coalesce(':' || error, '') FROM courier.executions WHERE execution_id = id $$;

CREATE FUNCTION pg_temp.events(id bigint, since integer DEFAULT 0) RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(type, ' ' ORDER BY event_id) FROM courier.get_execution_history(id) WHERE event_id > since
$$;

CREATE FUNCTION pg_temp.last_event(id bigint) RETURNS integer
LANGUAGE sql AS $$ SELECT max(event_id) FROM courier.execution_history WHERE execution_id = id $$;

-- A row per call of each step; the charge step fails while ok is false.
CREATE TABLE public.rd_calls (step text, redrive_count integer, retry_count integer, input jsonb);
CREATE TABLE public.rd_switch (ok boolean NOT NULL);
INSERT INTO public.rd_switch VALUES (false);
CREATE FUNCTION public.rd_step(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO rd_calls VALUES (input->>'step', (input->>'redrives')::integer, (input->>'retries')::integer,
                                 input->'in');
    IF input->>'step' = 'charge' AND NOT (SELECT ok FROM rd_switch) THEN
        PERFORM courier.task_error('Card.Declined', 'try again later');
    END IF;
    RETURN jsonb_build_object('done', input->>'step');
END
$$;

SELECT courier.create_state_machine('rd_flow', '{
    "StartAt": "Reserve",
    "States": {
        "Reserve": {"Type": "Task", "Resource": "function:public.rd_step",
                    "Parameters": {"step": "reserve", "in.$": "$", "redrives.$": "$$.Execution.RedriveCount",
                                   "retries.$": "$$.State.RetryCount"},
                    "ResultPath": "$.reserve", "Next": "Charge"},
        "Charge": {"Type": "Task", "Resource": "function:public.rd_step",
                   "Parameters": {"step": "charge", "in.$": "$", "redrives.$": "$$.Execution.RedriveCount",
                                  "retries.$": "$$.State.RetryCount"},
                   "Retry": [{"ErrorEquals": ["Card.Declined"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                   "ResultPath": "$.charge", "Next": "Ship"},
        "Ship": {"Type": "Pass", "Parameters": {"redrives.$": "$$.Execution.RedriveCount"},
                 "ResultPath": "$.shipped", "End": true}
    }}');

CREATE TEMP TABLE ids (name text PRIMARY KEY, id bigint);
INSERT INTO ids SELECT 'a', courier.start_execution('rd_flow', '{"order": 7}', 'rd-a');
SELECT pg_temp.run();
SET LOCAL courier.clock_offset = 5;            -- past the retry's backoff
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'a')), 'FAILED:Card.Declined',
          'the execution failed at Charge once its retry was used up');
SELECT results_eq($$SELECT current_state, state_input, state_phase, retry_counts
                      FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'a')$$,
                  $$VALUES ('Charge'::text, '{"order": 7, "reserve": {"done": "reserve"}}'::jsonb,
                            2::smallint, '{1}'::integer[])$$,
                  'a failed execution keeps the state that failed, its input and its retry counters');

------------------------------------------------------------------------------
-- errors, and nothing changed by them
CREATE TEMP TABLE before AS SELECT * FROM courier.executions;
SELECT throws_ok($$SELECT courier.redrive_execution(NULL)$$, '22004', NULL, 'a NULL execution id');
SELECT throws_ok($$SELECT courier.redrive_execution(-1)$$, '42704',
                 'execution -1 does not exist (ExecutionDoesNotExist)', 'a missing execution: ExecutionDoesNotExist');

INSERT INTO ids SELECT 'running', courier.start_execution('rd_flow', '{"order": 8}', 'rd-running');
SELECT throws_ok(format('SELECT courier.redrive_execution(%s)', (SELECT id FROM ids WHERE name = 'running')),
                 '55000', format('execution %s cannot be redriven (ExecutionNotRedrivable)',
                                 (SELECT id FROM ids WHERE name = 'running')),
                 'a RUNNING execution: ExecutionNotRedrivable');
SELECT courier.stop_execution((SELECT id FROM ids WHERE name = 'running'), 'Ops.Stop', 'by hand');
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'running')), 'ABORTED:Ops.Stop', 'stopped: ABORTED');

UPDATE public.rd_switch SET ok = true;
INSERT INTO ids SELECT 'ok', courier.start_execution('rd_flow', '{"order": 9}', 'rd-ok');
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'ok')), 'SUCCEEDED', 'another execution succeeded');
SELECT throws_ok(format('SELECT courier.redrive_execution(%s)', (SELECT id FROM ids WHERE name = 'ok')),
                 '55000', NULL, 'a SUCCEEDED execution: ExecutionNotRedrivable');
UPDATE public.rd_switch SET ok = false;

-- 14 days after the stop: too late (the clock moves, the rows stay)
SET LOCAL courier.clock_offset = 1209606;       -- 14 days and 6 s: more than 14 days after the stop at ~5 s
SELECT throws_ok(format('SELECT courier.redrive_execution(%s)', (SELECT id FROM ids WHERE name = 'a')),
                 '55000', NULL, 'more than 14 days after the stop: ExecutionNotRedrivable');
SELECT is((SELECT count(*) FROM (SELECT * FROM courier.executions EXCEPT SELECT * FROM before) AS d
            WHERE d.execution_name NOT IN ('rd-running', 'rd-ok')), 0::bigint,
          'rejected redrives changed no execution');
SELECT is((SELECT count(*) FROM courier.audit_log WHERE action = 'redrive_execution'), 0::bigint,
          'and audited nothing');
SET LOCAL courier.clock_offset = 1209500;       -- just within 14 days

------------------------------------------------------------------------------
-- the redrive
SELECT pg_temp.last_event((SELECT id FROM ids WHERE name = 'a')) AS before_redrive \gset
UPDATE public.rd_switch SET ok = true;
SELECT courier.redrive_execution((SELECT id FROM ids WHERE name = 'a')) AS redrive_ts \gset
SELECT is((SELECT redriven_at FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'a')),
          :'redrive_ts'::timestamptz, 'redrive_execution returns the redrive time, kept in redriven_at');
SELECT results_eq($$SELECT status, current_state, state_phase, retry_counts, redrive_count, stopped_at, error,
                           next_step_at <= courier.now()
                      FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'a')$$,
                  $$VALUES ('RUNNING'::text, 'Charge'::text, 0::smallint, NULL::integer[], 1, NULL::timestamptz,
                            NULL::text, true)$$,
                  'RUNNING again, at the state that failed, its retry counters reset, due now');
SELECT is(pg_temp.events((SELECT id FROM ids WHERE name = 'a'), :before_redrive), 'ExecutionRedriven',
          'the history: ExecutionRedriven');
SELECT is((SELECT details->'redriveCount' FROM courier.execution_history
            WHERE execution_id = (SELECT id FROM ids WHERE name = 'a') AND type = 'ExecutionRedriven'),
          '1'::jsonb, 'ExecutionRedriven carries the redrive count');
SELECT is((SELECT details->>'execution' || ' ' || (details->>'redrive_count') || ' ' || (details->>'state')
             FROM courier.audit_log WHERE action = 'redrive_execution'),
          'rd-a 1 Charge', 'the redrive is audited');
SELECT throws_ok(format('SELECT courier.redrive_execution(%s)', (SELECT id FROM ids WHERE name = 'a')),
                 '55000', NULL, 'a redriven execution runs: not redrivable again');

DELETE FROM public.rd_calls;
SELECT ok(pg_temp.run() >= 2, 'the redriven execution advances');
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'a')$$,
                  $$VALUES ('SUCCEEDED'::text,
                            jsonb_build_object('order', 7, 'reserve', jsonb_build_object('done', 'reserve'),
                                               'charge', jsonb_build_object('done', 'charge'),
                                               'shipped', jsonb_build_object('redrives', 1)))$$,
                  'it succeeded, from the input Charge had, with $$.Execution.RedriveCount 1');
SELECT results_eq($$SELECT step, redrive_count, retry_count, input FROM public.rd_calls$$,
                  $$VALUES ('charge'::text, 1, 0, '{"order": 7, "reserve": {"done": "reserve"}}'::jsonb)$$,
                  'only Charge ran again (Reserve did not), with RedriveCount 1 and RetryCount 0');
SELECT is(pg_temp.events((SELECT id FROM ids WHERE name = 'a'), :before_redrive),
          'ExecutionRedriven TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited PassStateEntered PassStateExited ExecutionSucceeded',
          'the history after the redrive');
SELECT is((SELECT bool_and(previous_event_id = event_id - 1) AND count(*) = max(event_id)
             FROM courier.execution_history WHERE execution_id = (SELECT id FROM ids WHERE name = 'a')),
          true, 'event ids follow each other without a gap across the redrive');

-- $$.Execution.RedriveTime is there once an execution was redriven: a path to
-- it fails (States.Runtime) before, and that failure too can be redriven.
SELECT courier.create_state_machine('rd_time', '{
    "StartAt": "T",
    "States": {"T": {"Type": "Pass", "Parameters": {"t.$": "$$.Execution.RedriveTime"}, "End": true}}}');
INSERT INTO ids SELECT 'time', courier.start_execution('rd_time', '{}', 'rd-time');
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'time')), 'FAILED:States.Runtime',
          'no $$.Execution.RedriveTime before a redrive');
SELECT courier.redrive_execution((SELECT id FROM ids WHERE name = 'time')) AS redrive_ts \gset
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'time')$$,
                  format($$VALUES ('SUCCEEDED'::text, jsonb_build_object('t', %L))$$,
                         to_char(:'redrive_ts'::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
                  '$$.Execution.RedriveTime is the redrive time');

------------------------------------------------------------------------------
-- ABORTED and TIMED_OUT executions are redrivable; the timeout counts again
SELECT courier.redrive_execution((SELECT id FROM ids WHERE name = 'running'));
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'running')), 'SUCCEEDED',
          'an ABORTED execution, redriven, ran to its end');

UPDATE public.rd_switch SET ok = false;
SELECT courier.create_state_machine('rd_timeout', '{
    "StartAt": "Wait", "TimeoutSeconds": 60,
    "States": {
        "Wait": {"Type": "Wait", "Seconds": 100, "Next": "Done"},
        "Done": {"Type": "Pass", "Result": "done", "End": true}
    }}');
SET LOCAL courier.clock_offset = 0;
INSERT INTO ids SELECT 't', courier.start_execution('rd_timeout', '{}', 'rd-t');
SELECT pg_temp.run();
SET LOCAL courier.clock_offset = 61;
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 't')), 'TIMED_OUT:States.Timeout', 'timed out in its Wait');
SELECT courier.redrive_execution((SELECT id FROM ids WHERE name = 't'));
SELECT is((SELECT timeout_at - redriven_at FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 't')),
          '60 seconds'::interval, 'a redriven execution''s TimeoutSeconds counts from the redrive');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, current_state FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 't')$$,
                  $$VALUES ('RUNNING'::text, 'Wait'::text)$$, 'it waits in its Wait again, from the start');

------------------------------------------------------------------------------
-- the version it started with
UPDATE public.rd_switch SET ok = false;
SET LOCAL courier.clock_offset = 2000;
INSERT INTO ids SELECT 'v', courier.start_execution('rd_flow', '{"order": 10}', 'rd-v');
SELECT pg_temp.run();
SET LOCAL courier.clock_offset = 2010;
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'v')), 'FAILED:Card.Declined', 'rd-v failed on version 1');
SELECT is(courier.update_state_machine('rd_flow', '{
    "StartAt": "Other", "States": {"Other": {"Type": "Pass", "Result": "v2", "End": true}}}'), 2,
          'the machine gets a version 2 without the state Charge');
UPDATE public.rd_switch SET ok = true;
SELECT courier.redrive_execution((SELECT id FROM ids WHERE name = 'v'));
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, version, output->'charge' FROM courier.executions
                     WHERE execution_id = (SELECT id FROM ids WHERE name = 'v')$$,
                  $$VALUES ('SUCCEEDED'::text, 1, '{"done": "charge"}'::jsonb)$$,
                  'the redriven execution ran Charge of the version it started with');

------------------------------------------------------------------------------
-- the redrive count limit, and a failure at the same state again
UPDATE public.rd_switch SET ok = false;
SET LOCAL courier.clock_offset = 3000;
SELECT courier.update_state_machine('rd_flow', '{
    "StartAt": "Charge",
    "States": {"Charge": {"Type": "Task", "Resource": "function:public.rd_step",
                          "Parameters": {"step": "charge"}, "End": true}}}');
INSERT INTO ids SELECT 'limit', courier.start_execution('rd_flow', '{}', 'rd-limit');
SELECT pg_temp.run();
SELECT courier.redrive_execution((SELECT id FROM ids WHERE name = 'limit'));
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, error, redrive_count FROM courier.executions
                     WHERE execution_id = (SELECT id FROM ids WHERE name = 'limit')$$,
                  $$VALUES ('FAILED'::text, 'Card.Declined'::text, 1)$$,
                  'a redriven execution that fails again is FAILED with its redrive count');
SELECT is((SELECT redrive_count FROM courier.describe_execution((SELECT id FROM ids WHERE name = 'limit'))), 1,
          'describe_execution shows its redrive count');
UPDATE courier.executions SET redrive_count = 1000 WHERE execution_id = (SELECT id FROM ids WHERE name = 'limit');
SELECT throws_ok(format('SELECT courier.redrive_execution(%s)', (SELECT id FROM ids WHERE name = 'limit')),
                 '55000', NULL, 'after 1000 redrives: ExecutionNotRedrivable');
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'limit')), 'FAILED:Card.Declined', 'and it stays FAILED');

------------------------------------------------------------------------------
-- Inside Map and Parallel states only the iterations and branches that did
-- not succeed run again; the others keep their outputs.
CREATE TABLE public.rd_items (n integer, calls integer NOT NULL DEFAULT 1);
CREATE FUNCTION public.rd_item(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    UPDATE rd_items SET calls = calls + 1 WHERE n = (input->>'n')::integer;
    IF NOT FOUND THEN
        INSERT INTO rd_items (n) VALUES ((input->>'n')::integer);
    END IF;
    IF (input->>'n')::integer = 3 AND NOT (SELECT ok FROM rd_switch) THEN
        PERFORM courier.task_error('Item.Broken', 'item 3');
    END IF;
    RETURN to_jsonb((input->>'n')::integer * 10);
END
$$;
UPDATE public.rd_switch SET ok = false;
SELECT courier.create_state_machine('rd_map', '{
    "StartAt": "Each",
    "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "ResultPath": "$.out",
                 "ItemProcessor": {"StartAt": "Work", "States": {
                     "Work": {"Type": "Task", "Resource": "function:public.rd_item",
                              "Parameters": {"n.$": "$"}, "End": true}}},
                 "Next": "Done"},
        "Done": {"Type": "Pass", "End": true}
    }}');
INSERT INTO ids SELECT 'map', courier.start_execution('rd_map', '{"items": [1, 2, 3, 4, 5]}');
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'map')), 'FAILED:Item.Broken',
          'a Map state fails with its iteration''s error');
SELECT is((SELECT string_agg(item_index || ':' || status, ' ' ORDER BY item_index) FROM courier.executions
            WHERE parent_execution_id = (SELECT id FROM ids WHERE name = 'map')),
          '0:SUCCEEDED 1:SUCCEEDED 2:FAILED 3:ABORTED 4:ABORTED',
          'one at a time: two iterations succeeded, the third failed, the pending ones were stopped');
UPDATE public.rd_switch SET ok = true;
SELECT courier.redrive_execution((SELECT id FROM ids WHERE name = 'map'));
SELECT pg_temp.run();
SELECT is((SELECT status || ' ' || (output->'out')::text FROM courier.executions
            WHERE execution_id = (SELECT id FROM ids WHERE name = 'map')),
          'SUCCEEDED [10, 20, 30, 40, 50]', 'redriven, the Map state succeeds with every output in item order');
SELECT is((SELECT string_agg(n || ':' || calls, ' ' ORDER BY n) FROM public.rd_items),
          '1:1 2:1 3:1 4:1 5:1',
          'every iteration''s work committed once: those that had succeeded did not run again, the failed attempt''s writes rolled back');
SELECT is((SELECT count(*) FROM courier.executions
            WHERE parent_execution_id = (SELECT id FROM ids WHERE name = 'map')), 5::bigint,
          'no new iteration was created');
SELECT is((SELECT string_agg(item_index || ':' || redrive_count, ' ' ORDER BY item_index) FROM courier.executions
            WHERE parent_execution_id = (SELECT id FROM ids WHERE name = 'map')),
          '0:0 1:0 2:1 3:1 4:1', 'the iterations that ran again count the redrive');
SELECT ok(pg_temp.events((SELECT id FROM ids WHERE name = 'map'), 0) LIKE
          '%MapStateFailed ExecutionFailed ExecutionRedriven MapIterationStarted %MapStateSucceeded%ExecutionSucceeded',
          'the history: redriven, the remaining iterations started, the state succeeded');
SELECT is((SELECT string_agg(h.type, ' ' ORDER BY h.event_id) FROM courier.get_execution_history(
              (SELECT c.execution_id FROM courier.executions AS c
                WHERE c.parent_execution_id = (SELECT id FROM ids WHERE name = 'map') AND c.item_index = 2)) AS h
            ),
          'TaskStateEntered TaskScheduled TaskStarted TaskFailed ExecutionRedriven '
          'TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited',
          'the failed iteration''s own history shows its redrive, then its task again');

-- a Parallel state: the branch that failed runs again, the other does not
TRUNCATE public.rd_items;
UPDATE public.rd_switch SET ok = false;
SELECT courier.create_state_machine('rd_par', '{
    "StartAt": "Both",
    "States": {
        "Both": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "function:public.rd_item",
                                              "Parameters": {"n": 1}, "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "function:public.rd_item",
                                              "Parameters": {"n": 3}, "End": true}}}]}
    }}');
INSERT INTO ids SELECT 'par', courier.start_execution('rd_par', '{}');
SELECT pg_temp.run();
UPDATE public.rd_switch SET ok = true;
SELECT courier.redrive_execution((SELECT id FROM ids WHERE name = 'par'));
SELECT pg_temp.run();
SELECT is((SELECT status || ' ' || output::text FROM courier.executions WHERE execution_id = (SELECT id FROM ids WHERE name = 'par')),
          'SUCCEEDED [10, 30]', 'a redriven Parallel state succeeds, outputs in branch order');
SELECT is((SELECT string_agg(h.type, ' ' ORDER BY h.event_id) FROM courier.executions AS c,
                   courier.get_execution_history(c.execution_id) AS h
            WHERE c.parent_execution_id = (SELECT id FROM ids WHERE name = 'par') AND c.item_index = 0
              AND h.type LIKE 'Task%Entered'), 'TaskStateEntered',
          'the branch that had succeeded did not run again');
SELECT is((SELECT string_agg(n || ':' || calls, ' ' ORDER BY n) FROM public.rd_items), '1:1 3:1',
          'each branch''s work committed once');

-- a Map state that failed before it made its iterations is entered again
UPDATE public.rd_switch SET ok = false;
INSERT INTO ids SELECT 'noitems', courier.start_execution('rd_map', '{"items": "none"}');
SELECT pg_temp.run();
SELECT is(pg_temp.status((SELECT id FROM ids WHERE name = 'noitems')), 'FAILED:States.Runtime',
          'ItemsPath selecting no array fails the state before any iteration');
UPDATE courier.executions SET state_input = '{"items": [1]}' WHERE execution_id = (SELECT id FROM ids WHERE name = 'noitems');
SELECT courier.redrive_execution((SELECT id FROM ids WHERE name = 'noitems'));
SELECT pg_temp.run();
SELECT is((SELECT status || ' ' || (output->'out')::text FROM courier.executions
            WHERE execution_id = (SELECT id FROM ids WHERE name = 'noitems')),
          'SUCCEEDED [10]', 'redriven, it is entered again and makes its iterations');

-- redrive_execution is not callable by PUBLIC
SELECT is(has_function_privilege('public', 'courier.redrive_execution(bigint)', 'EXECUTE'), false,
          'redrive_execution is revoked from PUBLIC');

SELECT * FROM finish();
ROLLBACK;
