#!/usr/bin/env bash
# make run: install what is missing, build and install pg_courier, start a
# throwaway cluster inside the project folder (in /tmp when the postgres
# account cannot reach the project folder), create the extension, run the
# demo, and print how to connect.  The cluster keeps running; make stop ends it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages "${SERVER_PACKAGES[@]}"
build_and_install

RUN_DIR=$PROJECT_DIR/.run
if [ -f "$RUN_DIR/cluster_dir" ]; then
    say "stopping the previous demo cluster"
    bash "$PROJECT_DIR/scripts/stop.sh"
fi
mkdir -p "$RUN_DIR"
chmod 755 "$RUN_DIR"
if server_user_can_use "$RUN_DIR"; then
    DIR=$RUN_DIR/cluster
else
    DIR=$(mktemp -d /tmp/pg_courier-run.XXXXXX)
    chmod 755 "$DIR"
    say "the $(server_user) account cannot reach $PROJECT_DIR; the cluster goes to $DIR"
fi
echo "$DIR" >"$RUN_DIR/cluster_dir"

PORT=$(free_port 5433)
say "starting a cluster on port $PORT"
start_cluster "$DIR" "$PORT" "courier.databases = 'courier_demo'"
createdb courier_demo
psql -X -q -d courier_demo -c 'CREATE EXTENSION pg_courier'
# The tick worker started before courier_demo existed; restart so it connects
# now rather than at the postmaster's next retry.
as_server_user "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w restart >/dev/null

say "running examples/demo.sql"
psql -X -d courier_demo -v ON_ERROR_STOP=1 -f "$PROJECT_DIR/examples/demo.sql"
if [ -f "$PROJECT_DIR/examples/exercise1.sql" ]; then
    say "running examples/exercise1.sql (retries, dead letters, redrive)"
    psql -X -d courier_demo -v ON_ERROR_STOP=1 -f "$PROJECT_DIR/examples/exercise1.sql"
fi

cat <<MSG

pg_courier is running (PostgreSQL $PG_MAJOR, data in $DIR/data).
Connect with:

    psql -h localhost -p $PORT -U postgres courier_demo

(or psql -h $DIR -p $PORT -U postgres courier_demo).  Stop it with: make stop
MSG
