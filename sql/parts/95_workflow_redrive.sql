-- Redriving executions (RedriveExecution): a FAILED, TIMED_OUT or ABORTED
-- execution resumes at the state it stopped in, with the input it entered
-- that state with, on the version it started on.  The states it had left
-- are not run again; in a Parallel or Map state, only the branches and
-- iterations that did not succeed run again.  See docs/workflows.md
-- ("Redriving an execution").

-- Internal: the type of state `state` in the machine or sub-machine that
-- a branch path ({state, branch, state, branch, ...} from the top; a Map's
-- ItemProcessor is its branch 0) names in definition def.
CREATE FUNCTION courier._state_type(def jsonb, branch_path text[], state text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m jsonb := def;
    s jsonb;
    i integer := 1;
BEGIN
    WHILE i < coalesce(array_length(branch_path, 1), 0) LOOP
        s := m->'States'->branch_path[i];
        IF s->>'Type' = 'Parallel' THEN
            m := s->'Branches'->(branch_path[i + 1]::integer);
        ELSE
            m := coalesce(s->'ItemProcessor', s->'Iterator');
        END IF;
        i := i + 2;
    END LOOP;
    RETURN m->'States'->state->>'Type';
END
$$;

-- Internal: resume an execution at the state it stopped in.  When that is
-- a Parallel or Map state whose children of this entry are still there, the
-- state is not entered again: its failed, timed-out and aborted children
-- are resumed the same way (at any depth), and it waits for them, so the
-- branches and iterations that succeeded keep their outputs and are not
-- run again.  top: the execution being redriven, due at once; a child is
-- left PENDING, for its parent to start within MaxConcurrency.
CREATE FUNCTION courier._resume_execution(execution_id bigint, def jsonb, top boolean,
                                          ts timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e courier.executions;
    branches boolean;
    child bigint;
BEGIN
    SELECT * INTO e FROM courier.executions AS x
     WHERE x.execution_id = _resume_execution.execution_id FOR UPDATE;
    -- (children_from is the first child of the state's last entry; a child
    -- started before the state was last entered is of an earlier entry)
    branches := e.children_from IS NOT NULL
        AND courier._state_type(def, e.branch_path, e.current_state) IN ('Parallel', 'Map')
        AND EXISTS (SELECT 1 FROM courier.executions AS x
                     WHERE x.parent_execution_id = e.execution_id
                       AND x.execution_id >= e.children_from
                       AND x.started_at >= e.state_entered_at);
    IF branches THEN
        FOR child IN
            SELECT x.execution_id FROM courier.executions AS x
             WHERE x.parent_execution_id = e.execution_id
               AND x.execution_id >= e.children_from
               AND x.started_at >= e.state_entered_at
               AND x.status IN ('FAILED', 'TIMED_OUT', 'ABORTED')
             ORDER BY x.item_index
        LOOP
            PERFORM courier._resume_execution(child, def, false, ts);
        END LOOP;
    END IF;
    -- Entered again now, with the input it entered with (state_input), its
    -- retry counters reset; a state waiting for its children keeps its entry.
    -- The machine's TimeoutSeconds counts again from now.
    UPDATE courier.executions AS x
       SET status = CASE WHEN top THEN 'RUNNING' ELSE 'PENDING' END, stopped_at = NULL,
           next_step_at = CASE WHEN top THEN ts END,
           state_entered_at = CASE WHEN branches THEN e.state_entered_at ELSE ts END,
           state_phase = CASE WHEN branches THEN 4 ELSE 0 END,   -- PHASE_CHILDREN, PHASE_ENTER
           retry_counts = NULL, error = NULL, cause = NULL, output = NULL,
           timeout_at = CASE WHEN top
                             THEN ts + make_interval(secs => (def->>'TimeoutSeconds')::double precision)
                             ELSE x.timeout_at END,
           redrive_count = e.redrive_count + 1, redriven_at = ts
     WHERE x.execution_id = e.execution_id;
    PERFORM courier._history(e.execution_id, 'ExecutionRedriven',
                             jsonb_build_object('redriveCount', e.redrive_count + 1,
                                                'name', e.current_state, 'status', e.status,
                                                'error', e.error));
END
$$;

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

    PERFORM courier._resume_execution(e.execution_id, def, true, ts);
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
