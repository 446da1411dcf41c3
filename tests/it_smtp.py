"""SMTP and TLS against a hostile network (issue 4): relaymail against
tests/evilsmtp.py, a scripted server that misbehaves on purpose.

For each defence a test shows the exit status, that no AUTH and no message
went out where that is the point, and that no secret appears in stdout,
stderr or the part of the conversation that was not under TLS.

Run alone with: /usr/bin/python3 tests/itest.py -k evil_
"""

import base64
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import itest
from itest import (MSG_A, PASSWORD, USER, RelaymailTestCase, Run, _indent)
from evilsmtp import EvilSMTP, endless_line, long_line, many_lines

CRLF = b"\r\n"
TIME = "/usr/bin/time"
CERT_LOCK = threading.Lock()
BASELINE = {}           # the memory of an ordinary delivery, measured once
ENVELOPE = ("AUTH", "MAIL", "RCPT", "DATA")


def pin_of(pem):
    """tls_fingerprint for a certificate, computed the way the issue and
    the documentation say: openssl x509 -pubkey -noout | openssl pkey
    -pubin -outform der | sha256sum."""
    out = subprocess.run(
        "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin "
        "-outform der | sha256sum" % pem, shell=True, check=True,
        stdout=subprocess.PIPE).stdout.decode()
    return "sha256:" + out.split()[0]


def selfsigned():
    """(pem, key) of a self-signed certificate for localhost, made once."""
    d = os.path.join(os.path.dirname(itest.CERTS), "selfsigned")
    pem, key = os.path.join(d, "ss.pem"), os.path.join(d, "ss.key")
    with CERT_LOCK:
        if not os.path.exists(pem):
            os.makedirs(d, exist_ok=True)
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                 pem + ".tmp", "-subj", "/CN=localhost", "-days", "30",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.rename(pem + ".tmp", pem)
    return pem, key


def cert(name):
    return os.path.join(itest.CERTS, name + ".pem")


def secret_forms():
    forms = [PASSWORD.encode()]
    for s in ("\0%s\0%s" % (USER, PASSWORD), "%s\0%s\0%s" % (USER, USER, PASSWORD),
              PASSWORD):
        forms.append(base64.b64encode(s.encode()))
    return forms


def leaks(data):
    """Does data hold the password, plain or inside any base64 token?"""
    if any(f in data for f in secret_forms()):
        return True
    for tok in re.findall(rb"[A-Za-z0-9+/]{8,}={0,2}", data):
        try:
            dec = base64.b64decode(tok + b"=" * (-len(tok) % 4))
        except ValueError:
            continue
        if PASSWORD.encode() in dec:
            return True
    return False


def rcpts(n):
    return ["r%03d@example.net" % i for i in range(1, n + 1)]


class EvilCase(RelaymailTestCase):
    """A test against tests/evilsmtp.py."""

    def setUp(self):
        super().setUp()
        self.evil = None

    def tearDown(self):
        if self.evil is not None:
            self.evil.stop()
        super().tearDown()

    def diagnostics(self):
        d = super().diagnostics()
        if self.evil is not None:
            lines = self.evil.transcript().splitlines()
            d += "\nevilsmtp (last 60 of %d events):\n" % len(lines)
            d += _indent("\n".join(lines[-60:]))
        return d

    # -- fixtures ---------------------------------------------------------

    def evil_server(self, **sc):
        self.evil = EvilSMTP(certs=itest.CERTS, user=USER, password=PASSWORD,
                             **sc).start()
        return self.evil

    def config(self, **over):
        opts = {"port": self.evil.port, "retries": 0, "timeout": 10}
        opts.update(over)
        return self.write_config(**opts)

    def run_rm(self, msg=MSG_A, *args, env=None, timeout=None, prefix=(),
               measure=False):
        """Run relaymail.  With measure, the Run's .maxrss is the peak
        resident size (KiB) of relaymail alone, as GNU time reports it:
        wait4() on a child of this Python process would include the
        Python process it was forked from."""
        timeout = timeout or itest.RUN_TIMEOUT
        rss = os.path.join(self.tmp, "maxrss")
        if measure:
            self.assertTrue(os.access(TIME, os.X_OK),
                            "%s is needed (Debian package time)" % TIME)
            prefix = [TIME, "-f", "%M", "-o", rss] + list(prefix)
        argv = list(prefix) + [itest.BINARY, "-C", self.conf] + list(args)
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("RELAYMAIL") and k not in ("NAME",)}
        e["HOME"] = self.home
        for k, v in (env or {}).items():   # None removes a variable
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        files = [tempfile.TemporaryFile(dir=self.tmp) for _ in range(3)]
        fin, fout, ferr = files
        fin.write(msg)
        fin.seek(0)
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=fin, stdout=fout, stderr=ferr, env=e,
                             cwd=self.tmp)
        killed = []
        timer = threading.Timer(timeout, lambda: (killed.append(1), p.kill()))
        timer.start()
        p.wait()
        timer.cancel()
        fout.seek(0)
        ferr.seek(0)
        r = Run(argv, "timeout" if killed else p.returncode, fout.read(),
                ferr.read(), time.monotonic() - t0)
        r.maxrss = None
        if measure and not killed:
            with open(rss) as f:
                r.maxrss = int(f.read().split()[-1])
        for f in files:
            f.close()
        self.runs.append(r)
        if self.evil is not None:
            self.evil.settle()
        if killed:
            self.fail("relaymail did not finish within %ss" % timeout)
        return r

    # -- assertions -------------------------------------------------------

    def assertClean(self, r):
        """No secret in stdout, stderr, or what went out before TLS."""
        self.assertFalse(leaks(r.stdout), "secret on stdout")
        self.assertFalse(leaks(r.stderr), "secret on stderr")
        self.assertFalse(leaks(self.evil.plaintext()),
                         "secret sent before TLS")

    def assertNothingSent(self, verbs=ENVELOPE):
        """Neither AUTH nor any part of a transaction, TLS or not."""
        sent = [v for v in self.evil.verbs() if v in verbs]
        self.assertEqual(sent, [], "client sent %s" % sent)
        self.assertEqual(self.evil.messages, [], "a message was delivered")

    def assertRefused(self, r, status, pattern, nconn=1):
        self.assertExit(r, status)
        self.assertRegex(r.err, pattern)
        self.assertNothingSent()
        self.assertClean(r)
        self.assertDeadLetter(MSG_A)
        self.assertEqual(self.evil.nconn, nconn, "connections made")

    def assertDelivered(self, r, n=1):
        self.assertExit(r, 0)
        self.assertEqual(len(self.evil.messages), n, "messages delivered")
        self.assertClean(r)


# ------------------------------------------------------------- STARTTLS

class EvilStartTLS(EvilCase):

    def test_evil_starttls_not_offered(self):
        """No STARTTLS capability: 75, nothing sent, not even retried."""
        self.evil_server(starttls_offer=False,
                         exts=["AUTH PLAIN LOGIN", "8BITMIME"])
        self.config(retries=2)
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 75, r"does not offer STARTTLS")
        self.assertEqual(self.evil.verbs(), ["EHLO", "QUIT"])

    def test_evil_starttls_454(self):
        """454 to STARTTLS: 75, no AUTH, no mail, never plaintext."""
        self.evil_server(starttls_reply=b"454 4.7.0 TLS not available" + CRLF)
        self.config()
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 75, r"STARTTLS refused.*454 4\.7\.0")

    def test_evil_starttls_502(self):
        """502 to STARTTLS: 75, and not retried within the run."""
        self.evil_server(starttls_reply=b"502 5.5.1 not implemented" + CRLF)
        self.config(retries=2)
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 75, r"STARTTLS refused.*502")

    def test_evil_starttls_eof(self):
        """The server hangs up on STARTTLS: 75, nothing sent."""
        self.evil_server(starttls_close=True)
        self.config()
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 75, r"connection closed")
        self.assertEqual(self.evil.verbs(), ["EHLO", "STARTTLS"])

    def test_evil_starttls_injection_same_segment(self):
        """'220' and injected plaintext in one segment (response
        injection, Poddebniak et al. 2021): the session is abandoned
        before the handshake, 76, no retry, no AUTH."""
        self.evil_server(starttls_inject=b"250-evil.test" + CRLF +
                         b"250 AUTH PLAIN" + CRLF)
        self.config(retries=2)
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 76, r"response injection")
        self.assertEqual(self.evil.tls_sessions, [], "a handshake was made")
        self.assertEqual(self.evil.verbs(), ["EHLO", "STARTTLS"])

    def test_evil_starttls_injection_later_segment(self):
        """The injected plaintext a moment after the '220': never read as
        a TLS-protected reply; the session fails (75 or 76), no AUTH."""
        self.evil_server(starttls_inject=b"235 2.7.0 ok" + CRLF,
                         starttls_inject_delay=0.3)
        self.config()
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertIn(r.status, (75, 76), r.err)
        self.assertNothingSent()
        self.assertClean(r)
        self.assertEqual(self.evil.verbs(), ["EHLO", "STARTTLS"])

    def test_evil_starttls_alone_and_capabilities_forgotten(self):
        """Nothing is pipelined after STARTTLS; after the handshake EHLO is
        sent again and only the new capabilities count: AUTH PLAIN, SIZE 10
        and PIPELINING offered before TLS are ignored, LOGIN (offered
        after TLS) is used, and the envelope goes in lockstep."""
        self.evil_server(exts=["PIPELINING", "SIZE 10", "AUTH PLAIN"],
                         exts_tls=["AUTH LOGIN", "ENHANCEDSTATUSCODES"])
        self.config()
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertDelivered(r)
        pre = self.evil.plaintext()
        self.assertTrue(pre.endswith(b"STARTTLS\r\n"), pre)
        self.assertEqual(pre.count(b"\r\n"), 2, "plaintext after STARTTLS")
        self.assertEqual([m for c, k, t, m in self.evil.events
                          if k == "mark" and m.startswith(b"plaintext")], [])
        cmds = [l for t, l in self.evil.commands() if t]
        self.assertEqual(cmds[0].split()[0], "EHLO")
        self.assertEqual(cmds[1], "AUTH LOGIN")
        reads = [d for c, t, d in self.evil.reads(tls=True)]
        self.assertTrue(any(d.startswith(b"MAIL FROM:") and
                            d.endswith(b">\r\n") and d.count(b"\r\n") == 1
                            for d in reads), "MAIL not sent alone")


# ---------------------------------------------------------- certificates

class EvilCertificates(EvilCase):

    CASES = {
        "selfsigned": r"certificate is self-signed",
        "untrusted": r"certificate is not trusted \(unknown CA\)",
        "wrongname": r"certificate does not match the host name",
        "expired": r"certificate has expired",
        "future": r"certificate is not yet valid",
    }

    def _bad(self, name, mode):
        if name == "selfsigned":
            self.evil_server(tls=mode, cert_files=selfsigned())
        else:
            self.evil_server(tls=mode, cert=name)
        self.config(tls="tls" if mode == "implicit" else "starttls",
                    retries=2)
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 75, self.CASES[name])
        self.assertEqual(self.evil.tls_sessions, [], "handshake completed")
        self.assertEqual(len(self.evil.handshake_failures), 1)

    def test_evil_cert_selfsigned_starttls(self):
        self._bad("selfsigned", "starttls")

    def test_evil_cert_selfsigned_implicit(self):
        self._bad("selfsigned", "implicit")

    def test_evil_cert_unknown_ca_starttls(self):
        self._bad("untrusted", "starttls")

    def test_evil_cert_unknown_ca_implicit(self):
        self._bad("untrusted", "implicit")

    def test_evil_cert_wrong_name_starttls(self):
        self._bad("wrongname", "starttls")

    def test_evil_cert_wrong_name_implicit(self):
        self._bad("wrongname", "implicit")

    def test_evil_cert_expired_starttls(self):
        self._bad("expired", "starttls")

    def test_evil_cert_expired_implicit(self):
        self._bad("expired", "implicit")

    def test_evil_cert_not_yet_valid_starttls(self):
        self._bad("future", "starttls")

    def test_evil_cert_not_yet_valid_implicit(self):
        self._bad("future", "implicit")

    def test_evil_pin_accepted(self):
        """tls_fingerprint (from the openssl pipeline) trusts a key that no
        CA vouches for, with STARTTLS and with implicit TLS."""
        for mode, conf in (("starttls", "starttls"), ("implicit", "tls")):
            with self.subTest(mode=mode):
                if self.evil is not None:
                    self.evil.stop()
                self.evil_server(tls=mode, cert="untrusted")
                self.config(tls=conf, tls_ca_file=None,
                            tls_fingerprint=pin_of(cert("untrusted")))
                r = self.run_rm(MSG_A, "alice@example.com")
                self.assertDelivered(r)
                self.assertEqual(self.evil.messages[0]["auth_user"], USER)

    def test_evil_pin_colon_form_accepted(self):
        """The pin also in the colon-separated upper-case form."""
        self.evil_server(cert="untrusted")
        hexpin = pin_of(cert("untrusted"))[7:].upper()
        self.config(tls_ca_file=None, tls_fingerprint="sha256:" + ":".join(
            hexpin[i:i + 2] for i in range(0, 64, 2)))
        self.assertDelivered(self.run_rm(MSG_A, "alice@example.com"))

    def test_evil_pin_mismatch(self):
        """A pin that does not match refuses even a certificate that the
        CA file would accept: 75, nothing sent, no retry."""
        for mode, conf in (("starttls", "starttls"), ("implicit", "tls")):
            with self.subTest(mode=mode):
                if self.evil is not None:
                    self.evil.stop()
                self.evil_server(tls=mode, cert="server")
                self.config(tls=conf, retries=2,
                            tls_fingerprint=pin_of(cert("untrusted")))
                r = self.run_rm(MSG_A, "alice@example.com")
                self.assertRefused(r, 75, r"does not match tls_fingerprint")

    def test_evil_tls11_only_server(self):
        """A server that speaks only TLS 1.1 (RFC 8996): 75, nothing sent,
        with STARTTLS and with implicit TLS."""
        for mode, conf in (("starttls", "starttls"), ("implicit", "tls")):
            with self.subTest(mode=mode):
                if self.evil is not None:
                    self.evil.stop()
                self.evil_server(tls=mode, tls_min="1.1", tls_max="1.1")
                self.config(tls=conf, retries=2)
                r = self.run_rm(MSG_A, "alice@example.com")
                self.assertRefused(r, 75, r"no TLS version of 1\.2 or later")

    def test_evil_tls_min_version_13(self):
        """tls_min_version = 1.3 refuses a TLS 1.2 server that the default
        accepts."""
        self.evil_server(tls_max="1.2")
        self.config()
        self.assertDelivered(self.run_rm(MSG_A, "alice@example.com"))
        self.assertEqual(self.evil.tls_sessions[0]["version"], "TLSv1.2")
        self.evil.stop()
        self.evil_server(tls_max="1.2")
        self.config(tls_min_version="1.3")
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 75, r"no TLS version of 1\.3 or later")

    def test_evil_ip_literal_host(self):
        """host = 127.0.0.1: the certificate's IP SAN is checked and no SNI
        is sent (RFC 6066 §3); with a name, SNI carries it."""
        self.evil_server()
        self.config(host="127.0.0.1")
        self.assertDelivered(self.run_rm(MSG_A, "alice@example.com"))
        self.assertEqual(self.evil.sni, [None])
        self.evil.stop()
        self.evil_server()
        self.config()
        self.assertDelivered(self.run_rm(MSG_A, "alice@example.com"))
        self.assertEqual(self.evil.sni, ["localhost"])

    def test_evil_ip_literal_mismatch(self):
        """host = 127.0.0.1 and a certificate without that address: 75."""
        self.evil_server(cert="wrongname")
        self.config(host="127.0.0.1")
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 75, r"certificate does not match the address")

    def test_evil_ipv6_literal_host(self):
        """host = ::1 over IPv6, the certificate's IP SAN ::1 checked."""
        try:
            self.evil_server(listen="::1")
        except OSError as e:
            self.skipTest("no IPv6 loopback: %s" % e)
        self.config(host="::1")
        self.assertDelivered(self.run_rm(MSG_A, "alice@example.com"))
        self.assertEqual(self.evil.sni, [None])

    def test_evil_client_certificate(self):
        """tls_cert_file/tls_key_file are presented to a server that asks
        for a client certificate; without them the server refuses: 75."""
        self.evil_server(client_ca=cert("ca"))
        self.config(tls_cert_file=cert("client"),
                    tls_key_file=cert("client")[:-4] + ".key")
        self.assertDelivered(self.run_rm(MSG_A, "alice@example.com"))
        cc = self.evil.tls_sessions[0]["client_cert"]
        self.assertIsNotNone(cc, "no client certificate")
        self.assertIn((("commonName", "relaymail test client"),), cc["subject"])
        self.evil.stop()
        self.evil_server(client_ca=cert("ca"))
        self.config()
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertExit(r, 75)
        self.assertNothingSent()
        self.assertClean(r)

    def test_evil_client_key_mismatch(self):
        """A key that does not belong to tls_cert_file: 78 before connecting."""
        self.evil_server()
        self.config(tls_cert_file=cert("client"),
                    tls_key_file=cert("server")[:-4] + ".key")
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertExit(r, 78)
        self.assertIn("tls_key_file", r.err)
        self.assertEqual(self.evil.nconn, 0)

    def _hashed_dir(self, *pems):
        d = os.path.join(self.tmp, "certdir")
        os.mkdir(d)
        for pem in pems:
            h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", pem],
                               check=True, stdout=subprocess.PIPE).stdout.decode().strip()
            shutil.copy(pem, os.path.join(d, h + ".0"))
        return d

    def test_evil_hashed_trust_directory(self):
        """Without tls_ca_file the trust anchors come from a hashed
        certificate directory (looked up by subject, not a bundle parsed
        whole): a directory holding the test CA lets the message through,
        one holding only another CA does not."""
        good = self._hashed_dir(cert("ca"))
        self.evil_server()
        self.config(tls_ca_file=None)
        self.assertDelivered(self.run_rm(MSG_A, "a@example.net",
                                         env={"SSL_CERT_DIR": good, "SSL_CERT_FILE": None}))
        shutil.rmtree(good)
        other = self._hashed_dir(cert("untrusted-ca"))
        self.evil.stop()
        self.evil_server()
        self.config(tls_ca_file=None)
        r = self.run_rm(MSG_A, "a@example.net", env={"SSL_CERT_DIR": other, "SSL_CERT_FILE": None})
        self.assertRefused(r, 75, r"not trusted \(unknown CA\)")

    def test_evil_no_trust_anchors(self):
        """No trust anchor anywhere is a configuration error (78) before
        any connection, never unverified TLS."""
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        self.evil_server()
        self.config(tls_ca_file=None)
        r = self.run_rm(MSG_A, "a@example.net", env={"SSL_CERT_DIR": empty, "SSL_CERT_FILE": None})
        self.assertExit(r, 78)
        self.assertRegex(r.err, r"no trust anchors found in %s" % re.escape(empty))
        self.assertEqual(self.evil.nconn, 0)
        self.assertDeadLetter(MSG_A)

    def test_evil_openssl_conf_not_loaded(self):
        """OpenSSL's global configuration is not loaded: an OPENSSL_CONF
        that allows only NULL ciphers would make every TLS 1.2 handshake
        fail if it were."""
        path = os.path.join(self.tmp, "openssl.cnf")
        with open(path, "w") as f:
            f.write("openssl_conf = init\n[init]\nssl_conf = ssl_sect\n"
                    "[ssl_sect]\nsystem_default = sys\n[sys]\n"
                    "CipherString = eNULL\n")
        self.evil_server(tls_max="1.2")
        self.config()
        r = self.run_rm(MSG_A, "alice@example.com", env={"OPENSSL_CONF": path})
        self.assertDelivered(r)
        # the file does break OpenSSL when loaded: the CLI uses it
        p = subprocess.run(["openssl", "ciphers", "-s", "-tls1_2"],
                           env=dict(os.environ, OPENSSL_CONF=path),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertNotIn(b"ECDHE-ECDSA-AES", p.stdout)


# ------------------------------------------------------------------ AUTH

class EvilAuth(EvilCase):

    def test_evil_auth_not_offered(self):
        """Credentials configured, AUTH not offered after TLS: 77, neither
        AUTH nor the message sent."""
        self.evil_server(exts_tls=["8BITMIME", "ENHANCEDSTATUSCODES"])
        self.config(retries=2)
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 77, r"does not offer AUTH")

    def test_evil_auth_offered_only_before_tls(self):
        """AUTH offered only in the plaintext EHLO does not count: 77."""
        self.evil_server(exts=["AUTH PLAIN LOGIN"], exts_tls=["8BITMIME"])
        self.config()
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertRefused(r, 77, r"does not offer AUTH")

    def test_evil_auth_535(self):
        """535: 77, one AUTH (under TLS), no mail, no retry, no secret."""
        self.evil_server(auth_result=b"535 5.7.8 Authentication credentials "
                         b"invalid" + CRLF)
        self.config(retries=2)
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertExit(r, 77)
        self.assertRegex(r.err, r"535 5\.7\.8")
        self.assertNothingSent(("MAIL", "RCPT", "DATA"))
        self.assertEqual(self.evil.auth_attempts, [{"mech": "PLAIN", "tls": True}])
        self.assertClean(r)
        self.assertDeadLetter(MSG_A)
        self.assertEqual(self.evil.nconn, 1)

    def test_evil_auth_454_is_temporary(self):
        """454 4.7.0 to AUTH is temporary: 75."""
        self.evil_server(auth_result=b"454 4.7.0 Temporary authentication "
                         b"failure" + CRLF)
        self.config()
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertExit(r, 75)
        self.assertNothingSent(("MAIL", "RCPT", "DATA"))
        self.assertClean(r)

    def test_evil_tls_none_refuses_auth(self):
        """tls = none with a user: the password is never sent in the clear
        (78) unless auth_plaintext = true."""
        self.evil_server(tls="none", exts=["AUTH PLAIN LOGIN"])
        self.config(tls="none")
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertExit(r, 78)
        self.assertRegex(r.err, r"auth_plaintext")
        self.assertNothingSent()
        self.assertClean(r)
        self.evil.stop()
        self.evil_server(tls="none", exts=["AUTH PLAIN LOGIN"])
        self.config(tls="none", auth_plaintext=True)
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertExit(r, 0)
        self.assertEqual(self.evil.messages[0]["auth_user"], USER)
        self.assertEqual(self.evil.auth_attempts, [{"mech": "PLAIN", "tls": False}])

    def test_evil_mail_530_is_auth(self):
        """No user configured, the server wants AUTH (530 to MAIL): 77."""
        self.evil_server(replies={"MAIL": b"530 5.7.0 Authentication required" + CRLF})
        self.config(user=None, password=None)
        r = self.run_rm(MSG_A, "alice@example.com")
        self.assertExit(r, 77)
        self.assertRegex(r.err, r"530 5\.7\.0")
        self.assertEqual(self.evil.messages, [])


# -------------------------------------------------------------- envelope

class EvilEnvelope(EvilCase):

    def _every_rcpt_once(self, want):
        got = [a for m in self.evil.messages for a in m["rcpts"]]
        self.assertEqual(sorted(got), sorted(want), "recipients delivered")
        self.assertEqual(len(got), len(set(got)), "a recipient got it twice")

    def test_evil_250_rcpts_split_by_100(self):
        """250 recipients, a server that answers 452 after 100: relaymail
        sends 100, 100 and 50 (RFC 5321 §4.5.3.1.8), each exactly once,
        with and without PIPELINING."""
        for exts in (["AUTH PLAIN", "PIPELINING"], ["AUTH PLAIN"]):
            with self.subTest(exts=exts):
                if self.evil is not None:
                    self.evil.stop()
                self.evil_server(rcpt_limit=100, exts_tls=exts)
                self.config()
                want = rcpts(250)
                r = self.run_rm(MSG_A, *want)
                self.assertDelivered(r, 3)
                self.assertEqual([len(m["rcpts"]) for m in self.evil.messages],
                                 [100, 100, 50])
                self._every_rcpt_once(want)
                self.assertEqual(self.evil.nconn, 1)
                self.assertEqual([a for a, c in self.evil.rcpt_log if c != "250"], [])
                bodies = set(m["data"] for m in self.evil.messages)
                self.assertEqual(len(bodies), 1, "the copies differ")

    def test_evil_452_after_40(self):
        """A server that takes 40 recipients per transaction (452 4.5.3
        after that): the rest go in further transactions, every recipient
        exactly once, pipelined or not."""
        for exts in (["AUTH PLAIN", "PIPELINING"], ["AUTH PLAIN"]):
            with self.subTest(exts=exts):
                if self.evil is not None:
                    self.evil.stop()
                self.evil_server(rcpt_limit=40, exts_tls=exts)
                self.config()
                want = rcpts(250)
                r = self.run_rm(MSG_A, *want)
                self.assertDelivered(r, 7)
                self._every_rcpt_once(want)
                self.assertEqual([len(m["rcpts"]) for m in self.evil.messages],
                                 [40] * 6 + [10])

    def test_evil_452_first_recipient_is_temporary(self):
        """452 to the very first recipient is no "too many": 75, nothing."""
        self.evil_server(rcpt_limit=0)
        self.config()
        r = self.run_rm(MSG_A, "a@example.net", "b@example.net")
        self.assertExit(r, 75)
        self.assertEqual(self.evil.messages, [])
        self.assertRegex(r.err, r"452 4\.5\.3")

    def test_evil_452_mailbox_full_is_no_split(self):
        """452 4.2.2 (mailbox full) after an accepted recipient is not
        "too many recipients": all or nothing, 75, nobody gets it."""
        self.evil_server(rcpt_reply={"b@example.net": b"452 4.2.2 Mailbox full" + CRLF})
        self.config()
        r = self.run_rm(MSG_A, "a@example.net", "b@example.net")
        self.assertExit(r, 75)
        self.assertEqual(self.evil.messages, [])
        self.assertDeadLetter(MSG_A)

    def test_evil_later_batch_refused(self):
        """Recipient 150 of 250 refused with 550: the first 100 have the
        message (all or nothing holds per transaction), the other 150 do
        not, nobody gets a second copy, exit 67 (not 75: a resend by the
        caller would duplicate it), stderr names each of the 150, and the
        message is in dead.letter."""
        want = rcpts(250)
        self.evil_server(rcpt_reply={want[149]: b"550 5.1.1 <%s>: no such user"
                                     % want[149].encode() + CRLF},
                         exts_tls=["AUTH PLAIN", "PIPELINING", "ENHANCEDSTATUSCODES"])
        self.config(retries=2)
        r = self.run_rm(MSG_A, *want)
        self.assertExit(r, 67)
        self.assertEqual([m["rcpts"] for m in self.evil.messages], [want[:100]])
        self.assertRegex(r.err, r"delivered to 100 of 250 recipients only")
        self.assertRegex(r.err, r"550 5\.1\.1")
        named = ", ".join(l.split("not delivered to: ", 1)[1]
                          for l in r.err.splitlines() if "not delivered to: " in l)
        self.assertEqual(named.split(", "), want[100:])
        self.assertDeadLetter(MSG_A)
        self.assertEqual(self.evil.nconn, 1)

    def test_evil_later_batch_temporary_then_retried(self):
        """A 451 in the second batch, fine on the retry: the retry goes
        only to those still without the message; exit 0, each once."""
        want = rcpts(250)
        seen = []

        def once(addr):
            seen.append(addr)
            return b"451 4.3.0 try again" + CRLF if len(seen) == 1 else None
        self.evil_server(rcpt_reply={want[149]: once})
        self.config(retries=1)
        r = self.run_rm(MSG_A, *want)
        self.assertDelivered(r, 3)
        self._every_rcpt_once(want)
        self.assertEqual(self.evil.nconn, 2)

    def test_evil_later_batch_temporary_at_the_end(self):
        """The second batch keeps failing with 451: exit 69, not 75 (the
        first 100 already have it), dead.letter, the rest named."""
        want = rcpts(250)
        self.evil_server(rcpt_reply={want[149]: b"451 4.3.0 try again" + CRLF})
        self.config(retries=0)
        r = self.run_rm(MSG_A, *want)
        self.assertExit(r, 69)
        self.assertEqual(len(self.evil.messages), 1)
        self.assertRegex(r.err, r"delivered to 100 of 250 recipients only")
        self.assertRegex(r.err, r"not delivered to: r101@example\.net, ")
        self.assertDeadLetter(MSG_A)

    def test_evil_pipelining_one_write(self):
        """PIPELINING offered: MAIL, every RCPT and DATA leave in one write
        (one read at the server, one TLS record), and the -v transcript
        shows all of them before the first reply."""
        self.evil_server(exts_tls=["AUTH PLAIN", "PIPELINING"])
        self.config()
        want = ["a@example.net", "b@example.net", "c@example.net"]
        r = self.run_rm(MSG_A, "-v", *want)
        self.assertDelivered(r)
        batch = b"".join(b"RCPT TO:<%s>\r\n" % a.encode() for a in want)
        reads = [d for c, t, d in self.evil.reads(tls=True)]
        one = [d for d in reads if d.startswith(b"MAIL FROM:")]
        self.assertEqual(len(one), 1)
        self.assertTrue(one[0].endswith(batch + b"DATA\r\n"), one[0])
        tr = [l for l in r.err.splitlines() if l.startswith(("-->", "<--"))]
        i = [k for k, l in enumerate(tr) if l.startswith("--> MAIL FROM:")][0]
        self.assertEqual(tr[i + 1:i + 5], ["--> RCPT TO:<%s>" % a for a in want]
                         + ["--> DATA"])
        self.assertEqual(tr[i + 5:i + 10], ["<-- 250 2.1.0 Ok"] +
                         ["<-- 250 2.1.5 Ok"] * 3 + ["<-- 354 End data with "
                                                     "<CR><LF>.<CR><LF>"])

    def test_evil_no_pipelining_lockstep(self):
        """Without PIPELINING each command waits for its reply."""
        self.evil_server(exts_tls=["AUTH PLAIN"])
        self.config()
        r = self.run_rm(MSG_A, "a@example.net", "b@example.net")
        self.assertDelivered(r)
        reads = [d for c, t, d in self.evil.reads(tls=True)]
        self.assertIn(b"RCPT TO:<a@example.net>\r\n", reads)
        self.assertIn(b"DATA\r\n", reads)

    def test_evil_quit_rides_with_the_dot(self):
        """PIPELINING offered: QUIT leaves in the same write as the body
        and the final dot (RFC 2920 §3.1), so the session ends in 7 round
        trips after the greeting, not 8; its 221 is still read."""
        self.evil_server(exts_tls=["AUTH PLAIN", "PIPELINING"])
        self.config()
        r = self.run_rm(MSG_A, "-v", "a@example.net")
        self.assertDelivered(r)
        reads = [d for c, t, d in self.evil.reads(tls=True)]
        dot = [d for d in reads if b"\r\n.\r\n" in d]
        self.assertEqual(len(dot), 1, reads)
        self.assertTrue(dot[0].endswith(b"\r\n.\r\nQUIT\r\n"), dot[0][-40:])
        self.assertEqual(self.evil.verbs().count("QUIT"), 1)
        self.assertIn("<-- 221 2.0.0 Bye", r.err)

    def test_evil_quit_after_the_last_transaction_only(self):
        """250 recipients in 100, 100 and 50: QUIT goes only with the last
        dot (an earlier one would end the session with recipients left);
        without PIPELINING it waits for the reply to the dot."""
        for exts, alone in ((["AUTH PLAIN", "PIPELINING"], False),
                            (["AUTH PLAIN"], True)):
            with self.subTest(exts=exts):
                if self.evil is not None:
                    self.evil.stop()
                self.evil_server(rcpt_limit=100, exts_tls=exts)
                self.config()
                r = self.run_rm(MSG_A, *rcpts(250))
                self.assertDelivered(r, 3)
                reads = [d for c, t, d in self.evil.reads(tls=True)]
                quit = [d for d in reads if b"QUIT\r\n" in d]
                self.assertEqual(len(quit), 1, quit)
                if alone:
                    self.assertEqual(quit[0], b"QUIT\r\n")
                else:
                    self.assertTrue(quit[0].endswith(b"\r\n.\r\nQUIT\r\n"),
                                    quit[0][-40:])
                self.assertIs(quit[0], reads[-1])
                self.assertEqual(self.evil.verbs()[-2:], [".", "QUIT"])

    def test_evil_pipelined_refusal_drops_before_dot(self):
        """Pipelined, a recipient refused but DATA answered 354 anyway: the
        connection is dropped before any body, nobody gets it (67)."""
        self.evil_server(exts_tls=["AUTH PLAIN", "PIPELINING"],
                         rcpt_reply={"b@example.net": b"550 5.1.1 unknown" + CRLF})
        # a server that says 354 although a recipient was refused
        self.config()
        r = self.run_rm(MSG_A, "a@example.net", "b@example.net")
        self.assertExit(r, 67)
        self.assertEqual(self.evil.messages, [])
        self.assertNotIn(b"Subject", self.evil.received())
        self.assertDeadLetter(MSG_A)

    def test_evil_enhanced_status_shown(self):
        """A refusal shows the server's code with its enhanced status code
        (RFC 3463), the repeat on continuation lines shown once, and no
        control character from the server reaches stderr."""
        self.evil_server(rcpt_reply={"b@example.net":
                                     b"550-5.1.1 <b@example.net>: no such user\x1b[31m"
                                     + CRLF + b"550 5.1.1 see the help page" + CRLF})
        self.config()
        r = self.run_rm(MSG_A, "a@example.net", "b@example.net")
        self.assertExit(r, 67)
        self.assertIn("550 5.1.1 <b@example.net>: no such user?[31m / see the "
                      "help page", r.err)
        self.assertNotIn(b"\x1b", r.stderr)
        self.assertEqual(self.evil.messages, [])

    def test_evil_smtputf8_when_needed(self):
        """A non-ASCII recipient: MAIL FROM carries SMTPUTF8 when offered;
        without it nothing is sent (69)."""
        rc = "j\u00f6s\u00e9@example.net"
        self.evil_server(exts_tls=["AUTH PLAIN", "SMTPUTF8"])
        self.config()
        self.assertDelivered(self.run_rm(MSG_A, rc))
        mail = [l for t, l in self.evil.commands() if l.startswith("MAIL")]
        self.assertTrue(mail[0].endswith(" SMTPUTF8"), mail)
        self.assertEqual(self.evil.messages[0]["rcpts"], [rc])
        self.evil.stop()
        self.evil_server(exts_tls=["AUTH PLAIN"])
        self.config()
        r = self.run_rm(MSG_A, rc)
        self.assertExit(r, 69)
        self.assertRegex(r.err, r"SMTPUTF8")
        self.assertNothingSent(("MAIL", "RCPT", "DATA"))

    def test_evil_ascii_envelope_no_smtputf8(self):
        """An ASCII envelope does not ask for SMTPUTF8."""
        self.evil_server(exts_tls=["AUTH PLAIN", "SMTPUTF8"])
        self.config()
        self.assertDelivered(self.run_rm(MSG_A, "a@example.net"))
        mail = [l for t, l in self.evil.commands() if l.startswith("MAIL")]
        self.assertNotIn("SMTPUTF8", mail[0])

    def test_evil_size_refused_early(self):
        """SIZE smaller than the message: 69 before MAIL is sent."""
        self.evil_server(exts_tls=["AUTH PLAIN", "SIZE 100"])
        self.config()
        r = self.run_rm(MSG_A, "a@example.net")
        self.assertExit(r, 69)
        self.assertRegex(r.err, r"larger than the server accepts \(100\)")
        self.assertNothingSent(("MAIL", "RCPT", "DATA"))

    def test_evil_helo_fallback(self):
        """EHLO refused: HELO only when neither TLS nor AUTH is wanted."""
        no_ehlo = {"EHLO": b"502 5.5.1 EHLO not implemented" + CRLF}
        self.evil_server(tls="none", replies=dict(no_ehlo))
        self.config(tls="none", user=None, password=None)
        r = self.run_rm(MSG_A, "a@example.net")
        self.assertDelivered(r)
        self.assertEqual(self.evil.verbs()[:3], ["EHLO", "HELO", "MAIL"])
        for conf, status in ((dict(tls="starttls"), 75),
                             (dict(tls="none", auth_plaintext=True), 77)):
            with self.subTest(conf=conf):
                self.evil.stop()
                self.evil_server(tls="none", replies=dict(no_ehlo))
                self.config(**conf)
                r = self.run_rm(MSG_A, "a@example.net")
                self.assertExit(r, status)
                self.assertRegex(r.err, r"EHLO refused")
                self.assertEqual(self.evil.verbs(), ["EHLO", "QUIT"])
                self.assertClean(r)


# --------------------------------------------------------------- replies

class EvilReplies(EvilCase):

    def baseline(self):
        """maxrss of an ordinary delivery with this binary (KiB)."""
        with CERT_LOCK:
            if "rss" in BASELINE:
                return BASELINE["rss"]
        srv = EvilSMTP(certs=itest.CERTS, user=USER, password=PASSWORD).start()
        try:
            self.write_config(port=srv.port, retries=0)
            r = self.run_rm(MSG_A, "a@example.net", measure=True)
            self.assertExit(r, 0)
        finally:
            srv.stop()
        with CERT_LOCK:
            BASELINE["rss"] = r.maxrss
        return r.maxrss

    def _hostile(self, verb, reply, pattern=r"longer than|more than"):
        base = self.baseline()
        self.evil_server(replies={verb: reply})
        self.config()
        r = self.run_rm(MSG_A, "a@example.net", measure=True)
        self.assertExit(r, 76)
        self.assertRegex(r.err, pattern)
        self.assertNothingSent(("MAIL", "RCPT", "DATA") if verb == "AUTH"
                               else ENVELOPE)
        self.assertClean(r)
        self.assertDeadLetter(MSG_A)
        self.assertLess(r.maxrss, base + 2048,
                        "memory grew by %d KiB" % (r.maxrss - base))
        self.assertLess(r.elapsed, 8)
        return r

    def test_evil_reply_100k_line(self):
        """A 100 kB reply line (greeting, EHLO): 76, bounded, no crash."""
        self._hostile("GREETING", long_line(100 * 1000, b"220"))
        self.evil.stop()
        self._hostile("EHLO", long_line(100 * 1000))

    def test_evil_reply_10000_lines(self):
        """A 10,000-line reply to EHLO: 76, bounded, no crash."""
        self._hostile("EHLO", many_lines(10000))

    def test_evil_reply_endless_line(self):
        """A line without end (up to 64 MB): 76 at once, memory flat."""
        self._hostile("EHLO", endless_line())

    def test_evil_reply_endless_lines(self):
        """Reply lines without end after TLS (to AUTH): 76, memory flat."""
        self._hostile("AUTH", many_lines(200000, b"334"))

    def test_evil_malformed_replies(self):
        """Malformed codes: 76, never a crash."""
        bad = [b"abc" + CRLF, b"25" + CRLF, b"2500 ok" + CRLF, b"250x ok" + CRLF,
               b"199 ok" + CRLF, b"600 ok" + CRLF, b"250-a" + CRLF + b"251 b" + CRLF,
               b"\x00\x01\x02" + CRLF, b"" + CRLF]
        for reply in bad:
            with self.subTest(reply=reply):
                if self.evil is not None:
                    self.evil.stop()
                self.evil_server(replies={"EHLO": reply})
                self.config()
                r = self.run_rm(MSG_A, "a@example.net")
                self.assertExit(r, 76)
                self.assertRegex(r.err, r"malformed reply")
                self.assertNothingSent()
                self.assertNotRegex(r.err, r"[\x00-\x08\x1b]")


# -------------------------------------------------------------- timeouts

class EvilTimeouts(EvilCase):

    def _silent(self, at, tls="starttls", conf_tls="starttls"):
        self.evil_server(tls=tls, silent_at=at)
        self.config(timeout=2, tls=conf_tls)
        r = self.run_rm(MSG_A, "a@example.net", timeout=30)
        self.assertExit(r, 75)
        self.assertRegex(r.err, r"timed out after 2 s")
        self.assertLess(r.elapsed, 6)
        self.assertGreater(r.elapsed, 1.9)
        self.assertNothingSent()
        self.assertClean(r)
        self.assertDeadLetter(MSG_A)

    def test_evil_silent_greeting(self):
        """A server that accepts and says nothing: timeout honoured."""
        self._silent("GREETING")

    def test_evil_silent_after_ehlo(self):
        self._silent("EHLO")

    def test_evil_silent_tls_handshake(self):
        """Implicit TLS, the server never answers the ClientHello."""
        self._silent("HANDSHAKE", tls="implicit", conf_tls="tls")

    def test_evil_silent_after_starttls(self):
        self._silent("HANDSHAKE")

    def test_evil_dribbling_reply(self):
        """One line every 0.4 s: the timeout bounds the whole reply, not
        each line."""
        def dribble(conn):
            for i in range(40):
                conn.send(b"250-still here %d" % i + CRLF)
                time.sleep(0.4)
            conn.send(b"250 done" + CRLF)
        self.evil_server(replies={"EHLO": dribble})
        self.config(timeout=2)
        r = self.run_rm(MSG_A, "a@example.net", timeout=30)
        self.assertExit(r, 75)
        self.assertRegex(r.err, r"timed out")
        self.assertLess(r.elapsed, 6)
        self.assertNothingSent()
        self.assertClean(r)

    def test_evil_connect_timeout(self):
        """A listener whose queue is full: connect times out (75)."""
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        port = ls.getsockname()[1]
        fill = []
        try:
            for _ in range(8):      # fill the accept queue
                c = socket.socket()
                c.settimeout(0.5)
                fill.append(c)
                try:
                    c.connect(("127.0.0.1", port))
                except (socket.timeout, OSError):
                    break
            else:
                self.skipTest("the accept queue never filled")
            self.evil_server()      # only for the transcript helpers
            self.config(port=port, timeout=2)
            r = self.run_rm(MSG_A, "a@example.net", timeout=30)
            self.assertExit(r, 75)
            self.assertRegex(r.err, r"cannot connect.*timed out")
            self.assertLess(r.elapsed, 6)
            self.assertDeadLetter(MSG_A)
        finally:
            for c in fill:
                c.close()
            ls.close()

    def test_evil_final_dot_timeout(self):
        """No reply to the final dot within final_timeout: 75, the message
        kept as "may have been delivered", and never sent again."""
        self.evil_server(silent_at=".")
        self.config(timeout=10, final_timeout=2, retries=2)
        r = self.run_rm(MSG_A, "a@example.net", timeout=30)
        self.assertExit(r, 75)
        self.assertRegex(r.err, r"may have been delivered")
        self.assertLess(r.elapsed, 8)
        self.assertEqual(self.evil.nconn, 1)
        self.assertDeadLetter(MSG_A)

    def test_evil_final_dot_slow_but_in_time(self):
        """The final reply may take longer than timeout (RFC 5321
        §4.5.3.2.6): final_timeout applies there."""
        self.evil_server(delays={".": 3.5})
        self.config(timeout=2, final_timeout=10)
        r = self.run_rm(MSG_A, "a@example.net", timeout=30)
        self.assertDelivered(r)
        self.assertGreater(r.elapsed, 3.4)


# ---------------------------------------------------------------- --check

class EvilCheck(EvilCase):

    def test_evil_check_report(self):
        """--check: a human report (connection, TLS version and cipher,
        subject, issuer, validity, pin, AUTH, sender), exit 0, and nothing
        delivered (MAIL FROM then RSET)."""
        self.evil_server(exts_tls=["AUTH PLAIN LOGIN", "PIPELINING", "SIZE 1000000"])
        self.config(**{"from": "alerts@example.org"})
        r = self.run_rm(b"", "--check")
        self.assertExit(r, 0)
        out = r.stdout.decode()
        for pat in (r"(?m)^connected: +localhost\[127\.0\.0\.1\]:%d" % self.evil.port,
                    r"(?m)^tls: +TLSv1\.3, TLS_",
                    r"(?m)^certificate: +CN=localhost$",
                    r"(?m)^issuer: +CN=relaymail test CA$",
                    r"(?m)^valid: +from 20\d\d-\d\d-\d\d .* until 20\d\d-",
                    r"(?m)^public key: +%s$" % pin_of(cert("server")),
                    r"(?m)^verdict: +verified",
                    r"(?m)^extensions: +SIZE=1000000 PIPELINING",
                    r"(?m)^auth: +PLAIN accepted for %s" % re.escape(USER),
                    r"(?m)^sender: +<alerts@example\.org> accepted",
                    r"(?m)^result: +ok"):
            self.assertRegex(out, pat)
        self.assertEqual(self.evil.verbs(True), ["EHLO", "AUTH", "MAIL", "RSET", "QUIT"])
        self.assertEqual(self.evil.messages, [])
        self.assertClean(r)

    def test_evil_check_untrusted_shows_pin(self):
        """--check against an untrusted certificate: 75, but the report
        still shows what the server presented, with the pin to set."""
        self.evil_server(cert="untrusted")
        self.config()
        r = self.run_rm(b"", "--check")
        self.assertExit(r, 75)
        out = r.stdout.decode()
        self.assertRegex(out, r"(?m)^issuer: +CN=relaymail untrusted test CA$")
        self.assertRegex(out, r"(?m)^public key: +%s$" % pin_of(cert("untrusted")))
        self.assertRegex(out, r"(?m)^verdict: +NOT trusted")
        self.assertRegex(out, r"(?m)^result: +FAILED: .*unknown CA")
        self.assertNothingSent()
        self.assertClean(r)

    def test_evil_check_expired_flagged(self):
        """An expired certificate is named as such in the report."""
        self.evil_server(cert="expired")
        self.config()
        r = self.run_rm(b"", "--check")
        self.assertExit(r, 75)
        self.assertRegex(r.stdout.decode(), r"(?m)^valid: .*until 2021-01-01 .*EXPIRED")

    def test_evil_check_auth_refused(self):
        """--check with a wrong password: 77."""
        self.evil_server(auth_result=b"535 5.7.8 no" + CRLF)
        self.config()
        r = self.run_rm(b"", "--check")
        self.assertExit(r, 77)
        self.assertRegex(r.stdout.decode(), r"(?m)^result: +FAILED: .*535")
        self.assertNothingSent(("MAIL", "RCPT", "DATA"))
        self.assertClean(r)

    def test_evil_check_sender_refused(self):
        """--check exits 0 only when a message would go through: a server
        that wants AUTH (530 to MAIL) while no user is configured is 77."""
        self.evil_server(replies={"MAIL": b"530 5.7.0 Authentication required" + CRLF})
        self.config(user=None, password=None)
        r = self.run_rm(b"", "--check")
        self.assertExit(r, 77)
        self.assertRegex(r.stdout.decode(), r"(?m)^auth: +not used")
        self.assertRegex(r.stdout.decode(), r"(?m)^result: +FAILED: .*530")

    def test_evil_check_starttls_missing(self):
        """--check against a server without STARTTLS: 75."""
        self.evil_server(starttls_offer=False)
        self.config()
        r = self.run_rm(b"", "--check")
        self.assertExit(r, 75)
        self.assertRegex(r.stdout.decode(), r"(?m)^result: +FAILED: .*STARTTLS")
        self.assertNothingSent()


# --------------------------------------------------------------- network

class EvilNetwork(EvilCase):

    def test_evil_every_address_in_turn(self):
        """A name with an IPv6 and an IPv4 address, the server only on
        IPv4: the IPv6 connect is refused and the IPv4 one is used (a
        private /etc/hosts in a mount namespace; skipped where that
        cannot be made)."""
        hosts = os.path.join(self.tmp, "hosts")
        with open(hosts, "w") as f:
            f.write("::1 dual.test\n127.0.0.1 dual.test\n")
        prefix = ["unshare", "-m", "sh", "-c",
                  'mount --bind "$0" /etc/hosts && exec "$@"', hosts]
        probe = subprocess.run(prefix + ["getent", "ahosts", "dual.test"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if probe.returncode != 0 or b"::1" not in probe.stdout:
            self.skipTest("no private mount namespace here")
        self.evil_server(tls="none")
        self.config(host="dual.test", tls="none", user=None, password=None)
        r = self.run_rm(MSG_A, "-v", "a@example.net", prefix=prefix)
        self.assertDelivered(r)
