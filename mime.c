/*
 * mime.c -- encodings for 8-bit text (RFC 2045, RFC 2047).
 */
#include <string.h>

#include "mime.h"
#include "util.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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

int
mime_has_8bit(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] & 0x80)
			return 1;
	return 0;
}

/* Length of the UTF-8 sequence starting with c (1 for stray octets). */
static size_t
mime_u8len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0)
		return c < 0xf0 ? 3 : 1;
	if (c >= 0xc0)
		return 2;
	return 1;
}

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
			step = mime_u8len((unsigned char)s[i + k]);
			if (i + k + step > n)
				step = n - i - k;
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
