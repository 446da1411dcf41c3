"""Integration tests for SPEC §2.4 (mime.c): 8-bit mail, long lines, NUL
and encoded words, through the real binary and tests/smarthost.py.

The property test of issue 6: every corpus message, sent to a server that
does not offer 8BITMIME, arrives with no line over 998 octets, only 7-bit
octets, and decodes (Python's email package) to exactly the input's text
and attachment bytes; SIZE= is the size received.  With 8BITMIME, an
8-bit message with short lines goes unchanged with BODY=8BITMIME.
"""

import base64
import email
import email.policy
import quopri
import random
import re

from itest import (RelaymailTestCase, crlf, body_of, split_message,
                   field_value, named, bare_line_ending)

RCPT = "rcpt@example.com"


def _binary_attachment():
    """Every octet value, NUL and 8-bit included.  CR and LF only as CRLF
    pairs: SPEC §2.1 normalises line endings of the whole input, so a lone
    CR or LF could not survive in any MTA-submitted message."""
    data = bytes(b for b in range(256) if b not in (10, 13))
    return data * 4 + b"\r\n\x00\x00\xff\xfe\r\n" + data[::-1]


ATTACHMENT = _binary_attachment()

CORPUS = [
    ("plain-ascii",
     b"To: rcpt@example.com\nSubject: plain\n\nhello\nworld\n"),
    ("utf8-no-mime",
     "To: rcpt@example.com\nSubject: Grüße aus Köln ✓\n\n"
     "Grüße aus Köln — ça va? ✓\nzweite Zeile\n".encode()),
    ("line-5000",
     b"To: rcpt@example.com\nSubject: long\n\n"
     + b"".join(b"%04d " % i for i in range(1000)) + b"\nshort\n"),
    ("line-100000",
     b"To: rcpt@example.com\nSubject: longer\n\n"
     + ("x" * 49999 + "é" * 50001).encode() + b"\n"),
    ("nul-byte",
     b"To: rcpt@example.com\nSubject: nul\n\nbefore\x00after\n"),
    ("mixed-utf8-binary",
     b"To: rcpt@example.com\nSubject: report\nMIME-Version: 1.0\n"
     b"Content-Type: multipart/mixed; boundary=\"=-sep-1\"\n\n"
     b"This is a multi-part message in MIME format.\n"
     b"--=-sep-1\n"
     b"Content-Type: text/plain; charset=utf-8\n"
     b"Content-Transfer-Encoding: 8bit\n\n"
     + "Bericht für Montag: 3 Fehler, 2 Warnungen.\nÜbersicht ✓\n".encode()
     + b"--=-sep-1\n"
     b"Content-Type: application/octet-stream\n"
     b"Content-Transfer-Encoding: binary\n"
     b"Content-Disposition: attachment; filename=\"daten.bin\"\n\n"
     + ATTACHMENT + b"\n--=-sep-1--\n"),
    ("alternative-in-mixed",
     b"To: rcpt@example.com\nSubject: alt\nMIME-Version: 1.0\n"
     b"Content-Type: multipart/mixed; boundary=outer\n\n"
     b"--outer\n"
     b"Content-Type: multipart/alternative; boundary=inner\n\n"
     b"--inner\n"
     b"Content-Type: text/plain; charset=utf-8\n\n"
     + "Grüße in plain text\n".encode()
     + b"--inner\n"
     b"Content-Type: text/html; charset=utf-8\n\n"
     + ("<p>" + "Grüße " * 400 + "</p>\n").encode()
     + b"--inner--\n"
     b"--outer\n"
     b"Content-Type: application/octet-stream\n"
     b"Content-Transfer-Encoding: binary\n\n"
     + ATTACHMENT[:300] + b"\n--outer--\n"),
    ("already-encoded",
     b"To: rcpt@example.com\nSubject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\n"
     b"MIME-Version: 1.0\n"
     b"Content-Type: multipart/mixed; boundary=b\n\n"
     b"--b\n"
     b"Content-Type: text/plain; charset=utf-8\n"
     b"Content-Transfer-Encoding: quoted-printable\n\n"
     b"Gr=C3=BC=C3=9Fe, a soft=\nbreak and =3D\n"
     b"--b\n"
     b"Content-Type: application/pdf\n"
     b"Content-Transfer-Encoding: base64\n"
     b"Content-Disposition: attachment; filename=\"a.pdf\"\n\n"
     + base64.encodebytes(ATTACHMENT) + b"--b--\n"),
]


class RandomMime:
    """Random MIME structures from a fixed seed: nested multiparts (some
    labelled 8bit), message/rfc822, preambles and epilogues, leaves in
    every transfer encoding with ASCII, UTF-8, Latin-1, NUL, long-line or
    binary content (QP-labelled ones sometimes raw: malformed on
    purpose)."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def content(self):
        r = self.r
        kind = r.choice(["ascii", "utf8", "latin", "nul", "long", "bin", "empty"])
        s = {"ascii": b"hello\r\n.dot\r\nFrom x\r\n-- sig\r\nend  \r\n" * r.randint(0, 3),
             "utf8": "Grüße ✓ café\r\n".encode() * r.randint(1, 5),
             "latin": b"caf\xe9 cr\xe8me\r\n" * r.randint(1, 3),
             "nul": b"a\0b\r\n\0\r\n",
             "long": (r.choice(["é", "a ", "=", "x"]) * r.randint(600, 2000)).encode() + b"\r\n",
             "bin": bytes(b for b in r.randbytes(r.randint(0, 400)) if b not in (10, 13)),
             "empty": b""}[kind]
        return s.rstrip(b"\r\n") if r.random() < .5 else s

    def leaf(self):
        r = self.r
        ctype = r.choice([b"text/plain", b"text/plain; charset=utf-8",
                          b"application/octet-stream", None, b"text/html"])
        cte = r.choice([None, b"7bit", b"8bit", b"binary", b"quoted-printable", b"base64"])
        body = self.content()
        if cte == b"quoted-printable" and r.random() < .7:
            body = quopri.encodestring(body)
        elif cte == b"base64":
            body = base64.encodebytes(body)
        h = b""
        if ctype:
            h += b"Content-Type: " + ctype + b"\r\n"
        if cte:
            h += b"Content-Transfer-Encoding: " + cte + b"\r\n"
        if r.random() < .3:
            h += "Content-Disposition: attachment; filename=\"résumé.bin\"\r\n".encode()
        return h + b"\r\n" + body

    def entity(self, depth=0):
        r = self.r
        if depth < 4 and r.random() < .4:
            b = (r.choice(["b", "=_x", "outer-", "B" * 60]) + str(depth)).encode()
            h = b"Content-Type: multipart/%s; boundary=\"%s\"\r\n" % (
                r.choice([b"mixed", b"alternative", b"related"]), b)
            if r.random() < .3:
                h += b"Content-Transfer-Encoding: 8bit\r\n"
            body = self.content() + b"\r\n" if r.random() < .3 else b""
            for _ in range(r.randint(1, 3)):
                body += b"--" + b + b"\r\n" + self.entity(depth + 1) + b"\r\n"
            body += b"--" + b + b"--\r\n"
            if r.random() < .3:
                body += self.content()
            return h + b"\r\n" + body
        if depth < 4 and r.random() < .1:
            return (b"Content-Type: message/rfc822\r\n\r\n"
                    + "Subject: innér\r\n".encode() + self.entity(depth + 1))
        return self.leaf()

    def message(self, i):
        m = ("To: rcpt@example.com\r\nSubject: tést %d\r\nMIME-Version: 1.0\r\n"
             % i).encode() + self.entity()
        return crlf(m) if m.endswith(b"\n") else crlf(m) + b"\r\n"


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def leaves(raw):
    """[(content type, filename, decoded octets)] of every leaf part."""
    return [(p.get_content_type(), p.get_filename(), p.get_payload(decode=True))
            for p in parse(raw).walk() if not p.is_multipart()]


def size_param(meta):
    for o in meta["mail_options"]:
        if o.upper().startswith("SIZE="):
            return int(o[5:])
    return None


class Mime(RelaymailTestCase):

    def _send_all(self, msgs):
        """Each message through relaymail; [(input, received, meta)]."""
        out = []
        for name, msg in msgs:
            r = self.relaymail(msg, RCPT)
            self.assertExit(r, 0)
            got = self.server.messages()
            self.assertEqual(len(got), len(out) + 1, "%s: not received" % name)
            out.append((name, msg, got[-1][0], got[-1][1]))
        return out

    def assertFitsSevenBit(self, name, eml, meta):
        self.assertFalse(bare_line_ending(eml), "%s: bare CR or LF" % name)
        longest = max(len(line) for line in eml.split(b"\r\n"))
        self.assertLessEqual(longest, 998, "%s: a line of %d octets"
                             % (name, longest))
        high = sorted({b for b in eml if b >= 0x80 or b == 0})
        self.assertEqual(high, [], "%s: octets %r on a 7-bit server"
                         % (name, high[:8]))
        self.assertNotIn("BODY=8BITMIME", [o.upper() for o in meta["mail_options"]],
                         "%s: BODY=8BITMIME to a server without it" % name)
        self.assertEqual(size_param(meta), meta["size"],
                         "%s: SIZE= is not the size sent" % name)

    def test_mime_a_property_7bit_server(self):
        """Issue 6 property: no 8BITMIME offered; every corpus message
        arrives 7-bit with lines <= 998 and decodes to the input exactly."""
        self.start_server(extra=["--no-ext", "8BITMIME", "--size", "50000000"])
        self.write_config()
        for name, msg, eml, meta in self._send_all(CORPUS):
            self.assertFitsSevenBit(name, eml, meta)
            want, got = leaves(crlf(msg)), leaves(eml)
            self.assertEqual(len(got), len(want), "%s: parts %r -> %r" % (
                name, [w[0] for w in want], [g[0] for g in got]))
            for (wt, wf, wb), (gt, gf, gb) in zip(want, got):
                self.assertEqual(gt, wt, "%s: content type" % name)
                self.assertEqual(gf, wf, "%s: filename" % name)
                self.assertEqual(gb, wb, "%s: %s part decodes differently"
                                 % (name, wt))
            self.assertEqual(str(parse(eml)["Subject"]),
                             str(parse(crlf(msg))["Subject"]),
                             "%s: Subject decodes differently" % name)

    def test_mime_b_attachment_bytes(self):
        """The binary attachment arrives base64-encoded and byte-exact; the
        UTF-8 text part quoted-printable with its charset."""
        self.start_server(extra=["--no-ext", "8BITMIME"])
        self.write_config()
        eml, _ = self.deliver(dict(CORPUS)["mixed-utf8-binary"], RCPT)
        parts = [p for p in parse(eml).walk() if not p.is_multipart()]
        self.assertEqual(parts[0]["Content-Transfer-Encoding"], "quoted-printable")
        # the CRLF before a delimiter is the delimiter's (RFC 2046 §5.1.1)
        self.assertEqual(parts[0].get_content(),
                         "Bericht für Montag: 3 Fehler, 2 Warnungen.\r\nÜbersicht ✓")
        self.assertEqual(parts[1]["Content-Transfer-Encoding"], "base64")
        self.assertEqual(parts[1].get_payload(decode=True), ATTACHMENT)
        self.assertEqual(parts[1].get_filename(), "daten.bin")

    def test_mime_c_8bitmime_unchanged(self):
        """A server offering 8BITMIME gets an 8-bit short-line message
        unchanged, declared with BODY=8BITMIME."""
        head = (b"To: rcpt@example.com\n"
                b"Subject: eight bit\n"
                b"MIME-Version: 1.0\n"
                b"Content-Type: text/plain; charset=utf-8\n"
                b"Content-Transfer-Encoding: 8bit\n")
        body = "Grüße aus Köln ✓\nça va?\n".encode()
        self.start_server(extra=["--size", "50000000"])
        self.write_config()
        eml, meta = self.deliver(head + b"\n" + body, RCPT)
        self.assertIn("BODY=8BITMIME", [o.upper() for o in meta["mail_options"]])
        fields, got = split_message(eml)
        self.assertEqual(got, crlf(body), "body changed")
        rest = b"".join(raw for n, raw in fields
                        if n not in ("received", "date", "message-id", "from"))
        self.assertEqual(rest, crlf(head), "header changed beyond the fix-ups")
        self.assertEqual(size_param(meta), meta["size"])

    def test_mime_d_7bit_needs_no_declaration(self):
        """Plain ASCII goes as it is, with no BODY= parameter at all."""
        self.start_server()
        self.write_config()
        msg = dict(CORPUS)["plain-ascii"]
        eml, meta = self.deliver(msg, RCPT)
        self.assertEqual(split_message(eml)[1], crlf(body_of(msg)))
        self.assertFalse([o for o in meta["mail_options"]
                          if o.upper().startswith("BODY=")])

    def test_mime_e_long_line_even_with_8bitmime(self):
        """Lines over 998 octets are never sent as they are, 8BITMIME or
        not: quoted-printable, same text."""
        self.start_server()
        self.write_config()
        msg = dict(CORPUS)["line-100000"]
        eml, meta = self.deliver(msg, RCPT)
        self.assertFitsSevenBit("line-100000", eml, meta)
        self.assertEqual(parse(eml).get_payload(decode=True), crlf(body_of(msg)))
        self.assertEqual(parse(eml).get_content_charset(), "utf-8")

    def test_mime_f_latin1_is_unknown_8bit(self):
        """A body that is not UTF-8 is labelled unknown-8bit (RFC 1428),
        not guessed; its octets arrive intact."""
        self.start_server(extra=["--no-ext", "8BITMIME"])
        self.write_config()
        msg = b"To: rcpt@example.com\nSubject: latin1\n\ncaf\xe9 cr\xe8me\n"
        eml, meta = self.deliver(msg, RCPT)
        self.assertFitsSevenBit("latin1", eml, meta)
        p = parse(eml)
        self.assertEqual(p.get_param("charset"), "unknown-8bit")
        self.assertEqual(p.get_payload(decode=True), b"caf\xe9 cr\xe8me\r\n")

    def test_mime_g_header_encoded_words(self):
        """8-bit Subject and display names become RFC 2047 encoded-words
        within 78 columns; -F with non-ASCII too; a 3,000-character
        Subject is folded under 998."""
        self.start_server(extra=["--no-ext", "8BITMIME"])
        self.write_config()
        subject = "Übersicht der Aufgaben für heute — " + "sehr lang " * 300
        msg = ("To: Jörg Müller <rcpt@example.com>\nSubject: %s\n\nok\n"
               % subject).encode()
        r = self.relaymail(msg, "-F", "Zoë Cron", RCPT)
        self.assertExit(r, 0)
        eml, meta = self.server.messages()[0]
        self.assertFitsSevenBit("headers", eml, meta)
        p = parse(eml)
        self.assertEqual(str(p["Subject"]), subject)
        self.assertEqual(p["To"].addresses[0].display_name, "Jörg Müller")
        self.assertEqual(p["From"].addresses[0].display_name, "Zoë Cron")
        fields, _ = split_message(eml)
        for line in b"".join(named(fields, "to")).split(b"\r\n"):
            self.assertLessEqual(len(line), 78)

    def test_mime_h_smtputf8(self):
        """A non-ASCII address: SMTPUTF8 when offered (the header goes raw);
        refused (69, dead.letter, nothing sent) when not."""
        msg = "To: jörg@example.com\nSubject: ünïcode\n\nbody ✓\n".encode()
        self.start_server(extra=["--smtputf8"])
        self.write_config()
        r = self.relaymail(msg, "-t")
        self.assertExit(r, 0)
        eml, meta = self.server.messages()[0]
        self.assertIn("SMTPUTF8", [o.upper() for o in meta["mail_options"]])
        self.assertEqual(meta["rcpt_tos"], ["jörg@example.com"])
        self.assertIn("Subject: ünïcode\r\n".encode(), eml)

    def test_mime_i_smtputf8_missing(self):
        msg = "To: jörg@example.com\nSubject: x\n\nbody\n".encode()
        self.start_server()
        self.write_config()
        r = self.relaymail(msg, "-t")
        self.assertExit(r, 69)
        self.assertIn("SMTPUTF8", r.err)
        self.assertNothingSpooled()
        self.assertDeadLetter(msg)

    def test_mime_j_random_structures(self):
        """The property on random MIME structures (fixed seed): 7-bit,
        lines <= 998, and every leaf decodes as it did in the input."""
        gen = RandomMime(20261122)
        msgs = [("random-%d" % i, gen.message(i)) for i in range(12)]
        self.start_server(extra=["--no-ext", "8BITMIME", "--size", "50000000"])
        self.write_config()
        for name, msg, eml, meta in self._send_all(msgs):
            self.assertFitsSevenBit(name, eml, meta)
            self.assertEqual([x[2] for x in leaves(eml)],
                             [x[2] for x in leaves(msg)],
                             "%s: a part decodes differently" % name)
