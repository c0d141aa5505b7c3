#!/usr/bin/env bash
# Build a local Debian 12 base image with python3 and PostgreSQL 15 from a debootstrap rootfs,
# for machines that cannot pull public images (the project's test machines). Real deployments use
# public images instead (see deploy/README.md). Cached: does nothing when the tag already exists.
#   deploy/local/build-base.sh [TAG]     (default kestra-dagster-local/debian-python:bookworm)
# Needs root, debootstrap and a reachable Debian mirror (DEBIAN_MIRROR, default deb.debian.org).
set -euo pipefail
TAG="${1:-kestra-dagster-local/debian-python:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG already exists"; exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }
WORK="$(mktemp -d /tmp/kd-rootfs.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
debootstrap --variant=minbase \
  --include=python3,python3-venv,ca-certificates,postgresql-15,procps \
  bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
# Slim the rootfs: apt caches, docs, man pages, locales other than C.
chroot "$WORK/rootfs" apt-get clean
rm -rf "$WORK/rootfs"/var/lib/apt/lists/* "$WORK/rootfs"/usr/share/doc/* "$WORK/rootfs"/usr/share/man/* \
       "$WORK/rootfs"/usr/share/locale/* "$WORK/rootfs"/var/cache/debconf/*-old
tar -C "$WORK/rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/15/bin' \
  -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
echo "built $TAG"
