/*
 * serve.h -- sendmail -bs: an SMTP server dialogue (RFC 5321) on
 * standard input and output, for callers such as PHP's Symfony Mailer
 * that speak SMTP to "sendmail -bs".  Each accepted message goes through
 * relay.c exactly as one read with -t or recipients on the command line.
 *
 * The session is a state machine fed with bytes (serve_feed), so the
 * command parser and the dialogue are tested without any I/O;
 * serve_run() puts it on two file descriptors.
 */
#ifndef SERVE_H
#define SERVE_H

#include <stddef.h>

#include "util.h"

struct conf;
struct fail;
struct msg;
struct relay_opts;

/*
 * A command line, CRLF included.  RFC 5321 §4.5.3.1.4 sets 512 octets
 * and lets extensions raise it (SIZE adds 26, RFC 1870); a text line's
 * 1000 (§4.5.3.1.6) leaves room for any client's parameters.
 */
#define SERVE_LINE_MAX	1000
#define SERVE_PATH_MAX	256		/* with the brackets, §4.5.3.1.3 */
#define SERVE_RCPT_MAX	1000		/* per message; at least 100, §4.5.3.1.8 */
#define SERVE_IDLE_MS	(5 * 60 * 1000)	/* server timeout, §4.5.3.2.7 */

enum serve_verb {
	SERVE_HELO, SERVE_EHLO, SERVE_MAIL, SERVE_RCPT, SERVE_DATA,
	SERVE_RSET, SERVE_NOOP, SERVE_QUIT, SERVE_VRFY, SERVE_EXPN,
	SERVE_HELP,
	SERVE_NOTIMPL,		/* a known SMTP verb we do not offer */
	SERVE_UNKNOWN
};

/* One command line, parsed. */
struct serve_cmd {
	enum serve_verb	 verb;
	const char	*arg;		/* text after the verb, in the line */
	char		 path[SERVE_PATH_MAX];	/* MAIL/RCPT mailbox; "" is <> */
	int		 body8bit;	/* MAIL ... BODY=8BITMIME */
	int		 has_size;	/* MAIL ... SIZE=n */
	unsigned long long size;
	const char	*reply;		/* on a syntax error: the whole reply */
	char		 rbuf[160];	/* where reply points when composed */
};

/*
 * Parse one command line (NUL-terminated, without its line ending).
 * 0, or -1 with cmd->reply set to the complete reply line for the client
 * (500 unknown verb, 501 syntax, 502 not offered, 555 unknown MAIL/RCPT
 * parameter), without CRLF.  cmd->verb is set in both cases.
 */
int	serve_parse(const char *, struct serve_cmd *);

/* The envelope of one message, as the client gave it. */
struct serve_env {
	const char	 *sender;	/* MAIL FROM mailbox, "" for <> */
	char *const	 *rcpt;		/* RCPT TO mailboxes, each as "<...>" */
	size_t		  nrcpt;
	int		  body8bit;	/* BODY=8BITMIME */
};

/*
 * Hand one complete message on: 0 once the smarthost has accepted it, or
 * -1 with f (f->ex picks 4xx or 5xx, f->msg is the reason the client
 * sees).  The message is the callee's to keep (dead.letter) on failure.
 */
typedef int	(*serve_deliver_fn)(void *, struct msg *,
		    const struct serve_env *, struct fail *);

struct serve_conf {
	const struct conf	*conf;
	const struct relay_opts	*relay;		/* -F, -B, -N, -R, -V */
	const char		*hostname;	/* NULL: helo, else this host */
	serve_deliver_fn	 deliver;	/* NULL: serve_relay() */
	void			*arg;		/* deliver's first argument */
	util_stop_t		*stop;		/* main's signal flag, or NULL */
};

struct serve;

/*
 * A new session; its output already holds the 220 greeting.  The caller
 * frees it with serve_free().  NULL on EX_OSERR.
 */
struct serve	*serve_new(const struct serve_conf *, struct fail *);

/*
 * Process n octets of input: complete command lines are answered in
 * order (RFC 2920 pipelining), a message ends at CRLF "." CRLF and is
 * delivered before the next command is read.  Input after QUIT is
 * ignored.  0, or -1 when the session cannot go on (EX_OSERR; a 421
 * reply is then in the output).
 */
int	serve_feed(struct serve *, const char *, size_t, struct fail *);

/* The replies produced so far and not yet taken; the caller writes them
 * and resets the buffer. */
struct buf	*serve_output(struct serve *);

/* Has the client sent QUIT? */
int	serve_done(const struct serve *);

/*
 * The input ended (or timed out) without QUIT.  0 when no transaction was
 * open; -1 with EX_TEMPFAIL when the client left during MAIL, RCPT or
 * DATA: that message was not sent.
 */
int	serve_end(struct serve *, struct fail *);

/* Release the session (and any unfinished message). */
void	serve_free(struct serve *);

/*
 * The default deliver function: relay_message() with the envelope (the
 * command-line options of sc->relay for the rest), relay_save() into
 * dead.letter on failure.  arg is the struct serve_conf.
 */
int	serve_relay(void *, struct msg *, const struct serve_env *,
	    struct fail *);

/*
 * -bs: the whole session between in and out (stdin and stdout).  Replies
 * are written whenever no further complete command is waiting.  0 after
 * QUIT, or after end of input between transactions; -1 with EX_TEMPFAIL
 * (client left mid-transaction, idle timeout, signal: a 421 is sent
 * where possible), EX_IOERR (reading or writing) or EX_OSERR.
 */
int	serve_run(const struct serve_conf *, int, int, struct fail *);

/*
 * Refuse the session before it starts (no usable configuration): a 421
 * greeting carrying reason on out (RFC 5321 §3.1), so an SMTP client
 * shows the cause instead of an empty reply.
 */
void	serve_refuse(int, const char *);

#endif /* SERVE_H */
