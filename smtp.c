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
#include "tls.h"
#include "util.h"

#define SMTP_CMD_MAX		512	/* RFC 5321 §4.5.3.1.4, with CRLF */
#define SMTP_REPLY_LINES	1000	/* more is a hostile server */
#define SMTP_TEXT_MAX		400	/* reply text kept for messages */
#define SMTP_ESC_MAX		16	/* "5.1.1" (RFC 3463: 1.3.3 digits) */

struct smtp {
	struct stream		*s;
	const struct smtp_opts	*o;
	struct smtp_caps	 caps;
	int			 code;
	char			 esc[SMTP_ESC_MAX]; /* enhanced code, or "" */
	struct buf		 text;		/* last reply, bounded */
	const char		*auth_used;
	int			 dead;		/* no QUIT: connection unusable */
	int			 quit_sent;	/* QUIT went out after the dot */
	char			 line[STREAM_LINE_MAX];
};

/* What became of each recipient of one transaction. */
enum { RCPT_OK = 1, RCPT_LATER, RCPT_REFUSED };

struct txn {
	size_t		 idx[SMTP_RCPT_MAX];	/* into smtp_env.rcpt */
	unsigned char	 st[SMTP_RCPT_MAX];	/* RCPT_* */
	size_t		 n;
	size_t		 accepted;
	int		 refused;	/* sender or a recipient refused */
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

/* Make a server's line safe to quote in a message: control characters
 * and 8-bit octets become '?' (the line is ours to change: it is dead). */
static const char *
smtp_printable(char *l)
{
	char	*p;

	for (p = l; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return l;
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

/*
 * The enhanced status code at the start of a reply line's text (RFC 3463
 * §2: class.subject.detail, the class matching the reply's first digit),
 * its length including the space after it, or 0.
 */
static size_t
smtp_esc_len(const char *t, int code)
{
	size_t	i = 2, part, digits;

	if (t[0] != '0' + code / 100 || t[1] != '.')
		return 0;
	for (part = 0; part < 2; part++) {
		for (digits = 0; digits <= 3 && isdigit((unsigned char)t[i]);
		    i++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
		if (part == 0 && t[i++] != '.')
			return 0;
	}
	if (t[i] == ' ')
		return i + 1;
	return t[i] == '\0' ? i : 0;
}

/* Keep a bounded copy of the reply for messages; a continuation line's
 * repeated enhanced code is shown once (RFC 2034 §4 puts it on every
 * line). */
static void
smtp_keep_text(struct smtp *sm, const char *t, int first)
{
	size_t	k = smtp_esc_len(t, sm->code);

	if (first) {
		sm->esc[0] = '\0';
		if (k > 0 && k <= sizeof(sm->esc))
			snprintf(sm->esc, sizeof(sm->esc), "%.*s",
			    (int)(t[k - 1] == ' ' ? k - 1 : k), t);
	} else if (k > 0 && sm->esc[0] != '\0' &&
	    strncmp(t, sm->esc, strlen(sm->esc)) == 0)
		t += k;
	if (sm->text.len >= SMTP_TEXT_MAX)
		return;
	if (!first)
		buf_adds(&sm->text, " / ");
	/* it ends up on stderr: a hostile server must not drive the
	 * terminal (escape sequences, C1 controls) */
	for (; *t != '\0' && sm->text.len < SMTP_TEXT_MAX; t++)
		buf_addc(&sm->text, (unsigned char)*t >= 0x20 &&
		    (unsigned char)*t < 0x7f ? *t : '?');
}

/*
 * Read one reply (RFC 5321 §4.2): lines with the same code, the last one
 * with a space.  each, when set, sees every line's text.  The whole reply
 * must arrive within the timeout, and it is bounded in line length
 * (stream.c) and in lines: a hostile server gets EX_PROTOCOL, never our
 * memory or our time.
 */
static int
smtp_reply(struct smtp *sm, smtp_each each, struct fail *f)
{
	size_t	n, lines;
	int	code, last = 0;

	buf_reset(&sm->text);
	stream_begin(sm->s);
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
			    "from the server: \"%.60s\"", sm->o->host,
			    smtp_printable(sm->line));
		}
		sm->code = code;
		smtp_keep_text(sm, n > 4 ? sm->line + 4 : "", lines == 0);
		if (each != NULL)
			each(sm, n > 4 ? sm->line + 4 : "", lines == 0);
	}
	return 0;
}

/*
 * Fail from the last reply: 4xx temporary, 530 "authentication
 * required" (RFC 4954 §6) EX_NOPERM, other 5xx the given class.  The
 * message quotes the reply with its enhanced status code (RFC 3463).
 */
static int
smtp_refused(struct smtp *sm, int perm, const char *what, struct fail *f)
{
	const char	*t = sm->text.p != NULL ? sm->text.p : "";
	int		 ex = sm->code / 100 == 4 ? EX_TEMPFAIL : perm;

	if (sm->code == 530)
		ex = EX_NOPERM;
	if (sm->code < 400)
		ex = EX_PROTOCOL;
	fail_set(f, ex, "%s: %s: %d %s", sm->o->host, what, sm->code, t);
	snprintf(f->reply, sizeof(f->reply), "%d %s", sm->code, t);
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

/* The AUTH list, kept for auth_choose() and quoted in its messages:
 * control and 8-bit octets become '?' so a server cannot put them on
 * our stderr, in syslog or in dead.letter (found by tests/fuzz/smtp.c). */
static void
smtp_cap_auth(struct smtp_caps *c, const char *list)
{
	size_t	i;

	for (i = 0; list[i] != '\0' && i + 1 < sizeof(c->auth); i++)
		c->auth[i] = (unsigned char)list[i] >= 0x20 &&
		    (unsigned char)list[i] < 0x7f ? list[i] : '?';
	c->auth[i] = '\0';
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
		smtp_cap_auth(c, t + k + 1);
#undef IS
}

/* Will AUTH be needed (SPEC §3: a user is configured)? */
static int
smtp_wants_auth(const struct smtp_opts *o)
{
	return o->user != NULL && util_strcasecmp(o->auth, "none") != 0;
}

/*
 * RFC 5321 §3.2: a server that refuses EHLO may still take HELO, but
 * HELO offers no extension: no STARTTLS, no AUTH.  So fall back only
 * when neither is wanted; otherwise fail as if the extension were not
 * offered (TLS: 75, SPEC §4; AUTH: 77).
 */
static int
smtp_helo(struct smtp *sm, struct fail *f)
{
	if (sm->o->tls != CONF_TLS_NONE || stream_is_tls(sm->s)) {
		smtp_refused(sm, EX_TEMPFAIL, "EHLO refused, so STARTTLS "
		    "cannot be used: nothing was sent", f);
		f->ex = EX_TEMPFAIL;
		f->noretry = 1;
		return -1;
	}
	if (smtp_wants_auth(sm->o))
		return smtp_refused(sm, EX_NOPERM, "EHLO refused, so AUTH "
		    "cannot be used: nothing was sent", f);
	log_info("%s refused EHLO: trying HELO (no extensions)",
	    sm->o->host);
	if (smtp_cmd(sm, f, "HELO %s", sm->o->helo) == -1 ||
	    smtp_expect(sm, 2, EX_UNAVAILABLE, "HELO refused", f) == -1)
		return -1;
	return 0;
}

static int
smtp_ehlo(struct smtp *sm, struct fail *f)
{
	/* RFC 3207 §4.2: forget everything learnt before TLS. */
	memset(&sm->caps, 0, sizeof(sm->caps));
	if (smtp_cmd(sm, f, "EHLO %s", sm->o->helo) == -1 ||
	    stream_flush(sm->s, f) == -1 || smtp_reply(sm, smtp_cap, f) == -1)
		return -1;
	if (sm->code == 250)
		return 0;
	if (sm->code / 100 == 5) {
		memset(&sm->caps, 0, sizeof(sm->caps));
		return smtp_helo(sm, f);
	}
	return smtp_refused(sm, EX_UNAVAILABLE, "EHLO refused", f);
}

/* Hand the certificate to --check, and a line about it to -v. */
static void
smtp_tls_note(struct smtp *sm)
{
	struct tls_peer	 local, *p = sm->o->peer != NULL ? sm->o->peer : &local;

	if (sm->o->peer == NULL && !log_verbose())
		return;
	if (stream_peer(sm->s, p) == -1)
		return;
	log_info("%s %s; certificate %s, issuer %s, valid until %s; %s",
	    p->version, p->cipher, p->subject, p->issuer, p->not_after,
	    p->verdict);
}

/* Implicit TLS (RFC 8314 §3.3) or the handshake after STARTTLS. */
static int
smtp_handshake(struct smtp *sm, struct fail *f)
{
	int	r;

	r = stream_starttls(sm->s, sm->o->tls_ctx, sm->o->host, f);
	smtp_tls_note(sm);
	if (r == -1)
		sm->dead = 1;
	return r;
}

/*
 * RFC 3207.  STARTTLS goes out alone (nothing pipelined after it); a
 * missing capability, any reply but 220, an EOF, a failed handshake or
 * verification end the session before anything that TLS protects is
 * sent.  Never a fallback to plaintext.
 */
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
	/* Any refusal of TLS is temporary (SPEC §4), never a fallback;
	 * 454 may clear up in seconds, a 5xx will not within this run. */
	if (sm->code != 220) {
		smtp_refused(sm, EX_TEMPFAIL, "STARTTLS refused, nothing was "
		    "sent", f);
		f->ex = EX_TEMPFAIL;
		f->noretry = sm->code / 100 != 4;
		return -1;
	}
	if (smtp_handshake(sm, f) == -1)
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

	if (!smtp_wants_auth(sm->o))
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
	if (sm->o->tls == CONF_TLS_IMPLICIT && smtp_handshake(sm, f) == -1)
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
	/* After a refusal on a sound connection (no STARTTLS, no AUTH, 535)
	 * QUIT is still said (RFC 5321 §4.1.1.10); a broken one is just
	 * closed. */
	if (smtp_session(sm, f) == -1) {
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

/* Does the address need SMTPUTF8 (RFC 6531 §3.3: non-ASCII)? */
static int
smtp_is_utf8(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a >= 0x80)
			return 1;
	return 0;
}

/* The first envelope address, not yet delivered to, that is not ASCII. */
static const char *
smtp_utf8_addr(const struct smtp_env *e)
{
	size_t	i;

	if (smtp_is_utf8(e->from))
		return e->from;
	for (i = 0; i < e->nrcpt; i++)
		if ((e->done == NULL || !e->done[i]) && smtp_is_utf8(e->rcpt[i]))
			return e->rcpt[i];
	return NULL;
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
	if ((e->smtputf8 || smtp_utf8_addr(e) != NULL) && sm->caps.smtputf8)
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

/* Checks that need no round trip: SIZE (RFC 1870 §6), SMTPUTF8 (RFC
 * 6531 §3.4: without it a non-ASCII address must not be sent). */
static int
smtp_env_check(struct smtp *sm, const struct smtp_env *e, struct fail *f)
{
	const char	*u;

	if (sm->caps.size_set && sm->caps.size > 0 && e->size > sm->caps.size)
		return fail_set(f, EX_UNAVAILABLE, "%s: the message (%llu "
		    "octets) is larger than the server accepts (%llu): "
		    "nothing was sent", sm->o->host, e->size, sm->caps.size);
	if ((u = smtp_utf8_addr(e)) != NULL && !sm->caps.smtputf8)
		return fail_set(f, EX_UNAVAILABLE, "%s does not offer SMTPUTF8 "
		    "(RFC 6531), which the address <%.256s> needs: nothing "
		    "was sent", sm->o->host, u);
	return 0;
}

static int
smtp_mail(struct smtp *sm, const struct smtp_env *e, struct fail *f)
{
	struct buf	p = { 0 };
	int		r;

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

/*
 * "Too many recipients" (RFC 5321 §4.5.3.1.10): 452, or 552 which the
 * RFC asks clients to treat the same, unless an enhanced code (RFC 3463)
 * says it is about something else (4.2.2 mailbox full, 4.3.1 system
 * storage): X.5.3 is "too many recipients".
 */
static int
smtp_too_many(const struct smtp *sm)
{
	if (sm->code != 452 && sm->code != 552)
		return 0;
	if (sm->esc[0] == '\0')
		return sm->code == 452;
	return strcmp(sm->esc + 1, ".5.3") == 0;
}

/*
 * File the reply to RCPT for recipient i of t.  Accepted; put off to the
 * next transaction when the server has taken some and has no room for
 * more; otherwise refused, and the first refusal is the failure
 * (all or nothing: nobody in this transaction gets the message).
 */
static void
smtp_rcpt_result(struct smtp *sm, const struct smtp_env *e, struct txn *t,
    size_t i, struct fail *f)
{
	char	what[360];

	if (sm->code / 100 == 2) {
		t->st[i] = RCPT_OK;
		t->accepted++;
		return;
	}
	if (t->accepted > 0 && smtp_too_many(sm)) {
		t->st[i] = RCPT_LATER;
		return;
	}
	t->st[i] = RCPT_REFUSED;
	if (!t->refused) {
		snprintf(what, sizeof(what), "recipient <%.256s> %s, so "
		    "nobody was sent the message", e->rcpt[t->idx[i]],
		    sm->code / 100 == 4 ? "not accepted for now" : "refused");
		smtp_refused(sm, EX_NOUSER, what, f);
	}
	t->refused = 1;
}

/* Without PIPELINING: one command, one reply. */
static int
smtp_envelope_lockstep(struct smtp *sm, const struct smtp_env *e,
    struct txn *t, struct fail *f)
{
	size_t	i;

	if (smtp_mail(sm, e, f) == -1 ||
	    smtp_expect(sm, 2, EX_UNAVAILABLE, "sender refused", f) == -1)
		goto rset;
	for (i = 0; i < t->n; i++) {
		if (smtp_rcpt(sm, e, t->idx[i], f) == -1 ||
		    stream_flush(sm->s, f) == -1 ||
		    smtp_reply(sm, NULL, f) == -1)
			return -1;
		smtp_rcpt_result(sm, e, t, i, f);
		if (t->refused)
			goto rset;
		/* the server is full: ask for no more in this transaction */
		if (t->st[i] == RCPT_LATER)
			break;
	}
	for (; i < t->n; i++)
		t->st[i] = RCPT_LATER;
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
    struct txn *t, struct fail *f)
{
	size_t	i;

	if (smtp_mail(sm, e, f) == -1)
		return -1;
	for (i = 0; i < t->n; i++)
		if (smtp_rcpt(sm, e, t->idx[i], f) == -1)
			return -1;
	if (smtp_cmd(sm, f, "DATA") == -1 || stream_flush(sm->s, f) == -1 ||
	    smtp_reply(sm, NULL, f) == -1)
		return -1;
	if (sm->code / 100 != 2) {
		smtp_refused(sm, EX_UNAVAILABLE, "sender refused", f);
		t->refused = 1;
	}
	for (i = 0; i < t->n; i++) {
		if (smtp_reply(sm, NULL, f) == -1)
			return -1;
		if (!t->refused)
			smtp_rcpt_result(sm, e, t, i, f);
	}
	if (smtp_reply(sm, NULL, f) == -1)
		return -1;
	if (sm->code == 354 && !t->refused)
		return 0;
	if (sm->code == 354)
		sm->dead = 1;
	else if (!t->refused)
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
 * outcome unknown).  The dot is only queued: it leaves with the body's
 * tail (and QUIT) in one write, one TLS record for a small message.
 */
static int
smtp_dot(struct smtp *sm, struct fail *f)
{
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
	if (n == -1) {
		sm->dead = 1;
		return -1;
	}
	if (!bol && stream_write(sm->s, "\r\n", 2, f) == -1)
		return -1;
	log_info("(%llu octets of message sent)", total);
	return smtp_dot(sm, f);
}

/* The recipients of the next transaction: up to SMTP_RCPT_MAX of those
 * not done yet, in order. */
static void
smtp_txn_pick(const struct smtp_env *e, const unsigned char *done,
    struct txn *t)
{
	size_t	i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < e->nrcpt && t->n < SMTP_RCPT_MAX; i++)
		if (!done[i])
			t->idx[t->n++] = i;
}

/*
 * The body, the final dot and its reply, for the recipients of t.  In
 * the last transaction QUIT goes with the dot (RFC 2920 §3.1: it may
 * end the group the message content starts), so its 221 comes with
 * the reply to the dot and costs no round trip of its own.
 */
static int
smtp_txn_data(struct smtp *sm, struct smtp_source *src, int last,
    int *after_dot, struct fail *f)
{
	int	r;

	if (smtp_body(sm, src, f) == -1 || (last && sm->caps.pipelining &&
	    smtp_cmd(sm, f, "QUIT") == -1) || stream_flush(sm->s, f) == -1) {
		/* never leave a half message open: the server must drop
		 * it (RFC 5321 §4.1.1.4) */
		sm->dead = 1;
		return -1;
	}
	sm->quit_sent = last && sm->caps.pipelining;
	*after_dot = 1;
	/* RFC 5321 §4.5.3.2.6: up to 10 minutes for the final reply */
	stream_set_timeout(sm->s, sm->o->final_timeout_ms);
	r = smtp_reply(sm, NULL, f);
	stream_set_timeout(sm->s, sm->o->timeout_ms);
	if (r == -1)
		return -1;
	*after_dot = 0;
	if (sm->code / 100 != 2)
		return smtp_refused(sm, EX_UNAVAILABLE, "message refused", f);
	/* the accepting reply, for the syslog line (SPEC §4) */
	snprintf(f->reply, sizeof(f->reply), "%d %s", sm->code,
	    sm->text.p != NULL ? sm->text.p : "");
	return 0;
}

static size_t
smtp_left(const struct smtp_env *e, const unsigned char *done)
{
	size_t	i, n = 0;

	for (i = 0; i < e->nrcpt; i++)
		n += !done[i];
	return n;
}

/* One transaction for the next batch of recipients; marks them done. */
static int
smtp_txn(struct smtp *sm, const struct smtp_env *e, unsigned char *done,
    struct smtp_source *src, int *after_dot, struct fail *f)
{
	struct txn	t;
	size_t		i;
	int		r;

	smtp_txn_pick(e, done, &t);
	r = sm->caps.pipelining ? smtp_envelope_pipelined(sm, e, &t, f) :
	    smtp_envelope_lockstep(sm, e, &t, f);
	if (r == -1 || smtp_txn_data(sm, src, smtp_left(e, done) ==
	    t.accepted, after_dot, f) == -1)
		return -1;
	for (i = 0; i < t.n; i++)
		if (t.st[i] == RCPT_OK)
			done[t.idx[i]] = 1;
	if (t.accepted < t.n)
		log_info("%s took %zu recipients in this transaction; the "
		    "other %zu go in the next (RFC 5321 §4.5.3.1.10)",
		    sm->o->host, t.accepted, t.n - t.accepted);
	return 0;
}

int
smtp_send(struct smtp *sm, const struct smtp_env *e, struct smtp_source *src,
    int *after_dot, struct fail *f)
{
	unsigned char	*done = e->done;
	int		 r = 0, first = 1;

	*after_dot = 0;
	if (done == NULL && (done = calloc(e->nrcpt + 1, 1)) == NULL)
		return fail_nomem(f);
	if (smtp_env_check(sm, e, f) == -1)
		r = -1;
	while (r == 0 && smtp_left(e, done) > 0) {
		/* each transaction carries the whole message again */
		if (!first && (src->rewind == NULL ||
		    src->rewind(src->arg, f) == -1)) {
			r = src->rewind == NULL ? fail_set(f, EX_SOFTWARE,
			    "cannot send the message a second time") : -1;
			break;
		}
		first = 0;
		r = smtp_txn(sm, e, done, src, after_dot, f);
	}
	if (done != e->done)
		free(done);
	return r;
}

int
smtp_probe(struct smtp *sm, const char *from, struct fail *f)
{
	if (smtp_cmd(sm, f, "MAIL FROM:<%s>", from) == -1 ||
	    smtp_expect(sm, 2, EX_UNAVAILABLE, "sender refused", f) == -1)
		return -1;
	if (smtp_cmd(sm, f, "RSET") == -1 ||
	    smtp_expect(sm, 2, EX_UNAVAILABLE, "RSET refused", f) == -1)
		return -1;
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
	if (!sm->dead && (sm->quit_sent || (smtp_cmd(sm, &ignore, "QUIT")
	    == 0 && stream_flush(sm->s, &ignore) == 0)))
		smtp_reply(sm, NULL, &ignore);
	stream_close(sm->s);
	buf_free(&sm->text);
	free(sm);
}

int
smtp_is_tls(const struct smtp *sm)
{
	return stream_is_tls(sm->s);
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
