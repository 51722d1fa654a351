-- A differential check of whole state machines with Map and Parallel states
-- (and Choice and Pass around and inside them): machines and inputs
-- recorded with aws-local-stepfunctions, an independent implementation
-- (test/conformance/asl-machines-reference.json, recorded by
-- test/conformance/asl-machines-reference.mjs), run here as executions with
-- courier.run_executions and compared: the output as jsonb, or the name of
-- the error the execution failed with.  The disagreements are listed with
-- the reason; each is a place where that library departs from AWS's
-- documented behaviour, not one where we do.

\set cases `cat test/conformance/asl-machines-reference.json`
CREATE TEMP TABLE cases AS
SELECT n, c->>'name' AS name, c->'definition' AS definition, c->'input' AS input,
       CASE WHEN c ? 'output' THEN jsonb_build_object('output', c->'output')
            ELSE jsonb_build_object('error', c->'error') END AS reference
  FROM jsonb_array_elements(:'cases'::jsonb) WITH ORDINALITY AS t(c, n);

SELECT count(*) AS machines,
       count(*) FILTER (WHERE courier.create_state_machine('diff_' || n, definition) = 1) AS created
  FROM cases;
CREATE TEMP TABLE runs AS
SELECT n, courier.start_execution('diff_' || n, input, 'case-' || n) AS execution_id FROM cases;
SELECT courier.run_executions(100000) > 0 AS ran;

CREATE TEMP TABLE differential AS
SELECT c.n, c.name, c.reference,
       CASE e.status WHEN 'SUCCEEDED' THEN jsonb_build_object('output', e.output)
                     WHEN 'FAILED' THEN jsonb_build_object('error', e.error)
                     ELSE jsonb_build_object('status', e.status) END AS ours
  FROM cases AS c JOIN runs AS r USING (n) JOIN courier.executions AS e USING (execution_id);

SELECT count(*) AS cases, count(*) FILTER (WHERE reference = ours) AS agree FROM differential;

-- Every case, with whether it agrees.
SELECT n, name, reference = ours AS agrees FROM differential ORDER BY n;

-- The known disagreements, and why.
SELECT name, reference, ours,
       CASE name
           WHEN 'Map: $$.Execution.Input inside an iteration'
               THEN 'that library does not pass the context object into iterations; in AWS $$.Execution is the execution''s in every state, iterations included'
           WHEN 'Map: ToleratedFailureCount'
               THEN 'that library ignores ToleratedFailureCount; pg_courier tolerates the failure in an inline Map too (the failed item''s place holds its error output)'
       END AS why
  FROM differential WHERE reference <> ours ORDER BY n;

SELECT count(*) AS left_running FROM courier.executions WHERE status IN ('RUNNING', 'PENDING');
