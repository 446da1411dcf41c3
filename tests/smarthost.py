#!/usr/bin/python3
"""smarthost.py -- a real SMTP submission server for relaymail's tests and demo.

Built on aiosmtpd (Debian's python3-aiosmtpd 1.4.x); run it with /usr/bin/python3.
It listens on loopback only, speaks STARTTLS or implicit TLS or plaintext,
requires AUTH PLAIN/LOGIN when --user is given, and records everything:

  SPOOL/msg-N.eml     the DATA content exactly as received (bytes, after
                      dot-unstuffing, CRLF line endings as on the wire)
  SPOOL/msg-N.json    {"mail_from", "rcpt_tos", "mail_options",
                      "rcpt_options" (one list per recipient), "auth_user",
                      "auth_mechanism", "tls", "tls_version", "tls_cipher",
                      "client_cert", "helo", "peer", "size", "number"}
  SPOOL/transcript.log
                      every line on the wire, raw bytes with their original
                      line terminators, one record per line:
                        "C: " a command line the client sent
                        "A: " a SASL response the client sent after a 334
                        "D: " a line the client sent inside DATA (still
                              dot-stuffed; the final "." is a "C: " line)
                        "S: " a line the server sent
                        "-- ... --" markers, each on its own LF-ended line:
                          "-- connection N from HOST:PORT --"
                          "-- TLS started --"   (followed by "-- TLS: version cipher --")
                          "-- TLS handshake failed: REASON --"
                          "-- unterminated client data (WHEN): b'...' --"
                          "-- not sent, connection closing: b'...' --"
                          "-- connection N closed --"
                          "-- server stopped --"
                      With implicit TLS, "TLS started" comes right after
                      "connection N from", before the greeting.
                      Client bytes are captured in data_received(), i.e. before
                      the SMTP parser sees them, so bytes that the parser later
                      discards (e.g. plaintext pipelined after STARTTLS) are
                      still in the transcript, in order.

Files are written with a temporary name and renamed, so a reader never sees
a half-written message; the .json is renamed last, so its presence means the
message is complete. Everything is written before the 250 reply to DATA.

The port actually bound is written to --port-file once the server listens.
SIGTERM and SIGINT stop it cleanly (exit 0).
"""

import argparse
import asyncio
import ipaddress
import itertools
import json
import logging
import os
import signal
import socket
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, syntax

log = logging.getLogger("smarthost")

NULL_SENDER_PLACEHOLDER = "null-sender@smarthost.invalid"


class NullSender(str):
    """The null reverse-path "<>": equal to "" but truthy, because aiosmtpd
    treats a falsy envelope.mail_from as 'no MAIL command yet'."""

    def __bool__(self):
        return True


class Transcript:
    """Append-only, unbuffered raw transcript shared by all connections."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(self, prefix, data):
        if self.fd is not None:
            os.write(self.fd, prefix + data)

    def marker(self, text):
        self.record(b"-- ", text.encode("utf-8", "backslashreplace") + b" --\n")

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class State:
    """Server-wide state: options, counters, the transcript."""

    def __init__(self, opts):
        self.opts = opts
        self.transcript = Transcript(os.path.join(opts.spool, "transcript.log"))
        self.conn_ids = itertools.count(1)
        self.active = 0
        self.sessions = set()     # live RecordingSMTP instances
        self.spooled = len([f for f in os.listdir(opts.spool)
                            if f.startswith("msg-") and f.endswith(".json")])
        self.limit_reached = False
        self.stop_event = None  # set in main()

    def maybe_stop(self):
        if self.limit_reached and self.active == 0 and self.stop_event:
            self.stop_event.set()


def tls_info(server):
    """(tls?, version, cipher, peer certificate) of the session."""
    obj = None
    if server.transport is not None:
        obj = server.transport.get_extra_info("ssl_object")
    if obj is None and server.session is not None and server.session.ssl:
        obj = server.session.ssl.get("ssl_object")
    if obj is None:
        return False, None, None, None
    cipher = obj.cipher()
    cert = None
    try:
        cert = obj.getpeercert()
    except (ValueError, ssl.SSLError):
        pass
    return True, obj.version(), cipher[0] if cipher else None, cert or None


class RecordingSMTP(SMTP):
    """aiosmtpd's SMTP with a raw transcript and a few test knobs."""

    def __init__(self, handler, state, **kw):
        super().__init__(handler, **kw)
        self.st = state
        self.conn_id = None
        self._sh_rx = b""            # partial client line
        self._sh_in_data = False     # between our 354 and the client's "."
        self._sh_in_auth = False     # after our 334: a SASL response comes
        self._sh_closed = False
        self._sh_starttls_pending = False
        self._sh_implicit_ctx = kw.get("tls_context") if state.opts.tls == "implicit" else None
        if self._sh_implicit_ctx is not None:
            # Implicit TLS is done by us (connection_made), not by SMTP's
            # STARTTLS machinery, so that SMTP never offers STARTTLS.
            self.tls_context = None
        self._sh_handshake_task = None
        self._sh_tls_done = False
        self._sh_raw = None       # the TCP transport

    # -- transcript ------------------------------------------------------

    def _rec(self, prefix, data):
        try:
            self.st.transcript.record(prefix, data)
        except OSError as e:  # never let logging break the session
            log.error("transcript: %s", e)

    def _marker(self, text):
        try:
            self.st.transcript.marker(text)
        except OSError as e:
            log.error("transcript: %s", e)

    def _flush_partial(self, why):
        if self._sh_rx:
            self._marker("unterminated client data (%s): %r" % (why, self._sh_rx))
            self._sh_rx = b""

    def _record_client(self, data):
        self._sh_rx += data
        while True:
            i = self._sh_rx.find(b"\n")
            if i < 0:
                break
            line, self._sh_rx = self._sh_rx[:i + 1], self._sh_rx[i + 1:]
            if self._sh_in_auth:
                self._sh_in_auth = False
                self._rec(b"A: ", line)
            elif self._sh_in_data:
                if line == b".\r\n":
                    self._sh_in_data = False
                    self._rec(b"C: ", line)
                else:
                    self._rec(b"D: ", line)
            else:
                self._rec(b"C: ", line)

    def _tls_marker(self, transport):
        self._flush_partial("plaintext before TLS")
        self._marker("TLS started")
        obj = transport.get_extra_info("ssl_object")
        if obj is not None:
            c = obj.cipher()
            self._marker("TLS: %s %s" % (obj.version(), c[0] if c else "?"))
        self._sh_tls_done = True

    # -- asyncio protocol hooks -----------------------------------------

    def connection_made(self, transport):
        if self.conn_id is None:
            self.conn_id = next(self.st.conn_ids)
            self.st.active += 1
            self.st.sessions.add(self)
            self._sh_raw = transport
            peer = transport.get_extra_info("peername") or ("?", 0)
            self._marker("connection %d from %s:%s" % (self.conn_id, peer[0], peer[1]))
            if self._sh_implicit_ctx is not None:
                self._sh_handshake_task = self.loop.create_task(
                    self._implicit_handshake(transport))
                return
        elif self._original_transport is not None and not self._sh_tls_done:
            # SSLProtocol calling back after the STARTTLS handshake.
            self._tls_marker(transport)
        super().connection_made(transport)

    async def _implicit_handshake(self, raw):
        try:
            tls = await self.loop.start_tls(
                raw, self, self._sh_implicit_ctx, server_side=True,
                ssl_handshake_timeout=self.st.opts.timeout)
        except Exception as e:  # noqa: BLE001 - any failure ends the session
            self._marker("TLS handshake failed: %s" % (_describe(e),))
            raw.close()
            self._log_closed()
            return
        if tls is None:  # peer went away during the handshake
            self._marker("TLS handshake failed: connection closed")
            self._log_closed()
            return
        self._tls_marker(tls)
        super().connection_made(tls)

    def data_received(self, data):
        self._record_client(data)
        super().data_received(data)

    def eof_received(self):
        if self._handler_coroutine is None:
            return False
        return super().eof_received()

    def _log_closed(self):
        if self._sh_closed:
            return
        self._sh_closed = True
        self._flush_partial("at close")
        self._marker("connection %d closed" % self.conn_id)
        self.st.active -= 1
        self.st.sessions.discard(self)
        self.st.maybe_stop()

    def connection_lost(self, error):
        first = not self._sh_closed
        self._log_closed()
        if self._handler_coroutine is None:
            # implicit TLS handshake never completed: SMTP never started
            if self._sh_handshake_task is not None:
                self._sh_handshake_task.cancel()
            return
        if first or self.transport is not None:
            super().connection_lost(error)

    # -- SMTP overrides ---------------------------------------------------

    async def push(self, status):
        if isinstance(status, str):
            raw = status.encode("utf-8", "surrogateescape")
        else:
            raw = status
        if self._sh_starttls_pending and raw.startswith(b"220"):
            self._sh_starttls_pending = False
            inject = self.st.opts.starttls_inject
            if inject:
                # Response injection (CVE-2011-0411 style): plaintext bytes
                # after the 220, in the same segment. A correct client must
                # abandon the session.
                raw = raw + b"\r\n" + inject.encode().replace(b"\\r\\n", b"\r\n")
        gone = self.transport is None or self.transport.is_closing()
        for line in (raw + b"\r\n").splitlines(keepends=True):
            if gone:
                self._marker("not sent, connection closing: %r" % line.rstrip(b"\r\n"))
            else:
                self._rec(b"S: ", line)
        if raw.startswith(b"354"):
            self._sh_in_data = True
        elif raw.startswith(b"334"):
            self._sh_in_auth = True
        await super().push(raw)

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg):
        self._sh_starttls_pending = True
        try:
            await super().smtp_STARTTLS(arg)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._marker("TLS handshake failed: %s" % (_describe(e.__cause__ or e),))
            raise
        finally:
            self._sh_starttls_pending = False

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg):
        # aiosmtpd refuses the null reverse-path; accept "<>" (RFC 5321 4.5.5).
        if arg is not None:
            s = arg.strip()
            if s[:5].upper() == "FROM:" and s[5:].lstrip().startswith("<>"):
                rest = s[5:].lstrip()[2:]
                arg = "FROM:<%s>%s" % (NULL_SENDER_PLACEHOLDER, rest)
        await super().smtp_MAIL(arg)


class Handler:
    """aiosmtpd handler hooks: EHLO tweaks, envelope, spooling."""

    def __init__(self, state):
        self.st = state
        self.o = state.opts

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        lines = [r[4:] for r in responses]
        greeting, exts = lines[0], lines[1:]
        drop = {x.upper() for x in self.o.no_ext}
        exts = [e for e in exts if e.split()[0].upper() not in drop]
        if self.o.ext:
            # before the final HELP line
            tail = exts[-1:] if exts and exts[-1] == "HELP" else []
            exts = exts[:len(exts) - len(tail)] + list(self.o.ext) + tail
        lines = [greeting] + exts
        return ["250%s%s" % ("-" if i < len(lines) - 1 else " ", l)
                for i, l in enumerate(lines)]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.st.limit_reached:
            return "452 4.3.1 message limit of this test server reached"
        if address == NULL_SENDER_PLACEHOLDER:
            address = NullSender("")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.rcpt_options_list = []
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        low = address.lower()
        if low in self.o.reject_rcpt:
            return "550 5.1.1 <%s>: recipient rejected by test server" % address
        if low in self.o.tempfail_rcpt:
            return "450 4.2.1 <%s>: try again later (test server)" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        if not hasattr(envelope, "rcpt_options_list"):
            envelope.rcpt_options_list = []
        envelope.rcpt_options_list.append(list(rcpt_options))
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.o.data_reply:
            return self.o.data_reply
        content = envelope.original_content
        if content is None:
            content = envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        tls, version, cipher, cert = tls_info(server)
        self.st.spooled += 1
        n = self.st.spooled
        meta = {
            "number": n,
            "mail_from": str(envelope.mail_from),
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(getattr(envelope, "rcpt_options_list", [])),
            "auth_user": session.auth_data if session.authenticated else None,
            "auth_mechanism": getattr(session, "auth_mechanism", None),
            "tls": tls,
            "tls_version": version,
            "tls_cipher": cipher,
            "client_cert": _cert_subject(cert),
            "helo": session.host_name,
            "peer": list(session.peer) if session.peer else None,
            "size": len(content),
            "received_at": time.time(),
        }
        base = os.path.join(self.o.spool, "msg-%d" % n)
        _write_atomic(base + ".eml", content)
        _write_atomic(base + ".json",
                      (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode())
        log.info("spooled %s.eml (%d bytes) from=<%s> to=%s", base, len(content),
                 meta["mail_from"], ",".join(meta["rcpt_tos"]))
        if self.o.max_messages and n >= self.o.max_messages:
            self.st.limit_reached = True
        if self.o.drop_after_data:
            # The message is accepted but the reply never comes (RFC 1047).
            server._marker("dropping connection instead of replying to the final dot")
            server.transport.abort()
            return "250 2.0.0 (never sent)"
        return "250 2.0.0 OK queued as msg-%d" % n

    async def handle_exception(self, error):
        log.info("session exception: %r", error)
        return "451 4.3.0 test server error: %s" % (error.__class__.__name__,)


def _describe(e):
    return str(e) or e.__class__.__name__


def _cert_subject(cert):
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return str(cert.get("subject"))


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def make_authenticator(user, password, state):
    u, p = user.encode(), password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login == u and auth_data.password == p)
        if ok:
            session.auth_mechanism = mechanism
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    return authenticator


def loopback_addresses(host):
    """The loopback addresses to bind for --listen HOST, or raise ValueError."""
    if host == "localhost":
        return ["127.0.0.1", "::1"]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("--listen wants a loopback IP address or 'localhost', "
                         "not %r" % host)
    if not ip.is_loopback:
        raise ValueError("refusing to listen on non-loopback address %s" % host)
    return [str(ip)]


def bind_sockets(addrs, port):
    """Bind every address on one port (port 0: a free one common to all).
    ::1 is skipped when IPv6 is unavailable, unless it is the only address."""
    for _attempt in range(50):
        socks, chosen = [], port
        try:
            for a in addrs:
                fam = socket.AF_INET6 if ":" in a else socket.AF_INET
                try:
                    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY
                    # only on sockets that say so, and aiosmtpd writes a
                    # multi-line reply one line at a time; with Nagle on,
                    # every EHLO reply would stall for the client's
                    # delayed ACK (~40 ms), which no real server does.
                    s = socket.socket(fam, socket.SOCK_STREAM,
                                      socket.IPPROTO_TCP)
                except OSError:
                    if len(addrs) > 1 and fam == socket.AF_INET6:
                        continue
                    raise
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    s.bind((a, chosen))
                except OSError as e:
                    s.close()
                    if (len(addrs) > 1 and fam == socket.AF_INET6
                            and e.errno in (99, 97)):  # EADDRNOTAVAIL, EAFNOSUPPORT
                        continue
                    raise
                s.listen(64)
                s.setblocking(False)
                socks.append(s)
                chosen = s.getsockname()[1]
            return socks, chosen
        except OSError as e:
            for s in socks:
                s.close()
            if port == 0 and e.errno == 98:  # EADDRINUSE on the 2nd family
                continue
            raise
    raise OSError("could not find a port free on all of %s" % addrs)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="SMTP submission test server (aiosmtpd) with raw transcript.")
    ap.add_argument("--listen", default="127.0.0.1",
                    help="loopback address to listen on; 'localhost' binds "
                         "127.0.0.1 and ::1 on one port (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="0 = a free port")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--spool", required=True, help="directory for msg-N.* and transcript.log")
    ap.add_argument("--cert", help="server certificate (PEM, may hold a chain)")
    ap.add_argument("--key", help="server private key (PEM)")
    ap.add_argument("--tls", choices=("starttls", "implicit", "none"), default="starttls")
    ap.add_argument("--tls-min", choices=("1.0", "1.1", "1.2", "1.3"))
    ap.add_argument("--tls-max", choices=("1.0", "1.1", "1.2", "1.3"))
    ap.add_argument("--client-ca", help="request a client certificate verified by this CA "
                                        "(optional; its CN is recorded as client_cert)")
    ap.add_argument("--require-tls", action="store_true",
                    help="refuse everything but EHLO/NOOP/QUIT/STARTTLS before TLS (530)")
    ap.add_argument("--user", help="AUTH user; with --password, AUTH is required for MAIL")
    ap.add_argument("--password")
    ap.add_argument("--no-auth", action="store_true", help="accept mail without AUTH")
    ap.add_argument("--auth-mechs", default="PLAIN,LOGIN",
                    help="mechanisms offered, comma separated (default PLAIN,LOGIN)")
    ap.add_argument("--max-messages", type=int, default=0,
                    help="accept N messages, then refuse MAIL (452) and exit once idle")
    ap.add_argument("--hostname", default="localhost", help="name in greeting and EHLO")
    ap.add_argument("--size", type=int, default=33554432,
                    help="SIZE limit advertised and enforced (0 = none)")
    ap.add_argument("--smtputf8", action="store_true", help="offer SMTPUTF8")
    ap.add_argument("--no-ext", action="append", default=[], metavar="KEYWORD",
                    help="do not advertise this EHLO keyword (e.g. 8BITMIME, SIZE, AUTH)")
    ap.add_argument("--ext", action="append", default=[], metavar="LINE",
                    help="advertise this extra EHLO line (e.g. PIPELINING)")
    ap.add_argument("--reject-rcpt", action="append", default=[], metavar="ADDR",
                    help="answer 550 5.1.1 to RCPT TO this address")
    ap.add_argument("--tempfail-rcpt", action="append", default=[], metavar="ADDR",
                    help="answer 450 4.2.1 to RCPT TO this address")
    ap.add_argument("--data-reply", metavar="REPLY",
                    help="answer the final dot with this reply (e.g. '451 4.3.0 busy') "
                         "and spool nothing")
    ap.add_argument("--drop-after-data", action="store_true",
                    help="spool the message, then drop the connection without a reply")
    ap.add_argument("--starttls-inject", metavar="TEXT",
                    help="send TEXT as one more line right after '220 Ready to start "
                         "TLS', in the same write (\\r\\n inside TEXT: more lines)")
    ap.add_argument("--timeout", type=float, default=60,
                    help="idle timeout per connection and TLS handshake timeout")
    ap.add_argument("-v", "--verbose", action="count", default=0,
                    help="log to stderr (-vv: aiosmtpd debug)")
    o = ap.parse_args(argv)
    try:
        o.addrs = loopback_addresses(o.listen)
    except ValueError as e:
        ap.error(str(e))
    if o.tls != "none" and not (o.cert and o.key):
        ap.error("--tls %s needs --cert and --key" % o.tls)
    if bool(o.user) != bool(o.password is not None):
        ap.error("--user and --password go together")
    if not o.user and not o.no_auth:
        o.no_auth = True
    o.reject_rcpt = {a.lower() for a in o.reject_rcpt}
    o.tempfail_rcpt = {a.lower() for a in o.tempfail_rcpt}
    return o


TLS_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3,
}


def make_tls_context(o):
    if o.tls == "none":
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(o.cert, o.key)
    if o.tls_min:
        if o.tls_min in ("1.0", "1.1"):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = TLS_VERSIONS[o.tls_min]
    if o.tls_max:
        if o.tls_max in ("1.0", "1.1"):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            if not o.tls_min:
                ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = TLS_VERSIONS[o.tls_max]
    if o.client_ca:
        ctx.load_verify_locations(o.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


async def serve(o):
    os.makedirs(o.spool, exist_ok=True)
    state = State(o)
    state.stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, state.stop_event.set)

    ctx = make_tls_context(o)
    handler = Handler(state)
    all_mechs = {"PLAIN", "LOGIN"}
    offered = {m.strip().upper() for m in o.auth_mechs.split(",") if m.strip()}
    kw = dict(
        hostname=o.hostname,
        data_size_limit=o.size or None,
        enable_SMTPUTF8=o.smtputf8,
        tls_context=ctx,
        require_starttls=bool(o.require_tls and o.tls == "starttls"),
        timeout=o.timeout,
        # AUTH is offered even in plaintext, so a client that sends its
        # credentials before TLS shows up in the transcript.
        auth_require_tls=False,
        auth_required=not o.no_auth,
        auth_exclude_mechanism=sorted(all_mechs - offered),
        loop=loop,
    )
    if o.user:
        kw["authenticator"] = make_authenticator(o.user, o.password, state)

    def factory():
        return RecordingSMTP(handler, state, **kw)

    socks, port = bind_sockets(o.addrs, o.port)
    servers = [await loop.create_server(factory, sock=s) for s in socks]
    if o.port_file:
        tmp = o.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, o.port_file)
    log.info("listening on %s port %d (tls=%s, auth=%s)",
             ",".join(s.getsockname()[0] for s in socks), port, o.tls,
             "none" if o.no_auth else o.user)
    try:
        await state.stop_event.wait()
    finally:
        for s in servers:
            s.close()
        # Close live sessions while the transcript is still open, so every
        # connection gets its "closed" marker.
        for sess in list(state.sessions):
            if sess._sh_raw is not None:
                sess._sh_raw.abort()
        for _ in range(20):
            if not state.sessions:
                break
            await asyncio.sleep(0.01)
        state.transcript.marker("server stopped")
        for s in servers:
            try:
                await asyncio.wait_for(s.wait_closed(), 2)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                pass
        state.transcript.close()


def main(argv=None):
    o = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if o.verbose else logging.WARNING,
        format="smarthost[%(process)d] %(name)s: %(message)s")
    # aiosmtpd logs every command (including AUTH lines) at INFO; keep that
    # for -vv only. Its warning about AUTH without TLS is deliberate here.
    logging.getLogger("mail.log").setLevel(
        logging.DEBUG if o.verbose > 1 else logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    try:
        asyncio.run(serve(o))
    except OSError as e:
        print("smarthost: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
