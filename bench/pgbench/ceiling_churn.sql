-- W6/W7 ceiling churn: a producer transaction, then a consumer transaction
-- that leases the oldest message and acknowledges it.  The backlog stays at
-- its prefilled size.
INSERT INTO ceiling_q (vt, message) VALUES (now(), :payload);
BEGIN;
UPDATE ceiling_q SET vt = now() + interval '30 s', read_ct = read_ct + 1
 WHERE id = (SELECT id FROM ceiling_q WHERE vt <= now() ORDER BY vt, id
              LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id \gset
DELETE FROM ceiling_q WHERE id = :id;
COMMIT;
