#!/bin/sh
# mkdeb.sh BINARY VERSION OUTDIR -- build relaymail_VERSION_ARCH.deb with
# dpkg-deb from the source tree it is run in (make deb runs it).
#
# A binary package built directly, without debian/rules and debhelper:
# the package is one binary, two man pages and a conffile, and this way
# `make deb` needs only dpkg-dev (for dpkg-shlibdeps) on top of what
# building relaymail needs.  What debhelper would do is done here: the
# Depends from the libraries' shlibs/symbols, gzip -9n man pages,
# md5sums, root-owned files, the conffile list, the maintainer scripts.
#
# Prints the path of the package on the last line.
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 BINARY VERSION OUTDIR" >&2
	exit 64
fi
bin=$1
version=$2
out=$3
here=$(dirname "$0")

arch=$(dpkg --print-architecture)
pkg="$out/relaymail_${version}_${arch}.deb"
root="$out/root"
rm -rf "$root"
mkdir -p "$root/DEBIAN"
umask 022

d() {
	install -d "$root/$1"
}

# The program and the names it answers to (sendmail(8) SYNOPSIS).
d usr/sbin
install -m 0755 "$bin" "$root/usr/sbin/relaymail"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$root/usr/sbin/relaymail"
for n in sendmail mailq newaliases; do
	ln -s relaymail "$root/usr/sbin/$n"
done
d usr/lib
ln -s ../sbin/relaymail "$root/usr/lib/sendmail"

# The configuration: root-only until postinst gives it to the group, so
# the password an administrator writes into it is never world-readable.
d etc
install -m 0640 conf/relaymail.conf "$root/etc/relaymail.conf"
echo /etc/relaymail.conf >"$root/DEBIAN/conffiles"

# Manual pages, compressed as Debian policy 12.1 asks; `man sendmail`
# finds relaymail(8).
d usr/share/man/man8
d usr/share/man/man5
gzip -9n <man/relaymail.8 >"$root/usr/share/man/man8/relaymail.8.gz"
gzip -9n <man/relaymail.conf.5 \
    >"$root/usr/share/man/man5/relaymail.conf.5.gz"
for n in sendmail mailq newaliases; do
	ln -s relaymail.8.gz "$root/usr/share/man/man8/$n.8.gz"
done

# Documentation and the provider recipes.
doc=usr/share/doc/relaymail
d $doc/examples
install -m 0644 LICENSE "$root/$doc/copyright"
install -m 0644 README.md "$root/$doc/README.md"
for f in conf/*.conf; do
	case $f in
	conf/demo.conf) ;;	# needs the source tree's test CA
	*) install -m 0644 "$f" "$root/$doc/examples/" ;;
	esac
done

# Debian policy 12.7 wants a changelog; lintian is told that the
# configuration's mode is on purpose (it holds the password).
when=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")
cat <<EOF | gzip -9n >"$root/$doc/changelog.Debian.gz"
relaymail ($version) unstable; urgency=medium

  * Built with make deb (pkg/deb/mkdeb.sh).

 -- relaymail developers <relaymail@example.org>  $when
EOF
d usr/share/lintian/overrides
echo "relaymail: non-standard-file-perm 0640 != 0644 [etc/relaymail.conf]" \
    >"$root/usr/share/lintian/overrides/relaymail"

install -m 0755 "$here/postinst" "$here/postrm" "$root/DEBIAN/"

# Depends: what dpkg-shlibdeps derives from the libraries' symbols files,
# run in a scratch tree because it insists on reading debian/control.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/debian"
: >"$scratch/debian/control"
cp "$root/usr/sbin/relaymail" "$scratch/relaymail"
shlibs=$(cd "$scratch" && dpkg-shlibdeps -O -e relaymail 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "mkdeb.sh: dpkg-shlibdeps failed" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: relaymail
Version: $version
Architecture: $arch
Maintainer: relaymail developers <relaymail@example.org>
Installed-Size: $size
Depends: $shlibs, passwd
Recommends: ca-certificates
Provides: mail-transport-agent
Conflicts: mail-transport-agent
Replaces: mail-transport-agent
Section: mail
Priority: optional
Description: sendmail that relays to one smarthost over SMTP with TLS and AUTH
 relaymail is a drop-in /usr/sbin/sendmail for hosts without a mail
 server of their own: cron, mailx and daemons hand it a message, it
 completes the header as a Message Submission Agent does and relays it
 to the one configured smarthost (a provider, or the company relay)
 over SMTP submission with STARTTLS or TLS and authentication.
 .
 There is no queue, no daemon and no listening socket.  A message that
 cannot be delivered is kept in the sender's dead.letter.  The program is
 set-group-id relaymail so that local users can send mail without being
 able to read the smarthost password in /etc/relaymail.conf.
EOF

(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print |
    sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$root" "$pkg" >/dev/null
echo "$pkg"
