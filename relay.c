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
	for (i = 0; i < nargs; i++)
		if (addr_parse_list(args[i], strlen(args[i]), out, &e) == -1)
			return fail_set(f, e.ex == EX_OSERR ? EX_OSERR :
			    EX_USAGE, "recipient argument \"%.80s\": %s",
			    args[i], e.msg);
	return 0;
}

/* Aliases, qualification, de-duplication, and a check of each. */
static int
relay_finish_rcpts(struct job *j, struct addrlist *raw, struct fail *f)
{
	size_t	i;

	for (i = 0; i < raw->n; i++)
		if (alias_resolve(&j->aliases, raw->v[i].spec, &j->rcpts,
		    f) == -1)
			return -1;
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
	if (alias_load(&j->aliases, j->c, j->domain, j->id.fqdn, f) == -1 ||
	    relay_sender(j, o, f) == -1 ||
	    relay_args(args, nargs, &raw, f) == -1)
		goto out;
	hc.now = (long long)time(NULL);
	hc.rnd = rnd;
	hc.fqdn = j->id.fqdn;
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

/* Message source for smtp_send(): the new header, then the body. */
struct source {
	struct job		*j;
	unsigned long long	 off;
};

static ssize_t
relay_read(void *arg, char *buf, size_t n, struct fail *f)
{
	struct source	*s = arg;
	size_t		 hl = s->j->hdr.len;
	ssize_t		 r;

	if (s->off < hl) {
		if (n > hl - s->off)
			n = hl - (size_t)s->off;
		memcpy(buf, s->j->hdr.p + s->off, n);
		s->off += n;
		return (ssize_t)n;
	}
	r = msg_body_read(s->j->m, s->off - hl, buf, n, f);
	if (r > 0)
		s->off += (unsigned long long)r;
	return r;
}

/* From the top again, for a further transaction (over 100 recipients). */
static int
relay_rewind(void *arg, struct fail *f)
{
	(void)f;
	((struct source *)arg)->off = 0;
	return 0;
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
	struct source	 src = { j, 0 };
	struct smtp_source s = { relay_read, relay_rewind, &src };
	struct smtp	*sm;
	int		 r;

	*after_dot = 0;
	if (j->done == NULL && (j->done = calloc(j->rcpts.n, 1)) == NULL)
		return fail_nomem(f);
	if ((sm = relay_connect(j, &so, NULL, f)) == NULL)
		return -1;
	e.from = j->from;
	e.rcpt = j->rcptv;
	e.nrcpt = j->rcpts.n;
	e.done = j->done;	/* retries go only to those still without it */
	e.size = j->hdr.len + j->m->bodylen;
	e.body8bit = j->m->body8bit;
	e.dsn_notify = j->o->dsn_notify;
	e.dsn_ret = j->o->dsn_ret;
	e.dsn_envid = j->o->dsn_envid;
	r = smtp_send(sm, &e, &s, after_dot, f);
	smtp_close(sm);
	return r;
}

static void
relay_log(const struct job *j, int ok, const struct fail *f)
{
	const char	*status = ok ? "sent" : f->ex == EX_TEMPFAIL ?
			    "deferred" : "bounced";
	char		 to[512] = "";
	size_t		 i;

	for (i = 0; i < j->rcpts.n && strlen(to) < sizeof(to) - 1; i++)
		snprintf(to + strlen(to), sizeof(to) - strlen(to), "%s%s",
		    i ? "," : "", j->rcpts.v[i].spec);
	log_mail(ok ? LOGM_INFO : LOGM_WARNING, "from=<%s>, to=<%s>, "
	    "relay=%s[%s]:%d, size=%llu, status=%s (%s)", j->from, to,
	    j->c->host, j->peer.ip[0] ? j->peer.ip : "none", j->c->port,
	    (unsigned long long)j->hdr.len + j->m->bodylen, status,
	    ok ? "250 accepted" : f->reply[0] ? f->reply : f->msg);
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

static int
relay_deliver(struct job *j, struct fail *f)
{
	unsigned int	attempt;
	int		after_dot;

	for (attempt = 0;; attempt++) {
		memset(&j->peer, 0, sizeof(j->peer));
		if (relay_attempt(j, &after_dot, f) == 0) {
			relay_log(j, 1, f);
			return 0;
		}
		relay_log(j, 0, f);
		if (f->ex != EX_TEMPFAIL || f->noretry || after_dot ||
		    attempt >= (unsigned int)j->c->retries)
			break;
		log_info("%s; trying again in %u s", f->msg,
		    backoff[attempt < 1 ? 0 : 1]);
		sleep(backoff[attempt < 1 ? 0 : 1]);
		if (j->stop != NULL && *j->stop) {
			fail_stopped(f, *j->stop);
			break;
		}
	}
	if (after_dot)
		snprintf(f->msg + strlen(f->msg), sizeof(f->msg) -
		    strlen(f->msg), " (after the message was sent: it may "
		    "have been delivered)");
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
	if (relay_prepare(&j, args, nargs, o, f) == -1)
		goto out;
	if (o->body8bit)
		m->body8bit = 1;
	if (c->tls != CONF_TLS_NONE && (j.tls = relay_tls(c, f)) == NULL)
		goto out;
	r = relay_deliver(&j, f);
out:
	relay_job_free(&j);
	return r;
}

/* "~/x" relative to the invoking user's home. */
static int
relay_dead_path(const struct conf *c, char *out, size_t outsz)
{
	const char	*p = c != NULL ? c->dead_letter : "~/dead.letter";
	const char	*home = getenv("HOME");
	struct passwd	*pw;

	if (p == NULL || *p == '\0')
		return -1;
	if (strncmp(p, "~/", 2) != 0) {
		snprintf(out, outsz, "%s", p);
		return 0;
	}
	if ((home == NULL || *home != '/') &&
	    (pw = getpwuid(getuid())) != NULL)
		home = pw->pw_dir;
	if (home == NULL || *home != '/')
		return -1;
	snprintf(out, outsz, "%s/%s", home, p + 2);
	return 0;
}

void
relay_save(const struct conf *c, const struct msg *m, const char *sender,
    const char *reason)
{
	char		path[1200], extra[700];
	struct fail	f;
	struct stat	st;
	int		fd;

	if (relay_dead_path(c, path, sizeof(path)) == -1) {
		log_err("the message was not saved: no dead_letter file "
		    "(set dead_letter or HOME)");
		return;
	}
	/* Never through a symlink, never readable by others (SPEC §4). */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_err("the message could not be saved in %s: %s", path,
		    fd == -1 ? strerror(errno) : "not a regular file");
		if (fd != -1)
			close(fd);
		return;
	}
	snprintf(extra, sizeof(extra), "X-Relaymail-Error: %s", reason);
	if (msg_write_mbox(m, fd, sender != NULL ? sender : "",
	    (long long)time(NULL), extra,
	    &f) == -1 || close(fd) == -1)
		log_err("the message could not be saved in %s: %s", path,
		    f.msg);
	else
		log_err("the message was saved in %s", path);
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
