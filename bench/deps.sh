#!/bin/sh
# Install what `make bench` and `make bench-smoke` need on Debian 12, on
# top of the build and test packages: msmtp (the client we compare
# with), valgrind (callgrind counts instructions), time (GNU time reports
# a child's peak RSS), binutils (strip, readelf).  tests/deps.sh does the
# installing (as root) or names the apt-get line to run (otherwise).
set -eu
exec sh "$(dirname "$0")/../tests/deps.sh" msmtp valgrind time binutils
