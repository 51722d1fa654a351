#!/usr/bin/env bash
# FIFO receive throughput: receive 10 + delete_batch per transaction, 4
# clients, against
#   std        a standard queue (the baseline of this run)
#   fifo       a FIFO queue with 1,000 groups
#   hot        a FIFO queue with 1,000 groups plus one hot group holding half
#              the messages
#   blocked    a FIFO queue with 1,000 ready groups plus 1,000 blocked groups
#              (a message in flight each) holding BLOCKED messages behind them:
#              finding a ready group must not cost more because of them
# Rounds interleave the systems (A B C D A B C D); medians of msg/s and ratios
# to std are printed.  QUICK=1 for a short run.
#
# Usage: bash bench/fifo.sh                  (starts its own cluster)
#        PGHOST=... PGPORT=... bash bench/fifo.sh --use-running
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
BACKLOG=${BACKLOG:-400000}
BLOCKED=${BLOCKED:-400000}
if [ "${QUICK:-0}" = 1 ]; then ROUNDS=2; SECONDS_PER_RUN=4; BACKLOG=150000; BLOCKED=150000; fi
PGBENCH=$PGBIN/pgbench

if [ "${1:-}" != "--use-running" ]; then
    ensure_packages "${SERVER_PACKAGES[@]}"
    [ -f "/usr/share/postgresql/$PG_MAJOR/extension/pg_courier.control" ] || build_and_install
    WORK=$(mktemp -d /tmp/pg_courier-fifo.XXXXXX)
    chmod 755 "$WORK"
    trap 'stop_cluster "$WORK/cluster"; rm -rf "$WORK"' EXIT
    start_cluster "$WORK/cluster" "$(free_port 56360)" "courier.databases = ''" \
        "shared_buffers = 256MB" "max_wal_size = 4GB"
    createdb fifo_bench
    export PGDATABASE=fifo_bench
    psql -X -q -c 'CREATE EXTENSION pg_courier'
else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi

# One setup per system: create the queue and fill it.
setup() {
    local q=$1
    psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT courier.drop_queue('$q', if_exists => true);
SELECT courier.create_queue('$q', fifo => ('$q' <> 'b-std'), visibility_timeout => '1 hour');
SQL
    case $q in
    b-std)
        psql -X -q -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM courier.send_batch('b-std',
            (SELECT array_agg('{\"n\": 1, \"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}'::jsonb)
               FROM generate_series(1, $BACKLOG)))" >/dev/null ;;
    b-fifo|b-hot|b-blocked)
        # 1,000 groups, BACKLOG messages in all; b-hot puts half of them in one group
        psql -X -q -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM courier.send_batch('$q',
            (SELECT array_agg(jsonb_build_object('n', g, 'pad', repeat('x', 50))) FROM generate_series(1, $BACKLOG) g),
            group_ids => (SELECT array_agg(CASE WHEN '$q' = 'b-hot' AND g % 2 = 0 THEN 'hot'
                                                ELSE 'g' || (g % 1000) END)
                            FROM generate_series(1, $BACKLOG) g),
            dedup_ids => (SELECT array_agg(g::text) FROM generate_series(1, $BACKLOG) g))" >/dev/null ;;
    esac
    if [ "$q" = b-blocked ]; then
        # 1,000 more groups, each blocked by a message in flight for an hour,
        # with BLOCKED messages waiting behind them
        psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT count(*) FROM courier.send_batch('b-blocked',
    (SELECT array_agg(jsonb_build_object('n', g, 'pad', repeat('x', 50))) FROM generate_series(1, $BLOCKED) g),
    group_ids => (SELECT array_agg('blocked-' || (g % 1000)) FROM generate_series(1, $BLOCKED) g),
    dedup_ids => (SELECT array_agg('b' || g) FROM generate_series(1, $BLOCKED) g));
-- lease the head of every blocked group (one receive per group: a receive
-- takes the longest-waiting ready group, and the ready groups were created first)
UPDATE courier.message_groups SET visible_at = 'infinity'
 WHERE queue_name = 'b-blocked' AND group_id NOT LIKE 'blocked-%';
SELECT count(*) FROM generate_series(1, 1000), LATERAL courier.receive('b-blocked', 1) r;
UPDATE courier.message_groups SET visible_at = '-infinity'
 WHERE queue_name = 'b-blocked' AND group_id NOT LIKE 'blocked-%';
SQL
    fi
    psql -X -q -c "VACUUM ANALYZE courier.messages" -c "VACUUM ANALYZE courier.message_groups" >/dev/null
}

cat >"$WORK/recv.sql" <<'SQL'
SELECT coalesce(array_agg(receipt), '{}') AS receipts FROM courier.receive(:q, 10) \gset
SELECT courier.delete_batch(:q, :receipts::text[]);
SQL

declare -A RESULTS
for q in b-std b-fifo b-hot b-blocked; do
    say "preparing $q"
    setup "$q"
done
for round in $(seq 1 "$ROUNDS"); do
    for q in b-std b-fifo b-hot b-blocked; do
        # messages actually consumed: the queue's depth before and after
        depth="SELECT count(*) FROM courier.messages WHERE queue_name = '$q'"
        before=$(psql -X -q -A -t -c "$depth")
        out=$("$PGBENCH" -n -M prepared -c 4 -j 2 -T "$SECONDS_PER_RUN" -D q="$q" -f "$WORK/recv.sql" 2>&1)
        after=$(psql -X -q -A -t -c "$depth")
        secs=$(sed -n 's/^duration: \([0-9.]*\) s/\1/p' <<<"$out" | head -1)
        msgs=$(awk -v a="$before" -v b="$after" -v t="${secs:-$SECONDS_PER_RUN}" 'BEGIN { printf "%.0f", (a - b) / t }')
        [ "$after" -gt 0 ] || say "warning: $q ran dry during round $round"
        RESULTS[$q]="${RESULTS[$q]:-} $msgs"
        say "round $round $q: $msgs msg/s"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
base=$(median <<<"${RESULTS[b-std]}")
echo
echo "| queue | messages/s (median of $ROUNDS) | ratio to standard |"
echo "|---|---:|---:|"
for q in b-std b-fifo b-hot b-blocked; do
    m=$(median <<<"${RESULTS[$q]}")
    echo "| $q | $m | $(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.2f", a / b }') |"
done
echo
echo "b-blocked holds $BLOCKED messages in 1,000 blocked groups besides the ready ones."
