#!/bin/sh
# make check-valgrind: the integration suite runs this in place of
# ./relaymail (RELAYMAIL=tests/valgrind.sh).  Memcheck reports an error
# or a definite leak as exit 99, which no test expects, so any of them
# fails the test that ran it; the reports go to .valgrind/logs.
#
# relaymail picks its mode by the name it is called under (mailq,
# newaliases; tests call this script through links of those names), so
# valgrind runs a link to relaymail of the same name.  exec keeps the
# process the caller started, so the tests' signals reach valgrind,
# which passes them on.  Some tests run it as another user: the
# directories are world-writable and sticky (make check-valgrind).
set -eu
# a standard descriptor the caller closed must reach relaymail closed,
# whatever the shell opens on it in between (tests/it_badinput.py)
closed=""
for fd in 0 1 2; do
	[ -e /proc/$$/fd/$fd ] || closed="$closed $fd"
done
self=$(readlink -f "$0")
top=$(cd "$(dirname "$self")/.." && pwd)
bin=${VALGRIND_RELAYMAIL:-$top/relaymail}
name=$(basename "$0")
[ "$name" = valgrind.sh ] && name=relaymail
vg=$top/.valgrind
for d in "$vg/logs" "$vg/names"; do
	[ -d "$d" ] || { mkdir -p "$d" && chmod 1777 "$d"; } 2>/dev/null || :
done
[ -L "$vg/names/$name" ] || ln -s "$bin" "$vg/names/$name" 2>/dev/null || :
for fd in $closed; do
	eval "exec $fd>&-"
done
# --log-fd, not --log-file: valgrind would open the file on a closed
# fd 0 and answer relaymail's reads there with EBADF; a given fd it moves
# out of the way ($$ is valgrind's pid after exec)
exec 9>>"$vg/logs/vg.$$"
exec valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --log-fd=9 "$vg/names/$name" "$@"
