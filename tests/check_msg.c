/*
 * msg.c: line endings, dots, header splitting, spooling, mbox.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "msg.h"
#include "testutil.h"
#include "util.h"

static void
read_ok(struct msg *m, const char *s, int dot_ends)
{
	struct fail	f;

	ck_assert_int_eq(tu_read_msg(m, s, strlen(s), dot_ends, &f), 0);
}

static void
assert_body(const struct msg *m, const char *want)
{
	struct buf	b = { 0 };

	tu_body(m, &b);
	ck_assert_str_eq(b.p, want);
	ck_assert_uint_eq(m->bodylen, strlen(want));
	buf_free(&b);
}

START_TEST(test_line_endings)
{
	static const char *in[] = {
		"To: a\n\nx\ny\n",
		"To: a\r\n\r\nx\r\ny\r\n",
		"To: a\r\rx\ry\r",
		"To: a\n\nx\r\ny",		/* mixed, no final newline */
	};
	struct msg	m;
	size_t		i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		read_ok(&m, in[i], 0);
		ck_assert_uint_eq(m.hn, 1);
		ck_assert_str_eq(m.hv[0].text, "To: a");
		assert_body(&m, "x\r\ny\r\n");
		msg_free(&m);
	}
}
END_TEST

START_TEST(test_crlf_headers_lf_body)
{
	struct msg	m;

	/* PHP's mail(): CRLF header, LF body */
	read_ok(&m, "To: a@x\r\nSubject: s\r\n\r\nl1\nl2\n", 0);
	ck_assert_uint_eq(m.hn, 2);
	assert_body(&m, "l1\r\nl2\r\n");
	msg_free(&m);
}
END_TEST

START_TEST(test_dots_pipe)
{
	struct msg	m;

	/* not a terminal: a lone "." is text, the rest is not lost */
	read_ok(&m, "To: a\n\n.\n..\nafter\n", 0);
	assert_body(&m, ".\r\n..\r\nafter\r\n");
	msg_free(&m);
}
END_TEST

START_TEST(test_dots_terminal)
{
	struct msg	m;

	read_ok(&m, "To: a\n\n.x\n..\n.\nnot read\n", 1);
	assert_body(&m, ".x\r\n..\r\n");
	msg_free(&m);
	read_ok(&m, "To: a\n\nx\r.\r\n", 1);
	assert_body(&m, "x\r\n");
	msg_free(&m);
	read_ok(&m, "To: a\n\nx\n.", 1);	/* "." then EOF */
	assert_body(&m, "x\r\n");
	msg_free(&m);
}
END_TEST

START_TEST(test_folding)
{
	struct msg	m;

	read_ok(&m, "Subject: a\n b\n\tc\nTo: x\n\nbody\n", 0);
	ck_assert_uint_eq(m.hn, 2);
	ck_assert_str_eq(m.hv[0].text, "Subject: a\r\n b\r\n\tc");
	ck_assert(msg_field_is(&m.hv[0], "subject"));
	ck_assert(!msg_field_is(&m.hv[0], "subj"));
	ck_assert(msg_field_is(&m.hv[1], "TO"));
	msg_free(&m);
}
END_TEST

START_TEST(test_no_separator)
{
	struct msg	m;

	/* A non-header line ends the header (Postfix does the same). */
	read_ok(&m, "To: a\nthis is text\nmore\n", 0);
	ck_assert_uint_eq(m.hn, 1);
	assert_body(&m, "this is text\r\nmore\r\n");
	msg_free(&m);
	read_ok(&m, "just a body\n", 0);
	ck_assert_uint_eq(m.hn, 0);
	assert_body(&m, "just a body\r\n");
	msg_free(&m);
}
END_TEST

START_TEST(test_mbox_from_line)
{
	struct msg	m;

	read_ok(&m, "From alice Mon Jan  1 00:00:00 2024\nTo: a\n\nb\n", 0);
	ck_assert_uint_eq(m.hn, 1);
	ck_assert_str_eq(m.hv[0].text, "To: a");
	msg_free(&m);
}
END_TEST

START_TEST(test_empty_and_flags)
{
	struct msg	m;

	read_ok(&m, "", 0);
	ck_assert_uint_eq(m.hn, 0);
	ck_assert_uint_eq(m.bodylen, 0);
	msg_free(&m);
	read_ok(&m, "To: a\n\n\xc3\xa9t\xc3\xa9\n", 0);
	ck_assert(m.body8bit);
	ck_assert(!m.bodynul);
	ck_assert_uint_eq(m.maxline, 5);
	msg_free(&m);
}
END_TEST

START_TEST(test_nul_kept)
{
	struct msg	m;
	struct fail	f;
	static const char in[] = "To: a\n\nx\0y\n";

	ck_assert_int_eq(tu_read_msg(&m, in, sizeof(in) - 1, 0, &f), 0);
	ck_assert(m.bodynul);
	ck_assert_uint_eq(m.bodylen, 5);
	msg_free(&m);
}
END_TEST

START_TEST(test_spool)
{
	struct msg	 m;
	struct fail	 f;
	struct buf	 in = { 0 }, out = { 0 }, want = { 0 };
	int		 i;

	buf_adds(&in, "To: a\n\n");
	for (i = 0; i < 50000; i++) {
		buf_addf(&in, "line %d\n", i);
		buf_addf(&want, "line %d\r\n", i);
	}
	ck_assert_int_eq(tu_read_msg(&m, in.p, in.len, 0, &f), 0);
	ck_assert_int_ne(m.fd, -1);	/* past MSG_MEM_MAX: on disk */
	tu_body(&m, &out);
	ck_assert_uint_eq(out.len, want.len);
	ck_assert(memcmp(out.p, want.p, want.len) == 0);
	msg_free(&m);
	buf_free(&in);
	buf_free(&out);
	buf_free(&want);
}
END_TEST

START_TEST(test_mbox)
{
	struct msg	 m;
	struct fail	 f;
	FILE		*fp = tmpfile();
	char		 got[512];
	size_t		 n;

	read_ok(&m, "Subject: s\n\nFrom here\n>From there\nok\n", 0);
	ck_assert_int_eq(msg_write_mbox(&m, fileno(fp), "a@b", 0,
	    "X-Relaymail-Error: boom", &f), 0);
	rewind(fp);
	n = fread(got, 1, sizeof(got) - 1, fp);
	got[n] = '\0';
	ck_assert_str_eq(got, "From a@b Thu Jan  1 00:00:00 1970\n"
	    "X-Relaymail-Error: boom\nSubject: s\n\n"
	    ">From here\n>>From there\nok\n\n");
	fclose(fp);
	msg_free(&m);
}
END_TEST

/* The feed API: the same message whole and one octet at a time, with a
 * CRLF, a folded header and a lone-dot terminator split across calls. */
START_TEST(test_feed_chunks)
{
	static const char in[] = "Subject: a\r\n b\r\nTo: x\r\n\r\n"
	    "l1\r\n.l2\r\nl3\r.\r\nnot read\r\n";
	struct msg	 whole, bytes;
	struct msg_feed	 r;
	struct fail	 f;
	struct buf	 b1 = { 0 }, b2 = { 0 };
	size_t		 i;

	read_ok(&whole, in, 1);
	msg_init(&bytes);
	msg_feed_init(&r, &bytes, 1);
	for (i = 0; i < sizeof(in) - 1; i++)
		ck_assert_int_eq(msg_feed(&r, in + i, 1, &f), 0);
	ck_assert_int_eq(msg_feed_end(&r, &f), 0);
	ck_assert_uint_eq(bytes.hn, 2);
	ck_assert_str_eq(bytes.hv[0].text, "Subject: a\r\n b");
	ck_assert_uint_eq(bytes.hn, whole.hn);
	tu_body(&whole, &b1);
	tu_body(&bytes, &b2);
	ck_assert_str_eq(b2.p, "l1\r\n.l2\r\nl3\r\n");
	ck_assert_str_eq(b1.p, b2.p);
	ck_assert_uint_eq(bytes.inbytes, sizeof(in) - 1);
	msg_free(&whole);
	msg_free(&bytes);
	buf_free(&b1);
	buf_free(&b2);
}
END_TEST

/* The whole mbox text msg_write_mbox() makes of input s (sender a@b,
 * time 0, no extra lines) in out. */
static void
mbox_of(const char *s, size_t n, struct buf *out)
{
	struct msg	 m;
	struct fail	 f;
	FILE		*fp = tmpfile();
	char		 chunk[4096];
	size_t		 k;

	ck_assert_int_eq(tu_read_msg(&m, s, n, 0, &f), 0);
	ck_assert_int_eq(msg_write_mbox(&m, fileno(fp), "a@b", 0, NULL, &f), 0);
	rewind(fp);
	while ((k = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(out, chunk, k);
	buf_add(out, "", 0);
	fclose(fp);
	msg_free(&m);
}

START_TEST(test_mbox_quote_depth)
{
	struct buf	in = { 0 }, out = { 0 }, want = { 0 };
	int		i;

	/* mboxrd (RFC 4155): one more '>' on />*From /, however deep */
	buf_adds(&in, "To: a\n\nFrom x\n>From x\n>>>From x\nFrom\n>From\n"
	    "Fro\n From x\n");
	for (i = 0; i < 300; i++)
		buf_addc(&in, '>');
	buf_adds(&in, "From deep\n");
	for (i = 0; i < 300; i++)
		buf_addc(&in, '>');
	buf_adds(&in, "Fro\n");
	mbox_of(in.p, in.len, &out);
	buf_adds(&want, "From a@b Thu Jan  1 00:00:00 1970\nTo: a\n\n"
	    ">From x\n>>From x\n>>>>From x\nFrom\n>From\nFro\n From x\n>");
	for (i = 0; i < 300; i++)
		buf_addc(&want, '>');
	buf_adds(&want, "From deep\n");
	for (i = 0; i < 300; i++)
		buf_addc(&want, '>');
	buf_adds(&want, "Fro\n\n");
	ck_assert_str_eq(out.p, want.p);
	buf_free(&in);
	buf_free(&out);
	buf_free(&want);
}
END_TEST

START_TEST(test_mbox_quote_at_chunk_boundary)
{
	struct buf	in = { 0 }, out = { 0 };
	size_t		pad;
	int		k;

	/* msg_write_mbox() reads the body 64 KiB at a time: a "From "
	 * line split over two reads is quoted too */
	for (k = -8; k <= 8; k++) {
		buf_reset(&in);
		buf_reset(&out);
		buf_adds(&in, "To: a\n\n");
		/* stored with CRLF: the line "x...x" takes pad + 2 octets */
		pad = 65536 - 2 + (size_t)k;
		while (pad-- > 0)
			buf_addc(&in, 'x');
		buf_adds(&in, "\nFrom split\n>From split\n");
		mbox_of(in.p, in.len, &out);
		ck_assert_msg(strstr(out.p, "x\n>From split\n>>From split\n\n")
		    != NULL, "offset %d", k);
	}
	buf_free(&in);
	buf_free(&out);
}
END_TEST

struct writer {
	int		 fd;
	util_stop_t	*stop;
	size_t		 lines;
};

/* Write many lines, then raise the stop flag, then a little more: the
 * reader notices the signal somewhere in the last 64 KiB. */
static void *
writer_main(void *arg)
{
	struct writer	*w = arg;
	char		 line[64];
	size_t		 i;
	int		 n;

	for (i = 0; i < w->lines; i++) {
		n = snprintf(line, sizeof(line), "line %zu of the body\n", i);
		if (write(w->fd, line, (size_t)n) != n)
			break;
	}
	*w->stop = SIGTERM;
	if (write(w->fd, "tail without newline", 20) != 20)
		return NULL;
	close(w->fd);
	return NULL;
}

START_TEST(test_read_stopped_keeps_what_was_read)
{
	struct msg	 m;
	struct fail	 f;
	struct writer	 w;
	struct buf	 in = { 0 }, got = { 0 }, want = { 0 };
	util_stop_t	 stop = 0;
	pthread_t	 t;
	int		 p[2];
	size_t		 i, hlen = 7;

	/* 600 KB: past MSG_MEM_MAX, so part of it is in the spool and
	 * part still in memory when the signal comes */
	ck_assert_int_eq(pipe(p), 0);
	w.fd = p[1];
	w.stop = &stop;
	w.lines = 30000;
	ck_assert_int_eq(write(p[1], "To: a\n\n", hlen), (ssize_t)hlen);
	ck_assert_int_eq(pthread_create(&t, NULL, writer_main, &w), 0);
	msg_init(&m);
	m.stop = &stop;
	ck_assert_int_eq(msg_read(&m, p[0], 0, &f), -1);
	ck_assert_int_eq(f.ex, EX_TEMPFAIL);
	ck_assert(f.noretry);
	ck_assert_ptr_nonnull(strstr(f.msg, "signal 15"));
	pthread_join(t, NULL);
	close(p[0]);
	ck_assert_int_ne(m.fd, -1);
	/* every octet read is in the body, the last line ended */
	for (i = 0; i < w.lines; i++)
		buf_addf(&in, "line %zu of the body\n", i);
	buf_adds(&in, "tail without newline");
	ck_assert_uint_gt(m.inbytes, hlen + MSG_MEM_MAX);
	for (i = 0; i < m.inbytes - hlen; i++) {
		if (in.p[i] == '\n')
			buf_addc(&want, '\r');
		buf_addc(&want, in.p[i]);
	}
	if (in.p[i - 1] != '\n')
		buf_adds(&want, "\r\n");
	buf_add(&want, "", 0);
	tu_body(&m, &got);
	ck_assert_uint_eq(m.bodylen, want.len);
	ck_assert_uint_eq(got.len, want.len);
	ck_assert(memcmp(got.p, want.p, want.len) == 0);
	msg_free(&m);
	buf_free(&in);
	buf_free(&got);
	buf_free(&want);
}
END_TEST

Suite *
msg_suite(void)
{
	Suite	*s = suite_create("msg");
	TCase	*tc = tcase_create("read");

	tcase_add_test(tc, test_line_endings);
	tcase_add_test(tc, test_crlf_headers_lf_body);
	tcase_add_test(tc, test_dots_pipe);
	tcase_add_test(tc, test_dots_terminal);
	tcase_add_test(tc, test_folding);
	tcase_add_test(tc, test_no_separator);
	tcase_add_test(tc, test_mbox_from_line);
	tcase_add_test(tc, test_empty_and_flags);
	tcase_add_test(tc, test_nul_kept);
	tcase_add_test(tc, test_spool);
	tcase_add_test(tc, test_mbox);
	tcase_add_test(tc, test_feed_chunks);
	tcase_add_test(tc, test_mbox_quote_depth);
	tcase_add_test(tc, test_mbox_quote_at_chunk_boundary);
	tcase_add_test(tc, test_read_stopped_keeps_what_was_read);
	suite_add_tcase(s, tc);
	return s;
}
