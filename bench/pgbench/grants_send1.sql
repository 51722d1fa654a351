-- bench/grants.sh: one message per transaction, as whatever role the
-- connection runs as (PGOPTIONS -c role=...).
SELECT courier.send(:q, '{"order": 42, "items": [1, 2, 3], "note": "grant benchmark"}');
