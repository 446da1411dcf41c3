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

    def test_da6_more_daemons(self):
        """sudo -t, mdadm -t, at -i USER, logwatch -t (a lone '.' in its
        report), unattended-upgrades -oi -t: one server, one message
        each; bare names qualified, everything else as written."""
        cases = [
            (["-t"],
             b"To: root\nFrom: root\nAuto-Submitted: auto-generated\n"
             b"Subject: *** SECURITY information for client ***\n\n"
             b"client : Nov 21 09:00:00 : alice : user NOT in sudoers ; "
             b"TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls\n",
             ["root@example.org"],
             b"To: root@example.org\r\nFrom: root@example.org\r\n"
             b"Auto-Submitted: auto-generated\r\n"
             b"Subject: *** SECURITY information for client ***\r\n"
             b"Date: <now>\r\nMessage-ID: <new>\r\n"),
            (["-t"],
             b"From: mdadm monitoring <root>\nTo: root\n"
             b"Subject: DegradedArray event on /dev/md0:client\n\n"
             b"This is an automatically generated mail message from mdadm"
             b"\nrunning on client\n\nA DegradedArray event had been "
             b"detected on md device /dev/md0.\n",
             ["root@example.org"],
             b"From: mdadm monitoring <root@example.org>\r\n"
             b"To: root@example.org\r\n"
             b"Subject: DegradedArray event on /dev/md0:client\r\n"
             b"Date: <now>\r\nMessage-ID: <new>\r\n"),
            (["-i", "alice"],
             b"Subject: Output from your job        7\nTo: alice\n\n"
             b"backup finished\n",
             ["alice@example.org"],
             b"Subject: Output from your job        7\r\n"
             b"To: alice@example.org\r\nDate: <now>\r\n"
             b"Message-ID: <new>\r\n" +
             ("From: Cron Job <%s@%s>\r\n" % (me(), DOMAIN)).encode()),
            (["-t"],
             b"To: root\nFrom: logwatch@client.example.org\n"
             b"Subject: Logwatch for client (Linux)\nMIME-Version: 1.0\n"
             b"Content-Transfer-Encoding: 7bit\n"
             b"Content-Type: text/plain; charset=\"iso-8859-1\"\n\n"
             b" ################### Logwatch 7.8 (01/22/23) ##########\n"
             b" --------------------- Disk Space Begin -------------\n"
             b".\n"
             b" /dev/sda1        20G   19G  1.0G  95% /\n"
             b" ---------------------- Disk Space End --------------\n",
             ["root@example.org"],
             b"To: root@example.org\r\nFrom: logwatch@client.example.org"
             b"\r\nSubject: Logwatch for client (Linux)\r\n"
             b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: 7bit\r\n"
             b"Content-Type: text/plain; charset=\"iso-8859-1\"\r\n"
             b"Date: <now>\r\nMessage-ID: <new>\r\n"),
            (["-oi", "-t"],
             b"From: root\nTo: root, ops@example.com\n"
             b"Subject: unattended-upgrades result for client: True\n"
             b"Content-Type: text/plain; charset=\"utf-8\"\n"
             b"Content-Transfer-Encoding: 8bit\n"
             b"Date: Sat, 21 Nov 2026 06:40:02 +0100\n\n"
             b"Unattended upgrade result: All upgrades installed\n",
             ["root@example.org", "ops@example.com"],
             b"From: root@example.org\r\n"
             b"To: root@example.org, ops@example.com\r\n"
             b"Subject: unattended-upgrades result for client: True\r\n"
             b"Content-Type: text/plain; charset=\"utf-8\"\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n"
             b"Date: Sat, 21 Nov 2026 06:40:02 +0100\r\n"
             b"Message-ID: <new>\r\n"),
        ]
        self.start_server()
        self.write_config()
        env = {"LOGNAME": me(), "USER": me(), "NAME": "Cron Job"}
        for args, msg, _, _ in cases:
            self.assertExit(self.relaymail(msg, *args, env=env), 0)
        got = self.server.messages()
        self.assertEqual(len(got), len(cases))
        for (args, msg, rcpts, head), (eml, meta) in zip(cases, got):
            self.assertEqual(meta["rcpt_tos"], rcpts, args)
            self.assertEqual(meta["mail_from"], "%s@%s" % (me(), DOMAIN))
            h, b = normalize(eml)
            self.assertEqual(h, b"Received: <added>\r\n" + head)
            self.assertEqual(b, crlf(msg.split(b"\n\n", 1)[1]))
    def test_da7_bcc_only_gets_undisclosed(self):
        """-t with only a Bcc: delivered to it, Bcc removed, and
        "To: undisclosed-recipients:;" added (Postfix's rule: no To or Cc;
        SPEC's "no To, Cc or Bcc" would leave no recipient field)."""
        msg = (b"From: a@example.com\nBcc: hidden@example.com\n"
               b"Subject: s\nDate: Sat, 21 Nov 2026 09:00:00 +0100\n\nbody\n")
        eml, meta = self.replay(msg, "-t")
        self.assertEqual(meta["rcpt_tos"], ["hidden@example.com"])
        self.assertMessage(eml, (
            b"Received: <added>\r\nFrom: a@example.com\r\nSubject: s\r\n"
            b"Date: Sat, 21 Nov 2026 09:00:00 +0100\r\n"
            b"Message-ID: <new>\r\nTo: undisclosed-recipients:;\r\n"),
            b"body\r\n")

# Every row of the option table (SPEC §1) with the number of words it
# takes.  Run with -bv and a final recipient "marker": an option that
# took too few words would leave its argument as a recipient, one that
# took too many would swallow "marker"; either changes the output.
OPTION_ROWS = [
    ["-t"], ["-i"], ["-ti"], ["-it"], ["-oi"], ["-o", "i"],
    ["-O", "IgnoreDots"], ["-OIgnoreDots=true"], ["-O", "DeliveryMode=b"],
    ["-f", "bounce@example.com"], ["-fbounce@example.com"],
    ["-r", "bounce@example.com"], ["-rbounce@example.com"],
    ["-f", "<>"], ["-f<>"], ["-f", ""], ["-f", "root"],
    ["-F", "Cron Daemon"], ["-FCronDaemon"], ["-F", ""],
    ["-v"], ["-B", "8BITMIME"], ["-B8BITMIME"], ["-B", "7BIT"],
    ["-B7BIT"],
    ["-N", "never"], ["-Nsuccess,failure,delay"], ["-N", "failure"],
    ["-R", "hdrs"], ["-Rfull"], ["-V", "envid.42"], ["-Venvid.42"],
    ["-L", "cron-mail"], ["-Lcron-mail"],
    ["-oem"], ["-oee"], ["-oep"], ["-odi"], ["-odb"], ["-om"],
    ["-o", "em"], ["-oQ/var/spool/mqueue"], ["-o7"], ["-o8"],
    ["-h", "17"], ["-h17"], ["-U"], ["-m"], ["-n"], ["-G"], ["-c"],
    ["-T"], ["-x"], ["-s"],
    ["-X", "/nonexistent/traffic.log"], ["-X/nonexistent/traffic.log"],
    ["-A", "c"], ["-Am"], ["-D", "/nonexistent/debug.log"],
    ["-M", "Xvalue"], ["-MXvalue"], ["-Q", "reason"], ["-Qreason"],
    ["-p", "smtp:client"], ["-psmtp"], ["-d"], ["-d0.1"],
    ["-e", "m"], ["-em"],
    ["-vti"], ["-tiv"], ["-itF", "Cron Daemon"], ["-tifbounce@example.com"],
    ["-B", "8BITMIME", "-oem", "-oi", "-FCronDaemon", "-i"],
    ["--"],
]


class OptionTable(RelaymailTestCase):
    """Each row of the table accepted with its arity; -b modes; names;
    unknown options."""

    def verify(self, *args, conf=None, env=None):
        return self.relaymail(b"", *args, conf=conf, env=env)

    def test_op1_every_row_takes_its_arguments(self):
        """-bv OPTION... marker resolves exactly "marker": every row of the
        table is accepted and takes the number of words it should."""
        self.write_config(port=1)
        bad = []
        for row in OPTION_ROWS:
            r = self.verify("-bv", *(row + ["marker"]))
            want = b"marker -> marker@example.org\n"
            if r.status != 0 or r.stdout != want:
                bad.append("%r: exit %s, stdout %r, stderr %r"
                           % (row, r.status, r.stdout, r.err.strip()))
        self.assertEqual(bad, [])
        self.assertFalse(os.path.exists("/nonexistent"))

    def test_op2_recipients_after_double_dash(self):
        """"--" ends the options: what follows is a recipient even when it
        starts with '-'; without "--" it is refused (as -d debug flags with
        an @, or an unknown option), never silently dropped."""
        self.write_config(port=1)
        r = self.verify("-bv", "-oi", "--", "-dash@example.com", "-t")
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, b"-dash@example.com -> -dash@example.com"
                         b"\n-t -> -t@example.org\n")
        r = self.verify("-bv", "-dash@example.com")
        self.assertExit(r, 64)
        self.assertIn("-dash@example.com", r.err)
        r = self.verify("-bv", "-zed@example.com")
        self.assertExit(r, 64)
        self.assertIn("-z", r.err)

    def test_op3_options_stop_at_first_recipient(self):
        """As Postfix: the first recipient ends the options, so a later
        word that looks like an option is a recipient, never a flag."""
        self.write_config(port=1)
        r = self.verify("-bv", "root", "-f")
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, b"root -> root@example.org\n"
                         b"-f -> -f@example.org\n")

    def test_op4_unknown_options(self):
        """An option outside sendmail's and Postfix's set: exit 64, the
        option named on stderr, stdin not read, nothing sent."""
        self.write_config(port=1)
        for args, name in ((["-Z"], "-Z"), (["-y", "root"], "-y"),
                           (["-tiZ", "root"], "-Z"), (["-k"], "-k"),
                           (["-E", "x"], "-E"), (["-J"], "-J"),
                           (["-W"], "-W"), (["--frobnicate"], "--frobnicate"),
                           (["--help=all"], "--help=all"),
                           (["-bd"], "-bd"), (["-bt"], "-bt"),
                           (["-bz", "root"], "-bz"),
                           (["-B", "9BIT", "root"], "9BIT"),
                           (["-N", "sometimes", "root"], "sometimes"),
                           (["-N", "", "root"], "-N"),
                           (["-N", "success,", "root"], "success,"),
                           (["-Nnever,success", "root"], "never,success"),
                           (["-R", "all", "root"], "-R"),
                           (["-f"], "-f"), (["root", "-F"][1:], "-F")):
            r = self.relaymail(b"To: root\n\nx\n", *args)
            self.assertEqual(r.status, 64, "%r: exit %s" % (args, r.status))
            self.assertIn(name, r.err, "%r: stderr %r" % (args, r.err))
            self.assertEqual(r.stdout, b"")
            self.assertEqual(len(r.err.strip().splitlines()), 1,
                             "%r: not one line: %r" % (args, r.err))
        self.assertFalse(os.path.exists(os.path.join(self.home,
                                                     "dead.letter")))

    def test_op5_queue_and_alias_modes(self):
        """-bp prints that the queue is empty; -bi, -I and -q... exit 0;
        none reads stdin or connects."""
        self.write_config(port=1)
        cases = [(["-bp"], b"Mail queue is empty\n"),
                 (["-bp", "-v"], b"Mail queue is empty\n"),
                 (["-bi"], b""), (["-I"], b""), (["-q"], b""),
                 (["-q30m"], b""), (["-qRexample.com"], b""),
                 (["-q", "-v"], b"")]
        for args, out in cases:
            r = self.relaymail(b"To: root\n\nx\n", *args)
            self.assertEqual((r.status, r.stdout), (0, out), "%r: %s"
                             % (args, r.err))

    def test_op6_help_and_version(self):
        """--help lists the options on stdout; --version prints one line."""
        self.write_config(port=1)
        r = self.relaymail(b"", "--help")
        self.assertExit(r, 0)
        text = r.stdout.decode()
        self.assertTrue(text.startswith("usage: sendmail "), text[:80])
        for opt in ("-t", "-i", "-f", "-r", "-F", "-B", "-N", "-R", "-V",
                    "-C", "-L", "-v", "-bm", "-bp", "-bi", "-bs", "-bv",
                    "-o", "-O", "-q", "-h", "-U", "-X", "--check",
                    "--version"):
            self.assertRegex(text, r"(?m)^\s+.*%s\b" % re.escape(opt),
                             "--help does not mention %s" % opt)
        r = self.relaymail(b"", "--version")
        self.assertExit(r, 0)
        self.assertRegex(r.stdout.decode(), r"^relaymail \d+\.\d+\S*\n$")

    def _links(self, names):
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        for n in names:
            os.symlink(BINARY, os.path.join(bindir, n))
        return bindir

    def test_op7_names_by_path(self):
        """mailq = -bp and newaliases = -bi when called by a symlink's path;
        sendmail and relaymail deliver (here: -bv)."""
        self.write_config(port=1)
        bindir = self._links(["mailq", "newaliases", "sendmail", "relaymail"])
        env = dict(os.environ, HOME=self.home)
        def run(argv):
            return subprocess.run(argv, input=b"", stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, timeout=30)
        p = run([os.path.join(bindir, "mailq"), "-C", self.conf])
        self.assertEqual((p.returncode, p.stdout), (0, b"Mail queue is empty\n"))
        p = run([os.path.join(bindir, "newaliases"), "-C", self.conf])
        self.assertEqual((p.returncode, p.stdout), (0, b""))
        for n in ("sendmail", "relaymail"):
            p = run([os.path.join(bindir, n), "-C", self.conf, "-bv", "root"])
            self.assertEqual((p.returncode, p.stdout),
                             (0, b"root -> root@example.org\n"), n)
        # the mode options still win over the name (as in Postfix)
        p = run([os.path.join(bindir, "newaliases"), "-C", self.conf, "-bp"])
        self.assertEqual((p.returncode, p.stdout), (0, b"Mail queue is empty\n"))

    def test_op8_names_through_path(self):
        """The same through PATH lookup (argv[0] is the bare name)."""
        self.write_config(port=1)
        bindir = self._links(["mailq", "newaliases", "sendmail"])
        env = dict(os.environ, HOME=self.home,
                   PATH=bindir + ":/usr/bin:/bin")
        def sh(cmd):
            return subprocess.run(["/bin/sh", "-c", cmd], input=b"",
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env,
                                  timeout=30)
        p = sh("mailq -C '%s'" % self.conf)
        self.assertEqual((p.returncode, p.stdout), (0, b"Mail queue is empty\n"))
        p = sh("newaliases -C '%s'" % self.conf)
        self.assertEqual((p.returncode, p.stdout), (0, b""))
        p = sh("sendmail -C '%s' -bv root" % self.conf)
        self.assertEqual((p.returncode, p.stdout),
                         (0, b"root -> root@example.org\n"))

    def test_op9_newaliases_checks_the_file(self):
        """-bi/newaliases with an aliases file: counts it, warns about
        refused targets, and fails (78, naming the alias) on a bad one."""
        path = os.path.join(self.tmp, "aliases")
        with open(path, "w") as f:
            f.write("postmaster: root\nroot: ops@example.com\n"
                    "logs: |/usr/bin/logger, archive@example.com\n")
        self.write_config(port=1, aliases=path)
        r = self.relaymail(b"", "-bi")
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, ("%s: 3 aliases\n" % path).encode())
        self.assertIn('"|/usr/bin/logger" refused', r.err)
        with open(path, "a") as f:
            f.write("broken: <unbalanced@example.com\n")
        r = self.relaymail(b"", "-I")
        self.assertExit(r, 78)
        self.assertIn("alias broken: bad target", r.err)
        os.unlink(path)
        r = self.relaymail(b"", "-bi")
        self.assertExit(r, 78)
        self.assertIn(path, r.err)

    def test_op10_newaliases_unconfigured_host(self):
        """Package scripts call newaliases on hosts where relaymail is not
        configured yet: no configuration means nothing to check, exit 0
        with a warning, never a failed install."""
        missing = os.path.join(self.tmp, "no-such.conf")
        r = self.relaymail(b"", "-bi", conf=missing)
        self.assertExit(r, 0)
        self.assertIn("newaliases: nothing to check", r.err)
        self.assertIn(missing, r.err)
        # delivering with the same missing configuration still fails
        r = self.relaymail(b"To: a@example.com\n\nx\n", "a@example.com",
                           conf=missing)
        self.assertExit(r, 78)


class OptionEffects(RelaymailTestCase):
    """The rows that change what is sent, observed at the server."""

    MSG = b"To: bob@example.com\nSubject: opt\n\nbody\n"

    def test_oe1_sender_and_name_forms(self):
        """-f/-r glued and split, -f '' and -f '<>' (null), -F glued and
        split, quoted when it holds specials."""
        self.start_server()
        self.write_config()
        env = {"LOGNAME": me(), "USER": me()}
        cases = [
            (["-f", "b@example.com"], "b@example.com", None),
            (["-fb@example.com"], "b@example.com", None),
            (["-r", "b@example.com"], "b@example.com", None),
            (["-rb@example.com"], "b@example.com", None),
            (["-f", "Bounce Handler <b@example.com>"], "b@example.com", None),
            (["-f", "cron"], "cron@" + DOMAIN, None),
            (["-f", "cron@localhost"], "cron@" + DOMAIN, None),
            (["-f", ""], "", None),
            (["-f", "<>"], "", None),
            (["-f<>"], "", None),
            (["-F", "Cron Daemon"], None, "Cron Daemon"),
            (["-FCronDaemon"], None, "CronDaemon"),
            (["-F", "Doe, John (ops)"], None, '"Doe, John (ops)"'),
            (["-F", "J\u00fcrgen"], None, "=?utf-8?B?SsO8cmdlbg==?="),
        ]
        for args, sender, name in cases:
            r = self.relaymail(self.MSG, *(args + ["bob@example.com"]),
                               env=env)
            self.assertExit(r, 0)
        msgs = self.server.messages()
        self.assertEqual(len(msgs), len(cases))
        for (args, sender, name), (eml, meta) in zip(cases, msgs):
            want = sender if sender is not None else "%s@%s" % (me(), DOMAIN)
            self.assertEqual(meta["mail_from"], want, args)
            fields, _ = split_message(eml)
            frm = [raw for n, raw in fields if n == "from"]
            if name is not None:
                self.assertEqual(frm, [("From: %s <%s@%s>\r\n" % (
                    name, me(), DOMAIN)).encode()], args)

    def test_oe1b_long_name_cut_at_a_character(self):
        """-F, NAME and GECOS are kept to 255 octets; a cut that falls
        inside a UTF-8 character drops that character instead of sending
        half of it (which would go out as unknown-8bit)."""
        self.start_server()
        self.write_config()
        env = {"LOGNAME": me(), "USER": me()}
        keep = (254, 253, 252)
        for k, tail in zip(keep, ("\u00fc", "\u20ac", "\U0001f600")):
            name = "a" * k + tail + "b"
            self.assertExit(self.relaymail(self.MSG, "-F", name,
                                           "bob@example.com", env=env), 0)
        for k, (eml, meta) in zip(keep, self.server.messages()):
            fields, _ = split_message(eml)
            frm = [raw for n, raw in fields if n == "from"]
            self.assertEqual(frm, [("From: %s <%s@%s>\r\n" % (
                "a" * k, me(), DOMAIN)).encode()])

    def test_oe2_body_type(self):
        """-B8BITMIME and -B 8BITMIME send BODY=8BITMIME; -B 7BIT does
        not; nothing else changes."""
        self.start_server()
        self.write_config()
        for args in (["-B8BITMIME"], ["-B", "8BITMIME"], ["-B", "7BIT"],
                     ["-B", "8bitmime"]):
            self.assertExit(self.relaymail(self.MSG, *(args + ["bob@x.org"])),
                            0)
        opts = [[o for o in m["mail_options"] if not o.startswith("SIZE=")]
                for _, m in self.server.messages()]
        self.assertEqual(opts, [["BODY=8BITMIME"], ["BODY=8BITMIME"], [],
                                ["BODY=8BITMIME"]])

    def test_oe3_dsn_options_without_dsn(self):
        """-N, -R, -V are accepted; a server without DSN gets none of its
        parameters and the message still goes."""
        self.start_server()
        self.write_config()
        eml, meta = self.deliver(self.MSG, "-N", "success,failure", "-R",
                                 "hdrs", "-V", "env42", "bob@example.com")
        self.assertEqual([o for o in meta["mail_options"]
                          if not o.startswith("SIZE=")], [])
        self.assertEqual(meta["rcpt_options"], [[]])

    def test_oe4_ignored_options_change_nothing(self):
        """Every ignored row, all at once: the message is the same as
        without them, and -X writes no file."""
        self.start_server()
        self.write_config()
        log = os.path.join(self.tmp, "traffic.log")
        ign = ["-oem", "-oee", "-odi", "-odb", "-om", "-o", "em", "-h", "17",
               "-U", "-m", "-n", "-G", "-c", "-T", "-x", "-s", "-X", log,
               "-Am", "-D", os.path.join(self.tmp, "debug.log"), "-MXv",
               "-Qwhy", "-psmtp", "-d0.1", "-e", "m", "-L", "tag",
               "-O", "DeliveryMode=i"]
        msg = (b"From: a@example.com\nTo: bob@example.com\nSubject: s\n"
               b"Date: Sat, 21 Nov 2026 09:00:00 +0100\n"
               b"Message-ID: <fixed@example.com>\n\nbody\n")
        self.assertExit(self.relaymail(msg, *ign, "bob@example.com"), 0)
        self.assertExit(self.relaymail(msg, "bob@example.com"), 0)
        (e1, m1), (e2, m2) = self.server.messages()
        self.assertEqual(normalize(e1), normalize(e2))
        for k in ("mail_from", "rcpt_tos", "mail_options", "rcpt_options"):
            self.assertEqual(m1[k], m2[k], k)
        self.assertFalse(os.path.exists(log))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "debug.log")))

    def test_oe5_extract_clusters(self):
        """-ti, -it and -t -i all take To/Cc/Bcc and add the arguments."""
        self.start_server()
        self.write_config()
        msg = b"To: bob@example.com\nBcc: carol@example.net\n\nbody\n"
        for args in (["-ti"], ["-it"], ["-t", "-i"], ["-i", "-t"]):
            self.assertExit(self.relaymail(msg, *(args + ["dave@x.org"])), 0)
        for _, meta in self.server.messages():
            self.assertEqual(meta["rcpt_tos"], ["dave@x.org",
                                                "bob@example.com",
                                                "carol@example.net"])

    def _tty(self, args, text):
        """Run relaymail with a terminal on stdin; type text, then EOF."""
        import pty
        import select
        master, slave = pty.openpty()
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("RELAYMAIL")}
        e["HOME"] = self.home
        p = subprocess.Popen([BINARY, "-C", self.conf] + args, stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=e)
        os.close(slave)
        for line in text.split(b"\n"):
            os.write(master, line + b"\n")
            time.sleep(0.05)
            while select.select([master], [], [], 0)[0]:
                try:
                    os.read(master, 4096)
                except OSError:
                    break
        try:
            os.write(master, b"\x04")
        except OSError:
            pass
        out, err = p.communicate(timeout=30)
        os.close(master)
        return p.returncode, err

    def test_oe6_dot_at_a_terminal(self):
        """At a terminal a lone '.' ends the message, unless -i, -oi,
        -o i or -O IgnoreDots says it does not."""
        self.start_server()
        self.write_config()
        text = b"To: bob@example.com\nSubject: tty\n\none\n.\ntwo"
        runs = [[], ["-i"], ["-oi"], ["-o", "i"], ["-O", "IgnoreDots"],
                ["-OIgnoreDots=True"], ["-O", "IgnoreDots=false"]]
        for args in runs:
            st, err = self._tty(args + ["bob@example.com"], text)
            self.assertEqual(st, 0, "%r: %s" % (args, err))
        bodies = [split_message(e)[1] for e, _ in self.server.messages()]
        whole = b"one\r\n.\r\ntwo\r\n"
        self.assertEqual(bodies, [b"one\r\n", whole, whole, whole, whole,
                                  whole, b"one\r\n"])


ALIASES = """\
# /etc/aliases as Debian ships it, plus a site's additions
mailer-daemon: postmaster
postmaster: root
root: admin, ops@example.com
admin: "Alice Admin" <alice@example.com>,
\tbob
loop1: loop2
loop2: loop1
logs: |/usr/bin/logger -t mail, /var/log/mail.archive,
  :include:/etc/mail/list, archive@example.com
pipes: "|/usr/bin/procmail"
"""


class LocalNames(RelaymailTestCase):
    """Aliases (file and config), default_to, qualification, -bv."""

    def aliases_config(self, default_to=None, extra=""):
        path = os.path.join(self.tmp, "aliases")
        with open(path, "w") as f:
            f.write(ALIASES)
        kw = {"aliases": path}
        if default_to:
            kw["default_to"] = default_to
        self.write_config(**kw)
        if extra:
            with open(self.conf, "a") as f:
                f.write(extra)
        return path

    def test_ln1_aliases_chains_loops_refusals(self):
        """Chains through postmaster -> root -> admin, a loop, refused
        program/file/:include: targets (warned), an unaliased local name
        qualified; the header keeps what the sender wrote."""
        self.start_server()
        self.aliases_config()
        msg = b"To: postmaster\nSubject: aliases\n\nbody\n"
        r = self.relaymail(msg, "mailer-daemon", "loop1", "logs",
                           "www-data", "postmaster@localhost")
        self.assertExit(r, 0)
        (eml, meta), = self.server.messages()
        self.assertEqual(meta["rcpt_tos"], [
            "alice@example.com", "bob@example.org", "ops@example.com",
            "loop1@example.org", "archive@example.com",
            "www-data@example.org"])
        self.assertIn("alias loop through loop1", r.err)
        for t in ("|/usr/bin/logger -t mail", "/var/log/mail.archive",
                  ":include:/etc/mail/list"):
            self.assertIn('"%s" refused' % t, r.err)
        fields, _ = split_message(eml)
        self.assertEqual([raw for n, raw in fields if n == "to"],
                         [b"To: postmaster@example.org\r\n"])

    def test_ln2_all_targets_refused(self):
        """A name whose every target is refused leaves no recipient:
        nothing is sent, 65, the message is kept."""
        self.start_server()
        self.aliases_config()
        msg = b"Subject: pipes\n\nbody\n"
        r = self.relaymail(msg, "pipes")
        self.assertExit(r, 65)
        self.assertIn('alias pipes: ""|/usr/bin/procmail"" refused', r.err)
        self.assertNothingSpooled()
        self.assertDeadLetter(msg)

    def test_ln3_config_alias_wins_and_default_to(self):
        """alias entries in the config win over the file; default_to takes
        every local name that no alias names (bare, @localhost, @this
        host), including one reached through an alias."""
        self.start_server()
        self.aliases_config(default_to="catchall@example.com", extra=(
            'alias root { to = {"oncall@example.com", "pager"} }\n'))
        r = self.relaymail(b"Subject: d\n\nbody\n", "root", "www-data",
                           "nobody@localhost", "cron@" + HOST,
                           "cron@client", "loop2", "friend@example.net")
        self.assertExit(r, 0)
        (eml, meta), = self.server.messages()
        self.assertEqual(meta["rcpt_tos"], [
            "oncall@example.com", "catchall@example.com",
            "friend@example.net"])

    def test_ln4_bv_prints_resolution(self):
        """-bv prints each recipient and what it resolves to, one line
        each, and sends nothing (no server is running)."""
        self.aliases_config()
        with open(self.conf, "a") as f:
            f.write("port = 1\n")
        r = self.relaymail(b"", "-bv", "postmaster, www-data",
                           "Ops <ops@example.com>", "pipes", "root@localhost")
        self.assertExit(r, 0)
        self.assertEqual(r.stdout.decode(), (
            "postmaster -> alice@example.com, bob@example.org, "
            "ops@example.com\n"
            "www-data -> www-data@example.org\n"
            "ops@example.com -> ops@example.com\n"
            "pipes -> nobody (every target refused)\n"
            "root@localhost -> alice@example.com, bob@example.org, "
            "ops@example.com\n"))
        r = self.relaymail(b"", "-bv")
        self.assertExit(r, 64)

    def test_ln5_bad_aliases_file(self):
        """A missing aliases file or a line without a colon is 78 naming
        the file (and line); the message is kept."""
        path = self.aliases_config()
        with open(path, "a") as f:
            f.write("no colon on this line\n")
        self.start_server()
        r = self.relaymail(b"Subject: x\n\nbody\n", "root")
        self.assertExit(r, 78)
        self.assertIn("%s:12:" % path, r.err)
        self.assertNothingSpooled()
        os.unlink(path)
        r = self.relaymail(b"Subject: x\n\nbody\n", "root")
        self.assertExit(r, 78)
        self.assertIn(path, r.err)


class Identity(RelaymailTestCase):
    """Who is sending: GECOS, NAME, and a uid without a passwd entry."""

    UID = 54321

    def unprivileged(self, msg, env, *args):
        """Run as a uid with no passwd entry (setpriv), as containers do."""
        try:
            pwd.getpwuid(self.UID)
            self.fail("uid %d has a passwd entry on this host" % self.UID)
        except KeyError:
            pass
        if os.getuid() != 0 or not shutil.which("setpriv"):
            self.fail("needs root and setpriv(1) to switch to a uid "
                      "without a passwd entry")
        os.chmod(self.tmp, 0o755)
        ca = os.path.join(self.tmp, "ca.pem")
        shutil.copy(os.path.join(itest.CERTS, "ca.pem"), ca)
        os.chmod(ca, 0o644)
        self.write_config(tls_ca_file=ca)
        os.chmod(self.conf, 0o644)
        argv = ["setpriv", "--reuid=%d" % self.UID, "--regid=%d" % self.UID,
                "--clear-groups", BINARY, "-C", self.conf] + list(args)
        e = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
        e.update(env)
        p = subprocess.run(argv, input=msg, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=e, cwd="/",
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return p

    def test_id1_no_passwd_entry_logname(self):
        """No passwd entry, LOGNAME set: the user name comes from LOGNAME
        (then USER); Received names the uid."""
        self.start_server()
        msg = b"To: bob@example.com\nSubject: container\n\nbody\n"
        self.unprivileged(msg, {"LOGNAME": "app", "USER": "other"},
                          "bob@example.com")
        self.unprivileged(msg, {"USER": "worker"}, "bob@example.com")
        self.unprivileged(msg, {"USER": "Bad Name<x>"}, "bob@example.com")
        self.unprivileged(msg, {}, "bob@example.com")
        got = [(m["mail_from"], normalize(e, uid=self.UID)[0])
               for e, m in self.server.messages()]
        head = lambda u: (b"Received: <added>\r\nTo: bob@example.com\r\n"
                          b"Subject: container\r\nDate: <now>\r\n"
                          b"Message-ID: <new>\r\nFrom: <" + u.encode() +
                          b"@example.org>\r\n")
        self.assertEqual(got, [
            ("app@example.org", head("app")),
            ("worker@example.org", head("worker")),
            ("uid54321@example.org", head("uid54321")),
            ("uid54321@example.org", head("uid54321"))])

    def test_id2_name_sources(self):
        """The From display name: -F first, then NAME, then GECOS."""
        self.start_server()
        self.write_config()
        msg = b"To: bob@example.com\n\nbody\n"
        env = {"LOGNAME": me(), "USER": me()}
        self.assertExit(self.relaymail(msg, "-F", "From Flag", "bob@x.org",
                                       env=dict(env, NAME="Env Name")), 0)
        self.assertExit(self.relaymail(msg, "bob@x.org",
                                       env=dict(env, NAME="Env Name")), 0)
        self.assertExit(self.relaymail(msg, "bob@x.org", env=env), 0)
        froms = [[raw for n, raw in split_message(e)[0] if n == "from"][0]
                 for e, _ in self.server.messages()]
        g = gecos_name()
        self.assertEqual(froms, [
            ("From: From Flag <%s@example.org>\r\n" % me()).encode(),
            ("From: Env Name <%s@example.org>\r\n" % me()).encode(),
            ("From: %s<%s@example.org>\r\n" % (
                phrase(g) + " " if g else "", me())).encode()])


class OddInput(RelaymailTestCase):
    """Input as the sender wrote it arrives as written, CRLF on the wire."""

    def one(self, msg, *args):
        self.start_server()
        self.write_config()
        eml, meta = self.deliver(msg, *args)
        self.assertFalse(bare_line_ending(eml), "bare CR or LF on the wire")
        return eml, meta

    def test_oi1_cr_dot_crlf(self):
        """"\\r.\\r\\n": a lone CR ends a line, so "." is a line of its own:
        dot-stuffed on the wire, delivered as ".", the rest kept."""
        eml, _ = self.one(b"To: bob@example.com\n\nabove\r.\r\nbelow\n",
                          "bob@example.com")
        self.assertEqual(split_message(eml)[1], b"above\r\n.\r\nbelow\r\n")
        data = [c for k, c, _ in itest.transcript_events(
            self.server.transcript())[0] if k == "D"]
        self.assertIn("..", data)

    def test_oi2_8bit_latin1_body(self):
        """An 8-bit ISO-8859-1 body (not UTF-8) with its charset: every
        body octet arrives unchanged with BODY=8BITMIME; the raw 8-bit
        Subject becomes an RFC 2047 word (SPEC §2.4: header values are
        encoded unless SMTPUTF8 is needed for the addresses)."""
        head = (b"From: a@example.com\nTo: bob@example.com\n"
                b"Subject: caf\xe9\n"
                b"MIME-Version: 1.0\n"
                b"Content-Type: text/plain; charset=ISO-8859-1\n"
                b"Content-Transfer-Encoding: 8bit\n")
        body = b"Gr\xfc\xdfe aus K\xf6ln\n\xa0\xff\x80 end\n"
        eml, meta = self.one(head + b"\n" + body, "bob@example.com")
        self.assertIn("BODY=8BITMIME", meta["mail_options"])
        got_h, got_b = normalize(eml)
        self.assertEqual(got_b, crlf(body))
        want = crlf(head).replace(b"Subject: caf\xe9",
                                  b"Subject: =?unknown-8bit?Q?caf=E9?=")
        self.assertEqual(got_h, b"Received: <added>\r\n" + want +
                         b"Date: <now>\r\nMessage-ID: <new>\r\n")

    def test_oi3_ansi_charset_8bit_body(self):
        """charset=ANSI_X3.4-1968 (a C-locale cron) with an 8-bit body
        anyway: passed through as written, never rewritten."""
        head = (b"From: root (Cron Daemon)\nTo: root\nSubject: x\n"
                b"Content-Type: text/plain; charset=ANSI_X3.4-1968\n")
        body = b"caf\xc3\xa9 \xe9\nplain\n"
        eml, meta = self.one(head + b"\n" + body, "-B8BITMIME", "root")
        got_h, got_b = normalize(eml)
        self.assertEqual(got_b, crlf(body))
        self.assertIn(b"Content-Type: text/plain; charset=ANSI_X3.4-1968"
                      b"\r\n", got_h)

    def test_oi4_crlf_everywhere_and_long_header_fold(self):
        """CRLF input throughout, a folded Subject and a folded To with a
        bare name on the continuation line: folds kept, name qualified."""
        head = (b"To: bob@example.com,\r\n\troot,\r\n Carol <carol>\r\n"
                b"Subject: a long subject\r\n that is folded\r\n")
        eml, meta = self.one(head + b"\r\nbody\r\n", "-t")
        self.assertEqual(meta["rcpt_tos"], ["bob@example.com",
                                            "root@example.org",
                                            "carol@example.org"])
        got_h, _ = normalize(eml)
        self.assertIn(b"To: bob@example.com,\r\n\troot@example.org,\r\n"
                      b" Carol <carol@example.org>\r\n"
                      b"Subject: a long subject\r\n that is folded\r\n",
                      got_h)


class ConfigFrom(RelaymailTestCase):
    """The configured from is an envelope address like -f: qualified."""

    MSG = b"From: root (Cron Daemon)\nTo: bob@example.com\n\nbody\n"

    def test_cf1_bare_from_is_qualified(self):
        """from = "alerts" (bare) and "alerts@localhost": the envelope and
        a rewritten From get @domain, never a bare name."""
        self.start_server()
        for value in ("alerts", "alerts@localhost", "Alerts <alerts>"):
            self.write_config(**{"from": value, "rewrite_from": "always"})
            self.assertExit(self.relaymail(self.MSG, "bob@example.com"), 0)
        for eml, meta in self.server.messages():
            self.assertEqual(meta["mail_from"], "alerts@" + DOMAIN)
            fields, _ = split_message(eml)
            self.assertEqual([r for n, r in fields if n in ("from",
                                                            "reply-to")],
                             [b"From: alerts@example.org (Cron Daemon)\r\n",
                              b"Reply-To: root@example.org (Cron Daemon)"
                              b"\r\n"])

    def test_cf2_from_without_rewrite(self):
        """rewrite_from = missing: from is the envelope sender unless -f
        is given, and a From header is left alone."""
        self.start_server()
        self.write_config(**{"from": "alerts"})
        self.assertExit(self.relaymail(self.MSG, "bob@example.com"), 0)
        self.assertExit(self.relaymail(self.MSG, "-f", "me@example.com",
                                       "bob@example.com"), 0)
        (e1, m1), (e2, m2) = self.server.messages()
        self.assertEqual((m1["mail_from"], m2["mail_from"]),
                         ("alerts@" + DOMAIN, "me@example.com"))
        for e in (e1, e2):
            self.assertIn(b"\r\nFrom: root@example.org (Cron Daemon)\r\n", e)

    def test_cf3_bad_from(self):
        """A from that is not an address is a configuration error (78)."""
        self.start_server()
        self.write_config(**{"from": "<broken"})
        r = self.relaymail(self.MSG, "bob@example.com")
        self.assertExit(r, 78)
        self.assertIn('from = "<broken"', r.err)
        self.assertNothingSpooled()


class HostName(RelaymailTestCase):
    """The Message-ID's right side is a domain (RFC 5322 §3.6.4)."""

    def test_hn1_msgid_right_side_is_a_domain(self):
        """Without helo, a host whose name has no dot ("vm" in many
        containers) must not produce <...@vm>: the configured domain
        stands in; a dotted name, or helo, is used as it is."""
        import socket
        self.start_server()
        self.write_config(helo=None)
        eml, _ = self.deliver(b"To: bob@example.com\nSubject: id\n\nx\n",
                              "bob@example.com")
        fields, _ = split_message(eml)
        mid = [itest.field_value(v) for n, v in fields if n == "message-id"]
        self.assertEqual(len(mid), 1)
        right = mid[0].strip().rstrip(">").split("@")[1]
        self.assertIn(".", right)
        if "." not in socket.getfqdn():
            self.assertEqual(right, DOMAIN)
        self.write_config(helo="mx1.example.net")
        r = self.relaymail(b"To: bob@example.com\nSubject: id\n\nx\n",
                           "bob@example.com")
        self.assertExit(r, 0)
        eml, _ = self.server.messages()[1]
        fields, _ = split_message(eml)
        mid = [itest.field_value(v) for n, v in fields
               if n == "message-id"][0]
        self.assertTrue(mid.strip().endswith("@mx1.example.net>"), mid)
