/*
 * libFuzzer harness for msg.c and header.c: reading a message from any
 * bytes (msg_feed*), the header fix-ups and -t (header_fixup, with fixed
 * time and randomness), and the mbox copy kept in dead.letter.
 *
 * The first octet holds options, the second the size of the pieces the
 * input is fed in; the rest is the message.  Properties:
 *   - pieces do not matter: fed whole or cut anywhere (a CR and its LF
 *     split, a header line split) the message read is the same;
 *   - nothing is lost: the octets read, line endings aside, are the
 *     octets of the input (less a leading mbox "From " line, and what a
 *     lone "." cut off with dot_ends);
 *   - the body is CRLF lines, bodylen/body8bit/bodynul/maxline exact;
 *     a field's only line breaks are folds (CRLF then a blank);
 *   - dead.letter: the mbox copy, with one '>' taken off each
 *     />+From / line, is the header, an empty line and the body;
 *   - the fixed-up header ends with its one empty line, every line
 *     CRLF, no Bcc, Resent-Bcc or Return-Path, Date, Message-ID and From
 *     present; read back and fixed up again it gains only a Received
 *     line (the fix-ups are idempotent);
 *   - -t fails only with EX_DATAERR.
 *
 *   make fuzz && .fuzz/msg tests/fuzz/corpus/msg
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "header.h"
#include "msg.h"
#include "util.h"

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", \
	__FILE__, __LINE__, #c); abort(); } } while (0)

enum {
	O_EXTRACT = 1 << 0,	/* -t */
	O_REWRITE = 1 << 1,	/* rewrite_from = always */
	O_DOT = 1 << 2,		/* a lone "." ends it (a terminal) */
	O_NAME8 = 1 << 3,	/* an 8-bit full name with specials */
};

static const unsigned char rnd[HEADER_RND_LEN] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("TZ", "UTC0", 1);
	tzset();
	return 0;
}

/* Feed p[0..n) in pieces of 1 + piece octets (0: all at once). */
static int
read_pieces(struct msg *m, const uint8_t *p, size_t n, int dot, size_t piece)
{
	struct msg_feed	r;
	struct fail	f;
	size_t		i, k;

	msg_init(m);
	msg_feed_init(&r, m, dot);
	for (i = 0; i < n; i += k) {
		k = piece == 0 ? n - i : piece;
		if (k > n - i)
			k = n - i;
		if (msg_feed(&r, p + i, k, &f) == -1) {
			msg_feed_free(&r);
			return -1;
		}
	}
	return msg_feed_end(&r, &f);
}

static void
body_of(const struct msg *m, struct buf *b)
{
	char		 chunk[8192];
	unsigned long long off = 0;
	ssize_t		 r;
	struct fail	 f;

	while ((r = msg_body_read(m, off, chunk, sizeof(chunk), &f)) > 0) {
		CHECK(buf_add(b, chunk, (size_t)r) == 0);
		off += (unsigned long long)r;
	}
	CHECK(r == 0 && off == m->bodylen);
}

static void
same_msg(const struct msg *a, const struct buf *ab, const struct msg *b)
{
	struct buf	bb = { 0 };
	size_t		i;

	CHECK(a->hn == b->hn);
	for (i = 0; i < a->hn; i++)
		CHECK(a->hv[i].len == b->hv[i].len &&
		    memcmp(a->hv[i].text, b->hv[i].text, a->hv[i].len) == 0);
	body_of(b, &bb);
	CHECK(ab->len == bb.len && (ab->len == 0 ||
	    memcmp(ab->p, bb.p, ab->len) == 0));
	CHECK(a->body8bit == b->body8bit && a->bodynul == b->bodynul &&
	    a->maxline == b->maxline && a->hdr_overflow == b->hdr_overflow);
	buf_free(&bb);
}

/* CRLF lines; the flags say exactly what is there. */
static void
check_body(const struct msg *m, const struct buf *b)
{
	size_t	i, col = 0, maxl = 0;
	int	hi = 0, nul = 0;

	CHECK(b->len == 0 || (b->len >= 2 && b->p[b->len - 1] == '\n'));
	for (i = 0; i < b->len; i++) {
		if (b->p[i] == '\r') {
			CHECK(i + 1 < b->len && b->p[i + 1] == '\n');
			continue;
		}
		if (b->p[i] == '\n') {
			CHECK(i > 0 && b->p[i - 1] == '\r');
			col = 0;
			continue;
		}
		hi |= (b->p[i] & 0x80) != 0;
		nul |= b->p[i] == '\0';
		if (++col > maxl)
			maxl = col;
	}
	CHECK(m->body8bit == hi && m->bodynul == nul);
	CHECK(m->maxline == maxl);
}

static void
check_fields(const struct msg *m)
{
	size_t	i, j;

	for (i = 0; i < m->hn; i++) {
		const struct msg_field *fl = &m->hv[i];

		CHECK(fl->len > 0 && memchr(fl->text, ':', fl->len) != NULL);
		CHECK(fl->text[0] != ' ' && fl->text[0] != '\t');
		for (j = 0; j < fl->len; j++) {
			if (fl->text[j] == '\r')
				CHECK(j + 2 < fl->len &&
				    fl->text[j + 1] == '\n' &&
				    (fl->text[j + 2] == ' ' ||
				    fl->text[j + 2] == '\t'));
			else if (fl->text[j] == '\n')
				CHECK(j > 0 && fl->text[j - 1] == '\r');
		}
	}
}

static void
add_no_eol(struct buf *b, const char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] != '\r' && p[i] != '\n')
			CHECK(buf_addc(b, p[i]) == 0);
}

/* The octets kept, line endings aside, are the octets given. */
static void
check_nothing_lost(const struct msg *m, const struct buf *body,
    const uint8_t *p, size_t n, int dot)
{
	struct buf	in = { 0 }, kept = { 0 };
	size_t		i, skip = 0;

	if (n >= 5 && memcmp(p, "From ", 5) == 0)
		while (skip < n && p[skip] != '\r' && p[skip] != '\n')
			skip++;
	add_no_eol(&in, (const char *)p + skip, n - skip);
	for (i = 0; i < m->hn; i++)
		add_no_eol(&kept, m->hv[i].text, m->hv[i].len);
	add_no_eol(&kept, body->p, body->len);
	if (dot)	/* a lone "." may have ended it early */
		CHECK(kept.len <= in.len && (kept.len == 0 ||
		    memcmp(kept.p, in.p, kept.len) == 0));
	else
		CHECK(kept.len == in.len && (in.len == 0 ||
		    memcmp(kept.p, in.p, in.len) == 0));
	buf_free(&in);
	buf_free(&kept);
}

/* dead.letter: mboxrd back to the message. */
static void
check_mbox(const struct msg *m, const struct buf *body)
{
	struct buf	 want = { 0 }, got = { 0 };
	struct fail	 f;
	const char	*s, *e, *nl, *q;
	int		 fd;
	size_t		 i;
	off_t		 sz;

	CHECK((fd = memfd_create("mbox", 0)) != -1);
	CHECK(msg_write_mbox(m, fd, "a@example.org", 1795341600, NULL,
	    &f) == 0);
	CHECK((sz = lseek(fd, 0, SEEK_END)) > 0);
	CHECK(buf_reserve(&got, (size_t)sz) == 0);
	CHECK(pread(fd, got.p, (size_t)sz, 0) == sz);
	got.len = (size_t)sz;
	close(fd);
	for (i = 0; i < m->hn; i++) {
		const struct msg_field *fl = &m->hv[i];
		size_t	j;

		for (j = 0; j < fl->len; j++)
			if (fl->text[j] != '\r')
				CHECK(buf_addc(&want, fl->text[j]) == 0);
		CHECK(buf_addc(&want, '\n') == 0);
	}
	CHECK(buf_addc(&want, '\n') == 0);
	for (i = 0; i < body->len; i++)
		if (body->p[i] != '\r')
			CHECK(buf_addc(&want, body->p[i]) == 0);
	CHECK(buf_addc(&want, '\n') == 0);
	/* skip the "From " line, then unquote line by line */
	s = memchr(got.p, '\n', got.len);
	CHECK(s != NULL && memcmp(got.p, "From a@example.org ", 19) == 0);
	s++;
	e = got.p + got.len;
	i = 0;
	for (; s < e; s = nl + 1) {
		nl = memchr(s, '\n', (size_t)(e - s));
		CHECK(nl != NULL);
		for (q = s; q < nl && *q == '>'; q++)
			;
		if (q > s && nl - q >= 5 && memcmp(q, "From ", 5) == 0)
			s++;
		CHECK(i + (size_t)(nl + 1 - s) <= want.len);
		CHECK(memcmp(want.p + i, s, (size_t)(nl + 1 - s)) == 0);
		i += (size_t)(nl + 1 - s);
	}
	CHECK(i == want.len);
	buf_free(&want);
	buf_free(&got);
}

static void
ctx_init(struct header_ctx *c, int opts)
{
	memset(c, 0, sizeof(*c));
	c->now = 1795341600;	/* 2026-11-22 10:00:00 UTC */
	c->rnd = rnd;
	c->fqdn = "host.example.org";
	c->domain = "example.org";
	c->user = "alice";
	c->fullname = (opts & O_NAME8) ? "J\xc3\xb6rg \"the\" (x)\r\nBcc: y" :
	    "Alice Example";
	c->uid = 1000;
	c->extract = (opts & O_EXTRACT) != 0;
	c->rewrite_from = (opts & O_REWRITE) != 0;
	c->from_addr = (opts & O_REWRITE) ? "alerts@example.com" : NULL;
}

static int
count_fields(const struct msg *m, const char *name)
{
	size_t	i;
	int	k = 0;

	for (i = 0; i < m->hn; i++)
		k += msg_field_is(&m->hv[i], name);
	return k;
}

/* The fixed-up header: well formed, and a fixed point but Received. */
static void
check_fixup(const struct msg *m, int opts)
{
	static const char *const never[] = { "Bcc", "Resent-Bcc",
	    "Return-Path" };
	static const char *const always[] = { "Date", "Message-ID", "From",
	    "Received" };
	struct header_ctx c;
	struct addrlist	 r = { 0 }, r2 = { 0 };
	struct buf	 out = { 0 }, out2 = { 0 };
	struct fail	 f;
	struct msg	 m2;
	size_t		 i;

	ctx_init(&c, opts);
	if (header_fixup(m, &c, &out, &r, &f) == -1) {
		CHECK(c.extract && f.ex == 65 /* EX_DATAERR */);
		goto out;
	}
	CHECK(out.len >= 4 && memcmp(out.p + out.len - 4, "\r\n\r\n", 4) == 0);
	CHECK(memmem(out.p, out.len - 2, "\r\n\r\n", 4) == NULL);
	for (i = 0; i < r.n; i++)
		CHECK(r.v[i].spec[0] != '\0');
	CHECK(read_pieces(&m2, (const uint8_t *)out.p, out.len, 0, 0) == 0);
	CHECK(m2.bodylen == 0);
	check_fields(&m2);
	/* every line of out is a field or a fold of one */
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		CHECK(count_fields(&m2, never[i]) == 0);
	for (i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		CHECK(count_fields(&m2, always[i]) >= 1);
	if (count_fields(m, "Date") == 0)
		CHECK(count_fields(&m2, "Date") == 1);
	if (count_fields(m, "Message-ID") == 0)
		CHECK(count_fields(&m2, "Message-ID") == 1);
	ctx_init(&c, opts & ~O_EXTRACT);
	CHECK(header_fixup(&m2, &c, &out2, &r2, &f) == 0);
	i = strlen("Received: by host.example.org (relaymail, from userid "
	    "1000);\r\n\tSun, 22 Nov 2026 10:00:00 +0000\r\n");
	CHECK(out2.len == out.len + i);
	CHECK(memcmp(out2.p + i, out.p, out.len) == 0);
	msg_free(&m2);
out:
	addrlist_free(&r);
	addrlist_free(&r2);
	buf_free(&out);
	buf_free(&out2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg	 m, m2;
	struct buf	 body = { 0 };
	int		 opts, dot;
	size_t		 piece;

	if (size < 2)
		return 0;
	opts = data[0];
	piece = data[1] % 17;
	dot = (opts & O_DOT) != 0;
	data += 2;
	size -= 2;
	CHECK(read_pieces(&m, data, size, dot, 0) == 0);
	body_of(&m, &body);
	check_body(&m, &body);
	check_fields(&m);
	check_nothing_lost(&m, &body, data, size, dot);
	CHECK(read_pieces(&m2, data, size, dot, 1 + piece) == 0);
	same_msg(&m, &body, &m2);
	msg_free(&m2);
	check_mbox(&m, &body);
	check_fixup(&m, opts);
	msg_free(&m);
	buf_free(&body);
	return 0;
}
