/*
 * sendmail.c -- relaymail's main: the name it is called by, the sendmail
 * command line, the privilege sequence, and the only exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "alias.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "priv.h"
#include "relay.h"
#include "serve.h"
#include "util.h"

#ifndef RELAYMAIL_VERSION
#define RELAYMAIL_VERSION	"0.1"
#endif

/*
 * The signal that asked us to stop, or 0.  The one piece of mutable
 * global state outside log.c: a signal handler has nowhere else to put
 * it.  Everything that waits is handed a pointer to it.
 */
static util_stop_t	stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

/*
 * SIGTERM, SIGINT, SIGHUP: finish the current wait, never send the final
 * dot, keep the message, exit 75 (SPEC §4).  No SA_RESTART, so a blocked
 * read or poll returns at once.  SIGPIPE: a closed connection or stderr
 * is an error return, not death.
 */
static void
signals_init(void)
{
	struct sigaction sa;
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	size_t		 i;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

enum mode {
	MODE_DELIVER,		/* -bm */
	MODE_QUEUE,		/* -bp, mailq */
	MODE_ALIASES,		/* -bi, -I, newaliases */
	MODE_SERVE,		/* -bs */
	MODE_VERIFY,		/* -bv */
	MODE_RUNQ,		/* -q: there is no queue */
	MODE_HELP,
	MODE_VERSION,
	MODE_CHECK
};

struct opts {
	enum mode	 mode;
	int		 extract;
	int		 ignore_dots;
	int		 verbose;
	int		 body8bit;
	const char	*sender;
	const char	*fullname;
	const char	*config;
	const char	*tag;
	const char	*dsn_notify;
	const char	*dsn_ret;
	const char	*envid;
	char		**rcpt;
	size_t		 nrcpt;
};

enum argkind {
	ARG_NONE,	/* a flag: -t */
	ARG_REQ,	/* glued or the next word: -fADDR, -f ADDR */
	ARG_GLUED	/* optional, glued only: -q30m, -d0.1 (as sendmail) */
};

typedef int	(*opt_fn)(struct opts *, const char *, struct fail *);

struct option {
	char		 c;
	enum argkind	 arg;
	opt_fn		 fn;
};

static int
opt_ignore(struct opts *o, const char *a, struct fail *f)
{
	(void)o;
	(void)a;
	(void)f;
	return 0;
}

static int
opt_t(struct opts *o, const char *a, struct fail *f)
{
	(void)a;
	(void)f;
	o->extract = 1;
	return 0;
}

static int
opt_i(struct opts *o, const char *a, struct fail *f)
{
	(void)a;
	(void)f;
	o->ignore_dots = 1;
	return 0;
}

static int
opt_v(struct opts *o, const char *a, struct fail *f)
{
	(void)a;
	(void)f;
	o->verbose = 1;
	return 0;
}

static int
opt_I(struct opts *o, const char *a, struct fail *f)
{
	(void)a;
	(void)f;
	o->mode = MODE_ALIASES;
	return 0;
}

static int
opt_q(struct opts *o, const char *a, struct fail *f)
{
	(void)a;
	(void)f;
	o->mode = MODE_RUNQ;
	return 0;
}

/* -f and -r: the envelope sender; CR/LF would forge a second command
 * (PITFALLS.md: msmtp's -f injection). */
static int
opt_f(struct opts *o, const char *a, struct fail *f)
{
	if (strpbrk(a, "\r\n") != NULL)
		return fail_set(f, EX_USAGE, "-f: line break in the address");
	o->sender = a;
	return 0;
}

static int
opt_F(struct opts *o, const char *a, struct fail *f)
{
	if (strpbrk(a, "\r\n") != NULL)
		return fail_set(f, EX_USAGE, "-F: line break in the name");
	o->fullname = a;
	return 0;
}

static int
opt_C(struct opts *o, const char *a, struct fail *f)
{
	(void)f;
	o->config = a;
	return 0;
}

static int
opt_L(struct opts *o, const char *a, struct fail *f)
{
	(void)f;
	o->tag = a;
	return 0;
}

/* -b: the operation mode (sendmail(8), Postfix sendmail(1)). */
static int
opt_b(struct opts *o, const char *a, struct fail *f)
{
	static const struct {
		const char	*name;
		enum mode	 mode;
	} modes[] = {
		{ "m", MODE_DELIVER }, { "p", MODE_QUEUE },
		{ "i", MODE_ALIASES }, { "s", MODE_SERVE },
		{ "v", MODE_VERIFY },
	};
	size_t	i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(a, modes[i].name) == 0) {
			o->mode = modes[i].mode;
			return 0;
		}
	return fail_set(f, EX_USAGE, "-b%s: relaymail has no such mode (it "
	    "has -bm, -bp, -bi, -bs, -bv)", a);
}

static int
opt_B(struct opts *o, const char *a, struct fail *f)
{
	if (util_strcasecmp(a, "8BITMIME") == 0)
		o->body8bit = 1;
	else if (util_strcasecmp(a, "7BIT") != 0)
		return fail_set(f, EX_USAGE, "-B %s: the body type is 7BIT or "
		    "8BITMIME", a);
	return 0;
}

/* -N: never, or a list of success, failure, delay (RFC 3461 §4.1). */
static int
opt_N(struct opts *o, const char *a, struct fail *f)
{
	static const char *const words[] = { "success", "failure", "delay" };
	const char	*p = a;
	size_t		 k, i;

	if (util_strcasecmp(a, "never") == 0) {
		o->dsn_notify = a;
		return 0;
	}
	if (*a == '\0' || a[strlen(a) - 1] == ',')
		return fail_set(f, EX_USAGE, "-N %s: use never, or "
		    "success,failure,delay", a);
	while (*p != '\0') {
		k = strcspn(p, ",");
		for (i = 0; i < 3; i++)
			if (k == strlen(words[i]) &&
			    util_strncasecmp(p, words[i], k) == 0)
				break;
		if (i == 3)
			return fail_set(f, EX_USAGE, "-N %s: use never, or "
			    "success,failure,delay", a);
		p += k + (p[k] == ',');
	}
	o->dsn_notify = a;
	return 0;
}

static int
opt_R(struct opts *o, const char *a, struct fail *f)
{
	if (util_strcasecmp(a, "full") != 0 && util_strcasecmp(a, "hdrs") != 0)
		return fail_set(f, EX_USAGE, "-R %s: use full or hdrs", a);
	o->dsn_ret = a;
	return 0;
}

static int
opt_V(struct opts *o, const char *a, struct fail *f)
{
	(void)f;
	o->envid = a;
	return 0;
}

/* -oi / -o i: ignore dots; every other -o option is sendmail's
 * queue or error-mode tuning, meaningless without a queue. */
static int
opt_o(struct opts *o, const char *a, struct fail *f)
{
	(void)f;
	if (strcmp(a, "i") == 0)
		o->ignore_dots = 1;
	return 0;
}

/* -O IgnoreDots[=value]: sendmail 8's long form of -oi; a value of
 * true, yes or 1 (or none) turns it on, anything else leaves it. */
static int
opt_O(struct opts *o, const char *a, struct fail *f)
{
	size_t	k = strcspn(a, "=");

	(void)f;
	if (k == 10 && util_strncasecmp(a, "IgnoreDots", 10) == 0 &&
	    (a[k] == '\0' || (a[k + 1] != '\0' &&
	    strchr("TtYy1", a[k + 1]) != NULL)))
		o->ignore_dots = 1;
	return 0;
}

/*
 * -d: sendmail's debug flags ("-d0-99.1", "-dANSI"), ignored.  They never
 * hold an address: "-dash@example.com" is a recipient that needed "--"
 * in front of it, and dropping it silently would lose that recipient.
 */
static int
opt_d(struct opts *o, const char *a, struct fail *f)
{
	(void)o;
	if (strpbrk(a, "@<>") != NULL)
		return fail_set(f, EX_USAGE, "-d%.60s: not sendmail debug "
		    "flags (put \"--\" before a recipient that starts with "
		    "'-')", a);
	return 0;
}

/*
 * Every option of sendmail 8 and Postfix's sendmail (SPEC §1), with the
 * arity of their getopt strings ("A:B:b:C:cD:d:e:F:f:Gh:IiL:M:mN:nO:o:
 * p:Q:q:R:r:sTtV:vX:" and "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:
 * tvx"); -d and -q take only a glued value, as sendmail's obsolete()
 * arranges.  The ignored ones are accepted because real callers pass
 * them; an option outside this table is refused, since guessing whether
 * it takes an argument could send mail to the wrong address.
 */
static const struct option options[] = {
	{ 'A', ARG_REQ, opt_ignore },	/* -Ac/-Am: submit.cf choice */
	{ 'B', ARG_REQ, opt_B },
	{ 'C', ARG_REQ, opt_C },
	{ 'D', ARG_REQ, opt_ignore },	/* debug log file */
	{ 'F', ARG_REQ, opt_F },
	{ 'G', ARG_NONE, opt_ignore },	/* gateway submission */
	{ 'I', ARG_NONE, opt_I },	/* = newaliases */
	{ 'L', ARG_REQ, opt_L },
	{ 'M', ARG_REQ, opt_ignore },	/* macro definition */
	{ 'N', ARG_REQ, opt_N },
	{ 'O', ARG_REQ, opt_O },
	{ 'Q', ARG_REQ, opt_ignore },	/* quarantine reason */
	{ 'T', ARG_NONE, opt_ignore },	/* old: queue timeout */
	{ 'R', ARG_REQ, opt_R },
	{ 'U', ARG_NONE, opt_ignore },	/* initial user submission */
	{ 'V', ARG_REQ, opt_V },
	{ 'X', ARG_REQ, opt_ignore },	/* traffic log: never written */
	{ 'b', ARG_REQ, opt_b },
	{ 'c', ARG_NONE, opt_ignore },	/* old: hold expensive connections */
	{ 'd', ARG_GLUED, opt_d },	/* debug flags */
	{ 'e', ARG_REQ, opt_ignore },	/* old form of -oe */
	{ 'f', ARG_REQ, opt_f },
	{ 'h', ARG_REQ, opt_ignore },	/* hop count */
	{ 'i', ARG_NONE, opt_i },
	{ 'm', ARG_NONE, opt_ignore },	/* me too: always */
	{ 'n', ARG_NONE, opt_ignore },	/* no aliasing */
	{ 'o', ARG_REQ, opt_o },
	{ 'p', ARG_REQ, opt_ignore },	/* protocol:host */
	{ 'q', ARG_GLUED, opt_q },
	{ 'r', ARG_REQ, opt_f },
	{ 's', ARG_NONE, opt_ignore },	/* old: save From lines */
	{ 't', ARG_NONE, opt_t },
	{ 'v', ARG_NONE, opt_v },
	{ 'x', ARG_NONE, opt_ignore },	/* Postfix: ignored */
};

static const struct option *
opt_find(char c)
{
	size_t	i;

	for (i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (options[i].c == c)
			return &options[i];
	return NULL;
}

static int
opt_long(struct opts *o, const char *a, struct fail *f)
{
	static const struct {
		const char	*name;
		enum mode	 mode;
	} longs[] = {
		{ "--help", MODE_HELP }, { "--version", MODE_VERSION },
		{ "--check", MODE_CHECK },
	};
	size_t	i;

	for (i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
		if (strcmp(a, longs[i].name) == 0) {
			o->mode = longs[i].mode;
			return 0;
		}
	return fail_set(f, EX_USAGE, "unknown option %s (see relaymail "
	    "--help)", a);
}

/* One word of clustered options (-ti, -FCronDaemon, -tf root); *i is
 * advanced past a separate argument. */
static int
opt_word(struct opts *o, int argc, char **argv, int *i, struct fail *f)
{
	const struct option *op;
	const char	*p = argv[*i] + 1, *arg;

	for (; *p != '\0'; p++) {
		if ((op = opt_find(*p)) == NULL)
			return fail_set(f, EX_USAGE, "unknown option -%c (see "
			    "relaymail --help)", *p);
		if (op->arg == ARG_NONE) {
			if (op->fn(o, NULL, f) == -1)
				return -1;
			continue;
		}
		arg = p + 1;
		if (*arg == '\0' && op->arg == ARG_REQ) {
			if (*i + 1 >= argc)
				return fail_set(f, EX_USAGE, "option -%c needs "
				    "an argument", *p);
			arg = argv[++*i];
		}
		return op->fn(o, arg, f);
	}
	return 0;
}

/* Options stop at "--" or the first recipient, so a recipient that
 * starts with '-' after "--" is never taken for an option. */
static int
opt_parse(struct opts *o, int argc, char **argv, struct fail *f)
{
	int	i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			break;
		if (argv[i][1] == '-' && opt_long(o, argv[i], f) == -1)
			return -1;
		if (argv[i][1] != '-' && opt_word(o, argc, argv, &i, f) == -1)
			return -1;
	}
	o->rcpt = argv + i;
	o->nrcpt = (size_t)(argc - i);
	return 0;
}

/* mailq = -bp, newaliases = -bi, anything else is sendmail. */
static enum mode
mode_by_name(const char *argv0)
{
	const char	*base = strrchr(argv0, '/');

	base = base != NULL ? base + 1 : argv0;
	if (strcmp(base, "mailq") == 0)
		return MODE_QUEUE;
	if (strcmp(base, "newaliases") == 0)
		return MODE_ALIASES;
	return MODE_DELIVER;
}

/* --help: every option, in the order of relaymail(8). */
static void
usage_help(void)
{
	printf("usage: sendmail [options] [--] [recipient ...] < message\n"
	    "       mailq | newaliases | relaymail --check\n"
	    "Relay one message to the smarthost configured in %s.\n"
	    "Each recipient argument is an address list (\"alice,ops@x\");"
	    " with none,\nthe recipients come from To, Cc and Bcc.\n\n"
	    "  -t             also take recipients from To, Cc, Bcc (or "
	    "Resent-*)\n"
	    "  -i, -oi, -o i, -O IgnoreDots\n"
	    "                 a lone '.' line does not end the message (it "
	    "never does\n"
	    "                 when stdin is not a terminal)\n"
	    "  -f ADDR, -r ADDR  envelope sender; '<>' or '' for the null "
	    "sender\n"
	    "  -F NAME        full name for a From header relaymail adds\n"
	    "  -B TYPE        body type 7BIT or 8BITMIME (BODY=)\n"
	    "  -N DSN         never, or success,failure,delay (DSN NOTIFY=)\n"
	    "  -R RET         full or hdrs (DSN RET=)\n"
	    "  -V ENVID       DSN ENVID=\n"
	    "  -C FILE        another configuration file\n"
	    "  -L TAG         syslog tag\n"
	    "  -v             show the SMTP dialogue on stderr (secrets "
	    "redacted)\n"
	    "  -bm            deliver the message (the default)\n"
	    "  -bp            print \"Mail queue is empty\": there is no "
	    "queue (= mailq)\n"
	    "  -bi, -I        check the aliases file; nothing to rebuild "
	    "(= newaliases)\n"
	    "  -bs            speak SMTP on stdin and stdout\n"
	    "  -bv            print what each recipient resolves to; send "
	    "nothing\n"
	    "  -q[TIME]       no queue to run: exit 0\n"
	    "  -o X, -O OPT=VALUE, -h HOPS, -A X, -D FILE, -M X, -Q X, -X FILE,"
	    "\n"
	    "  -e X, -p X, -d[X], -U, -m, -n, -G, -c, -s, -T, -x\n"
	    "                 accepted for sendmail and Postfix and ignored "
	    "(-X never\n"
	    "                 writes a file)\n"
	    "  --             end of options: a recipient may start with '-'\n"
	    "  --check        connect, TLS, verify, AUTH, QUIT: send nothing\n"
	    "  --help, --version  this text, the version\n\n"
	    "Any other option is an error (exit 64).  Exit status: "
	    "sysexits(3); on failure\nthe message is kept in ~/dead.letter. "
	    " See relaymail(8).\n", CONF_PATH);
}

/* Read the message and keep it: a failure must never lose it. */
static void
keep_message(const struct conf *c, int dot_ends, const char *why)
{
	struct msg	m;
	struct fail	f;

	msg_init(&m);
	m.stop = &stop_signal;
	if (msg_read(&m, STDIN_FILENO, dot_ends, &f) == -1)
		log_err("%s", f.msg);
	if (m.inbytes > 0)
		relay_save(c, &m, NULL, why);
	msg_free(&m);
}

static int
run_quick(const struct opts *o)
{
	switch (o->mode) {
	case MODE_HELP:
		usage_help();
		return EX_OK;
	case MODE_VERSION:
		printf("relaymail %s\n", RELAYMAIL_VERSION);
		return EX_OK;
	case MODE_QUEUE:
		printf("Mail queue is empty\n");
		return EX_OK;
	default:	/* -q: no queue */
		return EX_OK;
	}
}

/*
 * -bs: SMTP on stdin/stdout, after the privilege drop.  The envelope of
 * each message is the client's MAIL and RCPT; -F, -B and the DSN options
 * apply to every message.  Exit 0 after QUIT (each message's outcome
 * went to the client in its reply), 75 when the client left in the
 * middle of a message.
 */
static int
run_serve(const struct opts *o, const struct conf *c)
{
	struct relay_opts ro = { 0 };
	struct serve_conf sc = { 0 };
	struct fail	 f;

	if (o->nrcpt > 0 || o->extract)
		log_warn("-bs: the client names the recipients with RCPT TO; "
		    "recipients and -t on the command line are ignored");
	ro.fullname = o->fullname;
	ro.body8bit = o->body8bit;
	ro.stop = &stop_signal;
	ro.dsn_notify = o->dsn_notify;
	ro.dsn_ret = o->dsn_ret;
	ro.dsn_envid = o->envid;
	sc.conf = c;
	sc.relay = &ro;
	sc.stop = &stop_signal;
	if (serve_run(&sc, STDIN_FILENO, STDOUT_FILENO, &f) == 0)
		return EX_OK;
	log_err("%s", f.msg);
	return f.ex;
}

static int
run_deliver(const struct opts *o, const struct conf *c)
{
	struct relay_opts ro = { 0 };
	struct msg	 m;
	struct fail	 f;
	int		 dot_ends = isatty(STDIN_FILENO) && !o->ignore_dots;
	int		 ex = EX_OK;

	msg_init(&m);
	m.stop = &stop_signal;
	if (msg_read(&m, STDIN_FILENO, dot_ends, &f) == -1) {
		log_err("%s", f.msg);
		relay_save(c, &m, NULL, f.msg);
		msg_free(&m);
		return f.ex;
	}
	ro.extract = o->extract;
	ro.sender = o->sender;
	ro.fullname = o->fullname;
	ro.body8bit = o->body8bit;
	ro.stop = &stop_signal;
	ro.dsn_notify = o->dsn_notify;
	ro.dsn_ret = o->dsn_ret;
	ro.dsn_envid = o->envid;
	ro.keep = 1;
	if (relay_message(c, &m, o->rcpt, o->nrcpt, &ro, &f) == -1)
		ex = f.ex;
	msg_free(&m);
	return ex;
}

/*
 * -bi, newaliases: there is no database to rebuild, but the aliases file
 * is checked, so that a mistake shows now rather than at the next cron
 * job's mail.
 */
static int
run_aliases(const struct conf *c)
{
	struct alias_db	db;
	struct fail	f;
	int		ex = EX_OK;

	if (c->aliases == NULL || *c->aliases == '\0')
		return EX_OK;
	if (alias_load(&db, c, c->domain, NULL, &f) == -1 ||
	    alias_check(&db, &f) == -1) {
		log_err("%s", f.msg);
		ex = f.ex;
	} else
		printf("%s: %zu aliases\n", c->aliases, db.n - c->nalias);
	alias_free(&db);
	return ex;
}

static int
run(const struct opts *o)
{
	struct conf	c;
	struct fail	f;
	int		ex, dot_ends = isatty(STDIN_FILENO) && !o->ignore_dots;

	if (conf_defaults(&c, &f) == -1 ||
	    priv_load_config(&c, o->config, &f) == -1) {
		/* newaliases runs from package scripts on hosts not yet
		 * configured: without a configuration there is nothing to
		 * check, which must not fail an install. */
		if (o->mode == MODE_ALIASES && f.ex == EX_CONFIG) {
			log_warn("newaliases: nothing to check (%s)", f.msg);
			conf_free(&c);
			return EX_OK;
		}
		log_err("%s", f.msg);
		if (o->mode == MODE_DELIVER && f.ex != EX_OSERR)
			keep_message(NULL, dot_ends, f.msg);
		if (o->mode == MODE_SERVE)
			serve_refuse(STDOUT_FILENO, f.msg);
		conf_free(&c);
		return f.ex;
	}
	log_set_syslog(c.syslog);
	if (o->mode == MODE_ALIASES)
		ex = run_aliases(&c);
	else if (o->mode == MODE_CHECK)
		ex = relay_check(&c, &f) == 0 ? EX_OK : f.ex;
	else if (o->mode == MODE_DELIVER)
		ex = run_deliver(o, &c);
	else if (o->mode == MODE_VERIFY) {
		ex = relay_verify(&c, o->rcpt, o->nrcpt, &f) == 0 ? EX_OK :
		    f.ex;
		if (ex != EX_OK)
			log_err("%s", f.msg);
	} else
		ex = run_serve(o, &c);
	conf_free(&c);
	return ex;
}

int
main(int argc, char **argv)
{
	struct opts	o = { 0 };
	struct fail	f;
	int		ex;

	priv_init();
	signals_init();
	o.mode = mode_by_name(argc > 0 ? argv[0] : "sendmail");
	/* A usage error leaves stdin unread, as in sendmail: reading
	 * it could hang a caller that never closes it. */
	if (opt_parse(&o, argc, argv, &f) == -1) {
		log_err("%s", f.msg);
		return EX_USAGE;
	}
	log_init(o.tag, 1, o.verbose);
	if (o.mode == MODE_HELP || o.mode == MODE_VERSION ||
	    o.mode == MODE_QUEUE || o.mode == MODE_RUNQ) {
		if (priv_drop(&f) == -1) {
			log_err("%s", f.msg);
			return f.ex;
		}
		return run_quick(&o);
	}
	ex = run(&o);
	fflush(stdout);
	exit(ex);
}
