#!/usr/bin/python3
"""delayproxy.py -- a loopback TCP proxy that delays every segment and
counts the protocol flights of each connection.

    delayproxy.py --upstream-port P [--upstream-host H] [--delay-ms 25]
                  --port-file F --log L

Listens on 127.0.0.1 and, when it can, ::1 on the same port (a free one,
written to --port-file once listening)
and forwards each connection to the upstream server. Every chunk read from
either side (one read() ~ one segment, since both sockets use TCP_NODELAY
and reads are taken as they come) is held for --delay-ms before it is
written on, so one round trip costs 2 x delay: 25 ms each way puts a
loopback connection 50 ms per round trip away, as a distant smarthost is.
Order within each direction is kept; a half-close (EOF) travels with the
same delay.

For every connection one JSON line is appended to --log when both sides
are done:

    {"conn": N, "events": [[t_ms, "C"|"S", nbytes], ...],
     "client_flights": K, "client_flights_after_greeting": K1,
     "duration_ms": D, "bytes_c2s": B1, "bytes_s2c": B2}

Events are in order of arrival at the proxy. A client flight is a run of
client data that follows server data (or the start of the connection):
the number of times the client had to wait for the server and then spoke
again. Everything after the server's first data (the 220 greeting) counts
as "after the greeting". It listens and connects on loopback only.

Python standard library only. SIGTERM/SIGINT stop it (exit 0).
"""

import argparse
import asyncio
import ipaddress
import itertools
import json
import os
import signal
import socket
import sys
import time


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def count_flights(events):
    """(flights, flights after the greeting) of the client in events."""
    flights = after = 0
    last = None
    greeted = False
    for _t, d, _n in events:
        if d == "C" and last != "C":
            flights += 1
            if greeted:
                after += 1
        if d == "S":
            greeted = True
        last = d
    return flights, after


class Conn:
    def __init__(self, n, t0):
        self.n = n
        self.t0 = t0
        self.events = []

    def note(self, d, nbytes):
        self.events.append([round((time.monotonic() - self.t0) * 1000, 3),
                            d, nbytes])

    def record(self):
        flights, after = count_flights(self.events)
        return {
            "conn": self.n,
            "events": self.events,
            "client_flights": flights,
            "client_flights_after_greeting": after,
            "duration_ms": round((time.monotonic() - self.t0) * 1000, 3),
            "bytes_c2s": sum(e[2] for e in self.events if e[1] == "C"),
            "bytes_s2c": sum(e[2] for e in self.events if e[1] == "S"),
        }


async def pump(reader, writer, conn, d, delay):
    """Read from reader; write each chunk delay seconds after it came."""
    q = asyncio.Queue()

    async def sender():
        while True:
            due, data = await q.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                try:
                    if writer.can_write_eof():
                        writer.write_eof()
                except (OSError, RuntimeError):
                    pass
                return
            try:
                writer.write(data)
                await writer.drain()
            except (OSError, RuntimeError):
                return

    task = asyncio.ensure_future(sender())
    try:
        while True:
            try:
                data = await reader.read(65536)
            except (OSError, asyncio.IncompleteReadError):
                data = b""
            if not data:
                q.put_nowait((time.monotonic() + delay, None))
                break
            conn.note(d, len(data))
            q.put_nowait((time.monotonic() + delay, data))
    finally:
        await task


class Proxy:
    def __init__(self, o):
        self.o = o
        self.ids = itertools.count(1)
        self.delay = o.delay_ms / 1000.0

    async def handle(self, creader, cwriter):
        conn = Conn(next(self.ids), time.monotonic())
        nodelay(cwriter)
        try:
            sreader, swriter = await asyncio.open_connection(
                self.o.upstream_host, self.o.upstream_port)
        except OSError as e:
            print("delayproxy: upstream: %s" % e, file=sys.stderr)
            cwriter.close()
            return
        nodelay(swriter)
        await asyncio.gather(
            pump(creader, swriter, conn, "C", self.delay),
            pump(sreader, cwriter, conn, "S", self.delay))
        for w in (cwriter, swriter):
            w.close()
        with open(self.o.log, "a") as f:
            f.write(json.dumps(conn.record()) + "\n")

    async def run(self):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = await asyncio.start_server(self.handle, "127.0.0.1",
                                            self.o.port)
        port = server.sockets[0].getsockname()[1]
        servers = [server]
        try:
            # "localhost" may resolve to ::1 first: listen there too.
            servers.append(await asyncio.start_server(self.handle, "::1",
                                                      port))
        except OSError:
            pass
        tmp = self.o.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, self.o.port_file)
        await stop.wait()
        for s in servers:
            s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=25.0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    o = ap.parse_args()
    if not ipaddress.ip_address(o.upstream_host).is_loopback:
        ap.error("the upstream must be a loopback address")
    asyncio.run(Proxy(o).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
