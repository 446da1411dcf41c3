# relaymail -- a plain Makefile (pkg-config, no autotools).
#
#   make            build ./relaymail
#   make demo       install what is missing, build, deliver one message
#                   through a local STARTTLS+AUTH server
#   make check      install what is missing, build, run every test
#   make install    PREFIX (/usr/local) and DESTDIR honoured; as root,
#                   creates the group relaymail and installs the binary
#                   root:relaymail 2755 and, when absent, the example
#                   config root:relaymail 0640 (SPEC §6)
#   make install SETGID=no
#                   for packagers and containers: no group, no setgid
#                   bit, no config file (containers configure relaymail
#                   with RELAYMAIL_*; packagers ship conf/ themselves)
#   make deb        a Debian package in .pkg/ (pkg/deb/mkdeb.sh)
#   make test-install  install that package into a fresh Debian 12 root
#                   and send mail through it (tests/test-install.sh)
#   make fuzz       build the libFuzzer harnesses tests/fuzz/*.c (clang)
#   make fuzz-run SECONDS=N
#                   run each harness N seconds (default 60) on its corpus,
#                   FUZZ_JOBS (default: the cores) at a time
#   make check-valgrind
#                   the integration suite with relaymail under valgrind
#                   memcheck: no error, no definite leak
#   make static     ./relaymail-static: statically linked; prints its
#                   size stripped
#   make bench      relaymail against msmtp, side by side (bench/README.md)
#   make bench-smoke  the same, a few runs; delivery, round trips, size
#                   and libraries asserted, no timing (for CI)

PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
LIBDIR	?= $(PREFIX)/lib
MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR	?=
SETGID	?= yes
GROUP	?= relaymail

CC	?= cc
PKGS	= openssl libconfuse
# -Os and no .eh_frame: 135 KB stripped instead of 184 KB at the same
# instruction count per mail (bench/README.md); -g keeps .debug_frame, so
# gdb and valgrind still unwind the unstripped binary.  C needs no
# unwind tables; the .deb takes dpkg-buildflags' flags instead.
CFLAGS	?= -Os -g -fno-asynchronous-unwind-tables
WARN	= -std=c11 -Wall -Wextra -Wformat=2 -Wshadow
ifeq ($(WERROR),1)
WARN	+= -Werror
endif
CPPFLAGS += -D_GNU_SOURCE -DCONF_PATH=\"$(SYSCONFDIR)/relaymail.conf\"
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

MODULES	= addr alias auth conf header log mime msg net priv relay serve smtp \
	  stream tls util
OBJS	= $(MODULES:=.o)
TESTS	= $(wildcard tests/check_*.c)

all: relaymail

relaymail: sendmail.o $(OBJS)
	$(CC) $(LDFLAGS) -o $@ sendmail.o $(OBJS) $(PKG_LIBS)

%.o: %.c $(wildcard *.h)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) -c -o $@ $<

tests/unit: $(TESTS) $(OBJS) $(wildcard *.h)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) -I. \
	    -o $@ $(TESTS) $(OBJS) $(PKG_LIBS) $(CHECK_LIBS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
SAN	= -fsanitize=address,undefined -fno-omit-frame-pointer \
	  -fno-sanitize-recover=undefined
ASAN_OBJS = $(addprefix .asan/,$(OBJS))

.asan/%.o: %.c $(wildcard *.h)
	@mkdir -p .asan
	$(CC) $(WARN) -O1 -g $(SAN) $(CPPFLAGS) $(PKG_CFLAGS) -c -o $@ $<

.asan/relaymail: .asan/sendmail.o $(ASAN_OBJS)
	$(CC) $(SAN) -o $@ .asan/sendmail.o $(ASAN_OBJS) $(PKG_LIBS)

.asan/unit: $(TESTS) $(ASAN_OBJS) $(wildcard *.h)
	$(CC) $(WARN) -O1 -g $(SAN) $(CPPFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) \
	    -I. -o $@ $(TESTS) $(ASAN_OBJS) $(PKG_LIBS) $(CHECK_LIBS)

check-asan: deps
	@$(MAKE) --no-print-directory .asan/relaymail .asan/unit
	@UNIT=.asan/unit RELAYMAIL=.asan/relaymail CK_FORK=no \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    sh tests/run-all.sh

deps:
	@sh tests/deps.sh

# Every relaymail the integration suite starts runs under memcheck
# (tests/valgrind.sh): an error or a definite leak is exit 99 and fails
# that test; reports in .valgrind/logs.  The big bad-input cases shrink
# to 5 and 10 MB (ITEST_BIG_MB): the same code paths, in minutes.
check-valgrind: deps
	@sh tests/deps.sh valgrind
	@$(MAKE) --no-print-directory all
	@rm -rf .valgrind && mkdir -p .valgrind/logs .valgrind/names && \
	    chmod 1777 .valgrind/logs .valgrind/names
	@RELAYMAIL=tests/valgrind.sh ITEST_BIG_MB=5 ITEST_TIMEOUT=120 \
	    /usr/bin/python3 tests/itest.py; r=$$?; \
	    for f in .valgrind/logs/*; do [ -s "$$f" ] && \
	    { echo "== $$f"; cat "$$f"; }; done; exit $$r

# libFuzzer: each tests/fuzz/NAME.c is a harness, built as .fuzz/NAME
# against every module; its seed corpus is tests/fuzz/corpus/NAME/ and
# what a run adds goes to .fuzz/corpus/NAME/ (crashes: .fuzz/NAME-*).
FUZZ_CC	?= clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -fno-omit-frame-pointer -Wno-format-nonliteral
SECONDS	?= 60
FUZZ_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
FUZZ_BINS = $(patsubst tests/fuzz/%.c,.fuzz/%,$(wildcard tests/fuzz/*.c))
FUZZ_OBJS = $(addprefix .fuzz/obj/,$(OBJS))

.fuzz/obj/%.o: %.c $(wildcard *.h)
	@mkdir -p .fuzz/obj
	$(FUZZ_CC) $(WARN) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	    $(CPPFLAGS) $(PKG_CFLAGS) -c -o $@ $<

.fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(WARN) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer $(CPPFLAGS) \
	    $(PKG_CFLAGS) -I. -o $@ $< $(FUZZ_OBJS) $(PKG_LIBS)

.SECONDARY: $(FUZZ_OBJS)

fuzz: fuzz-deps $(FUZZ_BINS)

fuzz-deps:
	@sh tests/deps.sh clang libclang-rt-dev

fuzz-run: fuzz
	@printf '%s\n' $(FUZZ_BINS) | \
	    xargs -P $(FUZZ_JOBS) -I{} sh tests/fuzz/run.sh {} $(SECONDS)

check: deps
	@$(MAKE) --no-print-directory all tests/unit
	@sh tests/run-all.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@bash tests/demo.sh

# A statically linked binary for minimal images, from Debian's static
# archives (libssl-dev, libconfuse-dev ship libssl.a, libcrypto.a,
# libconfuse.a).  glibc's link-time warnings about getaddrinfo/getpwuid
# in a static binary are answered by static_nss.c: lookups stay with
# the files and dns sources that a static libc carries.
STATIC_LIBS = $(shell pkg-config --static --libs $(PKGS) 2>/dev/null)

relaymail-static: sendmail.o $(OBJS) static_nss.o
	$(CC) $(LDFLAGS) -static -o $@ sendmail.o $(OBJS) static_nss.o \
	    $(STATIC_LIBS)

# Kept with its symbols, as ./relaymail is (the benchmark's callgrind
# breakdown needs them); `install -s` or strip(1) for an image.
static: relaymail-static
	@strip -o .static-stripped relaymail-static && \
	    echo "relaymail-static: $$(wc -c < relaymail-static) octets," \
	    "$$(wc -c < .static-stripped) stripped" && rm -f .static-stripped

bench-deps: deps
	@sh bench/deps.sh

bench: bench-deps
	@$(MAKE) --no-print-directory all static
	@/usr/bin/python3 bench/bench.py $(BENCHFLAGS)

bench-smoke: bench-deps
	@$(MAKE) --no-print-directory all static
	@/usr/bin/python3 bench/bench.py --smoke $(BENCHFLAGS)

install: relaymail
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)
	install -m 0755 relaymail $(DESTDIR)$(SBINDIR)/relaymail
	ln -sf relaymail $(DESTDIR)$(SBINDIR)/sendmail
	ln -sf relaymail $(DESTDIR)$(SBINDIR)/mailq
	ln -sf relaymail $(DESTDIR)$(SBINDIR)/newaliases
	ln -sf $(SBINDIR)/relaymail $(DESTDIR)$(LIBDIR)/sendmail
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 man/relaymail.8 $(DESTDIR)$(MANDIR)/man8/relaymail.8
	install -m 0644 man/relaymail.conf.5 \
	    $(DESTDIR)$(MANDIR)/man5/relaymail.conf.5
ifneq ($(SETGID),no)
	@if [ "$$(id -u)" != 0 ]; then \
	    echo "make install: only root can create the group $(GROUP) and" \
	        "install relaymail setgid; run it as root, or use" \
	        "make install SETGID=no" >&2; exit 1; fi
	@getent group $(GROUP) >/dev/null || groupadd --system $(GROUP) \
	    2>/dev/null || addgroup -S $(GROUP) || { echo "make install:" \
	    "cannot create the group $(GROUP) (groupadd or addgroup)" >&2; \
	    exit 1; }
	chown root:$(GROUP) $(DESTDIR)$(SBINDIR)/relaymail
	chmod 2755 $(DESTDIR)$(SBINDIR)/relaymail
	@test -e $(DESTDIR)$(SYSCONFDIR)/relaymail.conf || \
	    install -D -m 0640 -o root -g $(GROUP) conf/relaymail.conf \
	    $(DESTDIR)$(SYSCONFDIR)/relaymail.conf
endif

# The Debian package: one hardened build with Debian's build flags (a
# set-group-id program), packaged by dpkg-deb; DEB_REVISION counts
# packagings of one upstream version.
VERSION	= $(shell sed -n 's/.*define[[:space:]]*RELAYMAIL_VERSION[[:space:]]*"\(.*\)"/\1/p' sendmail.c)
DEB_REVISION ?= 1
DEB_BUILDFLAGS = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags
DEB_FLAGS = $(shell $(DEB_BUILDFLAGS) --get CPPFLAGS) \
	    $(shell $(DEB_BUILDFLAGS) --get CFLAGS) \
	    $(shell $(DEB_BUILDFLAGS) --get LDFLAGS)

.pkg/relaymail: sendmail.c $(OBJS:.o=.c) $(wildcard *.h)
	@mkdir -p .pkg
	$(CC) $(WARN) $(CPPFLAGS) $(DEB_FLAGS) $(PKG_CFLAGS) -o $@ \
	    sendmail.c $(OBJS:.o=.c) $(PKG_LIBS)

deb:
	@sh tests/deps.sh dpkg-dev
	@$(MAKE) --no-print-directory .pkg/relaymail
	@sh pkg/deb/mkdeb.sh .pkg/relaymail $(VERSION)-$(DEB_REVISION) .pkg

# Needs root (debootstrap, chroot); TEST_INSTALL_CACHE keeps the Debian
# root and the downloaded packages between runs.
test-install: deb deps
	@sh tests/deps.sh debootstrap
	@bash tests/test-install.sh .pkg/relaymail $(VERSION)

clean:
	rm -f relaymail relaymail-static sendmail.o static_nss.o $(OBJS) \
	    tests/unit
	rm -rf .demo .asan .pkg .fuzz .valgrind

.PHONY: all deps check check-asan check-valgrind demo install deb \
	test-install clean fuzz fuzz-deps fuzz-run static bench bench-deps \
	bench-smoke
