/*
 * header.c: the fix-ups, golden output with fixed time and randomness.
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

static void
ctx_init(struct header_ctx *c)
{
	setenv("TZ", "UTC", 1);
	tzset();
	memset(c, 0, sizeof(*c));
	c->now = 1795341600;	/* 2026-11-22 10:00:00 UTC */
	c->rnd = rnd;
	c->fqdn = "host.example.org";
	c->domain = "example.org";
	c->user = "alice";
	c->fullname = "Alice Example";
	c->uid = 1000;
}

/* Run the fix-ups on in; return the header and the -t recipients. */
static void
fixup(const char *in, const struct header_ctx *c, struct buf *out,
    struct addrlist *rcpts)
{
	struct msg	m;
	struct fail	f;

	ck_assert_int_eq(tu_read_msg(&m, in, strlen(in), 0, &f), 0);
	ck_assert_int_eq(header_fixup(&m, c, out, rcpts, &f), 0);
	msg_free(&m);
}

static void
golden(const char *in, const struct header_ctx *c, const char *want)
{
	struct buf	out = { 0 };
	struct addrlist	r = { 0 };

	fixup(in, c, &out, &r);
	ck_assert_str_eq(out.p, want);
	buf_free(&out);
	addrlist_free(&r);
}

START_TEST(test_adds_missing)
{
	struct header_ctx c;

	ctx_init(&c);
	golden("To: bob@example.com\nSubject: hi\n\nbody\n", &c,
	    RECEIVED "To: bob@example.com\r\nSubject: hi\r\n" DATE MSGID
	    "From: Alice Example <alice@example.org>\r\n\r\n");
}
END_TEST

START_TEST(test_keeps_existing)
{
	struct header_ctx c;
	static const char in[] =
	    "Date: Tue, 1 Jan 2030 00:00:00 -0500\n"
	    "Message-Id: <keep@me>\n"
	    "FROM: Carol <carol@example.net>\n"
	    "To: bob@example.com\n\nb\n";

	ctx_init(&c);
	golden(in, &c, RECEIVED "Date: Tue, 1 Jan 2030 00:00:00 -0500\r\n"
	    "Message-Id: <keep@me>\r\nFROM: Carol <carol@example.net>\r\n"
	    "To: bob@example.com\r\n\r\n");
}
END_TEST

START_TEST(test_bcc_removed)
{
	struct header_ctx c;
	struct buf	 out = { 0 };
	struct addrlist	 r = { 0 };

	ctx_init(&c);
	c.extract = 1;
	fixup("To: a@x\nBcc: secret@x,\n  other@y\nCC: c@x\n"
	    "Return-Path: <r@x>\nSubject: s\n\nb\n", &c, &out, &r);
	ck_assert_ptr_null(strstr(out.p, "secret"));
	ck_assert_ptr_null(strstr(out.p, "other@y"));
	ck_assert_ptr_null(strstr(out.p, "Return-Path"));
	ck_assert_ptr_nonnull(strstr(out.p, "\r\nCC: c@x\r\nSubject: s\r\n"));
	ck_assert_uint_eq(r.n, 4);
	ck_assert_str_eq(r.v[0].spec, "a@x");
	ck_assert_str_eq(r.v[1].spec, "secret@x");
	ck_assert_str_eq(r.v[2].spec, "other@y");
	ck_assert_str_eq(r.v[3].spec, "c@x");
	buf_free(&out);
	addrlist_free(&r);
}
END_TEST

START_TEST(test_bcc_removed_without_t)
{
	struct header_ctx c;
	struct buf	 out = { 0 };
	struct addrlist	 r = { 0 };

	ctx_init(&c);
	fixup("To: a@x\nbcc: hidden@x\n\nb\n", &c, &out, &r);
	ck_assert_ptr_null(strstr(out.p, "hidden"));
	ck_assert_uint_eq(r.n, 0);	/* no -t: nothing extracted */
	buf_free(&out);
	addrlist_free(&r);
}
END_TEST

START_TEST(test_resent)
{
	struct header_ctx c;
	struct buf	 out = { 0 };
	struct addrlist	 r = { 0 };

	ctx_init(&c);
	c.extract = 1;
	fixup("To: orig@x\nResent-To: new@y\nResent-Bcc: rb@z\n\nb\n", &c,
	    &out, &r);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_str_eq(r.v[0].spec, "new@y");
	ck_assert_str_eq(r.v[1].spec, "rb@z");
	ck_assert_ptr_null(strstr(out.p, "rb@z"));
	buf_free(&out);
	addrlist_free(&r);
}
END_TEST

START_TEST(test_qualify)
{
	struct header_ctx c;

	ctx_init(&c);
	golden("From: root (Cron Daemon)\nTo: root, Anacron <ops>, x@y\n"
	    "Date: d\nMessage-ID: <m@x>\n\nb\n", &c, RECEIVED
	    "From: root@example.org (Cron Daemon)\r\n"
	    "To: root@example.org, Anacron <ops@example.org>, x@y\r\n"
	    "Date: d\r\nMessage-ID: <m@x>\r\n\r\n");
	/* left alone: already qualified, or not parseable */
	golden("From: a@b\nTo: <<broken\nDate: d\nMessage-ID: <m@x>\n\nb\n",
	    &c, RECEIVED "From: a@b\r\nTo: <<broken\r\nDate: d\r\n"
	    "Message-ID: <m@x>\r\n\r\n");
}
END_TEST

START_TEST(test_undisclosed)
{
	struct header_ctx c;

	ctx_init(&c);
	golden("Subject: s\nDate: d\nMessage-ID: <m@x>\nFrom: a@b\n\nb\n", &c,
	    RECEIVED "Subject: s\r\nDate: d\r\nMessage-ID: <m@x>\r\n"
	    "From: a@b\r\nTo: undisclosed-recipients:;\r\n\r\n");
}
END_TEST

START_TEST(test_from_names)
{
	struct header_ctx c;
	struct buf	 b = { 0 };
	struct fail	 f;

	ctx_init(&c);
	ck_assert_int_eq(header_phrase("Cron Daemon", &b, &f), 0);
	ck_assert_str_eq(b.p, "Cron Daemon");
	buf_reset(&b);
	ck_assert_int_eq(header_phrase("Doe, John \"JD\"", &b, &f), 0);
	ck_assert_str_eq(b.p, "\"Doe, John \\\"JD\\\"\"");
	buf_reset(&b);
	ck_assert_int_eq(header_phrase("J\xc3\xbcrgen", &b, &f), 0);
	ck_assert_str_eq(b.p, "=?utf-8?B?SsO8cmdlbg==?=");
	buf_free(&b);
	c.fullname = NULL;
	golden("To: a@b\nDate: d\nMessage-ID: <m@x>\n\nb\n", &c, RECEIVED
	    "To: a@b\r\nDate: d\r\nMessage-ID: <m@x>\r\n"
	    "From: <alice@example.org>\r\n\r\n");
}
END_TEST

START_TEST(test_extract_error)
{
	struct header_ctx c;
	struct msg	 m;
	struct fail	 f;
	struct buf	 out = { 0 };
	struct addrlist	 r = { 0 };
	static const char in[] = "To: a@b, <unbalanced\n\nb\n";

	ctx_init(&c);
	c.extract = 1;
	ck_assert_int_eq(tu_read_msg(&m, in, strlen(in), 0, &f), 0);
	ck_assert_int_eq(header_fixup(&m, &c, &out, &r, &f), -1);
	ck_assert_int_eq(f.ex, EX_DATAERR);
	ck_assert_ptr_nonnull(strstr(f.msg, "To"));
	msg_free(&m);
	buf_free(&out);
	addrlist_free(&r);
}
END_TEST

START_TEST(test_rewrite_from)
{
	struct header_ctx c;

	ctx_init(&c);
	c.rewrite_from = 1;
	c.from_addr = "alerts@example.com";
	golden("From: \"Cron Daemon\" <root>\nTo: a@b\nDate: d\n"
	    "Message-ID: <m@x>\n\nb\n", &c, RECEIVED
	    "From: \"Cron Daemon\" <alerts@example.com>\r\n"
	    "Reply-To: root@example.org\r\n"
	    "To: a@b\r\nDate: d\r\nMessage-ID: <m@x>\r\n\r\n");
	/* an existing Reply-To is kept, not doubled */
	golden("Reply-To: r@x\nFrom: bob@example.net\nTo: a@b\nDate: d\n"
	    "Message-ID: <m@x>\n\nb\n", &c, RECEIVED
	    "Reply-To: r@x\r\nFrom: <alerts@example.com>\r\n"
	    "To: a@b\r\nDate: d\r\nMessage-ID: <m@x>\r\n\r\n");
	/* no From at all: the configured address with the full name */
	golden("To: a@b\nDate: d\nMessage-ID: <m@x>\n\nb\n", &c, RECEIVED
	    "To: a@b\r\nDate: d\r\nMessage-ID: <m@x>\r\n"
	    "From: Alice Example <alerts@example.com>\r\n\r\n");
}
END_TEST

Suite *
header_suite(void)
{
	Suite	*s = suite_create("header");
	TCase	*tc = tcase_create("fixup");

	tcase_add_test(tc, test_adds_missing);
	tcase_add_test(tc, test_keeps_existing);
	tcase_add_test(tc, test_bcc_removed);
	tcase_add_test(tc, test_bcc_removed_without_t);
	tcase_add_test(tc, test_resent);
	tcase_add_test(tc, test_qualify);
	tcase_add_test(tc, test_undisclosed);
	tcase_add_test(tc, test_from_names);
	tcase_add_test(tc, test_extract_error);
	tcase_add_test(tc, test_rewrite_from);
	suite_add_tcase(s, tc);
	return s;
}
