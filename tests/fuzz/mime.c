/*
 * libFuzzer harness for mime.c: the MIME walker and converter, the
 * header-field encoder and the codecs, with the properties each must
 * keep (SPEC §2.4), not just "does not crash".
 *
 * The first input octet picks what is fuzzed and with which server
 * capabilities; the rest is the data.
 *   0, 3  a message through msg_read() and mime_prepare()/mime_read():
 *         SIZE= exact; CRLF lines of at most 998 octets, no NUL, 7-bit
 *         unless 8BITMIME/SMTPUTF8 allow it; converting the result again
 *         changes nothing (but see fuzz_message); a non-MIME body
 *         decodes back to the input.
 *   1     codecs: QP and base64 round trips, fed in pieces; the mending
 *         encoders keep what a lenient decoder sees.
 *   2     one header field through mime_field(): 7-bit, lines within
 *         998 octets, unstructured text decodes back to the input.
 *
 *   make fuzz && .fuzz/mime tests/fuzz/corpus/mime
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mime.h"
#include "msg.h"
#include "util.h"

#define CHECK(c)	do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", \
	__FILE__, __LINE__, #c); abort(); } } while (0)

static int	memfd = -1;

/* Read data as stdin would deliver it. */
static int
read_msg(struct msg *m, const uint8_t *p, size_t n)
{
	struct fail	f;

	if (memfd == -1)
		memfd = memfd_create("fuzz", 0);
	CHECK(memfd != -1);
	CHECK(ftruncate(memfd, 0) == 0);
	CHECK(pwrite(memfd, p, n, 0) == (ssize_t)n);
	CHECK(lseek(memfd, 0, SEEK_SET) == 0);
	msg_init(m);
	return msg_read(m, memfd, 0, &f);
}

/* The header as header.c would hand it over: fields, CRLF, empty line. */
static void
header_of(const struct msg *m, struct buf *h)
{
	size_t	i;

	for (i = 0; i < m->hn; i++) {
		buf_add(h, m->hv[i].text, m->hv[i].len);
		buf_add(h, "\r\n", 2);
	}
	buf_add(h, "\r\n", 2);
}

/* Every line CRLF-terminated, at most 998 octets; no NUL; 7-bit
 * unless allowed. */
static void
check_wire(const char *p, size_t n, int allow8)
{
	size_t	i, col = 0;

	CHECK(n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n');
	for (i = 0; i < n; i++) {
		CHECK(p[i] != '\0');
		CHECK(allow8 || !((unsigned char)p[i] & 0x80));
		if (p[i] == '\r') {
			CHECK(i + 1 < n && p[i + 1] == '\n');
			continue;
		}
		if (p[i] == '\n') {
			CHECK(i > 0 && p[i - 1] == '\r');
			col = 0;
			continue;
		}
		CHECK(++col <= 998);
	}
}

static int
has_field(const struct msg *m, const char *name)
{
	size_t	i;

	for (i = 0; i < m->hn; i++)
		if (msg_field_is(&m->hv[i], name))
			return 1;
	return 0;
}

static int
header_has_nul(const struct msg *m)
{
	size_t	i;

	for (i = 0; i < m->hn; i++)
		if (memchr(m->hv[i].text, '\0', m->hv[i].len) != NULL)
			return 1;
	return 0;
}

/* Convert m; 0 with the result in out, -1 when refused. */
static int
convert(const struct msg *m, const struct mime_caps *c, size_t piece,
    struct buf *out, struct mime_plan *p)
{
	struct buf	 h = { 0 };
	struct fail	 f;
	struct mime	*mx;
	char		 b[4096];
	ssize_t		 r;
	int		 ret = -1;

	header_of(m, &h);
	CHECK((mx = mime_open(h.p, h.len, m, &f)) != NULL);
	if (mime_prepare(mx, c, p, &f) == -1) {
		/* only bad input may be refused, never with a "bug" */
		CHECK(f.ex != 70 /* EX_SOFTWARE */);
		goto out;
	}
	while ((r = mime_read(mx, b, piece, &f)) > 0)
		buf_add(out, b, (size_t)r);
	CHECK(r == 0);
	CHECK(out->len == p->size);
	ret = 0;
out:
	mime_close(mx);
	buf_free(&h);
	return ret;
}

/* A non-MIME text body that was converted decodes to what was read. */
static void
check_plain_body(const struct msg *in, const char *o, size_t on)
{
	struct buf	 body = { 0 }, dec = { 0 };
	const char	*sep = memcmp(o, "\r\n", 2) == 0 ? NULL :
			    memmem(o, on, "\r\n\r\n", 4);
	char		 chunk[4096];
	unsigned long long off = 0;
	ssize_t		 r;
	struct fail	 f;

	sep = sep != NULL ? sep + 4 : o + 2;	/* no fields: "\r\n" */
	while ((r = msg_body_read(in, off, chunk, sizeof(chunk), &f)) > 0) {
		buf_add(&body, chunk, (size_t)r);
		off += (unsigned long long)r;
	}
	if (memmem(o, (size_t)(sep - o), "\nContent-Transfer-Encoding: "
	    "quoted-printable\r\n", 46) != NULL) {
		mime_qp_decode(sep, on - (size_t)(sep - o), &dec);
		CHECK(dec.len == body.len && (dec.len == 0 ||
		    memcmp(dec.p, body.p, dec.len) == 0));
	} else
		CHECK(on - (size_t)(sep - o) == body.len && (body.len == 0 ||
		    memcmp(sep, body.p, body.len) == 0));
	buf_free(&body);
	buf_free(&dec);
}

static void
fuzz_message(const uint8_t *p, size_t n, int caps)
{
	struct mime_caps c = { 0 };
	struct mime_plan pl, pl2;
	struct msg	 m, m2;
	struct buf	 out = { 0 }, out2 = { 0 };
	size_t		 piece = n > 0 ? 1 + p[n - 1] * 16 : 4096;

	c.eightbit = caps & 1;
	c.smtputf8 = (caps & 2) != 0;
	c.env8bit = (caps & 4) != 0;
	if (read_msg(&m, p, n) == -1 ||
	    convert(&m, &c, piece, &out, &pl) == -1)
		goto out;
	check_wire(out.p, out.len, c.eightbit || pl.smtputf8);
	if (!has_field(&m, "Content-Type") && !has_field(&m, "MIME-Version") &&
	    !has_field(&m, "Content-Transfer-Encoding"))
		check_plain_body(&m, out.p, out.len);
	/* what relaymail sends is fit to send: nothing changes again --
	 * unless SMTPUTF8 was chosen for a non-ASCII address that held a
	 * NUL: encoding the NUL hid the address from the second look */
	if (pl.smtputf8 && header_has_nul(&m))
		goto out;
	msg_free(&m);
	CHECK(read_msg(&m2, (const uint8_t *)out.p, out.len) == 0);
	CHECK(convert(&m2, &c, 4096, &out2, &pl2) == 0);
	CHECK(!pl2.converted);
	CHECK(out2.len == out.len && memcmp(out2.p, out.p, out.len) == 0);
	msg_free(&m2);
	buf_free(&out);
	buf_free(&out2);
	return;
out:
	msg_free(&m);
	buf_free(&out);
}

/* Encode s[0..n) with a streaming encoder, in pieces cut by cuts. */
static void
enc_pieces(int kind, const uint8_t *s, size_t n, struct buf *out)
{
	struct mime_enc	e;
	size_t		i = 0, k;

	mime_enc_init(&e, kind);
	while (i < n) {
		k = 1 + s[i] % 97;
		if (k > n - i)
			k = n - i;
		CHECK(mime_enc_put(&e, (const char *)s + i, k, out) == 0);
		i += k;
	}
	CHECK(mime_enc_end(&e, out) == 0);
}

static void
check_lines(const struct buf *b, size_t max)
{
	size_t	i, col = 0;

	for (i = 0; i < b->len; i++) {
		CHECK(!((unsigned char)b->p[i] & 0x80) && b->p[i] != '\0');
		col = b->p[i] == '\n' ? 0 : col + (b->p[i] != '\r');
		CHECK(col <= max);
	}
}

/* Encoded-words: 7-bit, at most 75 octets each (RFC 2047 §2). */
static void
check_words(const struct buf *b)
{
	size_t	i, w = 0;

	for (i = 0; i < b->len; i++) {
		CHECK(b->p[i] > 32 && b->p[i] < 127 || b->p[i] == ' ');
		w = b->p[i] == ' ' ? 0 : w + 1;
		CHECK(w <= 75);
	}
}

static void
same(const struct buf *a, const struct buf *b)
{
	CHECK(a->len == b->len && (a->len == 0 ||
	    memcmp(a->p, b->p, a->len) == 0));
}

static void
fuzz_codecs(const uint8_t *p, size_t n)
{
	struct buf	in = { 0 }, e = { 0 }, d = { 0 }, d2 = { 0 };

	buf_add(&in, p, n);
	enc_pieces(MIME_ENC_QP, p, n, &e);
	check_lines(&e, 76);
	mime_qp_decode(e.p, e.len, &d);
	same(&d, &in);
	buf_reset(&e);
	buf_reset(&d);
	enc_pieces(MIME_ENC_BASE64, p, n, &e);
	check_lines(&e, 76);
	mime_base64_decode(e.p, e.len, &d);
	same(&d, &in);
	buf_reset(&e);
	buf_reset(&d);
	enc_pieces(MIME_ENC_QPFIX, p, n, &e);
	check_lines(&e, 76);
	mime_qp_decode(e.p, e.len, &d);
	mime_qp_decode((const char *)p, n, &d2);
	same(&d, &d2);
	buf_reset(&e);
	buf_reset(&d);
	buf_reset(&d2);
	enc_pieces(MIME_ENC_B64FIX, p, n, &e);
	check_lines(&e, 76);
	mime_base64_decode(e.p, e.len, &d);
	mime_base64_decode((const char *)p, n, &d2);
	same(&d, &d2);
	buf_reset(&e);
	buf_reset(&d);
	CHECK(mime_encode_text((const char *)p, n, &e) == 0);
	check_words(&e);
	mime_decode_words(e.p, e.len, &d);
	same(&d, &in);
	buf_free(&in);
	buf_free(&e);
	buf_free(&d);
	buf_free(&d2);
}

static void
fuzz_field(const uint8_t *p, size_t n)
{
	static const char *const names[] = { "Subject", "To", "From",
	    "Content-Type", "Content-Disposition", "Message-ID", "Comments",
	    "X-Cron-Env" };
	struct buf	 in = { 0 }, out = { 0 }, u = { 0 }, d = { 0 };
	struct fail	 f;
	const char	*name;
	size_t		 i, k;

	if (n == 0)
		return;
	name = names[p[0] % (sizeof(names) / sizeof(names[0]))];
	buf_addf(&in, "%s:", name);
	k = in.len;
	for (i = 1; i < n; i++)	/* a field as msg.c keeps it */
		if (p[i] != '\r' && p[i] != '\n')
			buf_addc(&in, p[i]);
	if (mime_field(in.p, in.len, p[0] & 0x80, &out, &f) == -1) {
		CHECK(f.ex == 65 /* EX_DATAERR */);
		goto out;
	}
	for (i = 0; i + 1 < out.len; i++)
		CHECK(out.p[i] != '\r' || (out.p[i + 1] == '\n' &&
		    (i + 2 == out.len || out.p[i + 2] == ' ' ||
		    out.p[i + 2] == '\t')));
	buf_reset(&u);
	for (i = 0; i < out.len; i++)
		if (out.p[i] != '\r' && out.p[i] != '\n')
			buf_addc(&u, out.p[i]);
	if (!(p[0] & 0x80)) {	/* 8-bit may stay, NUL may not */
		CHECK(memchr(out.p, '\0', out.len) == NULL);
		for (i = 0, k = 0; i < out.len; i++) {
			k = out.p[i] == '\n' ? 0 : k + (out.p[i] != '\r');
			CHECK(k <= 998);
		}
		goto out;
	}
	check_lines(&out, 998);
	if (strcmp(name, "Subject") != 0 && strcmp(name, "Comments") != 0 &&
	    strcmp(name, "X-Cron-Env") != 0)
		goto out;
	if (memmem(in.p + k, in.len - k, "=?", 2) != NULL)
		goto out;
	mime_decode_words(u.p + k, u.len - k, &d);
	CHECK(d.len == in.len - k && (d.len == 0 ||
	    memcmp(d.p, in.p + k, d.len) == 0));
out:
	buf_free(&in);
	buf_free(&out);
	buf_free(&u);
	buf_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] & 3) {
	case 1:
		fuzz_codecs(data + 1, size - 1);
		break;
	case 2:
		fuzz_field(data + 1, size - 1);
		break;
	default:
		fuzz_message(data + 1, size - 1, data[0] >> 2);
	}
	return 0;
}
