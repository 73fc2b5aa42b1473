"""Shared helpers for the golden recorder (record.py) and comparer (compare.py).

Stdlib only.  A raw-socket HTTP client that keeps the exact bytes, and the
reader/writer of the `.http` golden file format:

    ### request\n
    <raw request bytes, CRLF kept>\n
    ### response\n
    <raw response bytes, CRLF kept, up to end of file>

The recorder adds exactly one LF after the request bytes (before the
`### response` marker line) and nothing after the response bytes.  Parse by
splitting at the FIRST occurrence of b"\n### response\n" after the first line.
"""
import socket
import time
import urllib.parse

REQ_MARK = b"### request\n"
RESP_MARK = b"\n### response\n"


def parse_base(url):
    """'http://127.0.0.1:29292' -> ('127.0.0.1', 29292)"""
    if "//" not in url:
        url = "http://" + url
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port or 80


def write_golden(path, req, resp):
    with open(path, "wb") as f:
        f.write(REQ_MARK + req + RESP_MARK + resp)


def read_golden(path):
    data = open(path, "rb").read()
    if not data.startswith(REQ_MARK):
        raise ValueError("%s: does not start with '### request'" % path)
    rest = data[len(REQ_MARK):]
    i = rest.find(RESP_MARK)
    if i < 0:
        raise ValueError("%s: no '### response' marker" % path)
    return rest[:i], rest[i + len(RESP_MARK):]


def split_head(raw):
    """raw message -> (start_line:str, [(name,value)], body:bytes).  Header
    names/values are decoded latin-1 and kept exactly as on the wire."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    start = lines[0].decode("latin-1")
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        hdrs.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
    return start, hdrs, body


def get_header(hdrs, name):
    name = name.lower()
    for k, v in hdrs:
        if k.lower() == name:
            return v
    return None


def set_host(req, hostport):
    """Rewrite the value of the Host header of a raw request (first one)."""
    head, sep, body = req.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for i, ln in enumerate(lines[1:], 1):
        k, _, _ = ln.partition(b":")
        if k.strip().lower() == b"host":
            lines[i] = k + b": " + hostport.encode("latin-1")
            break
    return b"\r\n".join(lines) + sep + body


def send_raw(host, port, req, timeout=30.0, grace=0.05):
    """Send raw request bytes on a fresh connection, return the raw response
    bytes (status line + headers + body, exactly as received).

    The body is delimited by Content-Length (none for HEAD/1xx/204/304),
    chunked framing, or connection close; then `grace` seconds more are waited
    for anything unexpected (which is kept, so it shows up in a diff)."""
    method = req.split(b" ", 1)[0].upper()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            c = s.recv(65536)
            if not c:
                return buf
            buf += c
        head, _, rest = buf.partition(b"\r\n\r\n")
        start, hdrs, _ = split_head(head + b"\r\n\r\n")
        try:
            code = int(start.split(" ")[1])
        except (IndexError, ValueError):
            code = 0
        cl = get_header(hdrs, "content-length")
        te = (get_header(hdrs, "transfer-encoding") or "").lower()
        conn = (get_header(hdrs, "connection") or "").lower()
        eof = False
        if method == b"HEAD" or code in (204, 304) or 100 <= code < 200:
            pass
        elif cl is not None and cl.strip().isdigit():
            n = int(cl)
            while len(rest) < n:
                c = s.recv(65536)
                if not c:
                    eof = True
                    break
                rest += c
        elif "chunked" in te:
            while not rest.endswith(b"0\r\n\r\n"):
                c = s.recv(65536)
                if not c:
                    eof = True
                    break
                rest += c
        else:
            while True:
                c = s.recv(65536)
                if not c:
                    eof = True
                    break
                rest += c
        if not eof:
            # server said close: wait for the close (bounded); else grace only
            deadline = time.time() + (2.0 if conn == "close" else grace)
            while True:
                left = deadline - time.time()
                if left <= 0:
                    break
                s.settimeout(left)
                try:
                    c = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not c:
                    break
                rest += c
        return head + b"\r\n\r\n" + rest
    finally:
        s.close()
