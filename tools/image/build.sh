#!/usr/bin/env bash
# Builds the operator's container image without any container registry (issue 11 item 2):
#
#  1. the base image (localhost/sectigo-base:bookworm), unless podman has it already: Debian
#     bookworm minbase + python3 + python3-venv made with debootstrap from deb.debian.org, with
#     bookworm-updates and bookworm-security applied; docs, man pages, locales, apt lists and host
#     files (hostname, resolv.conf) removed. Its root filesystem tarball is kept in .image-cache/
#     (gitignored), so an emptied podman store is refilled by `podman import` alone;
#  2. the operator image (localhost/sectigo-operator:dev) from ./Dockerfile, with
#     --build-arg BASE pinned to the base image's digest. Its dependencies stage installs from
#     PyPI; podman's layer cache makes a second run take seconds, and a code change rebuilds the
#     package's layer only.
#
# podman runs through tools/image/podman.sh (the flags this kind of machine needs). podman, runc
# and debootstrap are installed with apt-get when missing (root only).
#
# Usage: tools/image/build.sh [--rebuild-base]
#   --rebuild-base  run debootstrap again (new Debian updates) and re-import the base
# Environment:
#   SECTIGO_IMAGE          the image to build (localhost/sectigo-operator:dev)
#   SECTIGO_BASE_IMAGE     the local base image (localhost/sectigo-base:bookworm)
#   SECTIGO_BASE_REF       build on this base instead, e.g. a registry's image pinned by digest
#                          (nothing is debootstrapped; podman may pull it)
#   SECTIGO_IMAGE_CACHE    the cache folder (<repo>/.image-cache)
#   SECTIGO_BUILD_CA_BUNDLE CA bundle for pip in the builder (default: PIP_CERT,
#                          REQUESTS_CA_BUNDLE, SSL_CERT_FILE, /etc/ssl/certs/ca-certificates.crt)
#   DEBIAN_MIRROR          http://deb.debian.org/debian
#   DEBIAN_SECURITY_MIRROR http://deb.debian.org/debian-security
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PODMAN="$REPO_ROOT/tools/image/podman.sh"
SUITE=bookworm
IMAGE="${SECTIGO_IMAGE:-localhost/sectigo-operator:dev}"
BASE_IMAGE="${SECTIGO_BASE_IMAGE:-localhost/sectigo-base:$SUITE}"
CACHE_DIR="${SECTIGO_IMAGE_CACHE:-$REPO_ROOT/.image-cache}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
TARBALL="$CACHE_DIR/sectigo-base-$SUITE.tar"
REBUILD_BASE=false

for arg in "$@"; do
  case "$arg" in
    --rebuild-base) REBUILD_BASE=true ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build.sh: unknown argument $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

say() { echo "build.sh: $*" >&2; }

APT_UPDATED=false
# apt_install PACKAGE...: install what is missing, or explain how when we cannot.
apt_install() {
  if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing: $* (install them, e.g. as root: apt-get install --no-install-recommends $*)"
    exit 1
  fi
  say "installing $* with apt-get"
  if [[ "$APT_UPDATED" == false ]]; then
    apt-get update -qq
    APT_UPDATED=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- the container engine ----------------------------------------------------------------------
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
runtime="${SECTIGO_PODMAN_RUNTIME:-runc}" # the OCI runtime tools/image/podman.sh uses
command -v "$runtime" >/dev/null 2>&1 || missing+=("$runtime")
if [[ ${#missing[@]} -gt 0 ]]; then
  apt_install "${missing[@]}"
fi

mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock"
flock 9 # one build at a time per cache folder

has_image() { "$PODMAN" image exists "$1"; }

# --- 1. the base image --------------------------------------------------------------------------
ROOTFS=""
cleanup_rootfs() {
  [[ -n "$ROOTFS" && -d "$ROOTFS" ]] || return 0
  local mp
  # debootstrap mounts proc and sys inside the target; never delete through a mount
  for mp in "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev/pts"; do
    if mountpoint -q "$mp" 2>/dev/null; then umount -l "$mp" || true; fi
  done
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup_rootfs EXIT

make_tarball() {
  local need=()
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  [[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]] || need+=(debian-archive-keyring)
  if [[ ${#need[@]} -gt 0 ]]; then
    apt_install "${need[@]}"
  fi
  if [[ $EUID -ne 0 ]]; then
    say "debootstrap needs root"
    exit 1
  fi
  ROOTFS="$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")"
  say "debootstrap $SUITE (minbase + python3, python3-venv) from $MIRROR"
  local started=$SECONDS
  if ! debootstrap --variant=minbase --include=python3,python3-venv --components=main \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1; then
    tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
    say "debootstrap failed (log: $CACHE_DIR/debootstrap.log)"
    exit 1
  fi
  cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
  # later apt-get installs (in images built on this one) stay small too
  cat >"$ROOTFS/etc/apt/apt.conf.d/90sectigo-base" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
  cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/90sectigo-base" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  say "applying $SUITE-updates and $SUITE-security"
  chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get update -qq && apt-get upgrade -y -qq && apt-get clean' \
    >>"$CACHE_DIR/debootstrap.log" 2>&1 || {
    tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
    say "upgrading the base failed (log: $CACHE_DIR/debootstrap.log)"
    exit 1
  }
  # shellcheck disable=SC2016 # dpkg-query's format, not the shell's
  chroot "$ROOTFS" dpkg-query -W -f '${Package}=${Version}\n' \
    >"$CACHE_DIR/sectigo-base-$SUITE.packages"
  (
    cd "$ROOTFS"
    rm -rf var/lib/apt/lists/* var/cache/apt/* var/cache/debconf/*-old tmp/* var/tmp/* \
      usr/share/man/* usr/share/info/* usr/share/locale/*
    find usr/share/doc -mindepth 1 -not -type d -not -name copyright -delete
    find usr/share/doc -mindepth 1 -depth -type d -empty -delete
    find var/log -type f -delete
    find dev -mindepth 1 -delete # the runtime provides /dev
    rm -f etc/hostname etc/hosts
    : >etc/resolv.conf # the runtime provides these; do not ship the build host's
  )
  tar --numeric-owner --xattrs --xattrs-include='*' --one-file-system -C "$ROOTFS" \
    -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  cleanup_rootfs
  say "base root filesystem: $TARBALL ($(du -m "$TARBALL" | cut -f1) MB, $((SECONDS - started)) s)"
}

if [[ -n "${SECTIGO_BASE_REF:-}" ]]; then
  BASE_REF="$SECTIGO_BASE_REF"
  PULL=missing
else
  PULL=never # everything local: no registry is ever asked
  if [[ "$REBUILD_BASE" == true ]] || ! has_image "$BASE_IMAGE"; then
    if [[ "$REBUILD_BASE" == true || ! -s "$TARBALL" ]]; then
      make_tarball
    fi
    say "importing $TARBALL as $BASE_IMAGE"
    description="Debian $SUITE minbase + python3 (debootstrap)"
    "$PODMAN" import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/bash"]' \
      --change "LABEL org.opencontainers.image.title=sectigo-base" \
      --change "LABEL org.opencontainers.image.description=\"$description\"" \
      --message "debootstrap $SUITE minbase + python3 + python3-venv" \
      "$TARBALL" "$BASE_IMAGE" >/dev/null
  fi
  digest="$("$PODMAN" image inspect --format '{{.Digest}}' "$BASE_IMAGE")"
  name="$BASE_IMAGE"
  [[ "${name##*/}" == *:* ]] && name="${name%:*}" # drop the tag, keep a registry port
  BASE_REF="$name@$digest"
fi

# --- 2. the operator image ----------------------------------------------------------------------
# pip in the builder trusts what this host trusts (a TLS-inspecting proxy's CA, for one): the
# bundle is a build secret, mounted for the one step that downloads and kept out of every layer.
build_flags=()
ca_bundle="${SECTIGO_BUILD_CA_BUNDLE:-${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}}"
[[ -f "$ca_bundle" ]] || ca_bundle=/etc/ssl/certs/ca-certificates.crt
if [[ -f "$ca_bundle" ]]; then
  build_flags+=(--secret "id=ca-bundle,src=$ca_bundle")
fi
previous="$("$PODMAN" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
say "building $IMAGE on $BASE_REF"
started=$SECONDS
"$PODMAN" build \
  --pull="$PULL" \
  --network host \
  --layers \
  "${build_flags[@]}" \
  --build-arg "BASE=$BASE_REF" \
  --tag "$IMAGE" \
  --file "$REPO_ROOT/Dockerfile" \
  "$REPO_ROOT" >&2
current="$("$PODMAN" image inspect --format '{{.Id}}' "$IMAGE")"
if [[ -n "$previous" && "$previous" != "$current" ]]; then
  # the image this tag had before, if nothing else names it (its layers stay cached)
  "$PODMAN" image rm "$previous" >/dev/null 2>&1 || true
fi
size_mb=$(($("$PODMAN" image inspect --format '{{.Size}}' "$IMAGE") / 1000000))
say "built $IMAGE (${current:0:12}, $size_mb MB) in $((SECONDS - started)) s"
echo "$IMAGE"
