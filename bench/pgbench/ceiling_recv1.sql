-- W2 ceiling: lease one message and acknowledge it in the same transaction.
BEGIN;
UPDATE ceiling_q SET vt = now() + interval '30 s', read_ct = read_ct + 1
 WHERE id = (SELECT id FROM ceiling_q WHERE vt <= now() ORDER BY vt, id
              LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, message AS body \gset
DELETE FROM ceiling_q WHERE id = :id;
COMMIT;
