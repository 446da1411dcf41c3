/*
 * serve.c -- sendmail -bs: an SMTP server dialogue on standard input and
 * output (RFC 5321), each accepted message relayed through relay.c.
 *
 * Minimal on purpose: no AUTH, no STARTTLS (the peer is a local process
 * on a pipe), no queue.  The reply to the final dot is given only once
 * the smarthost has answered, so a client's 250 means "relayed".
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "relay.h"
#include "serve.h"
#include "util.h"

#define SERVE_CHUNK	16384		/* one read(2) of client input */
#define SERVE_TEXT_MAX	400		/* reason text in one reply */

/* Where the session is (RFC 5321 §4.1.4, §4.3.2 sequencing). */
enum state {
	ST_INIT,	/* greeted, no HELO/EHLO yet */
	ST_READY,	/* between transactions */
	ST_MAIL,	/* MAIL accepted, RCPTs being collected */
	ST_DATA,	/* reading the message */
	ST_QUIT
};

/* The DATA reader's place in a line (RFC 5321 §4.5.2 transparency). */
enum dstate {
	DT_BOL,		/* at the start of a line */
	DT_DOT,		/* a leading '.' taken */
	DT_DOTCR,	/* ".\r" taken */
	DT_MID		/* inside a line */
};

struct serve {
	const struct serve_conf	*sc;
	char			 host[256];
	enum state		 state;
	int			 oom;
	struct buf		 out;
	char			 line[SERVE_LINE_MAX];
	size_t			 linelen;
	int			 toolong;	/* discarding to the next LF */
	/* the transaction */
	char			*sender;	/* mailbox, "" for <> */
	char			**rcpt;		/* each "<mailbox>" */
	size_t			 nrcpt;
	int			 rcpt_tried;
	int			 body8bit;
	/* DATA */
	struct msg		 m;
	struct msg_feed		 feed;
	enum dstate		 dstate;
	int			 feed_err;	/* keep reading, answer 451 */
	struct fail		 ferr;
};

/* ---------------------------------------------------------------- parser */

static void	printable(char *);

enum argrule {
	ARG_NONE,	/* nothing may follow the verb */
	ARG_ANY,	/* anything, ignored */
	ARG_NEED,	/* an argument is required */
	ARG_PATH	/* FROM:<path> or TO:<path>, then parameters */
};

static const struct verb {
	const char	*name;
	enum serve_verb	 verb;
	enum argrule	 rule;
	const char	*prefix;	/* ARG_PATH: "FROM:" or "TO:" */
	const char	*syntax;	/* the 501 reply */
} verbs[] = {
	{ "HELO", SERVE_HELO, ARG_NEED, NULL, "Syntax: HELO hostname" },
	{ "EHLO", SERVE_EHLO, ARG_NEED, NULL, "Syntax: EHLO hostname" },
	{ "MAIL", SERVE_MAIL, ARG_PATH, "FROM:",
	    "Syntax: MAIL FROM:<address>" },
	{ "RCPT", SERVE_RCPT, ARG_PATH, "TO:", "Syntax: RCPT TO:<address>" },
	{ "DATA", SERVE_DATA, ARG_NONE, NULL, "Syntax: DATA" },
	{ "RSET", SERVE_RSET, ARG_NONE, NULL, "Syntax: RSET" },
	{ "NOOP", SERVE_NOOP, ARG_ANY, NULL, NULL },
	{ "QUIT", SERVE_QUIT, ARG_NONE, NULL, "Syntax: QUIT" },
	{ "VRFY", SERVE_VRFY, ARG_NEED, NULL, "Syntax: VRFY address" },
	{ "EXPN", SERVE_EXPN, ARG_ANY, NULL, NULL },
	{ "HELP", SERVE_HELP, ARG_ANY, NULL, NULL },
	/* Known SMTP verbs we do not offer: 502, not 500 (§4.2.4). */
	{ "STARTTLS", SERVE_NOTIMPL, ARG_ANY, NULL, NULL },
	{ "AUTH", SERVE_NOTIMPL, ARG_ANY, NULL, NULL },
	{ "BDAT", SERVE_NOTIMPL, ARG_ANY, NULL, NULL },
	{ "ETRN", SERVE_NOTIMPL, ARG_ANY, NULL, NULL },
	{ "TURN", SERVE_NOTIMPL, ARG_ANY, NULL, NULL },
	{ "SEND", SERVE_NOTIMPL, ARG_ANY, NULL, NULL },
	{ "SOML", SERVE_NOTIMPL, ARG_ANY, NULL, NULL },
	{ "SAML", SERVE_NOTIMPL, ARG_ANY, NULL, NULL },
};

static int
parse_fail(struct serve_cmd *cmd, const char *reply)
{
	cmd->reply = reply;
	return -1;
}

static const struct verb *
verb_find(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == n &&
		    util_strncasecmp(s, verbs[i].name, n) == 0)
			return &verbs[i];
	return NULL;
}

/* "501 5.5.4 <syntax>" for verb v, in cmd's own buffer. */
static int
parse_syntax(struct serve_cmd *cmd, const struct verb *v)
{
	snprintf(cmd->rbuf, sizeof(cmd->rbuf), "501 5.5.4 %s", v->syntax);
	return parse_fail(cmd, cmd->rbuf);
}

/* SIZE=1*20DIGIT (RFC 1870 §3). */
static int
param_size(struct serve_cmd *cmd, const char *v, size_t n)
{
	unsigned long long	size = 0;
	size_t			i;

	if (n == 0 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' ||
		    size > (~0ULL - (unsigned)(v[i] - '0')) / 10)
			return -1;
		size = size * 10 + (unsigned)(v[i] - '0');
	}
	cmd->has_size = 1;
	cmd->size = size;
	return 0;
}

/* BODY=7BIT or BODY=8BITMIME (RFC 6152 §2); BINARYMIME is not offered. */
static int
param_body(struct serve_cmd *cmd, const char *v, size_t n)
{
	if (n == 4 && util_strncasecmp(v, "7BIT", 4) == 0)
		cmd->body8bit = 0;
	else if (n == 8 && util_strncasecmp(v, "8BITMIME", 8) == 0)
		cmd->body8bit = 1;
	else
		return -1;
	return 0;
}

static const struct param {
	const char	*name;
	int		(*fn)(struct serve_cmd *, const char *, size_t);
} mail_params[] = {
	{ "SIZE", param_size },
	{ "BODY", param_body },
};

/* One esmtp-param "keyword[=value]" (RFC 5321 §4.1.2) of MAIL. */
static int
parse_param(struct serve_cmd *cmd, const char *p, size_t n, unsigned *seen)
{
	size_t	k = strcspn(p, "= "), i;

	if (k > n)
		k = n;
	for (i = 0; i < sizeof(mail_params) / sizeof(mail_params[0]); i++)
		if (strlen(mail_params[i].name) == k &&
		    util_strncasecmp(p, mail_params[i].name, k) == 0)
			break;
	if (i == sizeof(mail_params) / sizeof(mail_params[0])) {
		snprintf(cmd->rbuf, sizeof(cmd->rbuf), "555 5.5.4 Unsupported "
		    "MAIL FROM parameter %.*s", (int)(k < 40 ? k : 40), p);
		/* the client's octets, quoted: a CR or a control octet
		 * must not break the reply line (found by
		 * tests/fuzz/serve.c) */
		printable(cmd->rbuf);
		return parse_fail(cmd, cmd->rbuf);
	}
	if (*seen & (1U << i))
		return parse_fail(cmd, "501 5.5.4 Duplicate MAIL FROM "
		    "parameter");
	*seen |= 1U << i;
	if (k == n || mail_params[i].fn(cmd, p + k + 1, n - k - 1) == -1) {
		snprintf(cmd->rbuf, sizeof(cmd->rbuf), "501 5.5.4 Bad %s "
		    "parameter value", mail_params[i].name);
		return parse_fail(cmd, cmd->rbuf);
	}
	return 0;
}

/* Parameters after the path: none for RCPT (we offer no DSN), SIZE and
 * BODY for MAIL; anything else is 555 (RFC 5321 §4.1.1.11). */
static int
parse_params(struct serve_cmd *cmd, const char *p)
{
	unsigned	seen = 0;
	size_t		n;

	if (*p != '\0' && *p != ' ')
		return -1;
	for (; *p != '\0'; p += n) {
		while (*p == ' ')
			p++;
		if ((n = strcspn(p, " ")) == 0)
			break;
		if (cmd->verb == SERVE_RCPT)
			return parse_fail(cmd, "555 5.5.4 Unsupported RCPT TO "
			    "parameter");
		if (parse_param(cmd, p, n, &seen) == -1)
			return -1;
	}
	return 0;
}

/* A mailbox we can hand to relay.c: printable ASCII (no SMTPUTF8 is
 * offered), and one RFC 5321 mailbox as addr.c reads it, unchanged. */
static int
mailbox_ok(struct serve_cmd *cmd, const char *box)
{
	struct addr	a;
	struct fail	f;
	const char	*p;
	int		r;

	for (p = box; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return parse_fail(cmd, "553 5.6.7 Non-ASCII address "
			    "(SMTPUTF8 is not offered)");
	if (addr_check_path(box, &f) == -1 || addr_parse_path(box, &a,
	    &f) == -1)
		return -1;
	r = strcmp(a.spec, box) == 0 ? 0 : -1;
	addr_free(&a);
	return r;
}

/*
 * "<" mailbox ">" with quoted local parts honoured; a source route
 * "@a,@b:" is accepted and ignored (RFC 5321 §4.1.2, Appendix C).
 * *pp is left after the '>'.
 */
static int
parse_path(struct serve_cmd *cmd, const char **pp)
{
	const char	*p = *pp, *e, *s;
	int		 quoted = 0, rcpt = cmd->verb == SERVE_RCPT;
	const char	*bad = rcpt ? "501 5.1.3 Bad recipient address syntax" :
			    "501 5.1.7 Bad sender address syntax";

	if (*p != '<')
		return -1;
	for (e = p + 1; *e != '\0' && (quoted || *e != '>'); e++) {
		if (quoted && *e == '\\' && e[1] != '\0')
			e++;
		else if (*e == '"')
			quoted = !quoted;
	}
	if (*e != '>')
		return -1;
	if ((size_t)(e - p + 1) > SERVE_PATH_MAX)
		return parse_fail(cmd, rcpt ? "501 5.1.3 Path too long" :
		    "501 5.1.7 Path too long");
	s = p + 1;
	if (*s == '@') {
		if ((s = memchr(s, ':', (size_t)(e - s))) == NULL)
			return parse_fail(cmd, bad);
		s++;
	}
	memcpy(cmd->path, s, (size_t)(e - s));
	cmd->path[e - s] = '\0';
	*pp = e + 1;
	if (*cmd->path == '\0')
		return rcpt ? parse_fail(cmd, bad) : 0;
	if (mailbox_ok(cmd, cmd->path) == -1)
		return cmd->reply != NULL ? -1 : parse_fail(cmd, bad);
	return 0;
}

static int
parse_mailrcpt(struct serve_cmd *cmd, const struct verb *v)
{
	size_t		 k = strlen(v->prefix);
	const char	*p = cmd->arg;

	if (util_strncasecmp(p, v->prefix, k) != 0)
		return parse_syntax(cmd, v);
	/* "MAIL FROM: <a@b>": not RFC 5321, but common and unambiguous */
	for (p += k; *p == ' '; p++)
		;
	if (parse_path(cmd, &p) == -1 || parse_params(cmd, p) == -1)
		return cmd->reply != NULL ? -1 : parse_syntax(cmd, v);
	return 0;
}

int
serve_parse(const char *line, struct serve_cmd *cmd)
{
	const struct verb	*v;
	size_t			 n = strcspn(line, " ");

	memset(cmd, 0, sizeof(*cmd));
	for (cmd->arg = line + n; *cmd->arg == ' '; cmd->arg++)
		;
	if ((v = verb_find(line, n)) == NULL) {
		cmd->verb = SERVE_UNKNOWN;
		return parse_fail(cmd, "500 5.5.2 Error: command not "
		    "recognized");
	}
	cmd->verb = v->verb;
	switch (v->rule) {
	case ARG_NONE:
		return *cmd->arg == '\0' ? 0 : parse_syntax(cmd, v);
	case ARG_NEED:
		return *cmd->arg != '\0' ? 0 : parse_syntax(cmd, v);
	case ARG_PATH:
		return parse_mailrcpt(cmd, v);
	default:
		if (v->verb == SERVE_NOTIMPL)
			return parse_fail(cmd, "502 5.5.1 Error: command not "
			    "implemented");
		return 0;
	}
}

/* --------------------------------------------------------------- session */

static void
reply(struct serve *s, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

/* One reply line, CRLF added; a failed allocation ends the session. */
static void
reply(struct serve *s, const char *fmt, ...)
{
	char	line[SERVE_TEXT_MAX + 100];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (buf_adds(&s->out, line) == -1 || buf_add(&s->out, "\r\n", 2) == -1)
		s->oom = 1;
}

/* Forget the transaction (RSET, HELO/EHLO, after each message). */
static void
serve_reset(struct serve *s)
{
	size_t	i;

	free(s->sender);
	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpt[i]);
	free(s->rcpt);
	s->sender = NULL;
	s->rcpt = NULL;
	s->nrcpt = 0;
	s->rcpt_tried = 0;
	s->body8bit = 0;
	if (s->state != ST_INIT && s->state != ST_QUIT)
		s->state = ST_READY;
}

static void
do_helo(struct serve *s, const struct serve_cmd *c)
{
	(void)c;
	s->state = ST_READY;
	serve_reset(s);
	reply(s, "250 %s", s->host);
}

/* The extensions of the issue, all that -bs needs (RFC 2920, 6152,
 * 1870 without a fixed limit, 2034). */
static void
do_ehlo(struct serve *s, const struct serve_cmd *c)
{
	static const char *const ext[] = {
		"PIPELINING", "8BITMIME", "SIZE", "ENHANCEDSTATUSCODES"
	};
	size_t	i, n = sizeof(ext) / sizeof(ext[0]);

	(void)c;
	s->state = ST_READY;
	serve_reset(s);
	reply(s, "250-%s", s->host);
	for (i = 0; i < n; i++)
		reply(s, "250%c%s", i + 1 < n ? '-' : ' ', ext[i]);
}

static void
do_mail(struct serve *s, const struct serve_cmd *c)
{
	if (s->state == ST_INIT) {
		reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->state == ST_MAIL) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if ((s->sender = strdup(c->path)) == NULL) {
		s->oom = 1;
		return;
	}
	s->body8bit = c->body8bit;
	s->state = ST_MAIL;
	reply(s, "250 2.1.0 Ok");
}

static void
do_rcpt(struct serve *s, const struct serve_cmd *c)
{
	char	**v, *r;

	if (s->state != ST_MAIL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpt == SERVE_RCPT_MAX) {
		reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if ((v = reallocarray(s->rcpt, s->nrcpt + 1, sizeof(*v))) == NULL ||
	    asprintf(&r, "<%s>", c->path) == -1) {
		if (v != NULL)
			s->rcpt = v;
		s->oom = 1;
		return;
	}
	s->rcpt = v;
	s->rcpt[s->nrcpt++] = r;
	reply(s, "250 2.1.5 Ok");
}

static void
do_data(struct serve *s, const struct serve_cmd *c)
{
	(void)c;
	if (s->state != ST_MAIL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	/* Pipelined RCPTs all refused: RFC 2920 §3.1 */
	if (s->nrcpt == 0) {
		reply(s, "%s", s->rcpt_tried ? "554 5.5.1 Error: no valid "
		    "recipients" : "503 5.5.1 Error: need RCPT command");
		return;
	}
	msg_init(&s->m);
	s->m.stop = s->sc->stop;
	msg_feed_init(&s->feed, &s->m, 0);
	s->dstate = DT_BOL;
	s->feed_err = 0;
	s->state = ST_DATA;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
do_rset(struct serve *s, const struct serve_cmd *c)
{
	(void)c;
	serve_reset(s);
	reply(s, "250 2.0.0 Ok");
}

static void
do_noop(struct serve *s, const struct serve_cmd *c)
{
	(void)c;
	reply(s, "250 2.0.0 Ok");
}

static void
do_quit(struct serve *s, const struct serve_cmd *c)
{
	(void)c;
	serve_reset(s);
	s->state = ST_QUIT;
	reply(s, "221 2.0.0 Bye");
}

/* RFC 5321 §3.5.3: 252 when we will try but cannot verify. */
static void
do_vrfy(struct serve *s, const struct serve_cmd *c)
{
	(void)c;
	reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and "
	    "attempt delivery");
}

/* §7.3: EXPN may be disabled; aliases are the administrator's. */
static void
do_expn(struct serve *s, const struct serve_cmd *c)
{
	(void)c;
	reply(s, "502 5.5.1 EXPN not available");
}

static void
do_help(struct serve *s, const struct serve_cmd *c)
{
	(void)c;
	reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
	    "VRFY HELP");
}

typedef void	(*cmd_fn)(struct serve *, const struct serve_cmd *);

static const cmd_fn handlers[] = {
	[SERVE_HELO] = do_helo, [SERVE_EHLO] = do_ehlo,
	[SERVE_MAIL] = do_mail, [SERVE_RCPT] = do_rcpt,
	[SERVE_DATA] = do_data, [SERVE_RSET] = do_rset,
	[SERVE_NOOP] = do_noop, [SERVE_QUIT] = do_quit,
	[SERVE_VRFY] = do_vrfy, [SERVE_EXPN] = do_expn,
	[SERVE_HELP] = do_help,
};

/* One complete command line, its line ending removed by the caller. */
static void
serve_command(struct serve *s, char *l, size_t n)
{
	struct serve_cmd	c;

	if (memchr(l, '\0', n) != NULL) {
		reply(s, "500 5.5.2 Error: NUL octet in command");
		return;
	}
	l[n] = '\0';
	if (serve_parse(l, &c) == -1) {
		if (c.verb == SERVE_RCPT && s->state == ST_MAIL)
			s->rcpt_tried = 1;
		reply(s, "%s", c.reply);
		return;
	}
	handlers[c.verb](s, &c);
}

/* Command mode: collect up to LF; a line over SERVE_LINE_MAX is answered
 * 500 and the session goes on (RFC 5321 §4.5.3.1.10: 500 "line too
 * long"). */
static size_t
serve_cmd_input(struct serve *s, const char *p, size_t n)
{
	const char	*nl = memchr(p, '\n', n);
	size_t		 k = nl != NULL ? (size_t)(nl - p) : n;

	if (!s->toolong && s->linelen + k < SERVE_LINE_MAX) {
		memcpy(s->line + s->linelen, p, k);
		s->linelen += k;
	} else
		s->toolong = 1;
	if (nl == NULL)
		return n;
	if (s->toolong)
		reply(s, "500 5.5.2 Error: line too long");
	else
		serve_command(s, s->line, s->linelen - (s->linelen > 0 &&
		    s->line[s->linelen - 1] == '\r'));
	s->linelen = 0;
	s->toolong = 0;
	return k + 1;
}

/* ------------------------------------------------------------------ DATA */

static void
serve_put(struct serve *s, const char *p, size_t n)
{
	if (s->feed_err || msg_feed(&s->feed, p, n, &s->ferr) == 0)
		return;
	s->feed_err = 1;
	msg_feed_free(&s->feed);
}

/* The client's reply for a failed message: 4xx when a later try may
 * work, 5xx when it cannot (RFC 5321 §4.2.1), by sysexits class. */
static const struct {
	int		 ex;
	int		 code;
	const char	*enh;		/* RFC 3463 */
} fail_replies[] = {
	{ EX_NOUSER, 550, "5.1.1" },
	{ EX_DATAERR, 554, "5.6.0" },
	{ EX_UNAVAILABLE, 554, "5.0.0" },
	{ EX_USAGE, 554, "5.1.3" },
	{ EX_CONFIG, 451, "4.3.5" },
	{ EX_NOPERM, 451, "4.7.0" },
	{ EX_TEMPFAIL, 451, "4.3.0" },	/* and everything else */
};

/* The smarthost's enhanced code, when its class matches ours. */
static void
reply_enh(const struct fail *f, int code, char *enh, size_t enhsz)
{
	const char	*p = f->reply;
	size_t		 n;

	if (strlen(p) < 4 || p[3] != ' ' || p[4] != '0' + code / 100 ||
	    p[5] != '.')
		return;
	n = strspn(p + 4, "0123456789.");
	if (n >= 5 && n < enhsz && p[4 + n] == ' ')
		snprintf(enh, enhsz, "%.*s", (int)n, p + 4);
}

/* A reason in a reply, ours or the smarthost's: printable ASCII only,
 * so a server's CR LF cannot forge a reply line for our client. */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static void
serve_fail_reply(struct serve *s, const struct fail *f)
{
	size_t	k, n = sizeof(fail_replies) / sizeof(fail_replies[0]);
	char	enh[16], text[SERVE_TEXT_MAX];

	for (k = 0; k + 1 < n && fail_replies[k].ex != f->ex; k++)
		;
	snprintf(enh, sizeof(enh), "%s", fail_replies[k].enh);
	reply_enh(f, fail_replies[k].code, enh, sizeof(enh));
	snprintf(text, sizeof(text), "%.*s", (int)sizeof(text) - 1, f->msg);
	printable(text);
	reply(s, "%d %s %s", fail_replies[k].code, enh, text);
}

/* The final dot: hand the message on, answer only once the smarthost has
 * (RFC 5321 §4.1.1.4: 250 means we took responsibility). */
static void
serve_data_end(struct serve *s)
{
	const struct serve_conf	*sc = s->sc;
	struct serve_env	 e = { 0 };
	struct fail		 f;
	int			 r;

	s->state = ST_READY;
	if (s->feed_err) {
		f = s->ferr;
		log_err("%s", f.msg);
		r = -1;
	} else if ((r = msg_feed_end(&s->feed, &f)) == -1)
		log_err("%s", f.msg);
	else {
		e.sender = s->sender;
		e.rcpt = s->rcpt;
		e.nrcpt = s->nrcpt;
		e.body8bit = s->body8bit;
		r = sc->deliver != NULL ? sc->deliver(sc->arg, &s->m, &e, &f) :
		    serve_relay((void *)sc, &s->m, &e, &f);
	}
	if (r == 0)
		reply(s, "250 2.0.0 Ok: relayed to the smarthost");
	else
		serve_fail_reply(s, &f);
	msg_free(&s->m);
	serve_reset(s);
}

/* One step of the DATA reader: a line starting with '.' loses it; "."
 * alone ends the message (RFC 5321 §4.5.2).  Returns octets taken. */
static size_t
serve_data_step(struct serve *s, const char *p, size_t n, int *end)
{
	const char	*nl;
	size_t		 k;

	switch (s->dstate) {
	case DT_BOL:
		s->dstate = *p == '.' ? DT_DOT : DT_MID;
		return *p == '.';
	case DT_DOT:
	case DT_DOTCR:
		if (*p == '\n') {
			*end = 1;
			return 1;
		}
		if (*p == '\r' && s->dstate == DT_DOT) {
			s->dstate = DT_DOTCR;
			return 1;
		}
		if (s->dstate == DT_DOTCR)
			serve_put(s, "\r", 1);
		s->dstate = DT_MID;
		return 0;
	default:
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) + 1 : n;
		serve_put(s, p, k);
		if (nl != NULL)
			s->dstate = DT_BOL;
		return k;
	}
}

static size_t
serve_data_input(struct serve *s, const char *p, size_t n)
{
	size_t	i = 0;
	int	end = 0;

	while (i < n && !end)
		i += serve_data_step(s, p + i, n - i, &end);
	if (end)
		serve_data_end(s);
	return i;
}

/* ------------------------------------------------------------ interface */

/* The name in the greeting and the EHLO reply. */
static void
serve_hostname(const struct serve_conf *sc, char *out, size_t outsz)
{
	const char	*h = sc->hostname;

	if (h == NULL && sc->conf != NULL)
		h = sc->conf->helo;
	if (h != NULL)
		snprintf(out, outsz, "%s", h);
	else if (gethostname(out, outsz) == -1 || *out == '\0')
		snprintf(out, outsz, "localhost");
	out[outsz - 1] = '\0';
	out[strcspn(out, " \r\n")] = '\0';
}

struct serve *
serve_new(const struct serve_conf *sc, struct fail *f)
{
	struct serve	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		fail_nomem(f);
		return NULL;
	}
	s->sc = sc;
	s->state = ST_INIT;
	msg_init(&s->m);
	serve_hostname(sc, s->host, sizeof(s->host));
	reply(s, "220 %s ESMTP relaymail", s->host);
	if (s->oom) {
		serve_free(s);
		fail_nomem(f);
		return NULL;
	}
	return s;
}

int
serve_feed(struct serve *s, const char *p, size_t n, struct fail *f)
{
	size_t	k;

	while (n > 0 && s->state != ST_QUIT && !s->oom) {
		k = s->state == ST_DATA ? serve_data_input(s, p, n) :
		    serve_cmd_input(s, p, n);
		p += k;
		n -= k;
	}
	if (!s->oom)
		return 0;
	s->oom = 0;
	reply(s, "421 4.3.0 %s Error: out of memory, closing", s->host);
	return fail_nomem(f);
}

struct buf *
serve_output(struct serve *s)
{
	return &s->out;
}

int
serve_done(const struct serve *s)
{
	return s->state == ST_QUIT;
}

int
serve_end(struct serve *s, struct fail *f)
{
	if (s->state != ST_MAIL && s->state != ST_DATA)
		return 0;
	return fail_set(f, EX_TEMPFAIL, "-bs: the client left in the middle "
	    "of a message (after %s), which was not sent",
	    s->state == ST_DATA ? "DATA" : "MAIL");
}

void
serve_free(struct serve *s)
{
	if (s == NULL)
		return;
	if (s->state == ST_DATA && !s->feed_err)
		msg_feed_free(&s->feed);
	msg_free(&s->m);
	s->state = ST_QUIT;
	serve_reset(s);
	buf_free(&s->out);
	free(s);
}

int
serve_relay(void *arg, struct msg *m, const struct serve_env *e,
    struct fail *f)
{
	const struct serve_conf	*sc = arg;
	struct relay_opts	 ro = { 0 };
	char			 sender[SERVE_PATH_MAX + 3];

	if (sc->relay != NULL)
		ro = *sc->relay;
	/* The envelope is MAIL and RCPT's, as -f and arguments would be. */
	snprintf(sender, sizeof(sender), "<%s>", e->sender);
	ro.extract = 0;
	ro.sender = sender;
	ro.body8bit |= e->body8bit;
	ro.stop = sc->stop;
	if (relay_message(sc->conf, m, e->rcpt, e->nrcpt, &ro, f) == 0)
		return 0;
	log_err("%s", f->msg);
	relay_save(sc->conf, m, *e->sender != '\0' ? e->sender : NULL,
	    f->msg);
	return -1;
}

/* Write out the pending replies. */
static int
serve_flush(struct serve *s, int fd, struct fail *f)
{
	struct buf	*b = &s->out;
	size_t		 off = 0;
	ssize_t		 w;

	while (off < b->len) {
		w = write(fd, b->p + off, b->len - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1) {
			buf_reset(b);
			/* a client gone after QUIT needs no 221 */
			if (s->state == ST_QUIT)
				return 0;
			return fail_set(f, EX_IOERR, "-bs: cannot write the "
			    "reply to standard output: %s", strerror(errno));
		}
		off += (size_t)w;
	}
	buf_reset(b);
	return 0;
}

/*
 * Wait until fd is readable: 1, 0 after SERVE_IDLE_MS, -1 on a signal
 * noted in the stop flag.  Signals stay blocked from the test of the
 * flag until ppoll(2) waits, so one that comes in between still ends
 * the wait instead of being noticed five minutes later.
 */
static int
serve_wait(struct serve *s, int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	struct timespec	 ts = { SERVE_IDLE_MS / 1000, 0 };
	util_stop_t	*stop = s->sc->stop;
	sigset_t	 all, old;
	int		 r;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	do
		r = stop != NULL && *stop ? -1 : ppoll(&pfd, 1, &ts, &old);
	while (r == -1 && errno == EINTR && (stop == NULL || !*stop));
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r == -1 ? -1 : r > 0;
}

/*
 * Read what the client sent.  The count, 0 at end of input, -2 after
 * the idle timeout (RFC 5321 §4.5.3.2.7), -1 on a signal (EX_TEMPFAIL)
 * or a read error (EX_IOERR); a 421 goes out for the first two.
 */
static ssize_t
serve_read(struct serve *s, int fd, char *buf, struct fail *f)
{
	ssize_t	n;
	int	r;

	for (;;) {
		if ((r = serve_wait(s, fd)) == -1 && s->sc->stop != NULL &&
		    *s->sc->stop) {
			reply(s, "421 4.3.2 %s Service shutting down", s->host);
			return fail_stopped(f, *s->sc->stop);
		}
		if (r == 0) {
			reply(s, "421 4.4.2 %s Error: timeout exceeded",
			    s->host);
			log_info("-bs: no input for %d s, closing the "
			    "session", SERVE_IDLE_MS / 1000);
			return -2;
		}
		if (r == 1 && (n = read(fd, buf, SERVE_CHUNK)) >= 0)
			return n;
		if (errno != EINTR)
			return fail_set(f, EX_IOERR, "-bs: cannot read "
			    "standard input: %s", strerror(errno));
	}
}

int
serve_run(const struct serve_conf *sc, int in, int out, struct fail *f)
{
	struct serve	*s;
	struct fail	 ignore;
	char		*chunk = NULL;
	ssize_t		 n;
	int		 r = -1;

	if ((s = serve_new(sc, f)) == NULL)
		return -1;
	if ((chunk = malloc(SERVE_CHUNK)) == NULL) {
		fail_nomem(f);
		goto out;
	}
	for (;;) {
		if (serve_flush(s, out, f) == -1)
			goto out;
		if (serve_done(s)) {
			r = 0;
			goto out;
		}
		if ((n = serve_read(s, in, chunk, f)) <= 0)
			break;
		if (serve_feed(s, chunk, (size_t)n, f) == -1)
			break;
	}
	/* end of input or a timeout: as if the client had hung up */
	if (n == 0 || n == -2)
		r = serve_end(s, f);
	(void)serve_flush(s, out, &ignore);
out:
	free(chunk);
	serve_free(s);
	return r;
}

void
serve_refuse(int fd, const char *reason)
{
	char	line[SERVE_TEXT_MAX + 64];
	size_t	n;
	ssize_t	w;

	snprintf(line, sizeof(line) - 2, "421 4.3.0 relaymail cannot take "
	    "mail: %s", reason);
	printable(line);
	n = strlen(line);
	memcpy(line + n, "\r\n", 2);
	do
		w = write(fd, line, n + 2);
	while (w == -1 && errno == EINTR);
}
