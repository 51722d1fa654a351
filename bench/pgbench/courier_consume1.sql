-- W3 pg_courier consumer: lease at most one message and acknowledge it; an
-- empty queue is a no-op transaction, not an error.
BEGIN;
SELECT coalesce(array_agg(receipt), '{}') AS receipts FROM courier.receive('bench', 1) \gset
SELECT courier.delete_batch('bench', :receipts);
COMMIT;
