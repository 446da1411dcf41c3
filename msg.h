/*
 * msg.h -- the message as read from standard input.
 *
 * Line endings are normalised while reading (LF, CRLF and lone CR all end
 * a line; CRLF is stored), a missing final newline is supplied, and the
 * header is split into fields.  The body is kept in memory up to
 * MSG_MEM_MAX and spooled to an unlinked temporary file past it, so memory
 * does not grow with the message (SPEC §7).
 */
#ifndef MSG_H
#define MSG_H

#include <stddef.h>
#include <sys/types.h>

#include "util.h"

struct fail;

/*
 * Limits on the header (SPEC §2, README "Limits"): generous, and there so
 * that hostile input costs bounded memory and time.  Past one of them
 * the rest of the header is read as body (nothing is lost, dead.letter
 * gets it all) and hdr_overflow is set: relay.c then refuses the message
 * with EX_DATAERR.  The body has no limit: past MSG_MEM_MAX it is spooled.
 */
#define MSG_MEM_MAX	(256 * 1024)	/* body bytes kept in memory */
#define MSG_FIELD_MAX	(1024 * 1024)	/* one header field, folded */
#define MSG_HEADER_MAX	(16 * 1024 * 1024) /* all header fields */
#define MSG_FIELDS_MAX	100000		/* header field count */

/* One header field as read: folded lines joined by CRLF, no final CRLF. */
struct msg_field {
	char	*text;
	size_t	 len;
};

struct msg {
	struct msg_field *hv;
	size_t		 hn;
	size_t		 hcap;
	size_t		 hbytes;
	int		 hdr_overflow;	/* a limit moved the rest into the body:
					 * refused (EX_DATAERR) by relay.c */
	char		*mem;		/* body, or the spool's write buffer */
	size_t		 memlen;
	int		 fd;		/* spool file, -1 while in memory */
	unsigned long long bodylen;	/* body octets, CRLF endings */
	int		 body8bit;	/* an octet >= 0x80 in the body */
	int		 bodynul;	/* a NUL octet in the body */
	size_t		 maxline;	/* longest body line, without CRLF */
	unsigned long long inbytes;	/* octets read from the input */
	util_stop_t	*stop;		/* set by the caller, may be NULL */
};

/*
 * Reader state for building a message from bytes as they arrive, from a
 * file descriptor (msg_read) or from memory (serve.c's DATA).  It
 * survives chunk boundaries: a CRLF or a header line may be split
 * anywhere.  The fields are msg.c's own.
 */
struct msg_feed {
	struct msg	*m;
	int		 phase;		/* header or body */
	int		 cr;		/* last octet was a CR (line ended) */
	int		 dot_ends;
	int		 pending_dot;	/* body line so far is a held "." */
	int		 done;		/* a lone "." ended the message */
	int		 first;		/* no header line seen yet */
	size_t		 linelen;	/* current body line length */
	struct buf	 line;		/* current header line */
};

/* Initialise an empty message (fd -1). */
void	msg_init(struct msg *);

/*
 * Start reading into m (already initialised with msg_init).  dot_ends as
 * for msg_read(): a lone "." line ends the message.
 */
void	msg_feed_init(struct msg_feed *, struct msg *, int);

/*
 * Add n octets of input, any line endings; octets after a lone "." that
 * ended the message (dot_ends) are ignored.  0, or -1 with EX_OSERR,
 * EX_CANTCREAT or EX_IOERR (temporary file); then call msg_feed_free().
 */
int	msg_feed(struct msg_feed *, const void *, size_t, struct fail *);

/*
 * End of input: supply a missing final line ending, flush the spool and
 * release the reader (in every case).  0 or -1 (EX_IOERR, EX_OSERR).
 */
int	msg_feed_end(struct msg_feed *, struct fail *);

/* Release the reader without finishing the message (after a failure). */
void	msg_feed_free(struct msg_feed *);

/*
 * Read a whole message from fd (msg_feed over read(2)).  When dot_ends is set (stdin is a
 * terminal and -i was not given) a line holding a lone "." ends it, as in
 * classic sendmail; otherwise input runs to end of file.  There is no
 * read timeout (cronie streams a job's output while the job runs); a
 * signal noted in m->stop ends reading with EX_TEMPFAIL.  A read error is
 * EX_IOERR; temporary-file trouble EX_CANTCREAT or EX_IOERR; memory
 * EX_OSERR.  After a signal or a read error m still holds every octet
 * read, as a whole message (last line ended), for dead.letter.  0 or -1.
 */
int	msg_read(struct msg *, int, int, struct fail *);

/*
 * Copy up to n body octets from offset off into buf (CRLF line endings).
 * Returns the count (0 at the end) or -1 (EX_IOERR).
 */
ssize_t	msg_body_read(const struct msg *, unsigned long long, char *, size_t,
	    struct fail *);

/* Field i's name length (up to, not including, the colon and any WSP). */
size_t	msg_field_namelen(const struct msg_field *);
/* Does field fl have this name (ASCII case-insensitive)? */
int	msg_field_is(const struct msg_field *, const char *);

/*
 * Append the message to an mbox file descriptor, the form dead.letter
 * has: a "From SENDER DATE" line, the given extra header lines (each
 * "Name: value", LF-separated, may be NULL), the header as read, an
 * empty line, the body, and an empty line.  Every line ends in LF (the
 * Unix mbox convention: mail(1), mutt), whatever ending it had on input;
 * a line matching ">*From " gets one more '>' (mboxrd), so taking one
 * '>' off such lines gives back the input, line ending aside.  Written
 * in chunks; 0 or -1 (EX_IOERR, EX_OSERR).
 */
int	msg_write_mbox(const struct msg *, int, const char *, long long,
	    const char *, struct fail *);

/* Release memory and close the spool. */
void	msg_free(struct msg *);

#endif /* MSG_H */
