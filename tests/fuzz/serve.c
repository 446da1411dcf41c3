/*
 * libFuzzer harness for serve.c, the -bs SMTP server dialogue: the
 * command parser and the byte-fed state machine with its DATA reader,
 * delivering to a callback (no relay, no I/O).
 *
 * First octet: bit 0 picks the mode, the rest the size of the pieces
 * the input is fed in and what the delivery answers.
 *   session  the input is what the client says.  Properties: fed
 *            whole or in pieces the replies and the messages delivered
 *            are the same; every reply is a CRLF line "ddd " or "ddd-"
 *            of printable ASCII; an envelope handed on holds a sender
 *            and 1..SERVE_RCPT_MAX "<mailbox>" recipients that pass
 *            addr_check_path; a message handed on is CRLF lines.
 *   trip     the input is a message.  Read as relaymail reads stdin,
 *            written out with CRLF, dot-stuffed by smtp_dotstuff (the
 *            client side) and sent through DATA in pieces, it arrives
 *            as the same message: dot-stuffing then unstuffing gives
 *            back the normalised input (RFC 5321 §4.5.2).
 *
 *   make fuzz && .fuzz/serve tests/fuzz/corpus/serve
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "msg.h"
#include "serve.h"
#include "smtp.h"
#include "util.h"

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", \
	__FILE__, __LINE__, #c); abort(); } } while (0)

struct sink {
	struct buf	 log;		/* envelopes and messages, in order */
	const struct msg *want;		/* trip: the message expected */
	int		 calls;
	int		 fail_ex;	/* 0: accept */
};

/* A message as text: fields, CRLF, empty line, body. */
static void
msg_text(const struct msg *m, struct buf *b)
{
	char		 chunk[8192];
	unsigned long long off = 0;
	ssize_t		 r;
	struct fail	 f;
	size_t		 i;

	for (i = 0; i < m->hn; i++) {
		CHECK(buf_add(b, m->hv[i].text, m->hv[i].len) == 0);
		CHECK(buf_add(b, "\r\n", 2) == 0);
	}
	CHECK(buf_add(b, "\r\n", 2) == 0);
	while ((r = msg_body_read(m, off, chunk, sizeof(chunk), &f)) > 0) {
		CHECK(buf_add(b, chunk, (size_t)r) == 0);
		off += (unsigned long long)r;
	}
	CHECK(r == 0);
}

static void
check_path(const char *p)
{
	struct fail	f;

	CHECK(strpbrk(p, "\r\n") == NULL);
	CHECK(*p == '\0' || addr_check_path(p, &f) == 0);
}

static int
deliver(void *arg, struct msg *m, const struct serve_env *e, struct fail *f)
{
	struct sink	*k = arg;
	struct buf	 t = { 0 }, w = { 0 };
	size_t		 i, n;

	k->calls++;
	check_path(e->sender);
	CHECK(e->nrcpt >= 1 && e->nrcpt <= SERVE_RCPT_MAX);
	CHECK(buf_addf(&k->log, "MAIL <%s> %d\n", e->sender,
	    e->body8bit) == 0);
	for (i = 0; i < e->nrcpt; i++) {
		n = strlen(e->rcpt[i]);
		CHECK(n >= 3 && e->rcpt[i][0] == '<' &&
		    e->rcpt[i][n - 1] == '>');
		CHECK(buf_add(&w, e->rcpt[i] + 1, n - 2) == 0);
		check_path(w.p);
		buf_reset(&w);
		CHECK(buf_addf(&k->log, "RCPT %s\n", e->rcpt[i]) == 0);
	}
	msg_text(m, &t);
	for (i = 0; i < t.len; i++)
		CHECK(t.p[i] != '\r' ? t.p[i] != '\n' || (i > 0 &&
		    t.p[i - 1] == '\r') : i + 1 < t.len && t.p[i + 1] == '\n');
	if (k->want != NULL) {
		msg_text(k->want, &w);
		CHECK(w.len == t.len && memcmp(w.p, t.p, t.len) == 0);
		CHECK(m->body8bit == k->want->body8bit &&
		    m->bodynul == k->want->bodynul &&
		    m->maxline == k->want->maxline);
	}
	CHECK(buf_add(&k->log, t.p, t.len) == 0);
	buf_free(&t);
	buf_free(&w);
	if (k->fail_ex == 0 || k->calls % 2 == 0)
		return 0;
	fail_set(f, k->fail_ex, "refused \x1b[1m\r\nINJECTED: by the test");
	snprintf(f->reply, sizeof(f->reply), "550 5.7.1 no\r\n250 ok");
	return -1;
}

/* Replies: CRLF lines "ddd" then ' ' or '-', printable ASCII. */
static void
check_replies(const struct buf *o)
{
	size_t	i = 0, j;

	while (i < o->len) {
		for (j = i; j < o->len && o->p[j] != '\r'; j++)
			CHECK((unsigned char)o->p[j] >= 0x20 &&
			    (unsigned char)o->p[j] < 0x7f);
		CHECK(j + 1 < o->len && o->p[j + 1] == '\n');
		CHECK(j - i >= 4 && j - i <= 510);
		CHECK(o->p[i] >= '2' && o->p[i] <= '5');
		CHECK(o->p[i + 3] == ' ' || o->p[i + 3] == '-');
		i = j + 2;
	}
}

/* Run a session over in, fed piece octets at a time (0: at once). */
static void
session(struct sink *k, const char *in, size_t n, size_t piece,
    struct buf *out)
{
	struct serve_conf sc = { 0 };
	struct serve	*s;
	struct fail	 f;
	struct buf	*o;
	size_t		 i, c;

	sc.hostname = "mx.test";
	sc.deliver = deliver;
	sc.arg = k;
	CHECK((s = serve_new(&sc, &f)) != NULL);
	for (i = 0; i < n; i += c) {
		c = piece == 0 || piece > n - i ? n - i : piece;
		CHECK(serve_feed(s, in + i, c, &f) == 0);
		o = serve_output(s);
		CHECK(buf_add(out, o->p != NULL ? o->p : "", o->len) == 0);
		buf_reset(o);
	}
	if (serve_end(s, &f) == -1)
		CHECK(f.ex == 75 /* EX_TEMPFAIL */ && !serve_done(s));
	serve_free(s);
}

static void
fuzz_session(const uint8_t *p, size_t n, int opt)
{
	static const int fails[] = { 0, 65, 67, 69, 75, 77, 78, 70 };
	struct sink	 a = { 0 }, b = { 0 };
	struct buf	 oa = { 0 }, ob = { 0 };

	a.fail_ex = b.fail_ex = fails[(opt >> 1) & 7];
	session(&a, (const char *)p, n, 0, &oa);
	session(&b, (const char *)p, n, 1 + (opt >> 4), &ob);
	check_replies(&oa);
	CHECK(oa.len == ob.len && (oa.len == 0 ||
	    memcmp(oa.p, ob.p, oa.len) == 0));
	CHECK(a.calls == b.calls);
	CHECK(a.log.len == b.log.len && (a.log.len == 0 ||
	    memcmp(a.log.p, b.log.p, a.log.len) == 0));
	buf_free(&oa);
	buf_free(&ob);
	buf_free(&a.log);
	buf_free(&b.log);
}

static int
to_buf(void *arg, const char *p, size_t n, struct fail *f)
{
	(void)f;
	return buf_add(arg, p, n);
}

static void
fuzz_trip(const uint8_t *p, size_t n, int opt)
{
	static const char env[] = "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nDATA\r\n";
	struct msg_feed	 r;
	struct msg	 m;
	struct sink	 k = { 0 };
	struct buf	 t = { 0 }, in = { 0 }, out = { 0 };
	struct fail	 f;
	int		 bol = 1;

	msg_init(&m);
	msg_feed_init(&r, &m, 0);
	CHECK(msg_feed(&r, p, n, &f) == 0 && msg_feed_end(&r, &f) == 0);
	msg_text(&m, &t);
	CHECK(buf_adds(&in, env) == 0);
	CHECK(smtp_dotstuff(t.p, t.len, &bol, to_buf, &in, &f) == 0);
	CHECK(bol);
	CHECK(buf_adds(&in, ".\r\nQUIT\r\n") == 0);
	k.want = &m;
	session(&k, in.p, in.len, 1 + (opt >> 1), &out);
	CHECK(k.calls == 1);
	CHECK(out.len > 17 && memcmp(out.p + out.len - 17,
	    "\r\n221 2.0.0 Bye\r\n", 17) == 0);
	msg_free(&m);
	buf_free(&t);
	buf_free(&in);
	buf_free(&out);
	buf_free(&k.log);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_trip(data + 1, size - 1, data[0]);
	else
		fuzz_session(data + 1, size - 1, data[0]);
	return 0;
}
