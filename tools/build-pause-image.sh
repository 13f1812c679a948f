#!/usr/bin/env bash
# Makes the Pods' sandbox image of the real-node lab, lbspeaker.lab/pause:1, from the pause
# binary that tools/build-node-binaries.sh builds (registry.k8s.io/pause cannot be pulled
# here). A single static binary in an empty image; cached next to the binary.
# Prints the path of its docker-archive on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "build-pause-image: $*" >&2; exit 1; }
command -v buildah >/dev/null 2>&1 || die "buildah is missing; run tools/setup.sh"

bin_dir="$(bash "$here/build-node-binaries.sh" | tail -n 1)"
archive="$bin_dir/pause-image.tar"
name=lbspeaker.lab/pause:1
if [ -f "$archive" ]; then
	echo "$archive"
	exit 0
fi
container="$(buildah from scratch)"
trap 'buildah rm "$container" >/dev/null 2>&1 || true' EXIT
buildah copy --quiet "$container" "$bin_dir/pause" /pause >/dev/null
# 65535: the nobody-like user the usual pause image runs as; it needs no rights at all.
buildah config --entrypoint '["/pause"]' --user 65535:65535 "$container"
buildah commit --quiet --rm "$container" "$name" >/dev/null
trap - EXIT
buildah push --quiet "$name" "docker-archive:$archive.partial:$name" ||
	die "buildah push to $archive failed"
mv "$archive.partial" "$archive"
echo "$archive"
