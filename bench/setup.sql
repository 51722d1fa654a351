-- Schema for bench/run.sh: pg_courier with one queue, and the raw-SQL
-- "ceiling" queue, i.e. the least a SKIP LOCKED queue table can do.
CREATE EXTENSION pg_courier;
SELECT courier.create_queue('bench', visibility_timeout => '30 seconds');

CREATE TABLE public.ceiling_q (
    id       bigserial PRIMARY KEY,
    vt       timestamptz NOT NULL,
    read_ct  integer NOT NULL DEFAULT 0,
    message  jsonb
);
CREATE INDEX ceiling_q_vt_idx ON public.ceiling_q (vt, id);
