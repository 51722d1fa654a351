#!/usr/bin/env bash
# make stop: stop the cluster make run started and remove it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUN_DIR=$PROJECT_DIR/.run
if [ ! -f "$RUN_DIR/cluster_dir" ]; then
    say "no demo cluster is running"
    exit 0
fi
DIR=$(cat "$RUN_DIR/cluster_dir")
stop_cluster "$DIR"
rm -rf "$DIR" "$RUN_DIR"
say "stopped and removed the demo cluster"
