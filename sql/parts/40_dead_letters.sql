-- Dead letters: a view DBAs can query, and redrive.

CREATE VIEW courier.dead_letters AS
SELECT m.queue_name              AS dead_letter_queue,
       m.source_queue,
       m.msg_id,
       m.origin_msg_id,
       m.last_error              AS error,
       m.source_receive_count    AS receive_count,
       m.source_sent_at          AS sent_at,
       m.source_first_received_at AS first_received_at,
       m.source_last_received_at AS last_received_at,
       m.dead_lettered_at,
       m.group_id,
       m.type,
       m.schema_version,
       m.correlation_id,
       m.tenant_id,
       m.headers,
       m.payload
  FROM courier.messages AS m
 WHERE m.dead_lettered_at IS NOT NULL;
COMMENT ON VIEW courier.dead_letters IS
    'messages moved to a dead-letter queue, with the evidence of why: source queue, deliveries, last error';

CREATE FUNCTION courier.redrive(
    dead_letter_queue   text,
    destination         text DEFAULT NULL,
    max_messages        integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_redrive'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.redrive(text, text, integer) IS
    'move up to max_messages dead letters back to their source queue (or to destination) as new messages; returns how many moved';
