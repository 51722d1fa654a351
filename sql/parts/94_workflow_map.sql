-- Parallel and Map states (src/workflow_map.c): each branch or iteration
-- runs as a child execution, a row of courier.executions with its parent's
-- id (courier.executions.parent_execution_id).  See docs/workflows.md,
-- "Parallel and Map".

-- Internal: abort the running and pending descendants of an execution that
-- ended or was stopped.  Descendants another transaction is stepping right
-- now are skipped rather than waited for (waiting could deadlock with a
-- child that waits for this parent's row): the engine aborts such a child
-- the next time it takes it, because its parent no longer waits for it.
CREATE FUNCTION courier._stop_children(execution_id bigint, ts timestamptz)
RETURNS TABLE (execution_id bigint, parent_execution_id bigint, item_index integer, was text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE tree AS (
        SELECT c.execution_id FROM courier.executions AS c
         WHERE c.parent_execution_id = _stop_children.execution_id
           AND c.status IN ('RUNNING', 'PENDING')
        UNION ALL
        SELECT c.execution_id FROM courier.executions AS c JOIN tree AS t
            ON c.parent_execution_id = t.execution_id
         WHERE c.status IN ('RUNNING', 'PENDING')
    ), locked AS (
        SELECT c.execution_id, c.status FROM courier.executions AS c
         WHERE c.execution_id IN (SELECT t.execution_id FROM tree AS t)
           FOR UPDATE SKIP LOCKED
    )
    UPDATE courier.executions AS c
       SET status = 'ABORTED', stopped_at = ts, next_step_at = NULL
      FROM locked AS l
     WHERE c.execution_id = l.execution_id
    RETURNING c.execution_id, c.parent_execution_id, c.item_index, l.status
$$;

-- The history of an execution with the histories of its branches and
-- iterations (child executions, at any depth), in time order.
CREATE FUNCTION courier.get_execution_history_tree(execution_id bigint)
RETURNS TABLE (execution_id bigint, parent_execution_id bigint, branch_path text[],
               item_index integer, event_id integer, "timestamp" timestamptz, type text,
               details jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE tree AS (
        SELECT e.execution_id, e.parent_execution_id, e.branch_path, e.item_index
          FROM courier.executions AS e
         WHERE e.execution_id = courier._existing_execution($1)
        UNION ALL
        SELECT c.execution_id, c.parent_execution_id, c.branch_path, c.item_index
          FROM courier.executions AS c JOIN tree AS t ON c.parent_execution_id = t.execution_id
    )
    SELECT t.execution_id, t.parent_execution_id, t.branch_path, t.item_index, h.event_id,
           h."timestamp", h.type, h.details
      FROM tree AS t JOIN courier.execution_history AS h ON h.execution_id = t.execution_id
     ORDER BY h."timestamp", t.execution_id, h.event_id
$$;
COMMENT ON FUNCTION courier.get_execution_history_tree(bigint) IS
    'the history of an execution and of its Parallel branches and Map iterations, in time order';
