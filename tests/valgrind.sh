#!/bin/sh
# make check-valgrind: the integration suite runs this in place of
# ./relaymail (RELAYMAIL=tests/valgrind.sh).  Memcheck reports an error
# or a definite leak as exit 99, which no test expects, so any of them
# fails the test that ran it; the report is kept in .valgrind/logs.
#
# relaymail picks its mode by the name it is called under (mailq,
# newaliases), so valgrind runs a link with this script's own name.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${VALGRIND_RELAYMAIL:-$top/relaymail}
name=$(basename "$0")
[ "$name" = valgrind.sh ] && name=relaymail
dir=$top/.valgrind/names
mkdir -p "$dir" "$top/.valgrind/logs"
[ -L "$dir/$name" ] || ln -sf "$bin" "$dir/$name" 2>/dev/null || true
exec valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --track-fds=no --log-file="$top/.valgrind/logs/vg.%p" \
    "$dir/$name" "$@"
