-- W4 ceiling: lease up to 100 messages, acknowledge them with one DELETE.
BEGIN;
WITH leased AS (
    UPDATE ceiling_q SET vt = now() + interval '30 s', read_ct = read_ct + 1
     WHERE id IN (SELECT id FROM ceiling_q WHERE vt <= now() ORDER BY vt, id
                   LIMIT 100 FOR UPDATE SKIP LOCKED)
    RETURNING id, message)
SELECT array_agg(id) AS ids, array_agg(message) AS bodies FROM leased \gset
DELETE FROM ceiling_q WHERE id = ANY (:ids);
COMMIT;
