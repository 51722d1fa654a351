-- bench/grants.sh: lease at most one message and delete it, as the
-- connection's role; an empty queue is a no-op transaction.
BEGIN;
SELECT coalesce(array_agg(receipt), '{}') AS receipts FROM courier.receive(:q, 1) \gset
SELECT courier.delete_batch(:q, :receipts);
COMMIT;
