#!/usr/bin/env python3
"""Clients that leave abruptly, against a balancer on loopback: a bounded robustness load, not a benchmark.

usage: abrupt-clients.py PORT [CONNECTIONS]     (default 8000, from 8 threads)
Each connection ends with a reset (SO_LINGER 0), one of five ways in turn: right after sending a request, without a
byte, a moment into the reply, after half-closing and reading a little, and after a partial request. Prints how long
the CONNECTIONS took; then look at the balancer's log for ERROR lines and at nioproxy_loop_turn_failures_total.
With the yardstick's backends (../shared/bench/backends.sh start) and a balancer started by peers.sh:
    ../shared/bench/peers.sh start ours 19200 && python3 proxy-bench/scripts/abrupt-clients.py 19201
"""
import socket, struct, sys, threading, time

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
RESET = struct.pack('ii', 1, 0)

def one(port, kind):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        if kind == 0:
            s.sendall(REQUEST)
        elif kind == 2:
            s.sendall(REQUEST)
            time.sleep(0.0005)
        elif kind == 3:
            s.sendall(REQUEST)
            s.shutdown(socket.SHUT_WR)
            s.recv(10)
        elif kind == 4:
            s.sendall(REQUEST[:10])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
    except OSError:
        pass
    finally:
        s.close()

def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    port = int(sys.argv[1])
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    threads = [threading.Thread(target=lambda k=k: [one(port, (i + k) % 5) for i in range(total // 8)])
               for k in range(8)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("%d abrupt connections in %.2f s" % (total // 8 * 8, time.monotonic() - start))

if __name__ == '__main__':
    main()
