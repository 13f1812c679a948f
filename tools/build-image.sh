#!/usr/bin/env bash
# Builds the lbspeaker image from the repository's Dockerfile, unchanged, with podman on a
# Debian bookworm base made locally with mmdebstrap (no registry is reachable here, so
# python:3.11-slim-bookworm cannot be pulled; the Dockerfile's PYTHON_IMAGE argument points it at
# the local base instead). Both are cached under ~/.cache/lbspeaker: the base by its package
# set, the image by the hash of its build context, so a second run costs about a second.
# Prints the path of a docker-archive of the image on its last line (`ctr images import` and
# `podman load` read it); the sizes are in sizes.env next to it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${LBSPEAKER_CACHE:-$HOME/.cache/lbspeaker}"
die() { echo "build-image: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (podman's rootful storage, as the lab uses it)"
for tool in podman mmdebstrap; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; run tools/setup.sh"
done

tag="$(sed -n 's/^# *Build: docker build -t \([^ ]*\) .*/\1/p' "$repo/Dockerfile")"
[ -n "$tag" ] || die "cannot read the image tag from the Dockerfile's '# Build:' line"

# runc refuses podman's default rlimits on this kind of host ("error setting rlimit type 7"):
# a container may not ask for more than the host's hard limits. Stay within them.
nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=4194304
[ "$nofile" -gt 1024 ] && nofile=1024
[ "$nproc" -gt 4096 ] && nproc=4096
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

# --- the base: what python:3.11-slim-bookworm gives, from Debian's own packages ---------------
# python3.11-venv: the Dockerfile makes a virtualenv.
# shellcheck source=tools/debian-minbase.sh
source "$repo/tools/debian-minbase.sh"
base_packages="python3.11,python3.11-venv,ca-certificates"
base_key="$(printf '%s\n' bookworm minbase "$base_packages" "${minbase_dpkg_opts[@]}" | sha256sum | cut -c1-16)"
base_tar="$cache_root/base/bookworm-$base_key.tar"
base_image="localhost/lbspeaker-base:bookworm-$base_key"
if [ ! -f "$base_tar" ]; then
	echo "build-image: mmdebstrap bookworm base ($base_packages), about a minute" >&2
	minbase_tar "$base_packages" "$base_tar" || die "mmdebstrap failed (see above)"
fi
if ! podman image exists "$base_image"; then
	podman import --quiet "$base_tar" "$base_image" >/dev/null || die "podman import of $base_tar failed"
fi

# --- the image: the Dockerfile as users build it ---------------------------------------------
# The build context is what .dockerignore lets in; hash the same files plus the base.
context_key="$(
	cd "$repo"
	{
		echo "$base_key"
		sha256sum Dockerfile .dockerignore pyproject.toml README.md tools/requirements.lock \
			tools/build-image.sh
		find lbspeaker -path lbspeaker/lab -prune -o -name __pycache__ -prune -o -type f \
			-name '*.py' -print0 | sort -z | xargs -0 sha256sum
	} | sha256sum | cut -c1-16
)"
out="$cache_root/image/$context_key"
archive="$out/lbspeaker.tar"
if [ -f "$archive" ] && [ -f "$out/sizes.env" ]; then
	# Podman's own store may have been pruned since: the tests run the image from it.
	loaded="$(podman image inspect --format '{{index .Labels "io.lbspeaker.context"}}' "$tag" 2>/dev/null || true)"
	if [ "$loaded" != "$context_key" ]; then
		podman load --quiet --input "$archive" >/dev/null || die "podman load $archive failed"
	fi
	echo "$archive"
	exit 0
fi

mkdir -p "$out"
echo "build-image: podman build $tag on $base_image" >&2
started=$SECONDS
# pip inside the build reaches the package index only with the host's CA bundle and pip
# configuration (this machine's network goes through a TLS-inspecting proxy).
mounts=(--volume /etc/ssl/certs:/etc/ssl/certs:ro)
[ -f /etc/pip.conf ] && mounts+=(--volume /etc/pip.conf:/etc/pip.conf:ro)
podman build --quiet --pull=never --network host "${ulimits[@]}" "${mounts[@]}" \
	--build-arg "PYTHON_IMAGE=$base_image" --label "io.lbspeaker.context=$context_key" \
	--tag "$tag" "$repo" >/dev/null || die "podman build failed (see above)"
build_seconds=$((SECONDS - started))

image_bytes="$(podman image inspect --format '{{.Size}}' "$tag")"
base_bytes="$(podman image inspect --format '{{.Size}}' "$base_image")"
rm -f "$archive"
# Under the name a kubelet resolves `image: lbspeaker:0.1.0` to; podman's own is localhost/...
podman tag "$tag" "docker.io/library/$tag"
podman save --quiet --format docker-archive --output "$archive.partial" "docker.io/library/$tag" ||
	die "podman save failed"
mv "$archive.partial" "$archive"
cat >"$out/sizes.env" <<EOF
tag=$tag
image_bytes=$image_bytes
base_bytes=$base_bytes
own_layers_bytes=$((image_bytes - base_bytes))
build_seconds=$build_seconds
EOF
echo "build-image: $tag: $((image_bytes / 1000000)) MB, of which the project's own layers $(((image_bytes - base_bytes) / 1000000)) MB (base $((base_bytes / 1000000)) MB); built in ${build_seconds} s" >&2
echo "$archive"
