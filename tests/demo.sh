#!/bin/sh
# demo.sh -- what `make demo` runs after building ./relaymail.
#
# Starts a local SMTP submission server (tests/smarthost.py: STARTTLS, AUTH
# required, test CA from tests/mkcerts.sh) on localhost port 10587, pipes a
# cron-like message through `./relaymail -C conf/demo.conf -v` so the SMTP
# dialogue shows, then prints the message exactly as the server received
# it. Everything it writes goes to .demo/ at the top of the tree.
# Exits with relaymail's status.
set -eu

cd "$(dirname "$0")/.."
demo=.demo
port=10587
python=/usr/bin/python3

if [ ! -x ./relaymail ]; then
	echo "demo: ./relaymail is not built (run make)" >&2
	exit 1
fi

mkdir -p "$demo"
tests/mkcerts.sh "$demo"
# A config holding a password must not be world-readable (relaymail warns);
# git checks files out 0644.
chmod go-rwx conf/demo.conf 2>/dev/null || :
rm -rf "$demo/spool"
rm -f "$demo/port"

"$python" tests/smarthost.py --listen localhost --port "$port" \
    --port-file "$demo/port" --spool "$demo/spool" \
    --cert "$demo/server.pem" --key "$demo/server.key" --tls starttls \
    --user demo@example.org --password 'correct horse battery staple' \
    -v 2>"$demo/smarthost.log" &
server=$!

# shellcheck disable=SC2317  # called by the EXIT trap
stop_server() {
	if kill -0 "$server" 2>/dev/null; then
		kill "$server" 2>/dev/null || :
		wait "$server" 2>/dev/null || :
	fi
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

i=0
while [ ! -s "$demo/port" ]; do
	if ! kill -0 "$server" 2>/dev/null || [ "$i" -ge 100 ]; then
		echo "demo: the test SMTP server did not start:" >&2
		cat "$demo/smarthost.log" >&2
		exit 1
	fi
	sleep 0.1
	i=$((i + 1))
done

host=$(hostname 2>/dev/null || echo host)

echo "== smarthost: localhost:$port, STARTTLS, AUTH as demo@example.org"
echo "== cron pipes its job's output to:"
echo "   ./relaymail -C conf/demo.conf -v -FCronDaemon -i -B8BITMIME -oem root"
echo

status=0
./relaymail -C conf/demo.conf -v -FCronDaemon -i -B8BITMIME -oem root <<EOF || status=$?
To: root
Subject: Cron <root@$host> backup
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit
X-Cron-Env: <SHELL=/bin/sh>
X-Cron-Env: <HOME=/root>
X-Cron-Env: <LOGNAME=root>

backup: archiving /srv/data
backup: contents of /var/backups (ls -a):
.
..
data-2024-05-01.tar.gz
data-2024-05-02.tar.gz
backup: 2 archives, 12 MiB, done
EOF

echo
echo "== relaymail exit status: $status"
if [ -s "$demo/spool/msg-1.eml" ]; then
	echo "== the message as the server received it ($demo/spool/msg-1.eml):"
	echo
	cat "$demo/spool/msg-1.eml"
	echo
	echo "== envelope and session ($demo/spool/msg-1.json):"
	"$python" -c '
import json, sys
m = json.load(open(sys.argv[1]))
print("   MAIL FROM:<%s>  RCPT TO:%s" % (m["mail_from"],
      " ".join("<%s>" % r for r in m["rcpt_tos"])))
print("   TLS: %s %s, AUTH %s as %s" % (m["tls_version"], m["tls_cipher"],
      m["auth_mechanism"], m["auth_user"]))' "$demo/spool/msg-1.json"
else
	echo "== the server received no message; see $demo/spool/transcript.log"
	if [ -s "$demo/dead.letter" ]; then
		echo "== the message was kept in $demo/dead.letter"
	fi
fi
exit "$status"
