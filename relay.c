/*
 * relay.c -- one message end to end.
 */
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
	struct alias_db		 aliases;
	struct addrlist		 rcpts;
	const char		**rcptv;
	struct buf		 hdr;		/* fixed-up header */
	struct tls_ctx		*tls;
	char			 helo[300];
	struct net_peer		 peer;
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
	int		 setid = getuid() != geteuid() || getgid() != getegid();

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

static int
relay_sender(struct job *j, const struct relay_opts *o, struct fail *f)
{
	struct addr	a = { 0 };
	int		r = 0;

	if (j->c->rewrite_from == CONF_REWRITE_ALWAYS && j->c->from != NULL)
		j->from = strdup(j->c->from);
	else if (o->sender != NULL) {
		if (addr_parse_path(o->sender, &a, f) == -1)
			return -1;
		/* -f root, -f root@localhost: never out bare (SPEC §2.2) */
		if (*a.spec != '\0' && alias_is_local(&j->aliases, a.spec))
			a.spec[strcspn(a.spec, "@")] = '\0';
		j->from = relay_qualify(a.spec, strchr(a.spec, '@') != NULL,
		    j->domain);
		addr_free(&a);
	} else if (j->c->from != NULL)
		j->from = strdup(j->c->from);
	else
		j->from = relay_qualify(j->id.user, 0, j->domain);
	if (j->from == NULL)
		return fail_nomem(f);
	if (*j->from != '\0')
		r = addr_check_path(j->from, f);
	return r;
}

/* Command-line recipients: each argument an address list (SPEC §1). */
static int
relay_args(char *const *args, size_t nargs, struct addrlist *out,
    struct fail *f)
{
	size_t	i;

	for (i = 0; i < nargs; i++)
		if (addr_parse_list(args[i], strlen(args[i]), out, f) == -1)
			return fail_set(f, EX_USAGE, "recipient argument "
			    "\"%.80s\": %s", args[i], f->msg);
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
	hc.from_addr = j->c->from;
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
	struct mime_caps mc = { 0 };
	struct mime_plan p;

	mc.eightbit = sc->eightbitmime;
	mc.smtputf8 = sc->smtputf8;
	mc.env8bit = relay_env8bit(j);
	if ((src->mx = mime_open(j->hdr.p, j->hdr.len, j->m, f)) == NULL)
		return -1;
	if (mime_prepare(src->mx, &mc, &p, f) == -1) {
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

static struct smtp *
relay_connect(struct job *j, struct smtp_opts *so, struct fail *f)
{
	int	fd;

	fd = net_connect(j->c->host, j->c->port, j->c->timeout * 1000,
	    &j->peer, j->stop, f);
	if (fd == -1)
		return NULL;
	relay_helo(j, fd);
	relay_smtp_opts(j, so);
	return smtp_open(fd, so, f);
}

static int
relay_attempt(struct job *j, int *after_dot, struct fail *f)
{
	struct smtp_opts so;
	struct smtp_env	 e = { 0 };
	struct source	 src = { NULL };
	struct smtp_source s = { relay_read, &src };
	struct smtp	*sm;
	int		 r = -1;

	*after_dot = 0;
	if ((sm = relay_connect(j, &so, f)) == NULL)
		return -1;
	e.from = j->from;
	e.rcpt = j->rcptv;
	e.nrcpt = j->rcpts.n;
	e.dsn_notify = j->o->dsn_notify;
	e.dsn_ret = j->o->dsn_ret;
	e.dsn_envid = j->o->dsn_envid;
	if (relay_mime(j, sm, &src, &e, f) == 0)
		r = smtp_send(sm, &e, &s, after_dot, f);
	smtp_close(sm);
	mime_close(src.mx);
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
	free(j->rcptv);
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

	printf("%-12s ", step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int
relay_check(const struct conf *c, struct fail *f)
{
	struct job	 j = { 0 };
	struct smtp_opts so;
	struct smtp	*sm = NULL;
	char		 info[700], pin[80];
	int		 r = -1;

	j.c = c;
	relay_ident(c, NULL, &j.id);
	relay_report("smarthost:", "%s port %d, tls = %s", c->host, c->port,
	    c->tls == CONF_TLS_STARTTLS ? "starttls" :
	    c->tls == CONF_TLS_IMPLICIT ? "tls" : "none");
	if (c->tls != CONF_TLS_NONE && (j.tls = relay_tls(c, f)) == NULL)
		goto out;
	if ((sm = relay_connect(&j, &so, f)) == NULL)
		goto out;
	relay_report("connected:", "%s[%s]:%d as %s", c->host, j.peer.ip,
	    c->port, j.helo);
	if (smtp_tls_info(sm, info, sizeof(info), pin, sizeof(pin)) == 0)
		relay_report("tls:", "%s; public key %s", info, pin);
	else
		relay_report("tls:", "none (plaintext)");
	if (smtp_auth_used(sm) != NULL)
		relay_report("auth:", "%s accepted for %s", smtp_auth_used(sm),
		    c->user);
	else
		relay_report("auth:", "not used");
	relay_report("result:", "ok: a message would be accepted for "
	    "relaying");
	r = 0;
out:
	if (r == -1)
		relay_report("result:", "FAILED: %s", f->msg);
	smtp_close(sm);
	tls_ctx_free(j.tls);
	return r;
}
