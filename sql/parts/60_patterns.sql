-- Event patterns (EventBridge dialect): validation and matching in C (src/pattern.c).

CREATE FUNCTION courier.test_event_pattern(event_pattern jsonb, event jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_test_event_pattern'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION courier.test_event_pattern(jsonb, jsonb) IS
'Does the event match the EventBridge event pattern?  Raises 22023 naming the offending key when the pattern is invalid.';

-- SNS filter policies: the same engine under SNS's rules (src/pattern.c).

CREATE FUNCTION courier.test_filter_policy(filter_policy jsonb, headers jsonb, payload jsonb,
                                           filter_scope text DEFAULT 'headers')
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_test_filter_policy'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION courier.test_filter_policy(jsonb, jsonb, jsonb, text) IS
'Would a subscription with this SNS filter policy and scope (headers or payload) receive the message?  NULL or {} passes everything; raises 22023 with the reason when the policy is invalid.';

-- Rule sets: many event patterns matched at once through an index of the
-- exact values they require (src/ruleset.c).

CREATE FUNCTION courier.match_event_patterns(event_patterns jsonb[], event jsonb,
                                             indexed boolean DEFAULT true)
RETURNS integer[]
AS 'MODULE_PATHNAME', 'courier_match_event_patterns'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION courier.match_event_patterns(jsonb[], jsonb, boolean) IS
'The positions (1-based, ascending) of the event patterns the event matches.  The patterns are compiled and indexed once per call site; indexed => false matches them one by one (same answer).';
