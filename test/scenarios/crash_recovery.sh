#!/usr/bin/env bash
# Scenario: an immediate shutdown (crash) loses no committed message and no
# lease, and brings back nothing from a transaction that had not committed.
# Prints TAP lines.  Needs PGHOST/PGPORT/PGUSER and CLUSTER_DIR of a running
# cluster started with scripts/lib.sh; it crashes and restarts that cluster.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d crash "$@"; }
n=0
check() {
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
dropdb --if-exists crash 2>/dev/null
createdb crash
q >/dev/null <<'SQL'
CREATE EXTENSION pg_courier;
SELECT courier.create_queue('durable');
SELECT count(*) FROM (SELECT courier.send('durable', jsonb_build_object('n', g)) FROM generate_series(1, 100) g) s;
SELECT count(*) FROM courier.receive('durable', 10, visibility_timeout => '1 hour');
SQL

# A sender that has not committed when the server dies.
psql -X -q -d crash -c "BEGIN" -c "SELECT courier.send('durable', '{\"uncommitted\": true}')" \
     -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
sender=$!
for _ in $(seq 1 100); do
    [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()")" = 1 ] && break
    sleep 0.1
done

as_server_user "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null
wait "$sender" 2>/dev/null || true
as_server_user "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null

check "every committed message survives a crash" "100" \
      "$(q -c "SELECT count(*) FROM courier.messages WHERE queue_name = 'durable'")"
check "an uncommitted send leaves nothing after a crash" "0" \
      "$(q -c "SELECT count(*) FROM courier.messages WHERE payload ? 'uncommitted'")"
check "leases survive a crash" "10" \
      "$(q -c "SELECT count(*) FROM courier.messages WHERE receive_count = 1 AND visible_at > courier.now()")"
check "the queue serves the other messages after recovery" "90" \
      "$(q -c "SELECT count(*) FROM courier.receive('durable', 1000)")"
dropdb crash
