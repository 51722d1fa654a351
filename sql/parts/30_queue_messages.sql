-- Message functions: the hot paths, in C with plans prepared once per backend
-- (src/queue.c, src/queue_lease.c).

-- What receive() returns: one row per leased message.
CREATE TYPE courier.received AS (
    msg_id              bigint,
    receipt             text,
    payload             jsonb,
    headers             jsonb,
    type                text,
    schema_version      integer,
    correlation_id      text,
    causation_id        text,
    idempotency_key     text,
    tenant_id           text,
    occurred_at         timestamptz,
    receive_count       integer,
    sent_at             timestamptz,
    first_received_at   timestamptz,
    visible_at          timestamptz,
    group_id            text,
    dedup_id            text
);
COMMENT ON TYPE courier.received IS
    'a leased message: receipt names this lease; visible_at is when the lease ends';

CREATE FUNCTION courier.send(
    queue_name  text,
    payload     jsonb,
    headers     jsonb DEFAULT NULL,
    delay       interval DEFAULT NULL,
    group_id    text DEFAULT NULL,
    dedup_id    text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.send(text, jsonb, jsonb, interval, text, text) IS
    'send one message; visible to consumers after commit (and after delay); returns its id (the original id for a FIFO duplicate)';

CREATE FUNCTION courier.send_batch(
    queue_name  text,
    payloads    jsonb[],
    headers     jsonb[] DEFAULT NULL,
    delay       interval DEFAULT NULL,
    group_ids   text[] DEFAULT NULL,
    dedup_ids   text[] DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'courier_send_batch'
LANGUAGE C VOLATILE ROWS 100;
COMMENT ON FUNCTION courier.send_batch(text, jsonb[], jsonb[], interval, text[], text[]) IS
    'send several messages in one call; returns their ids in input order';

CREATE FUNCTION courier.receive(
    queue_name          text,
    max_messages        integer DEFAULT 1,
    visibility_timeout  interval DEFAULT NULL,
    wait                interval DEFAULT '0')
RETURNS SETOF courier.received
AS 'MODULE_PATHNAME', 'courier_receive'
LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION courier.receive(text, integer, interval, interval) IS
    'lease up to max_messages visible messages for visibility_timeout (queue default when null); wait long-polls until a message arrives';

CREATE FUNCTION courier.delete(queue_name text, receipt text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_delete'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.delete(text, text) IS
    'delete the message of a lease; false when the receipt no longer names a live lease';

CREATE FUNCTION courier.delete_batch(queue_name text, receipts text[])
RETURNS integer
AS 'MODULE_PATHNAME', 'courier_delete_batch'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.delete_batch(text, text[]) IS
    'delete the messages of several leases; returns how many were deleted';

CREATE FUNCTION courier.change_visibility(queue_name text, receipt text, visibility_timeout interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_change_visibility'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.change_visibility(text, text, interval) IS
    'end the lease at now + visibility_timeout (at most 12 hours after the receive)';

CREATE FUNCTION courier.release(
    queue_name  text,
    receipt     text,
    error       text DEFAULT NULL,
    delay       interval DEFAULT '0')
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_release'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.release(text, text, text, interval) IS
    'give a lease back (negative acknowledgement): visible again after delay; error is kept as evidence';

CREATE FUNCTION courier.flush_leases()
RETURNS integer
AS 'MODULE_PATHNAME', 'courier_flush_leases'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.flush_leases() IS
    'write now the leases this transaction''s receives deferred to commit (courier.defer_leases); returns how many';
