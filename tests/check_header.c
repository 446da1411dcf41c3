/*
 * header.c: every MSA fix-up (SPEC §2.2), golden output with fixed time,
 * randomness, uid and host.  Each fix-up has an input it changes and one
 * it must leave alone; the expected header is written out in full.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "addr.h"
#include "header.h"
#include "msg.h"
#include "testutil.h"
#include "util.h"

static const unsigned char rnd[HEADER_RND_LEN] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33
};

#define RECEIVED "Received: by host.example.org (relaymail, from userid " \
	"1000);\r\n\tSun, 22 Nov 2026 10:00:00 +0000\r\n"
#define DATE	"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
#define MSGID	"Message-ID: <20261122100000.0123456789abcdef00112233" \
	"@host.example.org>\r\n"
#define FROM	"From: Alice Example <alice@example.org>\r\n"
#define UNDISCL	"To: undisclosed-recipients:;\r\n"
/* Present in an input, these keep Date and Message-ID from being added. */
#define HAVE	"Date: Fri, 20 Nov 2026 08:00:00 +0100\n" \
		"Message-ID: <have@example.net>\n"
#define HAVE_OUT "Date: Fri, 20 Nov 2026 08:00:00 +0100\r\n" \
		"Message-ID: <have@example.net>\r\n"

/* Context variations a case can ask for. */
enum {
	C_EXTRACT = 1 << 0,	/* -t */
	C_REWRITE = 1 << 1,	/* rewrite_from = always */
	C_NONAME = 1 << 2,	/* no -F, NAME or GECOS */
	C_FROMORG = 1 << 3,	/* from = alerts@example.org (the domain) */
};

struct gcase {
	const char	*what;
	int		 ctx;
	const char	*fullname;	/* NULL: "Alice Example" */
	const char	*in;
	const char	*want;		/* the whole header sent */
	const char	*rcpts;		/* -t recipients, comma-joined */
};

static void
ctx_init(struct header_ctx *c, int flags, const char *fullname)
{
	setenv("TZ", "UTC0", 1);
	tzset();
	memset(c, 0, sizeof(*c));
	c->now = 1795341600;	/* 2026-11-22 10:00:00 UTC */
	c->rnd = rnd;
	c->fqdn = "host.example.org";
	c->domain = "example.org";
	c->user = "alice";
	c->fullname = fullname != NULL ? fullname : "Alice Example";
	if (flags & C_NONAME)
		c->fullname = "";
	c->uid = 1000;
	c->extract = (flags & C_EXTRACT) != 0;
	c->rewrite_from = (flags & C_REWRITE) != 0;
	c->from_addr = (flags & C_REWRITE) ? "alerts@example.com" : NULL;
	if (flags & C_FROMORG)
		c->from_addr = "alerts@example.org";
}

/* Run the fix-ups on in; the header goes to out, -t recipients to r. */
static void
fixup(const char *in, const struct header_ctx *c, struct buf *out,
    struct addrlist *r)
{
	struct msg	m;
	struct fail	f;

	ck_assert_int_eq(tu_read_msg(&m, in, strlen(in), 0, &f), 0);
	ck_assert_msg(header_fixup(&m, c, out, r, &f) == 0, "fixup: %s",
	    f.msg);
	ck_assert_int_eq(buf_add(out, "", 0), 0);
	msg_free(&m);
}

static void
run_case(const struct gcase *g)
{
	struct header_ctx c;
	struct buf	 out = { 0 }, got = { 0 };
	struct addrlist	 r = { 0 };
	size_t		 i;

	ctx_init(&c, g->ctx, g->fullname);
	fixup(g->in, &c, &out, &r);
	ck_assert_msg(strcmp(out.p, g->want) == 0, "%s:\n--- got\n%s--- want"
	    "\n%s", g->what, out.p, g->want);
	for (i = 0; i < r.n; i++)
		buf_addf(&got, "%s%s", i ? "," : "", r.v[i].spec);
	buf_add(&got, "", 0);
	ck_assert_msg(strcmp(got.p, g->rcpts != NULL ? g->rcpts : "") == 0,
	    "%s: recipients \"%s\", want \"%s\"", g->what, got.p,
	    g->rcpts != NULL ? g->rcpts : "");
	buf_free(&out);
	buf_free(&got);
	addrlist_free(&r);
}

static void
run_cases(const struct gcase *g, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		run_case(&g[i]);
}

#define RUN(t)	run_cases((t), sizeof(t) / sizeof((t)[0]))

/* Date: added in RFC 5322 form when absent, never changed. */
static const struct gcase date_cases[] = {
	{ "date added", 0, NULL,
	    "From: a@b\nTo: c@d\nMessage-ID: <m@x>\n\nbody\n",
	    RECEIVED "From: a@b\r\nTo: c@d\r\nMessage-ID: <m@x>\r\n" DATE
	    "\r\n", NULL },
	{ "date kept, any case, even odd", 0, NULL,
	    "From: a@b\nTo: c@d\nMessage-ID: <m@x>\ndate: yesterday\n\nb\n",
	    RECEIVED "From: a@b\r\nTo: c@d\r\nMessage-ID: <m@x>\r\n"
	    "date: yesterday\r\n\r\n", NULL },
	{ "resent-date does not count as Date", 0, NULL,
	    "From: a@b\nTo: c@d\nMessage-ID: <m@x>\nResent-Date: x\n\nb\n",
	    RECEIVED "From: a@b\r\nTo: c@d\r\nMessage-ID: <m@x>\r\n"
	    "Resent-Date: x\r\n" DATE "\r\n", NULL },
};

START_TEST(test_date)
{
	struct header_ctx c;
	struct buf	 out = { 0 };
	struct addrlist	 r = { 0 };

	RUN(date_cases);
	/* local time with its numeric offset (RFC 5322 §3.3) */
	ctx_init(&c, 0, NULL);
	setenv("TZ", "<+0530>-5:30", 1);
	tzset();
	fixup("From: a@b\nTo: c@d\nMessage-ID: <m@x>\n\nb\n", &c, &out, &r);
	ck_assert_ptr_nonnull(strstr(out.p,
	    "\r\nDate: Sun, 22 Nov 2026 15:30:00 +0530\r\n"));
	ck_assert_ptr_nonnull(strstr(out.p, "from userid 1000);\r\n\t"
	    "Sun, 22 Nov 2026 15:30:00 +0530\r\n"));
	buf_free(&out);
	buf_reset(&out);
	setenv("TZ", "<-03>3", 1);
	tzset();
	fixup("From: a@b\nTo: c@d\nMessage-ID: <m@x>\n\nb\n", &c, &out, &r);
	ck_assert_ptr_nonnull(strstr(out.p,
	    "\r\nDate: Sun, 22 Nov 2026 07:00:00 -0300\r\n"));
	buf_free(&out);
	addrlist_free(&r);
}
END_TEST

/* Message-ID: <time.random@fqdn> when absent, never changed. */
static const struct gcase msgid_cases[] = {
	{ "message-id added", 0, NULL,
	    "From: a@b\nTo: c@d\nDate: x\n\nb\n",
	    RECEIVED "From: a@b\r\nTo: c@d\r\nDate: x\r\n" MSGID "\r\n",
	    NULL },
	{ "Message-Id kept (any case)", 0, NULL,
	    "From: a@b\nTo: c@d\nDate: x\nMessage-Id: <Keep.Me@host>\n\nb\n",
	    RECEIVED "From: a@b\r\nTo: c@d\r\nDate: x\r\n"
	    "Message-Id: <Keep.Me@host>\r\n\r\n", NULL },
	{ "MESSAGE-ID kept", 0, NULL,
	    "From: a@b\nTo: c@d\nDate: x\nMESSAGE-ID: <k@h>\n\nb\n",
	    RECEIVED "From: a@b\r\nTo: c@d\r\nDate: x\r\n"
	    "MESSAGE-ID: <k@h>\r\n\r\n", NULL },
};

START_TEST(test_msgid)
{
	RUN(msgid_cases);
}
END_TEST

/* From: added as "Full Name <user@domain>" when absent. */
static const struct gcase from_cases[] = {
	{ "from added with the full name", 0, NULL,
	    "To: c@d\n" HAVE "\nb\n",
	    RECEIVED "To: c@d\r\n" HAVE_OUT FROM "\r\n", NULL },
	{ "from added without a name", C_NONAME, NULL,
	    "To: c@d\n" HAVE "\nb\n",
	    RECEIVED "To: c@d\r\n" HAVE_OUT
	    "From: <alice@example.org>\r\n\r\n", NULL },
	{ "-F CronDaemon", 0, "CronDaemon",
	    "To: c@d\n" HAVE "\nb\n",
	    RECEIVED "To: c@d\r\n" HAVE_OUT
	    "From: CronDaemon <alice@example.org>\r\n\r\n", NULL },
	{ "name with specials is quoted", 0, "Doe, John (ops) <x>",
	    "To: c@d\n" HAVE "\nb\n",
	    RECEIVED "To: c@d\r\n" HAVE_OUT
	    "From: \"Doe, John (ops) <x>\" <alice@example.org>\r\n\r\n",
	    NULL },
	{ "quote and backslash escaped", 0, "Al \"Q\" B\\S",
	    "To: c@d\n" HAVE "\nb\n",
	    RECEIVED "To: c@d\r\n" HAVE_OUT
	    "From: \"Al \\\"Q\\\" B\\\\S\" <alice@example.org>\r\n\r\n",
	    NULL },
	{ "CR, LF and controls in NAME/GECOS never start a field", 0,
	    "Eve\r\nBcc: x@y\x01\t",
	    "To: c@d\n" HAVE "\nb\n",
	    RECEIVED "To: c@d\r\n" HAVE_OUT
	    "From: \"Eve  Bcc: x@y  \" <alice@example.org>\r\n\r\n", NULL },
	{ "dot in a name is a special", 0, "J. Doe",
	    "To: c@d\n" HAVE "\nb\n",
	    RECEIVED "To: c@d\r\n" HAVE_OUT
	    "From: \"J. Doe\" <alice@example.org>\r\n\r\n", NULL },
	{ "non-ASCII name RFC 2047-encoded", 0, "J\xc3\xbcrgen",
	    "To: c@d\n" HAVE "\nb\n",
	    RECEIVED "To: c@d\r\n" HAVE_OUT
	    "From: =?utf-8?B?SsO8cmdlbg==?= <alice@example.org>\r\n\r\n",
	    NULL },
	{ "a qualified From is kept byte for byte", 0, NULL,
	    "FROM:  Carol  <carol@example.net>\nTo: c@d\n" HAVE "\nb\n",
	    RECEIVED "FROM:  Carol  <carol@example.net>\r\nTo: c@d\r\n"
	    HAVE_OUT "\r\n", NULL },
	{ "From:x without a space is qualified, not added", 0, NULL,
	    "From:x\nTo: c@d\n" HAVE "\nb\n",
	    RECEIVED "From:x@example.org\r\nTo: c@d\r\n" HAVE_OUT "\r\n",
	    NULL },
	{ "Resent-From does not count as From", 0, NULL,
	    "Resent-From: r@x\nTo: c@d\n" HAVE "\nb\n",
	    RECEIVED "Resent-From: r@x\r\nTo: c@d\r\n" HAVE_OUT FROM "\r\n",
	    NULL },
};

START_TEST(test_from)
{
	struct buf	b = { 0 };
	struct fail	f;

	RUN(from_cases);
	ck_assert_int_eq(header_phrase("Cron Daemon", &b, &f), 0);
	ck_assert_int_eq(buf_add(&b, "", 0), 0);
	ck_assert_str_eq(b.p, "Cron Daemon");
	buf_reset(&b);
	ck_assert_int_eq(header_phrase("", &b, &f), 0);
	ck_assert_int_eq(buf_add(&b, "", 0), 0);
	ck_assert_str_eq(b.p, "\"\"");
	buf_free(&b);
}
END_TEST

/* Bare local names in From, Sender, Reply-To, To, Cc (and Resent-)
 * get @domain in place; everything else is left as written. */
static const struct gcase qualify_cases[] = {
	{ "cron: root (Cron Daemon)", 0, NULL,
	    "From: root (Cron Daemon)\nTo: root\n" HAVE "\nb\n",
	    RECEIVED "From: root@example.org (Cron Daemon)\r\n"
	    "To: root@example.org\r\n" HAVE_OUT "\r\n", NULL },
	{ "cronie: \"(Cron Daemon)\" <alice>", 0, NULL,
	    "From: \"(Cron Daemon)\" <alice>\nTo: alice\n" HAVE "\nb\n",
	    RECEIVED "From: \"(Cron Daemon)\" <alice@example.org>\r\n"
	    "To: alice@example.org\r\n" HAVE_OUT "\r\n", NULL },
	{ "anacron: Anacron <root>", 0, NULL,
	    "From: Anacron <root>\nTo: <root>\n" HAVE "\nb\n",
	    RECEIVED "From: Anacron <root@example.org>\r\n"
	    "To: <root@example.org>\r\n" HAVE_OUT "\r\n", NULL },
	{ "Sender, Reply-To, Cc, CC, Resent-*", 0, NULL,
	    "From: a@b\nSender: www-data\nReply-To: ops, x@y\nTo: c@d\n"
	    "Cc: \"john doe\"\nCC: <z> (zed)\nResent-From: r\n"
	    "Resent-Sender: s\nResent-To: t\nResent-Cc: u\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nSender: www-data@example.org\r\n"
	    "Reply-To: ops@example.org, x@y\r\nTo: c@d\r\n"
	    "Cc: \"john doe\"@example.org\r\n"
	    "CC: <z@example.org> (zed)\r\n"
	    "Resent-From: r@example.org\r\nResent-Sender: s@example.org\r\n"
	    "Resent-To: t@example.org\r\nResent-Cc: u@example.org\r\n"
	    HAVE_OUT "\r\n", NULL },
	{ "a group's members, a folded list, comments after names", 0, NULL,
	    "From: a@b\nTo: Team: ann, bob@x (b);,\n\tcarl (c) ,\n"
	    " Dee\n  <dee>\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nTo: Team: ann@example.org, bob@x (b);,"
	    "\r\n\tcarl@example.org (c) ,\r\n Dee\r\n  <dee@example.org>\r\n"
	    HAVE_OUT "\r\n", NULL },
	{ "left alone: qualified, localhost, groups, unparseable, others",
	    0, NULL,
	    "From: \"A\" <a@b.example>\nTo: root@localhost, <x@[127.0.0.1]>\n"
	    "Cc: undisclosed-recipients:;\nReply-To: <<broken\n"
	    "X-Original-To: root\nSubject: root\nIn-Reply-To: <r@x>\n"
	    "Errors-To: root\n" HAVE "\nb\n",
	    RECEIVED "From: \"A\" <a@b.example>\r\n"
	    "To: root@localhost, <x@[127.0.0.1]>\r\n"
	    "Cc: undisclosed-recipients:;\r\nReply-To: <<broken\r\n"
	    "X-Original-To: root\r\nSubject: root\r\nIn-Reply-To: <r@x>\r\n"
	    "Errors-To: root\r\n" HAVE_OUT "\r\n", NULL },
};

START_TEST(test_qualify)
{
	RUN(qualify_cases);
}
END_TEST

/* rewrite_from = always. */
static const struct gcase rewrite_cases[] = {
	{ "display name kept, original to Reply-To", C_REWRITE, NULL,
	    "From: \"Cron Daemon\" <root>\nTo: a@b\n" HAVE "\nb\n",
	    RECEIVED "From: \"Cron Daemon\" <alerts@example.com>\r\n"
	    "Reply-To: \"Cron Daemon\" <root@example.org>\r\nTo: a@b\r\n"
	    HAVE_OUT "\r\n", NULL },
	{ "old-style comment name kept", C_REWRITE, NULL,
	    "From: root (Cron Daemon)\nTo: a@b\n" HAVE "\nb\n",
	    RECEIVED "From: alerts@example.com (Cron Daemon)\r\n"
	    "Reply-To: root@example.org (Cron Daemon)\r\nTo: a@b\r\n"
	    HAVE_OUT "\r\n", NULL },
	{ "an existing Reply-To is kept, not doubled", C_REWRITE, NULL,
	    "Reply-To: r@x\nFrom: bob@example.net\nTo: a@b\n" HAVE "\nb\n",
	    RECEIVED "Reply-To: r@x\r\nFrom: alerts@example.com\r\n"
	    "To: a@b\r\n" HAVE_OUT "\r\n", NULL },
	{ "no From: the configured address with the full name", C_REWRITE,
	    NULL, "To: a@b\n" HAVE "\nb\n",
	    RECEIVED "To: a@b\r\n" HAVE_OUT
	    "From: Alice Example <alerts@example.com>\r\n\r\n", NULL },
	{ "already the configured address: left alone", C_REWRITE, NULL,
	    "From: Alerts <ALERTS@Example.COM>\nTo: a@b\n" HAVE "\nb\n",
	    RECEIVED "From: Alerts <ALERTS@Example.COM>\r\nTo: a@b\r\n"
	    HAVE_OUT "\r\n", NULL },
	{ "already the configured address, bare: only qualified",
	    C_REWRITE | C_FROMORG, NULL, "From: alerts (A)\nTo: a@b\n" HAVE "\nb\n",
	    RECEIVED "From: alerts@example.org (A)\r\nTo: a@b\r\n"
	    HAVE_OUT "\r\n", NULL },
	{ "two mailboxes", C_REWRITE, NULL,
	    "From: A <a@x>, b\nTo: a@b\n" HAVE "\nb\n",
	    RECEIVED "From: A <alerts@example.com>\r\n"
	    "Reply-To: A <a@x>, b@example.org\r\nTo: a@b\r\n" HAVE_OUT
	    "\r\n", NULL },
	{ "rewrite_from = missing leaves a From alone", 0, NULL,
	    "From: bob@example.net\nTo: a@b\n" HAVE "\nb\n",
	    RECEIVED "From: bob@example.net\r\nTo: a@b\r\n" HAVE_OUT "\r\n",
	    NULL },
};

START_TEST(test_rewrite_from)
{
	RUN(rewrite_cases);
}
END_TEST

/* Bcc and Return-Path removed with their continuations; look-alikes
 * kept. */
static const struct gcase drop_cases[] = {
	{ "Bcc (folded, any case) and Return-Path removed", 0, NULL,
	    "From: a@b\nTo: c@d\nBcc: s1@x,\n  s2@y\n\t(s3)\nbcc: s4@z\n"
	    "Return-Path: <r@x>\nRETURN-PATH: <q@x>\nResent-Bcc: s5@w\n"
	    "Subject: s\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nTo: c@d\r\nSubject: s\r\n" HAVE_OUT "\r\n",
	    NULL },
	{ "look-alike names kept", 0, NULL,
	    "From: a@b\nTo: c@d\nX-Bcc: k1\nBcc-Note: k2\n"
	    "Return-Receipt-To: k3@x\nX-Return-Path: k4\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nTo: c@d\r\nX-Bcc: k1\r\nBcc-Note: k2\r\n"
	    "Return-Receipt-To: k3@x\r\nX-Return-Path: k4\r\n" HAVE_OUT
	    "\r\n", NULL },
};

START_TEST(test_drop)
{
	RUN(drop_cases);
}
END_TEST

/*
 * "To: undisclosed-recipients:;" when there is no To and no Cc.  SPEC
 * says "no To, Cc or Bcc"; this follows Postfix's
 * undisclosed_recipients_header, which also adds it to a Bcc-only
 * message: once Bcc is removed, that message would have no recipient
 * field at all (RFC 5322 §3.6.3).
 */
static const struct gcase undisclosed_cases[] = {
	{ "no To or Cc", 0, NULL, "From: a@b\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\n" HAVE_OUT UNDISCL "\r\n", NULL },
	{ "Bcc only (Postfix's rule)", C_EXTRACT, NULL,
	    "From: a@b\nBcc: hidden@x\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\n" HAVE_OUT UNDISCL "\r\n", "hidden@x" },
	{ "Cc only: left alone", 0, NULL, "From: a@b\nCc: c@d\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nCc: c@d\r\n" HAVE_OUT "\r\n", NULL },
	{ "an empty group already there: left alone", 0, NULL,
	    "From: a@b\nto: undisclosed-recipients:;\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nto: undisclosed-recipients:;\r\n"
	    HAVE_OUT "\r\n", NULL },
};

START_TEST(test_undisclosed)
{
	RUN(undisclosed_cases);
}
END_TEST

/* Received is always the first field, before any existing one. */
static const struct gcase received_cases[] = {
	{ "prepended before existing Received", 0, NULL,
	    "Received: from x by y; Fri, 20 Nov 2026 08:00:00 +0100\n"
	    "From: a@b\nTo: c@d\n" HAVE "\nb\n",
	    RECEIVED "Received: from x by y; Fri, 20 Nov 2026 08:00:00 "
	    "+0100\r\nFrom: a@b\r\nTo: c@d\r\n" HAVE_OUT "\r\n", NULL },
	{ "everything added, in order", C_NONAME, NULL, "Subject: s\n\nb\n",
	    RECEIVED "Subject: s\r\n" DATE MSGID
	    "From: <alice@example.org>\r\n" UNDISCL "\r\n", NULL },
};

START_TEST(test_received)
{
	RUN(received_cases);
}
END_TEST

/* -t: To, Cc, Bcc (Resent-* when present), unqualified, de-duplicated. */
static const struct gcase extract_cases[] = {
	{ "To, several lines, Cc, Bcc, groups, comments, quoting", C_EXTRACT,
	    NULL,
	    "From: a@b\nTo: Ann <ann@x>, root (Cron Daemon)\nTo: <dup@x>\n"
	    "CC: Team: \"john doe\"@y, ANN@X;, empty:;\n"
	    "Bcc: dup@X, \"Bo, B\" <bo@z>\nSubject: s\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nTo: Ann <ann@x>, root@example.org "
	    "(Cron Daemon)\r\nTo: <dup@x>\r\n"
	    "CC: Team: \"john doe\"@y, ANN@X;, empty:;\r\nSubject: s\r\n"
	    HAVE_OUT "\r\n",
	    "ann@x,root,dup@x,\"john doe\"@y,ANN@X,bo@z" },
	{ "Resent- fields: only Resent-To/Cc/Bcc", C_EXTRACT, NULL,
	    "From: a@b\nTo: orig@x\nResent-From: r@x\nResent-To: new@y\n"
	    "Resent-Cc: c2@y\nResent-Bcc: rb@z\nBcc: old@b\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nTo: orig@x\r\nResent-From: r@x\r\n"
	    "Resent-To: new@y\r\nResent-Cc: c2@y\r\n" HAVE_OUT "\r\n",
	    "new@y,c2@y,rb@z" },
	{ "without -t nothing is taken", 0, NULL,
	    "From: a@b\nTo: c@d\nBcc: e@f\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nTo: c@d\r\n" HAVE_OUT "\r\n", NULL },
	{ "without -t an unparseable To is no error", 0, NULL,
	    "From: a@b\nTo: <unbalanced\n" HAVE "\nb\n",
	    RECEIVED "From: a@b\r\nTo: <unbalanced\r\n" HAVE_OUT "\r\n",
	    NULL },
};

START_TEST(test_extract)
{
	struct header_ctx c;
	struct msg	 m;
	struct fail	 f;
	struct buf	 out = { 0 };
	struct addrlist	 r = { 0 };
	static const char in[] = "To: a@b, <unbalanced\n\nb\n";

	RUN(extract_cases);
	ctx_init(&c, C_EXTRACT, NULL);
	ck_assert_int_eq(tu_read_msg(&m, in, strlen(in), 0, &f), 0);
	ck_assert_int_eq(header_fixup(&m, &c, &out, &r, &f), -1);
	ck_assert_int_eq(f.ex, EX_DATAERR);
	ck_assert_ptr_nonnull(strstr(f.msg, "the To header"));
	ck_assert_ptr_nonnull(strstr(f.msg, "unbalanced '<'"));
	msg_free(&m);
	buf_free(&out);
	addrlist_free(&r);
}
END_TEST

/* What real callers write, end to end through msg_read. */
static const struct gcase caller_cases[] = {
	{ "PHP: CRLF header, LF body", C_EXTRACT, NULL,
	    "To: bob@example.com\r\nSubject: Order\r\nFrom: shop@example.com"
	    "\r\n\r\nbody\n",
	    RECEIVED "To: bob@example.com\r\nSubject: Order\r\n"
	    "From: shop@example.com\r\n" DATE MSGID "\r\n",
	    "bob@example.com" },
	{ "busybox crond -ti", C_EXTRACT, "root",
	    "To: root\nSubject: cron: job\n\nout\n",
	    RECEIVED "To: root@example.org\r\nSubject: cron: job\r\n" DATE
	    MSGID "From: root <alice@example.org>\r\n\r\n", "root" },
};

/* -t: HEADER_RCPT_MAX recipients are taken, one more is EX_DATAERR
 * (de-duplication is quadratic: the bound keeps it to a second). */
START_TEST(test_extract_limit)
{
	struct header_ctx c;
	struct buf	 in = { 0 }, out = { 0 };
	struct addrlist	 r = { 0 };
	struct msg	 m;
	struct fail	 f;
	int		 i, n;

	for (n = HEADER_RCPT_MAX; n <= HEADER_RCPT_MAX + 1; n++) {
		ctx_init(&c, C_EXTRACT, NULL);
		buf_reset(&in);
		buf_adds(&in, "To: u0@example.org");
		for (i = 1; i < n; i++)
			buf_addf(&in, ",\n u%d@example.org", i);
		buf_adds(&in, "\n\nbody\n");
		ck_assert_int_eq(tu_read_msg(&m, in.p, in.len, 0, &f), 0);
		buf_reset(&out);
		if (n == HEADER_RCPT_MAX) {
			ck_assert_int_eq(header_fixup(&m, &c, &out, &r, &f), 0);
			ck_assert_uint_eq(r.n, HEADER_RCPT_MAX);
		} else {
			ck_assert_int_eq(header_fixup(&m, &c, &out, &r, &f), -1);
			ck_assert_int_eq(f.ex, EX_DATAERR);
			ck_assert_str_eq(f.msg, "more than 10000 recipients in "
			    "the header: send the message in parts");
		}
		addrlist_free(&r);
		msg_free(&m);
	}
	buf_free(&in);
	buf_free(&out);
}
END_TEST

START_TEST(test_callers)
{
	RUN(caller_cases);
}
END_TEST

Suite *
header_suite(void)
{
	Suite	*s = suite_create("header");
	TCase	*tc = tcase_create("fixup");

	tcase_add_test(tc, test_date);
	tcase_add_test(tc, test_msgid);
	tcase_add_test(tc, test_from);
	tcase_add_test(tc, test_qualify);
	tcase_add_test(tc, test_rewrite_from);
	tcase_add_test(tc, test_drop);
	tcase_add_test(tc, test_undisclosed);
	tcase_add_test(tc, test_received);
	tcase_add_test(tc, test_extract);
	tcase_add_test(tc, test_callers);
	suite_add_tcase(s, tc);
	/* two headers of 10,000 addresses: more than Check's 4 s default
	 * on a loaded machine or under a sanitizer */
	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_extract_limit);
	suite_add_tcase(s, tc);
	return s;
}
