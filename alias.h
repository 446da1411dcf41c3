/*
 * alias.h -- local names: the aliases file (/etc/aliases syntax), the
 * config's alias entries and default_to (SPEC §2.3).  relaymail does no
 * local delivery, so every local name must end up at a real address.
 */
#ifndef ALIAS_H
#define ALIAS_H

#include <stddef.h>

struct addrlist;
struct conf;
struct fail;

struct alias_entry {
	char	 *name;		/* lower case */
	char	**to;
	size_t	  nto;
};

struct alias_db {
	struct alias_entry *v;
	size_t		 n;
	size_t		 cap;
	const char	*default_to;
	const char	*domain;	/* qualifies what is still bare */
	const char	*fqdn;		/* this host: name@fqdn is local */
};

/*
 * Build the table: the config's alias entries first (they win), then
 * the aliases file c->aliases when set.  A missing or unreadable file is
 * EX_CONFIG naming it; a line without a colon is EX_CONFIG naming the
 * file and line.  0 or -1.
 */
int	alias_load(struct alias_db *, const struct conf *, const char *,
	    const char *, struct fail *);

/* Parse aliases-file text (for the loader and the tests); name is used
 * in messages.  0 or -1 (EX_CONFIG with file:line). */
int	alias_parse(struct alias_db *, const char *, size_t, const char *,
	    struct fail *);

/* Is spec a local name: no domain, @localhost, or @ this host? */
int	alias_is_local(const struct alias_db *, const char *);

/*
 * Resolve spec to final addresses appended (de-duplicated) to out:
 * aliases followed through chains (loops stop with a warning), |cmd,
 * /file and :include: refused with a warning, default_to for a local
 * name no alias names, @domain for what is still bare.  0 or -1.
 */
int	alias_resolve(const struct alias_db *, const char *, struct addrlist *,
	    struct fail *);

/*
 * Check every target for newaliases/-bi: program, file and :include:
 * targets draw a warning, a target that is not an address list is
 * EX_CONFIG naming the alias.  0 or -1.
 */
int	alias_check(const struct alias_db *, struct fail *);

void	alias_free(struct alias_db *);

#endif /* ALIAS_H */
