/*
 * log.c -- stderr, syslog and the -v trace.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

/* Log settings: the only mutable globals of relaymail (ARCHITECTURE.md). */
static const char	*log_tag = "relaymail";
static int		 log_syslog_on;
static int		 log_syslog_open;
static int		 log_v;

void
log_init(const char *tag, int use_syslog, int verbose)
{
	if (tag != NULL && *tag != '\0')
		log_tag = tag;
	log_syslog_on = use_syslog;
	log_v = verbose;
}

void
log_set_syslog(int on)
{
	log_syslog_on = on;
}

int
log_verbose(void)
{
	return log_v;
}

/* Control characters (a hostile server's reply text) become '?', so a
 * line can neither drive a terminal nor forge a second line. */
static void
log_clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* One line on stderr.  stderr may be closed (then /dev/null, priv.c), a
 * full disk or a pipe nobody reads (SIGPIPE is ignored): a failed write
 * is dropped, never fatal. */
static void
log_vline(const char *prefix, const char *fmt, va_list ap)
{
	char	line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	log_clean(line);
	fprintf(stderr, "relaymail: %s%s\n", prefix, line);
	fflush(stderr);
}

void
log_err(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vline("", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vline("warning: ", fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	if (!log_v)
		return;
	va_start(ap, fmt);
	log_vline("", fmt, ap);
	va_end(ap);
}

void
log_trace(int out, const char *s, size_t n)
{
	size_t	i;
	int	c;

	if (!log_v)
		return;
	fputs(out ? "--> " : "<-- ", stderr);
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputc('\n', stderr);
	fflush(stderr);
}

void
log_trace_redacted(int out, const char *prefix)
{
	if (!log_v)
		return;
	fprintf(stderr, "%s%s<redacted>\n", out ? "--> " : "<-- ", prefix);
	fflush(stderr);
}

static const int log_prio[] = {
	[LOGM_INFO] = LOG_INFO,
	[LOGM_WARNING] = LOG_WARNING,
	[LOGM_ERR] = LOG_ERR,
};

void
log_mail(enum log_level lvl, const char *fmt, ...)
{
	char	line[4096];
	va_list	ap;

	if (!log_syslog_on)
		return;
	if (!log_syslog_open) {
		openlog(log_tag, LOG_PID | LOG_NDELAY, LOG_MAIL);
		log_syslog_open = 1;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_clean(line);
	syslog(log_prio[lvl], "%s", line);
}
