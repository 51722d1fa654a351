-- 23_workflow_store: how run_executions saves an execution (its row of
-- courier.executions and its history row), directly where it can
-- (src/workflow_store.c) and through SQL where it cannot: the saved rows
-- are found through every index after several saves; a trigger on
-- courier.executions, a CHECK constraint added to either table, row-level
-- security, or a role with column privileges only make saves go through
-- the statement, which fires the trigger, raises the constraint's error,
-- applies the policy or accepts the privileges; a role without UPDATE on
-- courier.executions gets the statement's error and nothing changes.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.run() RETURNS integer
LANGUAGE sql AS $$ SELECT courier.run_executions(1000) $$;

CREATE FUNCTION pg_temp.events(id bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(type, ' ' ORDER BY event_id) FROM courier.get_execution_history(id)
$$;

CREATE FUNCTION pg_temp.plan(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN ' || query LOOP
        plan := plan || line || ' ';
    END LOOP;
    RETURN plan;
END
$$;

-- Pass, a Wait of 10 s, Pass, Succeed: three saves (start, the Wait, the end).
SELECT courier.create_state_machine('st_wait', '{
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Result": {"a": 1}, "ResultPath": "$.a", "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 10, "Next": "B"},
        "B": {"Type": "Pass", "Result": 2, "ResultPath": "$.b", "Next": "S"},
        "S": {"Type": "Succeed"}
    }}');
CREATE TEMP TABLE ids AS
    SELECT courier.start_execution('st_wait', jsonb_build_object('n', n), 'st-' || n) AS id
      FROM generate_series(1, 3) AS n;

------------------------------------------------------------------------------
-- direct saves keep every index usable

SELECT is(pg_temp.run(), 6, 'three executions run to their Wait');

SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*)::integer FROM courier.executions
            WHERE status = 'RUNNING' AND next_step_at > courier.now()
              AND execution_id IN (SELECT id FROM ids)),
          3, 'the waiting executions are found through executions_due_idx');
SELECT ok(pg_temp.plan($$SELECT execution_id FROM courier.executions
                          WHERE status = 'RUNNING' AND next_step_at > courier.now()$$)
          LIKE '%executions_due_idx%',
          'that lookup reads executions_due_idx');
SELECT is((SELECT current_state FROM courier.executions WHERE execution_id = (SELECT min(id) FROM ids)),
          'W', 'an execution is found by its execution_id after a save');
SELECT is((SELECT state_phase::integer FROM courier.executions
            WHERE state_machine_name = 'st_wait' AND execution_name = 'st-2'),
          1, 'and by its name (the primary key)');
SELECT is((SELECT count(*)::integer FROM courier.execution_events WHERE execution_id = (SELECT min(id) FROM ids)),
          2, 'its history rows are found through execution_events_pkey');

SET LOCAL courier.clock_offset = 11;
SELECT is(pg_temp.run(), 9, 'after the Wait they run to the end');
SELECT is((SELECT count(*)::integer FROM courier.executions
            WHERE status = 'RUNNING' AND next_step_at <= courier.now()
              AND execution_id IN (SELECT id FROM ids)),
          0, 'none is due any more through executions_due_idx');
SELECT is((SELECT string_agg(status || ' ' || (output->>'b'), ',' ORDER BY execution_id)
             FROM courier.executions WHERE execution_id IN (SELECT id FROM ids)),
          'SUCCEEDED 2,SUCCEEDED 2,SUCCEEDED 2', 'each succeeded with its output');
SELECT is((SELECT last_event_id FROM courier.executions WHERE execution_id = (SELECT min(id) FROM ids)),
          10, 'last_event_id is the last event of the history');
SELECT is(pg_temp.events((SELECT min(id) FROM ids)),
          'ExecutionStarted PassStateEntered PassStateExited WaitStateEntered WaitStateExited '
          'PassStateEntered PassStateExited SucceedStateEntered SucceedStateExited ExecutionSucceeded',
          'the history as one event per row');
SELECT is((SELECT string_agg(first_event_id || '-' || last_event_id, ' ' ORDER BY first_event_id)
             FROM courier.execution_events WHERE execution_id = (SELECT min(id) FROM ids)),
          '1-1 2-4 5-10', 'one history row per save');
RESET enable_seqscan;
RESET enable_bitmapscan;

------------------------------------------------------------------------------
-- a trigger on courier.executions: saves go through the statement, which fires it

CREATE TEMP TABLE fired (id bigint, old_state text, new_state text, new_status text);
CREATE FUNCTION pg_temp.log_save() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fired VALUES (NEW.execution_id, OLD.current_state, NEW.current_state, NEW.status);
    RETURN NEW;
END
$$;
CREATE TRIGGER st_log AFTER UPDATE ON courier.executions
    FOR EACH ROW EXECUTE FUNCTION pg_temp.log_save();

SET LOCAL courier.clock_offset = 0;
SELECT courier.start_execution('st_wait', '{}', 'st-trigger') AS trig_id \gset
SELECT is(pg_temp.run(), 2, 'with a trigger on courier.executions the execution runs to its Wait');
SELECT is((SELECT string_agg(old_state || '>' || new_state || ' ' || new_status, ',') FROM fired WHERE id = :trig_id),
          'A>W RUNNING', 'the trigger fired for the save');
SET LOCAL courier.clock_offset = 11;
SELECT is(pg_temp.run(), 3, 'and runs to the end');
SELECT is((SELECT string_agg(old_state || '>' || new_state || ' ' || new_status, ',' ORDER BY new_status) FROM fired WHERE id = :trig_id),
          'A>W RUNNING,W>S SUCCEEDED', 'the trigger fired for each save');
SELECT is(pg_temp.events(:trig_id),
          'ExecutionStarted PassStateEntered PassStateExited WaitStateEntered WaitStateExited '
          'PassStateEntered PassStateExited SucceedStateEntered SucceedStateExited ExecutionSucceeded',
          'its history is the same as without the trigger');
DROP TRIGGER st_log ON courier.executions;

------------------------------------------------------------------------------
-- constraints added by a site hold for saves, and report through the statement

SET LOCAL courier.clock_offset = 0;
SELECT courier.start_execution('st_wait', '{}', 'st-check') AS check_id \gset
SELECT is(pg_temp.run(), 2, 'an execution runs to its Wait (a direct save)');
ALTER TABLE courier.executions ADD CONSTRAINT st_no_b CHECK (current_state IS DISTINCT FROM 'S') NOT VALID;
SET LOCAL courier.clock_offset = 11;
SELECT throws_ok('SELECT pg_temp.run()', '23514', NULL,
                 'a save that violates a CHECK added to courier.executions raises check_violation');
SELECT is((SELECT current_state || ' ' || status FROM courier.executions WHERE execution_id = :check_id),
          'W RUNNING', 'and the execution is as it was');
ALTER TABLE courier.executions DROP CONSTRAINT st_no_b;
ALTER TABLE courier.execution_events ADD CONSTRAINT st_short CHECK (cardinality(types) < 4) NOT VALID;
SELECT throws_ok('SELECT pg_temp.run()', '23514', NULL,
                 'a history row that violates a CHECK added to courier.execution_events raises check_violation');
SELECT is((SELECT count(*)::integer FROM courier.execution_events WHERE execution_id = :check_id),
          2, 'and no history row was added');
ALTER TABLE courier.execution_events DROP CONSTRAINT st_short;
SELECT is(pg_temp.run(), 3, 'without the constraints it runs to the end');
SELECT is((SELECT status FROM courier.executions WHERE execution_id = :check_id),
          'SUCCEEDED', 'and succeeds');

------------------------------------------------------------------------------
-- privileges: the documented ones, column privileges only, none

CREATE ROLE st_runner;
GRANT USAGE ON SCHEMA courier TO st_runner;
GRANT EXECUTE ON FUNCTION courier.run_executions(integer), courier._run_executions(timestamptz, integer),
    courier._require(text, boolean), courier.now() TO st_runner;
GRANT SELECT ON courier.state_machine_versions TO st_runner;
GRANT SELECT, UPDATE ON courier.executions TO st_runner;
GRANT INSERT ON courier.execution_events TO st_runner;

SET LOCAL courier.clock_offset = 0;
SELECT courier.start_execution('st_wait', '{}', 'st-role') AS role_id \gset
SET LOCAL ROLE st_runner;
SELECT is(pg_temp.run(), 2, 'a role with the documented privileges runs an execution');
RESET ROLE;

REVOKE UPDATE ON courier.executions FROM st_runner;
GRANT UPDATE (status, next_step_at, current_state, state_entered_at, state_phase, retry_counts,
              error, cause, state_input, output, stopped_at, last_event_id)
    ON courier.executions TO st_runner;
SET LOCAL courier.clock_offset = 11;
SET LOCAL ROLE st_runner;
SELECT is(pg_temp.run(), 3, 'with UPDATE on the columns a save writes only, the statement saves');
RESET ROLE;
SELECT is((SELECT status FROM courier.executions WHERE execution_id = :role_id),
          'SUCCEEDED', 'and the execution succeeded');

REVOKE UPDATE ON courier.executions FROM st_runner;
SET LOCAL courier.clock_offset = 0;
SELECT courier.start_execution('st_wait', '{}', 'st-norole') AS norole_id \gset
SET LOCAL ROLE st_runner;
SELECT throws_ok('SELECT pg_temp.run()', '42501', NULL,
                 'without UPDATE on courier.executions the save raises insufficient_privilege');
RESET ROLE;
SELECT is((SELECT current_state || ' ' || last_event_id FROM courier.executions WHERE execution_id = :norole_id),
          'A 1', 'and the execution is as it was');

------------------------------------------------------------------------------
-- row-level security on the history: the statement applies the policy

GRANT UPDATE ON courier.executions TO st_runner;
ALTER TABLE courier.execution_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY st_small ON courier.execution_events FOR INSERT WITH CHECK (cardinality(types) < 3);
SET LOCAL ROLE st_runner;
SELECT throws_ok('SELECT pg_temp.run()', '42501', NULL,
                 'a history row the policy rejects raises insufficient_privilege');
RESET ROLE;
SELECT is((SELECT current_state || ' ' || last_event_id FROM courier.executions WHERE execution_id = :norole_id),
          'A 1', 'and the execution is as it was');
DROP POLICY st_small ON courier.execution_events;
CREATE POLICY st_any ON courier.execution_events FOR INSERT WITH CHECK (true);
SET LOCAL ROLE st_runner;
SELECT is(pg_temp.run(), 2, 'with a policy that lets the row in the execution runs to its Wait');
RESET ROLE;
DROP POLICY st_any ON courier.execution_events;
ALTER TABLE courier.execution_events DISABLE ROW LEVEL SECURITY;
SELECT is(pg_temp.events(:norole_id), 'ExecutionStarted PassStateEntered PassStateExited WaitStateEntered',
          'and its history is written');

------------------------------------------------------------------------------
-- reads: a run locks due executions a batch at a time and reads each one
-- directly from the version it locked, if that is still the row's current
-- one.  The first batch of a call is one execution, the next two: here a
-- first execution, then a killer and its victim (due at 200, 201 and 202 s,
-- run in one call at 203 s); the killer's task stops the victim, whose locked version
-- is then an old one: the victim must be read as it is now (ABORTED) and
-- not run.

CREATE FUNCTION public.st_stop(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM courier.stop_execution((input->>'victim')::bigint, 'st.Stopped', 'by the killer');
    RETURN '{}';
END
$$;
SELECT courier.create_state_machine('st_kill', '{
    "StartAt": "T",
    "States": {
        "T": {"Type": "Task", "Resource": "function:public.st_stop", "ResultPath": null, "End": true}
    }}');
SELECT courier.create_state_machine('st_victim', '{
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "End": true}
    }}');
SET LOCAL courier.clock_offset = 100;
SELECT pg_temp.run() AS earlier;        -- st-norole's Wait ends
SELECT is(pg_temp.run(), 0, 'at 100 s nothing else is due');
SET LOCAL courier.clock_offset = 200;
SELECT courier.start_execution('st_victim', '{}', 'st-first') AS first_id \gset
SET LOCAL courier.clock_offset = 202;
SELECT courier.start_execution('st_victim', '{}', 'st-victim') AS victim_id \gset
SET LOCAL courier.clock_offset = 201;
SELECT courier.start_execution('st_kill', jsonb_build_object('victim', :victim_id), 'st-killer') AS killer_id \gset
SET LOCAL courier.clock_offset = 203;
SELECT is(pg_temp.run(), 2, 'at 203 s the first and the killer run their one state, and the victim does not run');
SELECT is((SELECT string_agg(execution_name || ' ' || status || coalesce(' ' || error, ''), ', '
                             ORDER BY execution_name)
             FROM courier.executions WHERE execution_id IN (:first_id, :killer_id, :victim_id)),
          'st-first SUCCEEDED, st-killer SUCCEEDED, st-victim ABORTED st.Stopped',
          'the victim stays stopped');
SELECT is(pg_temp.events(:victim_id), 'ExecutionStarted ExecutionAborted',
          'and its history has no state of it');
SET LOCAL courier.clock_offset = 0;

SELECT * FROM finish();
ROLLBACK;
