-- Task tokens: a Task whose Resource ends with ".waitForTaskToken" runs its
-- resource with $$.Task.Token, then waits for send_task_success,
-- send_task_failure or a timeout (src/task_token.c).  See docs/workflows.md.

-- One row per token the engine gave out.  Only the token's SHA-256 is kept:
-- the token itself travels in the task's message and nowhere else.
-- status: WAITING until a caller completes it (SUCCEEDED, FAILED) or the
-- engine times it out (TIMED_OUT); resumed_at: when the engine took it up
-- (or dropped it for a newer one), null while the execution waits on it.
-- state_phase 3 of courier.executions is "waiting for a task token".
CREATE TABLE courier.task_tokens (
    token_hash          bytea NOT NULL,
    execution_id        bigint NOT NULL,
    state_name          text NOT NULL,
    status              text NOT NULL,
    scheduled_at        timestamptz NOT NULL,
    timeout_at          timestamptz,
    heartbeat_seconds   integer,
    heartbeat_at        timestamptz NOT NULL,
    completed_at        timestamptz,
    resumed_at          timestamptz,
    output              jsonb,
    error               text,
    cause               text,
    CONSTRAINT task_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT task_tokens_execution_fkey FOREIGN KEY (execution_id)
        REFERENCES courier.executions (execution_id) ON DELETE CASCADE,
    CONSTRAINT task_tokens_status_check
        CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['WAITING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT']))
);
COMMENT ON TABLE courier.task_tokens IS
    'pg_courier task tokens of executions waiting in .waitForTaskToken tasks (SHA-256 of each token, its deadlines and outcome)';
CREATE INDEX task_tokens_open_idx ON courier.task_tokens (execution_id) WHERE resumed_at IS NULL;

SELECT pg_catalog.pg_extension_config_dump('courier.task_tokens', '');

-- Internal: the task a token names, with its execution's row and then its
-- own locked (the engine's order), if a caller may still complete it;
-- otherwise an error that names the Step Functions exception and changes
-- nothing.
CREATE FUNCTION courier._open_task(task_token text)
RETURNS courier.task_tokens
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    h bytea;
    t courier.task_tokens;
    e courier.executions;
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._require('task_token', task_token IS NULL);
    IF task_token !~ '^[A-Za-z0-9_-]{43}$' THEN
        RAISE EXCEPTION 'InvalidToken: the task token is malformed'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A task token has 43 characters from A-Z, a-z, 0-9, "-" and "_".',
                  HINT = 'Pass the token exactly as $$.Task.Token gave it to the task.';
    END IF;
    h := sha256(convert_to(task_token, 'UTF8'));
    SELECT * INTO e FROM courier.executions AS c
     WHERE c.execution_id = (SELECT k.execution_id FROM courier.task_tokens AS k WHERE k.token_hash = h)
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'TaskDoesNotExist: no task has this task token'
            USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO t FROM courier.task_tokens AS k WHERE k.token_hash = h FOR UPDATE;
    IF t.status = 'TIMED_OUT' OR (t.resumed_at IS NULL AND e.status = 'TIMED_OUT') THEN
        RAISE EXCEPTION 'TaskTimedOut: the task of this task token timed out'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Execution %s, state "%s".', t.execution_id, t.state_name);
    END IF;
    IF t.status <> 'WAITING' OR t.resumed_at IS NOT NULL OR e.status <> 'RUNNING'
       OR e.state_phase <> 3 OR e.current_state IS DISTINCT FROM t.state_name THEN
        RAISE EXCEPTION 'TaskDoesNotExist: the task of this task token is over'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Execution %s is %s; the task in state "%s" %s.',
                                  t.execution_id, e.status, t.state_name,
                                  CASE WHEN t.status = 'WAITING' THEN 'no longer waits'
                                       ELSE lower(t.status) END);
    END IF;
    IF ts >= t.timeout_at OR ts >= t.heartbeat_at + make_interval(secs => t.heartbeat_seconds) THEN
        RAISE EXCEPTION 'TaskTimedOut: the task of this task token timed out'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Execution %s, state "%s": its %s passed.', t.execution_id, t.state_name,
                                  CASE WHEN ts >= t.timeout_at THEN 'TimeoutSeconds' ELSE 'HeartbeatSeconds' END);
    END IF;
    RETURN t;
END
$fn$;

-- Internal: a completed task's execution is due now; the worker runs it
-- after commit.
CREATE FUNCTION courier._complete_task(t courier.task_tokens, status text, output jsonb,
                                       error text, cause text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    UPDATE courier.task_tokens AS k
       SET status = _complete_task.status, completed_at = ts, output = _complete_task.output,
           error = _complete_task.error, cause = _complete_task.cause
     WHERE k.token_hash = (_complete_task.t).token_hash;
    UPDATE courier.executions AS c SET next_step_at = ts
     WHERE c.execution_id = (_complete_task.t).execution_id;
    PERFORM courier._wake_executions();
END
$$;

CREATE FUNCTION courier.send_task_success(task_token text, output jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t courier.task_tokens;
BEGIN
    PERFORM courier._require('output', output IS NULL);
    IF length(output::text) > 262144 THEN
        RAISE EXCEPTION 'task output is too large'
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = format('The output has %s characters; at most 262144.', length(output::text));
    END IF;
    t := courier._open_task(task_token);
    PERFORM courier._complete_task(t, 'SUCCEEDED', output, NULL, NULL);
END
$$;
COMMENT ON FUNCTION courier.send_task_success(text, jsonb) IS
    'complete the task waiting for this task token with its output, in the caller''s transaction';

CREATE FUNCTION courier.send_task_failure(task_token text, error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t courier.task_tokens;
BEGIN
    IF length(error) > 256 OR length(cause) > 32768 THEN
        RAISE EXCEPTION 'task error or cause is too long'
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = 'An error has at most 256 characters, a cause at most 32768.';
    END IF;
    t := courier._open_task(task_token);
    PERFORM courier._complete_task(t, 'FAILED', NULL, error, cause);
END
$$;
COMMENT ON FUNCTION courier.send_task_failure(text, text, text) IS
    'fail the task waiting for this task token with a named error (States.TaskFailed when null), in the caller''s transaction';

CREATE FUNCTION courier.send_task_heartbeat(task_token text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t courier.task_tokens;
    ts timestamptz := courier.now();
BEGIN
    t := courier._open_task(task_token);
    IF t.heartbeat_seconds IS NULL THEN
        RETURN;
    END IF;
    UPDATE courier.task_tokens AS k SET heartbeat_at = ts WHERE k.token_hash = t.token_hash;
    UPDATE courier.executions AS c
       SET next_step_at = least(t.timeout_at, ts + make_interval(secs => t.heartbeat_seconds), c.timeout_at)
     WHERE c.execution_id = t.execution_id;
END
$$;
COMMENT ON FUNCTION courier.send_task_heartbeat(text) IS
    'tell the task waiting for this task token that its worker is alive: its HeartbeatSeconds start again';
