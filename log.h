/*
 * log.h -- stderr diagnostics, the syslog line, and the -v trace.
 *
 * The only module that writes diagnostics; its settings are the only
 * mutable globals in relaymail.  Safe when stderr is closed (the fd is
 * then /dev/null, see priv.c) and never prints a secret: callers hand
 * AUTH lines to log_trace_redacted().
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

/* Set the syslog tag (NULL: "relaymail"), syslog on/off and -v. */
void	log_init(const char *, int, int);
/* Switch syslog on or off once the configuration is known. */
void	log_set_syslog(int);
/* Is the -v trace on? */
int	log_verbose(void);

/* One line "relaymail: ..." on stderr, control characters shown as '?';
 * a failed write (stderr closed, a pipe nobody reads) is dropped. */
void	log_err(const char *, ...) __attribute__((format(printf, 1, 2)));
/* One line "relaymail: warning: ..." on stderr. */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
/* A -v note ("relaymail: ...") printed only when verbose. */
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));

/* -v trace of one protocol line without its CRLF: dir 0 in, 1 out.
 * Control characters are shown escaped so a hostile server cannot drive
 * the terminal. */
void	log_trace(int, const char *, size_t);
/* -v trace of a line carrying secrets: prints PREFIX <redacted>. */
void	log_trace_redacted(int, const char *);

/* Levels for log_mail(), mapped to syslog priorities in log.c. */
enum log_level { LOGM_INFO, LOGM_WARNING, LOGM_ERR };

/*
 * One LOG_MAIL line "TAG[PID]: text" (tag from log_init(), "relaymail"
 * by default), control characters shown as '?'; nothing when syslog is
 * off.
 */
void	log_mail(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif /* LOG_H */
