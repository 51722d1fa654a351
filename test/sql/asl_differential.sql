-- A differential check of the ASL data flow: Pass-state cases recorded with
-- aws-local-stepfunctions, an independent implementation
-- (test/conformance/asl-dataflow-reference.json, recorded by
-- test/conformance/asl-dataflow-reference.mjs), run through
-- courier.test_asl_state_io and compared as jsonb.  The disagreements are
-- listed with the reason; each is a place where that library departs from
-- AWS's documented behaviour, not one where we do.

CREATE FUNCTION pg_temp.run(state jsonb, input jsonb, context jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('output', courier.test_asl_state_io(state, input, NULL, context));
EXCEPTION WHEN OTHERS THEN
    RETURN jsonb_build_object('error', SQLERRM);
END
$$;

\set cases `cat test/conformance/asl-dataflow-reference.json`
CREATE TEMP TABLE differential AS
SELECT n, c->>'name' AS name,
       CASE WHEN c ? 'output' THEN jsonb_build_object('output', c->'output')
            ELSE jsonb_build_object('error', c->'error') END AS reference,
       pg_temp.run(c->'state', c->'input', c->'context') AS ours
  FROM jsonb_array_elements(:'cases'::jsonb) WITH ORDINALITY AS t(c, n);

SELECT count(*) AS cases, count(*) FILTER (WHERE reference = ours) AS agree FROM differential;

-- The known disagreements, and why.
SELECT name, reference, ours,
       CASE name
           WHEN 'negative index' THEN 'that library''s JSONPath has no negative index; Jayway JsonPath, which AWS uses, has'
           WHEN 'StringSplit' THEN 'that library splits at the whole delimiter string; AWS splits at each of its characters (the AWS guide''s own example)'
       END AS why
  FROM differential WHERE reference <> ours ORDER BY n;
