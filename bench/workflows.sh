#!/usr/bin/env bash
# bench/workflows.sh: what the workflow engine costs: state transitions per
# second, executions started per second, and SQL tasks against calling the
# same function directly.
#
#   bash bench/workflows.sh                (about 2 minutes; starts its own cluster)
#   BENCH_ROUNDS=5 bash bench/workflows.sh
#
# 1. Transitions per second.  BENCH_EXECUTIONS executions (default 2,000)
#    of a 10-state machine are started in bulk (one transaction), then
#    advanced by courier.run_executions(B) in transactions of their own
#    until none is due, as the worker does (B = 1,000, the worker's budget,
#    and 10,000, tick()'s); the time of the advancing part, divided into the
#    transitions made (10 per execution).  Two machines: 10 Pass states,
#    and 9 Pass states and a Choice (the 5th).  Against a storage floor
#    measured in the same run: the same executions' rows updated once and
#    their 21 history rows inserted each, in transactions of 100
#    executions, by plain SQL on tables shaped like the engine's (what any
#    engine that keeps this history must write).
# 2. Executions started per second: pgbench -M prepared, 4 clients, one
#    start_execution per transaction (bench/pgbench/wf_start1.sql) and 100
#    per transaction (wf_start100.sql); against courier.send() of the same
#    input to a queue, 1 and 100 per transaction (wf_send1.sql,
#    wf_send100.sql).  The executions are not run meanwhile (no worker).
# 3. SQL tasks: a machine of 10 Task states calling bench.work(jsonb) (it
#    inserts a row and returns its id), advanced as in 1, against a
#    PL/pgSQL loop calling bench.work() directly 10 times per "execution",
#    committing every 100 executions (1,000 calls, the worker's budget);
#    the same loop with each call in a subtransaction; and that, followed
#    by the 5 history rows a Task state writes (plain SQL).  Goal: task
#    transitions within 2x of the direct calls (ratio >= 0.5).
#
# Every workload once per round, rounds interleaved; medians of the rounds.
# Each measurement takes the wall clock and the backend's CPU time (user and
# system, /proc/self/stat); the SQL-task table gives both, and the ratio of
# each round's Task states to the direct calls of the same round (they run
# one after the other), whose median moves less than a ratio of medians
# when the machine's speed changes during the run.
# The server runs with fsync and synchronous_commit on, autovacuum off (the
# tables are vacuumed before each measurement), no background worker.
# The method and the numbers are in docs/performance.md ("Workflows").  The
# tables go to stdout and, as markdown, to bench/results/workflows-latest.md
# (not committed).  Figures on a shared machine move between runs; read
# the ratios, which are measured in the same run.
#
# Knobs (environment): BENCH_EXECUTIONS (default 2000), BENCH_DURATION (s
# per pgbench run, default 5), BENCH_ROUNDS (default 3), BENCH_ONLY=tasks
# (only the SQL-task workloads of 3: a quick check of that goal), BENCH_KEEP=1 (keep
# the work directory), BENCH_NO_INSTALL=1 (use the installed extension as
# it is; by default this checkout is built and installed where $PG_CONFIG
# says, unless the installed files are this build already).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

EXECUTIONS=${BENCH_EXECUTIONS:-2000}
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
ONLY=${BENCH_ONLY:-}
CLIENTS=4
THREADS=2
[ "$ROUNDS" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"
[ "$EXECUTIONS" -ge 100 ] || die "BENCH_EXECUTIONS must be at least 100"
[ -z "$ONLY" ] || [ "$ONLY" = tasks ] || die "BENCH_ONLY must be empty or tasks"

ensure_packages "${SERVER_PACKAGES[@]}"
[ "$(getconf CLK_TCK)" = 100 ] || die "bench.cpu() assumes 100 ticks a second; this kernel has $(getconf CLK_TCK)"
command -v "$PGBIN/pgbench" >/dev/null || die "pgbench not found in $PGBIN"

bench_install

bench_cluster wf 56460 "courier.databases = ''" "courier.tick_interval = '60s'" \
    "fsync = on" "synchronous_commit = on" "autovacuum = off" "checkpoint_timeout = 1h" \
    "max_wal_size = 8GB" "shared_buffers = 256MB" "log_min_messages = warning"
createdb wf_bench
export PGDATABASE=wf_bench
psql_bench() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

say "creating the machines"
psql_bench >/dev/null <<'SQL'
CREATE EXTENSION pg_courier;
CREATE SCHEMA bench;
SELECT courier.create_queue('wf-send');

-- wf-pass10: 10 Pass states.  wf-p10: the 5th is a Choice instead.
SELECT courier.create_state_machine('wf-pass10', jsonb_build_object('StartAt', 'S1', 'States',
    (SELECT jsonb_object_agg('S' || i, CASE WHEN i < 10
                                            THEN jsonb_build_object('Type', 'Pass', 'Next', 'S' || (i + 1))
                                            ELSE jsonb_build_object('Type', 'Pass', 'End', true) END)
       FROM generate_series(1, 10) AS i)));
SELECT courier.create_state_machine('wf-p10', jsonb_build_object('StartAt', 'S1', 'States',
    (SELECT jsonb_object_agg('S' || i, CASE
                WHEN i = 5 THEN jsonb_build_object('Type', 'Choice', 'Choices', jsonb_build_array(
                                    jsonb_build_object('Variable', '$.n', 'NumericGreaterThan', 0, 'Next', 'S6')),
                                    'Default', 'S6')
                WHEN i < 10 THEN jsonb_build_object('Type', 'Pass', 'Next', 'S' || (i + 1))
                ELSE jsonb_build_object('Type', 'Pass', 'End', true) END)
       FROM generate_series(1, 10) AS i)));

-- The SQL task: inserts a row and returns its id.
CREATE TABLE bench.effects (id bigserial PRIMARY KEY, n integer);
CREATE FUNCTION bench.work(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    id bigint;
BEGIN
    INSERT INTO bench.effects (n) VALUES ((input->>'n')::integer) RETURNING effects.id INTO id;
    RETURN jsonb_build_object('id', id);
END
$$;
SELECT courier.create_state_machine('wf-task10', jsonb_build_object('StartAt', 'S1', 'States',
    (SELECT jsonb_object_agg('S' || i, jsonb_build_object('Type', 'Task', 'Resource', 'function:bench.work',
                                                          'ResultPath', '$.r')
                                       || CASE WHEN i < 10 THEN jsonb_build_object('Next', 'S' || (i + 1))
                                               ELSE jsonb_build_object('End', true) END)
       FROM generate_series(1, 10) AS i)));

-- Advance due executions by run_executions(budget) in transactions of
-- their own until none is due; the seconds it took go to bench.timings.
-- cpu: the backend's CPU seconds (user and system, from /proc/self/stat,
-- in the kernel's USER_HZ ticks, 100 a second: the script checks): the
-- server's own account of the time it ran, which time taken from the
-- machine by its neighbours does not inflate as it does the wall clock.
CREATE TABLE bench.timings (what text, seconds float8, transitions bigint, cpu float8);
CREATE FUNCTION bench.cpu() RETURNS float8
LANGUAGE sql AS $$
    SELECT (split_part(s, ' ', 12)::float8 + split_part(s, ' ', 13)::float8) / 100  -- utime, stime: fields 14, 15
      FROM (SELECT split_part(pg_read_file('/proc/self/stat'), ') ', 2) AS s) AS stat
$$;
CREATE PROCEDURE bench.drive(what text, budget integer)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    c0 float8 := bench.cpu();
    n integer;
    total bigint := 0;
BEGIN
    LOOP
        n := courier.run_executions(budget);
        COMMIT;
        EXIT WHEN n = 0;
        total := total + n;
    END LOOP;
    INSERT INTO bench.timings VALUES (what, extract(epoch FROM clock_timestamp() - t0), total,
                                      bench.cpu() - c0);
    COMMIT;
END
$$;

-- The baseline of 3: bench.work() called directly, 10 times per
-- execution, a commit every 100 executions.  Isolated: each call in a
-- subtransaction (BEGIN ... EXCEPTION), which a Task state must have so
-- that a failed task leaves no writes.  With history: isolated, with the 5
-- history events a Task state writes (their details built per call), and
-- an execution's events written as one row, by plain SQL into a table
-- shaped like courier.execution_events: what any engine that isolates each
-- task and keeps this history must do at least.
CREATE TABLE bench.d_history (LIKE courier.execution_events INCLUDING ALL);
CREATE PROCEDURE bench.direct(what text, executions integer, history boolean,
                              isolate boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    c0 float8;
    v jsonb;
    r jsonb;
    ts timestamptz[];
    types text[];
    details jsonb[];
BEGIN
    TRUNCATE bench.d_history;
    COMMIT;
    t0 := clock_timestamp();
    c0 := bench.cpu();
    FOR e IN 1..executions LOOP
        v := jsonb_build_object('n', e);
        ts := '{}';
        types := '{}';
        details := '{}';
        FOR s IN 1..10 LOOP
            IF history OR isolate THEN
                BEGIN
                    r := bench.work(v);
                EXCEPTION WHEN others THEN
                    RAISE;
                END;
            END IF;
            IF history THEN
                FOR g IN 1..5 LOOP
                    ts := ts || clock_timestamp();
                    types := types || (ARRAY['TaskStateEntered', 'TaskScheduled', 'TaskStarted',
                                             'TaskSucceeded', 'TaskStateExited'])[g];
                    details := details || jsonb_build_object('name', 'S' || s, 'input', v);
                END LOOP;
            ELSIF NOT isolate THEN
                r := bench.work(v);
            END IF;
            v := v || jsonb_build_object('r', r);
        END LOOP;
        IF history THEN
            INSERT INTO bench.d_history (execution_id, first_event_id, last_event_id, timestamps, types, details)
            VALUES (e, 2, 51, ts, types, details);
        END IF;
        IF e % 100 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
    COMMIT;
    INSERT INTO bench.timings VALUES (what, extract(epoch FROM clock_timestamp() - t0), executions * 10,
                                      bench.cpu() - c0);
    COMMIT;
END
$$;

-- The storage floor of 1: tables shaped like the engine's; per execution
-- one row update and one history row of 21 events (PassStateEntered/Exited
-- for 10 states and ExecutionSucceeded), in transactions of 100
-- executions.
CREATE TABLE bench.f_executions (LIKE courier.executions INCLUDING ALL);
CREATE TABLE bench.f_history (LIKE courier.execution_events INCLUDING ALL);
CREATE PROCEDURE bench.floor(what text, executions integer)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    c0 float8;
    first bigint;
BEGIN
    TRUNCATE bench.f_executions, bench.f_history;
    INSERT INTO bench.f_executions (execution_id, state_machine_name, execution_name, version, status,
                                    started_at, next_step_at, current_state, state_entered_at, started_by,
                                    input, state_input, last_event_id)
    SELECT e, 'wf-pass10', 'x' || e, 1, 'RUNNING', now(), now(), 'S1', now(), current_user,
           jsonb_build_object('n', e), jsonb_build_object('n', e), 1
      FROM generate_series(1, executions) AS e;
    COMMIT;
    t0 := clock_timestamp();
    c0 := bench.cpu();
    FOR b IN 0..(executions - 1) / 100 LOOP
        first := b * 100 + 1;
        INSERT INTO bench.f_history (execution_id, first_event_id, last_event_id, timestamps, types, details)
        SELECT e.execution_id, 2, 22, array_agg(clock_timestamp() ORDER BY g),
               array_agg(CASE WHEN g = 22 THEN 'ExecutionSucceeded' WHEN g % 2 = 0 THEN 'PassStateEntered'
                              ELSE 'PassStateExited' END ORDER BY g),
               array_agg(jsonb_build_object('name', 'S' || (g / 2), 'input', e.state_input) ORDER BY g)
          FROM bench.f_executions AS e, generate_series(2, 22) AS g
         WHERE e.execution_id BETWEEN first AND first + 99
         GROUP BY e.execution_id;
        UPDATE bench.f_executions AS e
           SET status = 'SUCCEEDED', next_step_at = NULL, current_state = 'S10', state_entered_at = now(),
               output = e.state_input, stopped_at = now(), last_event_id = 22
         WHERE e.execution_id BETWEEN first AND first + 99;
        COMMIT;
    END LOOP;
    INSERT INTO bench.timings VALUES (what, extract(epoch FROM clock_timestamp() - t0), executions * 10,
                                      bench.cpu() - c0);
    COMMIT;
END
$$;
SQL

# start MACHINE: EXECUTIONS executions, one transaction; the tables vacuumed first
start() {
    psql_bench -c "TRUNCATE courier.execution_events, bench.effects" -c "DELETE FROM courier.executions" \
        -c "VACUUM ANALYZE courier.executions, courier.execution_events, bench.effects" -c "CHECKPOINT" \
        -c "SELECT count(courier.start_execution('$1', jsonb_build_object('n', i))) FROM generate_series(1, $EXECUTIONS) AS i" \
        >/dev/null
}
# check MACHINE: every execution succeeded, each with its 22 events (52 for
# the Task machine: 5 per Task state, TaskStarted among them)
check_done() {
    local got
    got=$(psql_bench -At -c "SELECT count(*) FILTER (WHERE status = 'SUCCEEDED') || ' ' ||
                                   (SELECT count(*) FROM courier.execution_history)
                              FROM courier.executions WHERE state_machine_name = '$1'")
    local events=$((EXECUTIONS * 22))
    [ "$1" = wf-task10 ] && events=$((EXECUTIONS * 52))
    [ "$got" = "$EXECUTIONS $events" ] || die "$1: succeeded and events '$got', not '$EXECUTIONS $events'"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "-"; else printf "%.2f", a / b }'; }
fmt() { printf '%.0f' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

WORKLOADS="pass10:1000 pass10:10000 p10:1000 p10:10000 task10:1000 direct direct_isolated direct_history floor"
[ "$ONLY" = tasks ] && WORKLOADS="task10:1000 direct direct_isolated direct_history"
say "transitions: $ROUNDS rounds of $EXECUTIONS executions per workload"
: >"$WORK/rate.txt"
: >"$WORK/cpu.txt"
for round in $(seq 1 "$ROUNDS"); do
    for w in $WORKLOADS; do
        case $w in
            direct*)
                psql_bench -c "TRUNCATE bench.effects" -c "VACUUM ANALYZE bench.effects" -c "CHECKPOINT" >/dev/null
                psql_bench -c "CALL bench.direct('$w', $EXECUTIONS, $([ $w = direct_history ] && echo true || echo false), $([ $w = direct_isolated ] && echo true || echo false))" ;;
            floor)
                psql_bench -c "CALL bench.floor('$w', $EXECUTIONS)" ;;
            *)
                machine=wf-${w%%:*} budget=${w##*:}
                start "$machine"
                psql_bench -c "CALL bench.drive('$w', $budget)"
                check_done "$machine" ;;
        esac
        read -r rate cpurate < <(psql_bench -At -F' ' -c "SELECT round(transitions / seconds),
                                                            round(transitions / greatest(cpu, 0.01))
                                                       FROM bench.timings WHERE what = '$w'
                                                      ORDER BY ctid DESC LIMIT 1")
        echo "$w $rate" >>"$WORK/rate.txt"
        echo "$w $cpurate" >>"$WORK/cpu.txt"
        say "round $round $w: $rate transitions/s ($cpurate per CPU second)"
    done
done
med() { awk -v w="$1" '$1 == w { print $2 }' "$WORK/$2" | median; }
rounds() { awk -v w="$1" '$1 == w { printf "%s%.0f", (n++ ? ", " : ""), $2 }' "$WORK/$2"; }

if [ -z "$ONLY" ]; then
    say "starts: $ROUNDS rounds of ${DURATION}s per workload, interleaved"
    : >"$WORK/tps.txt"
    for round in $(seq 1 "$ROUNDS"); do
        for w in send1:1 start1:1 send100:100 start100:100; do
            name=${w%%:*} per=${w##*:}
            psql_bench -c "TRUNCATE courier.messages, courier.execution_events" -c "DELETE FROM courier.executions" \
                -c "VACUUM ANALYZE courier.messages, courier.executions, courier.execution_events" -c "CHECKPOINT" >/dev/null
            out=$("$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
                -f "$BENCH_DIR/pgbench/wf_$name.sql" 2>&1)
            tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
            [ -n "$tps" ] || { echo "$out" >&2; die "pgbench failed for $name"; }
            echo "$name $(awk -v t="$tps" -v p="$per" 'BEGIN { printf "%.1f", t * p }')" >>"$WORK/tps.txt"
            say "round $round $name: $(tail -1 "$WORK/tps.txt" | cut -d' ' -f2) per second"
        done
    done
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

REPORT=$BENCH_DIR/results/workflows-latest.md
mkdir -p "$BENCH_DIR/results"
FLOOR=$(med floor rate.txt)
DIRECT=$(med direct rate.txt)
DIRECT_CPU=$(med direct cpu.txt)
# paired A B FILE: A / B of each round (the nth A with the nth B)
paired() {
    paste <(awk -v w="$1" '$1 == w { print $2 }' "$WORK/$3") <(awk -v w="$2" '$1 == w { print $2 }' "$WORK/$3") |
        awk '{ printf "%.2f\n", ($2 > 0 ? $1 / $2 : 0) }'
}
{
    echo "# Workflows: transitions, starts, SQL tasks"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), $FINGERPRINT, checkout $GIT_DESC."
    echo "Load average (1, 5, 15 min): $LOAD_START at the start, $LOAD_END at the end."
    if [ -z "$ONLY" ]; then
        echo
        echo "Transitions per second: $EXECUTIONS executions started in bulk, then run_executions(budget) in transactions of their own until none is due; median of $ROUNDS rounds."
        echo
        echo "| workload | transitions/s | ratio to the storage floor | rounds |"
        echo "|---|---:|---:|---:|"
        row() { printf '| %s | %s | %s | %s |\n' "$1" "$(fmt "$(med "$2" rate.txt)")" "$(ratio "$(med "$2" rate.txt)" "$FLOOR")" "$(rounds "$2" rate.txt)"; }
        row "10 Pass states, budget 1,000 (the worker's)" pass10:1000
        row "10 Pass states, budget 10,000 (tick()'s)" pass10:10000
        row "9 Pass + 1 Choice, budget 1,000" p10:1000
        row "9 Pass + 1 Choice, budget 10,000" p10:10000
        row "storage floor: the rows alone, plain SQL, 100 executions per transaction" floor
        echo
        echo "Goal: at least 5,000 transitions/s for pass-only states: $(fmt "$(med pass10:1000 rate.txt)") (ratio to the goal $(ratio "$(med pass10:1000 rate.txt)" 5000))."
    fi
    echo
    echo "SQL tasks: 10 Task states calling bench.work() (one INSERT) against the same calls made directly in a PL/pgSQL loop; calls per second of the wall clock and per CPU second of the backend, medians of $ROUNDS rounds:"
    echo
    echo "| workload | calls/s | ratio to direct | calls per CPU second | ratio to direct | rounds (calls/s) |"
    echo "|---|---:|---:|---:|---:|---:|"
    trow() { printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(fmt "$(med "$2" rate.txt)")" "$(ratio "$(med "$2" rate.txt)" "$DIRECT")" \
                 "$(fmt "$(med "$2" cpu.txt)")" "$(ratio "$(med "$2" cpu.txt)" "$DIRECT_CPU")" "$(rounds "$2" rate.txt)"; }
    trow "Task states, budget 1,000" task10:1000
    trow "direct calls, a commit every 1,000" direct
    trow "direct calls, each in a subtransaction" direct_isolated
    trow "direct calls, each in a subtransaction, with a Task state's 5 history events" direct_history
    echo
    echo "Each round's Task states against the direct calls of the same round (run one after the other): $(paired task10:1000 direct rate.txt | paste -sd, | sed 's/,/, /g') (median $(paired task10:1000 direct rate.txt | median)); per CPU second $(paired task10:1000 direct cpu.txt | paste -sd, | sed 's/,/, /g') (median $(paired task10:1000 direct cpu.txt | median))."
    echo
    echo "Goal: within 2x of the direct calls (ratio >= 0.50). Task states / direct calls with history: $(ratio "$(med task10:1000 rate.txt)" "$(med direct_history rate.txt)")."
    if [ -z "$ONLY" ]; then
        echo
        echo "Executions started per second: pgbench -M prepared, $CLIENTS clients, median of $ROUNDS rounds of ${DURATION}s; against courier.send() of the same input."
        echo
        echo "| workload | per second | ratio to send | rounds |"
        echo "|---|---:|---:|---:|"
        srow() { printf '| %s | %s | %s | %s |\n' "$1" "$(fmt "$(med "$2" tps.txt)")" "$(ratio "$(med "$2" tps.txt)" "$(med "$3" tps.txt)")" "$(rounds "$2" tps.txt)"; }
        srow "send, 1 per transaction" send1 send1
        srow "start_execution, 1 per transaction" start1 send1
        srow "send, 100 per transaction" send100 send100
        srow "start_execution, 100 per transaction" start100 send100
    fi
} | tee "$REPORT"
say "report written to $REPORT"

[ "$(md5sum "$LIB" | cut -c1-12)" = "${FINGERPRINT##* }" ] \
    || say "warning: the installed library changed during the run; the numbers mix two builds"
