-- Nothing is callable by PUBLIC until a DBA grants it (see docs/security.md).
REVOKE ALL ON SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA courier FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA courier FROM PUBLIC;

-- Row-level security calls the first two as the role reading the tables,
-- and the functions that audit, put a target or claim an idempotency key
-- the others, whoever their caller: every role may (they tell a role only about itself; see
-- src/grants.c).
GRANT EXECUTE ON FUNCTION courier._tenant_unbound(), courier._bound_tenants(),
                          courier._acting_role(), courier._may(text, text, text),
                          courier._tenant_for(text) TO PUBLIC;
