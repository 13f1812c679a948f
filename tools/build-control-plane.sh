#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go module proxy
# (release binary downloads are not reachable here) into a cache keyed by the pins, so a
# second run, or CI on a machine that built before, costs nothing.
# Prints the directory holding the binaries on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${LBSPEAKER_CACHE:-$HOME/.cache/lbspeaker}"

die() { echo "build-control-plane: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH; install Go >= 1.24 (Debian: apt-get install golang-go) and retry"

pin="$(cat "$here/kube/go.mod" "$here/kube/go.sum" "$here/etcd/go.mod" "$here/etcd/go.sum" \
	"$here/build-control-plane.sh" | sha256sum | cut -c1-16)"
out="$cache_root/bin/$pin"
binaries=(kube-apiserver kube-controller-manager kubectl etcd)

all_present() {
	local b
	for b in "${binaries[@]}"; do [ -x "$out/$b" ] || return 1; done
}

if all_present; then
	echo "$out"
	exit 0
fi

mkdir -p "$out.partial"
kube_version="$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$here/kube/go.mod")"
[ -n "$kube_version" ] || die "cannot read the k8s.io/kubernetes pin from tools/kube/go.mod"
major="${kube_version#v}"; major="${major%%.*}"
minor="${kube_version#v*.}"; minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
# The version the apiserver reports on /version (and kubectl version) comes from these
# variables, which the upstream Makefile sets the same way.
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

export CGO_ENABLED=0 GOFLAGS=-mod=mod
echo "build-control-plane: building Kubernetes $kube_version and etcd into $out (cold build: 10-20 min on 2 cores)" >&2
(
	cd "$here/kube"
	for cmd in kube-apiserver kube-controller-manager kubectl; do
		echo "build-control-plane: go build $cmd" >&2
		go build -trimpath -ldflags "$ldflags" -o "$out.partial/$cmd" "k8s.io/kubernetes/cmd/$cmd" ||
			die "go build $cmd failed (see the compiler output above)"
	done
)
(
	cd "$here/etcd"
	echo "build-control-plane: go build etcd" >&2
	go build -trimpath -ldflags "-s -w" -o "$out.partial/etcd" go.etcd.io/etcd/server/v3 ||
		die "go build etcd failed (see the compiler output above)"
)
rm -rf "$out"
mv "$out.partial" "$out"
all_present || die "build finished but binaries are missing in $out"
echo "$out"
