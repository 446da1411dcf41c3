/*
 * relay.c -- one message end to end.
 */
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "alias.h"
#include "conf.h"
#include "header.h"
#include "log.h"
#include "mime.h"
#include "msg.h"
#include "net.h"
#include "relay.h"
#include "smtp.h"
#include "tls.h"
#include "util.h"

/* Who is sending, from where. */
struct ident {
	char		 user[256];
	char		 fullname[256];
	char		 fqdn[256];
	char		 home[1024];
	unsigned long	 uid;
};

/* Everything one delivery needs, built once before the first attempt. */
struct job {
	const struct conf	*c;
	struct msg		*m;
	struct ident		 id;
	const char		*domain;
	char			*from;		/* envelope sender */
	char			*cfrom;		/* "from", qualified */
	struct alias_db		 aliases;
	struct addrlist		 rcpts;
	const char		**rcptv;
	struct buf		 hdr;		/* fixed-up header */
	struct tls_ctx		*tls;
	char			 helo[300];
	struct net_peer		 peer;
	unsigned char		*done;		/* per recipient: delivered */
	util_stop_t		*stop;
	const struct relay_opts	*o;
};

/* Backoff before retry n (SPEC §4: 1 s, then 4 s). */
static const unsigned int backoff[] = { 1, 4 };

/* GECOS: the full name is the first comma field; '&' is the login
 * capitalised (passwd(5)). */
static void
relay_gecos(const char *gecos, const char *login, char *out, size_t outsz)
{
	size_t	o = 0;

	for (; *gecos != '\0' && *gecos != ',' && o + 1 < outsz; gecos++) {
		if (*gecos != '&') {
			out[o++] = *gecos;
			continue;
		}
		o += (size_t)snprintf(out + o, outsz - o, "%c%s",
		    *login >= 'a' && *login <= 'z' ? *login - 32 : *login,
		    *login != '\0' ? login + 1 : "");
		if (o >= outsz)
			o = outsz - 1;
	}
	out[o] = '\0';
}

/*
 * A name cut to fit its buffer may end inside a UTF-8 sequence; the
 * incomplete sequence is dropped so the From phrase carries no broken
 * character (RFC 3629 §3).  Only a full buffer was cut.
 */
static void
relay_trim_utf8(char *s, size_t size)
{
	size_t		n = strlen(s), i = n, need;
	unsigned char	c;

	if (n + 1 < size)
		return;
	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || (c = (unsigned char)s[i - 1]) < 0xc0)
		return;
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

/* This host's name, fully qualified when the resolver knows it. */
static void
relay_fqdn(const struct conf *c, char *out, size_t outsz)
{
	struct addrinfo	hints = { 0 }, *res;

	/* An administrator's helo is this host's name: no lookup. */
	if (c->helo != NULL) {
		snprintf(out, outsz, "%s", c->helo);
		return;
	}
	if (gethostname(out, outsz) == -1 || *out == '\0')
		snprintf(out, outsz, "localhost");
	out[outsz - 1] = '\0';
	if (strchr(out, '.') != NULL)
		return;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(out, NULL, &hints, &res) != 0)
		return;
	if (res->ai_canonname != NULL && strchr(res->ai_canonname, '.'))
		snprintf(out, outsz, "%s", res->ai_canonname);
	freeaddrinfo(res);
}

/*
 * The invoking user.  A uid without a passwd entry (containers) falls
 * back to LOGNAME/USER when unprivileged, else uid<N> (SPEC §2.2).
 */
static void
relay_ident(const struct conf *c, const char *fullname, struct ident *id)
{
	struct passwd	*pw;
	const char	*v;
	/* AT_SECURE: started set-id, even after the group was dropped */
	int		 setid = getauxval(AT_SECURE) != 0;

	memset(id, 0, sizeof(*id));
	id->uid = (unsigned long)getuid();
	if ((pw = getpwuid(getuid())) != NULL) {
		snprintf(id->user, sizeof(id->user), "%s", pw->pw_name);
		snprintf(id->home, sizeof(id->home), "%s", pw->pw_dir);
		relay_gecos(pw->pw_gecos != NULL ? pw->pw_gecos : "",
		    pw->pw_name, id->fullname, sizeof(id->fullname));
	} else if (!setid && ((v = getenv("LOGNAME")) != NULL ||
	    (v = getenv("USER")) != NULL) && *v != '\0' &&
	    strpbrk(v, "@<>()\",;: \t\r\n") == NULL)
		snprintf(id->user, sizeof(id->user), "%s", v);
	else
		snprintf(id->user, sizeof(id->user), "uid%lu", id->uid);
	if ((v = getenv("HOME")) != NULL && *v == '/')
		snprintf(id->home, sizeof(id->home), "%s", v);
	if (fullname != NULL)
		snprintf(id->fullname, sizeof(id->fullname), "%s", fullname);
	else if ((v = getenv("NAME")) != NULL && *v != '\0')
		snprintf(id->fullname, sizeof(id->fullname), "%s", v);
	relay_trim_utf8(id->fullname, sizeof(id->fullname));
	relay_fqdn(c, id->fqdn, sizeof(id->fqdn));
}

/* local -> local@domain (RFC 6409 §8.2 address completion). */
static char *
relay_qualify(const char *spec, int has_domain, const char *domain)
{
	char	*s;

	if (has_domain || *spec == '\0')
		return strdup(spec);
	if (asprintf(&s, "%s@%s", spec, domain) == -1)
		return NULL;
	return s;
}

/*
 * An envelope address as given to -f or in "from": the null path stays
 * null, a local name (root, root@localhost, root@this host) gets @domain
 * (SPEC §2.2).  *out is allocated.
 */
static int
relay_path(const struct job *j, const char *in, char **out, struct fail *f)
{
	struct addr	a = { 0 };

	if (addr_parse_path(in, &a, f) == -1)
		return -1;
	if (*a.spec != '\0' && alias_is_local(&j->aliases, a.spec))
		a.spec[strcspn(a.spec, "@")] = '\0';
	*out = relay_qualify(a.spec, strchr(a.spec, '@') != NULL, j->domain);
	addr_free(&a);
	if (*out == NULL)
		return fail_nomem(f);
	return **out != '\0' ? addr_check_path(*out, f) : 0;
}

/* The envelope sender: from with rewrite_from = always, else -f/-r,
 * else from, else the invoking user; always qualified. */
static int
relay_sender(struct job *j, const struct relay_opts *o, struct fail *f)
{
	if (j->c->from != NULL && *j->c->from != '\0' &&
	    relay_path(j, j->c->from, &j->cfrom, f) == -1)
		return f->ex == EX_OSERR ? -1 : fail_set(f, EX_CONFIG,
		    "from = \"%.80s\": not an address", j->c->from);
	if (j->cfrom != NULL && (j->c->rewrite_from == CONF_REWRITE_ALWAYS ||
	    o->sender == NULL))
		j->from = strdup(j->cfrom);
	else if (o->sender != NULL)
		return relay_path(j, o->sender, &j->from, f);
	else
		j->from = relay_qualify(j->id.user, 0, j->domain);
	return j->from == NULL ? fail_nomem(f) : 0;
}

/* Command-line recipients: each argument an address list (SPEC §1). */
static int
relay_args(char *const *args, size_t nargs, struct addrlist *out,
    struct fail *f)
{
	struct fail	e;
	size_t		i;

	/* e: fail_set() must not format f->msg into itself */
	for (i = 0; i < nargs; i++) {
		if (addr_parse_list(args[i], strlen(args[i]), out, &e) == -1)
			return fail_set(f, e.ex == EX_OSERR ? EX_OSERR :
			    EX_USAGE, "recipient argument \"%.80s\": %s",
			    args[i], e.msg);
		if (out->n > HEADER_RCPT_MAX)
			return fail_set(f, EX_USAGE, "more than %d recipients "
			    "on the command line: send the message in parts",
			    HEADER_RCPT_MAX);
	}
	return 0;
}

/* Aliases, qualification, de-duplication, and a check of each. */
static int
relay_finish_rcpts(struct job *j, struct addrlist *raw, struct fail *f)
{
	size_t	i;

	for (i = 0; i < raw->n; i++) {
		if (alias_resolve(&j->aliases, raw->v[i].spec, &j->rcpts,
		    f) == -1)
			return -1;
		if (j->rcpts.n > HEADER_RCPT_MAX)
			return fail_set(f, EX_DATAERR, "more than %d "
			    "recipients (arguments, -t and aliases together): "
			    "send the message in parts", HEADER_RCPT_MAX);
	}
	for (i = 0; i < j->rcpts.n; i++)
		if (addr_check_path(j->rcpts.v[i].spec, f) == -1)
			return -1;
	if (j->rcpts.n == 0)
		return fail_set(f, EX_DATAERR, "no recipients: name them on "
		    "the command line, or in To/Cc/Bcc with -t");
	if ((j->rcptv = calloc(j->rcpts.n, sizeof(*j->rcptv))) == NULL)
		return fail_nomem(f);
	for (i = 0; i < j->rcpts.n; i++)
		j->rcptv[i] = j->rcpts.v[i].spec;
	return 0;
}

static int
relay_prepare(struct job *j, char *const *args, size_t nargs,
    const struct relay_opts *o, struct fail *f)
{
	struct header_ctx hc = { 0 };
	struct addrlist	 raw = { 0 };
	unsigned char	 rnd[HEADER_RND_LEN];
	int		 r = -1;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return fail_set(f, EX_OSERR, "getrandom: %s", strerror(errno));
	/* SPEC §2: a header beyond msg.h's limits is refused, not sent
	 * with its tail moved into the body */
	if (j->m->hdr_overflow)
		return fail_set(f, EX_DATAERR, "the message header is over "
		    "relaymail's limits (%d fields, %d octets in one field, %d "
		    "in all): nothing was sent", MSG_FIELDS_MAX, MSG_FIELD_MAX,
		    MSG_HEADER_MAX);
	if (alias_load(&j->aliases, j->c, j->domain, j->id.fqdn, f) == -1 ||
	    relay_sender(j, o, f) == -1 ||
	    relay_args(args, nargs, &raw, f) == -1)
		goto out;
	hc.now = (long long)time(NULL);
	hc.rnd = rnd;
	hc.fqdn = j->id.fqdn;
	/* RFC 5322 §3.6.4: id-right is a domain; a bare host name such as
	 * "vm" is none, so then the configured domain stands in. */
	hc.msgid_domain = strchr(j->id.fqdn, '.') == NULL ? j->domain :
	    j->id.fqdn;
	hc.domain = j->domain;
	hc.user = j->id.user;
	hc.fullname = j->id.fullname;
	hc.uid = j->id.uid;
	hc.extract = o->extract || raw.n == 0;
	hc.rewrite_from = j->c->rewrite_from == CONF_REWRITE_ALWAYS;
	hc.from_addr = j->cfrom;
	if (header_fixup(j->m, &hc, &j->hdr, &raw, f) == -1)
		goto out;
	r = relay_finish_rcpts(j, &raw, f);
out:
	addrlist_free(&raw);
	return r;
}

/* Message source for smtp_send(): the new header, then the body, both
 * as mime.c makes them fit the server. */
struct source {
	struct mime		*mx;
	struct job		*j;
	struct mime_caps	 mc;	/* what the server took, for rewinds */
};

static ssize_t
relay_read(void *arg, char *buf, size_t n, struct fail *f)
{
	struct source	*s = arg;

	return mime_read(s->mx, buf, n, f);
}

/* Any octet >= 0x80 in the envelope (RFC 6531 §3.3)? */
static int
relay_env8bit(const struct job *j)
{
	size_t	i;
	int	hi = mime_has_8bit(j->from, strlen(j->from));

	for (i = 0; i < j->rcpts.n; i++)
		hi |= mime_has_8bit(j->rcptv[i], strlen(j->rcptv[i]));
	return hi;
}

/*
 * SPEC §2.4: what this server takes decides what is declared (BODY=,
 * SMTPUTF8) and what is converted; SIZE= counts what will be sent.
 */
static int
relay_mime(struct job *j, struct smtp *sm, struct source *src,
    struct smtp_env *e, struct fail *f)
{
	const struct smtp_caps *sc = smtp_caps(sm);
	struct mime_caps *mc = &src->mc;
	struct mime_plan p;

	mc->eightbit = sc->eightbitmime;
	mc->smtputf8 = sc->smtputf8;
	mc->env8bit = relay_env8bit(j);
	src->j = j;
	if ((src->mx = mime_open(j->hdr.p, j->hdr.len, j->m, f)) == NULL)
		return -1;
	if (mime_prepare(src->mx, mc, &p, f) == -1) {
		if (f->ex == EX_UNAVAILABLE) {
			char	why[sizeof(f->msg)];

			snprintf(why, sizeof(why), "%s", f->msg);
			fail_set(f, EX_UNAVAILABLE, "%s: %s", j->c->host, why);
		}
		return -1;
	}
	e->size = p.size;
	e->body8bit = p.body8bit;
	e->smtputf8 = p.smtputf8;
	if (p.converted)
		log_info("the message was converted for %s (%llu octets)",
		    j->c->host, p.size);
	return 0;
}

/*
 * From the top again, for a further transaction (over 100 recipients):
 * mime_prepare starts the reader over with the same plan.
 */
static int
relay_rewind(void *arg, struct fail *f)
{
	struct source	*s = arg;
	struct mime_plan p;

	mime_close(s->mx);
	if ((s->mx = mime_open(s->j->hdr.p, s->j->hdr.len, s->j->m, f)) ==
	    NULL)
		return -1;
	return mime_prepare(s->mx, &s->mc, &p, f);
}

static void
relay_smtp_opts(const struct job *j, struct smtp_opts *so)
{
	const struct conf *c = j->c;

	memset(so, 0, sizeof(*so));
	so->host = c->host;
	so->helo = j->helo;
	so->tls = c->tls;
	so->tls_ctx = j->tls;
	so->auth = c->auth;
	so->user = c->user;
	so->pass = c->password != NULL ? c->password : "";
	so->auth_plaintext = c->auth_plaintext;
	so->timeout_ms = c->timeout * 1000;
	so->final_timeout_ms = c->final_timeout * 1000;
	so->stop = j->stop;
}

/* EHLO name: helo, else the FQDN, else an address literal (RFC 5321
 * §4.1.4). */
static void
relay_helo(struct job *j, int fd)
{
	if (j->c->helo != NULL || strchr(j->id.fqdn, '.') != NULL ||
	    net_local_literal(fd, j->helo, sizeof(j->helo)) == -1)
		snprintf(j->helo, sizeof(j->helo), "%s", j->id.fqdn);
}

/* peer (NULL but for --check) receives the TLS session's details. */
static struct smtp *
relay_connect(struct job *j, struct smtp_opts *so, struct tls_peer *peer,
    struct fail *f)
{
	int	fd;

	fd = net_connect(j->c->host, j->c->port, j->c->timeout * 1000,
	    &j->peer, j->stop, f);
	if (fd == -1)
		return NULL;
	relay_helo(j, fd);
	relay_smtp_opts(j, so);
	so->peer = peer;
	return smtp_open(fd, so, f);
}

static int
relay_attempt(struct job *j, int *after_dot, struct fail *f)
{
	struct smtp_opts so;
	struct smtp_env	 e = { 0 };
	struct source	 src = { 0 };
	struct smtp_source s = { relay_read, relay_rewind, &src };
	struct smtp	*sm;
	int		 r = -1;

	*after_dot = 0;
	if (j->done == NULL && (j->done = calloc(j->rcpts.n, 1)) == NULL)
		return fail_nomem(f);
	if ((sm = relay_connect(j, &so, NULL, f)) == NULL)
		return -1;
	e.from = j->from;
	e.rcpt = j->rcptv;
	e.nrcpt = j->rcpts.n;
	e.done = j->done;	/* retries go only to those still without it */
	e.dsn_notify = j->o->dsn_notify;
	e.dsn_ret = j->o->dsn_ret;
	e.dsn_envid = j->o->dsn_envid;
	if (relay_mime(j, sm, &src, &e, f) == 0)
		r = smtp_send(sm, &e, &s, after_dot, f);
	smtp_close(sm);
	mime_close(src.mx);
	return r;
}

/* Recipients named in one syslog line, at most: past them the rest are
 * counted, so the line stays within syslog's usual 8 KiB. */
#define RELAY_LOG_RCPTS		20

/*
 * "<a>,<b>" for the syslog line and dead.letter; past max (0: no bound)
 * the rest are counted.  "<>" when the recipients are not known yet.
 */
static int
relay_rcpt_list(const struct job *j, size_t max, const char *sep,
    struct buf *b)
{
	size_t	i, n = j->rcptv != NULL ? j->rcpts.n : 0;
	int	r = 0;

	if (n == 0)
		return buf_adds(b, "<>");
	for (i = 0; i < n && (max == 0 || i < max); i++)
		r |= buf_addf(b, "%s<%s>", i > 0 ? sep : "", j->rcptv[i]);
	if (i < n)
		r |= buf_addf(b, "%s(%zu more)", sep, n - i);
	return r;
}

/* The envelope sender as far as it is known. */
static const char *
relay_from(const struct job *j)
{
	if (j->from != NULL)
		return j->from;
	return j->o != NULL && j->o->sender != NULL ? j->o->sender : "";
}

/* Octets that went (or would go) to the server: the fixed-up header and
 * the body; the input size while the header is not built. */
static unsigned long long
relay_size(const struct job *j)
{
	if (j->hdr.len > 0)
		return j->hdr.len + j->m->bodylen;
	return j->m->inbytes;
}

/* SPEC §4: deferred when the caller may try again (EX_TEMPFAIL). */
static const char *
relay_status(const struct fail *f)
{
	return f->ex == EX_TEMPFAIL ? "deferred" : "bounced";
}

/* The server's reply when one caused the failure, else our reason. */
static const char *
relay_why(const struct fail *f)
{
	return f->reply[0] != '\0' ? f->reply : f->msg;
}

/*
 * One LOG_MAIL line per attempt, in the shape administrators grep for
 * (SPEC §4, after Postfix's smtp(8)).  tried is 0 for a failure before
 * any connection (relay=none).
 */
static void
relay_log(const struct job *j, int tried, const char *status,
    const char *why)
{
	struct buf	to = { 0 };
	char		relay[400] = "none";

	if (tried)
		snprintf(relay, sizeof(relay), "%s[%s]:%d", j->c->host,
		    j->peer.ip[0] != '\0' ? j->peer.ip : "none", j->c->port);
	if (relay_rcpt_list(j, RELAY_LOG_RCPTS, ",", &to) == -1)
		buf_reset(&to);
	log_mail(strcmp(status, "sent") == 0 ? LOGM_INFO : LOGM_WARNING,
	    "from=<%s>, to=%s, relay=%s, size=%llu, status=%s (%s)",
	    relay_from(j), to.len > 0 ? to.p : "<>", relay, relay_size(j),
	    status, why);
	buf_free(&to);
}

/* Name the server in a failure that the lower layer could not name
 * (stream.c sees only a socket): "connection closed by the server". */
static void
relay_name_server(const struct job *j, struct fail *f)
{
	char	msg[sizeof(f->msg) + 400];
	size_t	n = strlen(j->c->host);

	if (strncmp(f->msg, j->c->host, n) == 0 ||
	    (j->stop != NULL && *j->stop))
		return;
	snprintf(msg, sizeof(msg), "%.256s[%s]:%d: %s", j->c->host,
	    j->peer.ip[0] != '\0' ? j->peer.ip : "none", j->c->port, f->msg);
	n = strnlen(msg, sizeof(f->msg) - 1);
	memcpy(f->msg, msg, n);
	f->msg[n] = '\0';
}

/*
 * The final dot went out and no reply came back: the server may have
 * accepted the message (RFC 1047), so another attempt could deliver it
 * twice.  A reply, even 4xx, is an answer and not this case.
 */
static void
relay_uncertain(int after_dot, struct fail *f)
{
	size_t	n = strlen(f->msg);

	if (!after_dot || f->reply[0] != '\0')
		return;
	snprintf(f->msg + n, sizeof(f->msg) - n, " (no reply to the final "
	    "dot: the message may have been delivered)");
	f->noretry = 1;
}

static int
relay_may_retry(const struct job *j, const struct fail *f,
    unsigned int attempt)
{
	return f->ex == EX_TEMPFAIL && !f->noretry &&
	    attempt < (unsigned int)j->c->retries &&
	    (j->stop == NULL || !*j->stop);
}

/* The pause before attempt + 2 (SPEC §4: 1 s, then 4 s); a signal cuts
 * it short and ends the run. */
static int
relay_backoff(const struct job *j, unsigned int attempt, struct fail *f)
{
	unsigned int	s = backoff[attempt < 1 ? 0 : 1];
	size_t		n;

	log_info("%s; trying again in %u s", f->msg, s);
	if (j->stop == NULL || !*j->stop)
		sleep(s);
	if (j->stop == NULL || !*j->stop)
		return 0;
	n = strlen(f->msg);
	snprintf(f->msg + n, sizeof(f->msg) - n, "; interrupted by signal %d "
	    "before the next attempt", (int)*j->stop);
	return -1;
}

/*
 * Over 100 recipients, or a server that takes fewer per transaction
 * (452), means several transactions, and a later one can fail after an
 * earlier one delivered.  All or nothing still holds per transaction,
 * and the retries above go only to the recipients still without the
 * message (smtp_send() marks each one done after its transaction's
 * 2xx), so nobody gets it twice.  If the run ends that way, the message
 * is kept in dead.letter as on every failure and stderr names every
 * recipient who did not get it; the status is then not 75, because 75
 * asks the caller to send the whole message again, which would give
 * the first batches a second copy: a temporary failure becomes 69, a
 * permanent one keeps its class.
 */
static void
relay_partial(struct job *j, struct fail *f)
{
	struct buf	 who = { 0 };
	char		 why[sizeof(f->msg)];
	size_t		 i, sent = 0;

	for (i = 0; j->done != NULL && i < j->rcpts.n; i++)
		sent += j->done[i];
	if (sent == 0)
		return;
	/* every one of them, in lines short enough for log.c */
	for (i = 0; i < j->rcpts.n; i++) {
		if (!j->done[i])
			buf_addf(&who, "%s%s", who.len ? ", " : "",
			    j->rcptv[i]);
		if (who.len > 0 && (who.len > 600 || i + 1 == j->rcpts.n)) {
			log_err("not delivered to: %s", who.p);
			buf_reset(&who);
		}
	}
	buf_free(&who);
	snprintf(why, sizeof(why), "%s", f->msg);
	snprintf(f->msg, sizeof(f->msg), "delivered to %zu of %zu "
	    "recipients only (do not resend to all): %.400s", sent, j->rcpts.n,
	    why);
	if (f->ex == EX_TEMPFAIL)
		f->ex = EX_UNAVAILABLE;
}

/*
 * Attempts until one succeeds, a failure is not temporary, the final
 * dot went out unanswered, or c->retries more attempts failed.
 */
static int
relay_deliver(struct job *j, struct fail *f)
{
	unsigned int	attempt;
	int		after_dot;

	for (attempt = 0;; attempt++) {
		memset(&j->peer, 0, sizeof(j->peer));
		f->reply[0] = '\0';
		if (relay_attempt(j, &after_dot, f) == 0) {
			relay_log(j, 1, "sent", f->reply[0] != '\0' ?
			    f->reply : "accepted");
			return 0;
		}
		relay_name_server(j, f);
		relay_uncertain(after_dot, f);
		relay_log(j, 1, relay_status(f), relay_why(f));
		if (!relay_may_retry(j, f, attempt) ||
		    relay_backoff(j, attempt, f) == -1)
			break;
	}
	relay_partial(j, f);
	return -1;
}

static struct tls_ctx *
relay_tls(const struct conf *c, struct fail *f)
{
	struct tls_conf	tc = { 0 };

	tc.ca_file = c->tls_ca_file;
	tc.verify = c->tls_verify;
	tc.fingerprint = c->tls_fingerprint;
	tc.cert_file = c->tls_cert_file;
	tc.key_file = c->tls_key_file;
	tc.cert_pem = c->tls_cert_pem;
	tc.cert_pem_len = c->tls_cert_pem_len;
	tc.key_pem = c->tls_key_pem;
	tc.key_pem_len = c->tls_key_pem_len;
	tc.min_version = c->tls_min_version;
	return tls_ctx_new(&tc, f);
}

static void
relay_job_free(struct job *j)
{
	free(j->from);
	free(j->cfrom);
	free(j->rcptv);
	free(j->done);
	addrlist_free(&j->rcpts);
	alias_free(&j->aliases);
	buf_free(&j->hdr);
	tls_ctx_free(j->tls);
}

static void	relay_dead(const struct conf *, const struct msg *, const char *,
		    const char *);

/* One header line "Name: text" with control characters (a hostile
 * server's reply) made spaces, so it cannot start a line of its own. */
static int
relay_note(struct buf *b, const char *name, const char *text)
{
	size_t	start;

	if (buf_addf(b, "%s%s: ", b->len > 0 ? "\n" : "", name) == -1)
		return -1;
	start = b->len;
	if (buf_adds(b, text) == -1)
		return -1;
	for (; start < b->len; start++)
		if ((unsigned char)b->p[start] < 0x20 || b->p[start] == 0x7f)
			b->p[start] = ' ';
	return 0;
}

/* Header fields compared one by one for the X-Relaymail-Fixups note;
 * a header with more is not described (the comparison is quadratic). */
#define RELAY_FIXUP_FIELDS	1000

/* The fields of the fixed-up header (CRLF lines, ending with the empty
 * line) as msg stores fields: folded lines joined, no final CRLF. */
static size_t
relay_hdr_fields(const struct buf *h, struct msg_field *v, size_t max)
{
	char	*p = h->p, *end = h->p + h->len, *q;
	size_t	 n = 0;

	while (p != NULL && p < end && n < max && !(p[0] == '\r' &&
	    end - p >= 2 && p[1] == '\n')) {
		for (q = p; (q = memmem(q, (size_t)(end - q), "\r\n", 2)) !=
		    NULL && q + 2 < end && (q[2] == ' ' || q[2] == '\t'); q += 2)
			;
		if (q == NULL)
			q = end;
		v[n].text = p;
		v[n++].len = (size_t)(q - p);
		p = q + 2;
	}
	return n;
}

/* Index of an unused field of v like f: the same text (same != 0) or
 * the same name; n when there is none. */
static size_t
relay_field_find(const struct msg_field *v, size_t n, const char *used,
    const struct msg_field *f, int same)
{
	size_t	i, k = msg_field_namelen(f);

	for (i = 0; i < n; i++) {
		if (used[i])
			continue;
		if (same ? v[i].len == f->len && memcmp(v[i].text, f->text,
		    f->len) == 0 : msg_field_namelen(&v[i]) == k &&
		    util_strncasecmp(v[i].text, f->text, k) == 0)
			return i;
	}
	return n;
}

/* Append "NAME" to one of the three lists of the note. */
static int
relay_fixup_add(struct buf *b, const struct msg_field *f)
{
	return buf_addf(b, "%s%.*s", b->len > 0 ? ", " : "",
	    (int)msg_field_namelen(f), f->text);
}

/*
 * What the fix-ups did to the header, by field name, for dead.letter:
 * "added Received, Date; changed To; removed Bcc".  The message kept
 * is the input; this says what would have gone out instead.
 */
static int
relay_fixups(const struct job *j, struct buf *out)
{
	const struct msg *m = j->m;
	struct msg_field *v;
	struct buf	 l[3] = { { 0 } };	/* added, changed, removed */
	char		*used;
	size_t		 n, i, k;
	int		 r = -1;

	v = calloc(RELAY_FIXUP_FIELDS, sizeof(*v));
	used = calloc(m->hn + 1, 1);
	if (v == NULL || used == NULL)
		goto out;
	n = relay_hdr_fields(&j->hdr, v, RELAY_FIXUP_FIELDS);
	/* unchanged fields first, so a changed one pairs with its own */
	for (i = 0; i < n; i++) {
		k = relay_field_find(m->hv, m->hn, used, &v[i], 1);
		if (k < m->hn) {
			used[k] = 1;
			v[i].len = 0;
		}
	}
	r = 0;
	for (i = 0; i < n; i++) {
		if (v[i].len == 0)
			continue;
		k = relay_field_find(m->hv, m->hn, used, &v[i], 0);
		if (k < m->hn)
			used[k] = 1;
		/* a field of that name was there: changed, else added */
		r |= relay_fixup_add(&l[k < m->hn ? 1 : 0], &v[i]);
	}
	for (k = 0; k < m->hn; k++)
		if (!used[k])
			r |= relay_fixup_add(&l[2], &m->hv[k]);
	r |= buf_addf(out, "\nX-Relaymail-Fixups: added %s; changed %s; "
	    "removed %s", l[0].len ? l[0].p : "none", l[1].len ? l[1].p :
	    "none", l[2].len ? l[2].p : "none");
out:
	for (i = 0; i < 3; i++)
		buf_free(&l[i]);
	free(v);
	free(used);
	return r == 0 ? 0 : -1;
}

/*
 * The failure on stderr, then the message into dead.letter with why it
 * failed and the envelope it had (the recipients may have come from
 * the command line only), so the user can send it again.
 */
static void
relay_keep(const struct job *j, const struct fail *f)
{
	struct buf	notes = { 0 }, to = { 0 };
	int		r;

	log_err("%s", f->msg);
	r = relay_note(&notes, "X-Relaymail-Error", f->msg);
	if (r == 0 && j->rcptv != NULL) {
		r = relay_rcpt_list(j, 0, ",\n\t", &to) |
		    buf_addf(&notes, "\nX-Relaymail-Envelope: from=<%s> to=%s",
		    relay_from(j), to.p);
	}
	/* a header of more fields than that is not described */
	if (r == 0 && j->hdr.len > 0 && j->m->hn < RELAY_FIXUP_FIELDS)
		relay_fixups(j, &notes);
	/* out of memory on the way: what notes there are still go in */
	relay_dead(j->c, j->m, relay_from(j), notes.len > 0 ? notes.p : NULL);
	buf_free(&notes);
	buf_free(&to);
}

int
relay_message(const struct conf *c, struct msg *m, char *const *args,
    size_t nargs, const struct relay_opts *o, struct fail *f)
{
	struct job	j = { 0 };
	int		r = -1;

	j.c = c;
	j.m = m;
	j.stop = o->stop;
	j.o = o;
	relay_ident(c, o->fullname, &j.id);
	j.domain = c->domain != NULL ? c->domain : j.id.fqdn;
	if (relay_prepare(&j, args, nargs, o, f) == -1 ||
	    (c->tls != CONF_TLS_NONE && (j.tls = relay_tls(c, f)) == NULL)) {
		relay_log(&j, 0, relay_status(f), f->msg);
		goto out;
	}
	if (o->body8bit)
		m->body8bit = 1;
	r = relay_deliver(&j, f);
out:
	if (r == -1 && o->keep)
		relay_keep(&j, f);
	relay_job_free(&j);
	return r;
}

/*
 * dead.letter.  When the configured file cannot be written the message
 * goes to a new file in RELAY_FALLBACK_DIR: /var/tmp survives a reboot
 * (FHS 3.0 §5.15), mkostemp()'s O_EXCL name cannot be planted by another
 * user, and the file is the user's own, mode 0600.  The message is never
 * copied to stderr: behind cron, atd and daemons that is a log others
 * may read, and at a terminal megabytes of it help nobody.
 */
#define RELAY_FALLBACK_DIR	"/var/tmp"
#define RELAY_LOCK_TRIES	100	/* 100 ms apart: 10 s at most */

struct dead {
	const struct msg *m;
	const char	*sender;	/* mbox From_ line */
	const char	*notes;		/* X-Relaymail-* lines */
	char		 path[1200];
	char		 why[600];	/* why the last try failed */
};

static int
relay_dead_fail(struct dead *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Note why this try failed; returns -1. */
static int
relay_dead_fail(struct dead *d, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* "~/x" relative to the invoking user's home: HOME, else passwd. */
static int
relay_dead_path(const char *p, struct dead *d)
{
	const char	*home = getenv("HOME");
	struct passwd	*pw;

	snprintf(d->path, sizeof(d->path), "%s", p);
	if (strncmp(p, "~/", 2) != 0)
		return 0;
	if ((home == NULL || *home != '/') &&
	    (pw = getpwuid(getuid())) != NULL)
		home = pw->pw_dir;
	if (home == NULL || *home != '/')
		return relay_dead_fail(d, "no home directory (set HOME, or "
		    "dead_letter to a full path)");
	snprintf(d->path, sizeof(d->path), "%s/%s", home, p + 2);
	return 0;
}

/* Runs of one minute's cron jobs append to one file: take the POSIX
 * lock that mail readers take on an mbox, waiting 10 s at most. */
static int
relay_dead_lock(int fd)
{
	struct flock	 fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct timespec	 ts = { 0, 100 * 1000 * 1000 };
	int		 i;

	for (i = 0; i < RELAY_LOCK_TRIES; i++) {
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EACCES && errno != EAGAIN)
			return 0;	/* no locks here (ENOLCK): write */
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* Append the message to fd: a regular file of this user only, locked;
 * a failed write is cut off so no half message is left behind. */
static int
relay_dead_write(int fd, struct dead *d)
{
	struct stat	st;
	struct fail	f;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		return relay_dead_fail(d, "not a regular file");
	if (st.st_uid != getuid())
		return relay_dead_fail(d, "the file belongs to another user "
		    "(uid %lu)", (unsigned long)st.st_uid);
	if (relay_dead_lock(fd) == -1 || fstat(fd, &st) == -1)
		return relay_dead_fail(d, "locked by another process");
	if (msg_write_mbox(d->m, fd, d->sender, (long long)time(NULL),
	    d->notes, &f) == -1)
		relay_dead_fail(d, "%s", f.msg);
	else if (fsync(fd) == -1)
		relay_dead_fail(d, "%s", strerror(errno));
	else
		return 0;
	/* best effort: a reader then sees the mailbox as it was */
	if (ftruncate(fd, st.st_size) == -1)
		return -1;
	return -1;
}

/* Never through a symlink (O_NOFOLLOW), never blocking on a FIFO
 * (O_NONBLOCK), never readable by others (0600; SPEC §4). */
static int
relay_dead_append(struct dead *d)
{
	int	fd, r;

	fd = open(d->path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd == -1)
		return relay_dead_fail(d, "%s", errno == ELOOP ? "a symbolic "
		    "link (not followed)" : errno == ENXIO ? "not a regular "
		    "file" : strerror(errno));
	r = relay_dead_write(fd, d);
	if (close(fd) == -1 && r == 0)
		r = relay_dead_fail(d, "%s", strerror(errno));
	return r;
}

static int
relay_dead_fallback(struct dead *d)
{
	int	fd, r;

	snprintf(d->path, sizeof(d->path), "%s/dead.letter.XXXXXX",
	    RELAY_FALLBACK_DIR);
	if ((fd = mkostemp(d->path, O_APPEND | O_CLOEXEC)) == -1)
		return relay_dead_fail(d, "%s: %s", RELAY_FALLBACK_DIR,
		    strerror(errno));
	r = relay_dead_write(fd, d);
	if (close(fd) == -1 && r == 0)
		r = relay_dead_fail(d, "%s", strerror(errno));
	if (r == -1)
		unlink(d->path);
	return r;
}

/* An mbox From_ line takes one word: spaces in a quoted local part
 * would split it (RFC 4155). */
static void
relay_dead_sender(const char *s, char *out, size_t outsz)
{
	size_t	i;

	snprintf(out, outsz, "%s", s != NULL ? s : "");
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] <= ' ' || out[i] == 0x7f)
			out[i] = '_';
}

/* Keep m; say where it went, on stderr and in syslog. */
static void
relay_dead(const struct conf *c, const struct msg *m, const char *sender,
    const char *notes)
{
	const char	*p = c != NULL ? c->dead_letter : "~/dead.letter";
	struct dead	 d = { .m = m, .notes = notes };
	char		 from[300], first[sizeof(d.path) + sizeof(d.why) + 4];

	relay_dead_sender(sender, from, sizeof(from));
	d.sender = from;
	if (m->inbytes == 0) {
		log_err("nothing to save: the input was empty");
		return;
	}
	if (p == NULL || *p == '\0') {
		log_err("the message was not saved: dead_letter is disabled");
		log_mail(LOGM_WARNING, "from=<%s>, not saved: dead_letter is "
		    "disabled", from);
		return;
	}
	if (relay_dead_path(p, &d) == 0 && relay_dead_append(&d) == 0) {
		log_err("the message was saved in %s", d.path);
		log_mail(LOGM_INFO, "from=<%s>, saved in %s", from, d.path);
		return;
	}
	snprintf(first, sizeof(first), "%s: %s", d.path, d.why);
	if (relay_dead_fallback(&d) == 0) {
		log_err("cannot save the message in %s; it was saved in %s "
		    "instead", first, d.path);
		log_mail(LOGM_WARNING, "from=<%s>, not saved in %s; saved in "
		    "%s instead", from, first, d.path);
		return;
	}
	log_err("the message could not be saved anywhere and is lost: %s; %s",
	    first, d.why);
	log_mail(LOGM_ERR, "from=<%s>, message lost: not saved in %s nor in "
	    "%s", from, first, d.why);
}

void
relay_save(const struct conf *c, const struct msg *m, const char *sender,
    const char *reason)
{
	struct buf	notes = { 0 };

	if (relay_note(&notes, "X-Relaymail-Error", reason) == -1)
		buf_free(&notes);
	relay_dead(c, m, sender, notes.p);
	buf_free(&notes);
}

int
relay_verify(const struct conf *c, char *const *args, size_t nargs,
    struct fail *f)
{
	struct job	 j = { 0 };
	struct addrlist	 raw = { 0 }, one = { 0 };
	size_t		 i, k;
	int		 r = -1;

	j.c = c;
	relay_ident(c, NULL, &j.id);
	j.domain = c->domain != NULL ? c->domain : j.id.fqdn;
	if (alias_load(&j.aliases, c, j.domain, j.id.fqdn, f) == -1 ||
	    relay_args(args, nargs, &raw, f) == -1)
		goto out;
	if (raw.n == 0) {
		fail_set(f, EX_USAGE, "-bv: name the recipients to verify");
		goto out;
	}
	for (i = 0; i < raw.n; i++, addrlist_free(&one)) {
		if (alias_resolve(&j.aliases, raw.v[i].spec, &one, f) == -1)
			goto out;
		printf("%s ->", raw.v[i].spec);
		for (k = 0; k < one.n; k++)
			printf("%s %s", k ? "," : "", one.v[k].spec);
		printf("%s\n", one.n == 0 ? " nobody (every target refused)" :
		    "");
	}
	r = 0;
out:
	addrlist_free(&raw);
	addrlist_free(&one);
	alias_free(&j.aliases);
	return r;
}

static void
relay_report(const char *step, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
relay_report(const char *step, const char *fmt, ...)
{
	va_list	ap;

	printf("%-13s", step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void
relay_report_trust(const struct conf *c)
{
	if (c->tls == CONF_TLS_NONE)
		relay_report("trust:", "none: tls = none sends everything in "
		    "the clear");
	else if (c->tls_fingerprint != NULL)
		relay_report("trust:", "the public key in tls_fingerprint");
	else if (!c->tls_verify)
		relay_report("trust:", "NONE: tls_verify = false accepts any "
		    "certificate");
	else
		relay_report("trust:", "%s%s", c->tls_ca_file != NULL ?
		    "tls_ca_file " : "the system's certificate directory",
		    c->tls_ca_file != NULL ? c->tls_ca_file : "");
}

/* What the server showed of itself, even when it was not trusted: the
 * pin to put in tls_fingerprint comes from here. */
static void
relay_report_tls(const struct tls_peer *p)
{
	relay_report("tls:", "%s, %s", p->version, p->cipher);
	relay_report("certificate:", "%s", p->subject);
	relay_report("issuer:", "%s", p->issuer);
	relay_report("valid:", "from %s until %s%s", p->not_before,
	    p->not_after, p->days_left < 0 ? " (EXPIRED)" :
	    p->days_left < 21 ? " (expires within three weeks)" : "");
	relay_report("public key:", "%s", p->pin);
	relay_report("verdict:", "%s", p->verdict);
}

static void
relay_report_session(const struct conf *c, struct smtp *sm)
{
	const struct smtp_caps *k = smtp_caps(sm);
	char		 ext[160];

	snprintf(ext, sizeof(ext), "%s%s%s%s%s", k->pipelining ?
	    " PIPELINING" : "", k->eightbitmime ? " 8BITMIME" : "",
	    k->smtputf8 ? " SMTPUTF8" : "", k->dsn ? " DSN" : "",
	    k->enhanced ? " ENHANCEDSTATUSCODES" : "");
	if (k->size_set)
		relay_report("extensions:", "SIZE=%llu%s", k->size, ext);
	else
		relay_report("extensions:", "%s", ext[0] ? ext + 1 : "none");
	if (smtp_auth_used(sm) != NULL)
		relay_report("auth:", "%s accepted for %s (offered: %s)",
		    smtp_auth_used(sm), c->user, k->auth);
	else
		relay_report("auth:", "not used (%s)", c->user == NULL ?
		    "no user configured" : "auth = none");
}

int
relay_check(const struct conf *c, struct fail *f)
{
	struct job	  j = { 0 };
	struct relay_opts o = { 0 };
	struct smtp_opts  so;
	struct tls_peer	  peer = { 0 };
	struct smtp	 *sm = NULL;
	int		  r = -1;

	j.c = c;
	j.o = &o;
	relay_ident(c, NULL, &j.id);
	j.domain = c->domain != NULL ? c->domain : j.id.fqdn;
	relay_report("smarthost:", "%s port %d, tls = %s", c->host, c->port,
	    c->tls == CONF_TLS_STARTTLS ? "starttls" :
	    c->tls == CONF_TLS_IMPLICIT ? "tls" : "none");
	relay_report_trust(c);
	/* the sender exactly as a delivery would make it */
	if (alias_load(&j.aliases, c, j.domain, j.id.fqdn, f) == -1 ||
	    relay_sender(&j, &o, f) == -1 ||
	    (c->tls != CONF_TLS_NONE && (j.tls = relay_tls(c, f)) == NULL))
		goto out;
	sm = relay_connect(&j, &so, &peer, f);
	if (j.peer.ip[0] != '\0')
		relay_report("connected:", "%s[%s]:%d, EHLO %s", c->host,
		    j.peer.ip, c->port, j.helo);
	if (peer.pin[0] != '\0')
		relay_report_tls(&peer);
	if (sm == NULL)
		goto out;
	if (!smtp_is_tls(sm))
		relay_report("tls:", "none (plaintext)");
	relay_report_session(c, sm);
	/* A message would go through only if its sender is taken too
	 * (530 "authentication required", a From the account may not
	 * use): MAIL FROM, then RSET, nothing delivered. */
	if (smtp_probe(sm, j.from, f) == -1)
		goto out;
	relay_report("sender:", "<%s> accepted (then RSET: nothing was "
	    "sent)", j.from);
	relay_report("result:", "ok: a message would be accepted for "
	    "relaying");
	r = 0;
out:
	if (r == -1)
		relay_report("result:", "FAILED: %s", f->msg);
	smtp_close(sm);
	relay_job_free(&j);
	return r;
}
