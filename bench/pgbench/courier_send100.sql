-- W4 pg_courier: 100 messages per transaction, one send_batch call.
SELECT count(*) FROM courier.send_batch('bench', array_fill(:payload::jsonb, ARRAY[100]));
