#!/usr/bin/env python3
"""The hostile-request suite (issue #15): raw byte sequences an attacker, a broken proxy or
a fuzzer would send, each followed by a health check (a fresh connection must still get
`HEAD <known image>` -> 200) and a memory check (the server's VmRSS from /proc/PID/status
must stay under a bound). Also the start-up cases: absurd flag values, FIFOs and device
files in fixtures, fixture values Glance could never have stored, records too large to
serve.

Stdlib only; every socket has a timeout and every case a wall-clock bound, so the whole
suite ends in a couple of minutes whatever the server does.

    tests/hostile/hostile.py --bin target/release/glance-emu [--only SUBSTR] [--port-base N]

Exit status 0 when every case passed. Each case prints one PASS/FAIL line.
"""

import argparse
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "images.json")
KNOWN = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78"
HEADER_TIMEOUT = 2  # --header-timeout given to the server under test (seconds)
RSS_SLACK_KB = 96 * 1024  # how far VmRSS may rise above its value after start-up

# Bodies here are JSON or text without "HTTP/1.x NNN": a status line can follow a body
# directly, so it is not anchored at a line start.
STATUS_RE = re.compile(rb"HTTP/1\.[01] (\d{3}) [^\r\n]*\r\n")


# ---------------------------------------------------------------------------------------
# The server under test


class Server:
    """One glance-emu process on 127.0.0.1:0; stdout parsed for the port."""

    def __init__(self, binary, args, name="emu"):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix="hostile-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0"] + args,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=ROOT,
        )
        self.port = None
        deadline = time.time() + 20
        line = b""
        while time.time() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                m = re.search(rb"http://127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    break
            if self.proc.poll() is not None:
                break
        if self.port is None:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r} {self.stderr()[-400:]!r}")
        self.base_rss = self.rss_kb()

    def rss_kb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def hwm_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return None

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        try:
            self.proc.stdout.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------
# Raw socket helpers


def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(s, limit_s, max_bytes=1 << 20, want_responses=None):
    """Reads until EOF, limit_s seconds, max_bytes, or `want_responses` complete heads of
    body-less answers. Returns (bytes, closed_by_peer, seconds)."""
    t0 = time.time()
    out = b""
    closed = False
    while True:
        left = limit_s - (time.time() - t0)
        if left <= 0:
            break
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True  # reset
            break
        if not chunk:
            closed = True
            break
        out += chunk
        if len(out) >= max_bytes:
            break
        if want_responses is not None and out.count(b"\r\n\r\n") >= want_responses:
            if complete(out, want_responses):
                break
    return out, closed, time.time() - t0


def complete(out, n):
    """True when `out` holds n whole responses (heads plus Content-Length bodies)."""
    pos = 0
    for _ in range(n):
        end = out.find(b"\r\n\r\n", pos)
        if end < 0:
            return False
        head = out[pos:end].decode("latin-1")
        m = re.search(r"(?im)^content-length:\s*(\d+)", head)
        length = int(m.group(1)) if m else 0
        if head.startswith("HTTP/1.1 1"):
            length = 0
        pos = end + 4 + length
        if pos > len(out):
            return False
    return True


def statuses(resp):
    return [int(m) for m in STATUS_RE.findall(resp)]


def exchange(port, chunks, gap=0.0, half_close=False, limit_s=6.0, want=None):
    """Sends `chunks` (gap seconds apart), optionally shuts down the write side, and reads
    what comes back."""
    s = connect(port)
    try:
        for i, c in enumerate(chunks):
            if i and gap:
                time.sleep(gap)
            try:
                s.sendall(c)
            except OSError:
                break
        if half_close:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return read_until_close(s, limit_s, want_responses=want)
    finally:
        s.close()


def head_known(port, timeout=3.0):
    """A fresh HEAD of the known image; returns its status or None."""
    try:
        s = connect(port, timeout)
        s.sendall(f"HEAD /v1/images/{KNOWN} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        out, _, _ = read_until_close(s, timeout, want_responses=1)
        s.close()
        st = statuses(out)
        return st[0] if st else None
    except OSError:
        return None


def get_versions(port, timeout=3.0):
    try:
        s = connect(port, timeout)
        s.sendall(b"GET /versions HTTP/1.1\r\nHost: x\r\n\r\n")
        out, _, _ = read_until_close(s, timeout, want_responses=1)
        s.close()
        st = statuses(out)
        return st[0] if st else None
    except OSError:
        return None


# ---------------------------------------------------------------------------------------
# Cases

H = b"Host: x\r\n"
HEADK = f"HEAD /v1/images/{KNOWN} HTTP/1.1\r\n".encode()


def req(line, *headers, body=b""):
    return line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


class Fail(Exception):
    pass


def expect_answer(out, allowed=None, what=""):
    st = statuses(out)
    if not st:
        raise Fail(f"no answer{what}: got {out[:120]!r}")
    if allowed is not None and st[0] not in allowed:
        raise Fail(f"status {st[0]}{what}, expected one of {sorted(allowed)}: {out[:160]!r}")
    return st


def case_raw(chunks, allowed=None, gap=0.0, half_close=False, limit_s=6.0, n=1, closes=False, second=None):
    """A case: send `chunks`, expect `n` answers (first one's status in `allowed`)."""

    def run(srv):
        out, closed, secs = exchange(
            srv.port, chunks, gap=gap, half_close=half_close, limit_s=limit_s, want=n
        )
        st = expect_answer(out, allowed)
        if len(st) < n:
            raise Fail(f"{len(st)} answers, expected {n}: {st}")
        if second is not None and st[1] not in second:
            raise Fail(f"second answer {st[1]}, expected one of {sorted(second)}")
        if closes and not closed:
            raise Fail("connection left open after an answer that ends it")
        return f"{st[:4]}{' +closed' if closed else ''} {secs:.2f}s"

    return run


def case_answer_or_close(chunks, gap=0.0, limit_s=6.0, half_close=False):
    """Cases with no single right answer (e.g. a body that never completes): the server must
    answer or close within limit_s, never hang."""

    def run(srv):
        out, closed, secs = exchange(srv.port, chunks, gap=gap, limit_s=limit_s, half_close=half_close)
        st = statuses(out)
        if not st and not closed:
            raise Fail(f"neither answered nor closed in {limit_s}s")
        return f"{st[:4]}{' +closed' if closed else ''} {secs:.2f}s"

    return run


def slowloris(srv):
    """A head sent one byte every 0.3 s: closed by the header timeout (the server may
    answer 408 first), not kept forever."""
    s = connect(srv.port)
    data = b"GET /versions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    t0 = time.time()
    closed = False
    try:
        for b in data:
            try:
                s.send(bytes([b]))
            except OSError:
                closed = True
                break
            r, _, _ = select.select([s], [], [], 0.3)
            if r:
                chunk = s.recv(4096)
                if not chunk or statuses(chunk) or True:
                    closed = True
                    break
            if time.time() - t0 > HEADER_TIMEOUT + 4:
                break
    finally:
        s.close()
    secs = time.time() - t0
    if not closed:
        raise Fail(f"still open after {secs:.1f}s (header timeout {HEADER_TIMEOUT}s)")
    return f"closed after {secs:.1f}s"


def many_slowloris(srv):
    """300 connections each holding half a head: others are still served meanwhile, and
    they are all closed by the header timeout."""
    socks = []
    for _ in range(300):
        try:
            s = connect(srv.port)
            s.sendall(b"GET /versions HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        except OSError:
            break
    try:
        st = head_known(srv.port)
        if st != 200:
            raise Fail(f"HEAD during 300 slow heads: {st}")
        time.sleep(HEADER_TIMEOUT + 1.5)
        open_ = 0
        for s in socks:
            s.settimeout(0.01)
            try:
                if s.recv(1) != b"":
                    open_ += 0
            except socket.timeout:
                open_ += 1
            except OSError:
                pass
        if open_:
            raise Fail(f"{open_} of {len(socks)} slow heads still open after the header timeout")
    finally:
        for s in socks:
            s.close()
    return f"{len(socks)} held, all closed"


def idle_keepalive(srv):
    """A keep-alive connection that goes quiet after one answer is closed by the header
    timeout, on both paths."""
    s = connect(srv.port)
    try:
        s.sendall(HEADK + H + b"\r\n")
        out, closed, _ = read_until_close(s, 3, want_responses=1)
        expect_answer(out, {200})
        out, closed, secs = read_until_close(s, HEADER_TIMEOUT + 3)
        if not closed:
            raise Fail("idle keep-alive connection not closed")
        return f"closed after {secs:.1f}s"
    finally:
        s.close()


def slow_upload(srv):
    """POST of 1 MiB sent at ~20 bytes/s: the server must cut it off (minimum upload rate)
    rather than hold the connection for ever; bounded at 15 s here."""
    s = connect(srv.port)
    t0 = time.time()
    cut = False
    try:
        s.sendall(
            b"POST /v1/images HTTP/1.1\r\nHost: x\r\nx-image-meta-name: slow\r\n"
            b"x-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n"
        )
        while time.time() - t0 < 15:
            try:
                s.send(b"x" * 4)
            except OSError:
                cut = True
                break
            r, _, _ = select.select([s], [], [], 0.2)
            if r:
                try:
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                cut = True
                break
    finally:
        s.close()
    if not cut:
        raise Fail("a 20 B/s upload was never cut off (15 s)")
    return f"cut after {time.time() - t0:.1f}s"


def split_malformed(first, second, gap=0.3):
    """A malformed head in two writes must get the same answer as in one, promptly (not
    silence until the header timeout)."""

    def run(srv):
        whole, _, _ = exchange(srv.port, [first + second], limit_s=HEADER_TIMEOUT + 2, want=1)
        split, _, secs = exchange(srv.port, [first, second], gap=gap, limit_s=HEADER_TIMEOUT + 2, want=1)
        sw, ss = statuses(whole), statuses(split)
        if not sw:
            raise Fail(f"unsplit: no answer {whole[:80]!r}")
        if ss[:1] != sw[:1]:
            raise Fail(f"split: {ss} vs unsplit {sw}")
        if secs > gap + 1.0:
            raise Fail(f"split answer took {secs:.1f}s")
        return f"{sw[0]} both, {secs:.2f}s"

    return run


def pipelined_heads(n):
    def run(srv):
        data = (HEADK + H + b"\r\n") * n
        out, _, secs = exchange(srv.port, [data], limit_s=8, want=n)
        st = statuses(out)
        if st != [200] * n:
            raise Fail(f"{len(st)} answers of {n}: {st[:5]}...")
        return f"{n} x 200 {secs:.2f}s"

    return run


def pipelined_mixed(srv):
    data = (
        HEADK + H + b"\r\n"
        + b"GET /versions HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"HEAD /v1/images/nope HTTP/1.1\r\nHost: x\r\n\r\n"
        + HEADK + H + b"\r\n"
        + b"BROKEN\x01 / HTTP/1.1\r\n\r\n"
    )
    out, closed, secs = exchange(srv.port, [data], limit_s=5)
    st = statuses(out)
    if st != [200, 200, 404, 200, 400]:
        raise Fail(f"answers {st}")
    return f"{st} {secs:.2f}s"


def half_close(chunks, expect):
    """The request, then shutdown(SHUT_WR) (what `nc -N` and some proxies do): the answer
    must still come, as real Glance 15 sent it."""

    def run(srv):
        out, closed, secs = exchange(srv.port, chunks, half_close=True, limit_s=5)
        st = statuses(out)
        if st[:1] != [expect]:
            raise Fail(f"half-closed: answers {st} (expected {expect}) closed={closed}")
        return f"{st} closed={closed} {secs:.2f}s"

    return run


def idle_connections(srv):
    """2,000 idle connections (accepted, no bytes): the server still answers, and memory
    stays bounded."""
    socks = []
    try:
        for _ in range(2000):
            try:
                socks.append(connect(srv.port, 2))
            except OSError:
                break
        st = head_known(srv.port, 5)
        if st != 200:
            raise Fail(f"HEAD with {len(socks)} idle connections open: {st}")
        return f"{len(socks)} open, HEAD {st}"
    finally:
        for s in socks:
            s.close()


def big_upload(srv, mib=256):
    """A large upload streamed in: VmRSS must not grow with it."""
    s = connect(srv.port, 30)
    size = mib << 20
    s.sendall(
        b"POST /v1/images HTTP/1.1\r\nHost: x\r\nx-image-meta-name: big\r\n"
        b"x-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\n"
        b"Content-Type: application/octet-stream\r\n"
        + f"Content-Length: {size}\r\n\r\n".encode()
    )
    block = b"\xa5" * (1 << 20)
    peak = 0
    for i in range(mib):
        s.sendall(block)
        if i % 16 == 0:
            peak = max(peak, srv.rss_kb() or 0)
    out, _, _ = read_until_close(s, 30, want_responses=1)
    s.close()
    expect_answer(out, {201})
    grew = peak - srv.base_rss
    if grew > 64 * 1024:
        raise Fail(f"VmRSS grew by {grew // 1024} MiB during a {mib} MiB upload")
    return f"{mib} MiB, RSS +{grew // 1024} MiB"


# name -> (function, [modes]) where a mode is "fast" (default flags) or "hyper"
# (--no-fast-head). Most hostile heads go to hyper on both; running both proves the
# hand-off keeps them intact.
def cases():
    big = b"A" * 100_000
    c = []
    add = lambda name, fn: c.append((name, fn))

    # Oversized and malformed request lines and heads: eventlet's answers (414 for a request
    # line of 8192 bytes or more, 400 for a header line of 16384 or more or a header block
    # over 65536, Python's 431 for a 100th header line), then the connection closes
    # (tests/http/limits.rs holds the bytes and the close)
    add("uri-100k", case_raw([b"GET /v1/images/" + big + b" HTTP/1.1\r\nHost: x\r\n\r\n"], {414}))
    add("head-uri-100k", case_raw([b"HEAD /v1/images/" + big + b" HTTP/1.1\r\nHost: x\r\n\r\n"], {414}))
    add("header-line-100k", case_raw([HEADK + b"X-Big: " + big + b"\r\n\r\n"], {400}))
    add("header-block-1m", case_raw([HEADK + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(1000)) + b"\r\n"], {400}))
    add("headers-150", case_raw([HEADK + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"], {431}))
    add("headers-10000", case_raw([HEADK + b"".join(b"X-H%d: v\r\n" % i for i in range(10000)) + b"\r\n"], {431}))
    add("header-line-100k-second", case_raw([b"GET /versions HTTP/1.1\r\nHost: x\r\n\r\n", HEADK + b"X-Big: " + big + b"\r\n\r\n"], {200}, gap=0.3, n=2, second={400}))
    add("header-line-100k-pipelined", case_raw([b"GET /versions HTTP/1.1\r\nHost: x\r\n\r\n" + HEADK + b"X-Big: " + big + b"\r\n\r\n"], {200}, n=2, second={400}))
    add("method-64k", case_raw([b"X" * 65536 + b" / HTTP/1.1\r\n\r\n"], {414}))
    add("content-length-abc", case_raw([b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"], {400}))
    add("content-length-negative", case_raw([b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"], {400}))
    # Python split the request line on whitespace only: a NUL is part of the path (real
    # Glance 15: 404 for /v1/\x00images)
    add("nul-in-line", case_raw([b"GET /v1/\x00images HTTP/1.1\r\n\r\n"], {404}))
    add("nul-in-header", case_raw([HEADK + b"X-A: a\x00b\r\n\r\n"], {400}))
    add("bare-lf", case_raw([b"HEAD /v1/images/" + KNOWN.encode() + b" HTTP/1.1\nHost: x\n\n"], {200, 400}))
    add("obs-fold", case_raw([HEADK + b"X-A: a\r\n b\r\n\r\n"], {200, 400}))
    # a line Python's email parser takes for no header ends the header block (Glance never
    # saw it or the lines after it): the request is served
    add("no-colon", case_raw([HEADK + b"NoColon\r\n\r\n"], {200}))
    add("space-before-colon", case_raw([HEADK + b"Host : x\r\n\r\n"], {200}))
    add("non-ascii-name-then-more", case_raw([HEADK + b"X-\xc3\xa9: v\r\nX-Image-Meta-Size: 1\r\n\r\n"], {200}))
    add("high-bytes-path", case_raw([b"HEAD /v1/images/\xff\xfe HTTP/1.1\r\n\r\n"], {400, 404}))
    add("utf8-bad-header-value", case_raw([HEADK + b"X-Image-Meta-Name: \xc3\x28\xff\r\n\r\n"], {200, 400}))
    add("ctl-in-header-value", case_raw([HEADK + b"X-A: \x01\x7f\r\n\r\n"], {200, 400}))
    add("lowercase-method", case_raw([b"head /v1/images/x HTTP/1.1\r\n\r\n"], {400, 404, 405, 501, 300}))
    add("unknown-method", case_raw([b"BREW /v1/images HTTP/1.1\r\n\r\n"], {400, 404, 405, 501}))
    add("http-2.0-line", case_raw([b"GET / HTTP/2.0\r\n\r\n"], {400, 505}))
    add("http-0.9", case_answer_or_close([b"GET /\r\n\r\n"]))
    add("http-1.0-head", case_raw([b"HEAD /v1/images/" + KNOWN.encode() + b" HTTP/1.0\r\n\r\n"], {200}))
    add("leading-crlfs", case_raw([b"\r\n\r\n" + HEADK + H + b"\r\n"], {200, 400}))
    add("tls-client-hello", case_answer_or_close([bytes.fromhex("1603010200010001fc0303") + os.urandom(64)]))
    add("binary-garbage", case_answer_or_close([os.urandom(4096)]))
    add("h2-preface", case_answer_or_close([b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]))
    # eventlet keeps an absolute request target as PATH_INFO ("http://x/v1/..."), so real
    # Glance's version negotiation finds no /v1 prefix and answers 300 Multiple Choices.
    add("absolute-uri", case_raw([b"HEAD http://x/v1/images/" + KNOWN.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"], {300}))
    add("asterisk-uri", case_raw([b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"], {200, 300, 400, 404, 405}))
    # a path that is not UTF-8 once decoded: WebOb raised, eventlet's bare 500 (real Glance 15)
    add("percent-garbage", case_raw([b"HEAD /v1/images/%zz%ff%00 HTTP/1.1\r\nHost: x\r\n\r\n"], {500}))

    # Smuggling shapes: every one gets one answer and no second, smuggled one
    post = b"POST /v1/images HTTP/1.1\r\nHost: x\r\n"
    smug = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    add("cl-te", case_raw([post + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug], None))
    add("te-cl", case_raw([post + b"Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smug], None))
    add("double-cl-differ", case_raw([post + b"Content-Length: 5\r\nContent-Length: 0\r\n\r\nabcde"], {400}))
    add("double-cl-same", case_raw([post + b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n"], None))
    add("cl-list", case_raw([post + b"Content-Length: 0, 5\r\n\r\n"], {400}))
    add("cl-plus", case_raw([post + b"Content-Length: +5\r\n\r\nabcde"], {400}))
    add("cl-negative", case_raw([post + b"Content-Length: -1\r\n\r\n"], {400}))
    add("cl-huge", case_raw([post + b"Content-Length: 99999999999999999999999\r\n\r\n"], {400, 413}))
    add("te-xchunked", case_raw([post + b"Transfer-Encoding: xchunked\r\n\r\n"], {400, 501}))
    add("te-chunked-identity", case_raw([post + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"], {400, 501}))
    # Python's email parser ends the header block at "Transfer-Encoding : chunked" (Glance
    # never saw it): the image is created without data, as by Glance
    add("te-space-colon", case_raw([post + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"], {201}))
    add("te-tab", case_raw([post + b"Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n"], None))
    add("te-double", case_raw([post + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], None))
    add("te-http10", case_raw([b"POST /v1/images HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], None))

    # Bad chunking
    te = post + b"Transfer-Encoding: chunked\r\n\r\n"
    add("chunk-bad-hex", case_raw([te + b"zz\r\nabc\r\n0\r\n\r\n"], {400}))
    add("chunk-size-overflow", case_raw([te + b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"], {400, 413}))
    add("chunk-no-crlf", case_raw([te + b"3\r\nabcXX0\r\n\r\n"], {400}))
    add("chunk-ext-64k", case_raw([te + b"3;" + b"e" * 65536 + b"\r\nabc\r\n0\r\n\r\n"], {400, 413}))
    add("chunk-trailer-1m", case_answer_or_close([te + b"0\r\n" + b"X-T: " + b"t" * (1 << 20) + b"\r\n\r\n"]))
    add("chunk-truncated-close", case_answer_or_close([te + b"10\r\nabc"], half_close=True))
    add("cl-short-body-close", case_answer_or_close([post + b"Content-Length: 100\r\n\r\nabc"], half_close=True))

    # Pipelining
    add("pipelined-200-heads", pipelined_heads(200))
    add("pipelined-mixed-then-garbage", pipelined_mixed)

    # Half-close after a complete request
    add("half-close-head", half_close([HEADK + H + b"\r\n"], 200))
    add("half-close-head-404", half_close([b"HEAD /v1/images/nope HTTP/1.1\r\nHost: x\r\n\r\n"], 404))
    add("half-close-get-versions", half_close([b"GET /versions HTTP/1.1\r\nHost: x\r\n\r\n"], 200))
    add("half-close-get-image", half_close([b"GET /v1/images/aaaaaaaa-0000-4000-8000-000000000009 HTTP/1.1\r\nHost: x\r\n\r\n"], 200))
    add("half-close-get-404", half_close([b"GET /v1/images/aaaaaaaa-0000-4000-8000-000000000002 HTTP/1.1\r\nHost: x\r\n\r\n"], 404))
    add("half-close-post", half_close([b"POST /v1/images HTTP/1.1\r\nHost: x\r\nx-image-meta-name: a\r\nx-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\nabc"], 201))
    add("half-close-two-pipelined", half_close([HEADK + H + b"\r\n" + b"GET /versions HTTP/1.1\r\nHost: x\r\n\r\n"], 200))

    # Split malformed heads: same answer as unsplit, promptly
    add("split-no-colon", split_malformed(HEADK + b"Host: x\r\n", b"NoColon\r\n\r\n"))
    add("split-bad-line", split_malformed(b"HEAD /v1/ima", b"ges/x HT TP/1.1\r\n\r\n"))
    add("split-ctl-in-name", split_malformed(b"HEAD /v1/images/x HTTP/1.1\r\nX-", b"\x01: a\r\n\r\n"))
    add("split-get-no-colon", split_malformed(b"GET /versions HTTP/1.1\r\n", b"Bad Header\r\n\r\n"))
    # A head ending in CR CR LF: hyper re-parses a partly read head only once it sees
    # CRLF CRLF, so split it was left to the header timeout while unsplit it got a 400.
    add("split-cr-cr-lf-end", split_malformed(HEADK + b"Host: x\r\n", b"\r\r\n"))
    add("split-cr-cr-lf-end-early", split_malformed(b"HEAD /v1/im", b"ages/x HTTP/1.1\r\nHost: x\r\n\r\r\n"))
    add("split-get-cr-cr-lf-end", split_malformed(b"GET /versions HTTP/1.1\r\n", b"Host: x\r\n\r\r\n"))

    # Slow clients
    add("slowloris-one", slowloris)
    add("slowloris-300", many_slowloris)
    add("idle-keepalive", idle_keepalive)
    add("slow-upload", slow_upload)
    add("idle-2000", idle_connections)
    return c


# ---------------------------------------------------------------------------------------
# Start-up and record cases (their own server processes)


def startup_cases(binary, tmp):
    """Each: (name, args, files) -> the server must either refuse to start with ONE line on
    stderr naming the field within 10 s, or start within 10 s (and then be healthy)."""
    out = []

    def write(name, doc):
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return p

    def refuses(name, args, needles):
        def run():
            t0 = time.time()
            p = subprocess.Popen(
                [binary, "--listen", "127.0.0.1:0"] + args,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
            try:
                # Started (a "listening" line) or still busy after 10 s: not refused.
                r, _, _ = select.select([p.stdout], [], [], 10)
                line = p.stdout.readline() if r else b""
                if b"listening" in line:
                    raise Fail(f"not refused: started ({line[:60]!r})")
                try:
                    p.wait(5 if r else 0.1)
                except subprocess.TimeoutExpired:
                    raise Fail("not refused: hangs")
                err = p.stderr.read()
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
                p.stdout.close()
                p.stderr.close()
            p.stderr = err
            err = p.stderr.decode("utf-8", "replace").strip()
            if p.returncode == 0:
                raise Fail("exit status 0")
            lines = [l for l in err.splitlines() if l.strip()]
            if len(lines) != 1:
                raise Fail(f"{len(lines)} stderr lines: {err[:300]!r}")
            for n in needles:
                if n not in lines[0]:
                    raise Fail(f"message lacks {n!r}: {lines[0][:300]!r}")
            return f"{lines[0][:110]} ({time.time() - t0:.1f}s)"

        out.append((name, run))

    def rec(**kw):
        r = {"id": "bbbbbbbb-0000-4000-8000-000000000001", "name": "r", "status": "active"}
        r.update(kw)
        return r

    refuses("flag-header-timeout-u64max", ["--header-timeout", "18446744073709551615", "--data", FIXTURE], ["--header-timeout"])
    refuses("flag-header-timeout-0", ["--header-timeout", "0", "--data", FIXTURE], ["--header-timeout"])
    refuses("flag-journal-cap-huge", ["--control", "--journal-cap", "99999999999999", "--data", FIXTURE], ["--journal-cap"])
    f = write("year0.json", [rec(created_at="0000-01-01T00:00:00")])
    refuses("fixture-year-0", ["--data", f], ["year0.json", "created_at"])
    f = write("frac7.json", [rec(updated_at="2016-05-22T06:04:20.4258431")])
    refuses("fixture-7-fraction-digits", ["--data", f], ["frac7.json", "updated_at"])
    f = write("dupkey.json", '[{"id": "bbbbbbbb-0000-4000-8000-000000000001", "name": "a", "name": "b"}]')
    refuses("fixture-duplicate-key", ["--data", f], ["dupkey.json", "name"])
    f = write("bignum.json", '[{"id": "bbbbbbbb-0000-4000-8000-000000000001", "size": 1e400}]')
    refuses("fixture-number-out-of-range", ["--data", f], ["bignum.json", "size"])
    f = write("bignum2.json", '[{"id": "bbbbbbbb-0000-4000-8000-000000000001", "min_ram": 99999999999999999999999}]')
    refuses("fixture-integer-out-of-range", ["--data", f], ["bignum2.json", "min_ram"])
    f = write("surrogate.json", '[{"id": "bbbbbbbb-0000-4000-8000-000000000001", "name": "a\\ud800b"}]')
    refuses("fixture-lone-surrogate", ["--data", f], ["surrogate.json", "name"])
    f = write("devzero.json", [rec(size=10, data={"file": "/dev/zero"})])
    refuses("fixture-data-dev-zero", ["--data", f], ["devzero.json", "data"])
    props = {f"p{i:05}": "v" * 8 for i in range(25000)}
    f = write("manyprops.json", [rec(properties=props)])
    refuses("fixture-25000-properties", ["--data", f], ["manyprops.json", "properties"])
    props = {"big": "v" * (2 << 20)}
    f = write("bigprop.json", [rec(properties=props)])
    refuses("fixture-2mib-property", ["--data", f], ["bigprop.json", "properties"])

    # A FIFO named *.json in a data directory: start-up must not hang on it.
    d = os.path.join(tmp, "fifodir")
    os.mkdir(d)
    write("fifodir/ok.json", [rec()])
    os.mkfifo(os.path.join(d, "pipe.json"))

    def fifo():
        srv = None
        try:
            srv = Server(binary, ["--data", d])
        except RuntimeError as e:
            raise Fail(str(e)[:200])
        finally:
            if srv:
                err = srv.stderr()
                srv.stop()
        if "pipe.json" not in err:
            raise Fail(f"no warning naming pipe.json: {err[:200]!r}")
        return "started, warned"

    out.append(("datadir-fifo", fifo))
    return out


def record_cases(binary, tmp):
    """Records too large to serve: loaded through the control API they must be refused
    (400 naming the field); nothing must make a request drop its connection."""
    out = []

    def control_props():
        srv = Server(binary, ["--data", FIXTURE, "--control", "--header-timeout", str(HEADER_TIMEOUT)])
        try:
            props = {f"p{i:05}": "v" * 8 for i in range(25000)}
            doc = json.dumps([{"id": "bbbbbbbb-0000-4000-8000-000000000001", "name": "r",
                               "status": "active", "properties": props}]).encode()
            out_, _, _ = exchange(
                srv.port,
                [b"POST /_emu/images HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(doc)}\r\n\r\n".encode() + doc],
                limit_s=20, want=1)
            st = statuses(out_)
            if st[:1] == [400]:
                if b"properties" not in out_:
                    raise Fail(f"400 without naming the field: {out_[-200:]!r}")
                return "400 naming properties"
            # Accepted: then every path must still answer a HEAD and a GET of it.
            res = []
            for line in [b"HEAD /v1/images/bbbbbbbb-0000-4000-8000-000000000001 HTTP/1.1",
                         b"GET /v1/images/bbbbbbbb-0000-4000-8000-000000000001 HTTP/1.1"]:
                o, closed, _ = exchange(srv.port, [line + b"\r\nHost: x\r\nX-A: b\r\n\r\n"], limit_s=10, want=1)
                s2 = statuses(o)
                if not s2:
                    raise Fail(f"control API accepted it ({st}), then {line[:4]!r} got no answer (closed={closed})")
                res.append(s2[0])
            raise Fail(f"control API accepted 25,000 properties ({st}); answers {res}")
        finally:
            srv.stop()

    out.append(("control-25000-properties", control_props))

    def journal_pressure():
        # 2,000 requests of ~60 KB heads (~120 MB if kept whole); the journal keeps a
        # bounded number of bytes and reading it back stays bounded too.
        srv = Server(binary, ["--data", FIXTURE, "--control", "--header-timeout", "10",
                              "--journal-cap", "100000"])
        try:
            base = srv.rss_kb()
            big = b"".join(b"X-J%d: %s\r\n" % (i, b"j" * 950) for i in range(60))
            one = b"GET /versions HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n"
            s = connect(srv.port, 10)
            n = 2000
            t0 = time.time()
            for i in range(n):
                s.sendall(one)
                o, _, _ = read_until_close(s, 5, want_responses=1)
                if not statuses(o):
                    raise Fail(f"request {i}: no answer")
            s.close()
            grew = (srv.rss_kb() - base) // 1024
            o, _, _ = exchange(srv.port, [b"GET /_emu/journal HTTP/1.1\r\nHost: x\r\n\r\n"],
                               limit_s=60, want=1)
            st = statuses(o)
            peak = (srv.hwm_kb() - base) // 1024
            if st[:1] != [200]:
                raise Fail(f"journal read: {st}")
            if grew > 96 or peak > 192:
                raise Fail(f"{n} x 60 KB heads: RSS +{grew} MiB held, journal read peak +{peak} MiB")
            return f"RSS +{grew} MiB, read peak +{peak} MiB, {time.time() - t0:.1f}s"
        finally:
            srv.stop()

    out.append(("exhaust-journal-2000x60KB", journal_pressure))

    def max_conns():
        try:
            srv = Server(binary, ["--data", FIXTURE, "--max-connections", "50", "--header-timeout", "5"])
        except RuntimeError as e:
            raise Fail(str(e)[:160])
        try:
            socks = [connect(srv.port, 2) for _ in range(50)]
            time.sleep(0.3)
            # The 51st waits (not refused), and is served once one of the 50 closes.
            extra = connect(srv.port, 5)
            extra.sendall(HEADK + H + b"\r\n")
            out, _, _ = read_until_close(extra, 0.7, want_responses=1)
            if statuses(out):
                raise Fail(f"51st connection served while 50 were open: {statuses(out)}")
            socks.pop().close()
            out, _, secs = read_until_close(extra, 5, want_responses=1)
            extra.close()
            for s in socks:
                s.close()
            if statuses(out) != [200]:
                raise Fail(f"51st connection after one closed: {statuses(out)}")
            if "connection limit" not in srv.stderr():
                raise Fail("no log line about the connection limit")
            return f"51st waited, then served in {secs:.2f}s; logged"
        finally:
            srv.stop()

    def max_conns_wrap():
        return max_conns()

    out.append(("max-connections-50", max_conns_wrap))

    def many_images():
        n = 200_000
        path = os.path.join(tmp, "many.json")
        with open(path, "w") as f:
            f.write("[")
            for i in range(n):
                f.write(("," if i else "") + json.dumps({
                    "id": f"dddddddd-0000-4000-8000-{i:012d}", "name": f"img-{i}",
                    "status": "active", "size": i, "disk_format": "raw",
                    "container_format": "bare", "created_at": "2016-05-22T06:04:20.425843",
                    "properties": {"n": str(i % 7), "os": "cirros"}}))
            f.write("]")
        t0 = time.time()
        srv = Server(binary, ["--data", path, "--header-timeout", "5"])
        try:
            up = time.time() - t0
            rss = srv.rss_kb() // 1024
            o, _, _ = exchange(srv.port, [b"HEAD /v1/images/dddddddd-0000-4000-8000-000000199999 HTTP/1.1\r\nHost: x\r\n\r\n"
                                          b"GET /v1/images/detail?limit=1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
                               limit_s=20)
            st = statuses(o)
            if st != [200, 200]:
                raise Fail(f"answers {st}")
            if rss > 400:
                raise Fail(f"{n} images: VmRSS {rss} MiB")
            return f"{n} images, up in {up:.1f}s, VmRSS {rss} MiB"
        finally:
            srv.stop()

    out.append(("exhaust-200k-images", many_images))

    def at_limit(over):
        # The record's X-Image-Meta-Name and -Property-* lines take exactly the limit
        # (256 KiB), or one byte more.
        limit = 256 * 1024
        name = "n"
        used = len("X-Image-Meta-Name: ") + len(name) + 2
        props = {}
        i = 0
        while True:
            k = f"k{i:05}"
            line = len("X-Image-Meta-Property-") + len(k) + 2 + 200 + 2
            if used + line > limit:
                break
            props[k] = "v" * 200
            used += line
            i += 1
        k = f"k{i:05}"
        rest = limit - used - (len("X-Image-Meta-Property-") + len(k) + 2 + 2) + (1 if over else 0)
        props[k] = "w" * rest
        rid = "eeeeeeee-0000-4000-8000-000000000001"
        path = os.path.join(tmp, f"limit{int(over)}.json")
        with open(path, "w") as f:
            json.dump([{"id": rid, "name": name, "status": "active", "created_at": "2016-05-22T06:04:20", "properties": props}], f)
        return path, rid

    def record_at_limit():
        path, rid = at_limit(False)
        srv = Server(binary, ["--data", path, "--header-timeout", "5"])
        srv2 = Server(binary, ["--data", path, "--header-timeout", "5", "--no-fast-head"])
        try:
            req_ = f"HEAD /v1/images/{rid} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            a, _, _ = exchange(srv.port, [req_], limit_s=10, want=1)
            b, _, _ = exchange(srv2.port, [req_], limit_s=10, want=1)
            mask = lambda r: re.sub(rb"(?m)^(X-Openstack-Request-Id|Date): .*$", b"", r)
            if statuses(a) != [200] or mask(a) != mask(b):
                raise Fail(f"fast {statuses(a)} {len(a)} B vs hyper {statuses(b)} {len(b)} B")
            return f"loaded; HEAD 200 with {len(a)} header bytes, same on both paths"
        finally:
            srv.stop()
            srv2.stop()

    out.append(("exhaust-record-at-limit", record_at_limit))

    def record_over_limit():
        path, _ = at_limit(True)
        proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--data", path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            r, _, _ = select.select([proc.stdout], [], [], 15)
            line = proc.stdout.readline() if r else b""
            if b"listening" in line:
                raise Fail("a record one byte over the limit was loaded")
            try:
                proc.wait(5 if r else 0.1)
            except subprocess.TimeoutExpired:
                raise Fail("neither refused nor started in 15 s")
            err = proc.stderr.read().decode()
            if "[0].properties" not in err:
                raise Fail(f"message lacks the field: {err[:200]!r}")
            return err.strip()[:120]
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()

    out.append(("exhaust-record-over-limit", record_over_limit))
    return out


# ---------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "glance-emu"))
    ap.add_argument("--only", default="")
    ap.add_argument("--skip-startup", action="store_true")
    ap.add_argument("--modes", default="fast,hyper")
    ap.add_argument("--big-upload-mib", type=int, default=256)
    # Flags for the main servers beyond the data and header timeout (the base binary knows
    # none of the new ones: pass --extra "" to run against it).
    ap.add_argument("--extra", default="--upload-min-rate 1024 --upload-rate-window 2")
    args = ap.parse_args()
    t_start = time.time()
    results = []

    def record(name, fn, *a):
        t0 = time.time()
        try:
            note = fn(*a)
            ok = True
        except Fail as e:
            note, ok = str(e), False
        except Exception as e:  # a bug in the case is a failure too
            note, ok = f"{type(e).__name__}: {e}", False
        results.append((name, ok))
        print(f"{'PASS' if ok else 'FAIL'} {name}: {note} [{time.time() - t0:.1f}s]", flush=True)

    for mode in args.modes.split(","):
        flags = ["--data", FIXTURE, "--header-timeout", str(HEADER_TIMEOUT)] + args.extra.split()
        if mode == "hyper":
            flags.append("--no-fast-head")
        srv = Server(args.bin, flags)
        try:
            for name, fn in cases():
                if args.only not in f"{mode}/{name}":
                    continue

                def checked(fn=fn):
                    note = fn(srv)
                    if not srv.alive():
                        raise Fail(f"server died: {srv.stderr()[-300:]!r}")
                    st = head_known(srv.port)
                    if st != 200:
                        raise Fail(f"{note}; afterwards HEAD from a fresh connection: {st}")
                    rss = srv.rss_kb()
                    if rss - srv.base_rss > RSS_SLACK_KB:
                        raise Fail(f"{note}; VmRSS {rss // 1024} MiB (start {srv.base_rss // 1024} MiB)")
                    if "panicked" in srv.stderr():
                        raise Fail(f"{note}; panic in the log: {srv.stderr()[-300:]!r}")
                    return note

                record(f"{mode}/{name}", checked)
            if args.big_upload_mib and f"{mode}/big-upload".find(args.only) >= 0 and args.only in f"{mode}/big-upload":
                record(f"{mode}/big-upload", big_upload, srv, args.big_upload_mib)
        finally:
            srv.stop()

    if not args.skip_startup:
        with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
            for name, fn in startup_cases(args.bin, tmp) + record_cases(args.bin, tmp):
                if args.only in f"startup/{name}":
                    record(f"startup/{name}", fn)

    failed = [n for n, ok in results if not ok]
    print(f"hostile: {len(results) - len(failed)} passed, {len(failed)} failed "
          f"({time.time() - t_start:.0f}s)")
    for n in failed:
        print(f"  failed: {n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
