#!/usr/bin/env bash
# Builds what the real-node lab runs besides the light lab's control plane: kubelet and
# kube-proxy for each node and kube-scheduler to place Pods, from the same k8s.io/kubernetes
# pin as the control plane (tools/kube/go.mod), and the Pods' sandbox ("pause") binary from
# tools/pause. Cached by the pins like the control plane.
# Prints the directory holding the binaries on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${LBSPEAKER_CACHE:-$HOME/.cache/lbspeaker}"

die() { echo "build-node-binaries: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH; install Go >= 1.24 and retry"

pin="$(cat "$here/kube/go.mod" "$here/kube/go.sum" "$here/pause/go.mod" "$here/pause/main.go" \
	"$here/build-node-binaries.sh" | sha256sum | cut -c1-16)"
out="$cache_root/node-bin/$pin"
binaries=(kubelet kube-proxy kube-scheduler pause)

all_present() {
	local b
	for b in "${binaries[@]}"; do [ -x "$out/$b" ] || return 1; done
}

if all_present; then
	echo "$out"
	exit 0
fi

kube_version="$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$here/kube/go.mod")"
[ -n "$kube_version" ] || die "cannot read the k8s.io/kubernetes pin from tools/kube/go.mod"
major="${kube_version#v}"; major="${major%%.*}"
minor="${kube_version#v*.}"; minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

# The node commands import packages of modules that the control plane's do not, so `go build`
# must add their requirements to go.mod. It does that in a copy: the control plane's pin files
# (and so its cache key) stay as they are, and the versions still come from k8s.io/kubernetes's
# own requirements, the same module graph the apiserver was built from.
module="$cache_root/node-build/$pin"
rm -rf "$module" "$out.partial"
mkdir -p "$module" "$out.partial"
cp "$here/kube/go.mod" "$here/kube/go.sum" "$module/"
printf 'package tools\n' >"$module/tools.go"

export CGO_ENABLED=0 GOFLAGS=-mod=mod
echo "build-node-binaries: building kubelet, kube-proxy and kube-scheduler $kube_version into $out (cold build: 5-10 min on 2 cores)" >&2
(
	cd "$module"
	for cmd in kubelet kube-proxy kube-scheduler; do
		echo "build-node-binaries: go build $cmd" >&2
		go build -trimpath -ldflags "$ldflags" -o "$out.partial/$cmd" "k8s.io/kubernetes/cmd/$cmd" ||
			die "go build $cmd failed (see the compiler output above)"
	done
)
(
	cd "$here/pause"
	go build -trimpath -ldflags "-s -w" -o "$out.partial/pause" . || die "go build pause failed"
)
rm -rf "$out" "$module"
mv "$out.partial" "$out"
all_present || die "build finished but binaries are missing in $out"
echo "$out"
