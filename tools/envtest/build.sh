#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy into a cache keyed by version:
#   .envtest/bin/k8s-<K8S_VERSION>_etcd-<ETCD_VERSION>/{kube-apiserver,kubectl,etcd}
# A second run is a no-op. Prints the binary directory on its last line.
# Skipped entirely when KUBEBUILDER_ASSETS or all TEST_ASSET_* variables point at existing binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/versions.env"

if [ -n "${TEST_ASSET_KUBE_APISERVER:-}" ] && [ -n "${TEST_ASSET_ETCD:-}" ] && [ -n "${TEST_ASSET_KUBECTL:-}" ]; then
  echo "using TEST_ASSET_* binaries" >&2; dirname "$TEST_ASSET_KUBE_APISERVER"; exit 0
fi
if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ]; then
  echo "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS" >&2; echo "$KUBEBUILDER_ASSETS"; exit 0
fi

bin="$root/.envtest/bin/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}"
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ] && [ -x "$bin/etcd" ] \
   && "$bin/kube-apiserver" --version | grep -qx "Kubernetes ${K8S_VERSION}" \
   && "$bin/etcd" --version | grep -q "etcd Version: ${ETCD_VERSION#v}"; then
  echo "control plane binaries up to date in $bin" >&2; echo "$bin"; exit 0
fi

command -v go >/dev/null || { echo "error: Go is required to build the control plane" >&2; exit 1; }
export CGO_ENABLED=0 GOFLAGS=-modcacherw
export GOMODCACHE=${GOMODCACHE:-$HOME/go/pkg/mod} GOCACHE=${GOCACHE:-$HOME/.cache/go-build}
mkdir -p "$bin.tmp"
major=${K8S_VERSION#v}; major=${major%%.*}
minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldf="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldf+=" -X $pkg.gitVersion=${K8S_VERSION} -X $pkg.gitMajor=${major} -X $pkg.gitMinor=${minor}"
  ldf+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${date}"
done
start=$(date +%s)
echo "building kube-apiserver ${K8S_VERSION} (a cold build takes about 5 minutes on 2 cores)..." >&2
(cd "$here/apiserver" && go build -trimpath -ldflags "$ldf" -o "$bin.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
echo "building kubectl ${K8S_VERSION}..." >&2
(cd "$here/apiserver" && go build -trimpath -ldflags "$ldf" -o "$bin.tmp/kubectl" k8s.io/kubernetes/cmd/kubectl)
echo "building etcd ${ETCD_VERSION}..." >&2
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp/etcd" go.etcd.io/etcd/server/v3)
rm -rf "$bin"; mv "$bin.tmp" "$bin"
"$bin/kube-apiserver" --version >&2
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
