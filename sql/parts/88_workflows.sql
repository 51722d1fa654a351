-- Workflows (Step Functions): state machines in the Amazon States Language,
-- executions advanced by tick() (src/workflow.c), and their history.
-- Administration is PL/pgSQL.  See docs/workflows.md.

-- State machines: a name and the version new executions start on.
CREATE TABLE courier.state_machines (
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    current_version     integer NOT NULL,
    state_machine_name  text COLLATE "C" NOT NULL,
    CONSTRAINT state_machines_pkey PRIMARY KEY (state_machine_name),
    CONSTRAINT state_machines_name_check
        CHECK (state_machine_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_-]+$'
               AND pg_catalog.length(state_machine_name) OPERATOR(pg_catalog.<=) 80)
);
COMMENT ON TABLE courier.state_machines IS 'pg_courier state machines (one row per machine; definitions in state_machine_versions)';

-- Every definition a machine has had: an execution runs to its end on the
-- version it started with.
CREATE TABLE courier.state_machine_versions (
    state_machine_name  text COLLATE "C" NOT NULL,
    version             integer NOT NULL,
    created_at          timestamptz NOT NULL,
    definition          jsonb NOT NULL,
    CONSTRAINT state_machine_versions_pkey PRIMARY KEY (state_machine_name, version),
    CONSTRAINT state_machine_versions_machine_fkey FOREIGN KEY (state_machine_name)
        REFERENCES courier.state_machines (state_machine_name) ON DELETE CASCADE
);
COMMENT ON TABLE courier.state_machine_versions IS 'pg_courier state machine definitions, one row per version';

CREATE SEQUENCE courier.execution_id_seq AS bigint;

-- Executions.  A running execution is at one state (current_state, with the
-- input it entered with); next_step_at says when tick() advances it: now or
-- in the past when it can run, the end of a Wait or of a retry's backoff,
-- NULL once it ended.  state_phase: 0 the state is to be entered, 1 a Wait
-- is under way, 2 a retry's backoff is, 3 a Task waits for its task token,
-- 4 a Parallel or Map state waits for its children; retry_counts: per
-- retrier of the current state, the retries made.  status as Step Functions:
-- RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED; and PENDING for a Map
-- iteration waiting for a MaxConcurrency slot.  last_event_id: the highest
-- event id of its history (new events follow it without a max() query);
-- redriven_at: when redrive_execution last resumed it.
CREATE TABLE courier.executions (
    execution_id        bigint NOT NULL,
    state_machine_name  text COLLATE "C" NOT NULL,
    execution_name      text COLLATE "C" NOT NULL,
    version             integer NOT NULL,
    status              text NOT NULL,
    started_at          timestamptz NOT NULL,
    stopped_at          timestamptz,
    timeout_at          timestamptz,
    next_step_at        timestamptz,
    current_state       text,
    state_entered_at    timestamptz,
    state_phase         smallint NOT NULL DEFAULT 0,
    retry_counts        integer[],
    redrive_count       integer NOT NULL DEFAULT 0,
    redriven_at         timestamptz,
    last_event_id       integer NOT NULL DEFAULT 0,
    started_by          name NOT NULL,
    error               text,
    cause               text,
    input               jsonb NOT NULL,
    state_input         jsonb,
    output              jsonb,
    -- A branch of a Parallel state or an iteration of a Map state runs as a
    -- child execution (src/workflow_map.c): its parent, the path of its
    -- sub-machine ({state, branch, state, branch, ...} from the top), and its
    -- branch or item index.  children_from: on a parent in a Parallel or Map
    -- state, the lowest execution_id of that attempt's children.
    parent_execution_id bigint,
    branch_path         text[],
    item_index          integer,
    children_from       bigint,
    correlation_id      text,
    causation_id        text,
    CONSTRAINT executions_pkey PRIMARY KEY (state_machine_name, execution_name),
    CONSTRAINT executions_id_key UNIQUE (execution_id),
    CONSTRAINT executions_version_fkey FOREIGN KEY (state_machine_name, version)
        REFERENCES courier.state_machine_versions (state_machine_name, version) ON DELETE CASCADE,
    CONSTRAINT executions_name_check
        CHECK (parent_execution_id IS NOT NULL
               OR (execution_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_.-]+$'
                   AND pg_catalog.length(execution_name) OPERATOR(pg_catalog.<=) 80)),
    CONSTRAINT executions_status_check
        CHECK (status OPERATOR(pg_catalog.=) ANY
               (ARRAY['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING']))
);
COMMENT ON TABLE courier.executions IS 'pg_courier workflow executions: status, current state, input and output';
CREATE INDEX executions_due_idx ON courier.executions (next_step_at) WHERE status = 'RUNNING';
CREATE INDEX executions_parent_idx ON courier.executions (parent_execution_id, item_index)
    WHERE parent_execution_id IS NOT NULL;
-- courier.trace() finds a flow's executions by their correlation id.
CREATE INDEX executions_correlation_idx ON courier.executions (correlation_id)
    WHERE correlation_id IS NOT NULL;

-- What happened to each execution, in order, with Step Functions' event
-- type names (ExecutionStarted, PassStateEntered, TaskScheduled, ...).
-- Stored as one row per batch of events the engine wrote at once (one step
-- run of an execution writes one row, however many states it went
-- through): events first_event_id to last_event_id, their times, types and
-- details in three arrays of that length.  A row per event made the
-- history most of what a Task state cost (a heap tuple and an index entry
-- per event, five events per Task); courier.execution_history shows one
-- row per event.
CREATE TABLE courier.execution_events (
    execution_id        bigint NOT NULL,
    first_event_id      integer NOT NULL,
    last_event_id       integer NOT NULL,
    timestamps          timestamptz[] NOT NULL,
    types               text[] NOT NULL,
    details             jsonb[] NOT NULL,
    CONSTRAINT execution_events_pkey PRIMARY KEY (execution_id, first_event_id),
    CONSTRAINT execution_events_range_check
        CHECK (first_event_id OPERATOR(pg_catalog.>=) 1
               AND last_event_id OPERATOR(pg_catalog.>=) first_event_id
               AND pg_catalog.cardinality(types) OPERATOR(pg_catalog.=)
                   (last_event_id OPERATOR(pg_catalog.-) first_event_id OPERATOR(pg_catalog.+) 1))
);
COMMENT ON TABLE courier.execution_events IS
    'pg_courier execution history, one row per batch of events (read courier.execution_history)';

-- A save's row is usually over the 2 kB TOAST threshold (a Task state
-- records 5 events), so its arrays are compressed on the way in: with pglz
-- that was a tenth of what a Task state cost, lz4 takes a fraction of it.
-- A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE courier.execution_events
        ALTER COLUMN timestamps SET COMPRESSION lz4,
        ALTER COLUMN types SET COMPRESSION lz4,
        ALTER COLUMN details SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;

-- One row per event: the view a DBA reads, and what get_execution_history
-- returns.  A condition on execution_id reaches execution_events' index.
CREATE VIEW courier.execution_history AS
SELECT b.execution_id,
       (b.first_event_id OPERATOR(pg_catalog.+) e.n OPERATOR(pg_catalog.-) 1)::integer AS event_id,
       (b.first_event_id OPERATOR(pg_catalog.+) e.n OPERATOR(pg_catalog.-) 2)::integer AS previous_event_id,
       e."timestamp", e.type, e.details
  FROM courier.execution_events AS b
 CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(b.timestamps), pg_catalog.unnest(b.types),
                               pg_catalog.unnest(b.details))
       WITH ORDINALITY AS e ("timestamp", type, details, n);
COMMENT ON VIEW courier.execution_history IS
    'pg_courier execution history events (Step Functions event types), one row per event';

-- A bus target may start executions (sql/parts/80_buses.sql): the machine
-- it names cannot be deleted while it does.
ALTER TABLE courier.targets
    ADD CONSTRAINT targets_state_machine_fkey FOREIGN KEY (state_machine_name)
        REFERENCES courier.state_machines (state_machine_name);
CREATE INDEX targets_state_machine_idx ON courier.targets (state_machine_name)
    WHERE state_machine_name IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('courier.state_machines', '');
SELECT pg_catalog.pg_extension_config_dump('courier.state_machine_versions', '');
SELECT pg_catalog.pg_extension_config_dump('courier.executions', '');
SELECT pg_catalog.pg_extension_config_dump('courier.execution_events', '');
SELECT pg_catalog.pg_extension_config_dump('courier.execution_id_seq', '');

CREATE FUNCTION courier._check_state_machine_name(state_machine_name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('state_machine_name', state_machine_name IS NULL);
    IF state_machine_name !~ '^[A-Za-z0-9_-]+$' OR length(state_machine_name) > 80 THEN
        RAISE EXCEPTION 'invalid state machine name "%"', state_machine_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A state machine name has 1 to 80 characters: letters, digits, "_" and "-".';
    END IF;
END
$$;

CREATE FUNCTION courier._create_state_machine(state_machine_name text, definition jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._check_state_machine_name(state_machine_name);
    PERFORM courier._require('definition', definition IS NULL);
    PERFORM courier.validate_state_machine_definition(definition);
    INSERT INTO courier.state_machines AS m (created_at, updated_at, current_version, state_machine_name)
    VALUES (ts, ts, 1, _create_state_machine.state_machine_name)
        ON CONFLICT ON CONSTRAINT state_machines_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'state machine "%" already exists', state_machine_name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Change its definition with courier.update_state_machine().';
    END IF;
    INSERT INTO courier.state_machine_versions (state_machine_name, version, created_at, definition)
    VALUES (state_machine_name, 1, ts, definition);
    PERFORM courier._audit('create_state_machine', 'state_machine', state_machine_name,
                           jsonb_build_object('version', 1));
    RETURN 1;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.create_state_machine(state_machine_name text, definition jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.create_state_machine(text, jsonb) IS
    'create a state machine from an Amazon States Language definition (validated); returns its version, 1';

CREATE FUNCTION courier._update_state_machine(state_machine_name text, definition jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v integer;
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._check_state_machine_name(state_machine_name);
    PERFORM courier._require('definition', definition IS NULL);
    PERFORM courier.validate_state_machine_definition(definition);
    UPDATE courier.state_machines AS m
       SET current_version = m.current_version + 1, updated_at = ts
     WHERE m.state_machine_name = _update_state_machine.state_machine_name
    RETURNING m.current_version INTO v;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'state machine "%" does not exist', state_machine_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_state_machines() shows the state machines there are.';
    END IF;
    INSERT INTO courier.state_machine_versions (state_machine_name, version, created_at, definition)
    VALUES (state_machine_name, v, ts, definition);
    PERFORM courier._audit('update_state_machine', 'state_machine', state_machine_name,
                           jsonb_build_object('version', v));
    RETURN v;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.update_state_machine(state_machine_name text, definition jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.update_state_machine(text, jsonb) IS
    'give a state machine a new definition (a new version); running executions finish on theirs';

CREATE FUNCTION courier._delete_state_machine(state_machine_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    running bigint;
    total bigint;
BEGIN
    PERFORM courier._check_state_machine_name(state_machine_name);
    PERFORM 1 FROM courier.state_machines AS m
     WHERE m.state_machine_name = _delete_state_machine.state_machine_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'state machine "%" does not exist', state_machine_name
            USING ERRCODE = 'undefined_object';
    END IF;
    SELECT count(*) FILTER (WHERE e.status = 'RUNNING' AND e.parent_execution_id IS NULL),
           count(*) FILTER (WHERE e.parent_execution_id IS NULL) INTO running, total
      FROM courier.executions AS e
     WHERE e.state_machine_name = _delete_state_machine.state_machine_name;
    IF running > 0 THEN
        RAISE EXCEPTION 'state machine "%" has % running executions', state_machine_name, running
            USING ERRCODE = 'object_in_use',
                  HINT = 'Let them finish, or stop them with courier.stop_execution().';
    END IF;
    DELETE FROM courier.execution_events AS h
     WHERE h.execution_id IN (SELECT e.execution_id FROM courier.executions AS e
                               WHERE e.state_machine_name = _delete_state_machine.state_machine_name);
    DELETE FROM courier.state_machines AS m
     WHERE m.state_machine_name = _delete_state_machine.state_machine_name;
    PERFORM courier._forget_stats('state_machine', state_machine_name);
    PERFORM courier._audit('delete_state_machine', 'state_machine', state_machine_name,
                           jsonb_build_object('executions', total));
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.delete_state_machine(state_machine_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.delete_state_machine(text) IS
    'delete a state machine with its versions and finished executions (refused while one runs)';

CREATE FUNCTION courier.list_state_machines()
RETURNS TABLE (state_machine_name text, current_version integer, created_at timestamptz,
               updated_at timestamptz, running bigint, executions bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.state_machine_name COLLATE "default", m.current_version, m.created_at, m.updated_at,
           (SELECT count(*) FROM courier.executions AS e
             WHERE e.state_machine_name = m.state_machine_name AND e.status = 'RUNNING'
               AND e.parent_execution_id IS NULL),
           (SELECT count(*) FROM courier.executions AS e
             WHERE e.state_machine_name = m.state_machine_name AND e.parent_execution_id IS NULL)
      FROM courier.state_machines AS m
     ORDER BY m.state_machine_name
$$;
COMMENT ON FUNCTION courier.list_state_machines() IS
    'the state machines, with their current version and how many executions run';

-- Internal: add an event to an execution's history.
CREATE FUNCTION courier._history(execution_id bigint, type text, details jsonb)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH e AS (
        UPDATE courier.executions AS e SET last_event_id = e.last_event_id + 1
         WHERE e.execution_id = _history.execution_id
        RETURNING e.last_event_id)
    INSERT INTO courier.execution_events
           (execution_id, first_event_id, last_event_id, timestamps, types, details)
    SELECT _history.execution_id, e.last_event_id, e.last_event_id,
           ARRAY[courier.now()], ARRAY[_history.type], ARRAY[_history.details]
      FROM e
$$;

CREATE FUNCTION courier._start_execution(
    state_machine_name  text,
    input               jsonb DEFAULT '{}',
    execution_name      text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m courier.state_machines;
    def jsonb;
    e courier.executions;
    id bigint;
    name text := execution_name;
    ts timestamptz := courier.now();
    ctx record;
BEGIN
    PERFORM courier._check_state_machine_name(state_machine_name);
    PERFORM courier._require('input', input IS NULL);
    IF name IS NOT NULL AND (name !~ '^[A-Za-z0-9_.-]+$' OR length(name) > 80) THEN
        RAISE EXCEPTION 'invalid execution name "%"', name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'An execution name has 1 to 80 characters: letters, digits, ".", "_" and "-".';
    END IF;
    IF length(input::text) > 262144 THEN
        RAISE EXCEPTION 'execution input is too large'
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = format('The input has %s characters; at most 262144.', length(input::text));
    END IF;
    SELECT * INTO m FROM courier.state_machines AS c
     WHERE c.state_machine_name = _start_execution.state_machine_name FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'state machine "%" does not exist', state_machine_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with courier.create_state_machine().';
    END IF;
    IF name IS NOT NULL THEN
        -- As StartExecution: the same name and input while it runs returns
        -- the running execution; anything else with that name is an error.
        SELECT * INTO e FROM courier.executions AS c
         WHERE c.state_machine_name = _start_execution.state_machine_name AND c.execution_name = name;
        IF FOUND THEN
            IF e.status = 'RUNNING' AND e.input = _start_execution.input THEN
                RETURN e.execution_id;
            END IF;
            RAISE EXCEPTION 'execution "%" of state machine "%" already exists', name, state_machine_name
                USING ERRCODE = 'duplicate_object',
                      DETAIL = format('It is %s%s.', e.status,
                                      CASE WHEN e.input <> _start_execution.input
                                           THEN ', with another input' ELSE '' END),
                      HINT = 'Execution names are unique per state machine; choose another.';
        END IF;
    END IF;
    SELECT v.definition INTO def FROM courier.state_machine_versions AS v
     WHERE v.state_machine_name = m.state_machine_name AND v.version = m.current_version;
    id := nextval('courier.execution_id_seq');
    name := coalesce(name, gen_random_uuid()::text);
    -- the transaction's correlation context (docs/correlation.md)
    SELECT * INTO ctx FROM courier.current_context();
    INSERT INTO courier.executions
           (execution_id, state_machine_name, execution_name, version, status, started_at,
            timeout_at, next_step_at, current_state, state_entered_at, started_by, input, state_input,
            correlation_id, causation_id, last_event_id)
    VALUES (id, m.state_machine_name, name, m.current_version, 'RUNNING', ts,
            ts + make_interval(secs => (def->>'TimeoutSeconds')::double precision),
            ts, def->>'StartAt', ts, courier._acting_role(), input, input,
            ctx.correlation_id, ctx.causation_id, 1)
        ON CONFLICT ON CONSTRAINT executions_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution "%" of state machine "%" already exists', name, state_machine_name
            USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM courier._count_stats('state_machine', m.state_machine_name, 'started', 1);
    -- its first event, 1 (last_event_id above), written directly
    INSERT INTO courier.execution_events
           (execution_id, first_event_id, last_event_id, timestamps, types, details)
    VALUES (id, 1, 1, ARRAY[ts], ARRAY['ExecutionStarted'],
            ARRAY[jsonb_build_object('input', input, 'version', m.current_version,
                                     'name', name, 'startedBy', courier._acting_role())]);
    PERFORM courier._wake_executions();
    RETURN id;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.start_execution(
    state_machine_name  text,
    input               jsonb DEFAULT '{}',
    execution_name      text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.start_execution(text, jsonb, text) IS
    'start an execution in the caller''s transaction (idempotent by name while it runs with the same input); returns its id';

-- Internal: the id of an existing execution, or 22004 / 42704.
CREATE FUNCTION courier._existing_execution(execution_id bigint)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('execution_id', _existing_execution.execution_id IS NULL);
    IF NOT EXISTS (SELECT 1 FROM courier.executions AS e
                    WHERE e.execution_id = _existing_execution.execution_id) THEN
        RAISE EXCEPTION 'execution % does not exist', _existing_execution.execution_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_executions() shows the executions there are.';
    END IF;
    RETURN _existing_execution.execution_id;
END
$$;

CREATE FUNCTION courier.describe_execution(execution_id bigint)
RETURNS TABLE (execution_id bigint, state_machine_name text, execution_name text,
               version integer, status text, current_state text, started_at timestamptz,
               stopped_at timestamptz, input jsonb, output jsonb, error text, cause text,
               redrive_count integer, next_step_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.execution_id, e.state_machine_name COLLATE "default", e.execution_name COLLATE "default",
           e.version, e.status, e.current_state, e.started_at, e.stopped_at, e.input, e.output,
           e.error, e.cause, e.redrive_count, e.next_step_at
      FROM courier.executions AS e
     WHERE e.execution_id = courier._existing_execution($1)
$$;
COMMENT ON FUNCTION courier.describe_execution(bigint) IS 'an execution: status, current state, input, output, error';

CREATE FUNCTION courier.get_execution_history(execution_id bigint)
RETURNS TABLE (event_id integer, previous_event_id integer, "timestamp" timestamptz, type text, details jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.event_id, h.previous_event_id, h."timestamp", h.type, h.details
      FROM courier.execution_history AS h
     WHERE h.execution_id = courier._existing_execution($1)
     ORDER BY h.event_id
$$;
COMMENT ON FUNCTION courier.get_execution_history(bigint) IS
    'the history of an execution, in order, with Step Functions event types';

CREATE FUNCTION courier.list_executions(state_machine_name text DEFAULT NULL, status text DEFAULT NULL)
RETURNS TABLE (execution_id bigint, state_machine_name text, execution_name text, status text,
               current_state text, started_at timestamptz, stopped_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.execution_id, e.state_machine_name COLLATE "default", e.execution_name COLLATE "default",
           e.status, e.current_state, e.started_at, e.stopped_at
      FROM courier.executions AS e
     WHERE (list_executions.state_machine_name IS NULL OR e.state_machine_name = list_executions.state_machine_name)
       AND (list_executions.status IS NULL OR e.status = list_executions.status)
       AND e.parent_execution_id IS NULL
     ORDER BY e.started_at DESC, e.execution_id DESC
$$;
COMMENT ON FUNCTION courier.list_executions(text, text) IS 'executions, newest first, of one machine or all, of one status or all';

CREATE FUNCTION courier._stop_execution(execution_id bigint, error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e courier.executions;
    ts timestamptz := courier.now();
    state_type text;
    iterations jsonb[];
    iteration jsonb;
BEGIN
    PERFORM courier._require('execution_id', _stop_execution.execution_id IS NULL);
    SELECT * INTO e FROM courier.executions AS c
     WHERE c.execution_id = _stop_execution.execution_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', _stop_execution.execution_id
            USING ERRCODE = 'undefined_object';
    END IF;
    IF e.parent_execution_id IS NOT NULL THEN
        RAISE EXCEPTION 'execution % is a branch of execution %', _stop_execution.execution_id,
                        e.parent_execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'It runs a branch or an iteration of a Parallel or Map state.',
                  HINT = 'Stop the execution it belongs to; its branches stop with it.';
    END IF;
    IF e.status <> 'RUNNING' THEN
        RAISE EXCEPTION 'execution % is not running', _stop_execution.execution_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is %s since %s.', e.status, e.stopped_at);
    END IF;
    -- The state it is in, if it has entered it (state_phase 0: it is still
    -- to be entered): a Task, Wait, Parallel or Map state in the middle of
    -- its work is aborted with it, as Step Functions records.
    IF e.state_phase <> 0 THEN
        SELECT v.definition->'States'->e.current_state->>'Type' INTO state_type
          FROM courier.state_machine_versions AS v
         WHERE v.state_machine_name = e.state_machine_name AND v.version = e.version;
    END IF;
    UPDATE courier.executions AS c
       SET status = 'ABORTED', stopped_at = ts, next_step_at = NULL,
           error = _stop_execution.error, cause = _stop_execution.cause
     WHERE c.execution_id = _stop_execution.execution_id;
    -- every running or pending descendant is stopped; a Map's own running
    -- iterations each get MapIterationAborted, as when the Map fails
    SELECT array_agg(jsonb_build_object('name', e.current_state, 'index', s.item_index,
                                        'executionId', s.execution_id)
                     ORDER BY s.item_index)
               FILTER (WHERE state_type = 'Map' AND s.parent_execution_id = e.execution_id
                         AND s.was = 'RUNNING')
      INTO iterations
      FROM courier._stop_children(e.execution_id, ts) AS s;
    FOREACH iteration IN ARRAY coalesce(iterations, '{}') LOOP
        PERFORM courier._history(e.execution_id, 'MapIterationAborted', iteration);
    END LOOP;
    IF state_type IN ('Task', 'Wait', 'Parallel', 'Map') THEN
        PERFORM courier._history(e.execution_id, state_type || 'StateAborted',
                                 jsonb_build_object('name', e.current_state));
    END IF;
    PERFORM courier._count_stats('state_machine', e.state_machine_name, 'aborted', 1);
    PERFORM courier._history(e.execution_id, 'ExecutionAborted',
                             jsonb_strip_nulls(jsonb_build_object('error', error, 'cause', cause)));
    PERFORM courier._audit('stop_execution', 'state_machine', e.state_machine_name,
                           jsonb_build_object('execution_id', e.execution_id, 'execution', e.execution_name));
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.stop_execution(execution_id bigint, error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.stop_execution(bigint, text, text) IS 'abort a running execution';

-- Internal: advance due executions by at most max_steps state transitions
-- (src/workflow.c); tick() calls it.
CREATE FUNCTION courier._run_executions(ts timestamptz, max_steps integer)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_run_executions'
LANGUAGE C VOLATILE;

CREATE FUNCTION courier.run_executions(max_steps integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('max_steps', max_steps IS NULL);
    IF max_steps < 1 OR max_steps > 1000000 THEN
        RAISE EXCEPTION 'max_steps must be between 1 and 1000000'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', max_steps);
    END IF;
    RETURN (courier._run_executions(courier.now(), max_steps)->>'workflow_transitions')::integer;
END
$$;
COMMENT ON FUNCTION courier.run_executions(integer) IS
    'advance due executions now by at most max_steps state transitions, as tick() does; returns how many were made';

-- Internal: have the worker advance executions once this transaction commits.
CREATE FUNCTION courier._wake_executions()
RETURNS void
AS 'MODULE_PATHNAME', 'courier_wake_executions'
LANGUAGE C VOLATILE;

-- Raised by a function task to fail with a named ASL error (for Retry and
-- Catch), e.g. courier.task_error('Payment.Declined', 'card expired').
CREATE FUNCTION courier.task_error(error_name text, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_task_error'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.task_error(text, text) IS
    'fail the calling workflow task with a named error (matched by Retry and Catch ErrorEquals)';

-- Internal: the workflow part of tick(): advance due executions, as of
-- now rather than of the tick's start, so that executions the tick's bus
-- deliveries started run in the same tick.
CREATE FUNCTION courier._workflow_tick(ts timestamptz)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT courier._run_executions(greatest(ts, courier.now()), 10000) $$;

-- Internal: what the background worker does when a commit woke it: bus
-- deliveries, then executions; true when either took a full batch (the
-- worker then runs again at once).
CREATE FUNCTION courier._run_woken()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deliveries integer;
    transitions integer;
BEGIN
    deliveries := (courier._deliver_bus_events(courier.now(), 1000)->>'bus_deliveries_taken')::integer;
    transitions := (courier._run_executions(courier.now(), 1000)->>'workflow_transitions')::integer;
    RETURN deliveries >= 1000 OR transitions >= 1000;
END
$$;
