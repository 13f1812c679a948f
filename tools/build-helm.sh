#!/usr/bin/env bash
# Builds helm from the Go module proxy (release downloads are not reachable here) into a cache
# keyed by the pin, like the control plane: a second run, or CI on a machine that built
# before, costs nothing. The chart's tests run `helm lint` and `helm template` with it.
# Prints the path of the helm binary on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${LBSPEAKER_CACHE:-$HOME/.cache/lbspeaker}"

die() { echo "build-helm: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH; install Go >= 1.24 (Debian: apt-get install golang-go) and retry"

pin="$(cat "$here/helm/go.mod" "$here/helm/go.sum" "$here/build-helm.sh" | sha256sum | cut -c1-16)"
out="$cache_root/helm/$pin"
if [ -x "$out/helm" ]; then
	echo "$out/helm"
	exit 0
fi

helm_version="$(sed -n 's/^require helm.sh\/helm\/v3 \(v[0-9.]*\)$/\1/p' "$here/helm/go.mod")"
[ -n "$helm_version" ] || die "cannot read the helm.sh/helm/v3 pin from tools/helm/go.mod"
mkdir -p "$out.partial"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
echo "build-helm: go build helm $helm_version into $out (cold build: a few minutes on 2 cores)" >&2
(
	cd "$here/helm"
	# The version variables upstream's Makefile sets: helm's own, and the Kubernetes version
	# `helm template` and `helm lint` assume (client-go's minor; v0.34 is Kubernetes 1.34).
	client_go="$(go list -f '{{.Version}}' -m k8s.io/client-go)"
	kube_minor="$(echo "$client_go" | cut -d. -f2)"
	ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
	for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
		ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$kube_minor"
	done
	go build -trimpath -ldflags "$ldflags" -o "$out.partial/helm" helm.sh/helm/v3/cmd/helm ||
		die "go build helm failed (see the compiler output above)"
)
rm -rf "$out"
mv "$out.partial" "$out"
[ -x "$out/helm" ] || die "build finished but $out/helm is missing"
echo "$out/helm"
