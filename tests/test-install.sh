#!/bin/bash
# test-install.sh BINARY VERSION -- install relaymail's Debian package into
# a fresh Debian 12 root and send mail through it the way a user would.
#
#   make test-install      (builds BINARY first; needs root)
#
# 1. A Debian 12 (bookworm) minbase root made by debootstrap is cached in
#    $TEST_INSTALL_CACHE (default .cache/test-install), together with
#    apt's package lists and every .deb apt downloads, so only the first
#    run downloads much.  Each run works on a fresh copy of that root and
#    throws it away.
# 2. Two packages are built from BINARY (VERSION-1 and VERSION-2), so that
#    an upgrade is a real one.
# 3. In the copy: apt installs VERSION-1 (its Depends from the archive),
#    then cron and bsd-mailx, which must take relaymail as their
#    mail-transport-agent instead of pulling in exim4.  relaymail is set
#    up for tests/smarthost.py, run on this host's 127.0.0.1 (the chroot
#    shares the network), and an unprivileged user runs
#    `echo hi | mail -s test root`; the message must arrive authenticated,
#    over TLS, with every address qualified.  Then the upgrade to
#    VERSION-2 (the edited conffile kept, the modes kept, mail still
#    flows), a reinstall over itself, and a purge that leaves nothing.
#
# Everything runs in a private mount namespace, so the root's /proc goes
# away with the script.  Output: one line per check, then
# "test-install: N passed, M failed"; exit 1 when a check failed.

# dpkg-query's ${Field}s below are not the shell's:
# shellcheck disable=SC2016
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 BINARY VERSION" >&2
	exit 64
fi
if [ "$(id -u)" != 0 ]; then
	echo "test-install: needs root (debootstrap, chroot, dpkg)" >&2
	exit 77
fi
if [ -z "${TEST_INSTALL_NS:-}" ]; then
	exec env TEST_INSTALL_NS=1 unshare --mount --propagation private \
	    bash "$0" "$@"
fi

top=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
version=$2
cache=${TEST_INSTALL_CACHE:-$top/.cache/test-install}
mirror=${TEST_INSTALL_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
user=tester@example.org
password='ti-S3cret pw:9731'
t0=$(date +%s)

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	echo "ok   $*"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL $*"
}
# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	local what=$1
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		fail "$what"
		printf '%s\n' "$out" | tail -n 20 | sed 's/^/     /'
	fi
}
# same WHAT WANT GOT: two strings must be equal.
same() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		fail "$1"
		echo "     want: $2"
		echo "     got:  $3"
	fi
}
# Setup that must work for the rest to mean anything.
die() {
	echo "test-install: $*" >&2
	echo "test-install: $passed passed, $((failed + 1)) failed"
	exit 1
}
elapsed() {
	echo "-- $* ($(($(date +%s) - t0)) s)"
}

# -- 1. the cached Debian root --------------------------------------------

base=$cache/$suite
mkdir -p "$cache/archives/partial" "$cache/lists/partial"
if [ ! -e "$base/.complete" ]; then
	echo "-- debootstrap $suite (minbase) from $mirror into $base"
	rm -rf --one-file-system "$base.new"
	debootstrap --variant=minbase "$suite" "$base.new" "$mirror" \
	    >"$cache/debootstrap.log" 2>&1 ||
	    die "debootstrap failed; see $cache/debootstrap.log"
	# Its package lists seed the cached ones; its .debs are installed.
	cp -a "$base.new/var/lib/apt/lists/." "$cache/lists/"
	rm -rf "$base.new/var/cache/apt/archives/"*.deb
	touch "$base.new/.complete"
	rm -rf --one-file-system "$base"
	mv "$base.new" "$base"
fi
elapsed "cached root ready"

work=$(mktemp -d "${TMPDIR:-/tmp}/relaymail-test-install.XXXXXX")
root=$work/root
smarthost_pid=
cleanup() {
	local p
	if [ -n "$smarthost_pid" ]; then
		kill "$smarthost_pid" 2>/dev/null || true
		wait "$smarthost_pid" 2>/dev/null || true
	fi
	# any daemon a maintainer script started in the root despite
	# policy-rc.d: end it by its id before the root goes
	for p in /proc/[0-9]*; do
		if [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ]; then
			kill "${p#/proc/}" 2>/dev/null || true
		fi
	done
	for m in proc dev/pts var/cache/apt/archives var/lib/apt/lists; do
		umount "$root/$m" 2>/dev/null || true
	done
	if [ -n "${TEST_INSTALL_KEEP:-}" ]; then
		echo "-- kept $work"
	else
		rm -rf --one-file-system "$work"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

cp -a "$base" "$root"
mount -t proc proc "$root/proc"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
mount --bind "$cache/archives" "$root/var/cache/apt/archives"
mount --bind "$cache/lists" "$root/var/lib/apt/lists"
# No daemon starts in the root (cron's postinst would start one).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
echo "127.0.0.1 localhost" >"$root/etc/hosts"
# A throw-away root needs neither dpkg's fsync per file nor translated
# package descriptions (32 MB).
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/test-install"
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/99test-install"
elapsed "fresh copy of the root in $root"

in_root() {
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}
# as_user CMD: a login-less shell of the unprivileged user in the root
as_user() {
	chroot --userspec=alice:alice "$root" env -i HOME=/home/alice \
	    USER=alice LOGNAME=alice PATH=/usr/bin:/bin LC_ALL=C.UTF-8 \
	    /bin/sh -c "cd && $1"
}

same "the root is Debian 12" 12 "$(cut -d. -f1 "$root/etc/debian_version")"

# -- 2. two packages -------------------------------------------------------

# mkdeb REVISION: build VERSION-REVISION, copy it into the root, and
# print its path there.
mkdeb() {
	local d=$work/deb$1 deb
	mkdir -p "$d"
	(cd "$top" && sh pkg/deb/mkdeb.sh "$bin" "$version-$1" "$d") \
	    >"$d.log" 2>&1 || die "mkdeb.sh $version-$1 failed: $(cat "$d.log")"
	deb=$(tail -n 1 "$d.log")
	cp "$deb" "$root/tmp/"
	echo "/tmp/$(basename "$deb")"
}
deb1=$(mkdeb 1)
deb2=$(mkdeb 2)
elapsed "built $deb1 and $deb2"

# -- 3. install ------------------------------------------------------------

in_root apt-get update -qq >"$work/apt-update.log" 2>&1 ||
    die "apt-get update failed: $(tail -n 5 "$work/apt-update.log")"
elapsed "apt-get update"
check "apt-get install ./relaymail_$version-1 (with its Depends)" \
    in_root apt-get install -y -q "$deb1"
elapsed "relaymail installed"

same "relaymail $version-1 is installed" "install ok installed $version-1" \
    "$(in_root dpkg-query -W -f='${Status} ${Version}' relaymail)"
for f in /usr/sbin/sendmail /usr/lib/sendmail /usr/sbin/relaymail \
    /usr/sbin/mailq /usr/sbin/newaliases /etc/relaymail.conf \
    /usr/share/man/man8/relaymail.8.gz /usr/share/man/man5/relaymail.conf.5.gz; do
	same "dpkg -S $f names relaymail" "relaymail: $f" \
	    "$(in_root dpkg -S "$f" 2>&1)"
done
same "sendmail, mailq, newaliases and /usr/lib/sendmail lead to relaymail" \
    "/usr/sbin/relaymail" \
    "$(for l in /usr/sbin/sendmail /usr/sbin/mailq /usr/sbin/newaliases \
        /usr/lib/sendmail; do in_root readlink -f "$l"; done | sort -u)"
check "group relaymail exists" in_root getent group relaymail
same "/usr/sbin/relaymail is root:relaymail 2755" "root:relaymail 2755" \
    "$(in_root stat -c '%U:%G %a' /usr/sbin/relaymail)"
same "/etc/relaymail.conf is root:relaymail 640" "root:relaymail 640" \
    "$(in_root stat -c '%U:%G %a' /etc/relaymail.conf)"
same "/etc/relaymail.conf is a conffile" "/etc/relaymail.conf" \
    "$(in_root dpkg-query -W -f='${Conffiles}' relaymail | awk 'NF {print $1}')"
same "sendmail -bp answers as mailq" "Mail queue is empty" \
    "$(in_root /usr/sbin/sendmail -bp 2>&1)"
check "man relaymail.8 and relaymail.conf.5 are readable" \
    sh -c "zcat '$root/usr/share/man/man8/relaymail.8.gz' | grep -q '^.Dt RELAYMAIL 8' &&
        zcat '$root/usr/share/man/man5/relaymail.conf.5.gz' | grep -q '^.Dt RELAYMAIL.CONF 5'"

check "apt-get install bsd-mailx cron (recommends too)" \
    in_root apt-get install -y -q bsd-mailx cron
elapsed "bsd-mailx and cron installed"
same "relaymail is the only mail-transport-agent" "relaymail" \
    "$(in_root dpkg-query -W -f='${db:Status-Abbrev}${Package} ${Provides}\n' |
        awk '/^ii/ && /mail-transport-agent/ {print $2}')"
same "no exim4 or postfix came along" "" \
    "$(in_root dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' |
        awk '/^ii/ && $2 ~ /^(exim4|postfix)/ {print $2}')"

# -- configure for the test smarthost --------------------------------------

"$top/tests/mkcerts.sh" "$work/certs" || die "mkcerts.sh failed"
mkdir -p "$work/spool"
/usr/bin/python3 "$top/tests/smarthost.py" --listen 127.0.0.1 --port 0 \
    --port-file "$work/port" --spool "$work/spool" --tls starttls \
    --cert "$work/certs/server.pem" --key "$work/certs/server.key" \
    --user "$user" --password "$password" --timeout 30 \
    >"$work/smarthost.log" 2>&1 &
smarthost_pid=$!
for _ in $(seq 100); do
	[ -s "$work/port" ] && break
	sleep 0.1
done
[ -s "$work/port" ] || die "smarthost did not start: $(cat "$work/smarthost.log")"
port=$(cat "$work/port")

install -d "$root/etc/relaymail"
install -m 0644 "$work/certs/ca.pem" "$root/etc/relaymail/test-ca.pem"
# The administrator edits the conffile in place: owner and mode stay.
cat >"$root/etc/relaymail.conf" <<EOF
# written by tests/test-install.sh
host = "localhost"
port = $port
tls = starttls
tls_ca_file = "/etc/relaymail/test-ca.pem"
user = "$user"
password = '$password'
domain = "example.org"
timeout = 20
EOF
conf_sum=$(md5sum <"$root/etc/relaymail.conf")
in_root useradd -m -s /bin/sh alice

same "alice runs with her own group only" "alice" "$(as_user "id -Gn")"
check "alice cannot read /etc/relaymail.conf" \
    sh -c "! chroot --userspec=alice:alice '$root' cat /etc/relaymail.conf"

# wait_msg N: wait until the smarthost has spooled message N
wait_msg() {
	for _ in $(seq 300); do
		[ -e "$work/spool/msg-$1.json" ] && return 0
		sleep 0.1
	done
	return 1
}

# check_msg N: message N is alice's "test" to root, qualified and
# authenticated over TLS.
check_msg() {
	/usr/bin/python3 - "$work/spool/msg-$1" "$user" <<'EOF'
import email, email.policy, json, sys
base, user = sys.argv[1], sys.argv[2]
meta = json.load(open(base + ".json"))
msg = email.message_from_bytes(open(base + ".eml", "rb").read(),
                               policy=email.policy.default)
problems = []
def want(what, got, exp):
    if got != exp:
        problems.append("%s: %r, want %r" % (what, got, exp))
want("authenticated as", meta["auth_user"], user)
want("TLS", meta["tls"], True)
want("envelope sender", meta["mail_from"], "alice@example.org")
want("envelope recipients", meta["rcpt_tos"], ["root@example.org"])
want("From address", msg["From"].addresses[0].addr_spec, "alice@example.org")
want("To", [a.addr_spec for a in msg["To"].addresses], ["root@example.org"])
want("Subject", str(msg["Subject"]), "test")
want("body", msg.get_content().strip(), "hi")
for h in ("Date", "Message-ID", "Received"):
    if msg[h] is None:
        problems.append("no %s field" % h)
if problems:
    print("\n".join(problems))
    sys.exit(1)
EOF
}

# send N: alice mails root; message N must arrive as it should.
send() {
	check "alice: echo hi | mail -s test root (message $1)" \
	    as_user "echo hi | mail -s test root"
	if wait_msg "$1"; then
		check "message $1 arrived authenticated, over TLS, qualified" \
		    check_msg "$1"
	else
		fail "message $1 did not arrive at the smarthost"
		sed 's/^/     /' "$work/smarthost.log" | tail -n 20
	fi
	same "alice has no dead.letter" "" \
	    "$(ls "$root/home/alice/dead.letter" 2>/dev/null)"
}

send 1
elapsed "mail from alice delivered"

# -- 4. upgrade, and over itself -------------------------------------------

modes() {
	in_root stat -c '%U:%G %a' /usr/sbin/relaymail /etc/relaymail.conf |
	    tr '\n' ' '
}
check "dpkg -i relaymail_$version-2 (upgrade)" in_root dpkg -i "$deb2"
same "relaymail $version-2 is installed" "install ok installed $version-2" \
    "$(in_root dpkg-query -W -f='${Status} ${Version}' relaymail)"
same "the edited /etc/relaymail.conf is kept" "$conf_sum" \
    "$(md5sum <"$root/etc/relaymail.conf")"
same "modes kept across the upgrade" \
    "root:relaymail 2755 root:relaymail 640 " "$(modes)"
send 2
check "dpkg -i relaymail_$version-2 again (over itself)" \
    in_root dpkg -i "$deb2"
same "modes kept across the reinstall" \
    "root:relaymail 2755 root:relaymail 640 " "$(modes)"
send 3
elapsed "upgraded and reinstalled"

# -- 5. purge --------------------------------------------------------------

files=$(in_root dpkg-query -L relaymail)
check "apt-get purge relaymail bsd-mailx" \
    in_root apt-get purge -y -q relaymail bsd-mailx
same "relaymail is gone from dpkg's database" "" \
    "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' relaymail 2>/dev/null |
        grep -v '^un' || true)"
# Left behind: a path of the package that is still there, was not in the
# pristine root, and belongs to no other package (cron's directories).
left=""
for f in $files; do
	if { [ -e "$root$f" ] || [ -L "$root$f" ]; } &&
	    ! { [ -e "$base$f" ] || [ -L "$base$f" ]; } &&
	    ! in_root dpkg -S "$f" >/dev/null 2>&1; then
		left="$left $f"
	fi
done
same "nothing the package installed is left" "" "$left"
same "nothing of /etc/relaymail.conf is left" "" \
    "$(ls -d "$root"/etc/relaymail.conf* 2>/dev/null)"
same "group relaymail is gone" "" \
    "$(in_root getent group relaymail || true)"
check "dpkg -S /usr/sbin/sendmail finds nothing" \
    sh -c "! chroot '$root' dpkg -S /usr/sbin/sendmail"

elapsed "done"
echo "test-install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
