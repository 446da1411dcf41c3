#!/usr/bin/python3
"""Never lose a message (issue 5, SPEC §4): failure semantics under faults.

Run with the rest:  /usr/bin/python3 tests/itest.py -k fault
                    (or -k dead, -k syslog, -k signal, -k large, -k stdio)

A scripted SMTP server (ScriptedServer, plain TCP on 127.0.0.1, no TLS, no
AUTH) misbehaves at one chosen point of the dialogue; each case asserts the
exit status, what the server received, the dead.letter content (the complete
input, byte for byte modulo line endings) and the LOG_MAIL line(s).

dead.letter form (what these tests hold relaymail to): mboxrd with LF line
endings.  Each message is a "From SENDER DATE" line, X-Relaymail-Error (and
X-Relaymail-Envelope once the envelope is known), the header as read, an
empty line, the body, an empty line.  Every input line ending (CRLF, LF,
lone CR) becomes LF, a missing final one is supplied, and a line matching
/^>*From / carries one more '>'.  So: input with every line ending made LF ==
header + "\\n" + body after taking one '>' off such lines.

Syslog: relaymail runs inside `unshare --mount` (the tests run as root) where
/dev is a fresh tmpfs holding null, zero, full, random, urandom and, bound
over /dev/log, a unix datagram socket the test reads.  /var/tmp is bound to a
directory of the test too, so the dead.letter fallback can be inspected.
Runs as another user go through `setpriv --reuid` inside that namespace.
Without root (no unshare) those tests fail with a clear message: they are
part of the acceptance and must not silently pass.
"""

import hashlib
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time

from itest import BINARY, VALGRIND, RelaymailTestCase, Run

CLOSE = "close"        # close the connection instead of replying
SILENT = "silent"      # never reply; hold the connection until the client goes
NOBODY_UID = 54321     # a uid with no passwd entry (containers have those)

SENDER = "tester@example.org"
RCPTS = ["one@example.com", "two@example.com", "three@example.com"]

# 7-bit, so no converter changes it on the way; every line relaymail or a
# mailbox could get wrong is here.
MSG = (b"From: Fault Tester <tester@example.org>\n"
       b"To: one@example.com, two@example.com, three@example.com\n"
       b"Subject: fault matrix\n"
       b"X-Folded: first part\n"
       b"\tsecond part\n"
       b"\n"
       b"First line.\n"
       b"From the start of a line, which mbox must quote.\n"
       b">From already quoted once.\n"
       b">>From twice.\n"
       b"From\n"
       b".\n"
       b"..two dots\n"
       b".leading dot\n"
       b"trailing spaces   \n"
       b"\ttab line\n"
       b"\n"
       b"last line\n")


def lf(data):
    """Every line ending (CRLF, lone CR, LF) as LF."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def crlf(data):
    """Every line ending as CRLF (itest.crlf, fast enough for 50 MB)."""
    return lf(data).replace(b"\n", b"\r\n")


def big_message(size, seed=b"x"):
    """A message of about size octets: MSG's header, numbered lines."""
    head, _, body = MSG.partition(b"\n\n")
    parts = [head, b"\n\n", body]
    n, total = 0, len(MSG)
    while total < size:
        line = b"%08d %s %s\n" % (n, seed, b"abcdefghijklmnopqrstuvwxyz" * 2)
        if n % 1000 == 7:
            line = b"From line %d, and a dot line follows\n.\n" % n
        parts.append(line)
        total += len(line)
        n += 1
    return b"".join(parts)


def unstuff(data):
    """DATA content as sent (dot-stuffed, CRLF) -> the message."""
    data = data[1:] if data.startswith(b".") else data
    return data.replace(b"\n.", b"\n")


# ------------------------------------------------------- scripted server

class Conn:
    """What one connection received, in order."""

    def __init__(self, n):
        self.n = n
        self.accepted_at = time.monotonic()
        self.commands = []         # command lines, without CRLF
        self.data = bytearray()    # DATA content received (still stuffed)
        self.got_dot = False
        self.after = bytearray()   # bytes that came while we were silent
        self.closed_by_client = False
        self.stalled = threading.Event()
        self.done = threading.Event()

    def verbs(self):
        return [c.split(" ", 1)[0].split(":", 1)[0].upper() for c in self.commands]


class ScriptedServer:
    """A plain SMTP server on 127.0.0.1 that does what a script says.

    scripts: one dict per connection (the last one serves the rest):
      greeting, ehlo, mail, data, dot, quit: a reply line, CLOSE, SILENT,
          ("close", TEXT): send TEXT and close in the same segment (TCP_CORK),
          ("delay", SECONDS, TEXT): wait, then reply;
      rcpt: {address: reply} for RCPT TO, others get 250;
      body: ("close_after", N) close after N octets of DATA content,
            ("stall_after", N) stop reading after N octets until resume();
      caps: extra EHLO keywords (e.g. "PIPELINING").
    """

    def __init__(self, scripts, rcvbuf=None):
        self.scripts = scripts
        self.conns = []
        self.delivered = []        # (mail_from, [rcpt], message bytes)
        self.errors = []
        self.stopping = threading.Event()
        self.resumed = threading.Event()
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            # inherited by accepted sockets; also stops receive autotuning
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.acceptor.start()
        return self

    def stop(self):
        self.stopping.set()
        self.resumed.set()
        self.acceptor.join(5)
        for t in self.threads:
            t.join(5)
        self.sock.close()

    def resume(self):
        self.resumed.set()

    # -- itest.Smarthost's interface, for RelaymailTestCase -------------

    def messages(self):
        return [(m, {"mail_from": f, "rcpt_tos": r}) for f, r, m in self.delivered]

    def transcript(self, settle=0):
        out = []
        for c in self.conns:
            out.append("-- connection %d --" % c.n)
            out += ["C: " + x for x in c.commands]
            out.append("   %d octets of DATA content, final dot %s"
                       % (len(c.data), "received" if c.got_dot else "NOT received"))
        return "\n".join(out).encode()

    def stderr(self):
        return "\n".join(self.errors)

    # -- serving ------------------------------------------------------------

    def _accept(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                c = Conn(len(self.conns) + 1)
                self.conns.append(c)
                script = self.scripts[min(len(self.conns), len(self.scripts)) - 1]
            t = threading.Thread(target=self._run, args=(s, script, c), daemon=True)
            self.threads.append(t)
            t.start()

    def _run(self, s, script, c):
        try:
            s.settimeout(0.2)
            self._session(s, script, c, Reader(s, self.stopping))
        except Exception as e:  # noqa: BLE001 - reported through stderr()
            self.errors.append("connection %d: %r" % (c.n, e))
        finally:
            try:
                s.close()
            except OSError:
                pass
            c.done.set()

    def _act(self, s, what, c, rd):
        """Carry out one reply action; False when the session is over."""
        if what == CLOSE:
            return False
        if what == SILENT:
            self._hold(s, c, rd)
            return False
        if isinstance(what, tuple) and what[0] == "delay":
            if self.stopping.wait(what[1]):
                return False
            what = what[2]
        if isinstance(what, tuple) and what[0] == "close":
            # reply and FIN in one segment: the client sees both at once
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            s.sendall(what[1].encode() + b"\r\n")
            s.shutdown(socket.SHUT_WR)
            return False
        s.sendall(what.encode() + b"\r\n")
        return True

    def _hold(self, s, c, rd):
        c.after += rd.take()
        while not self.stopping.is_set():
            try:
                b = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not b:
                c.closed_by_client = True
                break
            c.after += b

    def _reply(self, script, verb, arg):
        if verb in ("EHLO", "HELO"):
            caps = ["8BITMIME", "ENHANCEDSTATUSCODES"] + list(script.get("caps", ()))
            lines = ["fault.test greets you"] + caps
            default = "\r\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", l)
                                  for i, l in enumerate(lines))
            return script.get("ehlo", default)
        if verb == "MAIL":
            return script.get("mail", "250 2.1.0 sender ok")
        if verb == "RCPT":
            m = re.search(r"<([^>]*)>", arg)
            addr = m.group(1).lower() if m else ""
            return script.get("rcpt", {}).get(addr, "250 2.1.5 recipient ok")
        if verb == "DATA":
            return script.get("data", "354 end with <CRLF>.<CRLF>")
        if verb == "QUIT":
            return script.get("quit", ("close", "221 2.0.0 bye"))
        if verb in ("RSET", "NOOP"):
            return "250 2.0.0 ok"
        return "502 5.5.1 not here"

    def _session(self, s, script, c, rd):
        if not self._act(s, script.get("greeting", "220 fault.test ESMTP scripted"), c, rd):
            return
        env = [None, []]
        while True:
            line = rd.line()
            if line is None:
                c.closed_by_client = True
                return
            text = line.rstrip(b"\r\n").decode("latin-1")
            c.commands.append(text)
            verb = text.split(" ", 1)[0].split(":", 1)[0].upper()
            reply = self._reply(script, verb, text)
            if verb == "MAIL":
                env = [text, []]
            elif verb == "RCPT" and isinstance(reply, str) and reply.startswith("2"):
                env[1].append(text)
            if not self._act(s, reply, c, rd):
                return
            if verb == "DATA" and isinstance(reply, str) and reply.startswith("354"):
                if not self._body(s, script, c, rd):
                    return
                dot = script.get("dot", "250 2.0.0 queued as scripted-%d" % c.n)
                reply_text = dot if isinstance(dot, str) else dot[-1]
                if isinstance(reply_text, str) and reply_text.startswith("2"):
                    self.delivered.append((env[0], env[1], unstuff(bytes(c.data))))
                if not self._act(s, dot, c, rd):
                    return

    def _body(self, s, script, c, rd):
        """Read DATA content up to the final dot; False if the session ends."""
        act = script.get("body")
        limit = act[1] if act else None
        buf = bytearray(rd.take())
        scan = 0
        while True:
            if buf[:3] == b".\r\n":
                end, rest = 0, 3
            else:
                i = buf.find(b"\r\n.\r\n", max(0, scan - 4))
                end, rest = (i + 2, i + 5) if i >= 0 else (-1, -1)
            if end >= 0 and (limit is None or end <= limit):
                c.data += buf[:end]
                c.got_dot = True
                rd.push(bytes(buf[rest:]))
                return True
            if limit is not None and len(buf) >= limit:
                c.data += buf[:limit]
                rest = buf[limit:]
                if act[0] == "close_after":
                    return False
                c.stalled.set()
                self.resumed.wait(60)
                rd.push(bytes(rest))
                return self._drain(s, c, rd)
            scan = len(buf)
            b = rd.recv()
            if b is None:
                c.data += buf
                c.closed_by_client = True
                return False
            buf += b

    def _drain(self, s, c, rd):
        """After a stall: read everything that still comes, until EOF."""
        buf = bytearray(rd.take())
        while True:
            b = rd.recv()
            if b is None:
                break
            buf += b
        c.closed_by_client = True
        c.data += buf
        c.got_dot = c.data.endswith(b"\r\n.\r\n") or bytes(c.data) == b".\r\n"
        if c.got_dot:
            c.data = c.data[:-3]
        return False


class Reader:
    """Lines and raw chunks from a socket, with push-back."""

    def __init__(self, s, stopping):
        self.s, self.stopping, self.buf = s, stopping, b""

    def recv(self):
        if self.buf:
            b, self.buf = self.buf, b""
            return b
        while not self.stopping.is_set():
            try:
                b = self.s.recv(262144)
            except socket.timeout:
                continue
            except OSError:
                return None
            return b or None
        return None

    def line(self):
        while b"\n" not in self.buf:
            b = self.recv_more()
            if b is None:
                return None
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def recv_more(self):
        while not self.stopping.is_set():
            try:
                b = self.s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return None
            if not b:
                return None
            self.buf += b
            return b
        return None

    def take(self):
        b, self.buf = self.buf, b""
        return b

    def push(self, b):
        self.buf = b + self.buf


# ------------------------------------------------------------ syslog

SYSLOG_RE = re.compile(rb"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) ([^\[: ]+)\[(\d+)\]: (.*)$", re.S)

# /dev as a fresh tmpfs with the devices relaymail and sh need, /dev/log
# bound to the test's socket ($1), /var/tmp to the test's directory ($2).
NS_SCRIPT = r"""set -e
mount -t tmpfs -o mode=755 relaymail-test /dev
for d in null:3 zero:5 full:7 random:8 urandom:9; do
	mknod -m 666 "/dev/${d%%:*}" c 1 "${d#*:}"
done
: > /dev/log
mount --bind "$1" /dev/log
mount --bind "$2" /var/tmp
shift 2
exec "$@"
"""


class Record:
    def __init__(self, pri, tag, pid, text):
        self.facility, self.severity = pri >> 3, pri & 7
        self.tag, self.pid, self.text = tag, pid, text

    def __repr__(self):
        return "<%d.%d %s[%d]: %s>" % (self.facility, self.severity, self.tag,
                                       self.pid, self.text)


class Syslog:
    """A unix datagram socket standing in for /dev/log."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)     # a user we switch to must connect too
        self.sock.setblocking(False)
        self.records = []

    def read(self):
        while True:
            try:
                d = self.sock.recv(65536)
            except BlockingIOError:
                return self.records
            m = SYSLOG_RE.match(d.rstrip(b"\n"))
            if m is None:
                self.records.append(Record(0, "?", 0, d.decode("utf-8", "replace")))
                continue
            self.records.append(Record(int(m.group(1)), m.group(3).decode(),
                                       int(m.group(4)), m.group(5).decode("utf-8", "replace")))

    def close(self):
        self.sock.close()


# ------------------------------------------------------------ test base

class FaultCase(RelaymailTestCase):
    """Helpers: the scripted server, the namespace runner, dead.letter."""

    def setUp(self):
        super().setUp()
        self.syslog = None
        self.vartmp = os.path.join(self.tmp, "vartmp")
        os.mkdir(self.vartmp)
        os.chmod(self.vartmp, 0o1777)
        self.records = []
        self.pid = None

    def tearDown(self):
        if self.syslog is not None:
            self.syslog.close()
        super().tearDown()

    def diagnostics(self):
        out = super().diagnostics()
        if self.records:
            out += "\nsyslog:\n" + "\n".join("    %r" % r for r in self.records)
        return out

    def scripted(self, *scripts, rcvbuf=None):
        self.server = ScriptedServer(list(scripts) or [{}], rcvbuf=rcvbuf).start()
        return self.server

    def fault_config(self, **over):
        opts = dict(host="127.0.0.1", port=self.server.port, tls="none",
                    tls_ca_file=None, user=None, password=None, auth=None,
                    retries=1, timeout=10, syslog=True)
        opts.update(over)
        path = self.write_config(**opts)
        os.chmod(path, 0o644)
        return path

    def need_root(self):
        if os.geteuid() != 0:
            self.fail("this test needs root (unshare --mount, setpriv); "
                      "the integration suite runs as root")

    def ns_argv(self, argv, uid=None):
        """argv run in a mount namespace with our /dev/log (and as uid)."""
        self.need_root()
        if self.syslog is None:
            self.syslog = Syslog(os.path.join(self.tmp, "log.sock"))
        pre = ["unshare", "--mount", "--propagation", "private",
               "sh", "-c", NS_SCRIPT, "sh", self.syslog.path, self.vartmp]
        if uid is not None:
            pre += ["setpriv", "--reuid", str(uid), "--regid", str(uid),
                    "--clear-groups", "--"]
        return pre + argv

    def as_user(self, uid=NOBODY_UID):
        """Make the test directory usable by uid: HOME is uid's own."""
        os.chmod(self.tmp, 0o711)
        os.chown(self.home, uid, uid)

    def env(self, extra=None, home=True):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("RELAYMAIL") and k not in ("NAME", "HOME")}
        if home:
            e["HOME"] = self.home
        e.update(extra or {})
        return e

    def run_ns(self, msg, *args, uid=None, env=None, home=True, timeout=60,
               stdio=None, conf=True):
        """Run relaymail in the namespace; returns a Run, sets self.records
        (this run's syslog records) and self.pid."""
        argv = [BINARY] + (["-C", self.conf] if conf else []) + list(args)
        full = self.ns_argv(argv, uid)
        kw = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE)
        kw.update(stdio or {})
        t0 = time.monotonic()
        p = subprocess.Popen(full, env=self.env(env, home), cwd=self.tmp, **kw)
        self.pid = p.pid
        try:
            out, err = p.communicate(msg, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.runs.append(Run(argv, "timeout", out or b"", err or b"",
                                 time.monotonic() - t0))
            self.fail("relaymail did not finish within %ss" % timeout)
        r = Run(argv, p.returncode, out or b"", err or b"", time.monotonic() - t0)
        self.runs.append(r)
        self.records = [x for x in self.syslog.read() if x.pid == p.pid]
        return r

    # -- dead.letter -----------------------------------------------------

    def dead_letter_path(self):
        return os.path.join(self.home, "dead.letter")

    def read_mbox(self, path=None):
        """[(from_line, notes {name: value}, header, body)] of an mboxrd file
        (LF), with the quoting undone."""
        with open(path or self.dead_letter_path(), "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"From "), "not an mbox: %r" % data[:80])
        self.assertTrue(data.endswith(b"\n\n"), "mbox does not end with an empty line")
        msgs = []
        for chunk in re.split(rb"(?m)^(?=From )", data)[1:]:
            first, _, rest = chunk.partition(b"\n")
            head, _, body = rest.partition(b"\n\n")
            self.assertTrue(body.endswith(b"\n"), "message does not end with an empty line")
            body = body[:-1]
            notes, fields = {}, []
            for line in head.split(b"\n"):
                if line[:1] in (b" ", b"\t") and fields:
                    fields[-1] += b"\n" + line
                else:
                    fields.append(line)
            header = []
            for fl in fields:
                name = fl.split(b":", 1)[0]
                if name.startswith(b"X-Relaymail-"):
                    notes[name.decode()] = re.sub(rb"\n\s+", b" ", fl.split(b":", 1)[1]).strip().decode()
                else:
                    header.append(fl)
            unq = lambda b: re.sub(rb"(?m)^>(>*From )", rb"\1", b)
            msgs.append((first, notes, unq(b"\n".join(header) + b"\n"), unq(body)))
        return msgs

    def assertDeadLetterExact(self, msg, error=None, path=None, count=1,
                              envelope=True):
        """dead.letter holds msg exactly (modulo line endings), once."""
        path = path or self.dead_letter_path()
        self.assertTrue(os.path.exists(path), "no dead.letter at %s" % path)
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(st.st_mode & 0o777, 0o600, "dead.letter mode %o" % (st.st_mode & 0o777))
        msgs = self.read_mbox(path)
        self.assertEqual(len(msgs), count, "messages in dead.letter")
        first, notes, header, body = msgs[-1]
        want = lf(msg) if lf(msg).endswith(b"\n") else lf(msg) + b"\n"
        whead, sep, wbody = want.partition(b"\n\n")
        self.assertEqual(header, whead + b"\n", "dead.letter header differs from the input")
        self.assertEqual(len(body), len(wbody), "dead.letter body length")
        self.assertTrue(body == wbody, "dead.letter body differs from the input")
        self.assertIn("X-Relaymail-Error", notes)
        if error:
            self.assertRegex(notes["X-Relaymail-Error"], error)
        if envelope:
            self.assertEqual(notes.get("X-Relaymail-Envelope"), "from=<%s> to=%s"
                             % (SENDER, ", ".join("<%s>" % r for r in RCPTS)))
        if envelope and msg == MSG:
            self.assertEqual(notes.get("X-Relaymail-Fixups"), "added Received, Date, "
                             "Message-ID; changed none; removed none")
        return first, notes

    def assertNoDeadLetter(self):
        self.assertFalse(os.path.lexists(self.dead_letter_path()),
                         "dead.letter was written")
        self.assertEqual(os.listdir(self.vartmp), [], "a fallback file was written")

    # -- syslog ----------------------------------------------------------

    def attempt_lines(self, tag="relaymail"):
        for r in self.records:
            self.assertEqual(r.facility, 2, "not LOG_MAIL: %r" % r)
            self.assertEqual(r.tag, tag)
            self.assertEqual(r.pid, self.pid)
        return [r for r in self.records if ", status=" in r.text]

    def assertAttemptLine(self, rec, status, reply_re, size=None):
        m = re.match(r"^from=<([^>]*)>, to=(.*), relay=([^ ]+), size=(\d+), "
                     r"status=(sent|deferred|bounced) \((.*)\)$", rec.text)
        self.assertIsNotNone(m, "syslog line not in the documented shape: %r" % rec.text)
        self.assertEqual(m.group(1), SENDER)
        self.assertEqual(m.group(2), ",".join("<%s>" % r for r in RCPTS))
        self.assertEqual(m.group(3), "127.0.0.1[127.0.0.1]:%d" % self.server.port)
        if size is not None:
            self.assertEqual(int(m.group(4)), size)
        else:
            self.assertGreater(int(m.group(4)), len(crlf(MSG)))
        self.assertEqual(m.group(5), status)
        self.assertRegex(m.group(6), reply_re)
        self.assertEqual(rec.severity, 6 if status == "sent" else 4)



# ----------------------------------------------------------- the matrix

LOCKSTEP = ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA"]
MAY_HAVE = r" \(no reply to the final dot: the message may have been delivered\)$"


class FaultMatrix(FaultCase):
    """One server misbehaviour per test (issue 5 acceptance)."""

    def _case(self, scripts, status, conns, verbs, log_status, reply,
              got_dot=False, msg=MSG, partial=None, error=None, rcvbuf=None,
              **conf):
        self.scripted(*scripts, rcvbuf=rcvbuf)
        self.fault_config(**conf)
        r = self.run_ns(msg, "-f", SENDER, *RCPTS)
        self.assertExit(r, status)
        # what the server received: one connection per attempt, the
        # commands of each, never a final dot unless the case sends one
        self.assertEqual(len(self.server.conns), conns, "connections (attempts)")
        body = crlf(msg).partition(b"\r\n\r\n")[2]
        for c in self.server.conns:
            self.assertTrue(c.done.wait(10), "server connection still open")
            self.assertEqual(c.verbs(), verbs, "commands of connection %d" % c.n)
            self.assertEqual(c.got_dot, got_dot, "final dot received?")
            got = unstuff(bytes(c.data))
            if got_dot:
                self.assertTrue(got.startswith(b"Received: "))
                self.assertEqual(got.partition(b"\r\n\r\n")[2], body,
                                 "message as the server got it")
            elif partial is not None:
                self.assertEqual(len(c.data), partial)
                sent_body = got.partition(b"\r\n\r\n")[2]
                self.assertTrue(body.startswith(sent_body))
            else:
                self.assertEqual(got, b"", "DATA content sent")
        self.assertEqual(self.server.delivered, [])
        # stderr: the reason, then where the message went
        self.assertRegex(r.err, error or reply.replace("^", "").replace("$", ""))
        self.assertIn("relaymail: the message was saved in %s\n" % self.dead_letter_path(),
                      r.err)
        self.assertDeadLetterExact(msg, error=error or reply.replace("^", "").replace("$", ""))
        # syslog: one line per attempt, then where the message was saved
        lines = self.attempt_lines()
        self.assertEqual(len(lines), conns, "syslog attempt lines: %r" % self.records)
        for line in lines:
            self.assertAttemptLine(line, log_status, reply)
        self.assertEqual(self.records[-1].text, "from=<%s>, saved in %s"
                         % (SENDER, self.dead_letter_path()))
        return r

    def test_fault_greeting_421(self):
        self._case([{"greeting": ("close", "421 4.3.2 fault.test shutting down")}],
                   75, 2, [], "deferred", r"^421 4\.3\.2 fault\.test shutting down$")

    def test_fault_closed_after_ehlo(self):
        self._case([{"ehlo": CLOSE}], 75, 2, ["EHLO"], "deferred",
                   r"^127\.0\.0\.1\[127\.0\.0\.1\]:\d+: connection closed by the server$")

    def test_fault_closed_after_mail(self):
        self._case([{"mail": CLOSE}], 75, 2, ["EHLO", "MAIL"], "deferred",
                   r"connection closed by the server$")

    def test_fault_closed_after_rcpt(self):
        self._case([{"rcpt": {"one@example.com": CLOSE}}], 75, 2,
                   ["EHLO", "MAIL", "RCPT"], "deferred",
                   r"connection closed by the server$")

    def test_fault_closed_after_354(self):
        """354 and the close arrive together: the dot is never sent, so the
        message was certainly not accepted and is retried."""
        self._case([{"data": ("close", "354 go ahead")}], 75, 2, LOCKSTEP,
                   "deferred", r"connection closed by the server")

    def test_fault_closed_mid_body(self):
        """The server closes while the body is still on its way (larger
        than every socket buffer between them): the dot never goes out,
        so the attempt is retried.  (A body that fits in the buffers is
        all sent before the reset arrives: that is the unanswered dot.)"""
        msg = big_message(6 << 20)
        self._case([{"body": ("close_after", 100000)}], 75, 2, LOCKSTEP,
                   "deferred", r"(connection lost|connection closed).*$",
                   msg=msg, partial=100000, rcvbuf=4096)

    def test_fault_stalled_mid_body(self):
        """A server that stops reading mid-body: the write times out after
        `timeout` and the connection is dropped at once (no QUIT written
        into DATA and waited for, no dot)."""
        msg = big_message(10 << 20)
        self.scripted({"body": ("stall_after", 65536)}, rcvbuf=4096)
        self.fault_config(timeout=1, retries=0)
        r = self.run_ns(msg, "-f", SENDER, *RCPTS)
        self.assertExit(r, 75)
        self.server.resume()
        c = self.server.conns[0]
        self.assertTrue(c.done.wait(20))
        self.assertEqual(len(self.server.conns), 1)
        self.assertFalse(c.got_dot, "final dot sent")
        self.assertNotIn(b"QUIT", bytes(c.data[-64:]))
        # valgrind alone takes seconds to start and stop relaymail
        self.assertLess(r.elapsed, 10 if VALGRIND else 5, "slow to give up")
        self.assertDeadLetterExact(msg, error="timed out after 1 s")
        lines = self.attempt_lines()
        self.assertEqual(len(lines), 1)
        self.assertAttemptLine(lines[0], "deferred", r"timed out after 1 s waiting "
                               r"for the server$")

    def test_fault_closed_after_dot_no_reply(self):
        """RFC 1047: the dot went out, no reply came: exit 75, never retried
        (the server may have the message), marked in dead.letter."""
        r = self._case([{"dot": CLOSE}], 75, 1, LOCKSTEP,
                       "deferred", r"connection closed by the server" + MAY_HAVE,
                       got_dot=True)
        self.assertIn("may have been delivered", r.err)

    def test_fault_mail_4xx(self):
        self._case([{"mail": "451 4.3.0 try again later"}], 75, 2,
                   ["EHLO", "MAIL", "RSET", "QUIT"], "deferred",
                   r"^451 4\.3\.0 try again later$")

    def test_fault_mail_5xx(self):
        self._case([{"mail": "550 5.7.1 sender refused"}], 69, 1,
                   ["EHLO", "MAIL", "RSET", "QUIT"], "bounced",
                   r"^550 5\.7\.1 sender refused$")

    def test_fault_rcpt_4xx_one_of_three(self):
        """All or nothing: the second recipient deferred, so nobody gets it
        now (RSET before any body) and a retry duplicates nothing."""
        self._case([{"rcpt": {"two@example.com": "450 4.2.1 mailbox busy"}}], 75, 2,
                   ["EHLO", "MAIL", "RCPT", "RCPT", "RSET", "QUIT"], "deferred",
                   r"^450 4\.2\.1 mailbox busy$")

    def test_fault_rcpt_5xx_one_of_three(self):
        self._case([{"rcpt": {"two@example.com": "550 5.1.1 no such user"}}], 67, 1,
                   ["EHLO", "MAIL", "RCPT", "RCPT", "RSET", "QUIT"], "bounced",
                   r"^550 5\.1\.1 no such user$")

    def test_fault_rcpt_5xx_one_of_three_pipelined(self):
        """With PIPELINING, DATA already got 354: the connection is dropped
        without the final dot (RFC 5321 §4.1.1.4), nothing is delivered."""
        self._case([{"caps": ["PIPELINING"],
                     "rcpt": {"two@example.com": "550 5.1.1 no such user"}}], 67, 1,
                   LOCKSTEP, "bounced", r"^550 5\.1\.1 no such user$")

    def test_fault_data_4xx(self):
        self._case([{"data": "451 4.3.1 insufficient storage"}], 75, 2,
                   LOCKSTEP + ["RSET", "QUIT"], "deferred",
                   r"^451 4\.3\.1 insufficient storage$")

    def test_fault_data_5xx(self):
        self._case([{"data": "554 5.5.0 no valid recipients"}], 69, 1,
                   LOCKSTEP + ["RSET", "QUIT"], "bounced",
                   r"^554 5\.5\.0 no valid recipients$")

    def test_fault_dot_4xx(self):
        """A 4xx reply to the dot is an answer: not delivered, so retried."""
        self._case([{"dot": "451 4.3.0 queue full"}], 75, 2, LOCKSTEP + ["QUIT"],
                   "deferred", r"^451 4\.3\.0 queue full$", got_dot=True)

    def test_fault_dot_5xx(self):
        self._case([{"dot": "554 5.6.0 content rejected"}], 69, 1,
                   LOCKSTEP + ["QUIT"], "bounced", r"^554 5\.6\.0 content rejected$",
                   got_dot=True)

    def test_fault_silent_greeting(self):
        r = self._case([{"greeting": SILENT}], 75, 2, [], "deferred",
                       r"timed out after 1 s waiting for the server$", timeout=1)
        self.assertLess(r.elapsed, 8)

    def test_fault_silent_after_dot(self):
        """final_timeout (not timeout) bounds the wait for the dot's reply."""
        r = self._case([{"dot": SILENT}], 75, 1, LOCKSTEP, "deferred",
                       r"timed out after 1 s waiting for the server" + MAY_HAVE,
                       got_dot=True, final_timeout=1, timeout=30)
        self.assertLess(r.elapsed, 8)

    def _deferred_then_sent(self, first, verbs1, reply1):
        self.scripted(first, {})
        self.fault_config()
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        self.assertExit(r, 0)
        self.assertEqual(r.err, "", "stderr not empty on success")
        self.assertEqual(len(self.server.conns), 2)
        self.assertTrue(self.server.conns[0].done.wait(10))
        self.assertEqual(self.server.conns[0].verbs(), verbs1)
        self.assertEqual(len(self.server.delivered), 1, "delivered exactly once")
        frm, rcpts, eml = self.server.delivered[0]
        self.assertEqual(frm, "MAIL FROM:<%s>" % SENDER)
        self.assertEqual(rcpts, ["RCPT TO:<%s>" % r for r in RCPTS])
        self.assertEqual(eml.partition(b"\r\n\r\n")[2], crlf(MSG).partition(b"\r\n\r\n")[2])
        self.assertNoDeadLetter()
        lines = self.attempt_lines()
        self.assertEqual(len(lines), 2, "syslog lines: %r" % self.records)
        self.assertAttemptLine(lines[0], "deferred", reply1, size=len(eml))
        self.assertAttemptLine(lines[1], "sent", r"^250 2\.0\.0 queued as scripted-2$",
                               size=len(eml))

    def test_fault_dot_451_then_250(self):
        self._deferred_then_sent({"dot": "451 4.3.0 try later"}, LOCKSTEP + ["QUIT"],
                                 r"^451 4\.3\.0 try later$")

    def test_fault_rcpt_451_then_250(self):
        self._deferred_then_sent({"rcpt": {"three@example.com": "451 4.3.0 greylisted"}},
                                 ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "RSET", "QUIT"],
                                 r"^451 4\.3\.0 greylisted$")

    def test_fault_retries_and_backoff(self):
        """retries = 2: three attempts, 1 s then 4 s apart (SPEC §4)."""
        self.scripted({"greeting": ("close", "421 4.3.2 busy")})
        self.fault_config(retries=2)
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        self.assertExit(r, 75)
        c = self.server.conns
        self.assertEqual(len(c), 3)
        gaps = [c[1].accepted_at - c[0].accepted_at, c[2].accepted_at - c[1].accepted_at]
        self.assertTrue(0.9 <= gaps[0] < 2.0, "first pause %.2f s" % gaps[0])
        self.assertTrue(3.9 <= gaps[1] < 5.5, "second pause %.2f s" % gaps[1])
        self.assertEqual(len(self.attempt_lines()), 3)

    def test_fault_retries_zero(self):
        self.scripted({"greeting": ("close", "421 4.3.2 busy")})
        self.fault_config(retries=0)
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        self.assertExit(r, 75)
        self.assertEqual(len(self.server.conns), 1)

    def test_fault_tls_drop_after_dot(self):
        """The real STARTTLS+AUTH server takes the message, then drops the
        connection instead of replying: spooled once, exit 75, no retry."""
        self.start_server(extra=["--drop-after-data"])
        self.write_config(retries=2, syslog=True)
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        self.assertExit(r, 75)
        self.assertIn("may have been delivered", r.err)
        self.assertEqual(len(self.server.messages()), 1)
        tr = self.server.transcript()
        self.assertEqual(len(re.findall(rb"^-- connection \d+ from", tr, re.M)), 1)
        first, notes = self.assertDeadLetterExact(MSG, error="may have been delivered")
        self.assertTrue(first.startswith(b"From %s " % SENDER.encode()), first)
        lines = self.attempt_lines()
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0].text, r"relay=localhost\[(127\.0\.0\.1|::1)\]:%d, .*"
                         r"status=deferred \(.*may have been delivered\)\)$" % self.server.port)


# ------------------------------------------------------ dead.letter safety

FALLBACK_RE = r"/var/tmp/dead\.letter\.[A-Za-z0-9]{6}"


class DeadLetter(FaultCase):
    """dead.letter: whole, private, never through a link; a fallback."""

    def refuse(self, **conf):
        """A server that refuses the sender: one attempt, exit 69."""
        self.scripted({"mail": "550 5.7.1 sender refused"})
        return self.fault_config(**conf)

    def fallback_file(self, r, uid):
        """The one /var/tmp/dead.letter.XXXXXX stderr names: checked, read."""
        m = re.search(FALLBACK_RE, r.err)
        self.assertIsNotNone(m, "stderr names no fallback file: %r" % r.err)
        names = os.listdir(self.vartmp)
        self.assertEqual(names, [os.path.basename(m.group(0))])
        path = os.path.join(self.vartmp, names[0])
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual((st.st_uid, st.st_gid), (uid, uid), "fallback owner")
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertDeadLetterExact(MSG, error="550 5.7.1 sender refused", path=path)
        return m.group(0)

    def assertFallback(self, r, uid, cause):
        """Not saved at ~/dead.letter for cause; saved in /var/tmp; stderr
        and syslog both say so."""
        self.assertExit(r, 69)
        where = self.fallback_file(r, uid)
        self.assertRegex(r.err, r"relaymail: cannot save the message in [^\n]*dead\.letter: "
                         + cause + r"; it was saved in " + re.escape(where) + " instead\n")
        saved = [x for x in self.records if "instead" in x.text]
        self.assertEqual(len(saved), 1, "syslog: %r" % self.records)
        self.assertRegex(saved[0].text, r"^from=<%s>, not saved in .*dead\.letter: %s; "
                         r"saved in %s instead$" % (SENDER, cause, re.escape(where)))
        self.assertEqual(saved[0].severity, 4)

    def test_dead_letter_new_file_0600_owned_by_user(self):
        self.refuse()
        self.as_user()
        for n in (1, 2):
            r = self.run_ns(MSG, "-f", SENDER, *RCPTS, uid=NOBODY_UID)
            self.assertExit(r, 69)
            st = os.lstat(self.dead_letter_path())
            self.assertEqual((st.st_uid, st.st_gid), (NOBODY_UID, NOBODY_UID))
            self.assertEqual(st.st_mode & 0o7777, 0o600)
            self.assertDeadLetterExact(MSG, error="550 5.7.1", count=n)
        self.assertEqual(os.listdir(self.vartmp), [])

    def test_dead_letter_symlink_not_followed(self):
        """A symlink at ~/dead.letter (to a file of the user's) is neither
        followed nor replaced: the message goes to the fallback."""
        self.refuse()
        self.as_user()
        target = os.path.join(self.home, "precious")
        with open(target, "wb") as f:
            f.write(b"precious\n")
        os.chown(target, NOBODY_UID, NOBODY_UID)
        os.symlink(target, self.dead_letter_path())
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS, uid=NOBODY_UID)
        with open(target, "rb") as f:
            self.assertEqual(f.read(), b"precious\n", "written through the symlink")
        self.assertTrue(os.path.islink(self.dead_letter_path()))
        self.assertFallback(r, NOBODY_UID, r"a symbolic link \(not followed\)")

    def test_dead_letter_dangling_symlink_not_followed(self):
        self.refuse()
        self.as_user()
        target = os.path.join(self.home, "planted")
        os.symlink(target, self.dead_letter_path())
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS, uid=NOBODY_UID)
        self.assertFalse(os.path.lexists(target), "created through the symlink")
        self.assertFallback(r, NOBODY_UID, r"a symbolic link \(not followed\)")

    def test_dead_letter_symlink_as_root(self):
        """root (cron's own mail) is not tricked either."""
        self.refuse()
        target = os.path.join(self.tmp, "etc-shadow-stand-in")
        with open(target, "wb") as f:
            f.write(b"root:x:\n")
        os.symlink(target, self.dead_letter_path())
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        with open(target, "rb") as f:
            self.assertEqual(f.read(), b"root:x:\n")
        self.assertFallback(r, 0, r"a symbolic link \(not followed\)")

    def test_dead_letter_fifo_does_not_hang(self):
        self.refuse()
        self.as_user()
        os.mkfifo(self.dead_letter_path(), 0o600)
        os.chown(self.dead_letter_path(), NOBODY_UID, NOBODY_UID)
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS, uid=NOBODY_UID, timeout=20)
        self.assertFallback(r, NOBODY_UID, r"not a regular file")

    def test_dead_letter_of_another_user_not_appended(self):
        """A writable dead.letter that belongs to someone else (root's, in
        the user's home) would hand them the message: refused."""
        self.refuse()
        self.as_user()
        fd = os.open(self.dead_letter_path(), os.O_WRONLY | os.O_CREAT, 0o666)
        os.fchmod(fd, 0o666)
        os.close(fd)
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS, uid=NOBODY_UID)
        self.assertEqual(os.path.getsize(self.dead_letter_path()), 0)
        self.assertFallback(r, NOBODY_UID, r"the file belongs to another user \(uid 0\)")

    def test_dead_letter_no_home(self):
        """A uid without passwd entry and without HOME (a bare container)."""
        self.refuse()
        self.as_user()
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS, uid=NOBODY_UID, home=False)
        self.assertFallback(r, NOBODY_UID, r"no home directory \(set HOME, or "
                            r"dead_letter to a full path\)")
        self.assertIn("cannot save the message in ~/dead.letter:", r.err)

    def test_dead_letter_home_not_writable(self):
        self.refuse()
        self.as_user()
        os.chmod(self.home, 0o555)
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS, uid=NOBODY_UID)
        self.assertFallback(r, NOBODY_UID, r"Permission denied")

    def test_dead_letter_nowhere(self):
        """Neither dead_letter nor /var/tmp writable: stderr and syslog say
        that the message is lost (and why), the exit status is unchanged."""
        self.refuse(dead_letter="/nonexistent-dir/dead.letter")
        self.as_user()
        os.chmod(self.vartmp, 0o555)
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS, uid=NOBODY_UID)
        self.assertExit(r, 69)
        self.assertRegex(r.err, r"relaymail: the message could not be saved anywhere and is "
                         r"lost: /nonexistent-dir/dead\.letter: No such file or directory; "
                         r"/var/tmp: Permission denied\n")
        lost = [x for x in self.records if "lost" in x.text]
        self.assertEqual(len(lost), 1, "syslog: %r" % self.records)
        self.assertEqual(lost[0].severity, 3)
        self.assertEqual(os.listdir(self.vartmp), [])

    def test_dead_letter_configured_path(self):
        path = os.path.join(self.tmp, "kept.mbox")
        self.refuse(dead_letter=path)
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        self.assertExit(r, 69)
        self.assertIn("the message was saved in %s\n" % path, r.err)
        self.assertDeadLetterExact(MSG, path=path)
        self.assertFalse(os.path.lexists(self.dead_letter_path()))

    def test_dead_letter_disabled(self):
        self.refuse(dead_letter="")
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        self.assertExit(r, 69)
        self.assertIn("the message was not saved: dead_letter is disabled", r.err)
        self.assertNoDeadLetter()

    def test_dead_letter_20mb_saved_whole(self):
        msg = big_message(20 << 20, b"twenty")
        self.refuse()
        r = self.run_ns(msg, "-f", SENDER, *RCPTS)
        self.assertExit(r, 69)
        self.assertDeadLetterExact(msg)

    def test_dead_letter_line_endings_and_odd_octets(self):
        """CRLF, lone CR, no final newline, NUL, 8-bit, ">From" at the start
        of the body and right after a CR: all kept, line endings as LF."""
        msg = (b"To: one@example.com\r\nSubject: odd\r\n\r\n"
               b"crlf line\r\nlf line\ncr line\rFrom after cr\r"
               b">>>From deep\nnul \x00 here\n\xc3\xa9t\xc3\xa9 \xff\n"
               b">From\nFrom \nno final newline")
        self.refuse()
        r = self.run_ns(msg, "-f", SENDER, *RCPTS)
        self.assertExit(r, 69)
        with open(self.dead_letter_path(), "rb") as f:
            raw = f.read()
        self.assertIn(b"\n>From after cr\n>>>>From deep\nnul \x00 here\n", raw)
        self.assertIn(b"\n>From\n>From \nno final newline\n\n", raw)
        self.assertNotIn(b"\r", raw)
        self.assertDeadLetterExact(msg)

    def test_dead_letter_notes_fixups_and_envelope(self):
        """The input is kept as it came; what relaymail did to it is noted:
        the envelope (aliases, qualification, -t) and the header fix-ups."""
        msg = (b"To: root, Alice <alice@example.com>\nBcc: hidden@example.com\n"
               b"Return-Path: <old@example.com>\nSubject: notes\n"
               b"Date: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody\n")
        self.refuse()
        r = self.run_ns(msg, "-t", "-f", SENDER)
        self.assertExit(r, 69)
        first, notes = self.assertDeadLetterExact(msg, envelope=False)
        self.assertTrue(first.startswith(b"From %s " % SENDER.encode()))
        self.assertEqual(notes["X-Relaymail-Envelope"], "from=<%s> to=<root@example.org>, "
                         "<alice@example.com>, <hidden@example.com>" % SENDER)
        self.assertEqual(notes["X-Relaymail-Fixups"], "added Received, Message-ID, From; "
                         "changed To; removed Bcc, Return-Path")
        self.assertRegex(notes["X-Relaymail-Error"], r"^127\.0\.0\.1: sender refused: "
                         r"550 5\.7\.1 sender refused$")

    def test_dead_letter_concurrent_runs(self):
        """Four runs failing at once append four whole messages (the file
        is locked while one is written)."""
        self.refuse()
        msgs = [big_message(1 << 20, b"run%d" % i) for i in range(4)]
        argv = self.ns_argv([BINARY, "-C", self.conf, "-f", SENDER] + RCPTS)
        procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=self.env())
                 for _ in msgs]
        feeders = [threading.Thread(target=_feed, args=(p, m)) for p, m in zip(procs, msgs)]
        for t in feeders:
            t.start()
        for t in feeders:
            t.join(60)
        self.assertEqual([p.wait(60) for p in procs], [69] * 4)
        got = self.read_mbox()
        self.assertEqual(len(got), 4)
        want = {hashlib.sha256(lf(m).partition(b"\n\n")[2]).hexdigest() for m in msgs}
        self.assertEqual({hashlib.sha256(b).hexdigest() for _, _, _, b in got}, want)

    def test_dead_letter_broken_config_keeps_message(self):
        """A configuration error (78) still keeps the message."""
        self.write_config(text="host = \n")
        r = self.run_ns(MSG, "one@example.com")
        self.assertExit(r, 78)
        msgs = self.read_mbox()
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0][3], lf(MSG).partition(b"\n\n")[2])

    def _no_dead_letter(self, *args, status=0):
        self.scripted({"greeting": ("close", "421 4.3.2 busy")})
        self.fault_config()
        r = self.run_ns(MSG, *args)
        self.assertExit(r, status)
        self.assertNoDeadLetter()
        return r

    def test_dead_letter_not_for_check(self):
        r = self._no_dead_letter("--check", status=75)
        self.assertIn("FAILED", r.stdout.decode())

    def test_dead_letter_not_for_bv(self):
        r = self._no_dead_letter("-bv", "one@example.com")
        self.assertIn(b"one@example.com", r.stdout)
        self.assertEqual(self.server.conns, [])

    def test_dead_letter_not_for_bp(self):
        r = self._no_dead_letter("-bp")
        self.assertEqual(r.stdout, b"Mail queue is empty\n")


def _feed(p, data):
    try:
        p.stdin.write(data)
        p.stdin.close()
    except BrokenPipeError:
        pass


# ---------------------------------------------------------------- syslog

class SyslogLines(FaultCase):
    """The LOG_MAIL lines themselves: shape, tag, off switch."""

    def test_syslog_sent_line(self):
        self.scripted({})
        self.fault_config()
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        self.assertExit(r, 0)
        self.assertEqual(len(self.records), 1, "syslog: %r" % self.records)
        eml = self.server.delivered[0][2]
        self.assertAttemptLine(self.records[0], "sent",
                               r"^250 2\.0\.0 queued as scripted-1$", size=len(eml))
        self.assertEqual(self.records[0].text,
                         "from=<%s>, to=<one@example.com>,<two@example.com>,"
                         "<three@example.com>, relay=127.0.0.1[127.0.0.1]:%d, "
                         "size=%d, status=sent (250 2.0.0 queued as scripted-1)"
                         % (SENDER, self.server.port, len(eml)))

    def test_syslog_tag_from_L(self):
        self.scripted({"mail": "451 4.3.0 later"})
        self.fault_config(retries=0)
        r = self.run_ns(MSG, "-L", "cron-mail", "-f", SENDER, *RCPTS)
        self.assertExit(r, 75)
        self.assertEqual([x.tag for x in self.records], ["cron-mail", "cron-mail"])
        self.assertEqual(len(self.attempt_lines(tag="cron-mail")), 1)

    def test_syslog_off(self):
        """syslog = false: no line at all, not even about dead.letter."""
        self.scripted({"mail": "451 4.3.0 later"})
        self.fault_config(syslog=False)
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        self.assertExit(r, 75)
        self.assertEqual(len(self.server.conns), 2)
        self.assertEqual(self.records, [])
        self.assertDeadLetterExact(MSG)

    def test_syslog_failure_before_any_attempt(self):
        """No recipients at all: relay=none, bounced, message kept."""
        self.scripted({})
        self.fault_config()
        msg = b"Subject: nobody\n\nbody\n"
        r = self.run_ns(msg, "-f", SENDER)
        self.assertExit(r, 65)
        self.assertEqual(self.server.conns, [])
        lines = self.attempt_lines()
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0].text, r"^from=<%s>, to=<>, relay=none, size=\d+, "
                         r"status=bounced \(no recipients: .*\)$" % SENDER)
        first, notes = self.assertDeadLetterExact(msg, error="no recipients",
                                                  envelope=False)
        self.assertNotIn("X-Relaymail-Envelope", notes)

    def test_syslog_hostile_reply_text(self):
        """Control characters in a reply reach neither the terminal, nor
        syslog, nor a line of their own in dead.letter."""
        self.scripted({"mail": "550 5.7.1 \x1b]0;pwned\x07 \x1b[2J no\rFrom evil"})
        self.fault_config()
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS)
        self.assertExit(r, 69)
        self.assertNotRegex(r.err, r"[\x00-\x08\x0b-\x1f\x7f]")
        self.assertIn("550 5.7.1 ?]0;pwned? ?[2J no?From evil", r.err)
        for x in self.records:
            self.assertNotRegex(x.text, r"[\x00-\x1f\x7f]")
        self.assertDeadLetterExact(MSG)


# ----------------------------------------------------- stdout and stderr

def _close_stdout_stderr():
    os.close(1)
    os.close(2)


class Stdio(FaultCase):
    """sudo, atd and daemons run sendmail with stdout/stderr closed or
    /dev/null: diagnostics must not land in the message or dead.letter,
    and nothing may die of SIGPIPE."""

    def _run(self, stdio, script, status):
        self.scripted(script)
        self.fault_config()
        r = self.run_ns(MSG, "-f", SENDER, *RCPTS, stdio=stdio)
        self.assertExit(r, status)
        return r

    def test_stdio_closed_failure(self):
        self._run({"stdout": None, "stderr": None, "preexec_fn": _close_stdout_stderr},
                  {"greeting": ("close", "421 4.3.2 busy")}, 75)
        self.assertDeadLetterExact(MSG, error="421 4.3.2 busy")
        self.assertEqual(len(self.attempt_lines()), 2)
        self.assertIn("saved in", self.records[-1].text)

    def test_stdio_closed_success(self):
        self._run({"stdout": None, "stderr": None, "preexec_fn": _close_stdout_stderr},
                  {}, 0)
        self.assertEqual(len(self.server.delivered), 1)
        eml = self.server.delivered[0][2]
        self.assertEqual(eml.partition(b"\r\n\r\n")[2], crlf(MSG).partition(b"\r\n\r\n")[2])
        self.assertNotIn(b"relaymail", eml.partition(b"\r\n\r\n")[2])

    def test_stdio_dev_null(self):
        with open(os.devnull, "wb") as null:
            self._run({"stdout": null, "stderr": null},
                      {"mail": "550 5.7.1 refused"}, 69)
        self.assertDeadLetterExact(MSG)

    def test_stdio_stderr_pipe_without_reader(self):
        r, w = os.pipe()
        os.close(r)
        try:
            self._run({"stderr": w}, {"mail": "550 5.7.1 refused"}, 69)
        finally:
            os.close(w)
        self.assertDeadLetterExact(MSG)
        self.assertIn("saved in", self.records[-1].text)


# --------------------------------------------------------------- signals

class Signals(FaultCase):
    """SIGTERM, SIGINT, SIGHUP: never a final dot after one; the message is
    kept; exit 75."""

    def start_ns(self, msg, *args):
        argv = self.ns_argv([BINARY, "-C", self.conf] + list(args))
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env(), cwd=self.tmp)
        self.pid = p.pid
        out = {}
        threading.Thread(target=_feed, args=(p, msg), daemon=True).start()
        t = threading.Thread(target=lambda: out.update(err=p.stderr.read()), daemon=True)
        t.start()
        return p, out, t

    def finish(self, p, out, t, argv=()):
        t0 = time.monotonic()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            self.fail("relaymail did not stop after the signal")
        t.join(5)
        r = Run(list(argv), p.returncode, b"", out.get("err", b""), time.monotonic() - t0)
        self.runs.append(r)
        self.records = [x for x in self.syslog.read() if x.pid == p.pid]
        return r

    def _during_data(self, sig):
        msg = big_message(10 << 20, b"sig")
        self.scripted({"body": ("stall_after", 65536)}, rcvbuf=4096)
        self.fault_config(timeout=60)
        p, out, t = self.start_ns(msg, "-f", SENDER, *RCPTS)
        c = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.server.conns:
            time.sleep(0.05)
        self.assertTrue(self.server.conns, "no connection")
        c = self.server.conns[0]
        self.assertTrue(c.stalled.wait(20), "the body never started")
        time.sleep(0.5)     # relaymail is now blocked writing the body
        self.assertIsNone(p.poll())
        os.kill(p.pid, sig)
        r = self.finish(p, out, t)
        self.assertExit(r, 75)
        self.assertLess(r.elapsed, 5, "slow to stop")
        self.server.resume()
        self.assertTrue(c.done.wait(20))
        self.assertFalse(c.got_dot, "the final dot was sent after a signal")
        self.assertLess(len(c.data), len(crlf(msg)))
        self.assertEqual(len(self.server.conns), 1, "retried after a signal")
        self.assertEqual(self.server.delivered, [])
        self.assertDeadLetterExact(msg, error="interrupted by signal %d" % sig)
        lines = self.attempt_lines()
        self.assertEqual(len(lines), 1)
        self.assertAttemptLine(lines[0], "deferred", r"^interrupted by signal %d: "
                               r"nothing more was sent$" % sig)

    def test_signal_term_during_data(self):
        self._during_data(signal.SIGTERM)

    def test_signal_int_during_data(self):
        self._during_data(signal.SIGINT)

    def test_signal_hup_during_data(self):
        self._during_data(signal.SIGHUP)

    def test_signal_while_waiting_for_dot_reply(self):
        """The dot went out: a signal now leaves the outcome unknown."""
        self.scripted({"dot": ("delay", 60, "250 2.0.0 too late")})
        self.fault_config()
        p, out, t = self.start_ns(MSG, "-f", SENDER, *RCPTS)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (self.server.conns and
                                                   self.server.conns[0].got_dot):
            time.sleep(0.05)
        self.assertTrue(self.server.conns and self.server.conns[0].got_dot)
        time.sleep(0.2)
        os.kill(p.pid, signal.SIGTERM)
        r = self.finish(p, out, t)
        self.assertExit(r, 75)
        self.assertEqual(len(self.server.conns), 1)
        self.assertDeadLetterExact(MSG, error="may have been delivered")

    def test_signal_during_backoff(self):
        """A signal in the pause between attempts ends the run at once."""
        self.scripted({"greeting": ("close", "421 4.3.2 busy")})
        self.fault_config(retries=2)
        p, out, t = self.start_ns(MSG, "-f", SENDER, *RCPTS)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.server.conns:
            time.sleep(0.02)
        time.sleep(0.3)
        os.kill(p.pid, signal.SIGTERM)
        r = self.finish(p, out, t)
        self.assertExit(r, 75)
        self.assertLess(r.elapsed, 1.0)
        self.assertEqual(len(self.server.conns), 1)
        self.assertDeadLetterExact(MSG, error=r"421 4\.3\.2 busy; interrupted by "
                                   r"signal 15 before the next attempt")

    def _writer_killed(self, sig):
        """`job | sendmail` and the whole process group gets the signal
        mid-stream: nothing is sent, what was read is kept."""
        self.scripted({})
        self.fault_config()
        part = MSG[:MSG.index(b"trailing")]
        writer = subprocess.Popen(["sh", "-c", 'printf "%s" "$1"; exec sleep 30', "sh",
                                   part.decode()], stdout=subprocess.PIPE,
                                  process_group=0)
        p = subprocess.Popen([BINARY, "-C", self.conf, "-f", SENDER] + RCPTS,
                             stdin=writer.stdout, stderr=subprocess.PIPE, env=self.env(),
                             process_group=writer.pid)
        writer.stdout.close()
        # reading by then (valgrind takes seconds to start relaymail)
        time.sleep(5 if VALGRIND else 0.7)
        self.assertIsNone(p.poll())
        os.killpg(writer.pid, sig)
        try:
            _, err = p.communicate(timeout=15)
        finally:
            writer.wait(5)
        self.runs.append(Run(["relaymail"], p.returncode, b"", err, 0))
        self.assertExit(self.runs[-1], 75)
        self.assertEqual(self.server.conns, [], "something was sent")
        self.assertRegex(err.decode(), r"interrupted by signal %d while reading the "
                         r"message \(after %d octets\): nothing was sent" % (sig, len(part)))
        msgs = self.read_mbox()
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0][3], lf(part).partition(b"\n\n")[2])

    def test_signal_writer_killed_term(self):
        self._writer_killed(signal.SIGTERM)

    def test_signal_writer_killed_int(self):
        self._writer_killed(signal.SIGINT)


# --------------------------------------------------------- large and slow

def run_measured(argv, data, env, cwd, timeout=120):
    """Run argv with data on stdin; (status, stderr, peak RSS in KiB).

    The peak is VmHWM of /proc/PID/status, read every few milliseconds
    until the process exits (VmHWM only grows, so the last reading is the
    peak up to then).  Not wait4()'s ru_maxrss: the kernel carries the
    parent's high-water mark across fork and exec into it, and the parent
    here is this test runner, holding the 50 MB message itself.
    """
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env, cwd=cwd)
    err = {}
    feeder = threading.Thread(target=_feed, args=(p, data), daemon=True)
    reader = threading.Thread(target=lambda: err.update(e=p.stderr.read()), daemon=True)
    feeder.start()
    reader.start()
    peak, deadline = 0, time.monotonic() + timeout
    while p.poll() is None and time.monotonic() < deadline:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
            if m:
                peak = max(peak, int(m.group(1)))
        except OSError:
            pass
        time.sleep(0.002)
    if p.poll() is None:
        p.kill()
    p.wait()
    feeder.join(5)
    reader.join(5)
    return p.returncode, err.get("e", b""), peak


class LargeInput(FaultCase):
    """Memory bounded whatever the size; stdin without a timeout."""

    RSS_BOUND_KIB = 1024    # growth allowed from 1 KB to 50 MB

    def test_large_50mb_bounded_memory(self):
        if "ASAN_OPTIONS" in os.environ or "/.asan/" in BINARY:
            self.skipTest("peak memory means nothing under AddressSanitizer")
        if VALGRIND:
            self.skipTest("peak memory would be valgrind's")
        self.scripted({})
        self.fault_config()
        argv = [BINARY, "-C", self.conf, "-f", SENDER] + RCPTS
        small = big_message(1000)
        large = big_message(50 << 20, b"fifty")
        st, err, rss_small = run_measured(argv, small, self.env(), self.tmp)
        self.assertEqual(st, 0, err)
        t0 = time.monotonic()
        st, err, rss_large = run_measured(argv, large, self.env(), self.tmp)
        dt = time.monotonic() - t0
        self.assertEqual(st, 0, err)
        self.assertEqual(len(self.server.delivered), 2)
        eml = self.server.delivered[1][2]
        self.assertEqual(hashlib.sha256(eml.partition(b"\r\n\r\n")[2]).hexdigest(),
                         hashlib.sha256(crlf(large).partition(b"\r\n\r\n")[2]).hexdigest(),
                         "the 50 MB message did not arrive intact")
        print("     peak RSS: %d KiB for a 1 KB message, %d KiB for a %.1f MB one "
              "(%.1f s)" % (rss_small, rss_large, len(large) / 1e6, dt), flush=True)
        self.assertLess(rss_large - rss_small, self.RSS_BOUND_KIB,
                        "memory grew with the message: %d KiB -> %d KiB"
                        % (rss_small, rss_large))
        self.assertLess(rss_large, 16 * 1024)

    def test_large_slow_writer_no_stdin_timeout(self):
        """A writer pausing longer than `timeout` (cronie streams a job's
        output while it runs) still gets its message delivered, whole."""
        self.scripted({})
        self.fault_config(timeout=1)
        p = subprocess.Popen([BINARY, "-C", self.conf, "-f", SENDER] + RCPTS,
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env())
        cut = [0, MSG.index(b"\n\n") - 3, MSG.index(b".\n"), len(MSG)]
        for a, b in zip(cut, cut[1:]):
            p.stdin.write(MSG[a:b])
            p.stdin.flush()
            time.sleep(1.6)
        p.stdin.close()
        err = p.stderr.read()
        self.assertEqual(p.wait(30), 0, err)
        self.assertEqual(len(self.server.delivered), 1)
        eml = self.server.delivered[0][2]
        self.assertEqual(eml.partition(b"\r\n\r\n")[2], crlf(MSG).partition(b"\r\n\r\n")[2])
