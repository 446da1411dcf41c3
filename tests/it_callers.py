"""Every real caller works (issue 3): the command lines and messages that
cron, anacron, systemd-cron, busybox crond, mutt, git send-email, PHP,
bsd-mailx and fail2ban really produce, replayed against the test
smarthost; then every row of the option table, name dispatch, aliases,
-bv, a uid without a passwd entry and odd input.

Each replay asserts the envelope (MAIL FROM, RCPT TO and parameters),
the header exactly as received (only the values of the Received, Date
and Message-ID fields that relaymail adds are matched by pattern) and
the body byte for byte.
"""

import email.utils
import os
import pwd
import re
import shutil
import stat
import subprocess
import time

from itest import (RelaymailTestCase, BINARY, DOMAIN, split_message,
                   bare_line_ending, client_commands, crlf)
import itest

HOST = "client.example.org"     # helo in write_config(): this host's name


def gecos_name():
    """The From display name relaymail derives from the passwd entry."""
    pw = pwd.getpwuid(os.getuid())
    full = pw.pw_gecos.split(",")[0]
    return full.replace("&", pw.pw_name[:1].upper() + pw.pw_name[1:])


def me():
    return pwd.getpwuid(os.getuid()).pw_name


def phrase(name):
    """A display name as header.c writes it (ASCII only)."""
    if name and re.fullmatch(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+", name):
        return name
    return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')


RECEIVED_RE = re.compile(
    rb"^Received: by " + re.escape(HOST.encode()) +
    rb" \(relaymail, from userid (\d+)\);\r\n\t(.+)\r\n$")
MSGID_RE = re.compile(
    rb"^Message-ID: <\d{14}\.[0-9a-f]{24}@" + re.escape(HOST.encode()) +
    rb">\r\n$")
DATE_RE = re.compile(rb"^Date: (.+)\r\n$")


def _recent(date):
    """A date relaymail wrote just now: RFC 5322, numeric zone."""
    if not re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} "
                        r"\d{2}:\d{2}:\d{2} [+-]\d{4}", date):
        return False
    t = email.utils.parsedate_to_datetime(date).timestamp()
    return abs(t - time.time()) < 300


def normalize(eml, uid=None):
    """The header as received, with the values relaymail made up replaced
    by tokens: "Received: <added>", "Date: <now>", "Message-ID: <new>".
    A field is only replaced when it is exactly what relaymail writes."""
    uid = os.getuid() if uid is None else uid
    fields, body = split_message(eml)
    out = []
    for name, raw in fields:
        m = RECEIVED_RE.match(raw)
        if name == "received" and m and int(m.group(1)) == uid and \
                _recent(m.group(2).decode()):
            out.append(b"Received: <added>\r\n")
            continue
        m = DATE_RE.match(raw)
        if name == "date" and m and _recent(m.group(1).decode("latin-1")):
            out.append(b"Date: <now>\r\n")
            continue
        if name == "message-id" and MSGID_RE.match(raw):
            out.append(b"Message-ID: <new>\r\n")
            continue
        out.append(raw)
    return b"".join(out), body


class Callers(RelaymailTestCase):
    """The invocations of issue 3, each with the message its tool writes."""

    def replay(self, msg, *args, env=None, server=None, **conf):
        self.start_server(**(server or {}))
        self.write_config(**conf)
        e = {"LOGNAME": me(), "USER": me()}
        e.update(env or {})
        eml, meta = self.deliver(msg, *args, env=e)
        self.assertFalse(bare_line_ending(eml), "bare CR or LF on the wire")
        return eml, meta

    def assertMessage(self, eml, header, body):
        got_h, got_b = normalize(eml)
        self.assertEqual(got_h.decode("utf-8", "replace"),
                         header.decode("utf-8", "replace"))
        self.assertEqual(got_b, body)

    def mail_from_line(self):
        return [c for _, c in client_commands(self.server.transcript())
                if c.upper().startswith("MAIL FROM")]

    # -------------------------------------------------------------- cron

    def test_cr1_debian_cron(self):
        """Debian cron 3.0pl1: -FCronDaemon -i -B8BITMIME -oem root, with its
        From "root (Cron Daemon)", X-Cron-Env lines and a UTF-8 body."""
        body = ("/etc/cron.daily/logrotate:\n"
                "error: skipping \"/var/log/app.log\" because parent "
                "directory has insecure permissions\n"
                "Gr\u00fc\u00dfe \u2013 run-parts: exit status 1\n").encode()
        msg = (b"From: root (Cron Daemon)\n"
               b"To: root\n"
               b"Subject: Cron <root@client> test -x /usr/sbin/anacron || "
               b"( cd / && run-parts --report /etc/cron.daily )\n"
               b"MIME-Version: 1.0\n"
               b"Content-Type: text/plain; charset=UTF-8\n"
               b"Content-Transfer-Encoding: 8bit\n"
               b"X-Cron-Env: <SHELL=/bin/sh>\n"
               b"X-Cron-Env: <HOME=/root>\n"
               b"X-Cron-Env: <PATH=/usr/bin:/bin>\n"
               b"X-Cron-Env: <LOGNAME=root>\n"
               b"\n" + body)
        eml, meta = self.replay(msg, "-FCronDaemon", "-i", "-B8BITMIME",
                                "-oem", "root")
        self.assertEqual(meta["mail_from"], "%s@%s" % (me(), DOMAIN))
        self.assertEqual(meta["rcpt_tos"], ["root@" + DOMAIN])
        self.assertIn("BODY=8BITMIME", meta["mail_options"])
        self.assertMessage(eml, (
            b"Received: <added>\r\n"
            b"From: root@example.org (Cron Daemon)\r\n"
            b"To: root@example.org\r\n"
            b"Subject: Cron <root@client> test -x /usr/sbin/anacron || "
            b"( cd / && run-parts --report /etc/cron.daily )\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=UTF-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"X-Cron-Env: <SHELL=/bin/sh>\r\n"
            b"X-Cron-Env: <HOME=/root>\r\n"
            b"X-Cron-Env: <PATH=/usr/bin:/bin>\r\n"
            b"X-Cron-Env: <LOGNAME=root>\r\n"
            b"Date: <now>\r\n"
            b"Message-ID: <new>\r\n"), crlf(body))

    def test_cr2_cronie(self):
        """cronie: -FCronDaemon -i -odi -oem -oi -t -f alice, From
        "(Cron Daemon)" <alice>, To: alice."""
        body = b"backup: 3 files copied\nbackup: done\n"
        msg = (b"From: \"(Cron Daemon)\" <alice>\n"
               b"To: alice\n"
               b"Subject: Cron <alice@client> /home/alice/bin/backup.sh\n"
               b"Content-Type: text/plain; charset=UTF-8\n"
               b"Auto-Submitted: auto-generated\n"
               b"Precedence: bulk\n"
               b"X-Cron-Env: <LANG=C.UTF-8>\n"
               b"X-Cron-Env: <SHELL=/bin/sh>\n"
               b"X-Cron-Env: <HOME=/home/alice>\n"
               b"X-Cron-Env: <LOGNAME=alice>\n"
               b"X-Cron-Env: <USER=alice>\n"
               b"\n" + body)
        eml, meta = self.replay(msg, "-FCronDaemon", "-i", "-odi", "-oem",
                                "-oi", "-t", "-f", "alice")
        self.assertEqual(meta["mail_from"], "alice@" + DOMAIN)
        self.assertEqual(meta["rcpt_tos"], ["alice@" + DOMAIN])
        self.assertMessage(eml, (
            b"Received: <added>\r\n"
            b"From: \"(Cron Daemon)\" <alice@example.org>\r\n"
            b"To: alice@example.org\r\n"
            b"Subject: Cron <alice@client> /home/alice/bin/backup.sh\r\n"
            b"Content-Type: text/plain; charset=UTF-8\r\n"
            b"Auto-Submitted: auto-generated\r\n"
            b"Precedence: bulk\r\n"
            b"X-Cron-Env: <LANG=C.UTF-8>\r\n"
            b"X-Cron-Env: <SHELL=/bin/sh>\r\n"
            b"X-Cron-Env: <HOME=/home/alice>\r\n"
            b"X-Cron-Env: <LOGNAME=alice>\r\n"
            b"X-Cron-Env: <USER=alice>\r\n"
            b"Date: <now>\r\n"
            b"Message-ID: <new>\r\n"), crlf(body))

    def test_cr3_anacron_lone_dot(self):
        """anacron: -FAnacron -odi root, no -i, output from a pipe with a
        lone "." line (ls -a): delivered whole; charset ANSI_X3.4-1968."""
        body = (b"/etc/cron.daily/listing:\n"
                b".\n"
                b"..\n"
                b".hidden\n"
                b"file\n"
                b".\n"
                b"after the dots\n")
        msg = (b"From: Anacron <root>\n"
               b"To: root\n"
               b"MIME-Version: 1.0\n"
               b"Content-Type: text/plain; charset=\"ANSI_X3.4-1968\"\n"
               b"Content-Transfer-Encoding: 8bit\n"
               b"Subject: Anacron job 'cron.daily' on client\n"
               b"\n" + body)
        eml, meta = self.replay(msg, "-FAnacron", "-odi", "root")
        self.assertEqual(meta["rcpt_tos"], ["root@" + DOMAIN])
        self.assertMessage(eml, (
            b"Received: <added>\r\n"
            b"From: Anacron <root@example.org>\r\n"
            b"To: root@example.org\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=\"ANSI_X3.4-1968\"\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"Subject: Anacron job 'cron.daily' on client\r\n"
            b"Date: <now>\r\n"
            b"Message-ID: <new>\r\n"), crlf(body))
        data = [c for k, c, _ in itest.transcript_events(
            self.server.transcript())[0] if k == "D"]
        self.assertIn("..", data, "the lone dot was not dot-stuffed")

    def test_cr4_systemd_cron(self):
        """systemd-cron: -B 8BITMIME root, a UTF-8 journal excerpt."""
        body = ("\u25cf cron-daily-backup.service - [Cron] backup\n"
                "     Loaded: loaded (/run/systemd/generator/cron-daily-"
                "backup.service)\n"
                "     Active: failed (Result: exit-code)\n"
                "Nov 21 06:25:01 client backup[812]: \u00e9chec: disque "
                "plein\n").encode()
        msg = (b"From: root (systemd-cron)\n"
               b"To: root\n"
               b"Subject: [client] result of cron-daily-backup.service\n"
               b"Content-Type: text/plain; charset=utf-8\n"
               b"Content-Transfer-Encoding: 8bit\n"
               b"X-Mailer: systemd-cron 2.3.3\n"
               b"Auto-Submitted: auto-generated\n"
               b"\n" + body)
        eml, meta = self.replay(msg, "-B", "8BITMIME", "root")
        self.assertEqual(meta["rcpt_tos"], ["root@" + DOMAIN])
        self.assertIn("BODY=8BITMIME", meta["mail_options"])
        self.assertMessage(eml, (
            b"Received: <added>\r\n"
            b"From: root@example.org (systemd-cron)\r\n"
            b"To: root@example.org\r\n"
            b"Subject: [client] result of cron-daily-backup.service\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"X-Mailer: systemd-cron 2.3.3\r\n"
            b"Auto-Submitted: auto-generated\r\n"
            b"Date: <now>\r\n"
            b"Message-ID: <new>\r\n"), crlf(body))

    def test_cr5_busybox_crond(self):
        """busybox crond: -ti with only To and Subject; From comes from the
        passwd entry (GECOS), the envelope sender is the invoking user."""
        body = b"rsync: connection refused\n"
        msg = b"To: root\nSubject: cron: /etc/periodic/daily/sync\n\n" + body
        eml, meta = self.replay(msg, "-ti")
        self.assertEqual(meta["mail_from"], "%s@%s" % (me(), DOMAIN))
        self.assertEqual(meta["rcpt_tos"], ["root@" + DOMAIN])
        name = gecos_name()
        frm = ("From: %s<%s@%s>\r\n" % (phrase(name) + " " if name else "",
                                        me(), DOMAIN)).encode()
        self.assertMessage(eml, (
            b"Received: <added>\r\n"
            b"To: root@example.org\r\n"
            b"Subject: cron: /etc/periodic/daily/sync\r\n"
            b"Date: <now>\r\n"
            b"Message-ID: <new>\r\n" + frm), crlf(body))

    # ------------------------------------------------------ mail clients

    def test_cl1_mutt(self):
        """mutt: -oem -oi -- a@x -dash@x; a recipient starting with '-'
        after "--"; the complete header is kept as mutt wrote it."""
        head = (b"Date: Sat, 21 Nov 2026 09:12:44 +0100\n"
                b"From: Alice Example <alice@example.com>\n"
                b"To: a@example.com, -dash@example.com\n"
                b"Subject: Re: disk usage\n"
                b"Message-ID: <20261121081244.GA1234@client.example.com>\n"
                b"References: <abc@example.net>\n"
                b"MIME-Version: 1.0\n"
                b"Content-Type: text/plain; charset=utf-8\n"
                b"Content-Disposition: inline\n"
                b"Content-Transfer-Encoding: 8bit\n"
                b"User-Agent: Mutt/2.2.9 (2022-11-12)\n")
        body = ("On Fri, Bob wrote:\n> full?\n\nNo, 42 % \u00fcbrig.\n\n"
                "-- \nAlice\n").encode()
        eml, meta = self.replay(head + b"\n" + body, "-oem", "-oi", "--",
                                "a@example.com", "-dash@example.com")
        self.assertEqual(meta["mail_from"], "%s@%s" % (me(), DOMAIN))
        self.assertEqual(meta["rcpt_tos"],
                         ["a@example.com", "-dash@example.com"])
        self.assertMessage(eml, b"Received: <added>\r\n" + crlf(head),
                           crlf(body))

    def test_cl2_git_send_email(self):
        """git send-email: -i a@x b@x; a patch with lines starting with
        '.', '-' and '+'."""
        head = (b"From: Alice Example <alice@example.com>\n"
                b"To: bob@example.com\n"
                b"Cc: carol@example.net\n"
                b"Subject: [PATCH] docs: fix typo\n"
                b"Date: Sat, 21 Nov 2026 09:00:00 +0100\n"
                b"Message-Id: <20261121080000.4242-1-alice@example.com>\n"
                b"X-Mailer: git-send-email 2.39.5\n"
                b"MIME-Version: 1.0\n"
                b"Content-Transfer-Encoding: 8bit\n")
        body = (b"Signed-off-by: Alice Example <alice@example.com>\n"
                b"---\n"
                b" .gitignore | 2 +-\n"
                b" 1 file changed, 1 insertion(+), 1 deletion(-)\n"
                b"\n"
                b"diff --git a/.gitignore b/.gitignore\n"
                b"--- a/.gitignore\n"
                b"+++ b/.gitignore\n"
                b"@@ -1 +1 @@\n"
                b"-.o\n"
                b"+*.o\n"
                b".\n"
                b"-- \n"
                b"2.39.5\n"
                b"\n")
        eml, meta = self.replay(head + b"\n" + body, "-i", "bob@example.com",
                                "carol@example.net")
        self.assertEqual(meta["rcpt_tos"],
                         ["bob@example.com", "carol@example.net"])
        self.assertMessage(eml, b"Received: <added>\r\n" + crlf(head),
                           crlf(body))

    def test_cl3_php_mail(self):
        """PHP mail(): -t -i, CRLF between header fields, LF in the body."""
        head = (b"To: bob@example.com\r\n"
                b"Subject: Your order 1042\r\n"
                b"From: Shop <shop@example.com>\r\n"
                b"MIME-Version: 1.0\r\n"
                b"Content-Type: text/plain; charset=UTF-8\r\n"
                b"X-Mailer: PHP/8.2.26\r\n")
        body = b"Hello Bob,\n\nyour order has shipped.\n\n-- \nShop\n"
        eml, meta = self.replay(head + b"\r\n" + body, "-t", "-i")
        self.assertEqual(meta["rcpt_tos"], ["bob@example.com"])
        self.assertMessage(eml, b"Received: <added>\r\n" + head +
                           b"Date: <now>\r\nMessage-ID: <new>\r\n",
                           crlf(body))

    def test_cl4_bsd_mailx_bcc(self):
        """bsd-mailx: -i -t with a Bcc field: Bcc is a recipient and is
        removed; From, Date and Message-ID are added."""
        msg = (b"To: bob@example.com\n"
               b"Subject: quarterly report\n"
               b"Cc: carol@example.net\n"
               b"Bcc: secret@example.org\n"
               b"\n"
               b"see attached numbers\n")
        eml, meta = self.replay(msg, "-i", "-t", env={"NAME": "Alice Ops"})
        self.assertEqual(meta["rcpt_tos"], ["bob@example.com",
                                            "carol@example.net",
                                            "secret@example.org"])
        self.assertNotIn(b"secret", eml)
        self.assertMessage(eml, (
            b"Received: <added>\r\n"
            b"To: bob@example.com\r\n"
            b"Subject: quarterly report\r\n"
            b"Cc: carol@example.net\r\n"
            b"Date: <now>\r\n"
            b"Message-ID: <new>\r\n" +
            ("From: Alice Ops <%s@%s>\r\n" % (me(), DOMAIN)).encode()),
            b"see attached numbers\r\n")

    # ----------------------------------------------------------- daemons

    def test_da1_fail2ban(self):
        """fail2ban: -f root@HOST root@localhost, printf output without a
        final newline; both local addresses go out @domain."""
        head = (b"Subject: [Fail2Ban] sshd: banned 192.0.2.7 from "
                b"client.example.org\n"
                b"Date: Sat, 21 Nov 2026 10:11:12 +0100\n"
                b"From: Fail2Ban <root@client.example.org>\n"
                b"To: root@localhost\n")
        body = (b"Hi,\n\nThe IP 192.0.2.7 has just been banned by Fail2Ban "
                b"after\n5 attempts against sshd.\n\nRegards,\n\nFail2Ban")
        eml, meta = self.replay(head + b"\n" + body, "-f",
                                "root@" + HOST, "root@localhost")
        self.assertEqual(meta["mail_from"], "root@" + DOMAIN)
        self.assertEqual(meta["rcpt_tos"], ["root@" + DOMAIN])
        self.assertMessage(eml, b"Received: <added>\r\n" + crlf(head) +
                           b"Message-ID: <new>\r\n", crlf(body) + b"\r\n")

    def test_da2_null_sender(self):
        """-f '<>': MAIL FROM:<> (a bounce or an auto-reply)."""
        msg = (b"From: MAILER-DAEMON@example.org\nTo: bob@example.com\n"
               b"Subject: vacation\nAuto-Submitted: auto-replied\n\n"
               b"I am away.\n")
        eml, meta = self.replay(msg, "-f", "<>", "bob@example.com")
        self.assertEqual(meta["mail_from"], "")
        self.assertIn("MAIL FROM:<>", self.mail_from_line()[0])
        self.assertMessage(eml, b"Received: <added>\r\n" + crlf(
            msg.split(b"\n\n")[0] + b"\n") + b"Date: <now>\r\n"
            b"Message-ID: <new>\r\n", b"I am away.\r\n")

    def test_da3_one_argument_two_recipients(self):
        """One argument "alice,ops@example.com" is two recipients; the bare
        one is qualified."""
        msg = b"Subject: two\n\nbody\n"
        eml, meta = self.replay(msg, "alice,ops@example.com",
                                env={"NAME": "Backup Job"})
        self.assertEqual(meta["rcpt_tos"], ["alice@" + DOMAIN,
                                            "ops@example.com"])
        self.assertMessage(eml, (
            b"Received: <added>\r\n"
            b"Subject: two\r\n"
            b"Date: <now>\r\n"
            b"Message-ID: <new>\r\n" +
            ("From: Backup Job <%s@%s>\r\n" % (me(), DOMAIN)).encode() +
            b"To: undisclosed-recipients:;\r\n"), b"body\r\n")

    def test_da4_empty_argument_skipped(self):
        """An empty-string argument is skipped, not an error and not a
        recipient."""
        msg = b"To: bob@example.com\nSubject: e\n\nbody\n"
        eml, meta = self.replay(msg, "", "bob@example.com", "")
        self.assertEqual(meta["rcpt_tos"], ["bob@example.com"])
        rcpts = [c for _, c in client_commands(self.server.transcript())
                 if c.upper().startswith("RCPT")]
        self.assertEqual(len(rcpts), 1)

    def test_da5_only_empty_argument_takes_header(self):
        """Only an empty argument: no recipients, so they come from the
        header as with -t."""
        msg = b"To: bob@example.com\nCc: root\nSubject: e\n\nbody\n"
        eml, meta = self.replay(msg, "")
        self.assertEqual(meta["rcpt_tos"], ["bob@example.com",
                                            "root@" + DOMAIN])
