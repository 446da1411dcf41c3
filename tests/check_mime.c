/*
 * mime.c: the codecs with RFC 2045/2047/4648 examples and round trips,
 * header re-encoding, and message conversion for servers with and
 * without 8BITMIME and SMTPUTF8 (SPEC §2.4), exact to the octet.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "mime.h"
#include "msg.h"
#include "testutil.h"
#include "util.h"

/* ------------------------------------------------------------ helpers */

/* A small deterministic generator: the round trips see the same data
 * on every run. */
static uint32_t
rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
rnd_fill(uint32_t *s, char *p, size_t n, int alphabet)
{
	static const char text[] = "ab =\t.-\r\nFrom \xc3\xa9\xe2\x9c\x93";
	size_t	i;

	for (i = 0; i < n; i++)
		p[i] = alphabet ? text[rnd(s) % (sizeof(text) - 1)] :
		    (char)rnd(s);
}

/* Encode with a streaming encoder, fed in pieces of 1..n octets. */
static void
enc_pieces(int kind, const char *p, size_t n, uint32_t *s, struct buf *out)
{
	struct mime_enc	e;
	size_t		i = 0, k;

	mime_enc_init(&e, kind);
	while (i < n) {
		k = 1 + rnd(s) % 200;
		if (k > n - i)
			k = n - i;
		ck_assert_int_eq(mime_enc_put(&e, p + i, k, out), 0);
		i += k;
	}
	ck_assert_int_eq(mime_enc_end(&e, out), 0);
}

/* The longest line (octets, no CRLF) and whether all is 7-bit, no NUL. */
static size_t
longest(const char *p, size_t n, int *clean)
{
	size_t	i, col = 0, max = 0;

	*clean = 1;
	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] >= 0x80 || p[i] == '\0')
			*clean = 0;
		col = p[i] == '\n' ? 0 : col + (p[i] != '\r');
		max = col > max ? col : max;
	}
	return max;
}

static void
assert_mem(const struct buf *b, const char *p, size_t n)
{
	ck_assert_uint_eq(b->len, n);
	ck_assert(n == 0 || memcmp(b->p, p, n) == 0);
}

/*
 * Convert the message in (header, empty line, body) for a server with
 * caps, reading the result in small pieces.  Returns mime_prepare()'s
 * result; out holds the message, and its length is checked against the
 * SIZE= value.
 */
static int
convert_n(const char *in, size_t n, const struct mime_caps *c,
    struct buf *out, struct mime_plan *p, struct fail *f)
{
	const char	*sep = memmem(in, n, "\r\n\r\n", 4);
	size_t		 hl = sep != NULL ? (size_t)(sep - in) + 4 : n;
	struct mime	*mx;
	char		 piece[7];
	ssize_t		 r;
	int		 ret;

	mx = mime_open_mem(in, hl, in + hl, n - hl, f);
	ck_assert_ptr_nonnull(mx);
	if ((ret = mime_prepare(mx, c, p, f)) == 0) {
		while ((r = mime_read(mx, piece, sizeof(piece), f)) > 0)
			buf_add(out, piece, (size_t)r);
		ck_assert_int_eq(r, 0);
		ck_assert_uint_eq(out->len, p->size);
	}
	mime_close(mx);
	buf_add(out, "", 0);
	return ret;
}

static int
convert(const char *in, const struct mime_caps *c, struct buf *out,
    struct mime_plan *p, struct fail *f)
{
	return convert_n(in, strlen(in), c, out, p, f);
}

static const struct mime_caps c7 = { 0, 0, 0 };		/* no 8BITMIME */
static const struct mime_caps c8 = { 1, 0, 0 };		/* 8BITMIME */
static const struct mime_caps c8u = { 1, 1, 0 };	/* and SMTPUTF8 */

/* in may hold NUL: its length is n. */
static void
golden_n(const char *in, size_t n, const struct mime_caps *c,
    const char *want)
{
	struct buf	 out = { 0 };
	struct mime_plan p;
	struct fail	 f;

	ck_assert_int_eq(convert_n(in, n, c, &out, &p, &f), 0);
	ck_assert_str_eq(out.p, want);
	buf_free(&out);
}

static void
golden(const char *in, const struct mime_caps *c, const char *want)
{
	golden_n(in, strlen(in), c, want);
}

/* ------------------------------------------------------------ base64 */

/* RFC 4648 §10 test vectors. */
static const char *const b64vec[][2] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

START_TEST(test_base64_vectors)
{
	static const char junk[] = "Zm9v\r\nYm\xff" "Fy";
	struct buf	e = { 0 }, d = { 0 };
	size_t		i;

	for (i = 0; i < sizeof(b64vec) / sizeof(b64vec[0]); i++) {
		buf_reset(&e);
		buf_reset(&d);
		mime_base64((const unsigned char *)b64vec[i][0],
		    strlen(b64vec[i][0]), &e);
		buf_add(&e, "", 0);
		ck_assert_str_eq(e.p, b64vec[i][1]);
		mime_base64_decode(e.p, e.len, &d);
		assert_mem(&d, b64vec[i][0], strlen(b64vec[i][0]));
	}
	/* RFC 2045 §6.8: characters outside the alphabet are ignored */
	buf_reset(&d);
	mime_base64_decode(junk, sizeof(junk) - 1, &d);
	assert_mem(&d, "foobar", 6);
	buf_free(&e);
	buf_free(&d);
}
END_TEST

/* 76-character lines, CRLF between them and none at the end. */
START_TEST(test_base64_lines)
{
	struct buf	e = { 0 };
	uint32_t	s = 1;
	char		in[114];

	memset(in, 'x', sizeof(in));
	enc_pieces(MIME_ENC_BASE64, in, 57, &s, &e);
	ck_assert_uint_eq(e.len, 76);
	buf_reset(&e);
	enc_pieces(MIME_ENC_BASE64, in, 114, &s, &e);
	ck_assert_uint_eq(e.len, 76 + 2 + 76);
	ck_assert(memcmp(e.p + 76, "\r\n", 2) == 0);
	buf_free(&e);
}
END_TEST

START_TEST(test_base64_roundtrip)
{
	struct buf	in = { 0 }, e = { 0 }, d = { 0 };
	uint32_t	s = 42;
	size_t		n;
	int		clean;

	for (n = 0; n < 3000; n += 1 + n / 3) {
		buf_reset(&in);
		buf_reset(&e);
		buf_reset(&d);
		buf_reserve(&in, n);
		rnd_fill(&s, in.p, n, 0);
		in.len = n;
		enc_pieces(MIME_ENC_BASE64, in.p, n, &s, &e);
		ck_assert_uint_le(longest(e.p, e.len, &clean), 76);
		ck_assert(clean);
		mime_base64_decode(e.p, e.len, &d);
		assert_mem(&d, in.p, n);
	}
	buf_free(&in);
	buf_free(&e);
	buf_free(&d);
}
END_TEST

/* ------------------------------------------------- quoted-printable */

/* RFC 2045 §6.7, rule (5): the soft line break example. */
START_TEST(test_qp_rfc2045_example)
{
	static const char enc[] = "Now's the time =\r\n"
	    "for all folk to come=\r\n"
	    " to the aid of their country.";
	struct buf	d = { 0 };

	mime_qp_decode(enc, strlen(enc), &d);
	buf_add(&d, "", 0);
	ck_assert_str_eq(d.p, "Now's the time for all folk to come to the aid "
	    "of their country.");
	buf_free(&d);
}
END_TEST

static void
qp_is(const char *in, size_t n, const char *want)
{
	struct buf	e = { 0 };

	ck_assert_int_eq(mime_qp(in, n, &e), 0);
	buf_add(&e, "", 0);
	ck_assert_str_eq(e.p, want);
	buf_free(&e);
}

START_TEST(test_qp_rules)
{
	/* (1) 8-bit and "=" as =XX; (2) printable ASCII literal */
	qp_is("K\xc3\xb6ln a=b", 9, "K=C3=B6ln a=3Db");
	/* (3) white space before a line break, or at the end, encoded */
	qp_is("a \r\nb\t\r\nc ", 10, "a=20\r\nb=09\r\nc=20");
	/* (4) CRLF is a line break; a CR or LF alone is data */
	qp_is("a\rb\nc\r\n", 7, "a=0Db=0Ac\r\n");
	/* RFC 2049 §3 (8): no ".", "From " (nor "-") starting a line */
	qp_is(".\r\nFrom me\r\n-- \r\nFromage\r\n", 26,
	    "=2E\r\n=46rom me\r\n=2D-=20\r\nFromage\r\n");
	qp_is("\0", 1, "=00");
	/* (5) lines of 76 characters at most, "=" included */
	qp_is("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxx", 78,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxx=\r\nxxx");
	/* an =XX is never split by a soft break */
	qp_is("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxx\xff", 75,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxx=\r\n=FF");
}
END_TEST

START_TEST(test_qp_roundtrip)
{
	struct buf	in = { 0 }, e = { 0 }, d = { 0 };
	uint32_t	s = 7;
	size_t		n;
	int		clean, alpha;

	for (alpha = 0; alpha < 2; alpha++)
		for (n = 0; n < 3000; n += 1 + n / 4) {
			buf_reset(&in);
			buf_reset(&e);
			buf_reset(&d);
			buf_reserve(&in, n);
			rnd_fill(&s, in.p, n, alpha);
			in.len = n;
			enc_pieces(MIME_ENC_QP, in.p, n, &s, &e);
			ck_assert_uint_le(longest(e.p, e.len, &clean), 76);
			ck_assert(clean);
			mime_qp_decode(e.p, e.len, &d);
			assert_mem(&d, in.p, n);
		}
	buf_free(&in);
	buf_free(&e);
	buf_free(&d);
}
END_TEST

/* Mending keeps what a lenient decoder (Python's) sees. */
START_TEST(test_qp_mend)
{
	static const char bad[] = "K\xc3\xb6ln =\r\nsoft =4x =3d ok=\r\n"
	    "\0 and a stray = at the end=";
	struct buf	in = { 0 }, e = { 0 }, d1 = { 0 }, d2 = { 0 };
	uint32_t	s = 3;
	size_t		n = sizeof(bad) - 1, i;
	int		clean;

	enc_pieces(MIME_ENC_QPFIX, bad, n, &s, &e);
	buf_add(&e, "", 0);
	ck_assert_str_eq(e.p, "K=C3=B6ln =\r\nsoft =3D4x =3d ok=\r\n"
	    "=00 and a stray =3D at the end=");
	mime_qp_decode(e.p, e.len - 0, &d1);
	mime_qp_decode(bad, n, &d2);
	assert_mem(&d1, d2.p, d2.len);
	/* a 3,000-octet line gets soft breaks, never inside =XX */
	for (i = 0; i < 1000; i++)
		buf_adds(&in, "a=41");
	buf_reset(&e);
	enc_pieces(MIME_ENC_QPFIX, in.p, in.len, &s, &e);
	ck_assert_uint_le(longest(e.p, e.len, &clean), 76);
	buf_reset(&d1);
	buf_reset(&d2);
	mime_qp_decode(e.p, e.len, &d1);
	mime_qp_decode(in.p, in.len, &d2);
	assert_mem(&d1, d2.p, d2.len);
	buf_free(&in);
	buf_free(&e);
	buf_free(&d1);
	buf_free(&d2);
}
END_TEST

START_TEST(test_base64_mend)
{
	static const char bad[] = "Zm9v\xff\0Ym Fy\r\n";
	struct buf	e = { 0 }, d = { 0 };
	uint32_t	s = 5;

	enc_pieces(MIME_ENC_B64FIX, bad, sizeof(bad) - 1, &s, &e);
	buf_add(&e, "", 0);
	ck_assert_str_eq(e.p, "Zm9vYmFy");
	mime_base64_decode(e.p, e.len, &d);
	assert_mem(&d, "foobar", 6);
	buf_free(&e);
	buf_free(&d);
}
END_TEST

/* ---------------------------------------------------- encoded-words */

/* RFC 2047 §8: the examples of what a decoder shows. */
static const char *const rfc2047_ex[][2] = {
	{ "(=?ISO-8859-1?Q?a?=)", "(a)" },
	{ "(=?ISO-8859-1?Q?a?= b)", "(a b)" },
	{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)" },
	{ "(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)" },
	{ "(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)" },
	{ "(=?ISO-8859-1?Q?a_b?=)", "(a b)" },
	{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)" },
	{ "=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>",
	    "Keith Moore <moore@cs.utk.edu>" },
	{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xe9 Pirard" },
	{ "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=",
	    "If you can read this yo" },
	{ "=?broken ?= stays", "=?broken ?= stays" },
};

START_TEST(test_words_rfc2047_examples)
{
	struct buf	d = { 0 };
	size_t		i;

	for (i = 0; i < sizeof(rfc2047_ex) / sizeof(rfc2047_ex[0]); i++) {
		buf_reset(&d);
		mime_decode_words(rfc2047_ex[i][0], strlen(rfc2047_ex[i][0]),
		    &d);
		buf_add(&d, "", 0);
		ck_assert_str_eq(d.p, rfc2047_ex[i][1]);
	}
	buf_free(&d);
}
END_TEST

static void
text_is(const char *in, const char *want)
{
	struct buf	e = { 0 };

	ck_assert_int_eq(mime_encode_text(in, strlen(in), &e), 0);
	buf_add(&e, "", 0);
	ck_assert_str_eq(e.p, want);
	buf_free(&e);
}

START_TEST(test_words_encode)
{
	/* Q while few octets need it, the phrase-safe alphabet (§5 (3)) */
	text_is("Caf\xc3\xa9 au lait", "=?utf-8?Q?Caf=C3=A9_au_lait?=");
	/* B when most do */
	text_is("\xc3\x9c\xc3\xa4\xc3\xb6", "=?utf-8?B?w5zDpMO2?=");
	/* not UTF-8: unknown-8bit (RFC 1428), not a guess */
	text_is("caf\xe9", "=?unknown-8bit?Q?caf=E9?=");
	/* header.c's display names keep their exact form */
}
END_TEST

/* §2: words of at most 75 octets; §5: never a split character. */
START_TEST(test_words_split)
{
	struct buf	in = { 0 }, e = { 0 }, d = { 0 };
	size_t		i, w = 0;
	char		*q, *end;

	for (i = 0; i < 40; i++)
		buf_adds(&in, "\xf0\x9f\x93\xa7 x");	/* U+1F4E7 */
	mime_encode_text(in.p, in.len, &e);
	buf_add(&e, "", 0);
	for (q = e.p; *q != '\0'; q = *end ? end + 1 : end) {
		end = q + strcspn(q, " ");
		ck_assert_int_le(end - q, 75);
		buf_reset(&d);
		mime_decode_words(q, (size_t)(end - q), &d);
		buf_add(&d, "", 0);
		ck_assert(mime_utf8_valid(d.p, d.len));
		w++;
	}
	ck_assert_uint_gt(w, 2);
	buf_reset(&d);
	mime_decode_words(e.p, e.len, &d);
	assert_mem(&d, in.p, in.len);
	buf_reset(&e);
	ck_assert_int_eq(mime_encode_words("J\xc3\xbcrgen", &e), 0);
	ck_assert_str_eq(e.p, "=?utf-8?B?SsO8cmdlbg==?=");
	buf_free(&in);
	buf_free(&e);
	buf_free(&d);
}
END_TEST

START_TEST(test_words_roundtrip)
{
	struct buf	e = { 0 }, d = { 0 };
	uint32_t	s = 11;
	char		in[300];
	size_t		n;

	for (n = 0; n < sizeof(in); n += 7) {
		rnd_fill(&s, in, n, n % 2);
		buf_reset(&e);
		buf_reset(&d);
		mime_encode_text(in, n, &e);
		mime_decode_words(e.p, e.len, &d);
		assert_mem(&d, in, n);
	}
	buf_free(&e);
	buf_free(&d);
}
END_TEST

START_TEST(test_utf8_valid)
{
	ck_assert(mime_utf8_valid("a\xc3\xa9\xe2\x9c\x93\xf0\x9f\x93\xa7", 10));
	ck_assert(!mime_utf8_valid("\xc0\xaf", 2));		/* overlong */
	ck_assert(!mime_utf8_valid("\xed\xa0\x80", 3));		/* surrogate */
	ck_assert(!mime_utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	ck_assert(!mime_utf8_valid("\xc3", 1));			/* cut */
	ck_assert(!mime_utf8_valid("\xe9t\xe9", 3));		/* Latin-1 */
}
END_TEST

/* ------------------------------------------------------ header fields */

static void
field_is_n(const char *in, size_t n, int encode, const char *want)
{
	struct buf	out = { 0 };
	struct fail	f;

	ck_assert_int_eq(mime_field(in, n, encode, &out, &f), 0);
	buf_add(&out, "", 0);
	ck_assert_str_eq(out.p, want);
	buf_free(&out);
}

static void
field_is(const char *in, int encode, const char *want)
{
	field_is_n(in, strlen(in), encode, want);
}

START_TEST(test_field_unchanged)
{
	/* ASCII, folded as it came: byte for byte */
	field_is("Subject: a\r\n\tfolded line", 1,
	    "Subject: a\r\n\tfolded line\r\n");
	/* 8-bit stays when the server may take it */
	field_is("Subject: Gr\xc3\xbc\xc3\x9f" "e", 0,
	    "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n");
}
END_TEST

START_TEST(test_field_unstructured)
{
	field_is("Subject: Re: [cron] \xc3\x9c" "bersicht f\xc3\xbcr heute", 1,
	    "Subject: Re: [cron] =?utf-8?Q?=C3=9Cbersicht_f=C3=BCr?= heute\r\n");
	/* white space next to an encoded-word goes into the new word */
	field_is("Subject: =?utf-8?Q?a?= \xc3\xa9", 1,
	    "Subject: =?utf-8?Q?a?= =?utf-8?B?IMOp?=\r\n");
	/* NUL never goes out raw, even where 8-bit may; only its word is
	 * encoded then (fuzzing: encoding the rest could hide the non-ASCII
	 * address that made SMTPUTF8 necessary) */
	field_is_n("X-Note: a\0b", 11, 0, "X-Note: =?utf-8?Q?a=00b?=\r\n");
	field_is_n("Subject: Gr\xc3\xbc\xc3\x9f" "e a\0b", 20, 0,
	    "Subject: Gr\xc3\xbc\xc3\x9f" "e =?utf-8?Q?a=00b?=\r\n");
	field_is_n("To: j\xc3\xb6rg@example.org, x\0y <a@b>", 32, 0,
	    "To: j\xc3\xb6rg@example.org, =?utf-8?Q?x=00y?= <a@b>\r\n");
}
END_TEST

START_TEST(test_field_address)
{
	field_is("To: \"M\xc3\xbcller, Karl\" <k@example.org>, "
	    "J\xc3\xb6rg (der Chef) <j@example.org>", 1,
	    "To: =?utf-8?Q?M=C3=BCller=2C_Karl?= <k@example.org>, "
	    "=?utf-8?B?SsO2cmc=?= (der\r\n"
	    " Chef) <j@example.org>\r\n");
	/* comments are encoded inside their parentheses (§5 (2)) */
	field_is("From: j@example.org (J\xc3\xb6rg)", 1,
	    "From: j@example.org (=?utf-8?B?SsO2cmc=?=)\r\n");
	/* a group name is a phrase too */
	field_is("Cc: \xc3\x89quipe: a@example.org;", 1,
	    "Cc: =?utf-8?Q?=C3=89quipe?=: a@example.org;\r\n");
}
END_TEST

/* RFC 2231: 8-bit parameter values, in sections when long. */
START_TEST(test_field_params)
{
	field_is("Content-Disposition: attachment; filename=\"r\xc3\xa9sum"
	    "\xc3\xa9.pdf\"", 1, "Content-Disposition: attachment; "
	    "filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n");
	field_is("Content-Type: text/plain; name=\"\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    ".txt\"; charset=utf-8", 1,
	    "Content-Type: text/plain;\r\n"
	    " name*0*=utf-8''%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9"
	    "%C3%A9%C3%A9;\r\n name*1*=%C3%A9.txt; charset=utf-8\r\n");
}
END_TEST

/* RFC 5322 §2.1.1: no line over 998 octets, folded at white space. */
START_TEST(test_field_fold)
{
	struct buf	in = { 0 }, out = { 0 };
	struct fail	f;
	size_t		i;
	int		clean;

	buf_adds(&in, "References:");
	for (i = 0; i < 100; i++)
		buf_addf(&in, " <%zu.abcdefghij@example.org>", i);
	ck_assert_int_eq(mime_field(in.p, in.len, 1, &out, &f), 0);
	ck_assert_uint_le(longest(out.p, out.len, &clean), 78);
	buf_reset(&out);
	/* an unstructured word too long to fold becomes encoded-words
	 * (the first one may pass 78 columns: never folded before) */
	buf_reset(&in);
	buf_adds(&in, "Subject: ");
	for (i = 0; i < 1500; i++)
		buf_addc(&in, 'a' + i % 26);
	ck_assert_int_eq(mime_field(in.p, in.len, 0, &out, &f), 0);
	ck_assert_uint_le(longest(out.p, out.len, &clean), 9 + 75);
	ck_assert_ptr_nonnull(memmem(out.p, out.len, "\r\n =?utf-8?Q?", 13));
	buf_reset(&out);
	/* a structured one cannot be: a clear error */
	buf_reset(&in);
	buf_adds(&in, "Message-ID: <");
	for (i = 0; i < 1500; i++)
		buf_addc(&in, 'a');
	buf_adds(&in, "@example.org>");
	ck_assert_int_eq(mime_field(in.p, in.len, 1, &out, &f), -1);
	ck_assert_int_eq(f.ex, EX_DATAERR);
	ck_assert_ptr_nonnull(strstr(f.msg, "Message-ID"));
	buf_free(&in);
	buf_free(&out);
}
END_TEST

/* ------------------------------------------------------------ messages */

START_TEST(test_msg_ascii_untouched)
{
	static const char in[] = "Subject: hi\r\n\r\nhello\r\n";
	struct buf	 out = { 0 };
	struct mime_plan p;
	struct fail	 f;

	ck_assert_int_eq(convert(in, &c7, &out, &p, &f), 0);
	ck_assert_str_eq(out.p, in);
	ck_assert(!p.converted && !p.body8bit && !p.smtputf8);
	ck_assert_uint_eq(p.size, strlen(in));
	buf_free(&out);
}
END_TEST

/* SPEC §2.4: a non-MIME 8-bit message for a 7-bit server. */
START_TEST(test_msg_utf8_nonmime)
{
	golden("Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\nGr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln\r\n", &c7,
	    "Subject: =?utf-8?B?R3LDvMOfZQ==?=\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n");
	golden("Subject: x\r\n\r\ncaf\xe9 au lait\r\n", &c7,
	    "Subject: x\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=unknown-8bit\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "caf=E9 au lait\r\n");
}
END_TEST

/* With 8BITMIME: unchanged, declared. */
START_TEST(test_msg_8bitmime_declared)
{
	static const char in[] = "Subject: x\r\n\r\nGr\xc3\xbc\xc3\x9f" "e\r\n";
	struct buf	 out = { 0 };
	struct mime_plan p;
	struct fail	 f;

	ck_assert_int_eq(convert(in, &c8, &out, &p, &f), 0);
	ck_assert_str_eq(out.p, in);
	ck_assert(p.body8bit && !p.converted && !p.smtputf8);
	buf_free(&out);
	/* but a NUL or a long line is converted even then */
	golden_n("Subject: x\r\n\r\n\xc3\xbc\0\r\n", 19, &c8,
	    "Subject: x\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=C3=BC=00\r\n");
}
END_TEST

/* A message that has only a long line: QP, soft breaks, same text. */
START_TEST(test_msg_long_line)
{
	struct buf	 in = { 0 }, out = { 0 }, d = { 0 };
	struct mime_plan p;
	struct fail	 f;
	const char	*body;
	size_t		 i;
	int		 clean;

	buf_adds(&in, "Subject: x\r\n\r\n");
	for (i = 0; i < 5000; i++)
		buf_addc(&in, "abc def="[i % 8]);
	buf_adds(&in, "\r\nnext\r\n");
	ck_assert_int_eq(convert(in.p, &c8, &out, &p, &f), 0);
	ck_assert_uint_le(longest(out.p, out.len, &clean), 76);
	ck_assert(clean && p.converted && !p.body8bit);
	ck_assert_ptr_nonnull(strstr(out.p, "Content-Transfer-Encoding: "
	    "quoted-printable\r\n"));
	/* ASCII needs no charset: us-ascii is the default (RFC 2045 §5.2) */
	ck_assert_ptr_null(strstr(out.p, "Content-Type"));
	body = strstr(out.p, "\r\n\r\n") + 4;
	mime_qp_decode(body, strlen(body), &d);
	assert_mem(&d, strstr(in.p, "\r\n\r\n") + 4,
	    strlen(strstr(in.p, "\r\n\r\n") + 4));
	buf_free(&in);
	buf_free(&out);
	buf_free(&d);
}
END_TEST

static const char mixed[] =
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "pr\xc3\xa9" "amble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Gr\xc3\xbc\xc3\x9f" "e\r\n"
    "--XX\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "plain ascii\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-Disposition: attachment; filename=\"\xc3\xa9.bin\"\r\n"
    "\r\n"
    "\x00\x01\xff\xfe\r\n"
    "\r\n"
    "--XX--\r\n"
    "epilogue\r\n";

/* Only the parts that need it change; the CRLF before a delimiter
 * stays with the delimiter (RFC 2046 §5.1.1). */
START_TEST(test_msg_multipart)
{
	golden_n(mixed, sizeof(mixed) - 1, &c7,
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
	    "\r\n"
	    "pr=C3=A9amble\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "Gr=C3=BC=C3=9Fe\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "plain ascii\r\n"
	    "--XX\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename*=utf-8''%C3%A9.bin\r\n"
	    "\r\n"
	    "AAH//g0K\r\n"
	    "--XX--\r\n"
	    "epilogue\r\n");
	/* with 8BITMIME only the NUL-bearing binary part changes; the 8-bit
	 * part header stays, as 8BITMIME carries it */
	golden_n(mixed, sizeof(mixed) - 1, &c8,
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
	    "\r\n"
	    "pr\xc3\xa9" "amble\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "Gr\xc3\xbc\xc3\x9f" "e\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "plain ascii\r\n"
	    "--XX\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"\xc3\xa9.bin\"\r\n"
	    "\r\n"
	    "AAH//g0K\r\n"
	    "--XX--\r\n"
	    "epilogue\r\n");
}
END_TEST

/* Nested multiparts, message/rfc822 (walked into, never encoded: RFC
 * 2046 §5.2.1) and multipart/digest's default type (§5.1.5). */
START_TEST(test_msg_nested)
{
	golden("Content-Type: multipart/mixed; boundary=o\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "--o\r\n"
	    "Content-Type: multipart/alternative; boundary=\"o-i\"\r\n"
	    "\r\n"
	    "--o-i\r\n"
	    "\r\n"
	    "\xc3\xbc\r\n"
	    "--o-i--\r\n"
	    "--o\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "Subject: \xc3\xbc\r\n"
	    "\r\n"
	    "\xc3\xbc\r\n"
	    "--o\r\n"
	    "Content-Type: multipart/digest; boundary=d\r\n"
	    "\r\n"
	    "--d\r\n"
	    "\r\n"
	    "Subject: d\r\n"
	    "\r\n"
	    "\xc3\xbc\r\n"
	    "--d--\r\n"
	    "--o--\r\n", &c7,
	    "Content-Type: multipart/mixed; boundary=o\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "MIME-Version: 1.0\r\n"
	    "\r\n"
	    "--o\r\n"
	    "Content-Type: multipart/alternative; boundary=\"o-i\"\r\n"
	    "\r\n"
	    "--o-i\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "=C3=BC\r\n"
	    "--o-i--\r\n"
	    "--o\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "Subject: =?utf-8?B?w7w=?=\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "=C3=BC\r\n"
	    "--o\r\n"
	    "Content-Type: multipart/digest; boundary=d\r\n"
	    "\r\n"
	    "--d\r\n"
	    "\r\n"
	    "Subject: d\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "=C3=BC\r\n"
	    "--d--\r\n"
	    "--o--\r\n");
}
END_TEST

/* Already encoded parts travel as they are; broken ones are mended,
 * never encoded twice (RFC 2045 §6.4). */
START_TEST(test_msg_already_encoded)
{
	static const char ok[] =
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n"
	    "\r\n"
	    "--b\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "K=C3=B6ln=\r\n"
	    "\r\n"
	    "--b\r\n"
	    "Content-Type: application/pdf\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "JVBERi0xLjQK\r\n"
	    "--b--\r\n";
	struct buf	 out = { 0 };
	struct mime_plan p;
	struct fail	 f;

	ck_assert_int_eq(convert(ok, &c7, &out, &p, &f), 0);
	ck_assert_str_eq(out.p, ok);
	ck_assert(!p.converted);
	buf_free(&out);
	golden("Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "K\xc3\xb6ln =3D\r\n", &c7,
	    "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "MIME-Version: 1.0\r\n"
	    "\r\n"
	    "K=C3=B6ln =3D\r\n");
}
END_TEST

/* A clean part labelled binary is relabelled: there is no BINARYMIME
 * (RFC 3030) here. */
START_TEST(test_msg_binary_label)
{
	golden("MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: binary\r\n"
	    "\r\n"
	    "\xc3\xbc\r\n", &c8,
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "\xc3\xbc\r\n");
}
END_TEST

/* SMTPUTF8 only when an address needs it (SPEC §2.4). */
START_TEST(test_msg_smtputf8)
{
	static const char addr8[] = "To: j\xc3\xb6rg@example.org\r\n"
	    "Subject: \xc3\xbc\r\n\r\nx\r\n";
	static const char name8[] = "To: J\xc3\xb6rg <j@example.org>\r\n"
	    "\r\nx\r\n";
	struct mime_caps env8 = { 1, 0, 1 };
	struct buf	 out = { 0 };
	struct mime_plan p;
	struct fail	 f;

	ck_assert_int_eq(convert(addr8, &c8, &out, &p, &f), -1);
	ck_assert_int_eq(f.ex, EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(f.msg, "SMTPUTF8"));
	buf_reset(&out);
	ck_assert_int_eq(convert(addr8, &c8u, &out, &p, &f), 0);
	ck_assert_str_eq(out.p, addr8);
	ck_assert(p.smtputf8 && p.body8bit);
	buf_reset(&out);
	/* a display name is encoded even when SMTPUTF8 is offered */
	ck_assert_int_eq(convert(name8, &c8u, &out, &p, &f), 0);
	ck_assert_str_eq(out.p, "To: =?utf-8?B?SsO2cmc=?= <j@example.org>\r\n"
	    "\r\nx\r\n");
	ck_assert(!p.smtputf8 && !p.body8bit);
	buf_reset(&out);
	ck_assert_int_eq(convert(name8, &env8, &out, &p, &f), -1);
	ck_assert_int_eq(f.ex, EX_UNAVAILABLE);
	buf_free(&out);
}
END_TEST

/* The walker's limits: nesting past DEPTH_MAX, part headers past their
 * bound, boundaries that are no boundaries. */
START_TEST(test_msg_limits)
{
	struct buf	 in = { 0 }, out = { 0 };
	struct mime_plan p;
	struct fail	 f;
	size_t		 i;
	int		 clean;

	for (i = 0; i < 100; i++)
		buf_addf(&in, "Content-Type: multipart/mixed; boundary=b%zu\r\n"
		    "\r\n--b%zu\r\n", i, i);
	buf_adds(&in, "\r\n\xc3\xbc\0\r\n");
	ck_assert_int_eq(convert(in.p, &c7, &out, &p, &f), 0);
	ck_assert_uint_le(longest(out.p, out.len, &clean), 998);
	ck_assert(clean && p.converted);
	buf_reset(&in);
	buf_reset(&out);
	buf_adds(&in, "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nX-Long: ");
	for (i = 0; i < 3000; i++)
		buf_addc(&in, 'a' + i % 26);
	buf_adds(&in, "\r\n\r\n\xff\r\n--b--\r\n");
	ck_assert_int_eq(convert(in.p, &c7, &out, &p, &f), 0);
	ck_assert_uint_le(longest(out.p, out.len, &clean), 998);
	ck_assert(clean);
	buf_free(&in);
	buf_free(&out);
}
END_TEST

/* A delimiter line made over 998 octets by transport padding (RFC 2046
 * §5.1.1 allows any) loses the padding; it was once sent as it was. */
START_TEST(test_msg_padded_delimiter)
{
	struct buf	 in = { 0 }, out = { 0 };
	struct mime_plan p;
	struct fail	 f;
	int		 clean;

	buf_adds(&in, "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b");
	while (in.len < 46 + 1000)
		buf_addc(&in, ' ');
	buf_adds(&in, "\r\n\r\nx\r\n--b--\r\n");
	ck_assert_int_eq(convert(in.p, &c8, &out, &p, &f), 0);
	ck_assert(p.converted);
	ck_assert_uint_le(longest(out.p, out.len, &clean), 998);
	ck_assert_str_eq(out.p, "Content-Type: multipart/mixed; boundary=b\r\n"
	    "MIME-Version: 1.0\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n");
	buf_free(&in);
	buf_free(&out);
}
END_TEST

/*
 * SPEC §7: a body far larger than the chunks, spooled to a file, with a
 * line of 300,000 octets: read through msg.c as relaymail does; the
 * size is exact and the text decodes back.
 */
START_TEST(test_msg_large_spooled)
{
	struct buf	 in = { 0 }, hdr = { 0 }, out = { 0 }, d = { 0 };
	struct mime_caps c = { 0 };
	struct mime_plan p;
	struct mime	*mx;
	struct msg	 m;
	struct fail	 f;
	char		 chunk[65536];
	const char	*body;
	ssize_t		 r;
	size_t		 i;
	int		 clean;

	buf_adds(&in, "Subject: big\n\n");
	for (i = 0; i < 150000; i++)
		buf_adds(&in, "\xc3\xa9");
	buf_adds(&in, "\n");
	for (i = 0; i < 20000; i++)
		buf_addf(&in, "line %zu of some text\n", i);
	ck_assert_int_eq(tu_read_msg(&m, in.p, in.len, 0, &f), 0);
	ck_assert_int_ne(m.fd, -1);
	buf_adds(&hdr, "Subject: big\r\n\r\n");
	mx = mime_open(hdr.p, hdr.len, &m, &f);
	ck_assert_int_eq(mime_prepare(mx, &c, &p, &f), 0);
	while ((r = mime_read(mx, chunk, sizeof(chunk), &f)) > 0)
		buf_add(&out, chunk, (size_t)r);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(out.len, p.size);
	ck_assert_uint_le(longest(out.p, out.len, &clean), 76);
	ck_assert(clean);
	body = memmem(out.p, out.len, "\r\n\r\n", 4) + 4;
	mime_qp_decode(body, out.len - (size_t)(body - out.p), &d);
	buf_reset(&out);
	tu_body(&m, &out);
	assert_mem(&d, out.p, out.len - 0);
	mime_close(mx);
	msg_free(&m);
	buf_free(&in);
	buf_free(&hdr);
	buf_free(&out);
	buf_free(&d);
}
END_TEST

/* Fuzzing found: a header-phase line that turns out to be body was not
 * noted as 8-bit, so a 7-bit server got it raw (msg.c rd_note). */
START_TEST(test_regress_header_line_as_body)
{
	static const char in[] = "MIME-Version: 1.0\r\nContent-Ty\x82";
	struct buf	 hdr = { 0 }, out = { 0 };
	struct mime_plan p;
	struct mime	*mx;
	struct msg	 m;
	struct fail	 f;
	char		 b[256];
	ssize_t		 r;
	int		 clean;

	ck_assert_int_eq(tu_read_msg(&m, in, sizeof(in) - 1, 0, &f), 0);
	ck_assert_int_eq(m.body8bit, 1);
	buf_adds(&hdr, "MIME-Version: 1.0\r\n\r\n");
	mx = mime_open(hdr.p, hdr.len, &m, &f);
	ck_assert_int_eq(mime_prepare(mx, &c7, &p, &f), 0);
	while ((r = mime_read(mx, b, sizeof(b), &f)) > 0)
		buf_add(&out, b, (size_t)r);
	longest(out.p, out.len, &clean);
	ck_assert(clean);
	mime_close(mx);
	msg_free(&m);
	buf_free(&hdr);
	buf_free(&out);
}
END_TEST

/* Fuzzing found: a NUL in a header field cut msg.c's copy short while
 * its length stayed, and header.c read past the end (ASan). */
START_TEST(test_regress_nul_in_field)
{
	static const char in[] = "To: a@b\0\0\0x\r\n\r\nhello\r\n";
	struct msg	m;
	struct fail	f;

	ck_assert_int_eq(tu_read_msg(&m, in, sizeof(in) - 1, 0, &f), 0);
	ck_assert_uint_eq(m.hn, 1);
	ck_assert_uint_eq(m.hv[0].len, 11);
	ck_assert(memcmp(m.hv[0].text, "To: a@b\0\0\0x", 11) == 0);
	msg_free(&m);
	golden_n("To: a@b\r\nX-A: a\0b\r\n\r\nhello\r\n", 28, &c8,
	    "To: a@b\r\nX-A: =?utf-8?Q?a=00b?=\r\n\r\nhello\r\n");
}
END_TEST

Suite *
mime_suite(void)
{
	Suite	*s = suite_create("mime");
	TCase	*c = tcase_create("codecs");
	TCase	*h = tcase_create("fields");
	TCase	*m = tcase_create("messages");

	tcase_add_test(c, test_base64_vectors);
	tcase_add_test(c, test_base64_lines);
	tcase_add_test(c, test_base64_roundtrip);
	tcase_add_test(c, test_base64_mend);
	tcase_add_test(c, test_qp_rfc2045_example);
	tcase_add_test(c, test_qp_rules);
	tcase_add_test(c, test_qp_roundtrip);
	tcase_add_test(c, test_qp_mend);
	tcase_add_test(c, test_words_rfc2047_examples);
	tcase_add_test(c, test_words_encode);
	tcase_add_test(c, test_words_split);
	tcase_add_test(c, test_words_roundtrip);
	tcase_add_test(c, test_utf8_valid);
	suite_add_tcase(s, c);
	tcase_add_test(h, test_field_unchanged);
	tcase_add_test(h, test_field_unstructured);
	tcase_add_test(h, test_field_address);
	tcase_add_test(h, test_field_params);
	tcase_add_test(h, test_field_fold);
	suite_add_tcase(s, h);
	tcase_set_timeout(m, 30);
	tcase_add_test(m, test_msg_ascii_untouched);
	tcase_add_test(m, test_msg_utf8_nonmime);
	tcase_add_test(m, test_msg_8bitmime_declared);
	tcase_add_test(m, test_msg_long_line);
	tcase_add_test(m, test_msg_multipart);
	tcase_add_test(m, test_msg_nested);
	tcase_add_test(m, test_msg_already_encoded);
	tcase_add_test(m, test_msg_binary_label);
	tcase_add_test(m, test_msg_smtputf8);
	tcase_add_test(m, test_msg_limits);
	tcase_add_test(m, test_msg_padded_delimiter);
	tcase_add_test(m, test_msg_large_spooled);
	tcase_add_test(m, test_regress_header_line_as_body);
	tcase_add_test(m, test_regress_nul_in_field);
	suite_add_tcase(s, m);
	return s;
}
