#!/usr/bin/env bash
# Long-poll wake latency: how long after a producer commits does a consumer
# blocked in courier.receive(wait => ...) return with the message?
#
# Two persistent psql sessions (coprocesses) on one throwaway cluster.  For
# each sample the consumer starts a 10 s wait; once pg_stat_activity shows it
# sleeping (wait event Extension), the producer sends and commits.  Times are
# taken on the server with clock_timestamp(): the producer's just before
# COMMIT (the latency then includes the commit's WAL flush) and just after it,
# the consumer's as its receive returns.  Prints median, p95 and p99 of both,
# over SAMPLES samples (default 200).
#
# Usage: bash bench/longpoll.sh            (starts its own cluster)
#        PGHOST=... PGPORT=... bash bench/longpoll.sh --use-running
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
SAMPLES=${SAMPLES:-200}

if [ "${1:-}" != "--use-running" ]; then
    ensure_packages "${SERVER_PACKAGES[@]}"
    [ -f "/usr/share/postgresql/$PG_MAJOR/extension/pg_courier.control" ] || build_and_install
    WORK=$(mktemp -d /tmp/pg_courier-longpoll.XXXXXX)
    chmod 755 "$WORK"
    trap 'stop_cluster "$WORK/cluster"; rm -rf "$WORK"' EXIT
    start_cluster "$WORK/cluster" "$(free_port 56350)" "courier.databases = ''"
    createdb lp_bench
    export PGDATABASE=lp_bench
    psql -X -q -c 'CREATE EXTENSION pg_courier'
fi
psql -X -q -c "SELECT courier.drop_queue('lp-bench', if_exists => true)" >/dev/null
psql -X -q -c "SELECT courier.create_queue('lp-bench')" >/dev/null

coproc CONSUMER { psql -X -q -A -t -v ON_ERROR_STOP=1 2>&1; }
{ coproc PRODUCER { psql -X -q -A -t -v ON_ERROR_STOP=1 2>&1; }; } 2>/dev/null  # bash warns about a second coproc
echo "SELECT pg_backend_pid();" >&"${CONSUMER[1]}"
read -r consumer_pid <&"${CONSUMER[0]}"

OUT=$(mktemp)
for i in $(seq 1 "$SAMPLES"); do
    echo "SELECT to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.US') FROM courier.receive('lp-bench', 1, wait => '10 s');" >&"${CONSUMER[1]}"
    # wait until the consumer sleeps in the long poll
    for _ in $(seq 1 200); do
        state=$(psql -X -q -A -t -c "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $consumer_pid")
        [ "$state" = "Extension" ] && break
        sleep 0.005
    done
    cat >&"${PRODUCER[1]}" <<SQL
BEGIN;
SELECT courier.send('lp-bench', '{"sample": $i}') IS NULL;
SELECT to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.US');
COMMIT;
SELECT to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.US');
SQL
    read -r _ <&"${PRODUCER[0]}"                 # the send's IS NULL
    read -r before_commit <&"${PRODUCER[0]}"
    read -r after_commit <&"${PRODUCER[0]}"
    read -r returned <&"${CONSUMER[0]}"
    echo "$before_commit|$after_commit|$returned" >>"$OUT"
    psql -X -q -c "DELETE FROM courier.messages WHERE queue_name = 'lp-bench'" >/dev/null
done
echo '\q' >&"${CONSUMER[1]}"
echo '\q' >&"${PRODUCER[1]}"

# latencies in ms, computed by the server from the recorded timestamps
psql -X -q -A -F ' ' -t <<SQL
CREATE TEMP TABLE s (before_commit timestamptz, after_commit timestamptz, returned timestamptz);
\copy s FROM '$OUT' WITH (DELIMITER '|')
WITH l AS (
    SELECT extract(epoch FROM returned - before_commit) * 1000 AS from_commit_start,
           extract(epoch FROM returned - after_commit) * 1000 AS from_commit_end
      FROM s)
SELECT format('samples %s', count(*)) FROM l
UNION ALL
SELECT format('commit start -> consumer returns (ms): median %s  p95 %s  p99 %s  max %s',
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY from_commit_start)::numeric, 3),
              round(percentile_cont(0.95) WITHIN GROUP (ORDER BY from_commit_start)::numeric, 3),
              round(percentile_cont(0.99) WITHIN GROUP (ORDER BY from_commit_start)::numeric, 3),
              round(max(from_commit_start)::numeric, 3)) FROM l
UNION ALL
SELECT format('commit returned -> consumer returns (ms): median %s  p95 %s  p99 %s  max %s',
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY from_commit_end)::numeric, 3),
              round(percentile_cont(0.95) WITHIN GROUP (ORDER BY from_commit_end)::numeric, 3),
              round(percentile_cont(0.99) WITHIN GROUP (ORDER BY from_commit_end)::numeric, 3),
              round(max(from_commit_end)::numeric, 3)) FROM l;
SQL
rm -f "$OUT"
