/*
 * smtp.c -- the SMTP submission client.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "smtp.h"
#include "stream.h"
#include "util.h"

#define SMTP_CMD_MAX		512	/* RFC 5321 §4.5.3.1.4, with CRLF */
#define SMTP_REPLY_LINES	1000	/* more is a hostile server */
#define SMTP_TEXT_MAX		400	/* reply text kept for messages */

struct smtp {
	struct stream		*s;
	const struct smtp_opts	*o;
	struct smtp_caps	 caps;
	int			 code;
	struct buf		 text;		/* last reply, bounded */
	const char		*auth_used;
	int			 dead;		/* no QUIT: connection unusable */
	char			 line[STREAM_LINE_MAX];
};

typedef void	(*smtp_each)(struct smtp *, const char *, int);

/* Send one command line; the trace shows it unless it carries secrets. */
static int
smtp_vcmd(struct smtp *sm, struct fail *f, const char *fmt, va_list ap)
{
	char	cmd[SMTP_CMD_MAX + 1];
	int	n;

	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	if (n < 0 || n > SMTP_CMD_MAX - 2)
		return fail_set(f, EX_DATAERR, "SMTP command too long "
		    "(RFC 5321 §4.5.3.1.4): an address is over the limit");
	if (strpbrk(cmd, "\r\n") != NULL)
		return fail_set(f, EX_DATAERR, "line break inside an SMTP "
		    "command: refused");
	log_trace(1, cmd, (size_t)n);
	if (stream_write(sm->s, cmd, (size_t)n, f) == -1 ||
	    stream_write(sm->s, "\r\n", 2, f) == -1)
		return -1;
	util_wipe(cmd, sizeof(cmd));
	return 0;
}

static int
smtp_cmd(struct smtp *sm, struct fail *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
smtp_cmd(struct smtp *sm, struct fail *f, const char *fmt, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	r = smtp_vcmd(sm, f, fmt, ap);
	va_end(ap);
	return r;
}

/* A command with a secret: traced as "PREFIX <redacted>" (prefix is
 * the whole public part, e.g. "AUTH PLAIN "), or "<redacted>" alone. */
static int
smtp_secret(struct smtp *sm, const char *prefix, const char *secret,
    struct fail *f)
{
	int	r;

	log_trace_redacted(1, prefix);
	r = stream_write(sm->s, prefix, strlen(prefix), f);
	if (r == 0)
		r = stream_write(sm->s, secret, strlen(secret), f);
	if (r == 0)
		r = stream_write(sm->s, "\r\n", 2, f);
	return r;
}

/* Parse a reply line: 3 digits, then ' ', '-' or the end. */
static int
smtp_line_code(const char *l, size_t n, int *last)
{
	if (n < 3 || !isdigit((unsigned char)l[0]) ||
	    !isdigit((unsigned char)l[1]) || !isdigit((unsigned char)l[2]) ||
	    (n > 3 && l[3] != ' ' && l[3] != '-'))
		return -1;
	*last = n == 3 || l[3] == ' ';
	return (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
}

static void
smtp_keep_text(struct smtp *sm, const char *t, int first)
{
	if (sm->text.len >= SMTP_TEXT_MAX)
		return;
	if (!first)
		buf_adds(&sm->text, " / ");
	buf_add(&sm->text, t, strnlen(t, SMTP_TEXT_MAX - sm->text.len));
}

/*
 * Read one reply (RFC 5321 §4.2): lines with the same code, the last one
 * with a space.  each, when set, sees every line's text.
 */
static int
smtp_reply(struct smtp *sm, smtp_each each, struct fail *f)
{
	size_t	n, lines;
	int	code, last = 0;

	buf_reset(&sm->text);
	for (lines = 0; !last; lines++) {
		if (lines == SMTP_REPLY_LINES) {
			sm->dead = 1;
			return fail_set(f, EX_PROTOCOL, "%s: reply of more "
			    "than %d lines", sm->o->host, SMTP_REPLY_LINES);
		}
		if (stream_getline(sm->s, sm->line, sizeof(sm->line), &n,
		    f) == -1) {
			sm->dead = 1;
			return -1;
		}
		log_trace(0, sm->line, n);
		code = smtp_line_code(sm->line, n, &last);
		if (code < 200 || code > 599 || (lines > 0 && code !=
		    sm->code)) {
			sm->dead = 1;
			return fail_set(f, EX_PROTOCOL, "%s: malformed reply "
			    "from the server", sm->o->host);
		}
		sm->code = code;
		smtp_keep_text(sm, n > 4 ? sm->line + 4 : "", lines == 0);
		if (each != NULL)
			each(sm, n > 4 ? sm->line + 4 : "", lines == 0);
	}
	return 0;
}

/* Fail from the last reply: 4xx temporary, 5xx the given class. */
static int
smtp_refused(struct smtp *sm, int perm, const char *what, struct fail *f)
{
	int	ex = sm->code >= 400 && sm->code < 500 ? EX_TEMPFAIL : perm;

	if (sm->code < 400)
		ex = EX_PROTOCOL;
	fail_set(f, ex, "%s: %s: %d %s", sm->o->host, what, sm->code,
	    sm->text.p != NULL ? sm->text.p : "");
	snprintf(f->reply, sizeof(f->reply), "%d %s", sm->code,
	    sm->text.p != NULL ? sm->text.p : "");
	return -1;
}

/* Flush, read one reply and require its class (2 or 3). */
static int
smtp_expect(struct smtp *sm, int class, int perm, const char *what,
    struct fail *f)
{
	if (stream_flush(sm->s, f) == -1 || smtp_reply(sm, NULL, f) == -1)
		return -1;
	if (sm->code / 100 != class)
		return smtp_refused(sm, perm, what, f);
	return 0;
}

/* EHLO keywords relaymail uses (RFC 5321 §4.1.1.1). */
static void
smtp_cap(struct smtp *sm, const char *t, int first)
{
	struct smtp_caps *c = &sm->caps;
	size_t	k = strcspn(t, " =");

	if (first)
		return;
#define IS(w)	(k == strlen(w) && util_strncasecmp(t, w, k) == 0)
	if (IS("STARTTLS"))
		c->starttls = 1;
	else if (IS("PIPELINING"))
		c->pipelining = 1;
	else if (IS("8BITMIME"))
		c->eightbitmime = 1;
	else if (IS("SMTPUTF8"))
		c->smtputf8 = 1;
	else if (IS("BINARYMIME"))
		c->binarymime = 1;
	else if (IS("CHUNKING"))
		c->chunking = 1;
	else if (IS("DSN"))
		c->dsn = 1;
	else if (IS("ENHANCEDSTATUSCODES"))
		c->enhanced = 1;
	else if (IS("SIZE")) {
		c->size_set = 1;
		c->size = strtoull(t + k, NULL, 10);
	} else if (IS("AUTH") && t[k] != '\0')
		snprintf(c->auth, sizeof(c->auth), "%s", t + k + 1);
#undef IS
}

static int
smtp_ehlo(struct smtp *sm, struct fail *f)
{
	/* RFC 3207 §4.2: forget everything learnt before TLS. */
	memset(&sm->caps, 0, sizeof(sm->caps));
	if (smtp_cmd(sm, f, "EHLO %s", sm->o->helo) == -1 ||
	    stream_flush(sm->s, f) == -1 || smtp_reply(sm, smtp_cap, f) == -1)
		return -1;
	if (sm->code != 250)
		return smtp_refused(sm, EX_UNAVAILABLE, "EHLO refused", f);
	return 0;
}

static int
smtp_starttls(struct smtp *sm, struct fail *f)
{
	const char	*h = sm->o->host;

	if (!sm->caps.starttls) {
		fail_set(f, EX_TEMPFAIL, "%s does not offer STARTTLS: nothing "
		    "was sent (tls = tls for port 465; tls = none only on a "
		    "trusted network)", h);
		f->noretry = 1;
		return -1;
	}
	if (smtp_cmd(sm, f, "STARTTLS") == -1 ||
	    stream_flush(sm->s, f) == -1 || smtp_reply(sm, NULL, f) == -1)
		return -1;
	/* Any refusal of TLS is temporary (SPEC §4), never a fallback. */
	if (sm->code != 220)
		return smtp_refused(sm, EX_TEMPFAIL, "STARTTLS refused", f);
	if (stream_starttls(sm->s, sm->o->tls_ctx, h, f) == -1)
		return -1;
	return smtp_ehlo(sm, f);
}

/*
 * The AUTH exchange after the command went out (RFC 4954 §4): answer
 * each 334, succeed on 235, fail on anything else.  pending holds an
 * initial response that did not fit on the AUTH line.
 */
static int
smtp_auth_loop(struct smtp *sm, struct auth_state *st, struct buf *pending,
    struct fail *f)
{
	struct buf	 resp = { 0 };
	const char	*chal;
	int		 r = -1;

	for (;;) {
		if (stream_flush(sm->s, f) == -1 ||
		    smtp_reply(sm, NULL, f) == -1)
			goto out;
		if (sm->code == 235) {
			r = auth_finish(st, f);
			goto out;
		}
		if (sm->code != 334) {
			smtp_refused(sm, EX_NOPERM, "authentication failed "
			    "(check user and password)", f);
			goto out;
		}
		chal = strlen(sm->line) > 4 ? sm->line + 4 : "";
		buf_wipe(&resp);
		if (pending->len > 0) {
			if (smtp_secret(sm, "", pending->p, f) == -1)
				goto out;
			buf_wipe(pending);
		} else if (auth_next(st, chal, &resp, f) == -1 ||
		    smtp_secret(sm, "", resp.p != NULL ? resp.p : "", f) == -1)
			goto out;
	}
out:
	buf_wipe(&resp);
	return r;
}

static int
smtp_auth(struct smtp *sm, struct fail *f)
{
	struct auth_cred  c = { sm->o->user, sm->o->pass };
	struct auth_state st = { 0 };
	struct buf	  resp = { 0 }, pending = { 0 };
	char		  prefix[64];
	int		  m, r = -1;

	if (sm->o->user == NULL || util_strcasecmp(sm->o->auth, "none") == 0)
		return 0;
	if (!stream_is_tls(sm->s) && !sm->o->auth_plaintext)
		return fail_set(f, EX_CONFIG, "refusing to send the password "
		    "without TLS: use tls = starttls or tls = tls (or "
		    "auth_plaintext = true on a trusted network)");
	if (sm->caps.auth[0] == '\0')
		return fail_set(f, EX_NOPERM, "%s does not offer AUTH, but a "
		    "user is configured: nothing was sent", sm->o->host);
	if ((m = auth_choose(sm->o->auth, sm->caps.auth, f)) == -1)
		return -1;
	snprintf(prefix, sizeof(prefix), "AUTH %s", auth_name(m));
	if ((r = auth_start(&st, m, &c, &resp, f)) == -1)
		goto out;
	/* RFC 4954 §4: an initial response too long for one line waits
	 * for the server's empty challenge; an empty one is sent as "=". */
	if (r == 1 && strlen(prefix) + 1 + resp.len <= SMTP_CMD_MAX - 2) {
		strcat(prefix, " ");
		r = smtp_secret(sm, prefix, resp.len > 0 ? resp.p : "=", f);
	} else {
		if (r == 1 && buf_add(&pending, resp.p, resp.len) == -1) {
			r = fail_nomem(f);
			goto out;
		}
		r = smtp_cmd(sm, f, "%s", prefix);
	}
	if (r == 0 && (r = smtp_auth_loop(sm, &st, &pending, f)) == 0)
		sm->auth_used = auth_name(m);
out:
	buf_wipe(&resp);
	buf_wipe(&pending);
	auth_clear(&st);
	return r;
}

static int
smtp_session(struct smtp *sm, struct fail *f)
{
	if (sm->o->tls == CONF_TLS_IMPLICIT &&
	    stream_starttls(sm->s, sm->o->tls_ctx, sm->o->host, f) == -1)
		return -1;
	if (smtp_reply(sm, NULL, f) == -1)
		return -1;
	if (sm->code != 220)
		return smtp_refused(sm, EX_UNAVAILABLE, "greeting", f);
	if (smtp_ehlo(sm, f) == -1)
		return -1;
	if (sm->o->tls == CONF_TLS_STARTTLS && smtp_starttls(sm, f) == -1)
		return -1;
	return smtp_auth(sm, f);
}

struct smtp *
smtp_open(int fd, const struct smtp_opts *o, struct fail *f)
{
	struct smtp	*sm;

	if ((sm = calloc(1, sizeof(*sm))) == NULL ||
	    (sm->s = stream_new(fd)) == NULL) {
		free(sm);
		close(fd);
		fail_nomem(f);
		return NULL;
	}
	sm->o = o;
	stream_set_timeout(sm->s, o->timeout_ms);
	stream_set_stop(sm->s, o->stop);
	if (smtp_session(sm, f) == -1) {
		sm->dead = 1;
		smtp_close(sm);
		return NULL;
	}
	return sm;
}

/* RFC 3461 §4: xtext, "+" and two hex digits outside 33..126, '+', '='. */
static int
smtp_xtext(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 33 || (unsigned char)*s > 126 ||
		    *s == '+' || *s == '=') {
			if (buf_addf(b, "+%02X", (unsigned char)*s) == -1)
				return -1;
		} else if (buf_addc(b, *s) == -1)
			return -1;
	}
	return 0;
}

/* MAIL FROM parameters for what the server offers (RFC 1870, 6152,
 * 6531, 3461); a DSN request to a server without DSN is dropped with a
 * note, never a failure. */
static int
smtp_mail_params(struct smtp *sm, const struct smtp_env *e, struct buf *p)
{
	int	r = 0;

	if (sm->caps.size_set)
		r |= buf_addf(p, " SIZE=%llu", e->size);
	if (e->body8bit && sm->caps.eightbitmime)
		r |= buf_adds(p, " BODY=8BITMIME");
	if (e->smtputf8 && sm->caps.smtputf8)
		r |= buf_adds(p, " SMTPUTF8");
	if ((e->dsn_ret != NULL || e->dsn_envid != NULL ||
	    e->dsn_notify != NULL) && !sm->caps.dsn) {
		log_info("%s does not offer DSN: -N, -R and -V are ignored",
		    sm->o->host);
		return r;
	}
	if (e->dsn_ret != NULL)
		r |= buf_addf(p, " RET=%s", e->dsn_ret);
	if (e->dsn_envid != NULL)
		r |= buf_adds(p, " ENVID=") | smtp_xtext(p, e->dsn_envid);
	return r;
}

static int
smtp_mail(struct smtp *sm, const struct smtp_env *e, struct fail *f)
{
	struct buf	p = { 0 };
	int		r;

	if (sm->caps.size_set && sm->caps.size > 0 && e->size > sm->caps.size)
		return fail_set(f, EX_UNAVAILABLE, "%s: the message (%llu "
		    "octets) is larger than the server accepts (%llu)",
		    sm->o->host, e->size, sm->caps.size);
	if (smtp_mail_params(sm, e, &p) == -1 || buf_add(&p, "", 0) == -1) {
		buf_free(&p);
		return fail_nomem(f);
	}
	r = smtp_cmd(sm, f, "MAIL FROM:<%s>%s", e->from, p.p);
	buf_free(&p);
	return r;
}

static int
smtp_rcpt(struct smtp *sm, const struct smtp_env *e, size_t i,
    struct fail *f)
{
	if (e->dsn_notify != NULL && sm->caps.dsn)
		return smtp_cmd(sm, f, "RCPT TO:<%s> NOTIFY=%s", e->rcpt[i],
		    e->dsn_notify);
	return smtp_cmd(sm, f, "RCPT TO:<%s>", e->rcpt[i]);
}

/* Best effort: leave the transaction, keep the session (RFC 5321 §4.1.1.5). */
static void
smtp_rset(struct smtp *sm)
{
	struct fail	ignore;

	if (!sm->dead && smtp_cmd(sm, &ignore, "RSET") == 0 &&
	    stream_flush(sm->s, &ignore) == 0)
		smtp_reply(sm, NULL, &ignore);
}

/* Note the first refused recipient; 0 when accepted. */
static int
smtp_rcpt_result(struct smtp *sm, const char *rcpt, int *refused,
    struct fail *f)
{
	char	what[320];

	if (sm->code / 100 == 2)
		return 0;
	if (!*refused) {
		snprintf(what, sizeof(what), "recipient <%.256s> refused, so "
		    "nobody was sent the message", rcpt);
		smtp_refused(sm, EX_NOUSER, what, f);
	}
	*refused = 1;
	return -1;
}

/* Without PIPELINING: one command, one reply. */
static int
smtp_envelope_lockstep(struct smtp *sm, const struct smtp_env *e,
    struct fail *f)
{
	size_t	i;
	int	refused = 0;

	if (smtp_mail(sm, e, f) == -1 ||
	    smtp_expect(sm, 2, EX_UNAVAILABLE, "sender refused", f) == -1)
		goto rset;
	for (i = 0; i < e->nrcpt; i++) {
		if (smtp_rcpt(sm, e, i, f) == -1 ||
		    stream_flush(sm->s, f) == -1 ||
		    smtp_reply(sm, NULL, f) == -1)
			return -1;
		if (smtp_rcpt_result(sm, e->rcpt[i], &refused, f) == -1)
			goto rset;
	}
	if (smtp_cmd(sm, f, "DATA") == -1 ||
	    smtp_expect(sm, 3, EX_UNAVAILABLE, "DATA refused", f) == -1)
		goto rset;
	return 0;
rset:
	smtp_rset(sm);
	return -1;
}

/*
 * RFC 2920: MAIL, every RCPT and DATA in one write, then the replies in
 * order.  If anything was refused but DATA still got 354, the only way
 * to send nothing is to drop the connection before the final dot
 * (RFC 5321 §4.1.1.4: an incomplete message must not be delivered).
 */
static int
smtp_envelope_pipelined(struct smtp *sm, const struct smtp_env *e,
    struct fail *f)
{
	size_t	i;
	int	refused = 0;

	if (smtp_mail(sm, e, f) == -1)
		return -1;
	for (i = 0; i < e->nrcpt; i++)
		if (smtp_rcpt(sm, e, i, f) == -1)
			return -1;
	if (smtp_cmd(sm, f, "DATA") == -1 || stream_flush(sm->s, f) == -1 ||
	    smtp_reply(sm, NULL, f) == -1)
		return -1;
	if (sm->code / 100 != 2) {
		smtp_refused(sm, EX_UNAVAILABLE, "sender refused", f);
		refused = 1;
	}
	for (i = 0; i < e->nrcpt; i++) {
		if (smtp_reply(sm, NULL, f) == -1)
			return -1;
		if (!refused)
			smtp_rcpt_result(sm, e->rcpt[i], &refused, f);
	}
	if (smtp_reply(sm, NULL, f) == -1)
		return -1;
	if (sm->code == 354 && !refused)
		return 0;
	if (sm->code == 354)
		sm->dead = 1;
	else if (!refused)
		smtp_refused(sm, EX_UNAVAILABLE, "DATA refused", f);
	if (!sm->dead)
		smtp_rset(sm);
	return -1;
}

int
smtp_dotstuff(const char *p, size_t n, int *bol, smtp_writer w, void *arg,
    struct fail *f)
{
	const char	*end = p + n, *nl;

	while (p < end) {
		/* RFC 5321 §4.5.2: a line starting with '.' gets another */
		if (*bol && *p == '.' && w(arg, ".", 1, f) == -1)
			return -1;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end - 1;
		if (w(arg, p, (size_t)(nl - p + 1), f) == -1)
			return -1;
		*bol = *nl == '\n';
		p = nl + 1;
	}
	return 0;
}

static int
smtp_stream_writer(void *arg, const char *p, size_t n, struct fail *f)
{
	return stream_write(arg, p, n, f);
}

/*
 * The final dot, unless a signal came or the server has already closed
 * the connection: then the message certainly was not accepted and
 * another attempt is safe (RFC 1047: only an unanswered dot leaves the
 * outcome unknown).
 */
static int
smtp_dot(struct smtp *sm, struct fail *f)
{
	if (stream_flush(sm->s, f) == -1)
		return -1;
	if (sm->o->stop != NULL && *sm->o->stop)
		return fail_stopped(f, *sm->o->stop);
	if (stream_peer_closed(sm->s))
		return fail_set(f, EX_TEMPFAIL, "%s: connection closed by the "
		    "server during the message", sm->o->host);
	return smtp_cmd(sm, f, ".");
}

static int
smtp_body(struct smtp *sm, struct smtp_source *src, struct fail *f)
{
	char		 chunk[16384];
	ssize_t		 n;
	unsigned long long total = 0;
	int		 bol = 1;

	while ((n = src->read(src->arg, chunk, sizeof(chunk), f)) > 0) {
		/* a signal mid-body: never send the final dot */
		if (sm->o->stop != NULL && *sm->o->stop) {
			sm->dead = 1;
			return fail_stopped(f, *sm->o->stop);
		}
		total += (unsigned long long)n;
		if (smtp_dotstuff(chunk, (size_t)n, &bol, smtp_stream_writer,
		    sm->s, f) == -1)
			return -1;
	}
	if (n == -1)
		return -1;
	if (!bol && stream_write(sm->s, "\r\n", 2, f) == -1)
		return -1;
	log_info("(%llu octets of message sent)", total);
	return smtp_dot(sm, f);
}

int
smtp_send(struct smtp *sm, const struct smtp_env *e, struct smtp_source *src,
    int *after_dot, struct fail *f)
{
	int	r;

	*after_dot = 0;
	r = sm->caps.pipelining ? smtp_envelope_pipelined(sm, e, f) :
	    smtp_envelope_lockstep(sm, e, f);
	if (r == -1)
		return -1;
	/* In DATA, QUIT or RSET would be message text: drop the line. */
	if (smtp_body(sm, src, f) == -1 || stream_flush(sm->s, f) == -1) {
		sm->dead = 1;
		return -1;
	}
	*after_dot = 1;
	/* RFC 5321 §4.5.3.2.6: up to 10 minutes for the final reply */
	stream_set_timeout(sm->s, sm->o->final_timeout_ms);
	r = smtp_reply(sm, NULL, f);
	stream_set_timeout(sm->s, sm->o->timeout_ms);
	if (r == -1)
		return -1;
	if (sm->code / 100 != 2)
		return smtp_refused(sm, EX_UNAVAILABLE, "message refused", f);
	/* the accepting reply, for the syslog line (SPEC §4) */
	snprintf(f->reply, sizeof(f->reply), "%d %s", sm->code,
	    sm->text.p != NULL ? sm->text.p : "");
	return 0;
}

void
smtp_close(struct smtp *sm)
{
	struct fail	ignore;

	if (sm == NULL)
		return;
	/* After a 2xx to the dot the mail is delivered: an EOF or error
	 * during QUIT changes nothing (PITFALLS.md, OpenSSL 3 EOF). */
	if (!sm->dead && smtp_cmd(sm, &ignore, "QUIT") == 0 &&
	    stream_flush(sm->s, &ignore) == 0)
		smtp_reply(sm, NULL, &ignore);
	stream_close(sm->s);
	buf_free(&sm->text);
	free(sm);
}

int
smtp_tls_info(const struct smtp *sm, char *info, size_t infosz, char *pin,
    size_t pinsz)
{
	if (stream_peer_info(sm->s, info, infosz) == -1)
		return -1;
	return stream_peer_pin(sm->s, pin, pinsz);
}

const struct smtp_caps *
smtp_caps(const struct smtp *sm)
{
	return &sm->caps;
}

const char *
smtp_auth_used(const struct smtp *sm)
{
	return sm->auth_used;
}
