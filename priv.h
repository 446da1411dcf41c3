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
 * checked on the open descriptor and parsed from it; RELAYMAIL_* applied
 * when not privileged; password_file read.  A -C file is opened only
 * after the privilege drop, so it must be the caller's own to read.
 * Drops privileges before returning, in every case.  0, or -1 with
 * EX_CONFIG (EX_NOPERM, EX_OSERR).
 */
int	priv_load_config(struct conf *, const char *, struct fail *);

/* Drop the set-group id for good and verify it (setresgid, getresgid).
 * 0, or -1 with EX_OSERR. */
int	priv_drop(struct fail *);

#endif /* PRIV_H */
