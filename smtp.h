/*
 * smtp.h -- the SMTP submission client (RFC 5321, RFC 6409): replies,
 * EHLO capabilities, STARTTLS (RFC 3207), AUTH (RFC 4954), MAIL/RCPT/DATA
 * with PIPELINING (RFC 2920), dot-stuffing, QUIT, the redacted -v trace.
 * No message policy lives here: addresses arrive final.
 */
#ifndef SMTP_H
#define SMTP_H

#include <stddef.h>
#include <sys/types.h>

#include "conf.h"
#include "util.h"

struct fail;
struct smtp;
struct tls_ctx;
struct tls_peer;

/* RFC 5321 §4.5.3.1.8: a server must take 100 recipients per transaction;
 * more go in further transactions. */
#define SMTP_RCPT_MAX	100

struct smtp_opts {
	const char	*host;		/* smarthost name: TLS and messages */
	const char	*helo;		/* EHLO argument */
	enum conf_tls	 tls;
	struct tls_ctx	*tls_ctx;
	const char	*auth;		/* "auto", "none" or a mechanism */
	const char	*user;		/* NULL: no AUTH */
	const char	*pass;
	int		 auth_plaintext;
	int		 timeout_ms;
	int		 final_timeout_ms;
	util_stop_t	*stop;		/* signal flag, or NULL */
	struct tls_peer	*peer;		/* out, or NULL: the TLS session and
					 * certificate, filled even when the
					 * handshake or the check failed */
};

/* One envelope: addresses already qualified and checked. */
struct smtp_env {
	const char	*from;		/* "" for the null sender */
	const char	**rcpt;
	size_t		 nrcpt;
	unsigned char	*done;		/* nrcpt flags, or NULL: set to 1 once
					 * the message is delivered to that
					 * recipient; set ones are skipped */
	unsigned long long size;	/* message octets, for SIZE= */
	int		 body8bit;	/* ask for BODY=8BITMIME */
	int		 smtputf8;	/* ask for SMTPUTF8 (RFC 6531) */
	const char	*dsn_notify;	/* -N: NOTIFY=, or NULL (RFC 3461) */
	const char	*dsn_ret;	/* -R: RET=, or NULL */
	const char	*dsn_envid;	/* -V: ENVID=, or NULL */
};

/* What the server offered after the last EHLO (after TLS). */
struct smtp_caps {
	int		 starttls;
	int		 pipelining;
	int		 eightbitmime;
	int		 smtputf8;
	int		 binarymime;
	int		 chunking;
	int		 dsn;
	int		 enhanced;
	int		 size_set;
	unsigned long long size;
	char		 auth[256];
};

/* Where the message octets come from (CRLF lines, unstuffed); rewind
 * starts them again for a further transaction (NULL: only one). */
struct smtp_source {
	ssize_t	(*read)(void *, char *, size_t, struct fail *);
	int	(*rewind)(void *, struct fail *);
	void	*arg;
};

/*
 * Take over a connected socket and bring the session to the point where
 * a transaction can start: greeting, EHLO, STARTTLS and EHLO again (or
 * implicit TLS), AUTH.  Nothing is sent in the clear that TLS was meant
 * to protect: a missing STARTTLS, a refused or failed handshake, a bad
 * certificate or injected plaintext end the session (EX_TEMPFAIL /
 * EX_PROTOCOL).  AUTH refused is EX_NOPERM.  NULL on failure (the socket
 * is closed).
 */
struct smtp	*smtp_open(int, const struct smtp_opts *, struct fail *);

/*
 * Deliver the message to every recipient not yet marked done, in as
 * many transactions as it takes: at most SMTP_RCPT_MAX recipients in
 * each, and those the server puts off with "452 4.5.3 too many
 * recipients" (RFC 5321 §4.5.3.1.10) in the next one.  All or nothing
 * per transaction: when any recipient is refused no body is sent (RSET,
 * or the connection dropped before the final dot).  A recipient is
 * marked done only after the 2xx to its transaction's final dot, so
 * each one gets the message exactly once across transactions, attempts
 * and retries.  *after_dot is set once a final dot went out without a
 * reply, so the caller knows that transaction may have been delivered
 * (f->reply empty); no final dot goes out after a signal, or once the
 * server has closed the connection.  On success the last accepting
 * reply is in f->reply.
 * Envelope addresses that are not ASCII need SMTPUTF8 (RFC 6531 §3.4);
 * without it nothing is sent (EX_UNAVAILABLE).  0 when every recipient
 * is done, or -1 with EX_TEMPFAIL (4xx, network), EX_NOUSER (a recipient
 * refused with 5xx), EX_NOPERM (530), EX_UNAVAILABLE (other 5xx, SIZE),
 * EX_PROTOCOL.
 */
int	smtp_send(struct smtp *, const struct smtp_env *, struct smtp_source *,
	    int *, struct fail *);

/*
 * For --check: would the server take a message from this sender?
 * MAIL FROM then RSET; nothing is delivered.  0, or -1 with the class
 * smtp_send() would fail with.
 */
int	smtp_probe(struct smtp *, const char *, struct fail *);

/* The capabilities of an open session (for mime.c's choices). */
const struct smtp_caps *smtp_caps(const struct smtp *);

/* QUIT (best effort) and close; NULL is fine. */
void	smtp_close(struct smtp *);

/* Is the session under TLS? */
int	smtp_is_tls(const struct smtp *);
/* The AUTH mechanism used, or NULL. */
const char *smtp_auth_used(const struct smtp *);

typedef int	(*smtp_writer)(void *, const char *, size_t, struct fail *);

/*
 * Dot-stuff p[0..n) (RFC 5321 §4.5.2), which holds CRLF lines, through
 * w.  *bol carries "at the beginning of a line" across calls (start it
 * at 1) so a '.' at a buffer boundary is stuffed too.  0 or -1.
 */
int	smtp_dotstuff(const char *, size_t, int *, smtp_writer, void *,
	    struct fail *);

#endif /* SMTP_H */
