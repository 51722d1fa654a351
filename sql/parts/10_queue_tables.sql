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
    fifo                boolean NOT NULL DEFAULT false,
    content_based_dedup boolean NOT NULL DEFAULT false,
    dedup_window        interval NOT NULL DEFAULT '5 minutes',
    dead_letter_queue   text COLLATE "C",
    max_receive_count   integer,
    require_schema      boolean NOT NULL DEFAULT false,
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
        CHECK (max_message_bytes BETWEEN 1024 AND 1048576),
    CONSTRAINT queues_content_based_dedup_check
        CHECK (fifo OR NOT content_based_dedup),
    CONSTRAINT queues_dedup_window_check
        CHECK (dedup_window OPERATOR(pg_catalog.>=) '1 second'::interval
               AND dedup_window OPERATOR(pg_catalog.<=) '1 day'::interval),
    CONSTRAINT queues_redrive_check
        CHECK ((dead_letter_queue IS NULL) = (max_receive_count IS NULL)
               AND max_receive_count BETWEEN 1 AND 1000
               AND dead_letter_queue OPERATOR(pg_catalog.<>) queue_name)
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
--   group_id         FIFO message group (null on standard queues)
--   dedup_id         FIFO deduplication id the message was sent with
--   origin_msg_id    set by redrive: the dead-lettered message this one replays
--   returned_at      when the consumer gave the current lease back (release, or
--                    change_visibility to 0): such a lease no longer holds its
--                    FIFO group
--   source_*, dead_lettered_at
--                    evidence kept when a message moves to a dead-letter queue:
--                    the queue it died in, when it was sent there, and how often
--                    and when it was received there
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
    group_id            text COLLATE "C",
    dedup_id            text,
    source_queue        text COLLATE "C",
    origin_msg_id       bigint,
    source_sent_at      timestamptz,
    source_receive_count integer,
    source_first_received_at timestamptz,
    source_last_received_at timestamptz,
    dead_lettered_at    timestamptz,
    returned_at         timestamptz,
    CONSTRAINT messages_pkey PRIMARY KEY (queue_name, msg_id)
);
COMMENT ON TABLE courier.messages IS
    'pg_courier messages of every queue; read it freely, change it only through the courier functions';

-- receive() walks this index from the oldest visible_at up to now: in-flight and
-- delayed messages sort after now and are never visited.
CREATE INDEX messages_visible_idx ON courier.messages (queue_name, visible_at, msg_id);

-- FIFO queues: walks a group's messages in order.
CREATE INDEX messages_group_idx ON courier.messages (queue_name, group_id, msg_id)
    WHERE group_id IS NOT NULL;

-- FIFO message groups.  A group row is the lock that orders everything done to
-- the group's messages (senders, receivers, deleters all take it first), and
-- it says when the group may deliver next:
--   visible_at   end of the current lease of the group's in-flight messages,
--                or when its next message becomes visible; 'infinity' when the
--                group is empty (tick() removes such rows)
--   inflight     messages leased by the group's last receive and not yet
--                deleted or released
CREATE TABLE courier.message_groups (
    visible_at          timestamptz NOT NULL,
    inflight            integer NOT NULL DEFAULT 0,
    queue_name          text COLLATE "C" NOT NULL,
    group_id            text COLLATE "C" NOT NULL,
    CONSTRAINT message_groups_pkey PRIMARY KEY (queue_name, group_id)
);
COMMENT ON TABLE courier.message_groups IS 'pg_courier FIFO message groups and when each may deliver next';
-- receive() on a FIFO queue takes the ready group that has waited longest.
CREATE INDEX message_groups_ready_idx ON courier.message_groups (queue_name, visible_at, group_id);

-- FIFO deduplication history: a dedup id seen on a queue within its
-- dedup_window maps to the message first sent with it.
CREATE TABLE courier.dedup (
    msg_id              bigint,
    expires_at          timestamptz NOT NULL,
    queue_name          text COLLATE "C" NOT NULL,
    dedup_id            text COLLATE "C" NOT NULL,
    CONSTRAINT dedup_pkey PRIMARY KEY (queue_name, dedup_id)
);
COMMENT ON TABLE courier.dedup IS 'pg_courier FIFO deduplication ids and the message each first produced';
CREATE INDEX dedup_expiry_idx ON courier.dedup (queue_name, expires_at);

-- Who purged, dropped or redrove what, and when.
CREATE SEQUENCE courier.audit_id_seq AS bigint;
CREATE TABLE courier.audit_log (
    audit_id            bigint NOT NULL DEFAULT pg_catalog.nextval('courier.audit_id_seq'::pg_catalog.regclass),
    at                  timestamptz NOT NULL,
    session_role        name NOT NULL DEFAULT pg_catalog.session_user(),
    current_role_name   name NOT NULL DEFAULT pg_catalog.current_user(),
    action              text NOT NULL,
    object_kind         text NOT NULL,
    object_name         text NOT NULL,
    details             jsonb,
    CONSTRAINT audit_log_pkey PRIMARY KEY (audit_id)
);
COMMENT ON TABLE courier.audit_log IS 'pg_courier audit trail: purges, drops and redrives';

-- Definitions, messages, groups, dedup history and the audit trail are user
-- data: pg_dump must keep them.
SELECT pg_catalog.pg_extension_config_dump('courier.queues', '');
SELECT pg_catalog.pg_extension_config_dump('courier.messages', '');
SELECT pg_catalog.pg_extension_config_dump('courier.message_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('courier.message_groups', '');
SELECT pg_catalog.pg_extension_config_dump('courier.dedup', '');
SELECT pg_catalog.pg_extension_config_dump('courier.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('courier.audit_id_seq', '');
