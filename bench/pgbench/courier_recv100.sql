-- W4 pg_courier: lease up to 100 messages, acknowledge them with one delete_batch.
BEGIN;
SELECT array_agg(receipt) AS receipts, array_agg(payload) AS bodies FROM courier.receive('bench', 100) \gset
SELECT courier.delete_batch('bench', :receipts);
COMMIT;
