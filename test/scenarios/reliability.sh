#!/usr/bin/env bash
# Scenario: the quick reliability battery (issue 5; test/reliability/battery.py
# through scripts/reliability.sh).  It starts a throwaway cluster of its own,
# because it crashes the server, fills a tablespace and runs the server with
# fsync on; the cluster of scripts/test.sh is not touched.  Prints TAP lines
# and one "# summary" line per scenario.  Takes about two minutes.
set -euo pipefail
exec bash "$(dirname "$0")/../../scripts/reliability.sh" --quick --no-build
