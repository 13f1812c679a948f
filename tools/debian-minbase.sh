# Sourced by tools/build-image.sh and tools/build-proxy-image.sh: a Debian bookworm root made
# with mmdebstrap from this machine's apt sources (no registry is reachable here, so no base
# image can be pulled), documentation and locales left out as the official slim images do.

minbase_dpkg_opts=(path-exclude=/usr/share/man/* path-exclude=/usr/share/doc/*
	path-include=/usr/share/doc/*/copyright path-exclude=/usr/share/info/*
	path-exclude=/usr/share/locale/*)

# minbase_tar PACKAGES OUT: `mmdebstrap --variant=minbase` with PACKAGES (comma-separated) into
# the tar OUT, written as OUT.partial first so that an interrupted run leaves no half file.
minbase_tar() {
	local packages="$1" out="$2" opt
	local sources=/etc/apt/sources.list.d/debian.sources  # the host's (deb822)
	[ -f "$sources" ] || sources=http://deb.debian.org/debian
	local dpkg_args=()
	for opt in "${minbase_dpkg_opts[@]}"; do dpkg_args+=(--dpkgopt="$opt"); done
	mkdir -p "$(dirname "$out")"
	mmdebstrap --quiet --format=tar --variant=minbase --include="$packages" "${dpkg_args[@]}" \
		bookworm "$out.partial" "$sources" || return 1
	mv "$out.partial" "$out"
}
