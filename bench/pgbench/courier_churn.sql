-- W6/W7 pg_courier churn: a producer transaction, then a consumer transaction
-- that leases the oldest message and acknowledges it.  The backlog stays at
-- its prefilled size.
SELECT courier.send('bench', :payload);
BEGIN;
SELECT msg_id, receipt FROM courier.receive('bench', 1) \gset
SELECT courier.delete('bench', :receipt);
COMMIT;
