-- W1 ceiling: one message per transaction (autocommit).
INSERT INTO ceiling_q (vt, message) VALUES (now(), :payload) RETURNING id;
