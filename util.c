/*
 * util.c -- the failure record, growable buffers, small string helpers.
 *
 * Nothing here exits or prints: failures go back through struct fail.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"

int
fail_set(struct fail *f, int ex, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	f->ex = ex;
	f->noretry = 0;
	f->reply[0] = '\0';
	return -1;
}

int
fail_stopped(struct fail *f, int sig)
{
	fail_set(f, EX_TEMPFAIL, "interrupted by signal %d: nothing more "
	    "was sent", sig);
	f->noretry = 1;
	return -1;
}

int
fail_nomem(struct fail *f)
{
	return fail_set(f, EX_OSERR, "out of memory");
}

/* Make room for n more bytes and the NUL; capacity grows geometrically. */
int
buf_reserve(struct buf *b, size_t n)
{
	size_t	 need, cap;
	char	*p;

	if (n > SIZE_MAX - 1 - b->len) {
		errno = ENOMEM;
		return -1;
	}
	need = b->len + n + 1;
	if (b->p != NULL && need <= b->cap)
		return 0;
	cap = b->cap != 0 ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((p = realloc(b->p, cap)) == NULL)
		return -1;
	/* a first allocation is terminated too: p is a string whenever it
	 * is not NULL (an empty base64 challenge left it unterminated, and
	 * SCRAM read past it: found by tests/fuzz/smtp.c) */
	p[b->len] = '\0';
	b->p = p;
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
buf_addc(struct buf *b, int c)
{
	unsigned char	ch = (unsigned char)c;

	return buf_add(b, &ch, 1);
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
buf_wipe(struct buf *b)
{
	if (b->p != NULL)
		util_wipe(b->p, b->cap);
	buf_free(b);
}

char *
util_strndup(const char *s, size_t n)
{
	char	*p;

	n = strnlen(s, n);
	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static int
util_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int
util_strcasecmp(const char *a, const char *b)
{
	return util_strncasecmp(a, b, SIZE_MAX);
}

int
util_strncasecmp(const char *a, const char *b, size_t n)
{
	const unsigned char	*p = (const unsigned char *)a;
	const unsigned char	*q = (const unsigned char *)b;
	int			 d;

	for (; n > 0; n--, p++, q++) {
		if ((d = util_lower(*p) - util_lower(*q)) != 0 || *p == '\0')
			return d;
	}
	return 0;
}

void
util_wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}
