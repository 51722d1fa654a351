-- W2 pg_courier: lease one message and acknowledge it in the same transaction.
BEGIN;
SELECT msg_id, receipt, payload AS body FROM courier.receive('bench', 1) \gset
SELECT courier.delete('bench', :receipt);
COMMIT;
