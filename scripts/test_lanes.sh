#!/usr/bin/env bash
# `make test`: every suite, in two lanes that run at the same time. Each lane keeps about half the
# machine busy (the suites spend much of their time waiting on the servers they start), so two
# lanes take about half the wall time of one. Each suite starts its own servers on free loopback
# ports and works in its own pytest temporary directory (pytest locks each against cleanup by
# another run), so the lanes share nothing.
#   lane 1 (printed as it runs): lint, inference service, web app unit tests, browser tests
#   lane 2 (printed when done; its log meanwhile in test-results/app-server-suites.log):
#          app server on SQLite, then on PostgreSQL
# Exit status: non-zero when any suite failed; every suite runs either way (make -k).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-results
log=test-results/app-server-suites.log
make_=(make -k --no-print-directory)

echo "ownvoice: the app server's suites (SQLite, then PostgreSQL) run alongside;" \
  "their output follows at the end (meanwhile: tail -f $log)"
started=$SECONDS
# Each lane runs in its own process group (setsid), so that Ctrl-C or a TERM to this script
# stops all of both (make, pytest and the servers the tests started) at once.
setsid --wait "${make_[@]}" test-backend test-backend-pg >"$log" 2>&1 &
lane2=$!
setsid --wait "${make_[@]}" test-lint test-ai test-frontend test-e2e &
lane1=$!
stop_lanes() { kill -TERM -- "-$lane1" "-$lane2" 2>/dev/null; }
trap 'stop_lanes; exit 130' INT
trap 'stop_lanes; exit 143' TERM

wait $lane1
lane1_rc=$?
echo "ownvoice: lane 1 finished after $(((SECONDS - started) / 60)) min; waiting for the app server's suites"
wait $lane2
lane2_rc=$?  # make's own status: a lane that was killed is not a pass
trap - INT TERM

echo "================ the app server's suites (SQLite, then PostgreSQL) ================"
cat "$log"
echo "ownvoice: every suite ran in $(((SECONDS - started) / 60)) min" \
  "(lane 1 exit $lane1_rc, app server suites exit $lane2_rc)"
[[ $lane1_rc == 0 && $lane2_rc == 0 ]]
