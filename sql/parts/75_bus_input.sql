-- placeholder until the input shaping module lands
CREATE FUNCTION courier._check_target_input(input jsonb, input_path text, input_transformer jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_check_target_input'
LANGUAGE C VOLATILE;
