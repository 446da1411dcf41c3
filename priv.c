/*
 * priv.c -- the privilege sequence of SPEC §6.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "priv.h"
#include "util.h"

#define SECRET_MAX	4096

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
 * writable by nobody else; readable by others only draws a warning
 * when it holds a password (SPEC §6).
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

static int
priv_open(const char *path, struct fail *f)
{
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return fail_set(f, EX_CONFIG, "cannot open %s: %s", path,
		    strerror(errno));
	return fd;
}

/* The first line of password_file, exactly (no trailing newline). */
static int
priv_read_secret(struct conf *c, int setid, struct fail *f)
{
	char	buf[SECRET_MAX + 1];
	ssize_t	n;
	size_t	len = 0;
	int	fd, rd;

	if ((fd = priv_open(c->password_file, f)) == -1)
		return -1;
	if ((rd = priv_check_file(fd, c->password_file, setid, f)) == -1)
		goto err;
	if (rd)
		log_warn("%s can be read by every local user",
		    c->password_file);
	while (len < SECRET_MAX && (n = read(fd, buf + len,
	    SECRET_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	free(c->password);
	c->password = strdup(buf);
	util_wipe(buf, sizeof(buf));
	return c->password == NULL ? fail_nomem(f) : 0;
err:
	close(fd);
	return -1;
}

static int
priv_parse(struct conf *c, const char *path, int setid, struct fail *f)
{
	FILE	*fp;
	int	 fd, rd;

	if ((fd = priv_open(path, f)) == -1)
		return -1;
	if ((rd = priv_check_file(fd, path, setid, f)) == -1 ||
	    (fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return rd == -1 ? -1 : fail_nomem(f);
	}
	rd = conf_parse(c, fp, path, f) == -1 ? -1 : rd;
	fclose(fp);
	if (rd == 1 && c->password != NULL)
		log_warn("%s holds a password and can be read by every local "
		    "user: chmod 0640 and chown root:relaymail", path);
	return rd == -1 ? -1 : 0;
}

/* The default file may be absent in containers: RELAYMAIL_* then. */
static int
priv_default_missing(void)
{
	return access(CONF_PATH, F_OK) == -1 && errno == ENOENT;
}

static int
priv_load(struct conf *c, const char *path, int setid, struct fail *f)
{
	if (path == NULL && priv_default_missing()) {
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
	if (c->password_file != NULL && c->password == NULL &&
	    priv_read_secret(c, setid, f) == -1)
		return -1;
	return conf_finish(c, f);
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
