/*
 * serve.c: the -bs command parser and the SMTP dialogue, driven through
 * serve_feed() with a fake delivery (no I/O, no network).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "msg.h"
#include "serve.h"
#include "testutil.h"
#include "util.h"

/* ------------------------------------------------------------ parser */

static void
parse_ok(const char *line, enum serve_verb verb, struct serve_cmd *c)
{
	ck_assert_msg(serve_parse(line, c) == 0, "%s: %s", line,
	    c->reply != NULL ? c->reply : "?");
	ck_assert_int_eq(c->verb, verb);
	ck_assert_ptr_eq(c->reply, NULL);
}

static void
parse_bad(const char *line, const char *want)
{
	struct serve_cmd c;

	ck_assert_int_eq(serve_parse(line, &c), -1);
	ck_assert_ptr_ne(c.reply, NULL);
	ck_assert_str_eq(c.reply, want);
}

START_TEST(test_parse_verbs)
{
	struct serve_cmd c;

	parse_ok("helo client.example", SERVE_HELO, &c);
	ck_assert_str_eq(c.arg, "client.example");
	parse_ok("EHLO [127.0.0.1]", SERVE_EHLO, &c);
	parse_ok("DATA", SERVE_DATA, &c);
	parse_ok("rset", SERVE_RSET, &c);
	parse_ok("QUIT", SERVE_QUIT, &c);
	parse_ok("NOOP whatever", SERVE_NOOP, &c);
	parse_ok("HELP MAIL", SERVE_HELP, &c);
	parse_ok("VRFY root", SERVE_VRFY, &c);
	parse_ok("EXPN staff", SERVE_EXPN, &c);
	parse_bad("EHLO", "501 5.5.4 Syntax: EHLO hostname");
	parse_bad("HELO   ", "501 5.5.4 Syntax: HELO hostname");
	parse_bad("DATA now", "501 5.5.4 Syntax: DATA");
	parse_bad("VRFY", "501 5.5.4 Syntax: VRFY address");
	parse_bad("FOO", "500 5.5.2 Error: command not recognized");
	parse_bad("", "500 5.5.2 Error: command not recognized");
	parse_bad("MAILFROM:<a@b>", "500 5.5.2 Error: command not "
	    "recognized");
	parse_bad("\x01\x02\xff", "500 5.5.2 Error: command not recognized");
	parse_bad("STARTTLS", "502 5.5.1 Error: command not implemented");
	parse_bad("AUTH PLAIN AGFAYg==", "502 5.5.1 Error: command not "
	    "implemented");
	ck_assert_int_eq(serve_parse("BDAT 10 LAST", &c), -1);
	ck_assert_int_eq(c.verb, SERVE_NOTIMPL);
}
END_TEST

START_TEST(test_parse_mail)
{
	struct serve_cmd c;

	parse_ok("MAIL FROM:<a@b.example>", SERVE_MAIL, &c);
	ck_assert_str_eq(c.path, "a@b.example");
	ck_assert(!c.has_size && !c.body8bit);
	parse_ok("mail from:<>", SERVE_MAIL, &c);
	ck_assert_str_eq(c.path, "");
	parse_ok("MAIL FROM: <a@b.example>", SERVE_MAIL, &c);
	ck_assert_str_eq(c.path, "a@b.example");
	parse_ok("MAIL FROM:<a@b.example> SIZE=12345 body=8bitmime",
	    SERVE_MAIL, &c);
	ck_assert(c.has_size);
	ck_assert_uint_eq(c.size, 12345);
	ck_assert(c.body8bit);
	parse_ok("MAIL FROM:<a@b.example> BODY=7BIT", SERVE_MAIL, &c);
	ck_assert(!c.body8bit);
	parse_ok("MAIL FROM:<a@b.example> SIZE=18446744073709551615",
	    SERVE_MAIL, &c);
	ck_assert(c.size == 18446744073709551615ULL);
	/* a source route is accepted and ignored (RFC 5321 §4.1.2) */
	parse_ok("MAIL FROM:<@r1.example,@r2.example:u@d.example>",
	    SERVE_MAIL, &c);
	ck_assert_str_eq(c.path, "u@d.example");
	/* a quoted local part may hold '>' and a space */
	parse_ok("MAIL FROM:<\"a> b\"@c.example>", SERVE_MAIL, &c);
	ck_assert_str_eq(c.path, "\"a> b\"@c.example");
	parse_ok("MAIL FROM:<root>", SERVE_MAIL, &c);
	ck_assert_str_eq(c.path, "root");

	parse_bad("MAIL FROM:a@b.example", "501 5.5.4 Syntax: MAIL "
	    "FROM:<address>");
	parse_bad("MAIL TO:<a@b.example>", "501 5.5.4 Syntax: MAIL "
	    "FROM:<address>");
	parse_bad("MAIL FROM:<a@b.example", "501 5.5.4 Syntax: MAIL "
	    "FROM:<address>");
	parse_bad("MAIL FROM:<a@b.example>SIZE=1", "501 5.5.4 Syntax: MAIL "
	    "FROM:<address>");
	parse_bad("MAIL FROM:<a@b.example> FOO=1", "555 5.5.4 Unsupported "
	    "MAIL FROM parameter FOO");
	parse_bad("MAIL FROM:<a@b.example> SMTPUTF8", "555 5.5.4 Unsupported "
	    "MAIL FROM parameter SMTPUTF8");
	/* quoted back with its control octets as '?' (tests/fuzz/serve.c) */
	parse_bad("MAIL FROM:<a@b.example> B\x01\rODY\x1b=7BIT", "555 5.5.4 "
	    "Unsupported MAIL FROM parameter B??ODY?");
	parse_bad("MAIL FROM:<a@b.example> SIZE=12x", "501 5.5.4 Bad SIZE "
	    "parameter value");
	parse_bad("MAIL FROM:<a@b.example> SIZE", "501 5.5.4 Bad SIZE "
	    "parameter value");
	parse_bad("MAIL FROM:<a@b.example> SIZE=18446744073709551616",
	    "501 5.5.4 Bad SIZE parameter value");
	parse_bad("MAIL FROM:<a@b.example> BODY=BINARYMIME", "501 5.5.4 Bad "
	    "BODY parameter value");
	parse_bad("MAIL FROM:<a@b.example> SIZE=1 SIZE=2", "501 5.5.4 "
	    "Duplicate MAIL FROM parameter");
	parse_bad("MAIL FROM:<a b@c.example>", "501 5.1.7 Bad sender address "
	    "syntax");
	parse_bad("MAIL FROM:<a@b@c>", "501 5.1.7 Bad sender address syntax");
	parse_bad("MAIL FROM:<\xc3\xa9@b.example>", "553 5.6.7 Non-ASCII "
	    "address (SMTPUTF8 is not offered)");
	parse_bad("MAIL FROM:<a\x01@b.example>", "501 5.1.7 Bad sender "
	    "address syntax");
}
END_TEST

START_TEST(test_parse_path_limit)
{
	struct serve_cmd c;
	char		 line[400];

	/* 256 octets with the brackets: the limit (RFC 5321 §4.5.3.1.3) */
	snprintf(line, sizeof(line), "RCPT TO:<%.*s@b.example>", 244,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	parse_ok(line, SERVE_RCPT, &c);
	ck_assert_uint_eq(strlen(c.path), 254);
	snprintf(line, sizeof(line), "RCPT TO:<%.*s@b.example>", 245,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	parse_bad(line, "501 5.1.3 Path too long");
}
END_TEST

START_TEST(test_parse_rcpt)
{
	struct serve_cmd c;

	parse_ok("RCPT TO:<b@c.example>", SERVE_RCPT, &c);
	ck_assert_str_eq(c.path, "b@c.example");
	parse_ok("rcpt to:<Postmaster>", SERVE_RCPT, &c);
	ck_assert_str_eq(c.path, "Postmaster");
	parse_bad("RCPT TO:<>", "501 5.1.3 Bad recipient address syntax");
	parse_bad("RCPT TO:<b@c.example> NOTIFY=NEVER", "555 5.5.4 "
	    "Unsupported RCPT TO parameter");
	parse_bad("RCPT FROM:<b@c.example>", "501 5.5.4 Syntax: RCPT "
	    "TO:<address>");
	parse_bad("RCPT TO:<b@c.example,d@e.example>", "501 5.1.3 Bad "
	    "recipient address syntax");
}
END_TEST

/* ----------------------------------------------------------- dialogue */

/* The fake smarthost: records each message, fails when told to. */
struct sink {
	int		 calls;
	int		 fail_ex;		/* 0: accept */
	const char	*fail_reply;		/* the smarthost's reply */
	char		 sender[300];
	char		 rcpt[32768];		/* "<a>,<b>" */
	int		 body8bit;
	struct buf	 text;			/* last message: header, body */
};

static int
sink_deliver(void *arg, struct msg *m, const struct serve_env *e,
    struct fail *f)
{
	struct sink	*k = arg;
	size_t		 i;

	k->calls++;
	snprintf(k->sender, sizeof(k->sender), "%s", e->sender);
	k->rcpt[0] = '\0';
	for (i = 0; i < e->nrcpt; i++)
		snprintf(k->rcpt + strlen(k->rcpt), sizeof(k->rcpt) -
		    strlen(k->rcpt), "%s%s", i ? "," : "", e->rcpt[i]);
	k->body8bit = e->body8bit;
	buf_reset(&k->text);
	for (i = 0; i < m->hn; i++)
		buf_addf(&k->text, "%s\r\n", m->hv[i].text);
	buf_adds(&k->text, "\r\n");
	tu_body(m, &k->text);
	k->text.len = strlen(k->text.p);
	if (k->fail_ex == 0)
		return 0;
	fail_set(f, k->fail_ex, "smtp.example: message refused: %s",
	    k->fail_reply);
	snprintf(f->reply, sizeof(f->reply), "%s", k->fail_reply);
	return -1;
}

static const struct serve_conf *
sink_conf(struct sink *k)
{
	static struct serve_conf sc;

	memset(&sc, 0, sizeof(sc));
	sc.hostname = "mx.test";
	sc.deliver = sink_deliver;
	sc.arg = k;
	return &sc;
}

/* Feed in to a new session, chunk octets at a time (0: all at once);
 * the replies go to out.  The session is returned for more checks. */
static struct serve *
talk(struct sink *k, const char *in, size_t len, size_t chunk,
    struct buf *out)
{
	struct serve	*s;
	struct fail	 f;
	size_t		 off, n;

	ck_assert_ptr_ne(s = serve_new(sink_conf(k), &f), NULL);
	if (chunk == 0)
		chunk = len;
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		ck_assert_int_eq(serve_feed(s, in + off, n, &f), 0);
	}
	buf_add(out, serve_output(s)->p, serve_output(s)->len);
	buf_reset(serve_output(s));
	return s;
}

static void
talk_eq(const char *in, const char *want)
{
	struct sink	 k = { 0 };
	struct buf	 out = { 0 };

	serve_free(talk(&k, in, strlen(in), 0, &out));
	ck_assert_str_eq(out.p, want);
	buf_free(&out);
	buf_free(&k.text);
}

#define GREET	"220 mx.test ESMTP relaymail\r\n"
#define EHLO_R	"250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n" \
		"250-SIZE\r\n250 ENHANCEDSTATUSCODES\r\n"

static const char two_msgs[] =
    "EHLO client.test\r\n"
    "MAIL FROM:<app@example.com> BODY=8BITMIME\r\n"
    "RCPT TO:<one@example.net>\r\n"
    "RCPT TO:<two@example.net>\r\n"
    "DATA\r\n"
    "Subject: first\r\n"
    "\r\n"
    "line 1\r\n"
    "..leading dot\r\n"
    ".\r\n"
    "MAIL FROM:<>\r\n"
    "RCPT TO:<root>\r\n"
    "DATA\r\n"
    "Subject: second\r\n"
    "\r\n"
    "only line\r\n"
    ".\r\n"
    "QUIT\r\n";

static const char two_replies[] =
    GREET EHLO_R
    "250 2.1.0 Ok\r\n"
    "250 2.1.5 Ok\r\n"
    "250 2.1.5 Ok\r\n"
    "354 End data with <CR><LF>.<CR><LF>\r\n"
    "250 2.0.0 Ok: relayed to the smarthost\r\n"
    "250 2.1.0 Ok\r\n"
    "250 2.1.5 Ok\r\n"
    "354 End data with <CR><LF>.<CR><LF>\r\n"
    "250 2.0.0 Ok: relayed to the smarthost\r\n"
    "221 2.0.0 Bye\r\n";

START_TEST(test_two_messages)
{
	struct sink	 k = { 0 };
	struct buf	 out = { 0 };
	struct serve	*s;
	struct fail	 f;

	/* the whole session pipelined in one write */
	s = talk(&k, two_msgs, sizeof(two_msgs) - 1, 0, &out);
	ck_assert_str_eq(out.p, two_replies);
	ck_assert(serve_done(s));
	ck_assert_int_eq(serve_end(s, &f), 0);
	serve_free(s);
	ck_assert_int_eq(k.calls, 2);
	ck_assert_str_eq(k.sender, "");
	ck_assert_str_eq(k.rcpt, "<root>");
	ck_assert_str_eq(k.text.p, "Subject: second\r\n\r\nonly line\r\n");
	buf_free(&out);
	buf_free(&k.text);
}
END_TEST

START_TEST(test_first_message_envelope)
{
	struct sink	 k = { 0 };
	struct buf	 out = { 0 };
	char		 in[sizeof(two_msgs)];
	char		*cut;

	/* stop after the first message */
	snprintf(in, sizeof(in), "%s", two_msgs);
	cut = strstr(in, "MAIL FROM:<>");
	*cut = '\0';
	serve_free(talk(&k, in, strlen(in), 0, &out));
	ck_assert_int_eq(k.calls, 1);
	ck_assert_str_eq(k.sender, "app@example.com");
	ck_assert_str_eq(k.rcpt, "<one@example.net>,<two@example.net>");
	ck_assert(k.body8bit);
	ck_assert_str_eq(k.text.p, "Subject: first\r\n\r\nline 1\r\n"
	    ".leading dot\r\n");
	buf_free(&out);
	buf_free(&k.text);
}
END_TEST

/* Pipelined input split anywhere (one octet at a time, odd chunks)
 * gives the same replies in the same order. */
START_TEST(test_split_input)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 64 };
	struct sink	 k = { 0 };
	struct buf	 out = { 0 };
	size_t		 i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		buf_reset(&out);
		k.calls = 0;
		serve_free(talk(&k, two_msgs, sizeof(two_msgs) - 1, chunks[i],
		    &out));
		ck_assert_str_eq(out.p, two_replies);
		ck_assert_int_eq(k.calls, 2);
		ck_assert_str_eq(k.text.p, "Subject: second\r\n\r\n"
		    "only line\r\n");
	}
	buf_free(&out);
	buf_free(&k.text);
}
END_TEST

/* RFC 5321 §4.5.2: the first '.' of a line goes; "." alone ends; bare
 * LF line endings are accepted too. */
START_TEST(test_dot_unstuffing)
{
	static const char in[] =
	    "HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
	    "DATA\r\n"
	    "Subject: dots\r\n\r\n"
	    "..\r\n"
	    "...\r\n"
	    ".x\r\n"
	    "x.\r\n"
	    "\r\n"
	    ". \r\n"
	    "lf only\n"
	    "..lf\n"
	    ".\n"
	    "NOOP\r\n";
	struct sink	 k = { 0 };
	struct buf	 out = { 0 };

	serve_free(talk(&k, in, sizeof(in) - 1, 0, &out));
	ck_assert_int_eq(k.calls, 1);
	ck_assert_str_eq(k.text.p, "Subject: dots\r\n\r\n"
	    ".\r\n..\r\nx\r\nx.\r\n\r\n \r\nlf only\r\n.lf\r\n");
	ck_assert_str_eq(out.p, GREET "250 mx.test\r\n250 2.1.0 Ok\r\n"
	    "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: relayed to the smarthost\r\n250 2.0.0 Ok\r\n");
	buf_free(&out);
	buf_free(&k.text);
}
END_TEST

START_TEST(test_out_of_order)
{
	talk_eq("MAIL FROM:<a@b.example>\r\n",
	    GREET "503 5.5.1 Error: send HELO/EHLO first\r\n");
	talk_eq("HELO c\r\nRCPT TO:<a@b.example>\r\nDATA\r\n",
	    GREET "250 mx.test\r\n503 5.5.1 Error: need MAIL command\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n");
	talk_eq("HELO c\r\nMAIL FROM:<a@b.example>\r\nDATA\r\n"
	    "MAIL FROM:<a@b.example>\r\n",
	    GREET "250 mx.test\r\n250 2.1.0 Ok\r\n"
	    "503 5.5.1 Error: need RCPT command\r\n"
	    "503 5.5.1 Error: nested MAIL command\r\n");
	/* pipelined RCPTs all refused: DATA says so (RFC 2920 §3.1) */
	talk_eq("HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<>\r\nDATA\r\n",
	    GREET "250 mx.test\r\n250 2.1.0 Ok\r\n"
	    "501 5.1.3 Bad recipient address syntax\r\n"
	    "554 5.5.1 Error: no valid recipients\r\n");
	/* RSET and EHLO end the transaction */
	talk_eq("HELO c\r\nMAIL FROM:<a@b.example>\r\nRSET\r\n"
	    "RCPT TO:<c@d.example>\r\nMAIL FROM:<a@b.example>\r\n"
	    "EHLO c\r\nRCPT TO:<c@d.example>\r\n",
	    GREET "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n250 2.1.0 Ok\r\n"
	    EHLO_R "503 5.5.1 Error: need MAIL command\r\n");
}
END_TEST

START_TEST(test_other_commands)
{
	talk_eq("NOOP\r\nVRFY root\r\nEXPN staff\r\nHELP\r\nRSET\r\n"
	    "STARTTLS\r\nQUIT\r\nNOOP\r\n",
	    GREET "250 2.0.0 Ok\r\n"
	    "252 2.5.2 Cannot VRFY user, but will accept message and "
	    "attempt delivery\r\n"
	    "502 5.5.1 EXPN not available\r\n"
	    "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
	    "VRFY HELP\r\n"
	    "250 2.0.0 Ok\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "221 2.0.0 Bye\r\n");
}
END_TEST

/* Garbage and over-long lines: a 500 each, and the session goes on. */
START_TEST(test_garbage_and_long_lines)
{
	struct sink	 k = { 0 };
	struct buf	 in = { 0 }, out = { 0 }, want = { 0 };
	size_t		 i;

	buf_adds(&in, "\x16\x03\x01\x02\xff garbage\r\n");
	buf_add(&in, "NO\0OP\r\n", 7);
	buf_adds(&in, "NOOP ");			/* 1000 octets with CRLF */
	for (i = 0; i < 993; i++)
		buf_addc(&in, 'x');
	buf_adds(&in, "\r\nNOOP ");		/* 1001 octets */
	for (i = 0; i < 994; i++)
		buf_addc(&in, 'x');
	buf_adds(&in, "\r\n");
	for (i = 0; i < 100000; i++)		/* no LF for 100 kB */
		buf_addc(&in, 'y');
	buf_adds(&in, "\nHELO c\r\n");
	buf_adds(&want, GREET
	    "500 5.5.2 Error: command not recognized\r\n"
	    "500 5.5.2 Error: NUL octet in command\r\n"
	    "250 2.0.0 Ok\r\n"
	    "500 5.5.2 Error: line too long\r\n"
	    "500 5.5.2 Error: line too long\r\n"
	    "250 mx.test\r\n");
	serve_free(talk(&k, in.p, in.len, 0, &out));
	ck_assert_str_eq(out.p, want.p);
	buf_reset(&out);
	serve_free(talk(&k, in.p, in.len, 999, &out));
	ck_assert_str_eq(out.p, want.p);
	buf_free(&in);
	buf_free(&out);
	buf_free(&want);
}
END_TEST

#define DATA_R	"354 End data with <CR><LF>.<CR><LF>\r\n"

static void
fail_case(int ex, const char *smarthost, const char *want)
{
	static const char in[] = "HELO c\r\nMAIL FROM:<a@b.example>\r\n"
	    "RCPT TO:<c@d.example>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\n";
	struct sink	 k = { 0 };
	struct buf	 out = { 0 };
	const char	*last;

	k.fail_ex = ex;
	k.fail_reply = smarthost;
	serve_free(talk(&k, in, sizeof(in) - 1, 0, &out));
	last = strstr(out.p, DATA_R);
	ck_assert_ptr_ne(last, NULL);
	ck_assert_str_eq(last + strlen(DATA_R), want);
	buf_free(&out);
	buf_free(&k.text);
}

START_TEST(test_failure_replies)
{
	fail_case(EX_TEMPFAIL, "451 4.3.0 busy, try later",
	    "451 4.3.0 smtp.example: message refused: 451 4.3.0 busy, try "
	    "later\r\n");
	fail_case(EX_TEMPFAIL, "421 closing",
	    "451 4.3.0 smtp.example: message refused: 421 closing\r\n");
	fail_case(EX_NOUSER, "550 5.1.1 no such user",
	    "550 5.1.1 smtp.example: message refused: 550 5.1.1 no such "
	    "user\r\n");
	fail_case(EX_UNAVAILABLE, "554 5.7.1 spam",
	    "554 5.7.1 smtp.example: message refused: 554 5.7.1 spam\r\n");
	fail_case(EX_UNAVAILABLE, "554 rejected",
	    "554 5.0.0 smtp.example: message refused: 554 rejected\r\n");
	/* a 5xx enhanced code never goes with our 4xx */
	fail_case(EX_NOPERM, "535 5.7.8 bad credentials",
	    "451 4.7.0 smtp.example: message refused: 535 5.7.8 bad "
	    "credentials\r\n");
	/* control characters from the server never reach the client */
	fail_case(EX_TEMPFAIL, "451 a\r\n250 b",
	    "451 4.3.0 smtp.example: message refused: 451 a??250 b\r\n");
}
END_TEST

START_TEST(test_end_mid_transaction)
{
	struct sink	 k = { 0 };
	struct buf	 out = { 0 };
	struct serve	*s;
	struct fail	 f;
	static const char in[] = "HELO c\r\nMAIL FROM:<a@b.example>\r\n"
	    "RCPT TO:<c@d.example>\r\nDATA\r\nSubject: x\r\n\r\npartial";

	s = talk(&k, in, 22, 0, &out);		/* after HELO */
	ck_assert_int_eq(serve_end(s, &f), 0);
	serve_free(s);
	s = talk(&k, in, 40, 0, &out);		/* after MAIL */
	ck_assert_int_eq(serve_end(s, &f), -1);
	ck_assert_int_eq(f.ex, EX_TEMPFAIL);
	serve_free(s);
	s = talk(&k, in, sizeof(in) - 1, 0, &out);	/* inside DATA */
	ck_assert_int_eq(serve_end(s, &f), -1);
	ck_assert_int_eq(f.ex, EX_TEMPFAIL);
	ck_assert_int_eq(k.calls, 0);
	serve_free(s);
	buf_free(&out);
}
END_TEST

START_TEST(test_too_many_recipients)
{
	struct sink	 k = { 0 };
	struct buf	 in = { 0 }, out = { 0 };
	size_t		 i;

	buf_adds(&in, "HELO c\r\nMAIL FROM:<a@b.example>\r\n");
	for (i = 0; i <= SERVE_RCPT_MAX; i++)
		buf_addf(&in, "RCPT TO:<r%zu@d.example>\r\n", i);
	buf_adds(&in, "DATA\r\nSubject: x\r\n\r\nx\r\n.\r\n");
	serve_free(talk(&k, in.p, in.len, 0, &out));
	ck_assert_ptr_ne(strstr(out.p, "250 2.1.5 Ok\r\n"
	    "452 4.5.3 Error: too many recipients\r\n354 "), NULL);
	ck_assert_int_eq(k.calls, 1);
	ck_assert_ptr_ne(strstr(k.rcpt, ",<r999@d.example>"), NULL);
	ck_assert_ptr_eq(strstr(k.rcpt, "r1000@"), NULL);
	buf_free(&in);
	buf_free(&out);
	buf_free(&k.text);
}
END_TEST

Suite *
serve_suite(void)
{
	Suite	*s = suite_create("serve");
	TCase	*tp = tcase_create("parse");
	TCase	*td = tcase_create("dialogue");

	tcase_add_test(tp, test_parse_verbs);
	tcase_add_test(tp, test_parse_mail);
	tcase_add_test(tp, test_parse_path_limit);
	tcase_add_test(tp, test_parse_rcpt);
	tcase_add_test(td, test_two_messages);
	tcase_add_test(td, test_first_message_envelope);
	tcase_add_test(td, test_split_input);
	tcase_add_test(td, test_dot_unstuffing);
	tcase_add_test(td, test_out_of_order);
	tcase_add_test(td, test_other_commands);
	tcase_add_test(td, test_garbage_and_long_lines);
	tcase_add_test(td, test_failure_replies);
	tcase_add_test(td, test_end_mid_transaction);
	tcase_add_test(td, test_too_many_recipients);
	suite_add_tcase(s, tp);
	suite_add_tcase(s, td);
	return s;
}
