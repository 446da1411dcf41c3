/*
 * auth.h -- SASL mechanisms for SMTP AUTH (RFC 4954) as pure step
 * functions: challenge in, response out, no I/O.  smtp.c drives them.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>

struct buf;
struct fail;

struct auth_cred {
	const char	*user;
	const char	*pass;
};

/*
 * Choose the mechanism: conf is "auto" (the strongest offered that
 * relaymail runs automatically) or a mechanism name; offered is the
 * server's AUTH capability list.  Returns a mechanism index, or -1 with
 * EX_NOPERM (nothing usable offered) or EX_CONFIG (unknown name).
 */
int	auth_choose(const char *, const char *, struct fail *);

/* The mechanism's SASL name ("PLAIN"). */
const char *auth_name(int);

/*
 * Compute the base64 response for step (0 = initial response, sent with
 * the AUTH command when the mechanism has one; then one per 334
 * challenge, chal the base64 text after "334 ").  Appends to out, which
 * the caller wipes.  Returns 1 with a response, 0 when step 0 has no
 * initial response, -1 on error (EX_PROTOCOL for a bad challenge or
 * too many steps, EX_OSERR).
 */
int	auth_step(int, int, const char *, const struct auth_cred *,
	    struct buf *, struct fail *);

/* Base64 helpers (RFC 4648 §4) shared with the tests.  0 or -1. */
int	auth_b64_encode(const unsigned char *, size_t, struct buf *);
int	auth_b64_decode(const char *, struct buf *);

#endif /* AUTH_H */
