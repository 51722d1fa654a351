-- W1 pg_courier: one message per transaction (autocommit).
SELECT courier.send('bench', :payload);
