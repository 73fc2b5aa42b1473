"""Raw-socket HTTP/1.x for the oracle: requests go out byte for byte as built, responses come
back byte for byte (header case and order kept). Stdlib only; 127.0.0.1 only.

A `Req` is one request: method, target, protocol version, header lines (the Host line is
inserted first unless the request says otherwise) and a body, sent plainly or in chunks.
`exchange(port, reqs)` sends one or more requests on ONE connection (keep-alive checks) and
returns, per request, the raw response bytes, plus whether the server closed the connection
after the last one (only probed when asked, since probing costs a short wait).
"""
import socket

HOST = "127.0.0.1"


class Req(object):
    __slots__ = ("method", "target", "version", "headers", "body", "chunked", "host",
                 "name", "probe_close")

    def __init__(self, method, target, headers=(), body=b"", version="HTTP/1.1",
                 chunked=False, host=True, name="", probe_close=False):
        self.method, self.target, self.version = method, target, version
        self.headers = list(headers)
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.chunked, self.host, self.name, self.probe_close = chunked, host, name, probe_close

    def to_bytes(self, port):
        lines = ["%s %s %s" % (self.method, self.target, self.version)]
        if self.host:
            lines.append("Host: %s:%d" % (HOST, port))
        names = set()
        for k, v in self.headers:
            lines.append("%s: %s" % (k, v))
            names.add(k.lower())
        body = self.body
        if self.chunked:
            if "transfer-encoding" not in names:
                lines.append("Transfer-Encoding: chunked")
            out, step = b"", 7
            for i in range(0, len(body), step):
                piece = body[i:i + step]
                out += b"%x\r\n%s\r\n" % (len(piece), piece)
            body = out + b"0\r\n\r\n"
        elif body and "content-length" not in names:
            lines.append("Content-Length: %d" % len(body))
        # A str header value may carry raw bytes that are not UTF-8 as surrogate escapes
        # ("caf\udce9" goes out as the byte 0xE9).
        head = "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n"
        return head + body

    def show(self):
        """The request as text for reports (port shown as {PORT})."""
        raw = self.to_bytes(0).replace(b"127.0.0.1:0", b"127.0.0.1:{PORT}")
        if len(raw) > 1500:
            raw = raw[:1500] + b"...<%d bytes>" % len(raw)
        return raw.decode("utf-8", "replace")


def _parse_head(head):
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        hdrs.append((k.strip().lower(), v.strip()))
    return code, hdrs


class _Conn(object):
    def __init__(self, port, timeout):
        self.s = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def fill(self):
        if self.eof:
            return False
        try:
            chunk = self.s.recv(65536)
        except socket.timeout:
            self.eof = True
            return False
        except OSError:
            self.eof = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def take(self, n):
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method):
        while b"\r\n\r\n" not in self.buf:
            if not self.fill():
                return self.take(len(self.buf))
        i = self.buf.index(b"\r\n\r\n") + 4
        head = self.take(i)
        code, hdrs = _parse_head(head[:-4])
        if 100 <= code < 200:            # interim response: keep it, read the final one
            return head + self.read_response(method)
        te = [v for k, v in hdrs if k == b"transfer-encoding"]
        cl = [v for k, v in hdrs if k == b"content-length"]
        if method == "HEAD" or code in (204, 304):
            return head
        if te and te[-1].lower().endswith(b"chunked"):
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    if not self.fill():
                        return head + body + self.take(len(self.buf))
                j = self.buf.index(b"\r\n") + 2
                line = self.take(j)
                body += line
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return head + body
                need = size + 2
                while len(self.buf) < need:
                    if not self.fill():
                        break
                body += self.take(need)
                if size == 0:
                    return head + body
        if cl and cl[0].isdigit():
            n = int(cl[0])
            while len(self.buf) < n:
                if not self.fill():
                    break
            return head + self.take(n)
        while self.fill():
            pass
        return head + self.take(len(self.buf))

    def closed_after(self, wait):
        """Whether the server closes the connection within `wait` seconds (no extra bytes)."""
        if self.eof:
            return True
        self.s.settimeout(wait)
        try:
            chunk = self.s.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            return True
        if chunk:
            self.buf += chunk
            return False
        return True

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def exchange(port, reqs, timeout=30.0):
    """Send `reqs` one after another on one connection; -> ([raw response], closed|None, extra).

    `closed` is None unless the last request asked for probe_close; `extra` is any bytes the
    server sent beyond the responses that were read (normally empty)."""
    c = _Conn(port, timeout)
    out = []
    try:
        for r in reqs:
            try:
                c.s.sendall(r.to_bytes(port))
            except OSError:
                out.append(b"")
                continue
            out.append(c.read_response(r.method))
        closed = None
        if reqs and reqs[-1].probe_close:
            closed = c.closed_after(0.3)
        extra = c.buf
        return out, closed, extra
    finally:
        c.close()
