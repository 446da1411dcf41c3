/*
 * Helpers shared by the unit suites.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "util.h"

/* Read s through msg_read() via a pipe, as stdin would deliver it. */
static inline int
tu_read_msg(struct msg *m, const char *s, size_t n, int dot_ends,
    struct fail *f)
{
	FILE	*fp = tmpfile();
	int	 r;

	if (fp == NULL || fwrite(s, 1, n, fp) != n || fflush(fp) != 0)
		return -1;
	rewind(fp);
	msg_init(m);
	r = msg_read(m, fileno(fp), dot_ends, f);
	fclose(fp);
	return r;
}

/* The whole body as one NUL-terminated string in b. */
static inline void
tu_body(const struct msg *m, struct buf *b)
{
	char			chunk[4096];
	ssize_t			n;
	unsigned long long	off = 0;
	struct fail		f;

	while ((n = msg_body_read(m, off, chunk, sizeof(chunk), &f)) > 0) {
		buf_add(b, chunk, (size_t)n);
		off += (unsigned long long)n;
	}
	buf_add(b, "", 0);
}

#endif
