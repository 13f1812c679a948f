#!/usr/bin/env bash
# Makes the reverse-proxy image of the real-node LB + Ingress demo (docs/usage.md):
# lbspeaker.lab/haproxy:2.6, Debian bookworm's haproxy package on a minbase root made with
# mmdebstrap, as tools/build-image.sh makes its base (no registry is reachable here, so no
# haproxy image can be pulled). The lab imports it into every node's containerd next to the
# lbspeaker image. Cached under ~/.cache/lbspeaker/proxy by its package set and this script:
# about a minute cold, a second warm.
# Prints the path of its docker-archive on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${LBSPEAKER_CACHE:-$HOME/.cache/lbspeaker}"
die() { echo "build-proxy-image: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (podman's rootful storage, as the lab uses it)"
for tool in podman mmdebstrap; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; run tools/setup.sh"
done

# shellcheck source=tools/debian-minbase.sh
source "$here/debian-minbase.sh"
name=lbspeaker.lab/haproxy:2.6
packages=haproxy
key="$(cat "$here/build-proxy-image.sh" "$here/debian-minbase.sh" | sha256sum | cut -c1-16)"
out="$cache_root/proxy/$key"
archive="$out/haproxy.tar"
if [ -f "$archive" ]; then
	echo "$archive"
	exit 0
fi

rootfs="$out/rootfs.tar"
echo "build-proxy-image: mmdebstrap bookworm with $packages, under a minute" >&2
minbase_tar "$packages" "$rootfs" || die "mmdebstrap failed (see above)"
# 65532: the same unprivileged user as the lbspeaker image; the demo's proxy listens on ports
# above 1024 and writes nothing, so it needs no capability and a read-only root is enough.
podman import --quiet --change 'ENTRYPOINT ["/usr/sbin/haproxy"]' --change 'USER 65532:65532' \
	"$rootfs" "$name" >/dev/null || die "podman import of $rootfs failed"
rm -f "$rootfs"
podman save --quiet --format docker-archive --output "$archive.partial" "$name" ||
	die "podman save failed"
mv "$archive.partial" "$archive"
echo "$archive"
