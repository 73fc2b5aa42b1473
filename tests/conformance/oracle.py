#!/usr/bin/env python3
"""Live conformance oracle: the same generated raw requests to a REAL Glance 15 (Pike) v1 and to
glance-emu, loaded with the same fixture; every response compared byte for byte after
normalising only what must differ.

usage: oracle.py [--emu BIN] [--flavor noauth|trusted-auth|both] [--report FILE]
                 [--phases a,b] [--save-real FILE | --real-from FILE]
                 [--baseline FILE] [--write-baseline FILE]

  --emu       the glance-emu binary (default target/release/glance-emu); it runs with
              --glance-compat and --auth noauth / trusted-headers
  --flavor    which paste flavour(s) of real Glance to run (default both)
  --report    where the differences go (default tests/conformance/report.txt)
  --save-real keep real Glance's answers (keyed by flavour, case and the requests' bytes)
  --real-from replay them instead of running Glance: a quick emulator-only iteration (the
              live run is the truth; a case the file does not hold stops the run)
  --baseline  a list of known-unfixed difference keys: those count as "known", the run fails
              only on NEW differences (not used by .ci/run, where other must be 0)

The read-only phases (visibility, variants, paths, filters) send several cases at a time to
each server; the method matrix and the write phase run case after case.

Real Glance: the folder tests/glance-real (or $GLANCE_REAL) is copied to $ORACLE_CACHE
(default ~/.cache/glance-emu-oracle) and set up there once (`setup.sh`: a venv from PyPI);
every run starts from a fresh state/ (db_sync, fixture load through the API as admin, sqlite
patch), with PYTHONHASHSEED=0. Ports: $ORACLE_PORT_BASE (default 9500): real API +0, registry
+1, emulator +10. Only 127.0.0.1 is used; only processes this script started are stopped.

Comparison: status line, every header line (exact name case, value and order) and the body.
Normalised on both sides, and only these: the Date value (must have the RFC 1123 shape), a
generated X-Openstack-Request-Id (must be req-<uuid4>; an echoed one must match exactly),
127.0.0.1:<port> (same number of digits on both sides, so lengths agree), timestamps of the
run day (server clocks; fixture timestamps are years older and stay exact), and ids the
servers generate (the emulator's id is mapped to Glance's once learned from Location).
Whatever still differs is checked against the rules in deliberate.txt: a difference that
one of those rules fully explains counts as "deliberate", anything else as "other".
Exit status: 0 when other = 0 (or, with --baseline, no difference outside the baseline).
"""
import argparse
import collections
import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import fixture  # noqa: E402
import generate  # noqa: E402
from rawhttp import Req, exchange  # noqa: E402

DATE_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3]\d "
                     r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                     r"[0-2]\d:[0-5]\d:[0-6]\d GMT$")
REQID_RE = re.compile(rb"req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TS_RE = re.compile(rb"(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?")
UUID_RE = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def log(msg):
    sys.stderr.write("[oracle %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---------------------------------------------------------------- servers

class RealGlance(object):
    """A real Glance 15 v1 (api + registry) from the glance-real scripts (tests/glance-real)."""

    def __init__(self, api_port, reg_port):
        src = os.environ.get("GLANCE_REAL") or os.path.join(ROOT, "tests", "glance-real")
        cache = os.environ.get("ORACLE_CACHE") or os.path.join(
            os.path.expanduser("~"), ".cache", "glance-emu-oracle")
        self.dir = os.path.join(cache, "glance-real")
        self.api_port, self.reg_port = api_port, reg_port
        if not os.path.exists(os.path.join(self.dir, ".venv", "bin", "glance-api")):
            log("setting up real Glance in %s (once; the venv is kept)" % self.dir)
            if os.path.exists(self.dir):
                shutil.rmtree(self.dir)
            os.makedirs(cache, exist_ok=True)
            shutil.copytree(os.path.realpath(src), self.dir, ignore=shutil.ignore_patterns(
                ".venv", "state"))
            for base, dirs, files in os.walk(self.dir):   # the shared copy is read-only
                for n in dirs + files:
                    os.chmod(os.path.join(base, n), 0o755)
            os.chmod(self.dir, 0o755)
            subprocess.check_call(["./setup.sh"], cwd=self.dir, stdout=sys.stderr)
        self.env = dict(os.environ, API_PORT=str(api_port), REGISTRY_PORT=str(reg_port),
                        PYTHONHASHSEED="0", WORKERS="1")
        self.state = os.path.join(self.dir, "state")
        self.template = os.path.join(cache, "template-%d" % os.getpid())

    def fresh_state(self):
        self.stop()
        if os.path.exists(self.state):
            shutil.rmtree(self.state)

    def start(self, flavor):
        env = dict(self.env, FLAVOR="" if flavor == "noauth" else flavor)
        subprocess.check_call(["./start.sh"], cwd=self.dir, env=env, stdout=sys.stderr)

    def stop(self):
        if os.path.isdir(self.state):
            subprocess.call(["./stop.sh"], cwd=self.dir, stdout=subprocess.DEVNULL)

    def load_fixture(self):
        """Fresh state, fixture loaded through the API (trusted-auth admin), then a template
        copy of state/ that every flavour starts from."""
        self.fresh_state()
        self.start("trusted-auth")
        fixture.load_into_glance(self.api_port, os.path.join(self.state, "glance.sqlite"))
        self.stop()
        if os.path.exists(self.template):
            shutil.rmtree(self.template)
        shutil.copytree(self.state, self.template)

    def restore(self):
        self.fresh_state()
        shutil.copytree(self.template, self.state)
        for f in os.listdir(os.path.join(self.state, "log")):
            os.remove(os.path.join(self.state, "log", f))

    def cleanup(self):
        self.stop()
        if os.path.exists(self.template):
            shutil.rmtree(self.template)


class Emu(object):
    """glance-emu. ORACLE_EMU_PERSIST=1 runs it with `--persist` (a new directory per
    flavour); ORACLE_EMU_RESTART=N then restarts it on the same directory every N cases of
    the phases that run in order, with SIGTERM, or SIGKILL with ORACLE_EMU_KILL=1 (a crash
    between acknowledged writes): every answer after a restart must still be real Glance's."""

    def __init__(self, binary, port, fixture_path):
        self.binary, self.port, self.fixture_path = binary, port, fixture_path
        self.proc = None
        self.persist = bool(os.environ.get("ORACLE_EMU_PERSIST"))
        self.dir = None
        self.flavor = None
        self.restarts = 0

    def start(self, flavor, fresh=True):
        auth = "noauth" if flavor == "noauth" else "trusted-headers"
        self.flavor = flavor
        extra = []
        if self.persist:
            if fresh or self.dir is None:
                self.dir = tempfile.mkdtemp(prefix="oracle-persist-")
            extra = ["--persist", self.dir]
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [self.binary, "--listen", "127.0.0.1:%d" % self.port, "--data", self.fixture_path,
             "--auth", auth, "--glance-compat"] + extra,
            stdout=subprocess.PIPE, stderr=self.out)
        line = self.proc.stdout.readline().decode()
        if "listening" not in line:
            self.out.seek(0)
            raise SystemExit("glance-emu did not start: %r %r" % (line, self.out.read()))

    def restart(self):
        """Stops (or kills) and starts again on the same state directory."""
        if os.environ.get("ORACLE_EMU_KILL") and self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        self.stop()
        self.start(self.flavor, fresh=False)
        self.restarts += 1

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# ---------------------------------------------------------------- normalising

class Side(object):
    def __init__(self, name, port):
        self.name, self.port = name, port
        self.ids = {}           # placeholder key -> this server's id


def split(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        hdrs.append([k.decode("latin-1"), v.strip(b" \t").decode("latin-1")])
    return lines[0].decode("latin-1"), hdrs, body, bool(sep)


class Norm(object):
    """One response, normalised: status line, [name, value] list, body."""

    def __init__(self, raw, side, req, today, idmap):
        for a, b in idmap.items():
            raw = raw.replace(a.encode(), b.encode())
        self.raw = raw
        host = ("127.0.0.1:%d" % side.port).encode()
        raw = raw.replace(host, b"{HOST}")
        sent_rid = None
        for k, v in req.headers:
            if k.lower() == "x-openstack-request-id":
                sent_rid = v
        # Interim answers (`100 Continue` to an `Expect`) before the final one: kept in
        # the status line, so their presence is compared, and the final answer is
        # normalised as any other.
        interim = []
        while re.match(rb"HTTP/1\.[01] 1\d\d ", raw) and b"\r\n\r\n" in raw:
            head, _, raw = raw.partition(b"\r\n\r\n")
            interim.append(head.decode("latin-1") + " | ")
        self.status, self.headers, body, self.complete = split(raw)
        self.status = "".join(interim) + self.status
        for h in self.headers:
            n = h[0].lower()
            if n == "date" and DATE_RE.match(h[1]):
                h[1] = "{DATE}"
            elif n == "x-openstack-request-id":
                if not (sent_rid and h[1] in (sent_rid, "req-" + sent_rid)) and \
                        REQID_RE.fullmatch(h[1].encode()):
                    h[1] = "{REQ-ID}"
            else:
                h[1] = TS_RE.sub(lambda m: self._ts(m, today),
                                 h[1].encode("latin-1")).decode("latin-1")
        self.body = TS_RE.sub(lambda m: self._ts(m, today), body)
        self.body = REQID_RE.sub(b"{REQ-ID}", self.body)

    @staticmethod
    def _ts(m, today):
        """Timestamps of the run day are the servers' clocks; older ones are fixture data."""
        return b"{NOW}" if m.group(1).decode() >= today else m.group(0)

    def key(self):
        return (self.status, tuple(tuple(h) for h in self.headers), self.body)

    def text(self, limit=1200):
        out = self.status + "\n" + "".join("%s: %s\n" % tuple(h) for h in self.headers)
        b = self.body
        if b:
            out += "\n" + (b[:limit].decode("utf-8", "replace") +
                           ("...<%d bytes>" % len(b) if len(b) > limit else ""))
        return out


# ---------------------------------------------------------------- deliberate rules

def _meta_sorted(hdrs):
    """Sort each contiguous run of X-Image-Meta-* headers."""
    out, run = [], []
    for h in hdrs + [None]:
        if h is not None and h[0].lower().startswith("x-image-meta-"):
            run.append(h)
            continue
        out += sorted(run)
        run = []
        if h is not None:
            out.append(h)
    return out


def _pyjson(body):
    """A body formatted exactly like Python json.dumps() -> canonical sorted form, else None."""
    try:
        doc = json.loads(body.decode("utf-8"), object_pairs_hook=collections.OrderedDict)
    except (ValueError, UnicodeDecodeError):
        return None
    if json.dumps(doc).encode() != body:
        return None
    return json.dumps(doc, sort_keys=True).encode()


def rule_py3_meta_order(real, emu, req):
    """The X-Image-Meta-* block in another order (dict order of Python 3 with a hash seed)."""
    real.headers, emu.headers = _meta_sorted(real.headers), _meta_sorted(emu.headers)


def rule_py3_json_key_order(real, emu, req):
    """JSON objects with keys in another order (same Python 3 dict-order artefact)."""
    a, b = _pyjson(real.body), _pyjson(emu.body)
    if a is not None and b is not None:
        real.body, emu.body = a, b


def _explained(real, emu):
    """The rule explains the whole difference: make the two sides equal."""
    real.status, real.headers, real.body = emu.status, [list(h) for h in emu.headers], emu.body


def rule_oslo_healthcheck_page(real, emu, req):
    """/healthcheck (any method but HEAD, which oslo.middleware answered alike) asking for
    HTML or JSON: the HTML page carries the host name, Python version and live thread stacks
    of the reference process, and its JSON branch is a 500 on Python 3 (a str body handed to
    WebOb). glance-emu answers its readiness "OK"."""
    accept = ",".join(v for k, v in req.headers if k.lower() == "accept")
    if req.method == "HEAD" or req.target.split("?")[0] != "/healthcheck" or \
            emu.status != "HTTP/1.1 200 OK" or emu.body != b"OK":
        return
    if real.body.startswith(b"<HTML>\n<HEAD><TITLE>Healthcheck Status") or (
            real.status.startswith("HTTP/1.1 500") and "json" in accept):
        _explained(real, emu)


def rule_py3_latin1_non_ascii(real, emu, req):
    """Non-ASCII bytes in the path: Python 3's WSGI decodes them as latin-1, so WebOb escapes
    each UTF-8 byte as its own character reference (caf&#195;&#169;), and a plain-text page
    carries each byte as its own character, UTF-8 encoded (caf\xc3\x83\xc2\xa9). Python
    2.7 kept the bytes; glance-emu writes the UTF-8 text."""
    try:
        text = emu.body.decode("utf-8")
    except UnicodeDecodeError:
        return
    if all(ord(ch) < 128 for ch in text):
        return
    if re.search(rb"&#(1[2-9]\d|2[0-5]\d);", real.body):
        body = "".join(ch if ord(ch) < 128 else "".join("&#%d;" % b for b in ch.encode("utf-8"))
                       for ch in text).encode("ascii")
    else:
        body = text.encode("utf-8").decode("latin-1").encode("utf-8")
        if body != real.body:
            return
    delta = len(body) - len(emu.body)
    emu.body = body
    for h in emu.headers:
        if h[0].lower() == "content-length" and h[1].isdigit():
            h[1] = str(int(h[1]) + delta)


def _py3_text(v):
    """What Python 3's Glance made of text that came in a header: each UTF-8 byte of it one
    latin-1 character."""
    if isinstance(v, str):
        return v.encode("utf-8").decode("latin-1")
    if isinstance(v, list):
        return [_py3_text(x) for x in v]
    if isinstance(v, dict):
        return collections.OrderedDict((_py3_text(k), _py3_text(x)) for k, x in v.items())
    return v


def rule_py3_latin1_header_values(real, emu, req):
    """Non-ASCII bytes in the header values of a write (name, owner, a property): Python 3's
    WSGI decoded them as latin-1, so Glance's JSON shows one \\u00XX per UTF-8 byte
    (caf\\u00c3\\u00a9), and a value that is not UTF-8 comes back on HEAD byte for byte.
    Production Python 2.7 kept the bytes as text; glance-emu stores UTF-8 text (a value that
    is not UTF-8 decoded as latin-1) and writes it back as UTF-8."""
    for a, b in zip(real.headers, emu.headers):
        if a[0] != b[0] or a[1] == b[1] or not a[0].lower().startswith("x-image-meta-"):
            continue
        try:
            text = b[1].encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if text == a[1] and any(ord(c) > 127 for c in text):
            b[1] = a[1]
    if real.body == emu.body:
        return
    try:
        rd = json.loads(real.body.decode("utf-8"), object_pairs_hook=collections.OrderedDict)
        ed = json.loads(emu.body.decode("utf-8"), object_pairs_hook=collections.OrderedDict)
    except (ValueError, UnicodeDecodeError):
        return
    if json.dumps(rd).encode() != real.body or json.dumps(ed).encode() != emu.body:
        return
    if not re.search(rb"\\u00[89a-f][0-9a-f]", real.body):
        return
    if _py3_text(ed) == rd:
        emu.body = real.body
        rl = [h[1] for h in real.headers if h[0].lower() == "content-length"]
        for h in emu.headers:
            if h[0].lower() == "content-length" and rl:
                h[1] = rl[0]


RULES = collections.OrderedDict([
    ("py3-meta-order", rule_py3_meta_order),
    ("py3-json-key-order", rule_py3_json_key_order),
    ("py3-latin1-non-ascii", rule_py3_latin1_non_ascii),
    ("py3-latin1-header-values", rule_py3_latin1_header_values),
    ("oslo-healthcheck-page", rule_oslo_healthcheck_page),
])


def load_deliberate(path):
    """deliberate.txt: '<rule-id>  <reason>' lines; only rules listed there are applied."""
    ids = []
    for ln in open(path, encoding="utf-8"):
        ln = ln.split("#", 1)[0].strip()
        if ln:
            rid = ln.split()[0]
            if rid not in RULES:
                raise SystemExit("%s: unknown rule %r" % (path, rid))
            ids.append(rid)
    return ids


def brief(real, emu):
    """What still differs after the rules: one short line."""
    out = []
    if real.status != emu.status:
        out.append("status %r vs %r" % (real.status, emu.status))
    rn = [h[0] for h in real.headers]
    en = [h[0] for h in emu.headers]
    if rn != en:
        out.append("header names %s vs %s" % (",".join(rn), ",".join(en)))
    else:
        for a, b in zip(real.headers, emu.headers):
            if a != b:
                out.append("%s: %r vs %r" % (a[0], a[1][:80], b[1][:80]))
    if real.body != emu.body:
        a, b = real.body, emu.body
        i = 0
        while i < min(len(a), len(b)) and a[i] == b[i]:
            i += 1
        out.append("body@%d %r vs %r" % (i, a[max(0, i - 30):i + 50], b[max(0, i - 30):i + 50]))
    return "; ".join(out)


def classify(real, emu, req, rules):
    """-> ('identical' | 'deliberate' | 'other', [rule ids that were needed])"""
    if real.key() == emu.key():
        return "identical", []
    used = []
    for rid in rules:
        before = (real.key(), emu.key())
        RULES[rid](real, emu, req)
        if (real.key(), emu.key()) != before:
            used.append(rid)
        if real.key() == emu.key():
            return "deliberate", used
    return "other", used


# ---------------------------------------------------------------- running

POOL = concurrent.futures.ThreadPoolExecutor(8)
# Phases whose requests change nothing: their cases go to both servers several at a time
# (the close probes' waits overlap); the rest run one case after another, in order.
PARALLEL_PHASES = ("visibility", "variants", "paths", "filters", "random")
PARALLEL = 4
SAVED = None         # real Glance's answers, saved (--save-real) or replayed (--real-from)
KNOWN_SEEN = set()   # "<flavor> | <case name>" of every "other" difference of this run

def resolve(req, side):
    """A copy of req with @@key@@ placeholders replaced by this server's ids."""
    if "@@" not in req.target and not any("@@" in v for _, v in req.headers):
        return req

    def sub(s):
        return re.sub(r"@@(\w+)@@", lambda m: side.ids.get(m.group(1), "no-such-id"), s)
    return Req(req.method, sub(req.target), [(k, sub(v)) for k, v in req.headers], req.body,
               req.version, req.chunked, req.host, req.name, req.probe_close)


def location_id(raw):
    for ln in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if ln.lower().startswith(b"location:"):
            m = UUID_RE.search(ln)
            if m:
                return m.group(0).decode()
    m = re.search(rb'"id": "([0-9a-f-]{36})"', raw)
    return m.group(1).decode() if m else None


# ORACLE_TRACE=FILE: one line per exchange (case, request line, both status lines), to
# follow a sequence of writes up to the difference it led to (exploration).
TRACE = open(os.environ["ORACLE_TRACE"], "w") if os.environ.get("ORACLE_TRACE") else None


def run_flavor(flavor, real_side, emu_side, rules, today, phases_wanted, report,
               emu_proc=None):
    counts = collections.Counter()
    by_rule = collections.Counter()
    by_group = collections.Counter()
    others = []
    idmap = {}
    for pname, cases in generate.phases(flavor):
        if phases_wanted and pname not in phases_wanted:
            continue
        t0 = time.time()
        n0 = counts["exchanges"]

        def run_case(case):
            rr = [resolve(r, real_side) for r in case.reqs]
            er = [resolve(r, emu_side) for r in case.reqs]
            # both servers at once (a close probe waits; the emulator is quick anyway)
            fut = POOL.submit(exchange, emu_side.port, er)
            # saved answers are keyed by the requests' bytes too: a changed generator
            # never replays a stale answer
            digest = hashlib.sha1(b"".join(r.to_bytes(0) for r in case.reqs)).hexdigest()
            key = "%s|%s|%s" % (flavor, case.name, digest[:16])
            if SAVED is not None and not SAVED.get("live"):
                if key not in SAVED:
                    raise SystemExit("--real-from: no saved answer for %r (the generator "
                                     "changed: save a new live run)" % key)
                real_out, real_closed = SAVED[key]
            else:
                real_out, real_closed, _ = exchange(real_side.port, rr)
                if SAVED is not None:
                    SAVED[key] = (real_out, real_closed)
            emu_out, emu_closed, _ = fut.result()
            return rr, real_out, real_closed, emu_out, emu_closed

        if pname in PARALLEL_PHASES:
            with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
                results = list(pool.map(run_case, cases))
        else:
            results = None
        every = int(os.environ.get("ORACLE_EMU_RESTART", 0) or 0)
        for n, case in enumerate(cases):
            if results is None and emu_proc is not None and emu_proc.persist and every \
                    and n % every == every - 1:
                emu_proc.restart()
            rr, real_out, real_closed, emu_out, emu_closed = (
                results[n] if results is not None else run_case(case))
            # learn server-generated ids (POST without x-image-meta-id)
            for ro, eo in zip(real_out, emu_out):
                rid, eid = location_id(ro), location_id(eo)
                if rid and eid and rid != eid and ro.startswith(b"HTTP/1.1 201"):
                    idmap[eid] = rid
                    if case.learn:
                        real_side.ids[case.learn], emu_side.ids[case.learn] = rid, eid
                elif case.learn and rid and eid:
                    real_side.ids[case.learn], emu_side.ids[case.learn] = rid, eid
            for i, (req, ro, eo) in enumerate(zip(rr, real_out, emu_out)):
                counts["exchanges"] += 1
                if TRACE is not None:
                    TRACE.write("%s | %s | %s %s | glance %s | emu %s\n" % (
                        flavor, case.name, req.method, req.target,
                        ro.split(b"\r\n", 1)[0].decode("latin-1"),
                        eo.split(b"\r\n", 1)[0].decode("latin-1")))
                real = Norm(ro, real_side, req, today, {})
                emu = Norm(eo, emu_side, req, today, idmap)
                shown = (real.text(), emu.text())
                verdict, used = classify(real, emu, req, rules)
                last = i == len(rr) - 1
                if verdict != "other" and last and real_closed != emu_closed:
                    verdict, used = "other", used + ["connection-close"]
                counts[verdict] += 1
                for u in used:
                    by_rule[u] += 1
                if verdict == "other":
                    by_group[case.group] += 1
                    KNOWN_SEEN.add("%s | %s" % (flavor, case.name)) if len(rr) == 1 else \
                        KNOWN_SEEN.add("%s | %s #%d" % (flavor, case.name, i + 1))
                    extra = ""
                    if last and real_closed != emu_closed:
                        extra = "connection closed after response: glance=%s emu=%s\n" % (
                            real_closed, emu_closed)
                    others.append("=== [%s] %s (%s)\n--- diff: %s\n--- request\n%s\n%s"
                                  "--- glance\n%s\n--- emu\n%s\n" % (
                                      flavor, case.name, case.group, brief(real, emu),
                                      req.show(), extra, shown[0], shown[1]))
        log("%s/%s: %d exchanges in %.1fs" % (flavor, pname, counts["exchanges"] - n0,
                                              time.time() - t0))
    report.write("#### flavour %s: %d exchanges, %d identical, %d deliberate, %d other\n" % (
        flavor, counts["exchanges"], counts["identical"], counts["deliberate"],
        counts["other"]))
    for rid, n in sorted(by_rule.items()):
        report.write("#   deliberate rule %-28s used %d times\n" % (rid, n))
    for g, n in sorted(by_group.items()):
        report.write("#   other in %-50s %d\n" % (g, n))
    for o in others:
        report.write(o)
    return counts, others


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--emu", default=os.path.join(ROOT, "target", "release", "glance-emu"))
    ap.add_argument("--flavor", default="both", choices=["noauth", "trusted-auth", "both"])
    ap.add_argument("--report", default=os.path.join(HERE, "report.txt"))
    ap.add_argument("--deliberate", default=os.path.join(HERE, "deliberate.txt"))
    ap.add_argument("--phases", default="")
    ap.add_argument("--baseline", help="known-unfixed differences (one key a line): the run "
                    "fails only on differences not listed there")
    ap.add_argument("--save-real", help="also save real Glance's answers to this file")
    ap.add_argument("--real-from", help="replay real Glance's answers saved by --save-real "
                    "instead of running Glance (quick emulator-only iterations; the live run "
                    "is the truth)")
    ap.add_argument("--write-baseline", help="write the keys of this run's differences here")
    args = ap.parse_args()
    base = int(os.environ.get("ORACLE_PORT_BASE", "9500"))
    rules = load_deliberate(args.deliberate)
    phases_wanted = [p for p in args.phases.split(",") if p]
    flavors = ["noauth", "trusted-auth"] if args.flavor == "both" else [args.flavor]
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="oracle-")
    fx = os.path.join(work, "fixture.json")
    with open(fx, "w") as f:
        json.dump(fixture.emu_fixture(), f, indent=1)
    global SAVED
    if args.real_from:
        import pickle
        with open(args.real_from, "rb") as f:
            SAVED = pickle.load(f)
        real = None
    else:
        if args.save_real:
            SAVED = {"live": True}
        real = RealGlance(base, base + 1)
    emu = Emu(os.path.abspath(args.emu), base + 10, fx)
    totals = {}
    try:
        if real:
            real.load_fixture()
            log("real Glance ready with the fixture (%.0fs)" % (time.time() - t0))
        with open(args.report, "w", encoding="utf-8") as report:
            for flavor in flavors:
                today = (datetime.datetime.utcnow() - datetime.timedelta(days=1)).strftime(
                    "%Y-%m-%d")
                if real:
                    real.restore()
                    real.start(flavor)
                emu.start(flavor)
                try:
                    totals[flavor], _ = run_flavor(flavor, Side("glance", base),
                                                   Side("emu", base + 10), rules, today,
                                                   phases_wanted, report, emu)
                finally:
                    emu.stop()
                    if real:
                        real.stop()
    finally:
        emu.stop()
        if real:
            real.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    if args.save_real and SAVED is not None:
        import pickle
        SAVED.pop("live", None)
        with open(args.save_real, "wb") as f:
            pickle.dump(SAVED, f)
    bad = 0
    for flavor, c in totals.items():
        print("oracle %-12s exchanges %5d  identical %5d  deliberate %5d  other %5d" % (
            flavor, c["exchanges"], c["identical"], c["deliberate"], c["other"]))
        bad += c["other"]
    if emu.restarts:
        print("glance-emu restarted %d times on its --persist state" % emu.restarts)
    print("report: %s  (%.0fs)" % (args.report, time.time() - t0))
    if args.write_baseline:
        with open(args.write_baseline, "w", encoding="utf-8") as f:
            f.write("# oracle differences not fixed yet (written by --write-baseline)\n")
            f.write("".join(k + "\n" for k in sorted(KNOWN_SEEN)))
    if args.baseline:
        known = set(ln.rstrip("\n") for ln in open(args.baseline, encoding="utf-8")
                    if ln.strip() and not ln.startswith("#"))
        new = sorted(KNOWN_SEEN - known)
        print("baseline: %d known differences, %d of them seen, %d NEW" % (
            len(known), len(KNOWN_SEEN & known), len(new)))
        for k in new[:50]:
            print("  NEW: " + k)
        sys.exit(1 if new else 0)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
