-- Queue definitions. One row per queue; the name is the key every other
-- queue table is keyed by first (see docs/design.md).
CREATE TABLE courier.queues (
    queue_name          text COLLATE "C" NOT NULL,
    visibility_timeout  interval NOT NULL,
    delay               interval NOT NULL,
    retention           interval NOT NULL,
    max_message_bytes   integer NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT queues_pkey PRIMARY KEY (queue_name),
    CONSTRAINT queues_name_check
        CHECK (queue_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_-]+(\.fifo)?$'
               AND pg_catalog.length(queue_name) OPERATOR(pg_catalog.<=) 80),
    CONSTRAINT queues_visibility_timeout_check
        CHECK (visibility_timeout OPERATOR(pg_catalog.>=) '0'::interval
               AND visibility_timeout OPERATOR(pg_catalog.<=) '12 hours'::interval),
    CONSTRAINT queues_delay_check
        CHECK (delay OPERATOR(pg_catalog.>=) '0'::interval
               AND delay OPERATOR(pg_catalog.<=) '15 minutes'::interval),
    CONSTRAINT queues_retention_check
        CHECK (retention OPERATOR(pg_catalog.>=) '60 seconds'::interval
               AND retention OPERATOR(pg_catalog.<=) '14 days'::interval),
    CONSTRAINT queues_max_message_bytes_check
        CHECK (max_message_bytes BETWEEN 1024 AND 1048576)
);
COMMENT ON TABLE courier.queues IS 'pg_courier queue definitions (one row per queue)';

-- Message ids are unique across all queues; ordering inside a queue never
-- depends on them being gap-free.
CREATE SEQUENCE courier.message_id_seq AS bigint;

-- Messages of every queue. Fixed-width columns first to avoid alignment padding.
--   visible_at       when the message may next be received (send time + delay,
--                    or end of the current lease)
--   receive_count    deliveries so far; together with receipt_nonce it names the
--                    current lease, so a receipt from an older lease matches nothing
--   receipt_nonce    random per receive call; makes receipts unguessable
CREATE TABLE courier.messages (
    msg_id              bigint NOT NULL,
    visible_at          timestamptz NOT NULL,
    sent_at             timestamptz NOT NULL,
    receipt_nonce       bigint,
    first_received_at   timestamptz,
    last_received_at    timestamptz,
    occurred_at         timestamptz,
    receive_count       integer NOT NULL DEFAULT 0,
    schema_version      integer,
    queue_name          text COLLATE "C" NOT NULL,
    type                text,
    correlation_id      text,
    causation_id        text,
    idempotency_key     text,
    tenant_id           text,
    last_error          text,
    headers             jsonb,
    payload             jsonb NOT NULL,
    CONSTRAINT messages_pkey PRIMARY KEY (queue_name, msg_id)
);
COMMENT ON TABLE courier.messages IS
    'pg_courier messages of every queue; read it freely, change it only through the courier functions';

-- receive() walks this index from the oldest visible_at up to now: in-flight and
-- delayed messages sort after now and are never visited.
CREATE INDEX messages_visible_idx ON courier.messages (queue_name, visible_at, msg_id);

-- Definitions and messages are user data: pg_dump must keep them.
SELECT pg_catalog.pg_extension_config_dump('courier.queues', '');
SELECT pg_catalog.pg_extension_config_dump('courier.messages', '');
SELECT pg_catalog.pg_extension_config_dump('courier.message_id_seq', '');
