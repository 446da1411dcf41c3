#!/bin/sh
# Install what `make bench` and `make bench-smoke` need on Debian 12, on
# top of tests/deps.sh (build and test packages): msmtp (the client we
# compare with), valgrind (callgrind counts instructions), time (GNU time
# reports a child's peak RSS), binutils (strip, readelf).
# As root: apt-get update (only when something is missing), then
# apt-get install.  Otherwise: say which packages to install, and fail.
set -eu

PKGS="msmtp valgrind time binutils"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "the benchmark needs these Debian packages:$missing" >&2
	echo "install them with:  sudo apt-get install$missing" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
