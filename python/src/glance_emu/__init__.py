"""Drive a glance-emu server from Python tests: start the binary (or attach to a running
server) and call its control API (/_emu/, see docs/testing.md) as methods.

    with GlanceEmu.start() as emu:
        emu.load({"id": "img-1", "name": "demo"})
        ... point the code under test at emu.url ...
        assert emu.journal(method="HEAD")[-1]["status"] == 200

Standard library only (urllib): installing this package never changes what the code under
test imports.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["GlanceEmu", "ControlError", "find_binary"]
__version__ = "0.1.0"

_URL_RE = re.compile(r"http://\S+?(?=[\s/]|$)")


class ControlError(Exception):
    """A control call answered with an error status; `.status` and `.message` say which."""

    def __init__(self, method, path, status, message):
        super().__init__("%s %s: %s %s" % (method, path, status, message))
        self.status = status
        self.message = message


def find_binary():
    """The glance-emu binary: $GLANCE_EMU_BIN, then `glance-emu` on PATH, then
    target/release/glance-emu in the repository holding this package or in the current
    directory or any of its parents. Raises FileNotFoundError naming every place tried."""
    tried = []
    env = os.environ.get("GLANCE_EMU_BIN")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise FileNotFoundError("GLANCE_EMU_BIN=%s is not an executable file" % env)
    tried.append("$GLANCE_EMU_BIN (unset)")
    on_path = shutil.which("glance-emu")
    if on_path:
        return on_path
    tried.append("glance-emu on PATH")
    roots = []
    here = Path(__file__).resolve()
    roots.extend(here.parents)
    cwd = Path.cwd().resolve()
    roots.extend([cwd] + list(cwd.parents))
    seen = set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        candidate = root / "target" / "release" / "glance-emu"
        if (root / "Cargo.toml").is_file():
            tried.append(str(candidate))
        if candidate.is_file() and os.access(str(candidate), os.X_OK):
            return str(candidate)
    raise FileNotFoundError(
        "no glance-emu binary found (tried %s); build it with `cargo build --release`, "
        "install it with `cargo install --path <repo>`, or set GLANCE_EMU_BIN"
        % ", ".join(tried))


class GlanceEmu(object):
    """A glance-emu server and its control API.

    `GlanceEmu.start(...)` runs the binary; `GlanceEmu(url, ...)` attaches to a running one.
    Every control call raises ControlError on an error answer.
    """

    def __init__(self, url, control_url=None, token=None, process=None, log_path=None,
                 tmpdir=None):
        self.url = url.rstrip("/")
        self.control_url = (control_url or self.url).rstrip("/")
        self.token = token
        self.process = process
        self.log_path = log_path
        self._tmpdir = tmpdir

    # ---------------------------------------------------------------- life cycle

    @classmethod
    def start(cls, data=(), args=(), binary=None, token=None, timeout=30.0, env=None):
        """Start the binary on 127.0.0.1 with a free port and the control API on.

        data: fixture paths (--data); none means an empty server (an empty directory, so a
        reset goes back to nothing). args: extra command-line arguments. The server's stderr
        (its access log) goes to `self.log_path`. Returns once GET /healthcheck answers 200.
        """
        binary = binary or find_binary()
        tmpdir = tempfile.mkdtemp(prefix="glance-emu-")
        paths = [str(p) for p in data]
        if not paths:
            empty = os.path.join(tmpdir, "data")
            os.mkdir(empty)
            paths = [empty]
        cmd = [binary, "--listen", "127.0.0.1:0", "--control"]
        for p in paths:
            cmd += ["--data", p]
        if token:
            cmd += ["--control-token", token]
        cmd += [str(a) for a in args]
        # The command line says everything: the caller's GLANCE_EMU_* settings stay out.
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCE_EMU_")}
        child_env.update(env or {})
        log_path = os.path.join(tmpdir, "glance-emu.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=log, env=child_env)
        first = {}
        got = threading.Event()

        def drain():
            # The first line names the URL; keep reading so the server never blocks on a
            # full pipe.
            first["line"] = proc.stdout.readline().decode("utf-8", "replace")
            got.set()
            for _ in iter(proc.stdout.readline, b""):
                pass

        threading.Thread(target=drain, daemon=True).start()
        got.wait(timeout)
        m = _URL_RE.search(first.get("line", ""))
        emu = cls(m.group(0) if m else "http://127.0.0.1:0", token=token, process=proc,
                  log_path=log_path, tmpdir=tmpdir)
        if not m:
            emu.stop()
            raise RuntimeError("%s did not start (%s); its stderr:\n%s"
                               % (binary, "exit status %s" % proc.returncode
                                  if proc.returncode is not None else "no URL after %ss" % timeout,
                                  emu.log()[-3000:]))
        emu.wait_ready(timeout)
        return emu

    def wait_ready(self, timeout=30.0):
        """Wait until GET /healthcheck answers 200 (raises RuntimeError after timeout)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("glance-emu exited with status %s; its stderr:\n%s"
                                   % (self.process.returncode, self.log()[-3000:]))
            try:
                with urllib.request.urlopen(self.url + "/healthcheck", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError("%s/healthcheck not ready after %ss (%s)" % (self.url, timeout, last))

    def stop(self):
        """SIGTERM the server this object started (by PID) and wait; no-op when attached."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def cleanup(self):
        """stop() and remove the temporary folder (log included)."""
        self.stop()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def log(self):
        """The server's stderr so far (access log, warnings), or '' when attached."""
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # ---------------------------------------------------------------- HTTP

    def call(self, method, path, body=None, query=None):
        """One control call: `path` below /_emu/ (e.g. "faults"); returns the decoded JSON."""
        url = "%s/_emu/%s" % (self.control_url, path.lstrip("/"))
        if query:
            url += "?" + urllib.parse.urlencode(
                [(k, _q(v)) for k, v in query.items() if v is not None])
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("X-Emu-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
        except urllib.error.HTTPError as e:
            raw = e.read().decode("utf-8", "replace")
            try:
                msg = json.loads(raw).get("error", raw)
            except ValueError:
                msg = raw
            raise ControlError(method, path, e.code, msg) from None
        return json.loads(text) if text else None

    # ---------------------------------------------------------------- images

    def load(self, records, base=None):
        """POST /_emu/images: one record (dict), a list, or {"images": [...]} (upsert).
        Returns the load report {"loaded", "replaced", "ids", "warnings"}."""
        return self.call("POST", "images", records, {"base": base})

    def images(self, inline_files=False):
        """GET /_emu/images: every record as fixture JSON (the list)."""
        return self.call("GET", "images", query={"inline_files": _flag(inline_files)})["images"]

    def image(self, image_id, inline_files=False):
        """GET /_emu/images/{id}: one record as fixture JSON."""
        return self.call("GET", "images/" + _seg(image_id),
                         query={"inline_files": _flag(inline_files)})

    def remove_image(self, image_id):
        """DELETE /_emu/images/{id}: the record is gone (not soft-deleted)."""
        return self.call("DELETE", "images/" + _seg(image_id))

    def reset(self, to="fixtures", all=True):
        """POST /_emu/reset: records back to the fixtures (or "empty"); with all=True (the
        default here) also journal, faults, clock and ids. Returns the number of images."""
        return self.call("POST", "reset", {"to": to, "all": all})["images"]

    # ---------------------------------------------------------------- clock and ids

    def freeze_clock(self, time="2016-05-22T06:04:20.425843", step_us=0):
        """PUT /_emu/clock frozen at `time`, moving on by step_us after each record stamp."""
        return self.call("PUT", "clock", {"time": time, "mode": "frozen", "step_us": step_us})

    def set_clock(self, time):
        """PUT /_emu/clock running from `time`."""
        return self.call("PUT", "clock", {"time": time, "mode": "running"})

    def advance_clock(self, seconds=None, us=None):
        """POST /_emu/clock/advance by seconds (float) or us (int)."""
        body = {"us": us} if us is not None else {"seconds": seconds}
        return self.call("POST", "clock/advance", body)

    def real_clock(self):
        """DELETE /_emu/clock: back to the host's time."""
        return self.call("DELETE", "clock")

    def clock(self):
        """GET /_emu/clock."""
        return self.call("GET", "clock")

    def seed_ids(self, seed=None, image_ids=None):
        """PUT /_emu/ids: seeded request/image ids and/or queued image ids."""
        body = {}
        if seed is not None:
            body["seed"] = seed
        if image_ids is not None:
            body["image_ids"] = list(image_ids)
        return self.call("PUT", "ids", body)

    def random_ids(self):
        """DELETE /_emu/ids."""
        return self.call("DELETE", "ids")

    # ---------------------------------------------------------------- journal

    def journal(self, **filters):
        """GET /_emu/journal: the recorded requests (oldest first). Filters: method, path
        (glob), status (404 or "4xx"), tenant, fault, since, limit."""
        return self.journal_page(**filters)["entries"]

    def journal_page(self, **filters):
        """The whole journal answer: {"cap", "recorded", "dropped", "entries"}."""
        return self.call("GET", "journal", query=filters)

    def clear_journal(self):
        """DELETE /_emu/journal."""
        return self.call("DELETE", "journal")

    # ---------------------------------------------------------------- faults

    def add_fault(self, rule=None, **fields):
        """POST /_emu/faults with a rule given as a dict and/or keyword fields, e.g.
        add_fault(method="GET", path="/v1/images/*", times=1, action="truncate").
        Returns the stored rule (with its "id")."""
        body = dict(rule or {})
        body.update(fields)
        return self.call("POST", "faults", body)

    def faults(self):
        """GET /_emu/faults: the rules with their counters."""
        return self.call("GET", "faults")["faults"]

    def remove_fault(self, rule_id):
        """DELETE /_emu/faults/{id}."""
        return self.call("DELETE", "faults/" + _seg(rule_id))

    def clear_faults(self):
        """DELETE /_emu/faults."""
        return self.call("DELETE", "faults")

    def __repr__(self):
        return "GlanceEmu(%r)" % self.url


def _q(v):
    if isinstance(v, bool):
        return _flag(v)
    return str(v)


def _flag(v):
    return "true" if v else None


def _seg(s):
    return urllib.parse.quote(str(s), safe="")
