#!/usr/bin/env bash
# Start Docker's engine if it is not running, the way this machine allows it: no iptables, no
# NAT, no bridge (builds and containers use --network host). Needs root and Debian's docker.io.
set -euo pipefail
if docker version >/dev/null 2>&1; then exit 0; fi
log=${TMPDIR:-/tmp}/mini-pipeline-dockerd.log
nohup dockerd --iptables=false --ip-masq=false --bridge=none >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker version >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
echo "dockerd did not start; see $log" >&2
tail -20 "$log" >&2
exit 1
