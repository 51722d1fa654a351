#!/usr/bin/env bash
# Scenario: courier.tick() run by pg_cron instead of the pg_courier worker.
# A throwaway cluster preloads pg_cron (not pg_courier), with
# cron.database_name = 'crondb'; both extensions go into crondb and the
# documented job is scheduled:
#     SELECT cron.schedule('courier', '* * * * *', 'SELECT courier.tick()')
# Prints TAP lines.  Starts (and removes) its own throwaway cluster; the
# cluster of PGHOST/PGPORT is not used.  Needs postgresql-15-cron.
#
# pg_cron 1.5 and later accept '1 seconds' schedules; when the installed
# pg_cron does, a second job on that schedule must really run courier.tick()
# (cron.job_run_details says succeeded) and remove an expired message.
# pg_cron 1.4.2 (Debian 12) has no seconds schedules: then the script waits
# for the documented once-a-minute job to fire at the next minute boundary
# (up to 65 s) and checks the same.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
DB=crondb
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}

WORK=$(mktemp -d /tmp/pg_courier-cron.XXXXXX)
chmod 755 "$WORK"
CLUSTER=$WORK/cluster
cleanup() { stop_cluster "$CLUSTER"; rm -rf "$WORK"; }
trap cleanup EXIT

if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/pg_cron.control" ]; then
    echo "not ok 1 - pg_cron is installed (postgresql-$PG_MAJOR-cron)"
    exit 1
fi

# Later lines of postgresql.conf win: pg_cron instead of start_cluster's preload.
start_cluster "$CLUSTER" "$(free_port 56710)" "fsync = off" \
    "shared_preload_libraries = 'pg_cron'" "cron.database_name = '$DB'"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
until_equal() { # until_equal SQL EXPECTED SECONDS: 0 once SQL prints EXPECTED
    local i
    for i in $(seq 1 $(($3 * 10))); do
        [ "$(q -c "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

createdb "$DB"
q -c "CREATE EXTENSION pg_cron"
check "the cluster preloads pg_cron only" "pg_cron" "$(q -c "SHOW shared_preload_libraries")"
created=ok
err=$(q -c "CREATE EXTENSION pg_courier" 2>&1 >/dev/null) || created=failed
check "CREATE EXTENSION pg_courier succeeds with only pg_cron preloaded" "ok" "$created"
if [ "$created" != ok ]; then
    sed 's/^/# /' <<<"$err"
    # Go on with pg_courier preloaded too, but without its worker, so that
    # the rest still tests the pg_cron path and nothing else runs tick().
    echo "# continuing with shared_preload_libraries = 'pg_cron,pg_courier' and courier.databases = ''"
    {
        echo "shared_preload_libraries = 'pg_cron,pg_courier'"
        echo "courier.databases = ''"
    } | as_server_user tee -a "$CLUSTER/data/postgresql.conf" >/dev/null
    as_server_user "$PGBIN/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/server.log" -m fast -w restart >/dev/null
    q -c "CREATE EXTENSION pg_courier"
fi
check "no pg_courier worker runs: only pg_cron (or this script) calls tick()" "0" \
      "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_courier worker'")"
until_equal "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'" 1 5 || true
check "the pg_cron launcher runs" "1" \
      "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")"
cron_version=$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")
echo "# pg_cron extension version $cron_version"

# --- the documented job ------------------------------------------------------
jobid=$(q -c "SELECT cron.schedule('courier', '* * * * *', 'SELECT courier.tick()')")
check "the documented schedule is accepted, in cron.job, active, for $DB" \
      "courier|* * * * *|SELECT courier.tick()|$DB|postgres|true" \
      "$(q -c "SELECT jobname || '|' || schedule || '|' || command || '|' || database || '|' || username || '|' || active
                FROM cron.job WHERE jobid = $jobid")"

# --- a queue with an expired message --------------------------------------------
q -c "SELECT courier.create_queue('cron_q', retention => '60 s')" >/dev/null
q -c "SET courier.clock_offset = '-120s'" -c "SELECT courier.send('cron_q', '{\"old\": true}')" >/dev/null
q -c "SELECT courier.send('cron_q', '{\"old\": false}')" >/dev/null
OLD_LEFT="SELECT count(*) FROM courier.messages WHERE queue_name = 'cron_q' AND payload @> '{\"old\": true}'"
check "the old message is there, past retention, before any tick" "1" "$(q -c "$OLD_LEFT")"

fast_err=$(q -c "SELECT cron.schedule('courier-fast', '1 seconds', 'SELECT courier.tick()')" 2>&1 >/dev/null) \
    && fast=yes || fast=no
if [ "$fast" = yes ]; then
    fast_id=$(q -c "SELECT jobid FROM cron.job WHERE jobname = 'courier-fast'")
    removed=no
    until_equal "$OLD_LEFT" 0 10 && removed=yes
    check "pg_cron running courier.tick() every second removes the expired message (within 10 s)" "yes" "$removed"
    until_equal "SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $fast_id AND status = 'succeeded'" t 5 || true
    check "cron.job_run_details records a succeeded courier.tick() run" "t" \
          "$(q -c "SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $fast_id AND status = 'succeeded'")"
    check "... and no failed one" "0" \
          "$(q -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $fast_id AND status = 'failed'")"
    q -c "SELECT cron.unschedule('courier-fast')" >/dev/null
else
    # No seconds schedules (pg_cron 1.4, Debian 12): the documented job itself
    # must fire at the next minute boundary and remove the expired message.
    echo "# pg_cron $cron_version has no seconds schedules ($(head -n 1 <<<"$fast_err"));"
    echo "# waiting for the documented '* * * * *' job to fire at the next minute (at most 65 s)"
    t0=$(date +%s)
    fired=no
    until_equal "SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $jobid AND status = 'succeeded'" t 65 \
        && fired=yes
    echo "# the job fired after $(( $(date +%s) - t0 )) s"
    check "pg_cron runs the documented job, courier.tick(), at the next minute (cron.job_run_details: succeeded)" \
          "yes" "$fired"
    check "... and no run failed" "0" \
          "$(q -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $jobid AND status = 'failed'")"
    check "... and the run removed the expired message" "0" "$(q -c "$OLD_LEFT")"
    check "... reporting it in its return message" "t" \
          "$(q -c "SELECT bool_or(return_message IS NOT NULL) FROM cron.job_run_details WHERE jobid = $jobid")"
fi
check "the message within retention is kept" "1" \
      "$(q -c "SELECT count(*) FROM courier.messages WHERE queue_name = 'cron_q'")"
