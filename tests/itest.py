#!/usr/bin/python3
"""Integration tests: the built relaymail binary against a real SMTP server.

    /usr/bin/python3 tests/itest.py [-k NAME]... [-j JOBS] [--keep] [--list]

Environment:
    RELAYMAIL               the binary under test (default ./relaymail)
    RELAYMAIL_SKIP_INSTALL  when set, skip the `make install` test
    ITEST_TIMEOUT           seconds one relaymail run may take (default 60)
    ITEST_KEEP=1            keep every test's temporary directory

Each test gets a fresh temporary directory holding HOME, a config file and
the spool of its own tests/smarthost.py instance (aiosmtpd, loopback only, a
free port). Certificates come from tests/mkcerts.sh, made once per run.
Output: one line per test, then exactly `integration: N passed, M failed`;
the exit status is non-zero when a test failed.

Python standard library only (plus aiosmtpd inside smarthost.py); run it
with /usr/bin/python3 (Debian's, which has python3-aiosmtpd).
"""

import argparse
import base64
import concurrent.futures
import email.utils
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(TESTS_DIR)
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SMARTHOST = os.path.join(TESTS_DIR, "smarthost.py")
MKCERTS = os.path.join(TESTS_DIR, "mkcerts.sh")

RUN_TIMEOUT = float(os.environ.get("ITEST_TIMEOUT", "60"))
KEEP = os.environ.get("ITEST_KEEP", "") not in ("", "0")

USER = "tester@example.org"
PASSWORD = "it-S3cret-pw-9731"
DOMAIN = "example.org"

CERTS = None          # directory made by mkcerts.sh, set in main()


def find_binary():
    env = os.environ.get("RELAYMAIL")
    if env:
        return os.path.abspath(env)
    for cand in ("./relaymail", os.path.join(TOP, "relaymail")):
        if os.path.exists(cand):
            return os.path.abspath(cand)
    return os.path.abspath("./relaymail")


BINARY = find_binary()
# make check-valgrind: every run goes through tests/valgrind.sh
VALGRIND = os.path.basename(BINARY) == "valgrind.sh"


# ---------------------------------------------------------------- helpers

def crlf(data):
    """Every line ending (CRLF, lone CR, lone LF) as CRLF."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def body_of(msg):
    """The body of a raw input message (after the first empty line)."""
    m = re.search(rb"\r\n\r\n|\n\n|\r\r", msg)
    return msg[m.end():] if m else b""


def split_message(eml):
    """(header fields, body) of a message as spooled (CRLF).
    Each field is (lower-case name, raw bytes incl. continuations and CRLFs)."""
    i = eml.find(b"\r\n\r\n")
    if i < 0:
        head, body = eml, b""
    else:
        head, body = eml[:i + 2], eml[i + 4:]
    fields = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + line)
        else:
            name = line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
            fields.append((name, line))
    return fields, body


def field_value(raw):
    """Unfolded, stripped value of a raw header field."""
    v = raw.split(b":", 1)[1] if b":" in raw else b""
    return re.sub(rb"\r?\n([ \t])", rb"\1", v).strip().decode("utf-8", "replace")


def named(fields, name):
    return [raw for n, raw in fields if n == name.lower()]


def bare_line_ending(data):
    """True if data has a CR or LF that is not part of a CRLF."""
    return re.search(rb"\r(?!\n)|(?<!\r)\n", data) is not None


def transcript_events(raw):
    """Parse smarthost's transcript into a list of connections, each a list of
    (kind, text, tls) with kind C (command), A (SASL response), D (data
    line), S (server) or M (marker); tls tells whether TLS was on in that connection at that point."""
    conns, cur, tls = [], None, False
    for rec in raw.split(b"\n"):
        if not rec:
            continue
        rec = rec[:-1] if rec.endswith(b"\r") else rec
        text = rec[3:].decode("utf-8", "replace")
        if rec.startswith(b"-- "):
            m = text[:-3] if text.endswith(" --") else text
            if re.match(r"connection \d+ from ", m):
                cur, tls = [], False
                conns.append(cur)
            elif m == "TLS started":
                tls = True
            if cur is not None:
                cur.append(("M", m, tls))
        elif rec[:3] in (b"C: ", b"A: ", b"D: ", b"S: ") and cur is not None:
            cur.append((rec[:1].decode(), text, tls))
        elif cur is not None:  # a client line with a bare CR etc.
            cur.append(("C", rec.decode("utf-8", "replace"), tls))
    return conns


def client_commands(raw):
    """[(tls, command line)] for every command any client sent."""
    return [(tls, text) for conn in transcript_events(raw)
            for kind, text, tls in conn if kind == "C"]


def verb(line):
    return line.split(" ", 1)[0].split(":", 1)[0].upper()


class Smarthost:
    """One tests/smarthost.py process."""

    def __init__(self, root, tls="starttls", cert="server", user=USER,
                 password=PASSWORD, auth=True, listen="localhost", extra=()):
        self.dir = os.path.join(root, "smarthost")
        os.makedirs(self.dir)
        self.spool = os.path.join(self.dir, "spool")
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.argv = [PYTHON, SMARTHOST, "--listen", listen, "--port", "0",
                     "--port-file", self.port_file, "--spool", self.spool,
                     "--tls", tls, "--timeout", "30", "-v"]
        if tls != "none":
            self.argv += ["--cert", os.path.join(CERTS, cert + ".pem"),
                          "--key", os.path.join(CERTS, cert + ".key")]
        if auth:
            self.argv += ["--user", user, "--password", password]
        else:
            self.argv += ["--no-auth"]
        self.argv += list(extra)
        self.proc = None
        self.port = None

    def start(self, wait=15.0):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("smarthost did not start: %s" % self.stderr()[-2000:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()

    def stderr(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def messages(self):
        """[(eml bytes, meta dict)] of every completely spooled message, in order."""
        out = []
        if not os.path.isdir(self.spool):
            return out
        nums = sorted(int(m.group(1)) for m in
                      (re.match(r"msg-(\d+)\.json$", f) for f in os.listdir(self.spool)) if m)
        for n in nums:
            base = os.path.join(self.spool, "msg-%d" % n)
            with open(base + ".json") as f:
                meta = json.load(f)
            with open(base + ".eml", "rb") as f:
                out.append((f.read(), meta))
        return out

    def transcript(self, settle=5.0):
        """The raw transcript, once every connection in it has closed
        (the client has exited, so this takes no time unless it hangs)."""
        path = os.path.join(self.spool, "transcript.log")
        deadline = time.monotonic() + settle
        data = b""
        while True:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                data = b""
            opened = len(re.findall(rb"^-- connection \d+ from ", data, re.M))
            closed = len(re.findall(rb"^-- connection \d+ closed --", data, re.M))
            if opened == closed or time.monotonic() > deadline:
                return data
            time.sleep(0.02)


class Run:
    def __init__(self, argv, status, stdout, stderr, elapsed):
        self.argv, self.status = argv, status
        self.stdout, self.stderr = stdout, stderr
        self.elapsed = elapsed

    @property
    def err(self):
        return self.stderr.decode("utf-8", "replace")


# ------------------------------------------------------------ test base

class RelaymailTestCase(unittest.TestCase):
    """Fresh temporary directory, HOME, config and server per test."""

    needs_binary = True
    serial = False      # run alone, after the parallel tests

    def setUp(self):
        self.server = None
        self.runs = []
        self.conf = None
        self.diag = ""
        if self.needs_binary and not os.access(BINARY, os.X_OK):
            self.fail("relaymail binary not found or not executable: %s "
                      "(build it, or set RELAYMAIL)" % BINARY)
        self.tmp = tempfile.mkdtemp(prefix="itest-%s-" % self._testMethodName)
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home, 0o700)

    def tearDown(self):
        if self.server is not None:
            self.server.stop()
        self.diag = self.diagnostics()
        if not KEEP:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def diagnostics(self):
        out = ["temp dir: %s%s" % (self.tmp, "" if KEEP else " (removed; ITEST_KEEP=1 keeps it)")]
        for r in self.runs[-2:]:
            out.append("ran: %s -> exit %s in %.1fs" % (" ".join(r.argv), r.status, r.elapsed))
            if r.stderr:
                out.append("relaymail stderr:\n" + _indent(r.err[-3000:]))
        if self.conf and os.path.exists(self.conf):
            with open(self.conf) as f:
                out.append("config:\n" + _indent(f.read()))
        if self.server is not None:
            t = self.server.transcript(settle=0).decode("utf-8", "replace")
            if t:
                lines = t.splitlines()
                out.append("transcript (last 40 of %d lines):\n" % len(lines)
                           + _indent("\n".join(lines[-40:])))
            e = self.server.stderr().strip()
            if e:
                out.append("smarthost stderr:\n" + _indent(e[-2000:]))
        return "\n".join(out)

    # -- fixtures -------------------------------------------------------

    def start_server(self, **kw):
        self.server = Smarthost(self.tmp, **kw).start()
        return self.server

    def write_config(self, port=None, text=None, **over):
        """Write the config file; keyword arguments override or (None) drop
        keys. Strings are double-quoted, except password (single quotes)
        and the barewords tls/auth."""
        path = os.path.join(self.tmp, "relaymail.conf")
        if text is None:
            opts = {
                "host": "localhost",
                "port": port if port is not None else (self.server.port if self.server else 587),
                "tls": "starttls",
                "tls_ca_file": os.path.join(CERTS, "ca.pem"),
                "auth": "auto",
                "user": USER,
                "password": PASSWORD,
                "helo": "client.example.org",
                "domain": DOMAIN,
                "timeout": 10,
                "syslog": False,
            }
            opts.update(over)
            lines = ["# written by tests/itest.py"]
            for k, v in opts.items():
                if v is None:
                    continue
                if isinstance(v, bool):
                    v = "true" if v else "false"
                elif isinstance(v, int):
                    v = str(v)
                elif k == "password":
                    v = "'%s'" % v
                elif k in ("tls", "auth") and re.match(r"^[a-z0-9-]+$", v):
                    pass
                else:
                    v = '"%s"' % v
                lines.append("%s = %s" % (k, v))
            text = "\n".join(lines) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.conf = path
        return path

    def relaymail(self, msg, *args, conf=None, timeout=RUN_TIMEOUT, env=None):
        """Run the binary with msg on stdin (a pipe). Returns a Run."""
        argv = [BINARY, "-C", conf or self.conf] + list(args)
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("RELAYMAIL") and k not in ("NAME",)}
        e["HOME"] = self.home
        e.update(env or {})
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, input=msg, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=e, cwd=self.tmp,
                               timeout=timeout)
        except subprocess.TimeoutExpired as ex:
            self.runs.append(Run(argv, "timeout", ex.stdout or b"", ex.stderr or b"",
                                 time.monotonic() - t0))
            self.fail("relaymail did not finish within %ss" % timeout)
        r = Run(argv, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)
        self.runs.append(r)
        return r

    def deliver(self, msg, *args, **kw):
        """Run, expect exit 0 and exactly one spooled message; return (eml, meta)."""
        r = self.relaymail(msg, *args, **kw)
        self.assertEqual(r.status, 0, "relaymail failed: %s" % r.err.strip())
        msgs = self.server.messages()
        self.assertEqual(len(msgs), 1, "expected exactly one message at the server")
        return msgs[0]

    # -- assertions -----------------------------------------------------

    def assertExit(self, r, status):
        self.assertEqual(r.status, status, "exit status %s, expected %s; stderr: %s"
                         % (r.status, status, r.err.strip()))

    def assertNothingSpooled(self):
        self.assertEqual(self.server.messages(), [], "a message reached the server")

    def assertNoCommand(self, verbs, tls=None):
        """No client command with one of these verbs (only before TLS if tls=False)."""
        tr = self.server.transcript()
        bad = [line for on, line in client_commands(tr)
               if verb(line) in verbs and (tls is None or on == tls)]
        self.assertEqual(bad, [], "client sent %s%s" % (
            "/".join(verbs), "" if tls is None else " before TLS"))

    def assertDiagnostic(self, r):
        self.assertTrue(r.err.strip(), "no diagnostic on stderr")

    def assertDeadLetter(self, msg):
        path = os.path.join(self.home, "dead.letter")
        self.assertTrue(os.path.exists(path), "no %s" % path)
        st = os.stat(path)
        self.assertEqual(st.st_mode & 0o777, 0o600, "dead.letter mode %o" % (st.st_mode & 0o777))
        with open(path, "rb") as f:
            dl = f.read()
        self.assertTrue(dl.startswith(b"From "), "dead.letter is not mbox (no From_ line)")
        text = dl.replace(b"\r\n", b"\n")
        for line in crlf(msg).split(b"\r\n"):
            if line:
                self.assertTrue(line in text, "dead.letter lacks line %r" % line)

    def assertTLSBeforeAuth(self):
        """Every AUTH/MAIL went after "TLS started", EHLO again after TLS."""
        tr = self.server.transcript()
        for conn in transcript_events(tr):
            cmds = [(tls, text) for kind, text, tls in conn if kind == "C"]
            early = [t for on, t in cmds if not on and verb(t) in ("AUTH", "MAIL", "RCPT", "DATA")]
            self.assertEqual(early, [], "sent before TLS")
            after = [t for on, t in cmds if on]
            if after:
                self.assertIn(verb(after[0]), ("EHLO", "HELO"),
                              "first command after TLS is not EHLO: %r" % after[0])


def _indent(s):
    return "\n".join("    " + line for line in s.splitlines())


def my_user():
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return os.environ.get("LOGNAME") or os.environ.get("USER") or "uid%d" % os.getuid()


# ----------------------------------------------------------------- tests

MSG_A = (b"To: Alice <alice@example.com>\n"
         b"Subject: foundation test a\n"
         b"\n"
         b"Hello,\n"
         b"\n"
         b"this is line two of the body.\n"
         b"\tan indented line with a tab\n"
         b"trailing spaces here   \n"
         b"last line\n")


class Delivery(RelaymailTestCase):

    def test_a_minimal_message_gets_fixups(self):
        """To+Subject only, STARTTLS + AUTH PLAIN: Date, Message-ID, From and
        Received added once each, body intact, envelope as expected."""
        self.start_server(extra=["--auth-mechs", "PLAIN"])
        self.write_config()
        r = self.relaymail(MSG_A, "alice@example.com", "jdoe")
        self.assertExit(r, 0)
        self.assertEqual(r.err.strip(), "", "stderr not empty on success")
        msgs = self.server.messages()
        self.assertEqual(len(msgs), 1)
        eml, meta = msgs[0]

        self.assertFalse(bare_line_ending(eml), "bare CR or LF on the wire")
        fields, body = split_message(eml)
        for name in ("date", "message-id", "from", "received"):
            self.assertEqual(len(named(fields, name)), 1, "%s fields: %r"
                             % (name, named(fields, name)))
        self.assertEqual(fields[0][0], "received", "Received is not the first field")
        date = field_value(named(fields, "date")[0])
        dt = email.utils.parsedate_to_datetime(date)
        self.assertIsNotNone(dt.tzinfo, "Date without zone: %r" % date)
        self.assertRegex(date, r"[+-]\d{4}(\s*\(.*\))?$", "Date without numeric offset")
        mid = field_value(named(fields, "message-id")[0])
        self.assertRegex(mid, r"^<[^<>@\s]+@[^<>@\s]+>$")
        frm = field_value(named(fields, "from")[0])
        self.assertIn("@" + DOMAIN, frm, "From not qualified: %r" % frm)
        self.assertIn(b"To: Alice <alice@example.com>\r\n", named(fields, "to"))
        self.assertIn(b"Subject: foundation test a\r\n", named(fields, "subject"))
        self.assertEqual(body, crlf(body_of(MSG_A)))

        self.assertEqual(meta["mail_from"], "%s@%s" % (my_user(), DOMAIN))
        self.assertEqual(sorted(meta["rcpt_tos"]),
                         sorted(["alice@example.com", "jdoe@" + DOMAIN]))
        self.assertTrue(meta["tls"], "message not sent over TLS")
        self.assertEqual(meta["auth_user"], USER)
        self.assertTLSBeforeAuth()

    def test_b_existing_headers_unchanged(self):
        """Existing Date, Message-ID and From are kept byte for byte; only a
        Received line is added."""
        head = (b"Date: Tue, 03 Jan 2006 15:04:05 -0700\n"
                b"Message-ID: <keep.me.1234@sender.example>\n"
                b"From: \"Alice Q. Example\" <alice@sender.example>\n"
                b"To: bob@example.com\n"
                b"Subject: keep my headers\n"
                b"X-Folded: first part\n"
                b"\tsecond part\n")
        msg = head + b"\nbody\n"
        self.start_server()
        self.write_config()
        eml, meta = self.deliver(msg, "bob@example.com")
        fields, body = split_message(eml)
        for name in ("date", "message-id", "from"):
            self.assertEqual(len(named(fields, name)), 1, name)
        rest = b"".join(raw for n, raw in fields if n != "received")
        self.assertEqual(rest, crlf(head),
                         "header changed (beyond one added Received)")
        self.assertEqual(len(named(fields, "received")), 1)
        self.assertEqual(body, b"body\r\n")

    def test_c1_t_takes_to_cc_bcc(self):
        """-t: To, Cc and Bcc are recipients; Bcc is not delivered."""
        msg = (b"From: Sender <sender@example.com>\n"
               b"To: To Person <to@example.com>\n"
               b"Cc: cc@example.com\n"
               b"Bcc: hidden@example.com\n"
               b"Subject: bcc test\n"
               b"\n"
               b"body\n")
        self.start_server()
        self.write_config()
        eml, meta = self.deliver(msg, "-t")
        self.assertEqual(sorted(meta["rcpt_tos"]),
                         ["cc@example.com", "hidden@example.com", "to@example.com"])
        fields, _ = split_message(eml)
        self.assertEqual(named(fields, "bcc"), [])
        self.assertNotIn(b"hidden", eml.lower())
        self.assertIn(b"To: To Person <to@example.com>\r\n", named(fields, "to"))
        self.assertIn(b"Cc: cc@example.com\r\n", named(fields, "cc"))

    def test_c2_t_folded_bcc_removed(self):
        """-t with a Bcc folded over two lines: both addresses are recipients,
        the whole field (continuation included) is removed."""
        msg = (b"To: to@example.com\n"
               b"Bcc: hidden1@example.com,\n"
               b" Hidden Two <hidden2@example.com>\n"
               b"Subject: folded bcc\n"
               b"\n"
               b"body\n")
        self.start_server()
        self.write_config()
        eml, meta = self.deliver(msg, "-t")
        self.assertEqual(sorted(meta["rcpt_tos"]),
                         ["hidden1@example.com", "hidden2@example.com", "to@example.com"])
        fields, body = split_message(eml)
        self.assertEqual(named(fields, "bcc"), [])
        self.assertNotIn(b"hidden", eml.lower())
        self.assertEqual(named(fields, "subject"), [b"Subject: folded bcc\r\n"])
        self.assertEqual(body, b"body\r\n")

    DOTS_BODY = (b"first line\n"
                 b".\n"
                 b"..\n"
                 b".x\n"
                 b"...\n"
                 b"x.\n"
                 b"after the lone dot\n"
                 b".\n")

    def test_d1_dots_intact_with_i(self):
        """-i: lines ".", "..", ".x" arrive intact (dot-stuffing both ways)."""
        msg = b"To: a@example.com\nSubject: dots\n\n" + self.DOTS_BODY
        self.start_server()
        self.write_config()
        eml, _ = self.deliver(msg, "-i", "a@example.com")
        self.assertEqual(split_message(eml)[1], crlf(self.DOTS_BODY))

    def test_d2_lone_dot_pipe_reads_to_eof(self):
        """No -i, stdin a pipe: a lone "." does not end the message."""
        msg = b"To: a@example.com\nSubject: dots\n\n" + self.DOTS_BODY + b"more text\n"
        self.start_server()
        self.write_config()
        eml, _ = self.deliver(msg, "a@example.com")
        self.assertEqual(split_message(eml)[1], crlf(self.DOTS_BODY + b"more text\n"))

    def test_d3_oi_accepted(self):
        """-oi is accepted and behaves like -i."""
        msg = b"To: a@example.com\nSubject: dots\n\n" + self.DOTS_BODY
        self.start_server()
        self.write_config()
        eml, _ = self.deliver(msg, "-oi", "a@example.com")
        self.assertEqual(split_message(eml)[1], crlf(self.DOTS_BODY))

    def _line_endings(self, msg, subject, body):
        self.start_server()
        self.write_config()
        eml, _ = self.deliver(msg, "a@example.com")
        self.assertFalse(bare_line_ending(eml), "bare CR or LF on the wire: %r" % eml)
        fields, got = split_message(eml)
        self.assertEqual(named(fields, "subject"), [subject])
        self.assertEqual(got, body)

    def test_e1_crlf_input(self):
        self._line_endings(b"To: a@example.com\r\nSubject: crlf\r\n\r\nline 1\r\n\r\nline 3\r\n",
                           b"Subject: crlf\r\n", b"line 1\r\n\r\nline 3\r\n")

    def test_e2_lone_cr_input(self):
        self._line_endings(b"To: a@example.com\rSubject: cr\r\rline 1\r\rline 3\r",
                           b"Subject: cr\r\n", b"line 1\r\n\r\nline 3\r\n")

    def test_e3_no_final_newline(self):
        self._line_endings(b"To: a@example.com\nSubject: nonl\n\nline 1\nlast line, no newline",
                           b"Subject: nonl\r\n", b"line 1\r\nlast line, no newline\r\n")

    def test_e4_mixed_line_endings(self):
        self._line_endings(b"To: a@example.com\nSubject: mixed\r\n\na\r\nb\nc\rd\r\n",
                           b"Subject: mixed\r\n", b"a\r\nb\r\nc\r\nd\r\n")

    def test_k_implicit_tls(self):
        """tls = tls against a port-465 style server: TLS from the first byte."""
        self.start_server(tls="implicit")
        self.write_config(tls="tls")
        eml, meta = self.deliver(MSG_A, "alice@example.com")
        self.assertTrue(meta["tls"])
        self.assertEqual(meta["auth_user"], USER)
        for conn in transcript_events(self.server.transcript()):
            self.assertEqual(conn[1][:2], ("M", "TLS started"),
                             "something happened before TLS: %r" % (conn[:3],))
        self.assertNoCommand(("STARTTLS",))


class Failures(RelaymailTestCase):

    def test_f_starttls_not_offered(self):
        """Server without STARTTLS, config tls = starttls: 75, nothing sent,
        message in ~/dead.letter."""
        self.start_server(tls="none")
        self.write_config()
        r = self.relaymail(MSG_A, "alice@example.com")
        self.assertExit(r, 75)
        self.assertDiagnostic(r)
        self.assertNoCommand(("AUTH", "MAIL"))
        self.assertNothingSpooled()
        self.assertDeadLetter(MSG_A)

    def _bad_certificate(self, cert):
        self.start_server(cert=cert)
        self.write_config()
        r = self.relaymail(MSG_A, "alice@example.com")
        self.assertExit(r, 75)
        self.assertDiagnostic(r)
        self.assertRegex(r.err, r"(?i)certif|verif|trust",
                         "stderr does not say it is about the certificate")
        self.assertNoCommand(("AUTH", "MAIL", "RCPT", "DATA"))
        self.assertNothingSpooled()
        self.assertDeadLetter(MSG_A)

    def test_g_untrusted_certificate(self):
        self._bad_certificate("untrusted")

    def test_h1_wrong_name_certificate(self):
        self._bad_certificate("wrongname")

    def test_h2_expired_certificate(self):
        self._bad_certificate("expired")

    def test_h3_not_yet_valid_certificate(self):
        self._bad_certificate("future")

    def test_i_wrong_password(self):
        """535 to AUTH: exit 77, nothing delivered, message kept."""
        self.start_server()
        self.write_config(password="not-the-password")
        r = self.relaymail(MSG_A, "alice@example.com")
        self.assertExit(r, 77)
        self.assertDiagnostic(r)
        self.assertNotIn("not-the-password", r.err)
        self.assertNoCommand(("MAIL",))
        self.assertNothingSpooled()
        self.assertDeadLetter(MSG_A)
        self.assertTLSBeforeAuth()


class Verbose(RelaymailTestCase):

    def test_j_verbose_redacts_auth(self):
        """-v shows the dialogue on stderr with AUTH data as <redacted>."""
        self.start_server()
        self.write_config()
        eml, _ = self.deliver(MSG_A, "-v", "alice@example.com")
        err = self.runs[-1].err
        for word in ("EHLO", "STARTTLS", "MAIL FROM"):
            self.assertTrue(word.lower() in err.lower(), "-v output lacks %s" % word)
        self.assertTrue("<redacted>" in err, "-v output lacks <redacted>")
        secrets = [PASSWORD]
        for s in ("\0%s\0%s" % (USER, PASSWORD), "%s\0%s\0%s" % (USER, USER, PASSWORD),
                  PASSWORD):
            secrets.append(base64.b64encode(s.encode()).decode())
        for s in secrets:
            self.assertFalse(s in err, "secret in -v output: %s" % s)
        # any base64-looking token must not decode to something with the password
        for tok in re.findall(r"[A-Za-z0-9+/]{12,}={0,2}", err):
            try:
                dec = base64.b64decode(tok + "=" * (-len(tok) % 4))
            except ValueError:
                continue
            self.assertFalse(PASSWORD.encode() in dec,
                             "base64 of the password in -v output: %s" % tok)


class Options(RelaymailTestCase):
    """Beyond the foundation list, still the documented interface."""

    def test_n1_f_sets_envelope_sender(self):
        self.start_server()
        self.write_config()
        _, meta = self.deliver(MSG_A, "-f", "bounces@example.com", "alice@example.com")
        self.assertEqual(meta["mail_from"], "bounces@example.com")

    def test_n2_f_glued(self):
        self.start_server()
        self.write_config()
        _, meta = self.deliver(MSG_A, "-fbounces@example.com", "alice@example.com")
        self.assertEqual(meta["mail_from"], "bounces@example.com")

    def test_n3_bare_f_is_qualified(self):
        self.start_server()
        self.write_config()
        _, meta = self.deliver(MSG_A, "-f", "cronuser", "alice@example.com")
        self.assertEqual(meta["mail_from"], "cronuser@" + DOMAIN)

    def test_n4_config_from_is_envelope_sender(self):
        self.start_server()
        self.write_config(**{"from": "alerts@example.org"})
        _, meta = self.deliver(MSG_A, "alice@example.com")
        self.assertEqual(meta["mail_from"], "alerts@example.org")

    def test_n5_F_sets_from_name(self):
        self.start_server()
        self.write_config()
        eml, _ = self.deliver(MSG_A, "-FCronDaemon", "alice@example.com")
        frm = field_value(named(split_message(eml)[0], "from")[0])
        self.assertRegex(frm, r"^\"?CronDaemon\"? <[^<>@\s]+@%s>$" % re.escape(DOMAIN))

    def test_n6_auth_login(self):
        self.start_server()
        self.write_config(auth="login")
        _, meta = self.deliver(MSG_A, "--", "alice@example.com")
        self.assertEqual(meta["auth_user"], USER)
        self.assertEqual(meta["auth_mechanism"], "LOGIN")

    def test_n7_password_with_space_colon_quote_utf8(self):
        pw = 'p a:s"s w\u00f6rd'
        self.start_server(password=pw)
        self.write_config(password=pw)
        _, meta = self.deliver(MSG_A, "alice@example.com")
        self.assertEqual(meta["auth_user"], USER)


class Config(RelaymailTestCase):

    SECRET = "Pw-Never-Shown-42"

    def _config_error(self, lines, bad_line, key=None):
        text = "\n".join(lines) + "\n"
        path = self.write_config(text=text)
        r = self.relaymail(MSG_A, "alice@example.com")
        self.assertExit(r, 78)
        self.assertDiagnostic(r)
        self.assertTrue(path in r.err or os.path.basename(path) in r.err,
                        "stderr does not name the file: %r" % r.err)
        self.assertRegex(r.err, r"(:%d\b|line %d\b)" % (bad_line, bad_line),
                         "stderr does not name line %d" % bad_line)
        if key:
            self.assertIn(key, r.err, "stderr does not name the key")
        self.assertFalse(self.SECRET in r.err, "password in stderr")
        return r

    def base_lines(self):
        return ['host = "localhost"',
                'port = 1',
                "password = '%s'" % self.SECRET,
                'user = "%s"' % USER]

    def test_m1_config_unknown_key(self):
        self._config_error(self.base_lines() + ["no_such_key = 1"], 5, "no_such_key")

    def test_m2_config_syntax_error(self):
        self._config_error(self.base_lines() + ["timeout = = 10", 'domain = "x.org"'], 5)

    def test_m3_config_bad_tls_value(self):
        self._config_error(self.base_lines() + ["tls = sometimes"], 5, "tls")

    def test_m5_config_line_numbers_count_comments(self):
        """Real configs are commented: the line number must still be right
        (libconfuse 3.3 counts a '#' comment line as three lines)."""
        self._config_error(["# relaymail.conf", "# with comments", "",
                            'host = "localhost"  # trailing comment',
                            "# and another", "port = 1",
                            "password = '%s'" % self.SECRET,
                            "tls = sometimes"], 8, "tls")

    def test_m4_config_error_never_echoes_password(self):
        """An unquoted password with spaces is a syntax error whose natural
        message ("no such option 'Zq7second'") would leak it."""
        r = self._config_error(['host = "localhost"', 'port = 1',
                                "password = Zq7first Zq7second Zq7third"], 3)
        self.assertFalse("Zq7" in r.err, "part of the password in stderr")


class Install(RelaymailTestCase):

    needs_binary = False
    serial = True

    def test_l_make_install(self):
        """make install DESTDIR=... PREFIX=/usr: binary and the sendmail links."""
        if "RELAYMAIL_SKIP_INSTALL" in os.environ:
            self.skipTest("RELAYMAIL_SKIP_INSTALL is set")
        dest = os.path.join(self.tmp, "root")
        try:
            # SETGID=no: the setgid install (group creation) is
            # tests/it_priv.py's, inside a mount namespace
            p = subprocess.run(["make", "install", "DESTDIR=" + dest, "PREFIX=/usr",
                                "SETGID=no"],
                               cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=600)
        except subprocess.TimeoutExpired:
            self.fail("make install did not finish")
        out = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "make install failed:\n" + out[-3000:])
        binary = os.path.join(dest, "usr/sbin/relaymail")
        self.assertTrue(os.path.isfile(binary) and not os.path.islink(binary),
                        "no regular file usr/sbin/relaymail")
        self.assertTrue(os.stat(binary).st_mode & 0o111, "relaymail not executable")
        for link in ("usr/sbin/sendmail", "usr/sbin/mailq", "usr/sbin/newaliases",
                     "usr/lib/sendmail"):
            path = os.path.join(dest, link)
            self.assertTrue(os.path.lexists(path), "missing %s" % link)
            if os.path.islink(path):
                target = os.readlink(path)
                self.assertEqual(os.path.basename(target), "relaymail",
                                 "%s -> %s" % (link, target))
                if os.path.isabs(target):
                    resolved = os.path.join(dest, target.lstrip("/"))
                else:
                    resolved = os.path.join(os.path.dirname(path), target)
                self.assertTrue(os.path.exists(resolved) and os.path.samefile(resolved, binary),
                                "%s -> %s does not lead to usr/sbin/relaymail" % (link, target))
            else:
                self.assertTrue(os.path.samefile(path, binary),
                                "%s is neither a symlink nor a hard link to relaymail" % link)


# ---------------------------------------------------------------- runner

def test_classes():
    """This file's classes, then those of every tests/it_*.py module.

    Topic modules do `from itest import RelaymailTestCase, ...`; they must
    see this very module (its CERTS, KEEP), not a second copy of it.
    """
    import glob
    import importlib
    sys.modules.setdefault("itest", sys.modules[__name__])
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    classes = [Delivery, Failures, Verbose, Options, Config, Install]
    for path in sorted(glob.glob(os.path.join(here, "it_*.py"))):
        mod = importlib.import_module(os.path.basename(path)[:-3])
        for obj in vars(mod).values():
            if (isinstance(obj, type) and issubclass(obj, RelaymailTestCase)
                    and obj.__module__ == mod.__name__):
                classes.append(obj)
    return classes


def all_tests():
    loader = unittest.TestLoader()
    tests = []
    for cls in test_classes():
        for name in loader.getTestCaseNames(cls):
            tests.append(cls(name))
    return tests


def run_one(test):
    result = unittest.TestResult()
    t0 = time.monotonic()
    test.run(result)
    dt = time.monotonic() - t0
    if result.skipped:
        return test, "skip", dt, result.skipped[0][1]
    problems = result.errors + result.failures
    if problems:
        tb = problems[0][1].rstrip().splitlines()
        # the assertion message, not the whole traceback, unless it is an error
        detail = "\n".join(tb[-12:] if result.errors else tb[-4:])
        diag = getattr(test, "diag", "")
        return test, "FAIL", dt, detail + ("\n" + diag if diag else "")
    return test, "ok", dt, ""


def report(test, status, dt, detail):
    name = test._testMethodName
    doc = " ".join((test._testMethodDoc or "").split())
    line = "%-4s %-46s %5.1fs" % (status, name, dt)
    if status == "skip":
        line += "  (%s)" % detail
    print(line, flush=True)
    if status == "FAIL":
        if doc:
            print("     " + doc)
        print(_indent(detail), flush=True)


def main(argv=None):
    global CERTS, KEEP
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", action="append", default=[], metavar="NAME",
                    help="run only tests whose name contains NAME (repeatable)")
    ap.add_argument("-j", type=int, default=min(4, os.cpu_count() or 1),
                    help="tests run in parallel (default %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep temporary directories")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    o = ap.parse_args(argv)
    KEEP = KEEP or o.keep

    tests = all_tests()
    if o.k:
        tests = [t for t in tests if any(k in t._testMethodName for k in o.k)]
    if o.list:
        for t in tests:
            print(t._testMethodName)
        return 0
    if not tests:
        print("no test matches %s" % " ".join(o.k), file=sys.stderr)
        print("integration: 0 passed, 0 failed")
        return 2

    print("relaymail: %s%s" % (BINARY, "" if os.path.exists(BINARY) else " (missing)"))
    certs_root = tempfile.mkdtemp(prefix="itest-certs-")
    CERTS = os.path.join(certs_root, "certs")
    p = subprocess.run([MKCERTS, CERTS], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        print("mkcerts.sh failed:\n" + p.stdout.decode("utf-8", "replace"))
        print("integration: 0 passed, %d failed" % len(tests))
        return 1

    passed = failed = 0
    try:
        parallel = [t for t in tests if not t.serial]
        serial = [t for t in tests if t.serial]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, o.j)) as ex:
            futures = [ex.submit(run_one, t) for t in parallel]
            for f in concurrent.futures.as_completed(futures):
                res = f.result()
                report(*res)
                passed += res[1] == "ok"
                failed += res[1] == "FAIL"
        for t in serial:
            res = run_one(t)
            report(*res)
            passed += res[1] == "ok"
            failed += res[1] == "FAIL"
    finally:
        shutil.rmtree(certs_root, ignore_errors=True)
    print("integration: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
