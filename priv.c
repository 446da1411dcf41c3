/*
 * priv.c -- the privilege sequence of SPEC §6.
 *
 * relaymail is installed setgid relaymail so that any local user can
 * send mail with a password none of them can read (root:relaymail 0640).
 * Everything done with that group lives here, in this order: harden the
 * process (priv_init), open and check the configuration once, load the
 * secret (password, password_file or password_command), then drop the
 * group for good (priv_drop) -- before the message is read, before any
 * file the caller names is opened, before anything is written.
 *
 * While set-id the caller's environment is not trusted: RELAYMAIL_* is
 * not applied, libconfuse's ${VAR} expansion sees an empty environment,
 * and password_command runs with a fixed one.  OpenSSL and tls.c use
 * secure_getenv for SSL_CERT_FILE, SSL_CERT_DIR and OPENSSL_CONF, which
 * stays NULL for the whole life of a set-id process (AT_SECURE); TMPDIR
 * and HOME are read only after the drop (msg.c, relay.c), when they can
 * only name what the caller could open anyway.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "priv.h"
#include "util.h"

/* The longest secret: an OAuth access token (a JWT from Microsoft's
 * identity platform) runs to a few kilobytes. */
#define SECRET_MAX	8192
#define PEM_MAX		(256 * 1024)	/* a certificate chain or a key */

/* What password_command may print in all before it is stopped. */
#define CMD_OUT_MAX	(64 * 1024)

#define PRIV_SHELL	"/bin/sh"
#define PRIV_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:" \
			"/sbin:/bin"

extern char	**environ;

void
priv_init(void)
{
	struct rlimit	rl = { 0, 0 };
	int		fd;

	/* A closed 0-2 would let a later open() become stdout/stderr. */
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	umask(077);
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int
priv_setid(void)
{
	return getuid() != geteuid() || getgid() != getegid();
}

int
priv_drop(struct fail *f)
{
	gid_t	r, e, s, g = getgid();

	if (getegid() == g)
		return 0;
	/* setegid alone keeps the saved gid (PITFALLS.md) */
	if (setresgid(g, g, g) == -1 || getresgid(&r, &e, &s) == -1 ||
	    r != g || e != g || s != g)
		return fail_set(f, EX_OSERR, "cannot drop the relaymail "
		    "group: %s", strerror(errno));
	return 0;
}

/*
 * A file holding secrets: while privileged it must be root's and
 * writable by nobody else.  1 when every local user can read it, 0 when
 * not, -1 on failure.
 */
static int
priv_check_file(int fd, const char *path, int setid, struct fail *f)
{
	struct stat	st;

	if (fstat(fd, &st) == -1)
		return fail_set(f, EX_CONFIG, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail_set(f, EX_CONFIG, "%s: not a regular file", path);
	if (setid && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))))
		return fail_set(f, EX_CONFIG, "%s: must be owned by root and "
		    "writable only by root (chown root:relaymail; chmod "
		    "0640)", path);
	return (st.st_mode & S_IROTH) ? 1 : 0;
}

/*
 * A secret every local user can read: a warning for the caller's own
 * files, an error while set-id, where keeping it from them is the whole
 * point of the group (SPEC §6).
 */
static int
priv_readable(const char *path, int setid, struct fail *f)
{
	if (setid)
		return fail_set(f, EX_CONFIG, "%s holds a secret and can be "
		    "read by every local user: chown root:relaymail and "
		    "chmod 0640", path);
	log_warn("%s holds a secret and can be read by every local user: "
	    "chmod 0600 (or 0640 with the group relaymail)", path);
	return 0;
}

static int
priv_open(const char *path, struct fail *f)
{
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return fail_set(f, EX_CONFIG, "cannot open %s: %s", path,
		    strerror(errno));
	return fd;
}

/*
 * The secret is the first line of buf (len octets, more when there was
 * output beyond it), without its line ending; buf is wiped either way.
 * what names the source in messages.
 */
static int
priv_take_line(struct conf *c, char *buf, size_t len, int more,
    const char *what, int ex, struct fail *f)
{
	size_t	n;
	int	r = 0;

	buf[len] = '\0';
	n = strcspn(buf, "\n");
	if (n == len && more)
		r = fail_set(f, EX_CONFIG, "%s: the first line is longer than "
		    "%d octets", what, SECRET_MAX);
	else {
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		buf[n] = '\0';
		if (n == 0)
			r = fail_set(f, ex, "%s: the first line is empty; the "
			    "password or token must be on it", what);
		else if (conf_setsecret(c, buf, f) == -1)
			r = -1;
	}
	util_wipe(buf, SECRET_MAX + 1);
	return r;
}

/* password_file: the first line, exactly (no line ending). */
static int
priv_read_secret(struct conf *c, int setid, struct fail *f)
{
	char	buf[SECRET_MAX + 1], more;
	ssize_t	n = 0;
	size_t	len = 0;
	int	fd, rd;

	if ((fd = priv_open(c->password_file, f)) == -1)
		return -1;
	if ((rd = priv_check_file(fd, c->password_file, setid, f)) == -1 ||
	    (rd == 1 && priv_readable(c->password_file, setid, f) == -1)) {
		close(fd);
		return -1;
	}
	while (len < SECRET_MAX && (n = read(fd, buf + len,
	    SECRET_MAX - len)) > 0)
		len += (size_t)n;
	if (n != -1 && len == SECRET_MAX)
		n = read(fd, &more, 1);
	close(fd);
	if (n == -1) {
		util_wipe(buf, sizeof(buf));
		return fail_set(f, EX_CONFIG, "%s: %s", c->password_file,
		    strerror(errno));
	}
	return priv_take_line(c, buf, len, len == SECRET_MAX && n == 1,
	    c->password_file, EX_CONFIG, f);
}

/*
 * The whole of a PEM file, for OpenSSL to parse from memory later: it
 * opens files only after priv_drop(), when a file readable by
 * root:relaymail alone (the right mode for a client key) is no longer.
 * A key is a secret, checked as password_file is; a certificate need
 * only be a regular file.  The buffer is read to its final size first,
 * so no copy of a key is left behind by realloc().
 */
static int
priv_read_pem(const char *what, const char *path, int secret, int setid,
    char **out, size_t *outlen, struct fail *f)
{
	struct stat	st;
	char		*p = NULL, more;
	size_t		 len = 0, cap = 0;
	ssize_t		 n = 0;
	int		 fd, rd = 0, r = -1;

	if ((fd = priv_open(path, f)) == -1)
		return -1;
	if (secret && ((rd = priv_check_file(fd, path, setid, f)) == -1 ||
	    (rd == 1 && priv_readable(path, setid, f) == -1)))
		goto out;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		fail_set(f, EX_CONFIG, "%s %s: not a regular file", what, path);
		goto out;
	}
	if (st.st_size > PEM_MAX) {
		fail_set(f, EX_CONFIG, "%s %s: larger than %d octets; is it "
		    "a PEM file?", what, path, PEM_MAX);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	if ((p = malloc(cap)) == NULL) {
		fail_nomem(f);
		goto out;
	}
	while (len + 1 < cap && (n = read(fd, p + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	if (n == -1 || (n = read(fd, &more, 1)) == -1) {
		fail_set(f, EX_CONFIG, "%s %s: %s", what, path,
		    strerror(errno));
		goto out;
	}
	if (n != 0 || len + 1 != cap) {
		fail_set(f, EX_CONFIG, "%s %s: changed while it was read",
		    what, path);
		goto out;
	}
	p[len] = '\0';
	*out = p;
	*outlen = len;
	p = NULL;
	r = 0;
out:
	if (p != NULL) {
		util_wipe(p, cap);
		free(p);
	}
	close(fd);
	return r;
}

/* tls_cert_file and tls_key_file, while their files can still be read. */
static int
priv_read_tls(struct conf *c, int setid, struct fail *f)
{
	if (c->tls_cert_file == NULL || c->tls_key_file == NULL)
		return 0;	/* tls.c names the missing half */
	if (priv_read_pem("tls_cert_file", c->tls_cert_file, 0, setid,
	    &c->tls_cert_pem, &c->tls_cert_pem_len, f) == -1)
		return -1;
	return priv_read_pem("tls_key_file", c->tls_key_file, 1, setid,
	    &c->tls_key_pem, &c->tls_key_pem_len, f);
}

/* Milliseconds on a clock nobody can set back. */
static long long
priv_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The environment of password_command.  While set-id it is fixed:
 * whatever the caller could put there (PATH, IFS, HOME and its
 * dotfiles, GNUPGHOME, LD_*, interpreter search paths) would steer a
 * command that holds the relaymail group.  Run by the caller's own
 * rights it is the caller's environment, which is theirs to trust (pass
 * and gpg find the key store through HOME and GNUPGHOME, cloud CLIs
 * their credentials through their own variables), less RELAYMAIL_*:
 * RELAYMAIL_PASSWORD is a secret the command has no use for.
 */
static char **
priv_child_env(int setid)
{
	static char	*fixed[] = {
		"PATH=" PRIV_PATH, "HOME=/", "SHELL=" PRIV_SHELL, "LC_ALL=C",
		NULL
	};
	char		**env, **e;
	size_t		  n = 0;

	if (setid)
		return fixed;
	for (e = environ; *e != NULL; e++)
		n++;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return NULL;
	for (n = 0, e = environ; *e != NULL; e++)
		if (strncmp(*e, "RELAYMAIL_", 10) != 0)
			env[n++] = *e;
	return env;
}

/* Close every descriptor above 2: the command gets only its stdio. */
static void
priv_closefrom(void)
{
	long	fd, max = sysconf(_SC_OPEN_MAX);

#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	if (close_range(3, ~0U, 0) == 0)
		return;
#endif
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		close((int)fd);
}

/*
 * In the child: its own process group (so a timeout can kill whatever
 * the shell started), stdin from /dev/null (the message is the caller's
 * stdin and never the command's), stdout the pipe, stderr the caller's
 * only when unprivileged (a failing helper under the group could print
 * what the caller must not see), cwd "/" (the caller's directory is
 * theirs to fill), SIGPIPE back to its default.  While set-id the real
 * and saved gids become relaymail too: bash and dash drop a set-id
 * group they are started with, and with all three gids the caller's
 * own the kernel still denies the caller ptrace and /proc/PID/mem of
 * the command (the gids differ from theirs).
 */
static void
priv_child(const char *cmd, int out, int setid, char **env)
{
	char	*argv[] = { "sh", "-c", (char *)cmd, NULL };
	int	 null = open("/dev/null", O_RDWR);
	gid_t	 g = getegid();

	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	if ((setid && setresgid(g, g, g) == -1) || null == -1 ||
	    dup2(null, STDIN_FILENO) == -1 ||
	    dup2(out, STDOUT_FILENO) == -1 ||
	    (setid && dup2(null, STDERR_FILENO) == -1) || chdir("/") == -1)
		_exit(126);
	priv_closefrom();
	execve(PRIV_SHELL, argv, env);
	_exit(127);
}

/*
 * Wait for pid until deadline (priv_now() milliseconds); past it, kill
 * its process group.  0 with *status, or -1 when it had to be killed.
 */
static int
priv_reap(pid_t pid, long long deadline, int *status)
{
	struct timespec	ts = { 0, 10 * 1000 * 1000 };
	pid_t		r;

	while ((r = waitpid(pid, status, WNOHANG)) == 0 ||
	    (r == -1 && errno == EINTR)) {
		if (priv_now() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) == -1 && errno == EINTR)
				;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

/*
 * Read the command's output until EOF or the deadline: the first
 * SECRET_MAX octets into buf, the rest (up to CMD_OUT_MAX) read and
 * wiped, so a helper that prints more than a token does not block on a
 * full pipe.  0 at EOF, -1 at the deadline, -2 past CMD_OUT_MAX.
 */
static int
priv_collect(int fd, long long deadline, char *buf, size_t *len, int *more)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };
	char		scratch[512];
	size_t		total = 0;
	long long	left;
	ssize_t		n;
	int		r;

	*len = 0;
	*more = 0;
	for (;;) {
		if ((left = deadline - priv_now()) <= 0)
			return -1;
		r = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
		if (r == -1 && errno != EINTR)
			return 0;
		if (r <= 0)
			continue;
		if (*len < SECRET_MAX)
			n = read(fd, buf + *len, SECRET_MAX - *len);
		else
			n = read(fd, scratch, sizeof(scratch));
		if (n == 0 || (n == -1 && errno != EINTR))
			return 0;
		if (n == -1)
			continue;
		if (*len < SECRET_MAX)
			*len += (size_t)n;
		else
			*more = 1;
		util_wipe(scratch, sizeof(scratch));
		if ((total += (size_t)n) > CMD_OUT_MAX)
			return -2;
	}
}

/* A command that ran but gave no secret: the status, in words.  A
 * token service that is down is the usual cause, so it is temporary. */
static int
priv_cmd_failed(int status, int setid, struct fail *f)
{
	const char	*hint = setid ? "; its messages are not shown while "
	    "relaymail runs setgid: run the command as root to see them" : "";

	if (WIFSIGNALED(status))
		return fail_set(f, EX_TEMPFAIL, "password_command was killed "
		    "by signal %d%s", WTERMSIG(status), hint);
	if (WEXITSTATUS(status) == 127)
		return fail_set(f, EX_TEMPFAIL, "password_command: exit status "
		    "127, command not found%s", hint);
	return fail_set(f, EX_TEMPFAIL, "password_command failed with exit "
	    "status %d%s", WEXITSTATUS(status), hint);
}

/*
 * password_command (SPEC §3, §5): the OAuth token for XOAUTH2 and
 * OAUTHBEARER, or a password manager.  Run while privileged, through
 * /bin/sh -c, within the configured timeout; the secret is the first
 * line of what it prints and never passes through anyone's argv.
 */
static int
priv_run_command(struct conf *c, int setid, struct fail *f)
{
	char		  buf[SECRET_MAX + 1];
	char		**env;
	long long	  deadline;
	size_t		  len;
	int		  p[2], more, status, r;
	pid_t		  pid = 0;

	if ((env = priv_child_env(setid)) == NULL)
		return fail_nomem(f);
	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		fail_set(f, EX_OSERR, "password_command: cannot start it: %s",
		    strerror(errno));
		if (pid == -1) {
			close(p[0]);
			close(p[1]);
		}
		if (!setid)
			free(env);
		return -1;
	}
	if (pid == 0)
		priv_child(c->password_command, p[1], setid, env);
	setpgid(pid, pid);	/* also here: no race with a timeout kill */
	if (!setid)
		free(env);
	close(p[1]);
	deadline = priv_now() + (long long)c->timeout * 1000;
	r = priv_collect(p[0], deadline, buf, &len, &more);
	close(p[0]);
	if (r == -2)
		deadline = 0;	/* stop it now */
	if (priv_reap(pid, deadline, &status) == -1 && r == 0)
		r = -1;
	if (r != 0) {
		util_wipe(buf, sizeof(buf));
		return r == -2 ? fail_set(f, EX_CONFIG, "password_command "
		    "printed more than %d octets: it must print the password "
		    "or token on its first line", CMD_OUT_MAX) :
		    fail_set(f, EX_TEMPFAIL, "password_command did not finish "
		    "within %d s (timeout)", c->timeout);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		util_wipe(buf, sizeof(buf));
		return priv_cmd_failed(status, setid, f);
	}
	return priv_take_line(c, buf, len, more, "password_command",
	    EX_TEMPFAIL, f);
}

/*
 * Parse the open, checked file.  While set-id, libconfuse expands
 * ${VAR} in double-quoted values from an empty environment: the
 * caller's must not become part of the system configuration.
 */
static int
priv_parse(struct conf *c, const char *path, int setid, struct fail *f)
{
	static char	*empty[] = { NULL };
	char		**saved = environ;
	FILE		*fp;
	int		 fd, rd;

	if ((fd = priv_open(path, f)) == -1)
		return -1;
	if ((rd = priv_check_file(fd, path, setid, f)) == -1 ||
	    (fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return rd == -1 ? -1 : fail_nomem(f);
	}
	if (setid)
		environ = empty;
	rd = conf_parse(c, fp, path, f) == -1 ? -1 : rd;
	environ = saved;
	fclose(fp);
	if (rd == 1 && c->password != NULL)
		return priv_readable(path, setid, f);
	return rd == -1 ? -1 : 0;
}

/*
 * The default file may be absent in containers: RELAYMAIL_* then.  So
 * also when it exists but is not ours to read and RELAYMAIL_HOST says
 * how to send: a service run with no-new-privileges (systemd
 * credentials) on a host whose relaymail is setgid.
 */
static int
priv_default_unusable(int setid)
{
	if (access(CONF_PATH, F_OK) == -1 && errno == ENOENT)
		return 1;
	return !setid && getenv("RELAYMAIL_HOST") != NULL &&
	    access(CONF_PATH, R_OK) == -1 && errno == EACCES;
}

static int
priv_load(struct conf *c, const char *path, int setid, struct fail *f)
{
	if (path == NULL && priv_default_unusable(setid)) {
		if (setid || getenv("RELAYMAIL_HOST") == NULL)
			return fail_set(f, EX_CONFIG, "no configuration: "
			    "create %s (see relaymail.conf(5)) or set "
			    "RELAYMAIL_HOST", CONF_PATH);
		if (conf_setpath(c, "environment", f) == -1)
			return -1;
	} else if (priv_parse(c, path != NULL ? path : CONF_PATH, setid,
	    f) == -1)
		return -1;
	/* SPEC §6: the caller's environment is not trusted while set-id */
	if (!setid && conf_env(c, f) == -1)
		return -1;
	if (conf_finish(c, f) == -1 || priv_read_tls(c, setid, f) == -1)
		return -1;
	if (c->password_file != NULL)
		return priv_read_secret(c, setid, f);
	if (c->password_command != NULL)
		return priv_run_command(c, setid, f);
	return 0;
}

int
priv_load_config(struct conf *c, const char *path, struct fail *f)
{
	int	setid = priv_setid(), r;

	/* -C while set-id: the caller's file, read with the caller's
	 * rights only (ssmtp's -C leaked the system password). */
	if (path != NULL && setid) {
		if (priv_drop(f) == -1)
			return -1;
		setid = 0;
	}
	r = priv_load(c, path, setid, f);
	if (priv_drop(f) == -1)
		return -1;
	return r;
}
