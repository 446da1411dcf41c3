/*
 * net.c -- resolve and connect.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

/* One non-blocking connect bounded by timeout_ms; 0 or an errno. */
static int
net_try(int fd, const struct addrinfo *ai, int timeout_ms, util_stop_t *stop)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLOUT };
	socklen_t	len = sizeof(int);
	int		err = 0, r;

	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r == -1 && errno == EINTR && (stop == NULL || !*stop));
	if (r == 0)
		return ETIMEDOUT;
	if (r == -1)
		return errno;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

static void
net_ntop(const struct addrinfo *ai, struct net_peer *peer)
{
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, peer->ip,
	    sizeof(peer->ip), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(peer->ip, sizeof(peer->ip), "?");
}

static int
net_lookup(const char *host, int port, struct addrinfo **res, struct fail *f)
{
	struct addrinfo	hints = { 0 };
	char		serv[16];
	int		r;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(serv, sizeof(serv), "%d", port);
	r = getaddrinfo(host, serv, &hints, res);
	if (r == 0)
		return 0;
	if (r == EAI_NONAME)
		return fail_set(f, EX_TEMPFAIL, "%s: host name not found: check "
		    "'host' in the configuration", host);
	return fail_set(f, EX_TEMPFAIL, "%s: cannot resolve: %s", host,
	    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
}

int
net_connect(const char *host, int port, int timeout_ms,
    struct net_peer *peer, util_stop_t *stop, struct fail *f)
{
	struct addrinfo	*res, *ai;
	int		 fd = -1, err = 0, one = 1;

	if (net_lookup(host, port, &res, f) == -1)
		return -1;
	peer->port = port;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		net_ntop(ai, peer);
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			err = errno;
			continue;
		}
		if ((err = net_try(fd, ai, timeout_ms, stop)) == 0)
			break;
		close(fd);
		fd = -1;
		if (stop != NULL && *stop)
			break;
	}
	freeaddrinfo(res);
	if (fd == -1 && stop != NULL && *stop)
		return fail_stopped(f, *stop);
	if (fd == -1)
		return fail_set(f, EX_TEMPFAIL, "%s[%s]:%d: cannot connect: %s",
		    host, peer->ip, port, strerror(err));
	/* One write per protocol flight; never wait for a delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int
net_local_literal(int fd, char *out, size_t outsz)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);
	char			ip[INET6_ADDRSTRLEN];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, len, ip, sizeof(ip), NULL, 0,
	    NI_NUMERICHOST) != 0)
		return -1;
	snprintf(out, outsz, ss.ss_family == AF_INET6 ? "[IPv6:%s]" : "[%s]",
	    ip);
	return 0;
}
