#!/usr/bin/env bash
# Installs everything lbspeaker's tests and demo need on a Debian machine, idempotently:
# Debian packages, the virtualenv in .venv, and the locally built control plane.
# A second run only checks stamps and exits in about a second.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "setup: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces and raw sockets need it); retry with sudo"

# iproute2: ip netns/link; iputils-ping, arping, ndisc6: probes in tests; openssl: lab certificates;
# bird2: the real BGP router in tests; procps: ps/pgrep for diagnostics; curl: the LB + Ingress
# demo's client (`curl --resolve`, as docs/usage.md shows it).
# The real-node tier (docs/real-nodes.md): containerd, runc and the CNI plugins run each node's
# Pods; iptables and conntrack serve kube-proxy; podman, buildah and mmdebstrap build the image
# on a locally made Debian base (no registry is reachable).
apt_packages=(iproute2 iputils-ping arping ndisc6 openssl bird2 procps curl
	containerd runc containernetworking-plugins iptables conntrack podman buildah mmdebstrap)
missing=()
for p in "${apt_packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: apt-get install ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || die "apt-get update failed; check the Debian mirror configuration"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
	# BIRD's Debian service is of no use to the lab (tests start their own instances).
	systemctl disable --now bird 2>/dev/null || true
	# Nor is a machine-wide containerd: each lab node starts its own.
	systemctl disable --now containerd 2>/dev/null || true
fi

python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python >= 3.11 is required ($python is older)"
venv="$repo/.venv"
lock="$repo/tools/requirements.lock"
stamp="$venv/.installed-$(cat "$repo/pyproject.toml" "$lock" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
	echo "setup: creating $venv" >&2
	[ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || die "python -m venv failed (Debian: apt-get install python3-venv)"
	"$venv/bin/pip" install -q --disable-pip-version-check -c "$lock" -e "$repo[dev]" || die "pip install failed"
	rm -f "$venv"/.installed-*
	touch "$stamp"
fi

bin_dir="$(bash "$repo/tools/build-control-plane.sh" | tail -n 1)"
ln -sfn "$bin_dir" "$repo/.venv/kube-bin"
ln -sfn "$(bash "$repo/tools/build-helm.sh" | tail -n 1)" "$repo/.venv/bin/helm"  # charts/ tests
node_bin_dir="$(bash "$repo/tools/build-node-binaries.sh" | tail -n 1)"
ln -sfn "$node_bin_dir" "$repo/.venv/node-bin"
echo "setup: ready (control plane binaries in $bin_dir, kubelet and kube-proxy in $node_bin_dir)" >&2
