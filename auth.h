/*
 * auth.h -- SASL mechanisms for SMTP AUTH (RFC 4954) as pure step
 * functions: challenge in, response out, no I/O.  smtp.c drives them.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>

#include "util.h"

struct auth_cred {
	const char	*user;
	const char	*pass;		/* password, or OAuth token */
};

#define AUTH_SHA256_LEN	32

/* One exchange in progress; the caller owns it and calls auth_clear(). */
struct auth_state {
	int		 mech;
	int		 step;
	const struct auth_cred *cred;
	char		 nonce[48];	/* SCRAM client nonce; "" = random */
	struct buf	 bare;		/* SCRAM client-first-message-bare */
	struct buf	 authmsg;	/* SCRAM AuthMessage */
	unsigned char	 server_sig[AUTH_SHA256_LEN];
	int		 server_checked; /* SCRAM v= verified */
};

/*
 * Choose the mechanism: conf is "auto" (the strongest offered of
 * SCRAM-SHA-256, PLAIN, LOGIN) or a mechanism name; offered is the
 * server's AUTH capability list.  Returns a mechanism index, or -1 with
 * EX_NOPERM (nothing usable offered) or EX_CONFIG (unknown name).
 */
int	auth_choose(const char *, const char *, struct fail *);

/* The mechanism's SASL name ("PLAIN"). */
const char *auth_name(int);

/* Does the mechanism take an OAuth token from password_command? */
int	auth_is_oauth(int);

/*
 * Start mechanism m for cred.  Appends the base64 initial response to
 * out and returns 1, or returns 0 when the mechanism has none; -1 on
 * error (EX_OSERR).
 */
int	auth_start(struct auth_state *, int, const struct auth_cred *,
	    struct buf *, struct fail *);

/*
 * Answer one 334 challenge (chal: the base64 text after "334 ").
 * Appends the base64 response (possibly empty) to out; 0, or -1 with
 * EX_PROTOCOL (malformed challenge, a SCRAM server that cannot prove
 * it knows the password, too many steps) or EX_OSERR.
 */
int	auth_next(struct auth_state *, const char *, struct buf *,
	    struct fail *);

/* On 235: did the server prove itself where the mechanism can?  0 or -1
 * (EX_PROTOCOL). */
int	auth_finish(struct auth_state *, struct fail *);

/* Wipe and free the state. */
void	auth_clear(struct auth_state *);

/* Base64 helpers (RFC 4648 §4) shared with the tests.  0 or -1. */
int	auth_b64_encode(const unsigned char *, size_t, struct buf *);
int	auth_b64_decode(const char *, struct buf *);

#endif /* AUTH_H */
