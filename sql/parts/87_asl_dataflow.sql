-- The data flow of Amazon States Language states (JSONPath mode): paths,
-- input and output processing, payload templates with intrinsic functions,
-- Choice rules.  Pure C functions over jsonb (src/asl_*.c) that the
-- workflow engine calls; these SQL functions run them for tests and for
-- trying a definition out.  A state failure raises 22000 with the message
-- "<ASL error name>: <cause>".  See docs/asl-data-flow.md.

CREATE FUNCTION courier.test_asl_path(
    path    text,
    input   jsonb,
    context jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_test_asl_path'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_asl_path(text, jsonb, jsonb) IS
    'what the ASL JSONPath selects in input (or, for "$$...", in the context object); an indefinite path selects the array of its matches; raises 22023 for a path that does not parse, 22000 "States.Runtime: ..." when a definite path selects nothing';

CREATE FUNCTION courier.test_asl_state_io(
    state   jsonb,
    input   jsonb,
    result  jsonb DEFAULT NULL,
    context jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_test_asl_state_io'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_asl_state_io(jsonb, jsonb, jsonb, jsonb) IS
    'the output of a state with this state object''s InputPath, Parameters, ResultSelector, ResultPath and OutputPath for input; the result is the state''s Result, else result, else the effective input (as a Pass state); raises 22023 for invalid fields, 22000 "<ASL error>: <cause>" when the state fails';

CREATE FUNCTION courier.test_asl_choice(
    rule    jsonb,
    input   jsonb,
    context jsonb DEFAULT '{}')
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_test_asl_choice'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_asl_choice(jsonb, jsonb, jsonb) IS
    'does the ASL Choice rule (with or without Next) match input; raises 22023 for an invalid rule, 22000 "States.Runtime: ..." when its Variable selects nothing (except for IsPresent)';

CREATE FUNCTION courier.test_asl_template(
    template jsonb,
    input    jsonb,
    context  jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_test_asl_template'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_asl_template(jsonb, jsonb, jsonb) IS
    'the ASL payload template (Parameters, ResultSelector, ItemSelector: "key.$" fields with paths, context paths and intrinsic functions) applied to input; raises 22023 for an invalid template, 22000 "<ASL error>: <cause>" when applying fails';
