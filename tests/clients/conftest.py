"""Shared fixtures for the legacy-client suite.

Auth mode: $GLANCE_EMU_AUTH_MODE, one of
  noauth         (default) the server runs Glance's default pipeline: every
                 caller is admin with no tenant; the token is ignored.
  tokens-member  glance-emu runs with `--auth tokens:<file>` (a file this
                 suite writes) and the tests act as a *member* of tenant A.
  tokens-admin   same server set-up, the tests act as an *admin* (role
                 "Admin", tenant ADMIN).
The tokens file always holds three callers (member of tenant A, member of
tenant B, admin), so every tokens-mode test can also act as the others
(fixtures `gc_as` / `images_as`).

Endpoint: $GLANCE_URL (e.g. http://127.0.0.1:19292) if set (noauth mode
only), else the suite starts glance-emu itself ($GLANCE_EMU_BIN, default
<repo>/target/release/glance-emu) with an empty data dir on 127.0.0.1:0 and
stops it (SIGTERM by PID) at the end.
Token (noauth mode): $GLANCE_TOKEN (default "emu-token"; ignored by the server).

Every test creates the images it needs through POST /v1/images and deletes
them again afterwards, so the suite runs against an empty real Glance and an
empty emulator alike.  All names carry a uuid suffix.
"""
import hashlib
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_EMU_BIN = REPO_ROOT / "target" / "release" / "glance-emu"
URL_RE = re.compile(r"http://[0-9.]+:[0-9]+")


# --------------------------------------------------------------------------
# auth mode and callers
# --------------------------------------------------------------------------

AUTH_MODES = ("noauth", "tokens-member", "tokens-admin")


class Caller(object):
    def __init__(self, key, token, tenant, user, roles):
        self.key = key          # "a", "b" or "admin"
        self.token = token
        self.tenant = tenant
        self.user = user
        self.roles = roles

    @property
    def is_admin(self):
        return any(r.lower() == "admin" for r in self.roles)


# Fresh tokens per session; tenant ids look like Keystone project ids.
_SESSION = uuid.uuid4().hex[:8]
CALLERS = {
    "a": Caller("a", "member-a-" + _SESSION, "a1" * 16, "alice", ["member"]),
    "b": Caller("b", "member-b-" + _SESSION, "b2" * 16, "bob", ["_member_", "member"]),
    # "Admin": the admin role is matched case-insensitively
    "admin": Caller("admin", "admin-" + _SESSION, "ad" * 16, "root", ["member", "Admin"]),
}


class Mode(object):
    """What the suite's main caller is, and the expectations that follow.

    noauth: admin without tenant and without roles (Glance's
    UnauthenticatedContextMiddleware).  tokens-*: a Keystone-style caller.
    """

    def __init__(self, name):
        if name not in AUTH_MODES:
            raise pytest.UsageError("GLANCE_EMU_AUTH_MODE=%r: expected one of %s"
                                    % (name, ", ".join(AUTH_MODES)))
        self.name = name
        self.tokens = name.startswith("tokens-")
        self.caller = {"noauth": None, "tokens-member": CALLERS["a"],
                       "tokens-admin": CALLERS["admin"]}[name]

    @property
    def is_admin(self):
        """Sees every image by id, deleted ones included."""
        return self.caller is None or self.caller.is_admin

    @property
    def can_publicize(self):
        """Policy publicize_image = role:admin (noauth has no roles)."""
        return self.caller is not None and self.caller.is_admin

    @property
    def tenant(self):
        """Owner recorded on images the main caller creates (None in noauth)."""
        return self.caller.tenant if self.caller else None

    @property
    def lists_own_private(self):
        """Does a list without is_public show the caller's private images?
        noauth: no (no tenant, so only public images); tokens: yes (own)."""
        return self.tokens

    def __repr__(self):
        return "Mode(%s)" % self.name


MODE = Mode(os.environ.get("GLANCE_EMU_AUTH_MODE", "noauth"))

# test_tokens_auth.py is about callers with tenants: collected in the
# tokens modes only (so the noauth run's counts stay what they were)
collect_ignore = [] if MODE.tokens else ["test_tokens_auth.py"]


def pytest_report_header(config):
    return "glance-emu auth mode: %s" % MODE.name


def unique(prefix="img"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def md5(data):
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------
# endpoint
# --------------------------------------------------------------------------

def _start_emulator(tmp_root, auth_args):
    binary = Path(os.environ.get("GLANCE_EMU_BIN", str(DEFAULT_EMU_BIN)))
    if not binary.is_file() or not os.access(str(binary), os.X_OK):
        raise RuntimeError(
            "GLANCE_URL is not set and the emulator binary %s does not exist "
            "(build it with `cargo build --release` or set GLANCE_EMU_BIN)" % binary)
    data_dir = tmp_root / "data"
    data_dir.mkdir()
    log_path = tmp_root / "glance-emu.stderr"
    log = open(str(log_path), "wb")
    # the emulator reads GLANCE_EMU_* settings from the environment: keep
    # the caller's out of the way, the command line says everything
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCE_EMU_")}
    proc = subprocess.Popen(
        [str(binary), "--listen", "127.0.0.1:0", "--data", str(data_dir)] + auth_args,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env)
    log.close()

    first_line = {}
    got_line = threading.Event()

    def reader():
        # first line carries the URL; keep draining afterwards so the
        # emulator can never block on a full stdout pipe.
        line = proc.stdout.readline()
        first_line["line"] = line.decode("utf-8", "replace")
        got_line.set()
        for _ in iter(proc.stdout.readline, b""):
            pass

    threading.Thread(target=reader, daemon=True).start()
    got_line.wait(30)
    line = first_line.get("line", "")
    m = URL_RE.search(line)
    if not m:
        status = proc.poll()
        _stop(proc)
        raise RuntimeError("%s did not announce its URL (%s); first stdout line %r, stderr:\n%s"
                           % (binary, "exited with %s" % status if status is not None
                              else "still running after 30 s", line,
                              log_path.read_text(errors="replace")[-3000:]))
    return proc, m.group(0)


def _stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def write_tokens_file(path):
    doc = {c.token: {"tenant": c.tenant, "user": c.user, "roles": c.roles}
           for c in CALLERS.values()}
    Path(path).write_text(json.dumps(doc, indent=2))


@pytest.fixture(scope="session")
def mode():
    return MODE


@pytest.fixture(scope="session")
def glance_url():
    url = os.environ.get("GLANCE_URL")
    if url:
        if MODE.tokens:
            pytest.exit("GLANCE_EMU_AUTH_MODE=%s starts glance-emu itself with its own "
                        "tokens file; unset GLANCE_URL" % MODE.name, returncode=4)
        yield url.rstrip("/")
        return
    tmp_root = Path(tempfile.mkdtemp(prefix="glance-emu-clients-"))
    if MODE.tokens:
        tokens_file = tmp_root / "tokens.json"
        write_tokens_file(tokens_file)
        auth_args = ["--auth", "tokens:%s" % tokens_file]
    else:
        auth_args = ["--auth", "noauth"]
    proc, url = _start_emulator(tmp_root, auth_args)
    _EMULATOR["log"] = tmp_root / "glance-emu.stderr"
    try:
        yield url
    finally:
        _stop(proc)
        _EMULATOR.pop("log", None)
        shutil.rmtree(str(tmp_root), ignore_errors=True)


_EMULATOR = {}


@pytest.fixture
def emulator_log(glance_url):
    """Path of the self-started emulator's stderr (None for $GLANCE_URL)."""
    return _EMULATOR.get("log")


@pytest.fixture(scope="session")
def token():
    if MODE.tokens:
        return MODE.caller.token
    return os.environ.get("GLANCE_TOKEN", "emu-token")


# --------------------------------------------------------------------------
# python-glanceclient
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def gc(glance_url, token):
    import glanceclient
    return glanceclient.Client("1", endpoint=glance_url, token=token)


class ImageFactory(object):
    """Creates images through the v1 API and removes them at teardown."""

    def __init__(self, gc):
        self.gc = gc
        self.ids = []

    def create(self, **fields):
        fields.setdefault("name", unique())
        img = self.gc.images.create(**fields)
        self.ids.append(img.id)
        return img

    def track(self, image_id):
        self.ids.append(image_id)

    def cleanup(self):
        from glanceclient import exc
        for image_id in reversed(self.ids):
            try:
                img = self.gc.images.get(image_id)
                info = img.to_dict()
                if info.get("status") in ("deleted", "pending_delete"):
                    continue
                if info.get("protected"):
                    self.gc.images.update(image_id, protected=False)
                self.gc.images.delete(image_id)
            except exc.HTTPException:
                pass


@pytest.fixture
def images(gc):
    factory = ImageFactory(gc)
    yield factory
    factory.cleanup()


_UNSET = object()


@pytest.fixture(scope="session")
def gc_as(glance_url):
    """gc_as("a" | "b" | "admin") -> glanceclient acting as that caller
    (tokens modes), gc_as(token="...") -> glanceclient with any token."""
    import glanceclient
    cache = {}

    def get(key=None, token=_UNSET):
        if token is _UNSET:
            token = CALLERS[key].token
        if token not in cache:
            cache[token] = glanceclient.Client("1", endpoint=glance_url, token=token)
        return cache[token]
    return get


@pytest.fixture
def images_as(gc_as):
    """images_as("b").create(...): images created (and deleted at teardown)
    by another caller."""
    factories = {}

    def get(key):
        if key not in factories:
            factories[key] = ImageFactory(gc_as(key))
        return factories[key]
    yield get
    for f in factories.values():
        f.cleanup()


@pytest.fixture
def tag():
    """A unique property value that marks the images of one test."""
    return uuid.uuid4().hex


# --------------------------------------------------------------------------
# the `glance` CLI
# --------------------------------------------------------------------------

def _glance_exe():
    exe = Path(sys.executable).parent / "glance"
    if exe.exists():
        return str(exe)
    found = shutil.which("glance")
    if not found:
        pytest.skip("no `glance` executable next to %s" % sys.executable)
    return found


class GlanceCLI(object):
    def __init__(self, url, token):
        self.base = [_glance_exe(), "--os-image-api-version", "1",
                     "--os-image-url", url, "--os-auth-token", token]
        # keep the caller's OS_* settings (keystone etc.) out of the way
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env["PYTHONWARNINGS"] = "ignore"
        self.env["COLUMNS"] = "200"

    def __call__(self, *args, **kw):
        """Run `glance ... args`.

        stdin: "tty" (default) gives the process a pseudo-terminal as stdin,
        like an interactive shell (image-create then does not read stdin as
        image data, and image-update is allowed on active images); bytes are
        piped in; None means /dev/null.
        """
        stdin = kw.pop("stdin", "tty")
        timeout = kw.pop("timeout", 120)
        assert not kw, kw
        cmd = self.base + [str(a) for a in args]
        master = slave = None
        if stdin == "tty":
            master, slave = pty.openpty()
            run_kw = {"stdin": slave}
        elif stdin is None:
            run_kw = {"stdin": subprocess.DEVNULL}
        else:
            run_kw = {"input": stdin}
        try:
            res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=self.env, timeout=timeout, **run_kw)
        finally:
            if slave is not None:
                os.close(slave)
                os.close(master)
        res.stdout = res.stdout.decode("utf-8", "replace")
        res.stderr = res.stderr.decode("utf-8", "replace")
        return res


@pytest.fixture(scope="session")
def glance_cli(glance_url, token):
    return GlanceCLI(glance_url, token)


@pytest.fixture(scope="session")
def glance_cli_as(glance_url):
    """glance_cli_as("b") / glance_cli_as(token="..."): the CLI as another caller."""
    def get(key=None, token=_UNSET):
        return GlanceCLI(glance_url, CALLERS[key].token if token is _UNSET else token)
    return get


def parse_property_table(text):
    """`| Property | Value |` table -> dict (first column -> second)."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0] not in ("Property",):
            rows[cells[0]] = cells[1]
    return rows


def parse_list_table(text):
    """A prettytable listing -> list of dicts keyed by the header cells."""
    header = None
    out = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        out.append(dict(zip(header, cells)))
    return out
