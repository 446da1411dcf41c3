/*
 * mime.c -- 8-bit data, long lines and NUL on the way to the smarthost
 * (SPEC §2.4, RFC 2045-2047, RFC 2231, RFC 6152, RFC 6531).
 *
 * A message goes out in one of three ways.  RAW: it fits the server as
 * it is.  HDR: only the header needs RFC 2047 encoding or folding; the
 * body is copied.  FULL: a streaming MIME walker feeds a converter that
 * re-encodes the leaf parts that cannot travel as they are.  Deciding
 * takes a scan of the body (one octet of flags kept per region: part
 * body, preamble or epilogue), and a FULL conversion is run once dry to
 * count it for SIZE= (RFC 1870) before it is run for real.
 */
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "mime.h"
#include "msg.h"
#include "util.h"

#define LINE_MAX_OCTETS	998		/* RFC 5321 §4.5.3.1.6, RFC 5322 §2.1.1 */
#define FOLD_AT		78		/* RFC 5322 §2.1.1 "SHOULD" */
#define LONG_WORD	900		/* longer words are encoded to be split */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hexd[] = "0123456789ABCDEF";

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* White space for parsing a folded field: the line endings count. */
static int
is_fws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
mime_has_8bit(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] & 0x80)
			return 1;
	return 0;
}

/* What header text must be encoded: nothing (only examined), NUL (no
 * header may carry it), or NUL and 8-bit (without SMTPUTF8/8BITMIME). */
enum { E_NONE, E_NUL, E_ALL };

static int
unsafe(const char *s, size_t n, int enc)
{
	return (enc >= E_NUL && memchr(s, '\0', n) != NULL) ||
	    (enc == E_ALL && mime_has_8bit(s, n));
}

/* ------------------------------------------------------------ UTF-8 */

/* RFC 3629 §4: each lead octet, the continuations it needs and the
 * range of the first one (which excludes overlongs and surrogates). */
static const struct {
	unsigned char	first, last, need, lo, hi;
} u8lead[] = {
	{ 0xc2, 0xdf, 1, 0x80, 0xbf },
	{ 0xe0, 0xe0, 2, 0xa0, 0xbf },
	{ 0xe1, 0xec, 2, 0x80, 0xbf },
	{ 0xed, 0xed, 2, 0x80, 0x9f },
	{ 0xee, 0xef, 2, 0x80, 0xbf },
	{ 0xf0, 0xf0, 3, 0x90, 0xbf },
	{ 0xf1, 0xf3, 3, 0x80, 0xbf },
	{ 0xf4, 0xf4, 3, 0x80, 0x8f },
};

/* A UTF-8 check that survives being fed in pieces. */
struct u8v {
	unsigned char	need, lo, hi;
	int		bad;
};

static void
u8v_lead(struct u8v *v, unsigned char c)
{
	size_t	i;

	for (i = 0; i < sizeof(u8lead) / sizeof(u8lead[0]); i++)
		if (c >= u8lead[i].first && c <= u8lead[i].last) {
			v->need = u8lead[i].need;
			v->lo = u8lead[i].lo;
			v->hi = u8lead[i].hi;
			return;
		}
	v->bad = 1;
}

static void
u8v_feed(struct u8v *v, const unsigned char *p, size_t n)
{
	for (; n > 0 && !v->bad; p++, n--) {
		if (v->need > 0) {
			if (*p < v->lo || *p > v->hi)
				v->bad = 1;
			v->lo = 0x80;
			v->hi = 0xbf;
			v->need--;
		} else if (*p >= 0x80)
			u8v_lead(v, *p);
	}
}

int
mime_utf8_valid(const char *s, size_t n)
{
	struct u8v	v = { 0 };

	u8v_feed(&v, (const unsigned char *)s, n);
	return !v.bad && v.need == 0;
}

/* Octets in the character starting at s[0..n) (1 when not UTF-8). */
static size_t
u8_charlen(const char *s, size_t n, int utf8)
{
	unsigned char	c = (unsigned char)*s;
	size_t		k = 1;

	if (utf8 && c >= 0xc0)
		k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	return k > n ? n : k;
}

/* ------------------------------------------------------------ base64 */

int
mime_base64(const unsigned char *p, size_t n, struct buf *out)
{
	char		q[4];
	unsigned long	v;
	size_t		i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		q[0] = b64[v >> 18 & 63];
		q[1] = b64[v >> 12 & 63];
		q[2] = b64[v >> 6 & 63];
		q[3] = b64[v & 63];
		if (buf_add(out, q, 4) == -1)
			return -1;
	}
	if (i == n)
		return 0;
	v = (unsigned long)p[i] << 16;
	if (i + 1 < n)
		v |= (unsigned long)p[i + 1] << 8;
	q[0] = b64[v >> 18 & 63];
	q[1] = b64[v >> 12 & 63];
	q[2] = i + 1 < n ? b64[v >> 6 & 63] : '=';
	q[3] = '=';
	return buf_add(out, q, 4);
}

static int
b64val(int c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64, c)) == NULL)
		return -1;
	return (int)(p - b64);
}

int
mime_base64_decode(const char *s, size_t n, struct buf *out)
{
	unsigned long	v = 0;
	size_t		i;
	int		k = 0, d;
	char		c;

	for (i = 0; i < n && s[i] != '='; i++) {
		if ((d = b64val((unsigned char)s[i])) == -1)
			continue;
		v = v << 6 | (unsigned long)d;
		if (++k < 4)
			continue;
		k = 0;
		c = (char)(v >> 16);
		if (buf_addc(out, c) == -1 || buf_addc(out, (char)(v >> 8)) ==
		    -1 || buf_addc(out, (char)v) == -1)
			return -1;
	}
	/* a final partial quantum: 2 or 3 characters carry 1 or 2 octets */
	if (k >= 2 && buf_addc(out, (char)(v >> (6 * k - 8))) == -1)
		return -1;
	if (k == 3 && buf_addc(out, (char)(v >> 2)) == -1)
		return -1;
	return 0;
}

/* ------------------------------------------------- quoted-printable */

int
mime_qp_decode(const char *s, size_t n, struct buf *out)
{
	size_t	i;
	int	hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] != '=') {
			if (buf_addc(out, s[i]) == -1)
				return -1;
			continue;
		}
		if (i + 1 == n)
			break;		/* a soft break at the very end */
		if (s[i + 1] == '\n') {
			i++;
			continue;
		}
		if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
			continue;
		}
		if (i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			if (buf_addc(out, hi << 4 | lo) == -1)
				return -1;
			i += 2;
			continue;
		}
		if (buf_addc(out, '=') == -1)
			return -1;
	}
	return 0;
}

/* Emit the QP line being built with the given ending. */
static int
qp_emit(struct mime_enc *e, const char *end, struct buf *out)
{
	if (buf_add(out, e->line, e->len) == -1 || buf_adds(out, end) == -1)
		return -1;
	e->len = 0;
	e->ws = 0;
	return 0;
}

/* Add one token (a literal octet or "=XX"), breaking the line softly
 * first when it would not fit: 76 characters with the "=" (§6.7 (5)). */
static int
qp_tok(struct mime_enc *e, const char *t, size_t n, int ws, struct buf *out)
{
	if (e->len + n > 75 && qp_emit(e, "=\r\n", out) == -1)
		return -1;
	memcpy(e->line + e->len, t, n);
	e->len += n;
	e->ws = ws;
	return 0;
}

static int
qp_hex(struct mime_enc *e, unsigned char c, struct buf *out)
{
	char	t[3];

	t[0] = '=';
	t[1] = hexd[c >> 4];
	t[2] = hexd[c & 15];
	return qp_tok(e, t, 3, 0, out);
}

/*
 * One octet.  Literal: printable ASCII but "=", and SP/HTAB (§6.7 (2),
 * (3)).  At the start of a line "." and "-" are encoded, and "From "
 * becomes "=46rom ": a lone dot, a line that looks like a boundary
 * delimiter, an mbox separator must never appear (RFC 2049 §3 (8)).
 */
static int
qp_octet(struct mime_enc *e, unsigned char c, struct buf *out)
{
	char	t = (char)c;

	if (c == ' ' && e->len == 4 && memcmp(e->line, "From", 4) == 0) {
		memcpy(e->line, "=46rom", 6);
		e->len = 6;
	}
	if (c == ' ' || c == '\t')
		return qp_tok(e, &t, 1, 1, out);
	if (c > 32 && c < 127 && c != '=' &&
	    !(e->len == 0 && (c == '.' || c == '-')))
		return qp_tok(e, &t, 1, 0, out);
	return qp_hex(e, c, out);
}

/* §6.7 (3): white space ending an encoded line is encoded, or a
 * gateway could strip it. */
static int
qp_fix_ws(struct mime_enc *e, struct buf *out)
{
	char	c;

	if (!e->ws)
		return 0;
	c = e->line[--e->len];
	e->ws = 0;
	if (e->len + 3 > 76 && qp_emit(e, "=\r\n", out) == -1)
		return -1;
	memcpy(e->line + e->len, c == ' ' ? "=20" : "=09", 3);
	e->len += 3;
	return 0;
}

static int
qp_put(struct mime_enc *e, const unsigned char *p, size_t n,
    struct buf *out)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (e->cr) {
			e->cr = 0;
			if (p[i] == '\n') {
				if (qp_fix_ws(e, out) == -1 ||
				    qp_emit(e, "\r\n", out) == -1)
					return -1;
				continue;
			}
			if (qp_hex(e, '\r', out) == -1)
				return -1;
		}
		if (p[i] == '\r')
			e->cr = 1;
		else if (qp_octet(e, p[i], out) == -1)
			return -1;
	}
	return 0;
}

static int
qp_end(struct mime_enc *e, struct buf *out)
{
	if (e->cr && qp_hex(e, '\r', out) == -1)
		return -1;
	e->cr = 0;
	if (qp_fix_ws(e, out) == -1)
		return -1;
	return e->len > 0 ? qp_emit(e, "", out) : 0;
}

int
mime_qp(const char *s, size_t n, struct buf *out)
{
	struct mime_enc	e;

	mime_enc_init(&e, MIME_ENC_QP);
	if (qp_put(&e, (const unsigned char *)s, n, out) == -1)
		return -1;
	return qp_end(&e, out);
}

/*
 * Mending quoted-printable that is not fit to send (8-bit octets, NUL,
 * lines over 998 octets) without decoding it: =XX and soft breaks stay,
 * a stray "=" becomes =3D, other unsafe octets =XX, and long lines get
 * soft breaks.  A lenient decoder (what readers use on such text) sees
 * the same octets before and after.
 */
static int
qpfix_tok(struct mime_enc *e, const char *t, size_t n, struct buf *out)
{
	if (e->col + n > 75) {
		if (buf_add(out, "=\r\n", 3) == -1)
			return -1;
		e->col = 0;
	}
	e->col += n;
	return buf_add(out, t, n);
}

static int
qpfix_octet(struct mime_enc *e, unsigned char c, struct buf *out)
{
	char	t[3];

	if ((c >= 32 && c < 127) || c == '\t') {
		t[0] = (char)c;
		return qpfix_tok(e, t, 1, out);
	}
	t[0] = '=';
	t[1] = hexd[c >> 4];
	t[2] = hexd[c & 15];
	return qpfix_tok(e, t, 3, out);
}

static int	qpfix_put(struct mime_enc *, const unsigned char *, size_t,
		    struct buf *);

/* An "=" sequence is complete (or cannot become one). */
static int
qpfix_eq(struct mime_enc *e, struct buf *out)
{
	char	rest[2];
	size_t	n = e->neq - 1;

	if ((e->neq == 3 && e->eq[1] == '\r' && e->eq[2] == '\n') ||
	    (e->neq == 2 && e->eq[1] == '\n')) {
		e->neq = 0;
		e->col = 0;
		return buf_add(out, "=\r\n", 3);
	}
	if (e->neq == 3 && hexval((unsigned char)e->eq[1]) >= 0 &&
	    hexval((unsigned char)e->eq[2]) >= 0) {
		e->neq = 0;
		return qpfix_tok(e, e->eq, 3, out);
	}
	/* a stray "=": literal for a lenient decoder, so =3D; what
	 * followed it is read again, as it may start a sequence */
	memcpy(rest, e->eq + 1, n);
	e->neq = 0;
	if (qpfix_tok(e, "=3D", 3, out) == -1)
		return -1;
	return qpfix_put(e, (const unsigned char *)rest, n, out);
}

static int
qpfix_put(struct mime_enc *e, const unsigned char *p, size_t n,
    struct buf *out)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (e->neq > 0) {
			e->eq[e->neq++] = (char)p[i];
			if (e->neq == 3 || (e->neq == 2 && p[i] != '\r' &&
			    hexval(p[i]) < 0))
				if (qpfix_eq(e, out) == -1)
					return -1;
			continue;
		}
		if (e->cr) {
			e->cr = 0;
			if (p[i] == '\n') {
				e->col = 0;
				if (buf_add(out, "\r\n", 2) == -1)
					return -1;
				continue;
			}
			if (qpfix_octet(e, '\r', out) == -1)
				return -1;
		}
		if (p[i] == '=') {
			e->eq[0] = '=';
			e->neq = 1;
		} else if (p[i] == '\r')
			e->cr = 1;
		else if (qpfix_octet(e, p[i], out) == -1)
			return -1;
	}
	return 0;
}

static int
qpfix_end(struct mime_enc *e, struct buf *out)
{
	/* "=" at the very end is a soft break: keep it as it is */
	if (e->neq == 1) {
		e->neq = 0;
		if (qpfix_tok(e, "=", 1, out) == -1)
			return -1;
	} else if (e->neq > 1 && qpfix_eq(e, out) == -1)
		return -1;
	if (e->cr && qpfix_octet(e, '\r', out) == -1)
		return -1;
	e->cr = 0;
	return 0;
}

/* ---------------------------------------------- streaming encoders */

void
mime_enc_init(struct mime_enc *e, int kind)
{
	memset(e, 0, sizeof(*e));
	e->kind = kind;
}

/* Base64 in 76-character lines (§6.8); the break is written before
 * the next quantum, so the output never ends with one. */
static int
b64_put(struct mime_enc *e, const unsigned char *p, size_t n,
    struct buf *out)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		e->q[e->nq++] = p[i];
		if (e->nq < 3)
			continue;
		if (e->col == 76) {
			if (buf_add(out, "\r\n", 2) == -1)
				return -1;
			e->col = 0;
		}
		if (mime_base64(e->q, 3, out) == -1)
			return -1;
		e->col += 4;
		e->nq = 0;
	}
	return 0;
}

static int
b64_end(struct mime_enc *e, struct buf *out)
{
	if (e->nq == 0)
		return 0;
	if (e->col == 76 && buf_add(out, "\r\n", 2) == -1)
		return -1;
	e->col = 0;
	if (mime_base64(e->q, e->nq, out) == -1)
		return -1;
	e->nq = 0;
	return 0;
}

/* Keep the base64 alphabet and "=", drop the rest, rewrap: decoders
 * ignore everything else (§6.8), so they see the same octets. */
static int
b64fix_put(struct mime_enc *e, const unsigned char *p, size_t n,
    struct buf *out)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (p[i] != '=' && b64val(p[i]) == -1)
			continue;
		if (e->col == 76) {
			if (buf_add(out, "\r\n", 2) == -1)
				return -1;
			e->col = 0;
		}
		if (buf_addc(out, p[i]) == -1)
			return -1;
		e->col++;
	}
	return 0;
}

int
mime_enc_put(struct mime_enc *e, const char *p, size_t n, struct buf *out)
{
	const unsigned char *u = (const unsigned char *)p;

	switch (e->kind) {
	case MIME_ENC_QP:
		return qp_put(e, u, n, out);
	case MIME_ENC_BASE64:
		return b64_put(e, u, n, out);
	case MIME_ENC_QPFIX:
		return qpfix_put(e, u, n, out);
	case MIME_ENC_B64FIX:
		return b64fix_put(e, u, n, out);
	}
	return buf_add(out, p, n);
}

int
mime_enc_end(struct mime_enc *e, struct buf *out)
{
	switch (e->kind) {
	case MIME_ENC_QP:
		return qp_end(e, out);
	case MIME_ENC_BASE64:
		return b64_end(e, out);
	case MIME_ENC_QPFIX:
		return qpfix_end(e, out);
	}
	return 0;
}

/* ---------------------------------------------------- encoded-words */

/*
 * RFC 2047 §2: an encoded-word is at most 75 octets; "=?utf-8?B?" and
 * "?=" leave 63, i.e. 45 octets of text (15 base64 quanta).  Whole UTF-8
 * sequences only (§5: a word must not split a character).
 */
int
mime_encode_words(const char *s, struct buf *out)
{
	size_t	n = strlen(s), i = 0, k, step;

	while (i < n) {
		for (k = 0; i + k < n; k += step) {
			step = u8_charlen(s + i + k, n - i - k, 1);
			if (k + step > 45)
				break;
		}
		if (i > 0 && buf_adds(out, "\r\n ") == -1)
			return -1;
		if (buf_adds(out, "=?utf-8?B?") == -1 ||
		    mime_base64((const unsigned char *)s + i, k, out) == -1 ||
		    buf_adds(out, "?=") == -1)
			return -1;
		i += k;
	}
	return 0;
}

/* §5 (3): what a "Q" word may carry literally even inside a phrase. */
static int
q_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
	    c == '-' || c == '/';
}

static size_t
q_cost(const char *s, size_t n)
{
	size_t	i, w = 0;

	for (i = 0; i < n; i++)
		w += q_safe((unsigned char)s[i]) || s[i] == ' ' ? 1 : 3;
	return w;
}

static int
q_append(const char *s, size_t n, struct buf *out)
{
	size_t	i;
	int	r = 0;

	for (i = 0; i < n && r == 0; i++) {
		if (q_safe((unsigned char)s[i]))
			r = buf_addc(out, s[i]);
		else if (s[i] == ' ')
			r = buf_addc(out, '_');	/* §4.2 (2) */
		else
			r = buf_addf(out, "=%02X", (unsigned char)s[i]);
	}
	return r;
}

/* The length of the next word's text: whole characters whose encoding
 * fits in room characters (at least one character). */
static size_t
ew_chunk(const char *s, size_t n, int utf8, int q, size_t room)
{
	size_t	k = 0, w = 0, step, c;

	while (k < n) {
		step = u8_charlen(s + k, n - k, utf8);
		c = q ? q_cost(s + k, step) : 0;
		if (k > 0 && (q ? w + c > room : (k + step + 2) / 3 * 4 > room))
			break;
		k += step;
		w += c;
	}
	return k;
}

int
mime_encode_text(const char *s, size_t n, struct buf *out)
{
	int		 utf8 = mime_utf8_valid(s, n), q;
	const char	*cs = utf8 ? "utf-8" : "unknown-8bit";
	size_t		 i, k, room;

	/* Q (readable) while at most a third of the octets need =XX */
	q = (q_cost(s, n) - n) / 2 * 3 <= n;
	room = 75 - 7 - strlen(cs);	/* "=?" cs "?Q?" ... "?=" */
	for (i = 0; i < n; i += k) {
		k = ew_chunk(s + i, n - i, utf8, q, room);
		if ((i > 0 && buf_addc(out, ' ') == -1) ||
		    buf_addf(out, "=?%s?%c?", cs, q ? 'Q' : 'B') == -1 ||
		    (q ? q_append(s + i, k, out) : mime_base64(
		    (const unsigned char *)s + i, k, out)) == -1 ||
		    buf_adds(out, "?=") == -1)
			return -1;
	}
	return 0;
}

/* Decode one encoded-word at s: its length, 0 when there is none. */
static size_t
ew_parse(const char *s, size_t n, struct buf *out)
{
	size_t	 i, q[3], k = 0, tlen;
	int	 enc, r = 0;

	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	for (i = 2; i + 1 < n && k < 3; i++) {
		if (is_fws((unsigned char)s[i]))
			return 0;
		if (s[i] == '?')
			q[k++] = i;
	}
	if (k < 3 || q[1] != q[0] + 2 || q[0] == 2 || s[q[2] + 1] != '=')
		return 0;
	enc = s[q[0] + 1] | 0x20;
	if (enc != 'q' && enc != 'b')
		return 0;
	tlen = q[2] - q[1] - 1;
	if (enc == 'b')
		r = mime_base64_decode(s + q[1] + 1, tlen, out);
	for (i = q[1] + 1; enc == 'q' && i < q[2] && r == 0; i++) {
		if (s[i] == '_')
			r = buf_addc(out, ' ');
		else if (s[i] == '=' && i + 2 < q[2] && hexval((unsigned char)
		    s[i + 1]) >= 0 && hexval((unsigned char)s[i + 2]) >= 0) {
			r = buf_addc(out, hexval((unsigned char)s[i + 1]) << 4 |
			    hexval((unsigned char)s[i + 2]));
			i += 2;
		} else
			r = buf_addc(out, s[i]);
	}
	return r == -1 ? (size_t)-1 : q[2] + 2;
}

int
mime_decode_words(const char *s, size_t n, struct buf *out)
{
	size_t	i = 0, gap = 0, k;
	int	after = 0;

	while (i < n) {
		if ((k = ew_parse(s + i, n - i, out)) == (size_t)-1)
			return -1;
		if (k > 0) {		/* the gap between two words goes */
			i += k;
			gap = i;
			after = 1;
			continue;
		}
		if (after && is_fws((unsigned char)s[i])) {
			i++;
			continue;
		}
		if (after && buf_add(out, s + gap, i - gap) == -1)
			return -1;
		after = 0;
		if (buf_addc(out, s[i++]) == -1)
			return -1;
	}
	return after ? buf_add(out, s + gap, n - gap) : 0;
}

/* ------------------------------------------------------ header fields */

enum { FC_TEXT, FC_ADDR, FC_ID, FC_PARAM };

/* How a field's value is built (RFC 5322 §3.6, RFC 2045 §5, RFC 2183):
 * where an encoded-word may stand depends on it (RFC 2047 §5). */
static const struct {
	const char	*name;
	int		 cls;
} fclasses[] = {
	{ "From", FC_ADDR }, { "Sender", FC_ADDR }, { "Reply-To", FC_ADDR },
	{ "To", FC_ADDR }, { "Cc", FC_ADDR }, { "Bcc", FC_ADDR },
	{ "Resent-From", FC_ADDR }, { "Resent-Sender", FC_ADDR },
	{ "Resent-To", FC_ADDR }, { "Resent-Cc", FC_ADDR },
	{ "Resent-Bcc", FC_ADDR }, { "Return-Path", FC_ADDR },
	{ "Disposition-Notification-To", FC_ADDR },
	{ "Return-Receipt-To", FC_ADDR }, { "Errors-To", FC_ADDR },
	{ "Mail-Followup-To", FC_ADDR }, { "Mail-Reply-To", FC_ADDR },
	{ "Message-ID", FC_ID }, { "In-Reply-To", FC_ID },
	{ "References", FC_ID }, { "Resent-Message-ID", FC_ID },
	{ "Content-ID", FC_ID },
	{ "Content-Type", FC_PARAM }, { "Content-Disposition", FC_PARAM },
};

/* The name of field s[0..n): its length up to the colon or WSP. */
static size_t
fname_len(const char *s, size_t n)
{
	size_t	i = 0;

	while (i < n && s[i] != ':' && !is_fws((unsigned char)s[i]))
		i++;
	return i;
}

static int
fname_is(const char *s, size_t n, const char *name)
{
	size_t	k = strlen(name);

	return fname_len(s, n) == k && util_strncasecmp(s, name, k) == 0;
}

static int
field_class(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < sizeof(fclasses) / sizeof(fclasses[0]); i++)
		if (fname_is(s, n, fclasses[i].name))
			return fclasses[i].cls;
	return FC_TEXT;
}

/* Has s[0..n) a line longer than 998 octets (line endings excluded)? */
static int
has_long_line(const char *s, size_t n)
{
	size_t	i, col = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n')
			col = 0;
		else if (s[i] != '\r' && ++col > LINE_MAX_OCTETS)
			return 1;
	}
	return 0;
}

/*
 * Append the unfolded field s[0..n) folded at white space (CRLF before
 * it, RFC 5322 §2.2.3) so lines stay within 78 octets where the words
 * allow, then CRLF.  Never before the value's first word, never into a
 * line of white space only.  1 when a line is still over 998 octets.
 */
static int
fold(const char *s, size_t n, struct buf *out)
{
	size_t	i = 0, j, ws, w, col = 0;
	int	words = 0, over = 0;

	while (i < n) {
		for (j = i; j < n && is_wsp((unsigned char)s[j]); j++)
			;
		ws = j - i;
		for (; j < n && !is_wsp((unsigned char)s[j]); j++)
			;
		w = j - i - ws;
		if (w > 0 && ws > 0 && words >= 2 && col + ws + w > FOLD_AT) {
			if (buf_add(out, "\r\n", 2) == -1)
				return -1;
			col = 0;
		}
		if (buf_add(out, s + i, j - i) == -1)
			return -1;
		col += j - i;
		words += w > 0;
		over |= col > LINE_MAX_OCTETS;
		i = j;
	}
	if (buf_add(out, "\r\n", 2) == -1)
		return -1;
	return over;
}

static int
ew_like(const char *s, size_t n)
{
	return n >= 4 && s[0] == '=' && s[1] == '?' && s[n - 2] == '?' &&
	    s[n - 1] == '=';
}

/*
 * Unstructured text (RFC 2047 §5 (1)): the span from the first to the
 * last word that must be encoded (unsafe for enc, or too long to fold)
 * becomes encoded-words; the text around it stays.  White space next to
 * an existing encoded-word joins the span, or a decoder would drop it
 * between the two words (§6.2).
 */
static int
text_encode(const char *v, size_t n, int enc, struct buf *out)
{
	size_t	i, j, ws, s0 = n, e1 = 0, k, m;
	int	pre, post;

	for (i = 0; i < n; i = j) {
		for (j = i; j < n && is_wsp((unsigned char)v[j]); j++)
			;
		for (ws = j; j < n && !is_wsp((unsigned char)v[j]); j++)
			;
		if (j > ws && (unsafe(v + ws, j - ws, enc) ||
		    j - ws > LONG_WORD)) {
			s0 = s0 == n ? ws : s0;
			e1 = j;
		}
	}
	if (s0 == n)
		return buf_add(out, v, n);
	for (k = s0; k > 0 && is_wsp((unsigned char)v[k - 1]); k--)
		;
	for (m = k; m > 0 && !is_wsp((unsigned char)v[m - 1]); m--)
		;
	if ((pre = k < s0 && ew_like(v + m, k - m)))
		s0 = k;
	for (k = e1; k < n && is_wsp((unsigned char)v[k]); k++)
		;
	for (m = k; m < n && !is_wsp((unsigned char)v[m]); m++)
		;
	if ((post = k > e1 && ew_like(v + k, m - k)))
		e1 = k;
	/* the added spaces part the words; decoders drop them */
	if (buf_add(out, v, s0) == -1 || (pre && buf_addc(out, ' ') == -1) ||
	    mime_encode_text(v + s0, e1 - s0, out) == -1 ||
	    (post && buf_addc(out, ' ') == -1))
		return -1;
	return buf_add(out, v + e1, n - e1);
}

/* Lexical tokens of structured fields (RFC 5322 §3.2). */
enum { T_WS, T_ATOM, T_QS, T_COMMENT, T_ANGLE, T_SEP };

static int
is_atomstop(int c)
{
	return c == '(' || c == '"' || c == '<' || c == ',' || c == ';' ||
	    c == ':';
}

/* The token at v[i]: its kind, and where it ends. */
static size_t
lex(const char *v, size_t n, size_t i, int *kind)
{
	int	depth = 0, k;

	if (is_fws((unsigned char)v[i])) {
		*kind = T_WS;
		while (i < n && is_fws((unsigned char)v[i]))
			i++;
		return i;
	}
	*kind = v[i] == '(' ? T_COMMENT : v[i] == '"' ? T_QS : v[i] == '<' ?
	    T_ANGLE : is_atomstop((unsigned char)v[i]) ? T_SEP : T_ATOM;
	if (*kind == T_SEP)
		return i + 1;
	if (*kind == T_ATOM) {
		while (i < n && !is_fws((unsigned char)v[i]) &&
		    !is_atomstop((unsigned char)v[i]))
			i++;
		return i;
	}
	for (i += *kind != T_COMMENT; i < n; i++) {
		if (v[i] == '\\' && *kind != T_ANGLE && i + 1 < n)
			i++;
		else if (*kind == T_COMMENT && v[i] == '(')
			depth++;
		else if (*kind == T_COMMENT && v[i] == ')' && --depth == 0)
			return i + 1;
		else if (*kind == T_QS && v[i] == '"')
			return i + 1;
		else if (*kind == T_ANGLE && v[i] == '"')
			i = lex(v, n, i, &k) - 1;
		else if (*kind == T_ANGLE && v[i] == '>')
			return i + 1;
	}
	return n;
}

/* The text a phrase or comment stands for: quoted-pairs and the quotes
 * of quoted-strings removed (RFC 5322 §3.2.1, §3.2.4). */
static int
unquote(const char *v, size_t n, int comment, struct buf *t)
{
	size_t	i, j;
	int	k, r = 0;

	for (i = 0; i < n && r == 0; i = j) {
		j = comment ? n : lex(v, n, i, &k);
		if (!comment && k != T_QS) {
			r = buf_add(t, v + i, j - i);
			continue;
		}
		for (i += !comment; i < j && r == 0; i++) {
			if (v[i] == '\\' && i + 1 < j)
				i++;
			else if (!comment && v[i] == '"')
				break;
			r = buf_addc(t, v[i]);
		}
	}
	return r;
}

/* A run of words with no comment in it: encoded when enc and 8-bit;
 * the white space around it stays outside the words. */
static int
run_emit(const char *v, size_t n, int enc, int comment, struct buf *out)
{
	struct buf	t = { 0 };
	size_t		a = 0, b = n;
	int		r;

	if (comment && n >= 2) {
		a = 1;
		b = n - (v[n - 1] == ')');
	}
	for (; !comment && a < b && is_fws((unsigned char)v[a]); a++)
		;
	for (; !comment && b > a && is_fws((unsigned char)v[b - 1]); b--)
		;
	if (!unsafe(v + a, b - a, enc))
		return buf_add(out, v, n);
	r = buf_add(out, v, a) | unquote(v + a, b - a, comment, &t);
	if (r == 0 && t.len > 0)
		r = mime_encode_text(t.p, t.len, out);
	r |= buf_add(out, v + b, n - b);
	buf_free(&t);
	return r == 0 ? 0 : -1;
}

/*
 * One stretch between separators.  Before "<" or ":" it is a phrase
 * (display or group name, §5 (3)); with an "@" and no phrase after it
 * an addr-spec, whose 8-bit octets only SMTPUTF8 can carry.
 */
static int
seg_emit(const char *v, size_t n, int phrase, int enc, struct buf *out,
    int *addr8)
{
	size_t	i, j, rs = 0;
	int	k, at = 0, hi = 0;

	for (i = 0; i < n; i = j) {
		j = lex(v, n, i, &k);
		at |= k == T_ATOM && memchr(v + i, '@', j - i) != NULL;
		hi |= (k == T_ATOM || k == T_QS) && mime_has_8bit(v + i,
		    j - i);
	}
	if (!phrase && at && hi)
		*addr8 = 1;
	for (i = 0; i < n; i = j) {
		j = lex(v, n, i, &k);
		if (k != T_COMMENT)
			continue;
		if (run_emit(v + rs, i - rs, enc, 0, out) == -1 ||
		    run_emit(v + i, j - i, enc, 1, out) == -1)
			return -1;
		rs = j;
	}
	return run_emit(v + rs, n - rs, enc, 0, out);
}

/* An address list (RFC 5322 §3.4); *addr8 set for a non-ASCII
 * address.  Without enc the field is only examined. */
static int
addr_encode(const char *v, size_t n, int enc, struct buf *out, int *addr8)
{
	size_t	i = 0, e, j = 0;
	int	k = T_WS;

	while (i < n) {
		for (e = i; e < n; e = j) {
			j = lex(v, n, e, &k);
			if (k == T_SEP || k == T_ANGLE)
				break;
		}
		if (seg_emit(v + i, e - i, e < n && (k == T_ANGLE ||
		    v[e] == ':'), enc, out, addr8) == -1)
			return -1;
		if (e == n)
			break;
		if (k == T_ANGLE && mime_has_8bit(v + e, j - e))
			*addr8 = 1;
		/* no way to say it in 7 bits: keep them 7-bit at least */
		if (k == T_ANGLE && unsafe(v + e, j - e, enc)) {
			if (mime_encode_text(v + e, j - e, out) == -1)
				return -1;
			i = j;
			continue;
		}
		if (buf_add(out, v + e, j - e) == -1)
			return -1;
		i = j;
	}
	return 0;
}

/* RFC 2231 §7 attribute-char: what may stand unencoded in a value. */
static int
attr_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$&+-.^_`|~", c) != NULL);
}

static int
pct_append(const char *s, size_t n, int only8, struct buf *out)
{
	size_t	i;
	int	r = 0;
	unsigned char c;

	for (i = 0; i < n && r == 0; i++) {
		c = (unsigned char)s[i];
		if (only8 ? c >= 33 && c < 127 : attr_char(c))
			r = buf_addc(out, c);
		else
			r = buf_addf(out, "%%%02X", c);
	}
	return r;
}

/* name*=charset''value (RFC 2231 §4), in numbered sections of at most
 * 60 characters when long (§3), a %XX never split. */
static int
param_2231(const char *name, size_t nl, const char *v, size_t vl,
    struct buf *out)
{
	struct buf	 p = { 0 };
	const char	*cs = mime_utf8_valid(v, vl) ? "utf-8" : "unknown-8bit";
	size_t		 i, k;
	unsigned	 sec;
	int		 r;

	if ((r = pct_append(v, vl, 0, &p)) == 0 && p.len <= 60)
		r = buf_addf(out, "%.*s*=%s''%s", (int)nl, name, cs,
		    p.p != NULL ? p.p : "");
	else
		for (i = 0, sec = 0; r == 0 && i < p.len; i += k, sec++) {
			k = p.len - i > 60 ? 60 : p.len - i;
			if (i + k < p.len && p.p[i + k - 1] == '%')
				k -= 1;
			else if (i + k < p.len && p.p[i + k - 2] == '%')
				k -= 2;
			r = buf_addf(out, "%s%.*s*%u*=%s%s%.*s", sec ? "; " : "",
			    (int)nl, name, sec, sec ? "" : cs, sec ? "" : "''",
			    (int)k, p.p + i);
		}
	buf_free(&p);
	return r;
}

/* One parameter "name=value" holding 8-bit octets. */
static int
param_one(const char *s, size_t n, int enc, struct buf *out)
{
	struct buf	t = { 0 };
	size_t		a, b, c, d, e;
	int		k, r;

	if (!unsafe(s, n, enc))
		return buf_add(out, s, n);
	for (a = 0; a < n && is_fws((unsigned char)s[a]); a++)
		;
	for (b = a; b < n && !is_fws((unsigned char)s[b]) && s[b] != '='; b++)
		;
	for (c = b; c < n && is_fws((unsigned char)s[c]); c++)
		;
	if (b == a || c == n || s[c] != '=' || unsafe(s + a, b - a, enc))
		return text_encode(s, n, enc, out);
	for (d = c + 1; d < n && is_fws((unsigned char)s[d]); d++)
		;
	if (d < n && s[d] == '"')
		e = lex(s, n, d, &k);
	else
		for (e = d; e < n && !is_fws((unsigned char)s[e]) &&
		    s[e] != '('; e++)
			;
	if (s[b - 1] == '*')	/* already RFC 2231: %XX what is 8-bit */
		r = buf_add(out, s, d) | pct_append(s + d, e - d, 1, out);
	else
		r = buf_add(out, s, a) | unquote(s + d, e - d, 0, &t) |
		    param_2231(s + a, b - a, t.p != NULL ? t.p : "", t.len,
		    out);
	buf_free(&t);
	if (r != 0)
		return -1;
	return text_encode(s + e, n - e, enc, out);
}

/* Content-Type and Content-Disposition (RFC 2045 §5.1, RFC 2183). */
static int
param_encode(const char *v, size_t n, int enc, struct buf *out)
{
	size_t	i, j = 0, s = 0;
	int	k, first = 1;

	for (i = 0;; i = j) {
		if (i < n) {
			j = lex(v, n, i, &k);
			if (k != T_SEP || v[i] != ';')
				continue;
		}
		if ((first ? text_encode(v + s, i - s, enc, out) :
		    param_one(v + s, i - s, enc, out)) == -1)
			return -1;
		if (i >= n)
			return 0;
		if (buf_addc(out, ';') == -1)
			return -1;
		s = j;
		first = 0;
	}
}

/* The value of a field to send, unfolded, into v. */
static int
field_value(const char *u, size_t n, int cls, int enc, struct buf *v)
{
	int	addr8 = 0;

	if (enc == E_NONE && cls != FC_TEXT)
		return buf_add(v, u, n);
	switch (cls) {
	case FC_ADDR:
		return addr_encode(u, n, enc, v, &addr8);
	case FC_PARAM:
		return param_encode(u, n, enc, v);
	}
	return text_encode(u, n, enc, v);
}

int
mime_field(const char *s, size_t n, int encode, struct buf *out,
    struct fail *f)
{
	struct buf	 u = { 0 }, v = { 0 };
	const char	*colon;
	size_t		 i, vo;
	int		 enc, r = -1, nl;

	/* NUL goes out encoded even where 8-bit text may stay */
	enc = encode ? E_ALL : E_NUL;
	if (!unsafe(s, n, enc))
		enc = E_NONE;
	if (enc == E_NONE && !has_long_line(s, n))
		return buf_add(out, s, n) == -1 || buf_add(out, "\r\n", 2) ==
		    -1 ? fail_nomem(f) : 0;
	/* unfold: drop the line endings, keep the white space (§2.2.3) */
	for (i = 0; i < n; i++)
		if (s[i] != '\r' && s[i] != '\n' && buf_addc(&u, s[i]) == -1)
			goto nomem;
	if (u.p == NULL && buf_add(&u, "", 0) == -1)
		goto nomem;
	colon = memchr(u.p, ':', u.len);
	vo = colon != NULL ? (size_t)(colon - u.p) + 1 : u.len;
	if (buf_add(&v, u.p, vo) == -1 || field_value(u.p + vo, u.len - vo,
	    field_class(u.p, u.len), enc, &v) == -1)
		goto nomem;
	if ((r = fold(v.p, v.len, out)) == -1)
		goto nomem;
	if (r == 1) {
		nl = (int)fname_len(u.p, u.len);
		r = fail_set(f, EX_DATAERR, "the %.*s header field has a word "
		    "too long to fold into lines of 998 octets (RFC 5322 "
		    "§2.1.1): shorten it", nl < 60 ? nl : 60, u.p);
	}
	goto out;
nomem:
	r = fail_nomem(f);
out:
	buf_free(&u);
	buf_free(&v);
	return r;
}

/* Does field s[0..n) carry a non-ASCII address or message-id, which
 * only SMTPUTF8 can carry (RFC 6531 §3.2, RFC 6532 §3.2)? */
static int
field_addr8(const char *s, size_t n, int *addr8, struct fail *f)
{
	struct buf	 scratch = { 0 };
	const char	*colon;
	int		 cls = field_class(s, n), r = 0;

	if (!mime_has_8bit(s, n) || (cls != FC_ADDR && cls != FC_ID))
		return 0;
	if (cls == FC_ID) {
		*addr8 = 1;
		return 0;
	}
	colon = memchr(s, ':', n);
	if (colon != NULL)
		r = addr_encode(colon + 1, n - (size_t)(colon - s) - 1,
		    E_NONE, &scratch, addr8);
	buf_free(&scratch);
	return r == -1 ? fail_nomem(f) : 0;
}

/* ------------------------------------------------------------ walker */

/*
 * The walker reads the message (header, then body) in pieces of any
 * size and reports its structure: each entity's header fields, where
 * its header ends, the regions of content (leaf bodies, preambles and
 * epilogues) and the boundary delimiter lines between them (RFC 2046
 * §5.1.1).  A line ending just before a delimiter belongs to the
 * delimiter, so it is held back until the next line is seen.  Lines
 * are split into pieces only past PEEK octets; such a line is neither a
 * delimiter nor a part-header line, and limits on part headers keep
 * memory small: what breaks them is read as body, by every pass alike.
 */
#define DEPTH_MAX	32		/* nested multiparts and messages */
#define PEEK		1024
#define BOUNDARY_MAX	200		/* RFC 2046 says 70; be lenient */
#define PFIELD_MAX	(64 * 1024)	/* one part-header field */
#define PHDR_MAX	(256 * 1024)	/* one part header */

enum { K_LEAF, K_MULTI, K_MESSAGE };
enum { CTE_NONE, CTE_7BIT, CTE_8BIT, CTE_BINARY, CTE_QP, CTE_BASE64,
	CTE_OTHER };
enum { RG_BODY, RG_PREAMBLE, RG_EPILOGUE };

/* One entity (the message, a body part, an embedded message). */
struct ent {
	unsigned	 id;		/* 0: the message itself */
	int		 kind;		/* K_*, known when the header ends */
	int		 text;		/* text/ *, or the text/plain default */
	int		 cte;		/* CTE_* as labelled */
	int		 has_ctype;
	int		 has_version;
	int		 is_msg;	/* a message header: MIME-Version here */
	int		 in_digest;	/* default message/rfc822 (§5.1.5) */
	int		 multi;		/* Content-Type: multipart/ * */
	int		 rfc822;	/* Content-Type: message/rfc822 */
	int		 digest;	/* multipart/digest */
	char		 bnd[BOUNDARY_MAX + 1];
	size_t		 blen;
	size_t		 hbytes;	/* header octets so far */
};

struct level {
	char		 bnd[BOUNDARY_MAX + 1];
	size_t		 blen;
	int		 digest;
	int		 nmsg;		/* message nesting when opened */
};

struct walk;

/* What the walker reports; each returns 0 or -1. */
struct sink {
	int	(*ent)(void *, const struct walk *);
	int	(*field)(void *, const struct walk *, const char *, size_t);
	int	(*hdr_end)(void *, const struct walk *, const char *, size_t);
	int	(*region)(void *, const struct walk *, int);
	int	(*data)(void *, const char *, size_t);
	int	(*region_end)(void *, const struct walk *);
	int	(*delim)(void *, const char *, size_t, const char *, size_t);
};

struct walk {
	const struct sink *sk;
	void		*arg;
	struct level	 lv[DEPTH_MAX];
	int		 nlv;
	int		 nmsg;
	int		 in_hdr;
	struct ent	 cur;
	unsigned	 nent;
	unsigned	 nreg;		/* regions begun; the last is current */
	int		 reg_open;
	struct buf	 fld;		/* the header field being gathered */
	char		 peek[PEEK];
	size_t		 npeek;
	int		 longline;	/* the current line outgrew peek */
	int		 long_hdr;	/* ...and belongs to a header field */
	int		 pcr;		/* a long line's piece ended in CR */
	char		 held[2];	/* a line ending, maybe a delimiter's */
	size_t		 nheld;
};

/* The length of the line ending of s[0..n) (CRLF, LF or none). */
static size_t
term_len(const char *s, size_t n)
{
	if (n == 0 || s[n - 1] != '\n')
		return 0;
	return n >= 2 && s[n - 2] == '\r' ? 2 : 1;
}

static int
is_tchar(int c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Skip comments and white space (CFWS) from i. */
static size_t
skip_cfws(const char *v, size_t n, size_t i)
{
	int	k;
	size_t	j;

	while (i < n) {
		j = lex(v, n, i, &k);
		if (k != T_WS && k != T_COMMENT)
			break;
		i = j;
	}
	return i;
}

static size_t
token_end(const char *v, size_t n, size_t i)
{
	while (i < n && is_tchar((unsigned char)v[i]))
		i++;
	return i;
}

static int
tok_is(const char *v, size_t a, size_t b, const char *w)
{
	return b - a == strlen(w) && util_strncasecmp(v + a, w, b - a) == 0;
}

/* Keep a boundary parameter: 7-bit, no controls, trailing white space
 * removed (as Python's email.message.get_boundary does). */
static void
ctype_boundary(struct ent *c, const char *v, size_t n)
{
	struct buf	t = { 0 };
	size_t		i;

	if (unquote(v, n, 0, &t) == -1 || t.len == 0)
		goto out;
	while (t.len > 0 && is_wsp((unsigned char)t.p[t.len - 1]))
		t.len--;
	if (t.len == 0 || t.len > BOUNDARY_MAX)
		goto out;
	for (i = 0; i < t.len; i++)
		if ((unsigned char)t.p[i] < 32 || (unsigned char)t.p[i] > 126)
			goto out;
	memcpy(c->bnd, t.p, t.len);
	c->bnd[t.len] = '\0';
	c->blen = t.len;
out:
	buf_free(&t);
}

/* Content-Type: type "/" subtype *(";" parameter) (RFC 2045 §5.1). */
static void
ctype_parse(struct ent *c, const char *v, size_t n)
{
	size_t	ta, te, sa, se, i, j, pa, pe;
	int	k;

	ta = skip_cfws(v, n, 0);
	te = token_end(v, n, ta);
	i = skip_cfws(v, n, te);
	if (te == ta || i >= n || v[i] != '/') {
		c->text = 1;	/* unreadable: text/plain (§5.2) */
		return;
	}
	sa = skip_cfws(v, n, i + 1);
	se = token_end(v, n, sa);
	c->text = tok_is(v, ta, te, "text");
	c->multi = tok_is(v, ta, te, "multipart");
	c->digest = c->multi && tok_is(v, sa, se, "digest");
	c->rfc822 = tok_is(v, ta, te, "message") && tok_is(v, sa, se,
	    "rfc822");
	for (i = se; i < n; i = j) {
		j = lex(v, n, i, &k);
		if (k != T_SEP || v[i] != ';')
			continue;
		pa = skip_cfws(v, n, j);
		pe = token_end(v, n, pa);
		j = skip_cfws(v, n, pe);
		if (j >= n || v[j] != '=' || !tok_is(v, pa, pe, "boundary") ||
		    c->blen > 0)
			continue;
		pa = skip_cfws(v, n, j + 1);
		pe = pa < n && v[pa] == '"' ? lex(v, n, pa, &k) :
		    token_end(v, n, pa);
		ctype_boundary(c, v + pa, pe - pa);
		j = pe > j ? pe : j + 1;
	}
}

static int
cte_parse(const char *v, size_t n)
{
	static const char *const names[] = { "7bit", "8bit", "binary",
	    "quoted-printable", "base64" };
	size_t	a = skip_cfws(v, n, 0), b = token_end(v, n, a), i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (tok_is(v, a, b, names[i]))
			return CTE_7BIT + (int)i;
	return CTE_OTHER;
}

/* Learn what the walk needs from one complete field. */
static void
field_learn(struct ent *c, const char *s, size_t n)
{
	const char	*colon = memchr(s, ':', n);
	size_t		 vo = colon != NULL ? (size_t)(colon - s) + 1 : n;

	if (fname_is(s, n, "Content-Type") && !c->has_ctype) {
		c->has_ctype = 1;
		ctype_parse(c, s + vo, n - vo);
	} else if (fname_is(s, n, "Content-Transfer-Encoding") &&
	    c->cte == CTE_NONE)
		c->cte = cte_parse(s + vo, n - vo);
	else if (fname_is(s, n, "MIME-Version"))
		c->has_version = 1;
}

static int
w_field_flush(struct walk *w)
{
	size_t	n = w->fld.len;
	int	r;

	if (n == 0)
		return 0;
	n -= term_len(w->fld.p, n);
	field_learn(&w->cur, w->fld.p, n);
	r = w->sk->field(w->arg, w, w->fld.p, n);
	buf_reset(&w->fld);
	return r;
}

static int
w_ent_begin(struct walk *w, int in_digest, int is_msg)
{
	memset(&w->cur, 0, sizeof(w->cur));
	w->cur.id = w->nent++;
	w->cur.is_msg = is_msg;
	w->cur.in_digest = in_digest;
	w->in_hdr = 1;
	buf_reset(&w->fld);
	return w->sk->ent(w->arg, w);
}

static int
w_region(struct walk *w, int kind)
{
	w->nreg++;
	w->reg_open = 1;
	return w->sk->region(w->arg, w, kind);
}

static int
w_region_end(struct walk *w)
{
	if (!w->reg_open)
		return 0;
	w->reg_open = 0;
	return w->sk->region_end(w->arg, w);
}

static int
w_data(struct walk *w, const char *p, size_t n)
{
	return n > 0 ? w->sk->data(w->arg, p, n) : 0;
}

static int
w_flush_held(struct walk *w)
{
	size_t	n = w->nheld;

	w->nheld = 0;
	return w_data(w, w->held, n);
}

/*
 * The header is over (sep: the empty line, or "" when something else
 * ended it).  A header that did not end with an empty line opens no
 * embedded message, so bad input cannot nest without limit.
 */
static int
w_hdr_done(struct walk *w, const char *sep, size_t nsep)
{
	struct ent	*c = &w->cur;
	int		 depth = w->nlv + w->nmsg;

	if (w_field_flush(w) == -1)
		return -1;
	if (!c->has_ctype) {
		c->rfc822 = c->in_digest;
		c->text = !c->in_digest;
	}
	c->kind = K_LEAF;
	if (c->multi && c->blen > 0 && depth < DEPTH_MAX - 1)
		c->kind = K_MULTI;
	else if (c->rfc822 && depth < DEPTH_MAX - 1 && nsep > 0)
		c->kind = K_MESSAGE;
	w->in_hdr = 0;
	if (w->sk->hdr_end(w->arg, w, sep, nsep) == -1)
		return -1;
	if (c->kind == K_LEAF)
		return w_region(w, RG_BODY);
	if (c->kind == K_MESSAGE) {
		w->nmsg++;
		return w_ent_begin(w, 0, 1);
	}
	memcpy(w->lv[w->nlv].bnd, c->bnd, c->blen + 1);
	w->lv[w->nlv].blen = c->blen;
	w->lv[w->nlv].digest = c->digest;
	w->lv[w->nlv].nmsg = w->nmsg;
	w->nlv++;
	return w_region(w, RG_PREAMBLE);
}

/* The level whose delimiter line s[0..n) is, or -1; *close for the
 * close delimiter.  Inner levels first, then the outer ones, which end
 * the inner parts too (as Python's email parser does). */
static int
w_boundary(const struct walk *w, const char *s, size_t n, int *close)
{
	const struct level *l;
	size_t	i;
	int	k, c;

	n -= term_len(s, n);
	if (w->nlv == 0 || n < 3 || s[0] != '-' || s[1] != '-')
		return -1;
	for (k = w->nlv - 1; k >= 0; k--) {
		l = &w->lv[k];
		if (n < 2 + l->blen || memcmp(s + 2, l->bnd, l->blen) != 0)
			continue;
		i = 2 + l->blen;
		c = n >= i + 2 && s[i] == '-' && s[i + 1] == '-';
		for (i += c ? 2 : 0; i < n && is_wsp((unsigned char)s[i]); i++)
			;
		if (i < n)
			continue;
		*close = c;
		return k;
	}
	return -1;
}

static int
w_delim(struct walk *w, const char *s, size_t n, int k, int close)
{
	size_t	nh = w->nheld;

	if (w_region_end(w) == -1)
		return -1;
	w->nheld = 0;
	if (w->sk->delim(w->arg, w->held, nh, s, n) == -1)
		return -1;
	w->nmsg = w->lv[k].nmsg;
	if (close) {
		w->nlv = k;
		return w_region(w, RG_EPILOGUE);
	}
	w->nlv = k + 1;
	return w_ent_begin(w, w->lv[k].digest, 0);
}

static int
w_body_line(struct walk *w, const char *s, size_t n)
{
	size_t	t = term_len(s, n);
	int	k, close;

	if ((k = w_boundary(w, s, n, &close)) >= 0)
		return w_delim(w, s, n, k, close);
	if (w_flush_held(w) == -1 || w_data(w, s, n - t) == -1)
		return -1;
	memcpy(w->held, s + n - t, t);
	w->nheld = t;
	return 0;
}

/* A field's first line: a name of printable ASCII, optional WSP, a
 * colon (RFC 5322 §2.2, §4.5.3). */
static int
is_field_line(const char *s, size_t n)
{
	size_t	i = 0;

	while (i < n && s[i] > 32 && s[i] < 127 && s[i] != ':')
		i++;
	if (i == 0)
		return 0;
	while (i < n && is_wsp((unsigned char)s[i]))
		i++;
	return i < n && s[i] == ':';
}

static int
w_line(struct walk *, const char *, size_t);

/* A complete header line of at most PEEK octets. */
static int
w_hdr_line(struct walk *w, const char *s, size_t n)
{
	size_t	t = term_len(s, n);
	int	cont, close, part = w->cur.id > 0;

	if (n == t)
		return w_hdr_done(w, s, n);
	cont = is_wsp((unsigned char)s[0]) && w->fld.len > 0;
	if (part && (w->cur.hbytes + n > PHDR_MAX ||
	    (cont && w->fld.len + n > PFIELD_MAX)))
		goto body;
	if (!cont && (w_boundary(w, s, n, &close) >= 0 ||
	    !is_field_line(s, n - t)))
		goto body;
	if (!cont && w_field_flush(w) == -1)
		return -1;
	w->cur.hbytes += n;
	return buf_add(&w->fld, s, n);
body:
	if (w_hdr_done(w, "", 0) == -1)
		return -1;
	return w_line(w, s, n);
}

static int
w_line(struct walk *w, const char *s, size_t n)
{
	return w->in_hdr ? w_hdr_line(w, s, n) : w_body_line(w, s, n);
}

/* A piece of a body line too long to be a delimiter.  A CR ending a
 * piece waits: with the LF after it, it is the line ending. */
static int
w_body_long(struct walk *w, const char *s, size_t n, int first, int eol)
{
	size_t	t;

	if (first && w_flush_held(w) == -1)
		return -1;
	if (w->pcr) {
		w->pcr = 0;
		if (eol && n == 1) {
			memcpy(w->held, "\r\n", 2);
			w->nheld = 2;
			return 0;
		}
		if (w_data(w, "\r", 1) == -1)
			return -1;
	}
	t = eol ? term_len(s, n) : 0;
	if (!eol && n > 0 && s[n - 1] == '\r') {
		w->pcr = 1;
		n--;
	}
	if (w_data(w, s, n - t) == -1)
		return -1;
	memcpy(w->held, s + n - t, t);
	w->nheld = t;
	return 0;
}

/*
 * A piece of a line longer than PEEK.  In the message's own header (a
 * Subject of 5,000 characters) it is part of a field; in a part header
 * it ends the header and is body, like anything else no header holds.
 */
static int
w_long(struct walk *w, const char *s, size_t n, int first, int eol)
{
	int	cont;

	if (first && w->in_hdr) {
		cont = is_wsp((unsigned char)s[0]) && w->fld.len > 0;
		if (w->cur.id > 0 || (!cont && !is_field_line(s, n))) {
			if (w_hdr_done(w, "", 0) == -1)
				return -1;
		} else {
			if (!cont && w_field_flush(w) == -1)
				return -1;
			w->long_hdr = 1;
		}
	}
	if (!w->long_hdr)
		return w_body_long(w, s, n, first, eol);
	if (eol)
		w->long_hdr = 0;
	w->cur.hbytes += n;
	return buf_add(&w->fld, s, n);
}

static int
w_piece(struct walk *w, const char *p, size_t n, int eol)
{
	size_t	k;
	int	r;

	if (w->longline)
		r = w_long(w, p, n, 0, eol);
	else if (w->npeek + n <= PEEK) {
		memcpy(w->peek + w->npeek, p, n);
		w->npeek += n;
		if (!eol)
			return 0;
		k = w->npeek;
		w->npeek = 0;
		return w_line(w, w->peek, k);
	} else {
		w->longline = 1;
		k = w->npeek;
		w->npeek = 0;
		if (k > 0)
			r = w_long(w, w->peek, k, 1, 0) == -1 ? -1 :
			    w_long(w, p, n, 0, eol);
		else
			r = w_long(w, p, n, 1, eol);
	}
	if (eol)
		w->longline = 0;
	return r;
}

static int
w_init(struct walk *w, const struct sink *sk, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->sk = sk;
	w->arg = arg;
	return w_ent_begin(w, 0, 1);
}

static int
w_feed(struct walk *w, const char *p, size_t n)
{
	const char	*lf;
	size_t		 k;

	while (n > 0) {
		lf = memchr(p, '\n', n);
		k = lf != NULL ? (size_t)(lf - p) + 1 : n;
		if (w_piece(w, p, k, lf != NULL) == -1)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

/* End of input: a last line without its ending, then every open
 * region ends; a line ending held back is content after all. */
static int
w_end(struct walk *w)
{
	size_t	k = w->npeek;

	w->npeek = 0;
	if (k > 0 && w_line(w, w->peek, k) == -1)
		return -1;
	if (w->longline && !w->long_hdr && w->pcr &&
	    w_data(w, "\r", 1) == -1)
		return -1;
	w->longline = w->long_hdr = w->pcr = 0;
	if (w->in_hdr && w_hdr_done(w, "", 0) == -1)
		return -1;
	if (w_flush_held(w) == -1)
		return -1;
	return w_region_end(w);
}

static void
w_free(struct walk *w)
{
	buf_free(&w->fld);
}

/* ------------------------------------------------------------ policy */

/* What the scan learns of each region, one octet each. */
#define R_8BIT		0x01	/* octets >= 0x80 */
#define R_BAD		0x02	/* NUL, or CR or LF not in a CRLF */
#define R_LONG		0x04	/* a line over 998 octets */
#define R_U8BAD		0x08	/* not UTF-8 */
#define R_ALL		0x0f
#define REGIONS_MAX	65536	/* past it, assume the worst */

enum { ACT_KEEP, ACT_QP, ACT_B64, ACT_QPFIX, ACT_B64FIX, ACT_RELABEL };

static int
r_bad(int rf, int eightbit)
{
	return (rf & (R_BAD | R_LONG)) || ((rf & R_8BIT) && !eightbit);
}

/*
 * A leaf body (SPEC §2.4): left alone when the server takes it, else
 * quoted-printable for text and base64 for the rest; already encoded
 * parts are mended, never encoded twice (RFC 2045 §6.4); a clean part
 * labelled binary is relabelled, as there is no BINARYMIME here.
 */
static int
leaf_act(const struct ent *c, int rf, int eightbit)
{
	int	bad = r_bad(rf, eightbit), enc = c->text ? ACT_QP : ACT_B64;

	switch (c->cte) {
	case CTE_QP:
		return bad ? ACT_QPFIX : ACT_KEEP;
	case CTE_BASE64:
		return bad ? ACT_B64FIX : ACT_KEEP;
	case CTE_BINARY:
		return bad ? enc : ACT_RELABEL;
	}
	return bad ? enc : ACT_KEEP;
}

/* A multipart or message is never encoded (RFC 2045 §6.4); its label
 * follows what it will hold. */
static int
comp_act(const struct ent *c, int eightbit)
{
	if (c->cte == CTE_BINARY || (c->cte == CTE_8BIT && !eightbit))
		return ACT_RELABEL;
	return ACT_KEEP;
}

/* Preambles and epilogues are for no reader (RFC 2046 §5.1.1): when
 * they would not travel, quoted-printable keeps them readable. */
static int
aside_act(int rf, int eightbit)
{
	return r_bad(rf, eightbit) ? ACT_QP : ACT_KEEP;
}

/* ------------------------------------------------------------ scan */

struct scan {
	int		 eightbit;
	unsigned char	*rf;
	size_t		 nrf;
	int		 kind;		/* of the current region */
	unsigned char	 cur;
	size_t		 col;
	int		 cr;
	struct u8v	 u8;
	unsigned long	 nconv;		/* things the converter will change */
	int		 nomem;
};

static int
scan_ent(void *arg, const struct walk *w)
{
	(void)arg;
	(void)w;
	return 0;
}

/* A part header field that is rewritten in any case. */
static int
scan_field(void *arg, const struct walk *w, const char *s, size_t n)
{
	struct scan	*sc = arg;

	if (w->cur.id > 0 && (has_long_line(s, n) || memchr(s, '\0', n) !=
	    NULL || (!sc->eightbit && mime_has_8bit(s, n))))
		sc->nconv++;
	return 0;
}

static int
scan_hdr_end(void *arg, const struct walk *w, const char *s, size_t n)
{
	struct scan	*sc = arg;

	(void)s;
	(void)n;
	if (w->cur.kind != K_LEAF && comp_act(&w->cur, sc->eightbit) !=
	    ACT_KEEP)
		sc->nconv++;
	return 0;
}

static int
scan_region(void *arg, const struct walk *w, int kind)
{
	struct scan	*sc = arg;

	(void)w;
	sc->kind = kind;
	sc->cur = 0;
	sc->col = 0;
	sc->cr = 0;
	memset(&sc->u8, 0, sizeof(sc->u8));
	return 0;
}

static int
scan_data(void *arg, const char *p, size_t n)
{
	struct scan		*sc = arg;
	const unsigned char	*u = (const unsigned char *)p;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (sc->cr) {
			sc->cr = 0;
			if (u[i] == '\n') {
				sc->col = 0;
				continue;
			}
			sc->cur |= R_BAD;	/* a CR alone is an octet */
			sc->col++;
		}
		if (u[i] == '\r') {
			sc->cr = 1;
			continue;
		}
		if (u[i] == '\n') {
			sc->cur |= R_BAD;
			sc->col = 0;
			continue;
		}
		sc->cur |= u[i] == '\0' ? R_BAD : 0;
		sc->cur |= u[i] & 0x80 ? R_8BIT : 0;
		if (++sc->col > LINE_MAX_OCTETS)
			sc->cur |= R_LONG;
	}
	u8v_feed(&sc->u8, u, n);
	return 0;
}

static int
scan_region_end(void *arg, const struct walk *w)
{
	struct scan	*sc = arg;
	unsigned	 idx = w->nreg - 1;
	unsigned char	*nv;
	size_t		 cap;
	int		 act;

	sc->cur |= sc->cr ? R_BAD : 0;
	sc->cur |= sc->u8.bad || sc->u8.need ? R_U8BAD : 0;
	act = sc->kind == RG_BODY ? leaf_act(&w->cur, sc->cur, sc->eightbit) :
	    aside_act(sc->cur, sc->eightbit);
	sc->nconv += act != ACT_KEEP;
	if (idx >= REGIONS_MAX)
		return 0;
	if (idx >= sc->nrf) {
		cap = sc->nrf ? sc->nrf * 2 : 64;
		while (cap <= idx)
			cap *= 2;
		if ((nv = realloc(sc->rf, cap)) == NULL) {
			sc->nomem = 1;
			return -1;
		}
		memset(nv + sc->nrf, R_ALL, cap - sc->nrf);
		sc->rf = nv;
		sc->nrf = cap;
	}
	sc->rf[idx] = sc->cur;
	return 0;
}

/* A delimiter made long by its padding loses the padding. */
static int
scan_delim(void *arg, const char *h, size_t nh, const char *s, size_t n)
{
	struct scan	*sc = arg;

	(void)h;
	(void)nh;
	if (n - term_len(s, n) > LINE_MAX_OCTETS)
		sc->nconv++;
	return 0;
}

static const struct sink scan_sink = {
	scan_ent, scan_field, scan_hdr_end, scan_region, scan_data,
	scan_region_end, scan_delim
};

/* ------------------------------------------------------------ convert */

struct span {
	size_t	off, len;
};

struct conv {
	int		 eightbit;	/* part headers and bodies may be 8-bit */
	int		 utf8;		/* the message header may be UTF-8 */
	int		 body_raw;	/* only the message header is converted */
	const unsigned char *rf;
	size_t		 nrf;
	struct buf	*out;
	struct fail	*f;
	struct buf	 hdr;		/* the entity's fields, re-encoded */
	struct span	*cte;		/* its Content-Transfer-Encoding fields */
	size_t		 ncte;
	size_t		 ccap;
	int		 act;		/* for its body region */
	int		 ract;		/* the current region's action */
	struct mime_enc	 enc;
	int		 lastc;		/* the last octet produced */
};

static int
conv_rf(const struct conv *cv, unsigned idx)
{
	return idx < cv->nrf ? cv->rf[idx] : R_ALL;
}

static int
conv_nomem(struct conv *cv)
{
	return fail_nomem(cv->f);
}

static void
conv_mark(struct conv *cv)
{
	if (cv->out->len > 0)
		cv->lastc = (unsigned char)cv->out->p[cv->out->len - 1];
}

static int
conv_ent(void *arg, const struct walk *w)
{
	struct conv	*cv = arg;

	(void)w;
	buf_reset(&cv->hdr);
	cv->ncte = 0;
	return 0;
}

static int
conv_field(void *arg, const struct walk *w, const char *s, size_t n)
{
	struct conv	*cv = arg;
	struct span	*nv;
	size_t		 off = cv->hdr.len;
	int		 enc = w->cur.id == 0 ? !cv->utf8 : !cv->eightbit;

	if (cv->body_raw && w->cur.id > 0)
		enc = 0;
	if (mime_field(s, n, enc, &cv->hdr, cv->f) == -1)
		return -1;
	if (!fname_is(s, n, "Content-Transfer-Encoding"))
		return 0;
	if (cv->ncte == cv->ccap) {
		cv->ccap = cv->ccap ? cv->ccap * 2 : 4;
		if ((nv = reallocarray(cv->cte, cv->ccap, sizeof(*nv))) == NULL)
			return conv_nomem(cv);
		cv->cte = nv;
	}
	cv->cte[cv->ncte].off = off;
	cv->cte[cv->ncte++].len = cv->hdr.len - off;
	return 0;
}

/* The entity's action, its new Content-Transfer-Encoding or NULL. */
static const char *
conv_decide(struct conv *cv, const struct walk *w, int *act)
{
	const struct ent *c = &w->cur;
	int		 rf = conv_rf(cv, w->nreg);

	*act = ACT_KEEP;
	if (cv->body_raw)
		return NULL;
	if (c->kind != K_LEAF) {
		*act = comp_act(c, cv->eightbit);
		return *act == ACT_KEEP ? NULL : cv->eightbit ? "8bit" : "7bit";
	}
	switch ((*act = leaf_act(c, rf, cv->eightbit))) {
	case ACT_QP:
		return "quoted-printable";
	case ACT_B64:
		return "base64";
	case ACT_RELABEL:
		return rf & R_8BIT ? "8bit" : "7bit";
	}
	return NULL;
}

/* The fields a conversion adds (SPEC §2.4): a charset for 8-bit text
 * that had no Content-Type, and MIME-Version in a message header. */
static int
conv_added(struct conv *cv, const struct walk *w, const char *cte)
{
	const struct ent *c = &w->cur;
	int		 rf = conv_rf(cv, w->nreg), r = 0;

	if (c->is_msg && !c->has_version && !cv->body_raw &&
	    (cte != NULL || c->id == 0))
		r |= buf_adds(cv->out, "MIME-Version: 1.0\r\n");
	if (cte != NULL && c->kind == K_LEAF && !c->has_ctype && c->text &&
	    (rf & R_8BIT))
		r |= buf_addf(cv->out, "Content-Type: text/plain; charset=%s"
		    "\r\n", rf & R_U8BAD ? "unknown-8bit" : "utf-8");
	if (cte != NULL && cv->ncte == 0)
		r |= buf_addf(cv->out, "Content-Transfer-Encoding: %s\r\n",
		    cte);
	return r == 0 ? 0 : conv_nomem(cv);
}

static int
conv_hdr_end(void *arg, const struct walk *w, const char *sep, size_t nsep)
{
	struct conv	*cv = arg;
	const char	*cte = conv_decide(cv, w, &cv->act);
	size_t		 i, pos = 0;
	int		 r = 0;

	/* the first Content-Transfer-Encoding field is replaced in place,
	 * any other one removed */
	for (i = 0; cte != NULL && i < cv->ncte; i++) {
		r |= buf_add(cv->out, cv->hdr.p + pos, cv->cte[i].off - pos);
		if (i == 0)
			r |= buf_addf(cv->out, "Content-Transfer-Encoding: "
			    "%s\r\n", cte);
		pos = cv->cte[i].off + cv->cte[i].len;
	}
	r |= buf_add(cv->out, cv->hdr.p != NULL ? cv->hdr.p + pos : "",
	    cv->hdr.len - pos);
	if (r != 0)
		return conv_nomem(cv);
	if (conv_added(cv, w, cte) == -1)
		return -1;
	/* an encoded body needs its header to end with an empty line */
	if (nsep == 0 && (cv->act == ACT_QP || cv->act == ACT_B64))
		r = buf_add(cv->out, "\r\n", 2);
	else
		r = buf_add(cv->out, sep, nsep);
	conv_mark(cv);
	return r == 0 ? 0 : conv_nomem(cv);
}

static int
conv_region(void *arg, const struct walk *w, int kind)
{
	static const int enc[] = { 0, MIME_ENC_QP, MIME_ENC_BASE64,
	    MIME_ENC_QPFIX, MIME_ENC_B64FIX, 0 };
	struct conv	*cv = arg;

	if (cv->body_raw)
		cv->ract = ACT_KEEP;
	else if (kind == RG_BODY)
		cv->ract = cv->act;
	else
		cv->ract = aside_act(conv_rf(cv, w->nreg - 1), cv->eightbit);
	mime_enc_init(&cv->enc, enc[cv->ract]);
	return 0;
}

static int
conv_data(void *arg, const char *p, size_t n)
{
	struct conv	*cv = arg;
	int		 r;

	if (cv->enc.kind == 0)
		r = buf_add(cv->out, p, n);
	else
		r = mime_enc_put(&cv->enc, p, n, cv->out);
	conv_mark(cv);
	return r == 0 ? 0 : conv_nomem(cv);
}

static int
conv_region_end(void *arg, const struct walk *w)
{
	struct conv	*cv = arg;
	int		 r;

	(void)w;
	r = mime_enc_end(&cv->enc, cv->out);
	conv_mark(cv);
	return r == 0 ? 0 : conv_nomem(cv);
}

/* A delimiter line, without transport padding if that made it long. */
static int
conv_delim(void *arg, const char *h, size_t nh, const char *s, size_t n)
{
	struct conv	*cv = arg;
	size_t		 t = term_len(s, n), e = n - t;
	int		 r;

	if (e > LINE_MAX_OCTETS)
		while (e > 0 && is_wsp((unsigned char)s[e - 1]))
			e--;
	r = buf_add(cv->out, h, nh) | buf_add(cv->out, s, e) |
	    buf_add(cv->out, s + n - t, t);
	conv_mark(cv);
	return r == 0 ? 0 : conv_nomem(cv);
}

static const struct sink conv_sink = {
	conv_ent, conv_field, conv_hdr_end, conv_region, conv_data,
	conv_region_end, conv_delim
};

/* The end of the message: its last line gets its ending (a soft
 * break for quoted-printable, which adds nothing to the text). */
static int
conv_finish(struct conv *cv)
{
	const char	*end = "\r\n";

	if (cv->lastc == '\n' || cv->lastc == -1)
		return 0;
	if ((cv->ract == ACT_QP || cv->ract == ACT_QPFIX) && cv->lastc != '=')
		end = "=\r\n";
	if (buf_adds(cv->out, end) == -1)
		return conv_nomem(cv);
	cv->lastc = '\n';
	return 0;
}

/* ------------------------------------------------------------ message */

#define CHUNK	(64 * 1024)

enum { MODE_RAW, MODE_HDR, MODE_FULL };

struct mime {
	const char	*hdr;
	size_t		 hlen;
	const struct msg *m;
	const char	*mem;		/* the body, when held in memory */
	unsigned long long blen;
	int		 b8, bnul;	/* the body has 8-bit octets, NUL */
	int		 real8;		/* ...8-bit octets, not just -B 8BITMIME */
	size_t		 bmax;		/* its longest line */
	int		 mode;
	unsigned char	*rf;		/* region flags from the scan */
	size_t		 nrf;
	struct buf	 hout;		/* MODE_HDR: the header to send */
	/* reading */
	unsigned long long off;		/* input consumed (header + body) */
	struct walk	 w;
	struct conv	 cv;
	struct buf	 out;		/* produced, not yet read */
	size_t		 outoff;
	int		 running;	/* w and cv are set up */
	int		 eof;
	char		*chunk;
};

static struct mime *
mime_new(const char *hdr, size_t hlen, struct fail *f)
{
	struct mime	*mx;

	if ((mx = calloc(1, sizeof(*mx))) == NULL ||
	    (mx->chunk = malloc(CHUNK)) == NULL) {
		free(mx);
		fail_nomem(f);
		return NULL;
	}
	mx->hdr = hdr;
	mx->hlen = hlen;
	return mx;
}

struct mime *
mime_open(const char *hdr, size_t hlen, const struct msg *m, struct fail *f)
{
	struct mime	*mx = mime_new(hdr, hlen, f);

	if (mx == NULL)
		return NULL;
	mx->m = m;
	mx->blen = m->bodylen;
	mx->b8 = m->body8bit;
	mx->bnul = m->bodynul;
	mx->bmax = m->maxline;
	return mx;
}

struct mime *
mime_open_mem(const char *hdr, size_t hlen, const char *body, size_t blen,
    struct fail *f)
{
	struct mime	*mx = mime_new(hdr, hlen, f);
	size_t		 i, col = 0;

	if (mx == NULL)
		return NULL;
	mx->mem = body;
	mx->blen = blen;
	mx->b8 = mime_has_8bit(body, blen);
	mx->bnul = memchr(body, '\0', blen) != NULL;
	for (i = 0; i < blen; i++) {
		col = body[i] == '\n' ? 0 : col + (body[i] != '\r');
		mx->bmax = col > mx->bmax ? col : mx->bmax;
	}
	return mx;
}

/* Input octets from off: the header, then the body. */
static ssize_t
mime_src(struct mime *mx, unsigned long long off, struct fail *f)
{
	size_t	n = CHUNK;

	if (off < mx->hlen) {
		if (n > mx->hlen - off)
			n = mx->hlen - (size_t)off;
		memcpy(mx->chunk, mx->hdr + off, n);
		return (ssize_t)n;
	}
	off -= mx->hlen;
	if (mx->mem == NULL)
		return msg_body_read(mx->m, off, mx->chunk, n, f);
	if (off >= mx->blen)
		return 0;
	if (n > mx->blen - off)
		n = (size_t)(mx->blen - off);
	memcpy(mx->chunk, mx->mem + off, n);
	return (ssize_t)n;
}

/* One pass of the walker over the message into sink sk. */
static int
mime_walk(struct mime *mx, const struct sink *sk, void *arg,
    struct fail *f)
{
	struct walk		w;
	unsigned long long	off = 0;
	ssize_t			n;
	int			r = -1;

	if (w_init(&w, sk, arg) == -1)
		goto out;
	while ((n = mime_src(mx, off, f)) > 0) {
		if (off >= mx->hlen)
			mx->real8 |= mime_has_8bit(mx->chunk, (size_t)n);
		off += (unsigned long long)n;
		if (w_feed(&w, mx->chunk, (size_t)n) == -1)
			goto out;
	}
	if (n == 0 && w_end(&w) == 0)
		r = 0;
out:
	w_free(&w);
	return r;
}

static void
mime_stop(struct mime *mx)
{
	if (mx->running) {
		w_free(&mx->w);
		buf_free(&mx->cv.hdr);
		free(mx->cv.cte);
		memset(&mx->cv, 0, sizeof(mx->cv));
	}
	mx->running = 0;
	buf_free(&mx->out);
	mx->outoff = 0;
	mx->off = 0;
	mx->eof = 0;
}

/* Set up the converter from the start of the message. */
static int
mime_start(struct mime *mx, int eightbit, int utf8, struct fail *f)
{
	mime_stop(mx);
	mx->cv.eightbit = eightbit;
	mx->cv.utf8 = utf8;
	mx->cv.body_raw = mx->mode != MODE_FULL;
	mx->cv.rf = mx->rf;
	mx->cv.nrf = mx->nrf;
	mx->cv.out = &mx->out;
	mx->cv.f = f;
	mx->cv.lastc = -1;
	mx->running = 1;
	return w_init(&mx->w, &conv_sink, &mx->cv);
}

/* Feed the converter the next chunk; at the end, finish it. */
static int
mime_step(struct mime *mx, struct fail *f)
{
	ssize_t	n;

	mx->cv.f = f;
	if ((n = mime_src(mx, mx->off, f)) == -1)
		return -1;
	if (n > 0) {
		mx->off += (unsigned long long)n;
		return w_feed(&mx->w, mx->chunk, (size_t)n);
	}
	mx->eof = 1;
	if (w_end(&mx->w) == -1)
		return -1;
	return conv_finish(&mx->cv);
}

/* What goes on the wire: checked once more before anything is sent. */
struct wire {
	unsigned long long size;
	size_t		 col;
	int		 cr;
	int		 b8;
	int		 bad;		/* NUL, bare CR or LF, a long line */
};

static void
wire_add(struct wire *wc, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t		 i;

	wc->size += n;
	for (i = 0; i < n; i++) {
		if (wc->cr && u[i] != '\n')
			wc->bad = 1;
		if (u[i] == '\n' && !wc->cr)
			wc->bad = 1;
		wc->cr = u[i] == '\r';
		wc->col = u[i] == '\n' ? 0 : wc->col + (u[i] != '\r');
		wc->bad |= u[i] == '\0' || wc->col > LINE_MAX_OCTETS;
		wc->b8 |= u[i] >= 0x80;
	}
}

/* MODE_HDR: the header alone through the converter. */
static int
mime_hdr(struct mime *mx, int utf8, struct fail *f)
{
	int	r;

	if (mime_start(mx, 0, utf8, f) == -1)
		return -1;
	r = w_feed(&mx->w, mx->hdr, mx->hlen);
	if (r == 0 && (mx->hlen == 0 || (mx->w.in_hdr && mx->w.nent == 1)))
		r = fail_set(f, EX_SOFTWARE, "the message header does not end "
		    "with an empty line");
	if (r == 0) {
		buf_free(&mx->hout);
		mx->hout = mx->out;
		memset(&mx->out, 0, sizeof(mx->out));
	}
	mime_stop(mx);
	return r;
}

/* MODE_FULL: a dry run that counts and checks what will be sent. */
static int
mime_count(struct mime *mx, int eightbit, int utf8, struct wire *wc,
    struct fail *f)
{
	int	r = 0;

	if (mime_start(mx, eightbit, utf8, f) == -1)
		r = -1;
	while (r == 0 && !mx->eof) {
		r = mime_step(mx, f);
		wire_add(wc, mx->out.p, mx->out.len);
		buf_reset(&mx->out);
	}
	mime_stop(mx);
	return r;
}

/* Is there a non-ASCII address or message-id in the header? */
static int
mime_hdr_addr8(const struct mime *mx, int *addr8, struct fail *f)
{
	const char	*h = mx->hdr, *lf;
	size_t		 i, j, n;

	for (i = 0; i < mx->hlen; i = j) {
		j = i;
		do {
			lf = memchr(h + j, '\n', mx->hlen - j);
			j = lf != NULL ? (size_t)(lf - h) + 1 : mx->hlen;
		} while (j < mx->hlen && is_wsp((unsigned char)h[j]));
		n = j - i - term_len(h + i, j - i);
		if (n == 0)
			break;
		if (field_addr8(h + i, n, addr8, f) == -1)
			return -1;
	}
	return 0;
}

/* Which way the message goes: scan the body when it may need it. */
static int
mime_choose(struct mime *mx, int eightbit, int utf8, struct fail *f)
{
	struct scan	sc = { 0 };

	mx->mode = MODE_RAW;
	if ((mime_has_8bit(mx->hdr, mx->hlen) && !utf8) ||
	    has_long_line(mx->hdr, mx->hlen) ||
	    memchr(mx->hdr, '\0', mx->hlen) != NULL)
		mx->mode = MODE_HDR;
	if (!mx->b8 && !mx->bnul && mx->bmax <= LINE_MAX_OCTETS)
		return 0;
	sc.eightbit = eightbit;
	if (mime_walk(mx, &scan_sink, &sc, f) == -1) {
		free(sc.rf);
		return sc.nomem ? fail_nomem(f) : -1;
	}
	free(mx->rf);
	mx->rf = sc.rf;
	mx->nrf = sc.nrf;
	if (sc.nconv > 0)
		mx->mode = MODE_FULL;
	return 0;
}

int
mime_prepare(struct mime *mx, const struct mime_caps *caps,
    struct mime_plan *p, struct fail *f)
{
	struct wire	wc = { 0 };
	int		addr8 = caps->env8bit, utf8;

	mime_stop(mx);
	memset(p, 0, sizeof(*p));
	if (mime_hdr_addr8(mx, &addr8, f) == -1)
		return -1;
	/* SPEC §2.4: raw UTF-8 only where an address needs it */
	if (addr8 && !caps->smtputf8)
		return fail_set(f, EX_UNAVAILABLE, "the message has a non-ASCII "
		    "address, which needs SMTPUTF8 (RFC 6531), and the server "
		    "does not offer it: use ASCII addresses or another server");
	utf8 = addr8;
	if (mime_choose(mx, caps->eightbit, utf8, f) == -1)
		return -1;
	if (mx->mode == MODE_HDR && mime_hdr(mx, utf8, f) == -1)
		return -1;
	if (mx->mode == MODE_FULL && mime_count(mx, caps->eightbit, utf8,
	    &wc, f) == -1)
		return -1;
	if (mx->mode != MODE_FULL) {
		wire_add(&wc, mx->mode == MODE_HDR ? mx->hout.p : mx->hdr,
		    mx->mode == MODE_HDR ? mx->hout.len : mx->hlen);
		wc.size += mx->blen;
		wc.b8 |= mx->real8;
		wc.bad |= mx->bnul || mx->bmax > LINE_MAX_OCTETS;
	}
	if (wc.bad || (wc.b8 && !caps->eightbit && !utf8))
		return fail_set(f, EX_SOFTWARE, "the converted message would "
		    "still not fit the server (8-bit, NUL or a long line): "
		    "this is a bug in relaymail");
	p->size = wc.size;
	/* -B 8BITMIME is passed on as it was given */
	p->body8bit = wc.b8 || (mx->mode != MODE_FULL && mx->b8);
	p->smtputf8 = utf8;
	p->converted = mx->mode != MODE_RAW;
	if (mx->mode == MODE_FULL)
		return mime_start(mx, caps->eightbit, utf8, f);
	return 0;
}

/* RAW and HDR: the header (as is or converted), then the body. */
static ssize_t
mime_read_plain(struct mime *mx, char *buf, size_t n, struct fail *f)
{
	const char	*h = mx->mode == MODE_HDR ? mx->hout.p : mx->hdr;
	size_t		 hl = mx->mode == MODE_HDR ? mx->hout.len : mx->hlen;
	ssize_t		 r;

	if (mx->off < hl) {
		if (n > hl - mx->off)
			n = hl - (size_t)mx->off;
		memcpy(buf, h + mx->off, n);
		mx->off += n;
		return (ssize_t)n;
	}
	if (mx->mem != NULL) {
		if (mx->off - hl >= mx->blen)
			return 0;
		if (n > mx->blen - (mx->off - hl))
			n = (size_t)(mx->blen - (mx->off - hl));
		memcpy(buf, mx->mem + (mx->off - hl), n);
		r = (ssize_t)n;
	} else
		r = msg_body_read(mx->m, mx->off - hl, buf, n, f);
	if (r > 0)
		mx->off += (unsigned long long)r;
	return r;
}

ssize_t
mime_read(struct mime *mx, char *buf, size_t n, struct fail *f)
{
	size_t	avail;

	if (mx->mode != MODE_FULL)
		return mime_read_plain(mx, buf, n, f);
	if (!mx->running)
		return fail_set(f, EX_SOFTWARE, "mime_read before "
		    "mime_prepare");
	while (mx->out.len - mx->outoff < n && !mx->eof) {
		if (mx->outoff > 0) {
			memmove(mx->out.p, mx->out.p + mx->outoff,
			    mx->out.len - mx->outoff);
			mx->out.len -= mx->outoff;
			mx->outoff = 0;
		}
		if (mime_step(mx, f) == -1)
			return -1;
	}
	avail = mx->out.len - mx->outoff;
	if (n > avail)
		n = avail;
	if (n > 0)
		memcpy(buf, mx->out.p + mx->outoff, n);
	mx->outoff += n;
	return (ssize_t)n;
}

void
mime_close(struct mime *mx)
{
	if (mx == NULL)
		return;
	mime_stop(mx);
	buf_free(&mx->hout);
	free(mx->rf);
	free(mx->chunk);
	free(mx);
}
