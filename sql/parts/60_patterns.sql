-- Event patterns (EventBridge dialect): validation and matching in C (src/pattern.c).

CREATE FUNCTION courier.test_event_pattern(event_pattern jsonb, event jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_test_event_pattern'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION courier.test_event_pattern(jsonb, jsonb) IS
'Does the event match the EventBridge event pattern?  Raises 22023 naming the offending key when the pattern is invalid.';
