#!/usr/bin/python3
"""evilsmtp.py -- a scripted, adversarial SMTP server for relaymail's tests.

Raw sockets and Python's ssl module, nothing else: it may send any bytes,
delay, close, go silent, switch to TLS with a chosen certificate and
protocol version, append plaintext to its "220" reply to STARTTLS in the
same segment, answer with a 100 kB line or a 10,000-line reply, refuse
recipients with 452 after N of them, and it records everything the client
sent: every read() as it arrived (so a test can tell that MAIL, RCPT and
DATA came in one write), whether TLS was on, the SNI name, the client
certificate, each message.

Used from tests/it_smtp.py as a library:

    srv = EvilSMTP(certs="/path/to/certs", tls="starttls",
                   rcpt_limit=100).start()
    ... run relaymail against 127.0.0.1:srv.port ...
    srv.stop()
    srv.messages, srv.commands(), srv.plaintext(), srv.reads(), srv.sni

or by hand (loopback only):

    /usr/bin/python3 tests/evilsmtp.py --certs DIR --tls starttls \\
        --starttls-inject '250 INJECTED' --port 2525

Scenario knobs (keyword arguments of EvilSMTP, all optional):

  tls            "starttls" (default) | "implicit" | "none"
  cert           certificate name in certs/ (NAME.pem, NAME.key); "server"
  cert_files     (pem, key) paths instead of cert
  tls_min, tls_max   "1.1" | "1.2" | "1.3"
  client_ca      require a client certificate signed by this CA file
  greeting       bytes of the greeting (default "220 ... ESMTP"); None: silent
  exts           EHLO keywords offered before TLS (STARTTLS is added when
                 tls = starttls and starttls_offer is true)
  exts_tls       EHLO keywords offered after TLS
  starttls_offer offer STARTTLS (default true)
  starttls_reply bytes sent in answer to STARTTLS ("220 2.0.0 Ready...")
  starttls_inject  bytes appended to that reply in the same send()
  starttls_inject_delay  send the injection this many seconds later instead
  starttls_close close the connection instead of answering STARTTLS
  auth_result    "check" (default: PLAIN/LOGIN against user/password),
                 or the bytes to answer AUTH with ("535 5.7.8 ...")
  rcpt_limit     after this many accepted recipients in one transaction,
                 answer "452 4.5.3 Too many recipients"
  rcpt_reply     {address: reply bytes or callable(address)} for chosen
                 recipients
  replies        {VERB: bytes or callable(conn)}: replaces the answer to
                 VERB ("GREETING" for the greeting, "." for the final dot)
  delays         {VERB: seconds} before answering VERB
  silent_at      go silent (keep the socket open, answer nothing) instead
                 of answering this VERB ("GREETING", "EHLO", ".", ...) or
                 "HANDSHAKE" (implicit TLS or after STARTTLS's 220)
  data_reply     the answer to DATA when recipients were accepted (354)
"""

import argparse
import json
import os
import socket
import ssl
import sys
import threading
import time
import warnings

CRLF = b"\r\n"
HOST = "evil.test"

TLS_VERSIONS = {
    "1.1": "TLSv1_1",
    "1.2": "TLSv1_2",
    "1.3": "TLSv1_3",
}


class Closed(Exception):
    """The client went away (or the server is stopping)."""


def endless_line(prefix=b"250-", chunk=b"A" * 8192, limit=64 << 20):
    """A reply that is one line without end: stream chunk after chunk
    until the client gives up (or limit octets went out)."""
    def send(conn):
        conn.send(prefix)
        sent = 0
        while sent < limit:
            conn.send(chunk, record=False)
            sent += len(chunk)
        conn.send(CRLF)
    return send


def long_line(size=100 * 1000, code=b"250"):
    """One reply line of size octets (plus CRLF), then a proper end."""
    body = b"x" * max(0, size - 4)
    return code + b"-" + body + CRLF + code + b" ok" + CRLF


def many_lines(n=10000, code=b"250"):
    """A multi-line reply of n lines."""
    lines = [code + b"-line %d" % i + CRLF for i in range(n - 1)]
    return b"".join(lines) + code + b" last" + CRLF


class Conn:
    """One client connection, run in its own thread."""

    def __init__(self, srv, sock, number):
        self.srv = srv
        self.sc = srv.sc
        self.sock = sock
        self.n = number
        self.tls = False
        self.buf = b""
        self.helo = None
        self.auth_user = None
        self.mail_from = None
        self.rcpts = []
        self.sock.settimeout(0.2)

    # -- recording and raw I/O -------------------------------------------

    def event(self, kind, data):
        self.srv.record(self.n, kind, self.tls, data)

    def send(self, data, record=True):
        if record:
            self.event("send", data)
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as e:
            raise Closed("send: %s" % e)

    def recv(self):
        deadline = time.monotonic() + self.srv.io_timeout
        while True:
            if self.srv.stopping.is_set():
                raise Closed("server stopping")
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                if time.monotonic() > deadline:
                    raise Closed("client silent")
                continue
            except (OSError, ssl.SSLError) as e:
                raise Closed("recv: %s" % e)
            if not data:
                raise Closed("EOF")
            self.event("recv", data)
            return data

    def readline(self):
        while b"\n" not in self.buf:
            self.buf += self.recv()
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def hold(self):
        """Say nothing; wait for the client to leave or the server to stop."""
        self.event("mark", b"silent")
        while not self.srv.stopping.is_set():
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError):
                break
            if not data:
                break
            self.event("recv", data)
        raise Closed("held")

    def reply(self, verb, default):
        """Answer verb: the scenario's override, delay or silence, else
        default (bytes)."""
        if verb in self.sc.get("delays", {}):
            time.sleep(self.sc["delays"][verb])
        if self.sc.get("silent_at") == verb:
            self.hold()
        r = self.sc.get("replies", {}).get(verb, default)
        if callable(r):
            r(self)
        elif r is not None:
            self.send(r)

    # -- TLS -------------------------------------------------------------

    def tls_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            lo, hi = self.sc.get("tls_min"), self.sc.get("tls_max")
            if lo == "1.1" or hi == "1.1":
                # OpenSSL 3 needs security level 0 for TLS 1.1
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            if lo:
                ctx.minimum_version = getattr(ssl.TLSVersion, TLS_VERSIONS[lo])
            if hi:
                ctx.maximum_version = getattr(ssl.TLSVersion, TLS_VERSIONS[hi])
        pem, key = self.srv.cert_files()
        ctx.load_cert_chain(pem, key)
        if self.sc.get("client_ca"):
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.sc["client_ca"])

        def sni(sslobj, name, c):
            self.srv.sni.append(name)
        ctx.sni_callback = sni
        return ctx

    def start_tls(self):
        if self.sc.get("silent_at") == "HANDSHAKE":
            self.hold()
        if self.buf:
            # plaintext the client pipelined after STARTTLS (RFC 3207 §4.2
            # forbids it): recorded, then dropped as a real server would
            self.event("mark", b"plaintext pipelined after STARTTLS: " +
                       self.buf)
            self.buf = b""
        try:
            self.sock.settimeout(self.srv.io_timeout)
            s = self.tls_context().wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError, ValueError) as e:
            self.event("mark", b"TLS handshake failed: " +
                       str(e).encode("utf-8", "replace"))
            self.srv.handshake_failures.append(str(e))
            raise Closed("handshake")
        self.sock = s
        self.sock.settimeout(0.2)
        self.tls = True
        cert = None
        try:
            cert = s.getpeercert()
        except (ValueError, ssl.SSLError):
            pass
        self.srv.tls_sessions.append({"version": s.version(),
                                      "cipher": (s.cipher() or [None])[0],
                                      "client_cert": cert})
        self.event("mark", ("TLS %s" % s.version()).encode())

    # -- the session -----------------------------------------------------

    def run(self):
        try:
            if self.sc.get("tls") == "implicit":
                self.start_tls()
            greeting = self.sc.get("greeting",
                                   b"220 " + HOST.encode() + b" ESMTP evil" + CRLF)
            if greeting is None:
                self.hold()
            self.reply("GREETING", greeting)
            while True:
                line = self.readline()
                if not self.command(line):
                    break
        except Closed as e:
            self.event("mark", ("closed: %s" % e).encode())
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def ehlo_lines(self):
        sc = self.sc
        if self.tls:
            exts = list(sc.get("exts_tls", ["AUTH PLAIN LOGIN", "8BITMIME",
                                            "ENHANCEDSTATUSCODES"]))
        else:
            exts = list(sc.get("exts", ["8BITMIME", "ENHANCEDSTATUSCODES"]))
            if sc.get("tls") == "starttls" and sc.get("starttls_offer", True):
                exts.insert(0, "STARTTLS")
        lines = [HOST] + exts
        out = b""
        for i, l in enumerate(lines):
            sep = b" " if i == len(lines) - 1 else b"-"
            out += b"250" + sep + l.encode() + CRLF
        return out

    def command(self, line):
        """Handle one command line; False ends the session."""
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        verb = text.split(" ", 1)[0].split(":", 1)[0].upper()
        arg = text[len(verb):].strip()
        handler = getattr(self, "do_" + verb, None)
        if handler is None:
            self.reply(verb, b"500 5.5.2 command not recognised" + CRLF)
            return True
        return handler(arg)

    def do_EHLO(self, arg):
        self.helo = arg
        self.rcpts, self.mail_from = [], None
        self.reply("EHLO", self.ehlo_lines())
        return True

    def do_HELO(self, arg):
        self.helo = arg
        self.reply("HELO", b"250 " + HOST.encode() + CRLF)
        return True

    def do_STARTTLS(self, arg):
        sc = self.sc
        if sc.get("starttls_close"):
            self.event("mark", b"closing on STARTTLS")
            return False
        r = sc.get("starttls_reply", b"220 2.0.0 Ready to start TLS" + CRLF)
        if sc.get("delays", {}).get("STARTTLS"):
            time.sleep(sc["delays"]["STARTTLS"])
        if sc.get("starttls_inject_delay"):
            # the injection in a segment of its own, a moment later
            self.send(r)
            time.sleep(sc["starttls_inject_delay"])
            self.send(sc.get("starttls_inject", b""))
        else:
            self.send(r + sc.get("starttls_inject", b""))
        if not r.startswith(b"220"):
            return True
        self.start_tls()
        return True

    def check_password(self, user, password):
        ok = (user == self.srv.user and password == self.srv.password)
        res = self.sc.get("auth_result", "check")
        if res == "check":
            if ok:
                self.auth_user = user
                return b"235 2.7.0 Authentication successful" + CRLF
            return b"535 5.7.8 Authentication credentials invalid" + CRLF
        return res

    def do_AUTH(self, arg):
        import base64
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        self.srv.auth_attempts.append({"mech": mech, "tls": self.tls})
        try:
            if mech == "PLAIN":
                if len(parts) > 1:
                    resp = parts[1]
                else:
                    self.send(b"334 " + CRLF)
                    resp = self.readline().strip().decode()
                raw = base64.b64decode(resp) if resp != "=" else b""
                _, user, pw = raw.split(b"\0", 2)
                r = self.check_password(user.decode(), pw.decode())
            elif mech == "LOGIN":
                if len(parts) > 1:
                    user = base64.b64decode(parts[1])
                else:
                    self.send(b"334 VXNlcm5hbWU6" + CRLF)
                    user = base64.b64decode(self.readline().strip())
                self.send(b"334 UGFzc3dvcmQ6" + CRLF)
                pw = base64.b64decode(self.readline().strip())
                r = self.check_password(user.decode(), pw.decode())
            else:
                r = b"504 5.5.4 mechanism not supported" + CRLF
        except (ValueError, UnicodeDecodeError):
            r = b"501 5.5.2 malformed AUTH data" + CRLF
        self.reply("AUTH", r)
        return True

    def do_MAIL(self, arg):
        self.mail_from = arg
        self.rcpts = []
        self.reply("MAIL", b"250 2.1.0 Ok" + CRLF)
        return True

    def do_RCPT(self, arg):
        addr = arg.split(":", 1)[1].strip() if ":" in arg else arg
        addr = addr.split(">", 1)[0].lstrip("<")
        limit = self.sc.get("rcpt_limit")
        special = self.sc.get("rcpt_reply", {}).get(addr)
        if callable(special):
            special = special(addr)
        if special is not None:
            r = special
        elif limit is not None and len(self.rcpts) >= limit:
            r = b"452 4.5.3 Too many recipients" + CRLF
        else:
            r = b"250 2.1.5 Ok" + CRLF
        if r.startswith(b"2"):
            self.rcpts.append(addr)
        self.srv.rcpt_log.append((addr, r[:3].decode()))
        self.reply("RCPT", r)
        return True

    def do_DATA(self, arg):
        if not self.rcpts:
            self.reply("DATA", b"554 5.5.1 No valid recipients" + CRLF)
            return True
        self.reply("DATA", self.sc.get("data_reply",
                                       b"354 End data with <CR><LF>.<CR><LF>" + CRLF))
        data = b""
        while True:
            line = self.readline()
            if line == b".\r\n":
                break
            data += line[1:] if line.startswith(b".") else line
        self.srv.messages.append({"mail_from": self.mail_from,
                                  "rcpts": list(self.rcpts), "data": data,
                                  "tls": self.tls, "auth_user": self.auth_user})
        self.rcpts, self.mail_from = [], None
        self.reply(".", b"250 2.0.0 Ok: queued" + CRLF)
        return True

    def do_RSET(self, arg):
        self.rcpts, self.mail_from = [], None
        self.reply("RSET", b"250 2.0.0 Ok" + CRLF)
        return True

    def do_NOOP(self, arg):
        self.reply("NOOP", b"250 2.0.0 Ok" + CRLF)
        return True

    def do_QUIT(self, arg):
        self.reply("QUIT", b"221 2.0.0 Bye" + CRLF)
        return False


class EvilSMTP:
    """The server: listens on loopback, one thread per connection."""

    def __init__(self, certs=None, listen="127.0.0.1", user=None,
                 password=None, io_timeout=30.0, backlog=16, **scenario):
        self.certs = certs
        self.listen = listen
        self.user, self.password = user, password
        self.io_timeout = io_timeout
        self.backlog = backlog
        scenario.setdefault("tls", "starttls")
        self.sc = scenario
        self.port = None
        self.lock = threading.Lock()
        self.events = []          # (conn, kind, tls, bytes)
        self.messages = []        # complete messages (after the final dot)
        self.rcpt_log = []        # (address, reply code) for every RCPT
        self.auth_attempts = []
        self.tls_sessions = []
        self.handshake_failures = []
        self.sni = []
        self.stopping = threading.Event()
        self.threads = []
        self.nconn = 0

    def cert_files(self):
        if "cert_files" in self.sc:
            return self.sc["cert_files"]
        name = self.sc.get("cert", "server")
        return (os.path.join(self.certs, name + ".pem"),
                os.path.join(self.certs, name + ".key"))

    def record(self, conn, kind, tls, data):
        with self.lock:
            self.events.append((conn, kind, tls, data))

    def start(self):
        fam = socket.AF_INET6 if ":" in self.listen else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((self.listen, 0))
        self.lsock.listen(self.backlog)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        t = threading.Thread(target=self.accept_loop, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def accept_loop(self):
        while not self.stopping.is_set():
            try:
                sock, peer = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.nconn += 1
            self.record(self.nconn, "mark", False,
                        ("connection from %s" % (peer,)).encode())
            c = Conn(self, sock, self.nconn)
            t = threading.Thread(target=c.run, daemon=True)
            t.start()
            self.threads.append(t)

    def settle(self, timeout=10.0):
        """Wait until every connection's thread has finished (the client
        has gone, so this is quick unless the server is holding on)."""
        deadline = time.monotonic() + timeout
        for t in list(self.threads[1:]):
            t.join(max(0.0, deadline - time.monotonic()))

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        for t in self.threads:
            t.join(5)

    # -- what the client did ------------------------------------------------

    def reads(self, tls=None):
        """[(conn, tls, bytes)] of every read, in order."""
        with self.lock:
            return [(c, t, d) for c, k, t, d in self.events
                    if k == "recv" and (tls is None or t == tls)]

    def plaintext(self):
        """Everything the client sent before TLS, concatenated."""
        return b"".join(d for c, t, d in self.reads(tls=False))

    def received(self):
        return b"".join(d for c, t, d in self.reads())

    def commands(self):
        """[(tls, line)] of every command line (DATA content excluded)."""
        out = []
        with self.lock:
            evs = list(self.events)
        per = {}
        for c, k, t, d in evs:
            if k != "recv":
                continue
            buf, in_data = per.get(c, (b"", False))
            buf += d
            while b"\n" in buf:
                i = buf.index(b"\n") + 1
                line, buf = buf[:i], buf[i:]
                s = line.rstrip(b"\r\n").decode("utf-8", "replace")
                if in_data:
                    if s == ".":
                        in_data = False
                        out.append((t, s))
                    continue
                out.append((t, s))
                if s.upper() == "DATA":
                    in_data = True
            per[c] = (buf, in_data)
        return out

    def verbs(self, tls=None):
        return [l.split(" ", 1)[0].split(":", 1)[0].upper()
                for t, l in self.commands() if tls is None or t == tls]

    def transcript(self):
        """A readable transcript for failure diagnostics."""
        out = []
        with self.lock:
            evs = list(self.events)
        for c, k, t, d in evs:
            tag = {"recv": "C", "send": "S", "mark": "--"}[k]
            s = d[:300].decode("utf-8", "backslashreplace")
            if len(d) > 300:
                s += "...(%d octets)" % len(d)
            out.append("%d %s%s %s" % (c, tag, "*" if t else " ", s.rstrip()))
        return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--certs", help="directory made by tests/mkcerts.sh")
    ap.add_argument("--listen", default="127.0.0.1",
                    choices=("127.0.0.1", "::1"))
    ap.add_argument("--port-file")
    ap.add_argument("--tls", choices=("starttls", "implicit", "none"),
                    default="starttls")
    ap.add_argument("--cert", default="server")
    ap.add_argument("--tls-min", choices=sorted(TLS_VERSIONS))
    ap.add_argument("--tls-max", choices=sorted(TLS_VERSIONS))
    ap.add_argument("--starttls-inject", help="text appended to the 220")
    ap.add_argument("--starttls-reply", help="reply to STARTTLS instead of 220")
    ap.add_argument("--rcpt-limit", type=int)
    ap.add_argument("--silent-at")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--seconds", type=float, default=600,
                    help="stop after this long (default %(default)s)")
    o = ap.parse_args(argv)
    sc = {"tls": o.tls, "cert": o.cert}
    for k in ("tls_min", "tls_max", "rcpt_limit", "silent_at"):
        if getattr(o, k) is not None:
            sc[k] = getattr(o, k)
    if o.starttls_inject:
        sc["starttls_inject"] = o.starttls_inject.encode() + CRLF
    if o.starttls_reply:
        sc["starttls_reply"] = o.starttls_reply.encode() + CRLF
    srv = EvilSMTP(certs=o.certs, listen=o.listen, user=o.user,
                   password=o.password, **sc).start()
    if o.port_file:
        with open(o.port_file, "w") as f:
            f.write("%d\n" % srv.port)
    print("listening on %s port %d" % (o.listen, srv.port), flush=True)
    try:
        time.sleep(o.seconds)
    except KeyboardInterrupt:
        pass
    srv.stop()
    print(srv.transcript())
    print(json.dumps([{k: (v.decode("utf-8", "replace") if isinstance(v, bytes)
                           else v) for k, v in m.items()}
                      for m in srv.messages], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
