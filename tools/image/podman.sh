#!/usr/bin/env bash
# podman with what it needs on the project's machines, where we are root inside a VM-like sandbox
# without systemd and without CAP_SYS_RESOURCE. Used by tools/image/build.sh and
# tests/e2e/test_image.py; use it by hand the same way: `tools/image/podman.sh images`.
#
# Global flags, always:
#   --runtime runc             crun (podman's default) refuses the hybrid cgroup layout found here
#                              (cgroup v1 controllers plus a v2 mount with a controller):
#                              "cgroups in hybrid mode not supported"; runc takes v1, v2 and hybrid
#   --cgroup-manager cgroupfs  there is no systemd to ask
#   --events-backend file      there is no journald
#   --storage-driver vfs       only when overlay cannot work (graph root on overlayfs, no overlay
#                              in the kernel); native overlay is used otherwise
# Added to `run` and `create`:
#   --ulimit nofile=N:N --ulimit nproc=M:M  rootful podman asks the runtime for 1048576 of both,
#                              which cannot be set without CAP_SYS_RESOURCE ("setrlimit
#                              RLIMIT_NOFILE: Operation not permitted"); N is our hard limit, M is
#                              ours capped at kernel.pid_max (podman lowers its own to that)
#   --log-driver k8s-file      `podman logs` without journald
# Overrides: SECTIGO_PODMAN_RUNTIME (runc), SECTIGO_PODMAN_STORAGE_DRIVER (auto).
set -euo pipefail

if ! command -v podman >/dev/null 2>&1; then
  echo "podman.sh: podman is not installed (tools/image/build.sh installs it)" >&2
  exit 127
fi

storage_driver() {
  if [[ -n "${SECTIGO_PODMAN_STORAGE_DRIVER:-}" ]]; then
    echo "$SECTIGO_PODMAN_STORAGE_DRIVER"
    return
  fi
  local dir=/var/lib/containers
  while [[ ! -e "$dir" ]]; do dir="$(dirname "$dir")"; done
  if [[ "$(stat -f -c %T "$dir")" == overlayfs ]] || ! grep -qw overlay /proc/filesystems; then
    echo vfs
  fi
}

global=(
  --runtime "${SECTIGO_PODMAN_RUNTIME:-runc}"
  --cgroup-manager cgroupfs
  --events-backend file
)
driver="$(storage_driver)"
if [[ -n "$driver" ]]; then
  global+=(--storage-driver "$driver")
fi

if [[ $# -gt 0 && ("$1" == run || "$1" == create) ]]; then
  command="$1"
  shift
  nofile="$(ulimit -Hn)"
  nproc="$(ulimit -Hu)"
  pid_max="$(cat /proc/sys/kernel/pid_max)"
  [[ "$nofile" == unlimited || "$nofile" -gt 1048576 ]] && nofile=1048576
  [[ "$nproc" == unlimited || "$nproc" -gt "$pid_max" ]] && nproc="$pid_max"
  exec podman "${global[@]}" "$command" \
    --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc" --log-driver k8s-file "$@"
fi
exec podman "${global[@]}" "$@"
