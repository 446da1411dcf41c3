/*
 * util.h -- small shared helpers: the failure record, growable buffers.
 *
 * Nothing here exits: allocation failures are reported as EX_OSERR through
 * struct fail like every other failure, and only sendmail.c exits.
 */
#ifndef UTIL_H
#define UTIL_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>

/*
 * One failure, carried from where it is understood up to main.
 * ex is a sysexits.h status; msg is one human line naming the cause and,
 * when known, the fix; reply is the server's reply text when one caused it.
 * noretry marks a temporary failure that an in-run retry cannot cure (a
 * certificate the server will still present five seconds later).
 */
struct fail {
	int	ex;
	int	noretry;	/* temporary, but not within this run */
	char	msg[512];
	char	reply[512];
};

/*
 * Record a failure of class ex (sysexits.h) with a printf-style message.
 * Always returns -1 so callers can "return fail_set(...)".
 */
int	fail_set(struct fail *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/* Record an out-of-memory failure (EX_OSERR); returns -1. */
int	fail_nomem(struct fail *);

/*
 * Set (to the signal number) by main's SIGTERM/SIGINT/SIGHUP handler;
 * every wait checks it so a signal ends the run promptly and before the
 * final dot (SPEC §4).  NULL where nobody can be interrupted (tests).
 */
typedef volatile sig_atomic_t util_stop_t;

/* The failure for a stop: EX_TEMPFAIL, not retried.  Returns -1. */
int	fail_stopped(struct fail *, int);

/* A growable byte buffer; p is always NUL-terminated when non-NULL. */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

/* Make room for n more bytes (plus the NUL) without changing len.
 * 0 or -1. */
int	buf_reserve(struct buf *, size_t);
/* Append n bytes; 0, or -1 when memory is exhausted. */
int	buf_add(struct buf *, const void *, size_t);
/* Append one byte; 0 or -1. */
int	buf_addc(struct buf *, int);
/* Append a C string; 0 or -1. */
int	buf_adds(struct buf *, const char *);
/* Append printf-style text; 0 or -1. */
int	buf_addf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Forget the contents, keep the allocation. */
void	buf_reset(struct buf *);
/* Release the memory. */
void	buf_free(struct buf *);
/* Overwrite (explicit_bzero) then release: for buffers that held secrets. */
void	buf_wipe(struct buf *);

/* strdup/strndup that return NULL on exhaustion (no exit). */
char	*util_strndup(const char *, size_t);

/* ASCII-only, locale-independent helpers (RFC 5322 is ASCII). */
int	util_strcasecmp(const char *, const char *);
int	util_strncasecmp(const char *, const char *, size_t);

/* Overwrite memory in a way the compiler cannot elide. */
void	util_wipe(void *, size_t);

#endif /* UTIL_H */
