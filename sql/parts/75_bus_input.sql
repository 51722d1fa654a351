-- Target input shaping (EventBridge Input, InputPath, InputTransformer):
-- what an event bus delivers to a rule's target.  Compiled once per target
-- and applied per event in C (src/bus_input.c).  See docs/input-shaping.md.

CREATE FUNCTION courier.test_target_input(
    event             jsonb,
    input             jsonb DEFAULT NULL,
    input_path        text DEFAULT NULL,
    input_transformer jsonb DEFAULT NULL,
    rule_name         text DEFAULT 'test-rule',
    bus_name          text DEFAULT 'default')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'courier_test_target_input'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.test_target_input(jsonb, jsonb, text, jsonb, text, text) IS
    'what a rule''s target with these input settings (at most one of input, input_path, input_transformer) would receive for the event; raises 22023 when the settings are invalid';

-- Internal: validate a target's input settings (at most one given); raises
-- 22023 with the reason.  For put_target.
CREATE FUNCTION courier._check_target_input(input jsonb, input_path text, input_transformer jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_check_target_input'
LANGUAGE C VOLATILE;
