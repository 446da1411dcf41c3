/*
 * priv.h -- everything done while privileged (setgid relaymail, SPEC §6):
 * process hardening, the configuration open and check, secret loading,
 * and the verified, permanent group drop.  The only module that changes
 * ids.
 */
#ifndef PRIV_H
#define PRIV_H

struct conf;
struct fail;

/*
 * First thing in main: fds 0-2 open (on /dev/null when closed), umask
 * 077, no core files, not dumpable (secrets must never reach a core
 * dump).  Never fails.
 */
void	priv_init(void);

/* Is this process set-id (and so handling a secret the caller must not
 * see)? */
int	priv_setid(void);

/*
 * Load the configuration: path (NULL for the default) opened once,
 * checked on the open descriptor (while set-id: owned by root, writable
 * by nobody else, a secret in it not readable by every local user) and
 * parsed from it with libconfuse's ${VAR} seeing an empty environment
 * while set-id; RELAYMAIL_* applied only when not set-id (and used
 * alone when the default file is absent, or unreadable to an
 * unprivileged caller that set RELAYMAIL_HOST); then the secret loaded
 * from password_file or password_command (run while privileged, with a
 * fixed environment, within the configured timeout).  A -C file is
 * opened only after the privilege drop, so it must be the caller's own
 * to read.  Drops privileges before returning, in every case.  0, or -1
 * with EX_CONFIG, EX_TEMPFAIL (password_command failed or timed out) or
 * EX_OSERR.
 */
int	priv_load_config(struct conf *, const char *, struct fail *);

/* Drop the set-group id for good and verify it (setresgid, getresgid).
 * 0, or -1 with EX_OSERR. */
int	priv_drop(struct fail *);

#endif /* PRIV_H */
