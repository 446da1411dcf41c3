/*
 * msg.c -- read the message from standard input, keep it, write it back
 * as mbox.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "util.h"

#define RD_CHUNK	65536

/* struct msg_feed's phase: still in the header, or in the body. */
enum rd_phase { RD_HEADER, RD_BODY };

void
msg_init(struct msg *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

/* Create the spool: an unlinked file nobody else can open (SPEC §7). */
static int
msg_spool_open(struct msg *m, struct fail *f)
{
	const char	*dir = getenv("TMPDIR");
	char		 path[4096];
	int		 fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		m->fd = fd;
		return 0;
	}
#endif
	snprintf(path, sizeof(path), "%s/relaymail.XXXXXX", dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return fail_set(f, EX_CANTCREAT, "cannot create a temporary "
		    "file in %s: %s (set TMPDIR to a writable directory)",
		    dir, strerror(errno));
	unlink(path);
	m->fd = fd;
	return 0;
}

/* Write all of p; what names the file in the error. */
static int
msg_write_all(int fd, const char *p, size_t n, const char *what,
    struct fail *f)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return fail_set(f, EX_IOERR, "cannot write %s: %s",
			    what, strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Move the in-memory body to the spool file. */
static int
msg_spill(struct msg *m, struct fail *f)
{
	if (m->fd == -1 && msg_spool_open(m, f) == -1)
		return -1;
	if (msg_write_all(m->fd, m->mem, m->memlen, "the temporary copy of "
	    "the message", f) == -1)
		return -1;
	m->memlen = 0;
	return 0;
}

/* Store body octets: memory first, the spool past MSG_MEM_MAX. */
static int
msg_body_put(struct msg *m, const char *p, size_t n, struct fail *f)
{
	size_t	k;

	if (m->mem == NULL && (m->mem = malloc(MSG_MEM_MAX)) == NULL)
		return fail_nomem(f);
	m->bodylen += n;
	while (n > 0) {
		if (m->memlen == MSG_MEM_MAX && msg_spill(m, f) == -1)
			return -1;
		k = MSG_MEM_MAX - m->memlen;
		if (k > n)
			k = n;
		memcpy(m->mem + m->memlen, p, k);
		m->memlen += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* A header field name: printable ASCII but ':' (RFC 5322 §2.2), then
 * optional WSP (obsolete syntax, §4.5) and the colon. */
static int
msg_is_field(const char *s, size_t n)
{
	size_t	i = 0;

	while (i < n && s[i] > 32 && s[i] < 127 && s[i] != ':')
		i++;
	if (i == 0)
		return 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < n && s[i] == ':';
}

static int
msg_add_field(struct msg *m, const char *s, size_t n, struct fail *f)
{
	struct msg_field *nv;
	size_t		  ncap;
	char		 *t;

	if (m->hn == m->hcap) {
		ncap = m->hcap ? m->hcap * 2 : 32;
		if ((nv = reallocarray(m->hv, ncap, sizeof(*nv))) == NULL)
			return fail_nomem(f);
		m->hv = nv;
		m->hcap = ncap;
	}
	/* not strndup: a NUL in the field must not cut it short */
	if ((t = malloc(n + 1)) == NULL)
		return fail_nomem(f);
	memcpy(t, s, n);
	t[n] = '\0';
	m->hv[m->hn].text = t;
	m->hv[m->hn++].len = n;
	m->hbytes += n + 2;
	return 0;
}

/* Append a continuation line to the last field (RFC 5322 §2.2.3). */
static int
msg_fold_into_last(struct msg *m, const char *s, size_t n, struct fail *f)
{
	struct msg_field *fl = &m->hv[m->hn - 1];
	char		 *t;

	if ((t = realloc(fl->text, fl->len + n + 3)) == NULL)
		return fail_nomem(f);
	memcpy(t + fl->len, "\r\n", 2);
	memcpy(t + fl->len + 2, s, n);
	fl->len += n + 2;
	t[fl->len] = '\0';
	fl->text = t;
	m->hbytes += n + 2;
	return 0;
}

static int	rd_body_text(struct msg_feed *, const char *, size_t, struct fail *);
static int	rd_body_eol(struct msg_feed *, struct fail *);

/* Header-phase text that turns out to be body: rd_span() saw it before
 * it was body, so note its 8-bit and NUL octets here (mime.c relies on
 * the flags to know whether the body needs scanning at all). */
static void
rd_note(struct msg *m, const char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		m->body8bit |= (p[i] & 0x80) != 0;
		m->bodynul |= p[i] == '\0';
	}
}

/* The header ended without a blank line: this line starts the body. */
static int
rd_line_to_body(struct msg_feed *r, const char *s, size_t n, struct fail *f)
{
	rd_note(r->m, s, n);
	r->phase = RD_BODY;
	if (n > 0 && rd_body_text(r, s, n, f) == -1)
		return -1;
	return rd_body_eol(r, f);
}

/* One complete header-phase line (without its line ending). */
static int
rd_header_line(struct msg_feed *r, const char *s, size_t n, struct fail *f)
{
	struct msg	*m = r->m;
	int		 first = r->first;

	r->first = 0;
	if (n == 0) {
		r->phase = RD_BODY;
		return 0;
	}
	/* An mbox separator handed to us by a mail client (RFC 4155). */
	if (first && n >= 5 && memcmp(s, "From ", 5) == 0)
		return 0;
	if ((s[0] == ' ' || s[0] == '\t') && m->hn > 0) {
		if (m->hv[m->hn - 1].len + n > MSG_FIELD_MAX ||
		    m->hbytes + n > MSG_HEADER_MAX) {
			m->hdr_overflow = 1;
			return rd_line_to_body(r, s, n, f);
		}
		return msg_fold_into_last(m, s, n, f);
	}
	if (!msg_is_field(s, n))
		return rd_line_to_body(r, s, n, f);
	if (m->hn == MSG_FIELDS_MAX || m->hbytes + n > MSG_HEADER_MAX) {
		m->hdr_overflow = 1;
		return rd_line_to_body(r, s, n, f);
	}
	return msg_add_field(m, s, n, f);
}

static int
rd_body_text(struct msg_feed *r, const char *p, size_t n, struct fail *f)
{
	if (r->dot_ends && r->linelen == 0 && !r->pending_dot && *p == '.') {
		r->pending_dot = 1;
		p++;
		n--;
		if (n == 0)
			return 0;
	}
	if (r->pending_dot) {
		r->pending_dot = 0;
		r->linelen = 1;
		if (msg_body_put(r->m, ".", 1, f) == -1)
			return -1;
	}
	r->linelen += n;
	return msg_body_put(r->m, p, n, f);
}

static int
rd_body_eol(struct msg_feed *r, struct fail *f)
{
	if (r->pending_dot && r->linelen == 0) {
		r->done = 1;	/* a lone "." at a terminal */
		return 0;
	}
	if (r->pending_dot && msg_body_put(r->m, ".", 1, f) == -1)
		return -1;
	if (r->pending_dot)
		r->linelen = 1;
	r->pending_dot = 0;
	if (r->linelen > r->m->maxline)
		r->m->maxline = r->linelen;
	r->linelen = 0;
	return msg_body_put(r->m, "\r\n", 2, f);
}

static int
rd_text(struct msg_feed *r, const char *p, size_t n, struct fail *f)
{
	const char	*s;
	size_t		 k;

	if (r->phase == RD_BODY)
		return rd_body_text(r, p, n, f);
	if (r->line.len + n <= MSG_FIELD_MAX)
		return buf_add(&r->line, p, n) == -1 ? fail_nomem(f) : 0;
	/* A header line beyond every sane limit: keep it, as body. */
	r->m->hdr_overflow = 1;
	r->phase = RD_BODY;
	rd_note(r->m, r->line.p, r->line.len);
	rd_note(r->m, p, n);
	s = r->line.p;
	k = r->line.len;
	if (k > 0 && rd_body_text(r, s, k, f) == -1)
		return -1;
	buf_reset(&r->line);
	return rd_body_text(r, p, n, f);
}

static int
rd_eol(struct msg_feed *r, struct fail *f)
{
	int	rc;

	if (r->phase == RD_BODY)
		return rd_body_eol(r, f);
	rc = rd_header_line(r, r->line.p != NULL ? r->line.p : "",
	    r->line.len, f);
	buf_reset(&r->line);
	return rc;
}

/* Scan up to the next CR or LF, noting 8-bit and NUL octets. */
static size_t
rd_span(struct msg_feed *r, const unsigned char *p, size_t n)
{
	size_t	i;
	int	hi = 0, nul = 0;

	for (i = 0; i < n && p[i] != '\r' && p[i] != '\n'; i++) {
		hi |= p[i] & 0x80;
		nul |= p[i] == 0;
	}
	if (r->phase == RD_BODY) {
		r->m->body8bit |= hi != 0;
		r->m->bodynul |= nul;
	}
	return i;
}

static int
rd_feed(struct msg_feed *r, const char *p, size_t n, struct fail *f)
{
	size_t	i = 0, k;

	while (i < n && !r->done) {
		if (r->cr) {
			r->cr = 0;
			if (p[i] == '\n') {
				i++;
				continue;
			}
		}
		if (p[i] == '\r' || p[i] == '\n') {
			r->cr = p[i++] == '\r';
			if (rd_eol(r, f) == -1)
				return -1;
			continue;
		}
		k = rd_span(r, (const unsigned char *)p + i, n - i);
		if (rd_text(r, p + i, k, f) == -1)
			return -1;
		i += k;
	}
	return 0;
}

/* End of input: supply the missing final line ending. */
static int
rd_finish(struct msg_feed *r, struct fail *f)
{
	if (r->done)
		return 0;
	if (r->phase == RD_HEADER && r->line.len > 0)
		return rd_eol(r, f);
	if (r->phase == RD_BODY && (r->linelen > 0 || r->pending_dot))
		return rd_body_eol(r, f);
	return 0;
}

void
msg_feed_init(struct msg_feed *r, struct msg *m, int dot_ends)
{
	memset(r, 0, sizeof(*r));
	r->m = m;
	r->phase = RD_HEADER;
	r->dot_ends = dot_ends;
	r->first = 1;
}

int
msg_feed(struct msg_feed *r, const void *p, size_t n, struct fail *f)
{
	r->m->inbytes += n;
	return rd_feed(r, p, n, f);
}

int
msg_feed_end(struct msg_feed *r, struct fail *f)
{
	struct msg	*m = r->m;
	int		 ret = -1;

	if (rd_finish(r, f) == -1)
		goto out;
	if (m->fd != -1 && msg_spill(m, f) == -1)
		goto out;
	ret = 0;
out:
	msg_feed_free(r);
	return ret;
}

void
msg_feed_free(struct msg_feed *r)
{
	buf_free(&r->line);
}

/* A signal while reading: the caller keeps what was read (SPEC §4). */
static int
msg_stopped(const struct msg *m, struct fail *f)
{
	fail_set(f, EX_TEMPFAIL, "interrupted by signal %d while reading the "
	    "message (after %llu octets): nothing was sent", (int)*m->stop,
	    m->inbytes);
	f->noretry = 1;
	return -1;
}

/* After a failed read, what was read is still one whole message for
 * dead.letter: its last line ended, the memory tail in the spool. */
static void
msg_keep_partial(struct msg_feed *r)
{
	struct fail	ignore;

	if (rd_finish(r, &ignore) == 0 && r->m->fd != -1)
		msg_spill(r->m, &ignore);
}

int
msg_read(struct msg *m, int fd, int dot_ends, struct fail *f)
{
	struct msg_feed	 r;
	char		*chunk;
	ssize_t		 n;
	int		 ret = -1;

	msg_feed_init(&r, m, dot_ends);
	if ((chunk = malloc(RD_CHUNK)) == NULL)
		return fail_nomem(f);
	while (!r.done) {
		n = read(fd, chunk, RD_CHUNK);
		if (n > 0 && msg_feed(&r, chunk, (size_t)n, f) == -1)
			goto out;
		if (m->stop != NULL && *m->stop) {
			msg_stopped(m, f);
			msg_keep_partial(&r);
			goto out;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fail_set(f, EX_IOERR, "cannot read the message from "
			    "standard input: %s", strerror(errno));
			msg_keep_partial(&r);
			goto out;
		}
		if (n == 0)
			break;
	}
	ret = 0;
out:
	free(chunk);
	if (ret == 0)
		return msg_feed_end(&r, f);
	msg_feed_free(&r);
	return -1;
}

ssize_t
msg_body_read(const struct msg *m, unsigned long long off, char *buf,
    size_t n, struct fail *f)
{
	ssize_t	r;

	if (off >= m->bodylen)
		return 0;
	if (n > m->bodylen - off)
		n = (size_t)(m->bodylen - off);
	if (m->fd == -1) {
		memcpy(buf, m->mem + off, n);
		return (ssize_t)n;
	}
	do
		r = pread(m->fd, buf, n, (off_t)off);
	while (r == -1 && errno == EINTR);
	if (r == -1)
		return fail_set(f, EX_IOERR, "cannot read the temporary copy "
		    "of the message: %s", strerror(errno));
	return r;
}

size_t
msg_field_namelen(const struct msg_field *fl)
{
	size_t	i = 0;

	while (i < fl->len && fl->text[i] != ':' && fl->text[i] != ' ' &&
	    fl->text[i] != '\t')
		i++;
	return i;
}

int
msg_field_is(const struct msg_field *fl, const char *name)
{
	size_t	n = strlen(name);

	return msg_field_namelen(fl) == n &&
	    util_strncasecmp(fl->text, name, n) == 0;
}

/*
 * mbox output with mboxrd quoting (RFC 4155, "mboxrd"): a line matching
 * />*From / gets one more '>', so a reader gets every line back by
 * taking one off.  At a line start, the '>' seen (gt) and the octets of
 * "From " matched (from) are held back until the line is known to match
 * or not, so a quote split across two writes is found too.
 */
struct mbox {
	int		 fd;
	struct buf	 out;
	unsigned long long gt;
	size_t		 from;
	int		 at_start;
};

static int
mbox_flush(struct mbox *mb, struct fail *f)
{
	if (msg_write_all(mb->fd, mb->out.p, mb->out.len, "the mailbox",
	    f) == -1)
		return -1;
	buf_reset(&mb->out);
	return 0;
}

/* Emit what a line start held back, with the quote when it matched. */
static int
mbox_release(struct mbox *mb, int quote, struct fail *f)
{
	if (quote && buf_addc(&mb->out, '>') == -1)
		return fail_nomem(f);
	for (; mb->gt > 0; mb->gt--) {
		if (buf_addc(&mb->out, '>') == -1)
			return fail_nomem(f);
		if (mb->out.len >= RD_CHUNK && mbox_flush(mb, f) == -1)
			return -1;
	}
	if (buf_add(&mb->out, "From ", mb->from) == -1)
		return fail_nomem(f);
	mb->from = 0;
	mb->at_start = 0;
	return 0;
}

static int
mbox_put(struct mbox *mb, const char *p, size_t n, struct fail *f)
{
	static const char from[] = "From ";
	size_t	i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r')
			continue;	/* stored CRLF becomes LF */
		if (mb->at_start && p[i] == '>' && mb->from == 0) {
			mb->gt++;
			continue;
		}
		if (mb->at_start && p[i] == from[mb->from]) {
			if (++mb->from == 5 && mbox_release(mb, 1, f) == -1)
				return -1;
			continue;
		}
		if (mb->at_start && mbox_release(mb, 0, f) == -1)
			return -1;
		if (buf_addc(&mb->out, p[i]) == -1)
			return fail_nomem(f);
		mb->at_start = p[i] == '\n';
	}
	return mb->out.len >= RD_CHUNK ? mbox_flush(mb, f) : 0;
}

static int
mbox_header(struct mbox *mb, const struct msg *m, const char *sender,
    long long when, const char *extra, struct fail *f)
{
	char	date[64];
	time_t	t = (time_t)when;
	struct tm tm;
	size_t	i;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
	if (buf_addf(&mb->out, "From %s %s\n", *sender != '\0' ? sender :
	    "MAILER-DAEMON", date) == -1)
		return fail_nomem(f);
	if (extra != NULL && mbox_put(mb, extra, strlen(extra), f) == -1)
		return -1;
	if (extra != NULL && mbox_put(mb, "\n", 1, f) == -1)
		return -1;
	for (i = 0; i < m->hn; i++)
		if (mbox_put(mb, m->hv[i].text, m->hv[i].len, f) == -1 ||
		    mbox_put(mb, "\n", 1, f) == -1)
			return -1;
	return mbox_put(mb, "\n", 1, f);
}

int
msg_write_mbox(const struct msg *m, int fd, const char *sender,
    long long when, const char *extra, struct fail *f)
{
	struct mbox	 mb = { .fd = fd, .at_start = 1 };
	char		*chunk = NULL;
	unsigned long long off = 0;
	ssize_t		 n;
	int		 ret = -1;

	if ((chunk = malloc(RD_CHUNK)) == NULL)
		return fail_nomem(f);
	if (mbox_header(&mb, m, sender, when, extra, f) == -1)
		goto out;
	while ((n = msg_body_read(m, off, chunk, RD_CHUNK, f)) > 0) {
		off += (unsigned long long)n;
		if (mbox_put(&mb, chunk, (size_t)n, f) == -1)
			goto out;
	}
	if (n == -1)
		goto out;
	/* mbox: every message ends with an empty line (RFC 4155) */
	if ((mb.gt > 0 || mb.from > 0) && mbox_release(&mb, 0, f) == -1)
		goto out;
	if (mbox_put(&mb, mb.at_start ? "\n" : "\n\n", mb.at_start ? 1 : 2,
	    f) == -1 || mbox_flush(&mb, f) == -1)
		goto out;
	ret = 0;
out:
	buf_free(&mb.out);
	free(chunk);
	return ret;
}

void
msg_free(struct msg *m)
{
	size_t	i;

	for (i = 0; i < m->hn; i++)
		free(m->hv[i].text);
	free(m->hv);
	free(m->mem);
	util_stop_t	*stop = m->stop;

	if (m->fd != -1)
		close(m->fd);
	msg_init(m);
	m->stop = stop;
}
