"""-bs: SMTP on standard input and output (issue 8).

A scripted client drives `relaymail -bs` over pipes; two real clients do
the same: PHP's Symfony Mailer (Debian's php-symfony-mailer, its
SendmailTransport in -bs mode, installed by tests/deps.sh) and Python's
smtplib with the process's pipes as its socket.
"""

import email
import email.policy
import os
import re
import select
import signal
import smtplib
import subprocess
import time

from itest import (BINARY, DOMAIN, RUN_TIMEOUT, RelaymailTestCase, Run,
                   named, split_message)

PHP = "/usr/bin/php"
SYMFONY_AUTOLOAD = "/usr/share/php/Symfony/Component/Mailer/autoload.php"

REPLY_LINE = re.compile(rb"[2-5]\d\d[ -][^\r\n]*\r\n")


def run_env(home):
    """The environment RelaymailTestCase.relaymail() gives the binary."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("RELAYMAIL") and k not in ("NAME",)}
    e["HOME"] = home
    return e


def stuff(body):
    """Dot-stuff a CRLF message for DATA (RFC 5321 4.5.2)."""
    return re.sub(rb"(?m)^\.", b"..", body)


class Session:
    """relaymail -bs on pipes, spoken to line by line."""

    def __init__(self, test, *args, timeout=RUN_TIMEOUT):
        self.test = test
        self.timeout = timeout
        self.argv = [BINARY, "-C", test.conf, "-bs"] + list(args)
        self.errpath = os.path.join(test.tmp, "bs-stderr-%d" % len(test.runs))
        self.err = open(self.errpath, "wb")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err,
                                  env=run_env(test.home), cwd=test.tmp)
        self.buf = b""
        self.out = b""          # every octet read from stdout

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            self.test.fail("no reply from relaymail -bs within %ss" % self.timeout)
        r, _, _ = select.select([self.p.stdout], [], [], left)
        if not r:
            self.test.fail("no reply from relaymail -bs within %ss" % self.timeout)
        data = os.read(self.p.stdout.fileno(), 65536)
        if not data:
            self.test.fail("relaymail -bs closed stdout; so far: %r" % self.out)
        self.buf += data
        self.out += data

    def reply(self):
        """(code, [text lines]) of one reply, possibly multi-line."""
        deadline = time.monotonic() + self.timeout
        lines = []
        while True:
            while b"\n" not in self.buf:
                self._fill(deadline)
            line, self.buf = self.buf.split(b"\n", 1)
            self.test.assertTrue(line.endswith(b"\r"), "reply line without CRLF: %r" % line)
            line = line[:-1].decode("ascii")
            self.test.assertRegex(line, r"^[2-5]\d\d[ -]", "not an SMTP reply line")
            lines.append(line)
            if line[3] == " ":
                codes = {int(ln[:3]) for ln in lines}
                self.test.assertEqual(len(codes), 1, "mixed codes: %r" % lines)
                return int(line[:3]), [ln[4:] for ln in lines]

    def expect(self, code):
        got, text = self.reply()
        self.test.assertEqual(got, code, "expected %d, got %d %s" % (code, got, " / ".join(text)))
        return text

    def cmd(self, line, code):
        self.send(line + b"\r\n")
        return self.expect(code)

    def finish(self, expect_status):
        """Close stdin, wait for the exit; stdout must hold replies only."""
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        rest = b""
        try:
            rest = self.p.stdout.read()
            self.p.wait(self.timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.out += rest
        self.err.close()
        with open(self.errpath, "rb") as f:
            err = f.read()
        run = Run(self.argv, self.p.returncode, self.out, err, time.monotonic() - self.t0)
        self.test.runs.append(run)
        self.test.assertStdoutIsSmtp(self.out)
        self.test.assertExit(run, expect_status)
        return run, rest


class PipeSocket:
    """What smtplib needs of a socket, over a child's stdin and stdout."""

    def __init__(self, proc):
        self.proc = proc

    def sendall(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def makefile(self, mode):
        return self.proc.stdout

    def close(self):
        self.proc.stdin.close()


class PipeSMTP(smtplib.SMTP):
    """smtplib's client, connected to `relaymail -bs` instead of a port."""

    def __init__(self, argv, env, cwd):
        self.argv, self.env, self.cwd = argv, env, cwd
        self.proc = None
        super().__init__()

    def connect(self, host="localhost", port=0, source_address=None):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.env,
                                     cwd=self.cwd)
        self.sock = PipeSocket(self.proc)
        self.file = None
        code, msg = self.getreply()
        if self.debuglevel > 0:
            self._print_debug("connect:", msg)
        return code, msg


MSG1 = (b"From: App <app@example.com>\r\n"
        b"To: Alice <alice@example.com>\r\n"
        b"Subject: bs first\r\n"
        b"\r\n"
        b"first message\r\n"
        b".leading dot\r\n"
        b".\r\n"
        b"..\r\n"
        b"last line\r\n")

MSG2 = (b"To: bob@example.com\r\n"
        b"Subject: bs second\r\n"
        b"\r\n"
        b"second message\r\n")


class ServeBs(RelaymailTestCase):

    def assertStdoutIsSmtp(self, out):
        """Nothing but CRLF-terminated SMTP reply lines on stdout."""
        pos = 0
        while True:
            m = REPLY_LINE.match(out, pos)
            if not m:
                break
            pos = m.end()
        self.assertEqual(out[pos:], b"", "stdout holds more than SMTP replies: %r"
                         % out[pos:pos + 200])

    def transaction(self, s, sender, rcpts, msg, code=250):
        s.cmd(b"MAIL FROM:<" + sender + b">", 250)
        for r in rcpts:
            s.cmd(b"RCPT TO:<" + r + b">", 250)
        s.cmd(b"DATA", 354)
        s.send(stuff(msg) + b".\r\n")
        return s.expect(code)

    def test_bs_two_messages_one_session(self):
        """EHLO advertises the four extensions; two messages in one session
        each reach the smarthost with their own envelope, dots unstuffed;
        QUIT gives 221 and exit 0, stdout holds nothing but replies."""
        self.start_server()
        self.write_config()
        s = Session(self)
        s.expect(220)
        ehlo = s.cmd(b"EHLO client.example", 250)
        self.assertEqual(ehlo[1:], ["PIPELINING", "8BITMIME", "SIZE",
                                    "ENHANCEDSTATUSCODES"])
        text = self.transaction(s, b"app@example.com",
                                [b"alice@example.com", b"carol@example.com"], MSG1)
        self.assertRegex(text[0], r"^2\.0\.0 ")
        self.transaction(s, b"", [b"bob@example.com"], MSG2)
        s.cmd(b"QUIT", 221)
        run, _ = s.finish(0)
        self.assertEqual(run.err.strip(), "", "stderr not empty")
        msgs = self.server.messages()
        self.assertEqual(len(msgs), 2)
        (eml1, meta1), (eml2, meta2) = msgs
        self.assertEqual(meta1["mail_from"], "app@example.com")
        self.assertEqual(meta1["rcpt_tos"], ["alice@example.com", "carol@example.com"])
        self.assertEqual(meta2["mail_from"], "")
        self.assertEqual(meta2["rcpt_tos"], ["bob@example.com"])
        f1, body1 = split_message(eml1)
        self.assertEqual(body1, MSG1.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(named(f1, "subject"), [b"Subject: bs first\r\n"])
        self.assertEqual(named(f1, "from"), [b"From: App <app@example.com>\r\n"])
        for name in ("date", "message-id", "received"):
            self.assertEqual(len(named(f1, name)), 1, name)
        f2, body2 = split_message(eml2)
        self.assertEqual(body2, b"second message\r\n")
        self.assertEqual(named(f2, "subject"), [b"Subject: bs second\r\n"])
        # the header fix-ups of the -t/argv path: a From for the null sender
        self.assertEqual(len(named(f2, "from")), 1)

    def test_bs_pipelined(self):
        """MAIL, RCPT, RCPT, DATA in one write: four replies in order; then
        the message, QUIT and end of input in one more write."""
        self.start_server()
        self.write_config()
        s = Session(self)
        s.expect(220)
        s.cmd(b"EHLO client.example", 250)
        s.send(b"MAIL FROM:<app@example.com> SIZE=%d BODY=8BITMIME\r\n"
               b"RCPT TO:<alice@example.com>\r\n"
               b"RCPT TO:<nobody>\r\n"
               b"DATA\r\n" % len(MSG1))
        for code in (250, 250, 250, 354):
            s.expect(code)
        s.send(stuff(MSG1) + b".\r\nNOOP\r\nQUIT\r\n")
        s.expect(250)
        s.expect(250)
        s.expect(221)
        s.finish(0)
        msgs = self.server.messages()
        self.assertEqual(len(msgs), 1)
        eml, meta = msgs[0]
        self.assertEqual(meta["mail_from"], "app@example.com")
        # a bare local name is qualified, as on the command line
        self.assertEqual(meta["rcpt_tos"], ["alice@example.com", "nobody@" + DOMAIN])
        self.assertEqual(split_message(eml)[1], MSG1.split(b"\r\n\r\n", 1)[1])

    def test_bs_whole_session_in_one_write(self):
        """A client that writes everything before reading (a canned
        session): every command answered in order, both messages sent."""
        self.start_server()
        self.write_config()
        script = (b"HELO client.example\r\n"
                  b"MAIL FROM:<app@example.com>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n"
                  + stuff(MSG1) + b".\r\n"
                  b"MAIL FROM:<app@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
                  + MSG2 + b".\r\nQUIT\r\n")
        r = self.relaymail(script, "-bs")
        self.assertExit(r, 0)
        self.assertStdoutIsSmtp(r.stdout)
        codes = [int(ln[:3]) for ln in r.stdout.split(b"\r\n") if ln]
        self.assertEqual(codes, [220, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221])
        self.assertEqual([m["rcpt_tos"] for _, m in self.server.messages()],
                         [["a@example.com"], ["b@example.com"]])

    def test_bs_smarthost_tempfail_is_451(self):
        """The smarthost answers 451 to the final dot: the client gets 451
        with the smarthost's reason, the message is in dead.letter, and the
        session goes on."""
        self.start_server(extra=["--data-reply", "451 4.3.0 queue full, try later"])
        self.write_config(retries=0)
        s = Session(self)
        s.expect(220)
        s.cmd(b"EHLO client.example", 250)
        text = self.transaction(s, b"app@example.com", [b"alice@example.com"], MSG1, 451)
        self.assertRegex(text[0], r"^4\.3\.0 ")
        self.assertIn("queue full, try later", text[0])
        s.cmd(b"NOOP", 250)
        s.cmd(b"QUIT", 221)
        run, _ = s.finish(0)
        self.assertNothingSpooled()
        self.assertDeadLetter(MSG1)
        self.assertIn("queue full", run.err)

    def test_bs_permanent_failures_are_5xx(self):
        """A 5xx to the final dot and a refused recipient are 5xx for the
        client, with the smarthost's enhanced code and reason."""
        self.start_server(extra=["--data-reply", "554 5.7.1 rejected by policy",
                                 "--reject-rcpt", "gone@example.com"])
        self.write_config(retries=0)
        s = Session(self)
        s.expect(220)
        s.cmd(b"EHLO client.example", 250)
        text = self.transaction(s, b"app@example.com", [b"alice@example.com"], MSG1, 554)
        self.assertRegex(text[0], r"^5\.7\.1 .*rejected by policy")
        text = self.transaction(s, b"app@example.com",
                                [b"alice@example.com", b"gone@example.com"], MSG2, 550)
        self.assertRegex(text[0], r"^5\.1\.1 .*gone@example\.com")
        s.cmd(b"QUIT", 221)
        s.finish(0)
        self.assertNothingSpooled()
        self.assertDeadLetter(MSG2)

    def test_bs_garbage_long_lines_and_order(self):
        """Binary garbage, a NUL, over-long lines and commands out of order
        get 500/503 replies; the session stays usable and then delivers."""
        self.start_server()
        self.write_config()
        s = Session(self)
        s.expect(220)
        s.cmd(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 500)
        s.cmd(b"GET / HTTP/1.1", 500)
        s.cmd(b"MAIL FROM:<app@example.com>", 503)      # before HELO
        s.cmd(b"EHLO client.example", 250)
        s.cmd(b"NOOP " + b"x" * 5000, 500)
        s.cmd(b"x" * 200000, 500)
        s.cmd(b"RCPT TO:<alice@example.com>", 503)      # before MAIL
        s.cmd(b"DATA", 503)
        s.cmd(b"MAIL FROM:<app@example.com> SIZE=1 FOO=bar", 555)
        s.cmd(b"MAIL FROM:app@example.com", 501)
        s.cmd(b"STARTTLS", 502)
        s.cmd(b"VRFY root", 252)
        s.cmd(b"EXPN root", 502)
        s.cmd(b"HELP", 214)
        self.transaction(s, b"app@example.com", [b"alice@example.com"], MSG2)
        s.cmd(b"QUIT", 221)
        s.finish(0)
        msgs = self.server.messages()
        self.assertEqual(len(msgs), 1)
        self.assertEqual(split_message(msgs[0][0])[1], b"second message\r\n")

    def test_bs_eof_between_messages_is_0(self):
        """End of input without QUIT after a completed message: exit 0."""
        self.start_server()
        self.write_config()
        s = Session(self)
        s.expect(220)
        s.cmd(b"HELO client.example", 250)
        self.transaction(s, b"app@example.com", [b"alice@example.com"], MSG2)
        s.finish(0)
        self.assertEqual(len(self.server.messages()), 1)

    def test_bs_eof_inside_data_is_75(self):
        """End of input in the middle of DATA: nothing is sent, exit 75,
        stderr says why."""
        self.start_server()
        self.write_config()
        s = Session(self)
        s.expect(220)
        s.cmd(b"HELO client.example", 250)
        s.cmd(b"MAIL FROM:<app@example.com>", 250)
        s.cmd(b"RCPT TO:<alice@example.com>", 250)
        s.cmd(b"DATA", 354)
        s.send(b"Subject: cut short\r\n\r\nhalf a mess")
        run, _ = s.finish(75)
        self.assertIn("not sent", run.err)
        self.assertNothingSpooled()

    def test_bs_sigterm_gives_421(self):
        """SIGTERM while waiting for a command: 421, exit 75."""
        self.write_config(port=1)
        s = Session(self)
        s.expect(220)
        s.cmd(b"HELO client.example", 250)
        s.p.send_signal(signal.SIGTERM)
        s.expect(421)
        s.finish(75)

    def test_bs_config_error_is_421_greeting(self):
        """No usable configuration: the greeting is a 421 naming the cause
        (an SMTP client shows it), exit 78."""
        self.write_config(text='host = "localhost"\nno_such_key = 1\n')
        s = Session(self)
        text = s.expect(421)
        self.assertIn("no_such_key", text[0])
        s.finish(78)

    def test_bs_python_smtplib(self):
        """Python's smtplib (a real client) over the process's pipes: EHLO,
        SIZE and BODY=8BITMIME from send_message, two messages, quit."""
        self.start_server()
        self.write_config()
        msg = email.message.EmailMessage()
        msg["From"] = "Sender <sender@example.com>"
        msg["To"] = "Alice <alice@example.com>"
        msg["Subject"] = "smtplib over pipes"
        msg.set_content("Gr\u00fc\u00dfe\n.\n..two dots\nend\n", cte="8bit")
        argv = [BINARY, "-C", self.conf, "-bs"]
        c = PipeSMTP(argv, run_env(self.home), self.tmp)
        code, _ = c.connect()
        self.assertEqual(code, 220)
        self.assertEqual(c.ehlo()[0], 250)
        self.assertTrue(c.has_extn("pipelining") and c.has_extn("8bitmime")
                        and c.has_extn("size") and c.has_extn("enhancedstatuscodes"))
        self.assertEqual(c.send_message(msg), {})
        self.assertEqual(c.sendmail("sender@example.com", ["bob@example.com"],
                                    MSG2), {})
        self.assertEqual(c.quit()[0], 221)
        status = c.proc.wait(RUN_TIMEOUT)
        err = c.proc.stderr.read()
        self.runs.append(Run(argv, status, b"", err, 0))
        self.assertEqual(status, 0, err)
        msgs = self.server.messages()
        self.assertEqual(len(msgs), 2)
        self.assertIn("BODY=8BITMIME", [o.upper() for o in msgs[0][1]["mail_options"]])
        got = email.message_from_bytes(msgs[0][0], policy=email.policy.default)
        self.assertEqual(got["Subject"], "smtplib over pipes")
        self.assertEqual(got.get_content().replace("\r\n", "\n"),
                         "Gr\u00fc\u00dfe\n.\n..two dots\nend\n")
        self.assertEqual(msgs[1][1]["rcpt_tos"], ["bob@example.com"])


SYMFONY_SCRIPT = r"""<?php
require_once '%(autoload)s';
use Symfony\Component\Mailer\Mailer;
use Symfony\Component\Mailer\Transport\SendmailTransport;
use Symfony\Component\Mime\Address;
use Symfony\Component\Mime\Email;

// the application's configuration: sendmail in -bs mode (Symfony's default)
$transport = new SendmailTransport($argv[1]);
$mailer = new Mailer($transport);
foreach ([1, 2] as $i) {
    $email = (new Email())
        ->from(new Address('app@example.com', 'The App'))
        ->to(new Address('alice@example.com', 'Alice'))
        ->cc('carol@example.com')
        ->bcc('hidden@example.com')
        ->subject("Gr\u{fc}\u{df}e from Symfony $i")
        ->text("Hello Alice,\n.\n..two dots\nmessage $i\n")
        ->html("<p>Hello <b>Alice</b> $i</p>")
        ->attach("bin\x00ary\xff\r\n.\r\n", 'blob.bin', 'application/octet-stream');
    $sent = $transport->send($email);
    echo $sent->getMessageId(), "\n";
}
"""


class ServeSymfony(RelaymailTestCase):

    def test_bs_symfony_mailer(self):
        """PHP's Symfony Mailer (Debian's php-symfony-mailer) with its
        SendmailTransport in -bs mode sends two messages in one session;
        both arrive with headers, text, HTML and attachment intact, Bcc in
        the envelope only."""
        missing = [p for p in (PHP, SYMFONY_AUTOLOAD) if not os.path.exists(p)]
        self.assertEqual(missing, [], "install php-cli and php-symfony-mailer "
                         "(tests/deps.sh does)")
        self.start_server()
        self.write_config()
        script = os.path.join(self.tmp, "send.php")
        with open(script, "w") as f:
            f.write(SYMFONY_SCRIPT % {"autoload": SYMFONY_AUTOLOAD})
        err = os.path.join(self.tmp, "bs-stderr")
        command = "%s -C %s -bs 2>%s" % (BINARY, self.conf, err)
        argv = [PHP, script, command]
        t0 = time.monotonic()
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=run_env(self.home), cwd=self.tmp, timeout=RUN_TIMEOUT)
        with open(err, "rb") as f:
            bs_err = f.read()
        self.runs.append(Run(argv, p.returncode, p.stdout, p.stderr + bs_err,
                             time.monotonic() - t0))
        self.assertEqual(p.returncode, 0, "PHP failed: %s" % p.stderr.decode()[-2000:])
        ids = p.stdout.decode().split()
        self.assertEqual(len(ids), 2)
        self.assertEqual(bs_err, b"", "relaymail -bs wrote to stderr")
        msgs = self.server.messages()
        self.assertEqual(len(msgs), 2)
        for i, (eml, meta) in enumerate(msgs, 1):
            self.assertEqual(meta["mail_from"], "app@example.com")
            self.assertEqual(sorted(meta["rcpt_tos"]), ["alice@example.com",
                                                        "carol@example.com",
                                                        "hidden@example.com"])
            fields, _ = split_message(eml)
            self.assertEqual(named(fields, "bcc"), [])
            self.assertNotIn(b"hidden", eml)
            for name in ("date", "message-id", "from", "to", "received"):
                self.assertEqual(len(named(fields, name)), 1, name)
            got = email.message_from_bytes(eml, policy=email.policy.default)
            self.assertEqual(got["Message-ID"], "<%s>" % ids[i - 1])
            self.assertEqual(got["Subject"], "Gr\u00fc\u00dfe from Symfony %d" % i)
            self.assertEqual(got["From"], "The App <app@example.com>")
            self.assertEqual(got["To"], "Alice <alice@example.com>")
            self.assertEqual(got["Cc"], "carol@example.com")
            text = got.get_body(("plain",)).get_content().replace("\r\n", "\n")
            self.assertEqual(text, "Hello Alice,\n.\n..two dots\nmessage %d\n" % i)
            html = got.get_body(("html",)).get_content()
            self.assertEqual(html, "<p>Hello <b>Alice</b> %d</p>" % i)
            att = [a for a in got.iter_attachments()]
            self.assertEqual(len(att), 1)
            self.assertEqual(att[0].get_filename(), "blob.bin")
            self.assertEqual(att[0].get_content(), b"bin\x00ary\xff\r\n.\r\n")
