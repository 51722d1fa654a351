-- Redriving executions (RedriveExecution): a FAILED, TIMED_OUT or ABORTED
-- execution resumes at the state it stopped in, with the input it entered
-- that state with, on the version it started on.  The states it had left
-- are not run again.  See docs/workflows.md ("Redriving an execution").

CREATE FUNCTION courier._redrive_execution(execution_id bigint)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e courier.executions;
    def jsonb;
    ts timestamptz := courier.now();
    -- As Step Functions: within 14 days of the stop, at most 1,000 times.
    redrivable_for constant interval := '14 days';
    max_redrives constant integer := 1000;
BEGIN
    PERFORM courier._require('execution_id', _redrive_execution.execution_id IS NULL);
    SELECT * INTO e FROM courier.executions AS c
     WHERE c.execution_id = _redrive_execution.execution_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist (ExecutionDoesNotExist)', _redrive_execution.execution_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_executions() shows the executions there are.';
    END IF;
    IF e.status NOT IN ('FAILED', 'TIMED_OUT', 'ABORTED') THEN
        RAISE EXCEPTION 'execution % cannot be redriven (ExecutionNotRedrivable)', e.execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is %s; only a FAILED, TIMED_OUT or ABORTED execution can be redriven.',
                                  e.status);
    END IF;
    IF e.stopped_at < ts - redrivable_for THEN
        RAISE EXCEPTION 'execution % cannot be redriven (ExecutionNotRedrivable)', e.execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It stopped at %s, more than 14 days ago.', e.stopped_at),
                  HINT = 'Start a new execution with its input.';
    END IF;
    IF e.redrive_count >= max_redrives THEN
        RAISE EXCEPTION 'execution % cannot be redriven (ExecutionNotRedrivable)', e.execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was redriven %s times, the most an execution can be.', e.redrive_count),
                  HINT = 'Start a new execution with its input.';
    END IF;
    -- the machine cannot be deleted meanwhile (delete_state_machine locks it FOR UPDATE)
    PERFORM 1 FROM courier.state_machines AS m
     WHERE m.state_machine_name = e.state_machine_name FOR KEY SHARE;
    SELECT v.definition INTO def FROM courier.state_machine_versions AS v
     WHERE v.state_machine_name = e.state_machine_name AND v.version = e.version;

    -- Map and Parallel states: an execution stopped inside one is resumed
    -- at that state; redriving only its failed iterations or branches (its
    -- child executions) belongs here, before the parent runs again.

    -- Resume at the state it stopped in: entered again now, with the input
    -- it entered with (state_input), its retry counters reset.  The
    -- machine's TimeoutSeconds counts again from now.
    UPDATE courier.executions AS c
       SET status = 'RUNNING', stopped_at = NULL, next_step_at = ts,
           state_entered_at = ts, state_phase = 0, retry_counts = NULL,
           error = NULL, cause = NULL, output = NULL,
           timeout_at = ts + make_interval(secs => (def->>'TimeoutSeconds')::double precision),
           redrive_count = e.redrive_count + 1, redriven_at = ts
     WHERE c.execution_id = e.execution_id;
    PERFORM courier._history(e.execution_id, 'ExecutionRedriven',
                             jsonb_build_object('redriveCount', e.redrive_count + 1,
                                                'name', e.current_state, 'status', e.status,
                                                'error', e.error));
    PERFORM courier._audit('redrive_execution', 'state_machine', e.state_machine_name,
                           jsonb_build_object('execution_id', e.execution_id, 'execution', e.execution_name,
                                              'redrive_count', e.redrive_count + 1,
                                              'state', e.current_state, 'status', e.status));
    PERFORM courier._wake_executions();
    RETURN ts;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.redrive_execution(execution_id bigint)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.redrive_execution(bigint) IS
    'resume a FAILED, TIMED_OUT or ABORTED execution at the state it stopped in (within 14 days, at most 1000 times); returns the redrive time';
