/*
 * addr.h -- RFC 5322 address lists and RFC 5321 paths.
 *
 * Parses what callers really write in To/Cc/Bcc/From and on the command
 * line: name-addr and addr-spec forms, groups (RFC 5322 §3.4), comments
 * and quoted strings (§3.2), and the obsolete forms of §4.4 that real
 * headers still carry.  The parser never modifies its input; each address
 * records where its local part ends in the source, so header.c can
 * qualify a bare name in place without re-rendering the field, and the
 * span of the address itself, so it can replace one keeping the display
 * name and comments around it.
 */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>

struct fail;

struct addr {
	char	*spec;		/* addr-spec as sent: local[@domain], CFWS removed */
	char	*display;	/* display-name as written (trimmed) or NULL */
	size_t	 local_end;	/* source offset just past the local part */
	size_t	 src_start;	/* source span of the addr-spec, or of the */
	size_t	 src_end;	/* angle-addr with its brackets */
	int	 has_domain;	/* spec contains '@' */
};

struct addrlist {
	struct addr	*v;
	size_t		 n;
	size_t		 cap;
};

/*
 * Parse an RFC 5322 address-list from s[0..len).  Mailboxes are appended
 * to *out (so several header fields can accumulate); groups contribute
 * their members, an empty group none.  An empty or all-whitespace list
 * appends nothing and succeeds.  Returns 0, or -1 with f filled
 * (EX_DATAERR for a syntax error, naming the offending text; EX_OSERR
 * for memory).  On failure *out keeps whatever was appended before.
 */
int	addr_parse_list(const char *, size_t, struct addrlist *, struct fail *);

/*
 * Parse an envelope address as given to -f/-r: "", "<>" give the null
 * path (spec ""), "<a@b>", "a@b", "Name <a@b>", "root" are accepted.
 * Returns 0 or -1 (EX_USAGE naming the text, EX_OSERR).
 */
int	addr_parse_path(const char *, struct addr *, struct fail *);

/*
 * Check that a spec can go into MAIL FROM/RCPT TO (RFC 5321 §4.1.2,
 * §4.5.3.1.3): no CR, LF, NUL or other control character, no space
 * outside a quoted local part, at most 256 octets with the brackets.
 * Returns 0 or -1 (EX_DATAERR naming the address).
 */
int	addr_check_path(const char *, struct fail *);

/* Append a copy of a to *out unless an equal spec is present
 * (local part compared exactly, domain case-insensitively).  0 or -1. */
int	addrlist_add_unique(struct addrlist *, const struct addr *,
	    struct fail *);

/* Release one address's strings. */
void	addr_free(struct addr *);
/* Release every address and the array. */
void	addrlist_free(struct addrlist *);

#endif /* ADDR_H */
