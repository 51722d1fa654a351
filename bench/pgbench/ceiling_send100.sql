-- W4 ceiling: 100 messages per transaction, one INSERT ... SELECT.
INSERT INTO ceiling_q (vt, message) SELECT now(), :payload::jsonb FROM generate_series(1, 100);
