/*
 * stream.c -- line I/O with deadlines over plain TCP or TLS.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "stream.h"
#include "tls.h"
#include "util.h"

#define RBUF_SIZE	8192
#define WBUF_SIZE	16384	/* one TLS record */

struct stream {
	int		 fd;
	SSL		*ssl;
	struct tls_ctx	*tls;
	int		 tls_ok;	/* handshake done, peer accepted */
	int		 broken;	/* an I/O failure: no more I/O */
	int		 timeout_ms;
	util_stop_t	*stop;
	long long	 deadline;	/* ms, CLOCK_MONOTONIC */
	size_t		 rpos;
	size_t		 rlen;
	size_t		 wlen;
	char		 rbuf[RBUF_SIZE];
	char		 wbuf[WBUF_SIZE];
};

static long long
stream_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct stream *
stream_new(int fd)
{
	struct stream	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->fd = fd;
	s->timeout_ms = 60000;
	return s;
}

void
stream_set_stop(struct stream *s, util_stop_t *stop)
{
	s->stop = stop;
}

void
stream_set_timeout(struct stream *s, int ms)
{
	s->timeout_ms = ms;
}

static void
stream_arm(struct stream *s)
{
	s->deadline = stream_now() + s->timeout_ms;
}

void
stream_begin(struct stream *s)
{
	stream_arm(s);
}

/* Wait until fd is ready for ev or the deadline passes. */
static int
stream_wait(struct stream *s, short ev, struct fail *f)
{
	struct pollfd	pfd = { .fd = s->fd, .events = ev };
	long long	left;
	int		r;

	for (;;) {
		if (s->stop != NULL && *s->stop)
			return fail_stopped(f, *s->stop);
		if ((left = s->deadline - stream_now()) <= 0)
			return fail_set(f, EX_TEMPFAIL, "timed out after %d s "
			    "waiting for the server", s->timeout_ms / 1000);
		r = poll(&pfd, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
		if (r > 0)
			return 0;
		if (r == -1 && errno != EINTR)
			return fail_set(f, EX_TEMPFAIL, "poll: %s",
			    strerror(errno));
	}
}

/* SSL_ERROR_WANT_* to the poll event to wait for, 0 for a real error. */
static short
stream_ssl_want(SSL *ssl, int r)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	default:
		return 0;
	}
}

static int
stream_write_plain(struct stream *s, const char *p, size_t n, struct fail *f)
{
	ssize_t	w;

	while (n > 0) {
		w = write(s->fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w == -1 && errno == EAGAIN) {
			if (stream_wait(s, POLLOUT, f) == -1)
				return -1;
		} else if (w == -1 && errno != EINTR)
			return fail_set(f, EX_TEMPFAIL, "connection lost: %s",
			    strerror(errno));
	}
	return 0;
}

static int
stream_write_tls(struct stream *s, const char *p, size_t n, struct fail *f)
{
	short	ev;
	int	w;

	while (n > 0) {
		ERR_clear_error();
		w = SSL_write(s->ssl, p, (int)n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if ((ev = stream_ssl_want(s->ssl, w)) == 0)
			return fail_set(f, EX_TEMPFAIL, "connection lost "
			    "(TLS write failed)");
		if (stream_wait(s, ev, f) == -1)
			return -1;
	}
	return 0;
}

/* After a failure the connection's state is unknown: no more I/O on
 * it (a QUIT must not wait out another timeout). */
static int
stream_broken(struct fail *f)
{
	return fail_set(f, EX_TEMPFAIL, "connection lost");
}

int
stream_flush(struct stream *s, struct fail *f)
{
	int	r;

	if (s->broken)
		return stream_broken(f);
	if (s->wlen == 0)
		return 0;
	stream_arm(s);
	r = s->ssl != NULL ? stream_write_tls(s, s->wbuf, s->wlen, f) :
	    stream_write_plain(s, s->wbuf, s->wlen, f);
	s->wlen = 0;
	if (r == -1)
		s->broken = 1;
	return r;
}

int
stream_write(struct stream *s, const void *p, size_t n, struct fail *f)
{
	const char	*c = p;
	size_t		 k;

	while (n > 0) {
		if (s->wlen == WBUF_SIZE && stream_flush(s, f) == -1)
			return -1;
		k = WBUF_SIZE - s->wlen;
		if (k > n)
			k = n;
		memcpy(s->wbuf + s->wlen, c, k);
		s->wlen += k;
		c += k;
		n -= k;
	}
	return 0;
}

/* Why SSL_read() failed, for the message. */
static int
stream_tls_read_fail(struct stream *s, int r, struct fail *f)
{
	unsigned long	e;

	if (SSL_get_error(s->ssl, r) == SSL_ERROR_SSL &&
	    (e = ERR_peek_last_error()) != 0 &&
	    ERR_reason_error_string(e) != NULL)
		return fail_set(f, EX_TEMPFAIL, "connection lost: TLS: %s",
		    ERR_reason_error_string(e));
	return fail_set(f, EX_TEMPFAIL, "connection closed by the server");
}

/* Refill rbuf (which is empty) with at least one octet. */
static int
stream_fill(struct stream *s, struct fail *f)
{
	ssize_t	r;
	short	ev;

	s->rpos = s->rlen = 0;
	for (;;) {
		if (s->ssl != NULL) {
			ERR_clear_error();
			r = SSL_read(s->ssl, s->rbuf, RBUF_SIZE);
			if (r <= 0 && (ev = stream_ssl_want(s->ssl,
			    (int)r)) != 0) {
				if (stream_wait(s, ev, f) == -1)
					return -1;
				continue;
			}
			if (r <= 0)
				return stream_tls_read_fail(s, (int)r, f);
		} else {
			r = read(s->fd, s->rbuf, RBUF_SIZE);
			if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
				if (stream_wait(s, POLLIN, f) == -1)
					return -1;
				continue;
			}
		}
		if (r > 0) {
			s->rlen = (size_t)r;
			return 0;
		}
		return fail_set(f, EX_TEMPFAIL, "connection closed by the "
		    "server");
	}
}

int
stream_getline(struct stream *s, char *line, size_t max, size_t *len,
    struct fail *f)
{
	size_t	n = 0;
	char	c;

	if (s->broken)
		return stream_broken(f);
	for (;;) {
		if (s->rpos == s->rlen && stream_fill(s, f) == -1) {
			s->broken = 1;
			return -1;
		}
		c = s->rbuf[s->rpos++];
		if (c == '\n')
			break;
		if (n + 1 >= max) {
			s->broken = 1;
			return fail_set(f, EX_PROTOCOL, "the server sent a line "
			    "longer than %zu octets", max - 1);
		}
		line[n++] = c;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	*len = n;
	return 0;
}

int
stream_peer_closed(const struct stream *s)
{
	char	c;
	ssize_t	r;

	if (s->rpos < s->rlen)
		return 0;
	r = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return r == 0 || (r == -1 && errno != EAGAIN &&
	    errno != EWOULDBLOCK && errno != EINTR);
}

size_t
stream_pending(const struct stream *s)
{
	return s->rlen - s->rpos;
}

static int
stream_handshake(struct stream *s, struct tls_ctx *t, const char *host,
    struct fail *f)
{
	short	ev;
	int	r;

	stream_arm(s);
	for (;;) {
		ERR_clear_error();
		if ((r = SSL_connect(s->ssl)) == 1)
			return 0;
		/* SSL_connect(3): failure is <= 0, not < 0 (ssmtp's bug) */
		if ((ev = stream_ssl_want(s->ssl, r)) == 0)
			return tls_handshake_failed(t, s->ssl, host, f);
		if (stream_wait(s, ev, f) == -1)
			return -1;
	}
}

/*
 * Has anything arrived that nobody asked for?  Before our ClientHello
 * the server has nothing legitimate to say, so buffered octets, or octets
 * already waiting in the socket, were injected (Poddebniak et al., USENIX
 * Security 2021; CVE-2011-0411, CVE-2020-14954, CVE-2021-22947).
 */
static int
stream_injected(struct stream *s)
{
	char	c;

	if (stream_pending(s) > 0)
		return 1;
	return recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

int
stream_starttls(struct stream *s, struct tls_ctx *t, const char *host,
    struct fail *f)
{
	if (stream_injected(s)) {
		fail_set(f, EX_PROTOCOL, "%s: the server sent data after its "
		    "STARTTLS reply (response injection?): session abandoned",
		    host);
		f->noretry = 1;
		return -1;
	}
	if (stream_flush(s, f) == -1)
		return -1;
	if ((s->ssl = tls_session_new(t, s->fd, host, f)) == NULL)
		return -1;
	s->tls = t;
	if (stream_handshake(s, t, host, f) == -1 ||
	    tls_check_peer(t, s->ssl, host, f) == -1)
		return -1;
	s->tls_ok = 1;
	return 0;
}

int
stream_is_tls(const struct stream *s)
{
	return s->tls_ok;
}

int
stream_peer(const struct stream *s, struct tls_peer *p)
{
	if (s->ssl == NULL)
		return -1;
	return tls_describe(s->tls, s->ssl, p);
}

void
stream_close(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->ssl != NULL) {
		/* best effort close_notify after a good handshake; never
		 * wait for the peer's */
		if (s->tls_ok)
			SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
	}
	close(s->fd);
	free(s);
}
