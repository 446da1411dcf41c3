/*
 * net.h -- resolve the smarthost and connect to each of its addresses in
 * turn, each attempt bounded by a timeout.  The only module that connects.
 */
#ifndef NET_H
#define NET_H

#include "util.h"

/* Where a connection went: for logs ("relay=host[ip]:port"). */
struct net_peer {
	char	ip[64];
	int	port;
};

/*
 * Connect to host:port (every IPv6 and IPv4 address in turn, each within
 * timeout_ms).  Returns a non-blocking, close-on-exec socket with
 * TCP_NODELAY set, or -1 with EX_TEMPFAIL (unreachable, refused, timed out,
 * the name not found: a DNS outage looks the same, and the message is kept).
 */
int	net_connect(const char *, int, int, struct net_peer *, util_stop_t *,
	    struct fail *);

/*
 * The local address of a connected socket as an RFC 5321 §4.1.3 address
 * literal ("[192.0.2.1]", "[IPv6:...]"), for EHLO when no name is known.
 */
int	net_local_literal(int, char *, size_t);

#endif /* NET_H */
