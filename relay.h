/*
 * relay.h -- one message end to end: identity, fix-ups, recipients,
 * attempts with backoff, the syslog line, dead.letter; and --check.
 * The only module that retries.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>

#include "util.h"

struct conf;
struct fail;
struct msg;

struct relay_opts {
	int		 extract;	/* -t */
	const char	*sender;	/* -f/-r as given, or NULL */
	const char	*fullname;	/* -F, or NULL */
	int		 body8bit;	/* -B 8BITMIME */
	const char	*dsn_notify;	/* -N */
	const char	*dsn_ret;	/* -R */
	const char	*dsn_envid;	/* -V */
	util_stop_t	*stop;		/* main's signal flag */
	int		 keep;		/* on failure: stderr, dead.letter */
};

/*
 * Deliver m to the smarthost of c for the recipients in args (each an
 * RFC 5322 address list) and, with -t or without arguments, those of the
 * header.  Temporary failures are retried c->retries times (1 s, 4 s).
 * Never retried: a failure that is not temporary, a signal, and a final
 * dot that went out unanswered (the message may have been delivered:
 * RFC 1047).  One LOG_MAIL line per attempt.  0, or -1 with the final
 * failure's class (SPEC §4).  With o->keep, a failure is also printed on
 * stderr and the message kept as relay_save() does, with its envelope
 * (X-Relaymail-Envelope) and what the header fix-ups would have added,
 * changed or removed (X-Relaymail-Fixups) noted.
 */
int	relay_message(const struct conf *, struct msg *, char *const *, size_t,
	    const struct relay_opts *, struct fail *);

/*
 * Keep m in the invoking user's dead.letter (path from c, or the default
 * when c is NULL), with reason in an X-Relaymail-Error line and sender
 * (NULL: MAILER-DAEMON) on the mbox From line; tells the user where the
 * message went, or that it could not be saved.
 */
void	relay_save(const struct conf *, const struct msg *, const char *,
	    const char *);

/*
 * -bv: print what each recipient in args resolves to (aliases,
 * default_to, qualification); send nothing.  0 or -1.
 */
int	relay_verify(const struct conf *, char *const *, size_t,
	    struct fail *);

/*
 * --check: connect, TLS, certificate, AUTH, QUIT; a report of each step
 * on stdout.  0 when a message would go through, else -1.
 */
int	relay_check(const struct conf *, struct fail *);

#endif /* RELAY_H */
