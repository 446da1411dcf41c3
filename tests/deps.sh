#!/bin/sh
# Install what building and testing relaymail needs on Debian 12, once.
# As root: apt-get update (only when something is missing), then
# apt-get install.  Otherwise: say which packages to install, and fail.
# Arguments name more packages a target needs (make deb: dpkg-dev).
set -eu

PKGS="gcc make pkg-config libssl-dev libconfuse-dev check openssl \
ca-certificates python3 python3-aiosmtpd time util-linux mandoc groff-base $*"

# tests/it_serve.py drives -bs with Symfony Mailer, the real client that
# calls "sendmail -bs" (about 18 MB of Debian packages).
PKGS="$PKGS php-cli php-symfony-mailer"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "relaymail needs these Debian packages:$missing" >&2
	echo "install them with:  sudo apt-get install$missing" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
