#!/usr/bin/env bash
# bench/grants.sh: what per-object privileges and tenant isolation cost on
# the hot paths (src/grants.c, docs/security.md#courier-grants).
#
#   bash bench/grants.sh             (about 2 minutes; starts its own cluster)
#
# The same pgbench workloads (-M prepared, 4 clients, 2 threads) as four
# roles, every workload once per round, rounds one after the other; medians
# of the rounds and the ratio to the superuser's run of the same round:
#   - superuser: no grant lookup at all (the worker, tick(), most benchmarks);
#   - table privileges: a role with the PostgreSQL grants of docs/security.md
#     and no courier grant, bound to no tenant (the 0.1 way; row-level
#     security is on for it, with the extension's policy);
#   - courier grant: a role holding only courier.grant('send'/'receive'),
#     which each call checks and then acts as the owner;
#   - tenant-bound grant: the same grants bound to a tenant (sends get the
#     tenant, receives take that tenant's messages only).
# Workloads: send of one message per transaction (grants_send1.sql), and
# receive 1 + delete per transaction (grants_consume1.sql), each role on a
# queue of its own that its send runs filled (so the tenant-bound receive
# finds its tenant's messages at the head: what it costs to skip other
# tenants' messages is not measured here).  The sessions take their role
# from PGOPTIONS (-c role=...), so the connection is the same for all four.
#
# Part 2 times the calls alone in one session (BENCH_LOOP sends, then as many
# receive + delete, committing every 100 with synchronous_commit off): what
# the checks cost per call without most of the commit, which dominates part 1.  The ratio there is
# the superuser's time over the role's (1.00: the same speed).
#
# Knobs: BENCH_DURATION (s per run, default 5), BENCH_ROUNDS (default 3),
# BENCH_LOOP (default 20000), BENCH_KEEP=1, BENCH_NO_INSTALL=1.  Tables on stdout and in
# bench/results/grants-latest.md (not committed).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
[ "$ROUNDS" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"
ensure_packages "${SERVER_PACKAGES[@]}"
command -v "$PGBIN/pgbench" >/dev/null || die "pgbench not found in $PGBIN"
bench_install

bench_cluster grants 56480 "courier.databases = ''" "autovacuum = off" \
    "checkpoint_timeout = 1h" "max_wal_size = 8GB" "shared_buffers = 256MB" \
    "log_min_messages = warning"
createdb grants_bench
export PGDATABASE=grants_bench
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pg_courier;
SELECT courier.create_queue('gbench_' || r, visibility_timeout => '1 hour')
  FROM unnest(ARRAY['postgres', 'gb_tables', 'gb_grant', 'gb_tenant']) AS r;
CREATE ROLE gb_tables NOLOGIN;
CREATE ROLE gb_grant NOLOGIN;
CREATE ROLE gb_tenant NOLOGIN;
-- the table privileges docs/security.md lists for producers and consumers
GRANT USAGE ON SCHEMA courier TO gb_tables;
GRANT EXECUTE ON FUNCTION courier.send(text, jsonb, jsonb, interval, text, text),
                          courier.receive(text, integer, interval, interval),
                          courier.delete(text, text), courier.delete_batch(text, text[]) TO gb_tables;
GRANT SELECT ON courier.queues TO gb_tables;
GRANT INSERT, SELECT, UPDATE, DELETE ON courier.messages TO gb_tables;
GRANT USAGE ON SEQUENCE courier.message_id_seq TO gb_tables;
SELECT courier.grant(p, 'queue', 'gbench_gb_grant', 'gb_grant') FROM unnest(ARRAY['send', 'receive']) AS p;
SELECT courier.grant(p, 'queue', 'gbench_gb_tenant', 'gb_tenant', 'acme') FROM unnest(ARRAY['send', 'receive']) AS p;
-- other tenants' grants, so that lookups are not of a table of two rows
SELECT courier.create_queue('gbench_' || i) FROM generate_series(1, 50) AS i;
DO $$
BEGIN
    FOR i IN 1 .. 50 LOOP
        EXECUTE format('CREATE ROLE gb_other_%s NOLOGIN', i);
        PERFORM courier.grant(p, 'queue', 'gbench_' || i, 'gb_other_' || i, 'tenant-' || i)
           FROM unnest(ARRAY['send', 'receive']) AS p;
    END LOOP;
END
$$;
SQL

ROLES=(postgres gb_tables gb_grant gb_tenant)
LABELS=("superuser" "table privileges, no courier grant" "courier grant" "tenant-bound courier grant")
WORKLOADS=(send1 consume1)
declare -A TPS

run_pgbench() { # run_pgbench WORKLOAD ROLE -> tps
    local out
    out=$(PGOPTIONS="-c role=$2" "$PGBIN/pgbench" -n -M prepared -c 4 -j 2 -T "$DURATION" \
            -D q="gbench_$2" -f "$BENCH_DIR/pgbench/grants_$1.sql" 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
    echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1
}

for round in $(seq 1 "$ROUNDS"); do
    for w in "${WORKLOADS[@]}"; do
        for i in "${!ROLES[@]}"; do
            t=$(run_pgbench "$w" "${ROLES[$i]}")
            TPS[$w,$i,$round]=$t
            say "round $round: $w as ${LABELS[$i]}: $t tps"
        done
    done
done

# Part 2: the calls alone, with little of the commit that dominates part 1:
# as each role, in one session with synchronous_commit off, LOOP_N sends
# and then LOOP_N receive + delete of them, committing every 100, timed
# inside the server by a procedure; rounds as above.
LOOP_N=${BENCH_LOOP:-20000}
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE PROCEDURE public.grants_loop(q text, n int, INOUT send_us float8 DEFAULT NULL,
                                    INOUT consume_us float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    t1 timestamptz;
    rc text;
BEGIN
    t0 := clock_timestamp();
    FOR k IN 1 .. n LOOP
        PERFORM courier.send(q, '{"order": 42, "items": [1, 2, 3], "note": "grant benchmark"}');
        IF k % 100 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
    COMMIT;
    t1 := clock_timestamp();
    send_us := extract(epoch FROM t1 - t0) * 1e6 / n;
    FOR k IN 1 .. n LOOP
        SELECT receipt INTO rc FROM courier.receive(q, 1);
        PERFORM courier.delete(q, rc);
        IF k % 100 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
    COMMIT;
    consume_us := extract(epoch FROM clock_timestamp() - t1) * 1e6 / n;
END
$$;
SQL
declare -A USEC
for round in $(seq 1 "$ROUNDS"); do
    for i in "${!ROLES[@]}"; do
        r=${ROLES[$i]}
        out=$(PGOPTIONS="-c role=$r -c synchronous_commit=off" psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 \
                -c "CALL public.grants_loop('gbench_$r', $LOOP_N)" 2>&1) \
            || { echo "$out" >&2; die "the loop as $r failed"; }
        read -r s_us c_us <<<"$out"
        USEC[send,$i,$round]=$s_us
        USEC[consume,$i,$round]=$c_us
        say "round $round: loop as ${LABELS[$i]}: send $s_us us, receive+delete $c_us us"
    done
done

# the tenant-bound role's messages all carry its tenant
bad=$(psql -X -A -t -c "SELECT count(*) FROM courier.messages
                        WHERE queue_name = 'gbench_gb_tenant' AND tenant_id IS DISTINCT FROM 'acme'")
[ "$bad" = 0 ] || die "$bad messages of the tenant-bound role lack its tenant"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
{
    echo "# bench/grants.sh — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "$(nproc) vCPUs, $("$PGBIN/postgres" --version), $FINGERPRINT, checkout $GIT_DESC,"
    echo "load average at the start $LOAD_START, at the end $(cut -d' ' -f1-3 /proc/loadavg);"
    echo "pgbench -M prepared, 4 clients, ${DURATION} s per run, $ROUNDS rounds."
    for w in "${WORKLOADS[@]}"; do
        echo
        echo "| $w as | transactions/s | ratio to superuser | rounds |"
        echo "|---|---:|---:|---:|"
        base=$(median $(for r in $(seq 1 "$ROUNDS"); do echo "${TPS[$w,0,$r]}"; done))
        for i in "${!ROLES[@]}"; do
            vals=$(for r in $(seq 1 "$ROUNDS"); do echo "${TPS[$w,$i,$r]}"; done)
            m=$(median $vals)
            # ratio per round, then the median of those
            ratios=$(for r in $(seq 1 "$ROUNDS"); do
                awk -v a="${TPS[$w,$i,$r]}" -v b="${TPS[$w,0,$r]}" 'BEGIN {printf "%.3f\n", a / b}'; done)
            printf '| %s | %.0f | %.2f | %s |\n' "${LABELS[$i]}" "$m" "$(median $ratios)" \
                "$(echo $vals | awk '{for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? ", " : ""), $i}')"
        done
        : "$base"
    done
    for w in send consume; do
        echo
        echo "| one session, $LOOP_N calls, a commit every 100: $w as | µs per call | ratio to superuser | rounds |"
        echo "|---|---:|---:|---:|"
        for i in "${!ROLES[@]}"; do
            vals=$(for r in $(seq 1 "$ROUNDS"); do echo "${USEC[$w,$i,$r]}"; done)
            ratios=$(for r in $(seq 1 "$ROUNDS"); do
                awk -v a="${USEC[$w,$i,$r]}" -v b="${USEC[$w,0,$r]}" 'BEGIN {printf "%.3f\n", b / a}'; done)
            printf '| %s | %.1f | %.2f | %s |\n' "${LABELS[$i]}" "$(median $vals)" "$(median $ratios)" \
                "$(echo $vals | awk '{for (i = 1; i <= NF; i++) printf "%s%.1f", (i > 1 ? ", " : ""), $i}')"
        done
    done
} | tee "$BENCH_DIR/results/grants-latest.md"
