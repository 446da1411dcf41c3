/*
 * stream.h -- buffered line I/O over a socket or a TLS session, every
 * wait bounded by poll().  The only module that reads or writes the
 * socket, so the protocol code never knows whether TLS is on.
 */
#ifndef STREAM_H
#define STREAM_H

#include <stddef.h>

#include "util.h"

struct fail;
struct stream;
struct tls_ctx;

#define STREAM_LINE_MAX	4096	/* RFC 5321 §4.5.3.1.5 says 512 */

/* Wrap a connected non-blocking socket; the stream owns it.  NULL on
 * memory exhaustion. */
struct stream	*stream_new(int);

/* Abort every wait once *stop is set (a signal); NULL: never. */
void	stream_set_stop(struct stream *, util_stop_t *);

/* Bound every following write, handshake and reply by ms. */
void	stream_set_timeout(struct stream *, int);

/*
 * Start the clock for one reply: every stream_getline() until the next
 * stream_begin() shares one deadline, so a server that dribbles a line
 * per minute cannot stretch a reply beyond the timeout (RFC 5321
 * §4.5.3.2 bounds each reply, not each octet).
 */
void	stream_begin(struct stream *);

/*
 * Perform the TLS handshake on the stream for host and check the peer
 * (tls.c's policy).  Fails with EX_PROTOCOL when plaintext arrived after
 * the last reply and before the handshake (STARTTLS response injection),
 * EX_TEMPFAIL otherwise.  The session stays attached even when the
 * handshake or the check failed, so stream_peer() can still describe it.
 */
int	stream_starttls(struct stream *, struct tls_ctx *, const char *,
	    struct fail *);

/* Queue n octets; full buffers go out as they fill.  0 or -1. */
int	stream_write(struct stream *, const void *, size_t, struct fail *);

/* Send everything queued, in as few writes as the buffer allows. */
int	stream_flush(struct stream *, struct fail *);

/*
 * Read one line (CRLF or LF stripped) into line[0..max), NUL-terminated,
 * its length in *len, before the deadline of stream_begin().  A line
 * longer than max-1 is EX_PROTOCOL (nothing beyond max is kept); EOF,
 * timeout and I/O errors are EX_TEMPFAIL.  0 or -1.
 */
int	stream_getline(struct stream *, char *, size_t, size_t *,
	    struct fail *);

/* Octets received but not yet consumed. */
size_t	stream_pending(const struct stream *);

/*
 * Has the peer closed the connection (EOF or reset already received,
 * nothing unread before it)?  Does not wait; 1 or 0.
 */
int	stream_peer_closed(const struct stream *);

/* Is TLS on (the handshake done and the peer accepted)? */
int	stream_is_tls(const struct stream *);

struct tls_peer;
/* The TLS session and the server's certificate, for --check; -1 when
 * no handshake got as far as a certificate. */
int	stream_peer(const struct stream *, struct tls_peer *);

/* Close the TLS session (best effort) and the socket; free. */
void	stream_close(struct stream *);

#endif /* STREAM_H */
