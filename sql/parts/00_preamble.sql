-- Schema courier is created by CREATE EXTENSION (pg_courier.control: schema = courier).
COMMENT ON SCHEMA courier IS 'pg_courier: transactional queues, topics, event bus and workflows';

-- Internal: object-level lock that serialises drop_queue against senders.
-- exclusive = false is what send takes; exclusive = true is what drop_queue takes.
CREATE FUNCTION courier._lock_queue(queue_name text, exclusive boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_lock_queue'
LANGUAGE C STRICT VOLATILE;

-- The clock every courier function uses: the wall clock plus courier.clock_offset
-- (a superuser-only setting that tests use to move time without sleeping).
CREATE FUNCTION courier.now()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'courier_now'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION courier.now() IS
    'the clock pg_courier uses: clock_timestamp() shifted by courier.clock_offset';
