-- State machine definitions (Amazon States Language, JSONPath query
-- language): strict validation in C (src/asl_validate.c).  See
-- docs/asl-validation.md.

CREATE FUNCTION courier.validate_state_machine_definition(definition jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_validate_state_machine_definition'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION courier.validate_state_machine_definition(jsonb) IS
    'check an Amazon States Language definition; raises 22023 naming the state and field of the first problem, 0A000 for the JSONata query language';

-- The text form also sees duplicate keys, which a jsonb value has already
-- collapsed to the last one.  An untyped literal picks this form.
CREATE FUNCTION courier.validate_state_machine_definition(definition text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_validate_state_machine_definition_text'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION courier.validate_state_machine_definition(text) IS
    'check an Amazon States Language definition given as JSON text, duplicate keys included; raises 22023 naming the state and field of the first problem, 0A000 for the JSONata query language';
