"""The bad-input matrix of issue 11: hostile or broken input through the
real binary.  Each case asserts that relaymail was not killed by a
signal, finished within a bound, and either delivered the message with
its body intact (decoded where mime.c had to convert it) or exited with
a sysexits status and kept the complete input in dead.letter.

The two big cases (a 50 MB line, a 100 MB message) also measure the
child's peak RSS with /usr/bin/time -f %M (Python's own wait4 would
count this process too) and print it, for the issue's closing note; the
bound on it holds for the plain binary only (AddressSanitizer keeps freed
memory in quarantine, valgrind is itself the process measured).  make
check-valgrind sets ITEST_BIG_MB=5, making them 5 MB and 10 MB: the same
paths through the code at a tenth of valgrind's hour.
"""

import email
import email.policy
import os
import random
import re
import subprocess
import tempfile
import time

from itest import RelaymailTestCase, BINARY, VALGRIND

RCPT = "rcpt@example.com"
BOUND = 120            # seconds, for every case but the big ones
BIG_BOUND = 300
BIG_MB = int(os.environ.get("ITEST_BIG_MB", "50"))
PLAIN = not ("/.asan/" in BINARY or VALGRIND)
RSS_MAX_KIB = 64 * 1024
SYSEXITS = range(64, 79)
TIME = "/usr/bin/time"


def norm_lines(data):
    """The input's lines as relaymail reads them (LF, CRLF, CR all end a
    line; a missing final newline is supplied)."""
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def is_field(line):
    m = re.match(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:", line)
    return m is not None


def split_input(data):
    """(header lines, body lines) as msg.c splits them: a leading mbox
    From_ line is dropped; the header ends at an empty line or at the
    first line that is neither a field nor a fold of one."""
    lines = norm_lines(data)
    i = 1 if lines and lines[0].startswith(b"From ") else 0
    head = []
    while i < len(lines):
        line = lines[i]
        if line == b"":
            i += 1
            break
        if line[:1] in (b" ", b"\t") and head or is_field(line):
            head.append(line)
            i += 1
            continue
        break
    return head, lines[i:]


def received_body(eml, input_head):
    """The body of a delivered message as a reader sees it: decoded when
    relaymail added a transfer encoding the input did not have."""
    msg = email.message_from_bytes(eml, policy=email.policy.compat32)
    raw = eml.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in eml else b""
    had = any(l.lower().startswith(b"content-transfer-encoding")
              for l in input_head)
    cte = (msg.get("Content-Transfer-Encoding") or "").lower()
    if not had and cte in ("quoted-printable", "base64"):
        return msg.get_payload(decode=True)
    return raw


def unmbox(dl):
    """dead.letter's text with one '>' taken off each />+From / line."""
    out = []
    for line in dl.split(b"\n"):
        if re.match(rb">+From ", line):
            line = line[1:]
        out.append(line)
    return b"\n".join(out)


class BadInput(RelaymailTestCase):
    """Each case: a server that takes anything, then one run."""

    serial = True       # big inputs: no parallel neighbours to time out

    def setUp(self):
        super().setUp()
        self.start_server(extra=["--size", "0", "--ext", "PIPELINING"])
        self.write_config()

    # -- running --------------------------------------------------------

    def run_raw(self, stdin_fd, args, bound, close=(), measure=False):
        """Run with stdin_fd as standard input (None: closed) and the fds
        in close closed; returns (status, stderr, elapsed, peak KiB)."""
        argv = [BINARY, "-C", self.conf] + list(args)
        if measure:
            argv = [TIME, "-f", "%M", "-o",
                    os.path.join(self.tmp, "rss")] + argv
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RELAYMAIL") and k != "NAME"}
        env["HOME"] = self.home
        errpath = os.path.join(self.tmp, "stderr")

        def child():
            for fd in close:
                os.close(fd)
            if stdin_fd is None:
                os.close(0)
        with open(errpath, "wb") as err:
            t0 = time.monotonic()
            p = subprocess.Popen(argv, stdin=stdin_fd if stdin_fd is not None
                                 else subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err,
                                 env=env, cwd=self.tmp, preexec_fn=child)
            try:
                status = p.wait(bound)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.fail("relaymail did not finish within %ss" % bound)
            elapsed = time.monotonic() - t0
        with open(errpath, "rb") as f:
            stderr = f.read().decode("utf-8", "replace")
        rss = None
        if measure:
            with open(os.path.join(self.tmp, "rss")) as f:
                txt = f.read()
            m = re.search(r"Command terminated by signal (\d+)", txt)
            self.assertIsNone(m, "relaymail killed by a signal: %s" % txt)
            rss = int(txt.strip().splitlines()[-1])
        return status, stderr, elapsed, rss

    def run_input(self, data, *args, bound=BOUND, measure=False):
        """data on stdin from a file (big inputs need no pipe feeder)."""
        path = os.path.join(self.tmp, "input")
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            return self.run_raw(f.fileno(), args, bound, measure=measure)

    # -- the outcome ------------------------------------------------------

    def assertOutcome(self, data, status, stderr, nmsg=1):
        """Delivered with the body intact, or a sysexits status with the
        whole input in dead.letter."""
        self.assertGreaterEqual(status, 0, "killed by signal %d" % -status)
        if status == 0:
            msgs = self.server.messages()
            self.assertEqual(len(msgs), nmsg, "exit 0 but %d messages at "
                             "the server; stderr: %s" % (len(msgs), stderr))
            head, body = split_input(data)
            want = b"".join(l + b"\r\n" for l in body)
            got = received_body(msgs[0][0], head)
            self.assertEqual(len(got), len(want), "body length differs")
            self.assertTrue(got == want, "body differs")
            return "delivered"
        self.assertIn(status, SYSEXITS, "exit %d is not a sysexits status; "
                      "stderr: %s" % (status, stderr))
        self.assertTrue(stderr.strip(), "no diagnostic for exit %d" % status)
        path = os.path.join(self.home, "dead.letter")
        self.assertTrue(os.path.exists(path), "exit %d without dead.letter"
                        % status)
        with open(path, "rb") as f:
            dl = f.read()
        head, body = split_input(data)
        want = b"".join(head + body)
        got = unmbox(dl).replace(b"\n", b"")
        self.assertIn(want, got, "dead.letter lacks part of the input")
        return "kept, exit %d" % status

    def case(self, data, *args, bound=BOUND, nmsg=1):
        status, err, elapsed, _ = self.run_input(data, *args, bound=bound)
        self.assertLess(elapsed, bound)
        return self.assertOutcome(data, status, err, nmsg), err

    # -- the matrix -------------------------------------------------------

    def test_bi01_empty_input(self):
        """Empty input: a message with the fix-ups and no body."""
        self.case(b"", RCPT)

    def test_bi02_headers_only(self):
        self.case(b"To: rcpt@example.com\nSubject: only headers", RCPT)

    def test_bi03_header_line_without_colon(self):
        """The line without a colon starts the body, as in sendmail."""
        out, _ = self.case(b"Subject: s\nthis line has no colon\nX-A: b\n\n"
                           b"body\n", RCPT)
        self.assertEqual(out, "delivered")

    def test_bi04_20000_header_lines(self):
        data = b"".join(b"X-Line-%05d: value %d\n" % (i, i)
                        for i in range(20000)) + b"\nbody\n"
        out, _ = self.case(data, RCPT)
        self.assertEqual(out, "delivered")
        eml = self.server.messages()[0][0]
        self.assertIn(b"\r\nX-Line-19999: value 19999\r\n", eml)

    def test_bi05_one_50mb_line(self):
        """A 50 MB body line: converted (a line may not exceed 998 octets,
        RFC 5322 §2.1.1) and decoded back exactly; peak RSS printed."""
        data = (b"To: rcpt@example.com\nSubject: one long line\n\n" +
                b"0123456789" * (BIG_MB * 100000) + b"\n")
        status, err, elapsed, rss = self.run_input(
            data, RCPT, bound=BIG_BOUND, measure=True)
        self.assertEqual(self.assertOutcome(data, status, err), "delivered")
        print("\n    peak RSS, one %d MB line: %d KiB (%.1f s)"
              % (BIG_MB, rss, elapsed), end=" ")
        if PLAIN:
            self.assertLess(rss, RSS_MAX_KIB, "memory grew with the message")

    def test_bi06_100mb_message(self):
        """100 MB of ordinary lines: spooled, not held in memory."""
        line = b"a line of an ordinary report, seventy-odd octets long ....\n"
        data = (b"To: rcpt@example.com\nSubject: big\n\n" +
                line * (2 * BIG_MB * 1024 * 1024 // len(line)))
        status, err, elapsed, rss = self.run_input(
            data, RCPT, bound=BIG_BOUND, measure=True)
        self.assertEqual(self.assertOutcome(data, status, err), "delivered")
        print("\n    peak RSS, %d MB message: %d KiB (%.1f s)"
              % (2 * BIG_MB, rss, elapsed), end=" ")
        if PLAIN:
            self.assertLess(rss, RSS_MAX_KIB, "memory grew with the message")

    def test_bi07_nul_in_header_and_body(self):
        out, _ = self.case(b"To: rcpt@example.com\nSubject: a\x00b\n"
                           b"X-Nul: \x00\n\nbody\x00with\x00nul\n\x00\n",
                           RCPT)
        self.assertEqual(out, "delivered")
        self.assertNotIn(b"\x00", self.server.messages()[0][0])

    def test_bi08_invalid_utf8(self):
        out, _ = self.case(b"To: rcpt@example.com\nSubject: \xc3\x28 \xff\xfe"
                           b"\n\n\xed\xa0\x80 \xc0\xaf \xf8\x88\x80\x80\x80"
                           b"\n", RCPT)
        self.assertEqual(out, "delivered")

    def test_bi09_1mb_random_bytes(self):
        rnd = random.Random(11)
        data = bytes(rnd.getrandbits(8) for _ in range(1024 * 1024))
        self.case(data, RCPT)

    def test_bi10_cr_only_line_endings(self):
        out, _ = self.case(b"To: rcpt@example.com\rSubject: cr\r\rone\rtwo"
                           b"\r\r.\rthree\r", RCPT)
        self.assertEqual(out, "delivered")

    def test_bi11_5000_recipients_t(self):
        """-t with 5,000 recipients in To and Cc: all of them, in
        transactions of 100 (RFC 5321 §4.5.3.1.8)."""
        to = ",\n ".join("u%04d@example.com" % i for i in range(2500))
        cc = ",\n ".join("v%04d@example.com" % i for i in range(2500))
        data = ("To: %s\nCc: %s\nSubject: many\n\nbody\n" % (to, cc)).encode()
        out, _ = self.case(data, "-t", nmsg=50)
        self.assertEqual(out, "delivered")
        got = [r for _, m in self.server.messages() for r in m["rcpt_tos"]]
        self.assertEqual(sorted(got), sorted(
            ["u%04d@example.com" % i for i in range(2500)] +
            ["v%04d@example.com" % i for i in range(2500)]))

    def test_bi12a_deeply_nested_comments_in_from(self):
        """10,000 nested comments, written without a space: one word of
        20,001 octets cannot be folded under 998 (mime.c), so 65 and kept;
        either outcome passes the matrix, this one is what happens."""
        deep = b"(" * 10000 + b"x" + b")" * 10000
        out, err = self.case(b"From: a@example.org " + deep +
                             b"\nTo: rcpt@example.com\n\nbody\n", "-t")
        self.assertEqual(out, "kept, exit 65")
        self.assertIn("too long to fold", err)

    def test_bi12b_nested_comments_foldable(self):
        """The same depth with spaces: From (not a recipient field) goes
        as written, folded."""
        deep = b"( " * 10000 + b"x" + b" )" * 10000
        out, _ = self.case(b"From: a@example.org " + deep +
                           b"\nTo: rcpt@example.com\n\nbody\n", "-t")
        self.assertEqual(out, "delivered")

    def test_bi12c_nested_comments_in_to_t(self):
        """In To with -t: past 64 levels addr.c refuses (65, kept)."""
        deep = b"(" * 65 + b")" * 65
        out, err = self.case(b"To: rcpt@example.com " + deep +
                             b"\n\nbody\n", "-t")
        self.assertEqual(out, "kept, exit 65")
        self.assertIn("nested too deeply", err)

    def test_bi13_100000_char_subject(self):
        out, _ = self.case(b"To: rcpt@example.com\nSubject: " +
                           b"word " * 20000 + b"\n\nbody\n", RCPT)
        self.assertEqual(out, "delivered")

    def test_bi14_leading_mbox_from_line(self):
        out, _ = self.case(b"From alice@example.com Mon Nov 23 10:00:00 2026"
                           b"\nTo: rcpt@example.com\nSubject: mbox\n\n"
                           b"From the start\n>From quoted\n", RCPT)
        self.assertEqual(out, "delivered")
        self.assertNotIn(b"From alice@example.com Mon",
                         self.server.messages()[0][0])

    def test_bi15_10000_char_recipient_argument(self):
        """Over the 256-octet path limit (RFC 5321 §4.5.3.1.3): 64 or 65,
        before any connection."""
        out, err = self.case(b"Subject: x\n\nbody\n",
                             "a" * 10000 + "@example.com")
        self.assertIn(out, ("kept, exit 64", "kept, exit 65"))

    def test_bi16_1000_recipient_arguments(self):
        args = ["r%04d@example.com" % i for i in range(1000)]
        out, _ = self.case(b"Subject: x\n\nbody\n", *args, nmsg=10)
        self.assertEqual(out, "delivered")
        got = [r for _, m in self.server.messages() for r in m["rcpt_tos"]]
        self.assertEqual(got, args)

    def test_bi17_unbalanced_angle(self):
        """-t with "To: <a@b" is refused with 65, the message kept; as an
        argument it is a usage error."""
        out, err = self.case(b"To: <rcpt@example.com\n\nbody\n", "-t")
        self.assertEqual(out, "kept, exit 65")
        self.assertIn("unbalanced", err)
        out, err = self.case(b"Subject: x\n\nbody\n", "<rcpt@example.com")
        self.assertEqual(out, "kept, exit 64")

    def test_bi18_stdin_closed(self):
        """A closed stdin reads as empty (priv.c opens /dev/null)."""
        status, err, _, _ = self.run_raw(None, [RCPT], BOUND)
        self.assertEqual(self.assertOutcome(b"", status, err), "delivered")

    def test_bi19_stdin_a_directory(self):
        """read(2) fails with EISDIR: 74, nothing sent."""
        fd = os.open(self.tmp, os.O_RDONLY | os.O_DIRECTORY)
        try:
            status, err, _, _ = self.run_raw(fd, [RCPT], BOUND)
        finally:
            os.close(fd)
        self.assertEqual(status, 74, err)
        self.assertIn("standard input", err)
        self.assertEqual(self.server.messages(), [])

    def test_bi20_stdout_and_stderr_closed(self):
        data = b"To: rcpt@example.com\nSubject: quiet\n\nbody\n"
        path = os.path.join(self.tmp, "input")
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            status, _, _, _ = self.run_raw(f.fileno(), [RCPT], BOUND,
                                           close=(1, 2))
        self.assertEqual(self.assertOutcome(data, status, ""), "delivered")

    def test_bi21_stdout_stderr_closed_on_failure(self):
        """With stderr closed a failure still ends in dead.letter and a
        status (the diagnostic has nowhere to go)."""
        data = b"To: <rcpt@example.com\n\nbody\n"
        path = os.path.join(self.tmp, "input")
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            status, _, _, _ = self.run_raw(f.fileno(), ["-t"], BOUND,
                                           close=(1, 2))
        self.assertEqual(status, 65)
        self.assertTrue(os.path.exists(os.path.join(self.home, "dead.letter")))

    # -- the documented limits (README "Limits"): refused with a clear
    # -- error, the message kept

    def test_bl1_header_field_over_1mib(self):
        data = (b"To: rcpt@example.com\nX-Big: " + b"y" * (1024 * 1024 + 1)
                + b"\nSubject: after\n\nbody\n")
        out, err = self.case(data, RCPT)
        self.assertEqual(out, "kept, exit 65")
        self.assertIn("header is over relaymail's limits", err)

    def test_bl2_over_100000_header_fields(self):
        data = (b"X-F: v\n" * 100001) + b"\nbody\n"
        out, err = self.case(data, RCPT)
        self.assertEqual(out, "kept, exit 65")
        self.assertIn("100000 fields", err)

    def test_bl3_header_over_16mib(self):
        line = b"X-F: " + b"z" * 1000 + b"\n"
        data = line * (17 * 1024) + b"\nbody\n"
        out, err = self.case(data, RCPT)
        self.assertEqual(out, "kept, exit 65")

    def test_bl4_over_10000_recipients_t(self):
        to = ",\n ".join("u%05d@example.com" % i for i in range(10001))
        out, err = self.case(("To: %s\n\nbody\n" % to).encode(), "-t")
        self.assertEqual(out, "kept, exit 65")
        self.assertIn("more than 10000 recipients", err)
        self.assertEqual(self.server.messages(), [])

    def test_bl5_over_10000_recipient_arguments(self):
        args = ["r%05d@example.com" % i for i in range(10001)]
        out, err = self.case(b"Subject: x\n\nbody\n", *args)
        self.assertEqual(out, "kept, exit 64")
        self.assertIn("more than 10000 recipients", err)

    def test_bl6_10000_recipients_t_work(self):
        """Exactly the limit: delivered to all, in 100 transactions."""
        to = ",\n ".join("u%05d@example.com" % i for i in range(10000))
        out, _ = self.case(("To: %s\n\nbody\n" % to).encode(), "-t",
                           nmsg=100)
        self.assertEqual(out, "delivered")
