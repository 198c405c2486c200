#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit-tester) from the Go module proxy into
#   .envtest/bin/promtool-<PROMETHEUS_VERSION>/promtool
# for tests/e2e/test_alert_rules.py. `-tags remove_all_sd` leaves out the service-discovery
# plugins promtool does not need for rules (a much smaller build). A second run is a no-op.
# Prints the binary's path on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0}   # the Go module version of Prometheus v3.16

dir="$root/.envtest/bin/promtool-${PROMETHEUS_VERSION}"
if [ -x "$dir/promtool" ]; then
  echo "promtool up to date in $dir" >&2; echo "$dir/promtool"; exit 0
fi
command -v go >/dev/null || { echo "error: Go is required to build promtool" >&2; exit 1; }
export CGO_ENABLED=0 GOFLAGS=-modcacherw
mkdir -p "$dir.tmp"
start=$(date +%s)
echo "building promtool ${PROMETHEUS_VERSION}..." >&2
GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" -tags remove_all_sd \
  "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_VERSION}"
rm -rf "$dir"; mv "$dir.tmp" "$dir"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$dir/promtool"
