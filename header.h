/*
 * header.h -- the Message Submission Agent fix-ups of RFC 6409 §8 and
 * SPEC §2.2, and -t recipient extraction.  The only module that adds or
 * removes header fields.
 */
#ifndef HEADER_H
#define HEADER_H

#include <stddef.h>

struct addrlist;
struct buf;
struct fail;
struct msg;

/* What the fix-ups need to know; time and randomness are passed in so
 * output is exact in tests. */
struct header_ctx {
	long long	 now;		/* seconds since the epoch */
	const unsigned char *rnd;	/* HEADER_RND_LEN random octets */
	const char	*fqdn;		/* this host, for Received */
	const char	*msgid_domain;	/* right of '@' in a Message-ID */
	const char	*domain;	/* qualifies bare names */
	const char	*user;		/* login name for a From we add */
	const char	*fullname;	/* display name, or NULL */
	unsigned long	 uid;		/* invoking uid, for Received */
	int		 extract;	/* -t: recipients from the header */
	int		 rewrite_from;	/* rewrite_from = always */
	const char	*from_addr;	/* the configured from, or NULL */
};

#define HEADER_RND_LEN	12

/*
 * Recipients one message may have, -t fields and arguments together,
 * before de-duplication.  Generous (RFC 5321 §4.5.3.1.8 asks a server
 * for 100 a transaction; Postfix takes 1,000 a message) and a bound on
 * de-duplication, which compares each new address with those kept.
 */
#define HEADER_RCPT_MAX	10000

/*
 * Produce the header to send for m into out (CRLF line endings, ending
 * with the empty line), applying each fix-up only where needed.  With
 * ctx->extract, the recipients of To/Cc/Bcc (or Resent-To/Cc/Bcc when
 * the message has any Resent- field) are appended to rcpts, unqualified.
 * Fails with EX_DATAERR when a recipient field cannot be parsed with -t
 * or rcpts would pass HEADER_RCPT_MAX, EX_OSERR on memory.  0 or -1.
 */
int	header_fixup(const struct msg *, const struct header_ctx *,
	    struct buf *, struct addrlist *, struct fail *);

/*
 * Format a display name as an RFC 5322 phrase: as is when it is atoms,
 * a quoted-string when it holds specials (control characters become
 * spaces), RFC 2047 encoded-words when it holds non-ASCII.  Appends to
 * out; 0 or -1 (EX_OSERR).
 */
int	header_phrase(const char *, struct buf *, struct fail *);

#endif /* HEADER_H */
