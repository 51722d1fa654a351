-- W3 ceiling consumer: lease at most one message and acknowledge it; an empty
-- queue is a no-op transaction, not an error.
BEGIN;
WITH leased AS (
    UPDATE ceiling_q SET vt = now() + interval '30 s', read_ct = read_ct + 1
     WHERE id = (SELECT id FROM ceiling_q WHERE vt <= now() ORDER BY vt, id
                  LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id, message)
SELECT coalesce(array_agg(id), '{}') AS ids FROM leased \gset
DELETE FROM ceiling_q WHERE id = ANY (:ids);
COMMIT;
