-- 20_workflow_combined: the workflow features together, where each was
-- tested alone elsewhere: a task token waited for inside a Map iteration
-- (each iteration is an execution of its own with its own token), a
-- courier:send integration inside a Parallel branch inheriting the
-- execution's correlation id, a redrive of a failed Parallel state, and
-- execution_stats counting the top-level execution only, not its branches.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
BEGIN;
SELECT plan(15);

CREATE FUNCTION pg_temp.run() RETURNS integer
LANGUAGE sql AS $$ SELECT courier.run_executions(1000) $$;

CREATE TEMP TABLE ids (name text PRIMARY KEY, id bigint);
CREATE FUNCTION pg_temp.id(n text) RETURNS bigint
LANGUAGE sql AS $$ SELECT id FROM ids WHERE name = n $$;

SELECT courier.create_queue('wc_jobs');
SELECT courier.create_queue('wc_out');

------------------------------------------------------------------------------
-- A token task in every Map iteration

SELECT courier.create_state_machine('wc_map_tokens', '{
  "StartAt": "Each",
  "States": {
    "Each": {"Type": "Map", "ItemsPath": "$.items", "End": true,
      "ItemSelector": {"n.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
      "ItemProcessor": {"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "courier:send.waitForTaskToken", "End": true,
                "Parameters": {"QueueName": "wc_jobs",
                               "MessageBody": {"n.$": "$.n", "token.$": "$$.Task.Token"}}}}}}
  }}');
INSERT INTO ids SELECT 'map', courier.start_execution('wc_map_tokens', '{"items": [10, 20, 30]}');
SELECT pg_temp.run();

SELECT is((SELECT count(DISTINCT payload->>'token') FROM courier.messages WHERE queue_name = 'wc_jobs'),
          3::bigint, 'each of the 3 iterations sent its own task token');
SELECT is((SELECT string_agg(c.status || '/' || c.state_phase, ' ' ORDER BY c.item_index)
             FROM courier.executions AS c WHERE c.parent_execution_id = pg_temp.id('map')),
          'RUNNING/3 RUNNING/3 RUNNING/3', 'the iterations wait for their tokens (phase 3)');
SELECT is((SELECT state_phase FROM courier.executions WHERE execution_id = pg_temp.id('map')),
          4::smallint, 'the Map state waits for its iterations (phase 4)');
SELECT is((SELECT running FROM courier.execution_stats WHERE state_machine_name = 'wc_map_tokens'),
          1::bigint, 'execution_stats: one execution running, its iterations not counted');

-- the consumer answers in reverse order; outputs still come in item order
SELECT courier.send_task_success(m.payload->>'token', jsonb_build_object('double', (m.payload->>'n')::int * 2))
  FROM (SELECT payload FROM courier.messages WHERE queue_name = 'wc_jobs'
         ORDER BY (payload->>'n')::int DESC) AS m;
SELECT pg_temp.run();
SELECT is((SELECT status || ' ' || output::text FROM courier.executions WHERE execution_id = pg_temp.id('map')),
          'SUCCEEDED [{"double": 20}, {"double": 40}, {"double": 60}]',
          'answered in reverse, the Map''s output is in item order');
SELECT throws_ok($$SELECT courier.send_task_success(
                       (SELECT payload->>'token' FROM courier.messages WHERE queue_name = 'wc_jobs' LIMIT 1), '{}')$$,
                 '55000', NULL, 'a token of a finished iteration is stale');

------------------------------------------------------------------------------
-- courier:send in a Parallel branch, under the execution's correlation id

SELECT courier.create_state_machine('wc_parallel', '{
  "StartAt": "Both",
  "States": {
    "Both": {"Type": "Parallel", "End": true, "Branches": [
      {"StartAt": "Send", "States": {
        "Send": {"Type": "Task", "Resource": "courier:send", "End": true,
                 "Parameters": {"QueueName": "wc_out", "MessageBody": {"from": "branch 0"}},
                 "ResultSelector": {"sent.$": "$.MessageId"}}}},
      {"StartAt": "Fixed", "States": {"Fixed": {"Type": "Pass", "Result": "branch 1", "End": true}}}]}
  }}');
SELECT courier.set_context('order-77');
INSERT INTO ids SELECT 'par', courier.start_execution('wc_parallel', '{}');
SELECT courier.set_context(NULL);
SELECT pg_temp.run();
SELECT is((SELECT status FROM courier.executions WHERE execution_id = pg_temp.id('par')),
          'SUCCEEDED', 'the Parallel state succeeded');
SELECT is((SELECT output->0->>'sent' = (SELECT msg_id::text FROM courier.messages WHERE queue_name = 'wc_out')
             FROM courier.executions WHERE execution_id = pg_temp.id('par')),
          true, 'branch 0''s output is the id of the message it sent');
SELECT is((SELECT output->>1 FROM courier.executions WHERE execution_id = pg_temp.id('par')),
          'branch 1', 'branch 1''s output is second');
SELECT is((SELECT correlation_id FROM courier.messages WHERE queue_name = 'wc_out'),
          'order-77', 'the message a branch sent carries the execution''s correlation id');

------------------------------------------------------------------------------
-- A Parallel state that failed, redriven

CREATE TABLE public.wc_flaky (fail boolean NOT NULL);
INSERT INTO public.wc_flaky VALUES (true);
CREATE FUNCTION public.wc_check(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    IF (SELECT fail FROM public.wc_flaky) THEN
        PERFORM courier.task_error('Flaky.Down', 'not yet');
    END IF;
    RETURN '"checked"';
END
$$;
SELECT courier.create_state_machine('wc_redrive', '{
  "StartAt": "Both",
  "States": {
    "Both": {"Type": "Parallel", "End": true, "Branches": [
      {"StartAt": "Check", "States": {"Check": {"Type": "Task", "Resource": "function:public.wc_check", "End": true}}},
      {"StartAt": "Fixed", "States": {"Fixed": {"Type": "Pass", "Result": "fixed", "End": true}}}]}
  }}');
INSERT INTO ids SELECT 'redrive', courier.start_execution('wc_redrive', '{}');
SELECT pg_temp.run();
SELECT is((SELECT status || ':' || error FROM courier.executions WHERE execution_id = pg_temp.id('redrive')),
          'FAILED:Flaky.Down', 'the Parallel state failed with its branch''s error');
UPDATE public.wc_flaky SET fail = false;
SELECT courier.redrive_execution(pg_temp.id('redrive'));
SELECT pg_temp.run();
SELECT is((SELECT status || ' ' || output::text FROM courier.executions WHERE execution_id = pg_temp.id('redrive')),
          'SUCCEEDED ["checked", "fixed"]', 'redriven, the Parallel state ran again and succeeded');

------------------------------------------------------------------------------
-- execution_stats counts executions, not their branches and iterations

SELECT is((SELECT running FROM courier.execution_stats WHERE state_machine_name = 'wc_map_tokens'),
          0::bigint, 'no execution of the Map machine is running');
SELECT ok((SELECT count(*) FROM courier.executions WHERE state_machine_name = 'wc_map_tokens') = 4
          AND (SELECT count(*) FROM courier.list_executions('wc_map_tokens')) = 1,
          'the Map machine has 1 execution and 3 iterations; list_executions shows the execution');
SELECT is((SELECT count(*) FROM courier.get_execution_history(pg_temp.id('map'))
            WHERE type IN ('MapIterationStarted', 'MapIterationSucceeded')),
          6::bigint, 'the Map''s history has each iteration''s start and success');

SELECT * FROM finish();
ROLLBACK;
