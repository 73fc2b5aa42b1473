"""Fault injection seen from python-glanceclient v1 (4.x and 2.17.1).

Each fault is what a real Glance deployment can do to a client (a short read
from the store, a dropped connection, a proxy's 503, a slow link); the
assertions are what glanceclient reports for it, which is what it would
report against real Glance doing the same on the wire.

These tests need glance-emu's control API, so they always start their own
emulator ($GLANCE_EMU_BIN, default <repo>/target/release/glance-emu) with
--control on 127.0.0.1:0 and stop it by PID at the end; with $GLANCE_URL
set (a real Glance) they are skipped.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from glanceclient import exc

HERE = Path(__file__).resolve().parent
DEFAULT_EMU_BIN = HERE.parent.parent / "target" / "release" / "glance-emu"
URL_RE = re.compile(r"http://[0-9.]+:[0-9]+")

IMAGE_ID = "fa017000-0000-4000-8000-000000000001"
DATA = b"0123456789abcdef" * 4096  # 64 KiB


def md5(data):
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def emu_url():
    if os.environ.get("GLANCE_URL"):
        pytest.skip("fault injection needs glance-emu's control API (GLANCE_URL is set)")
    binary = Path(os.environ.get("GLANCE_EMU_BIN", str(DEFAULT_EMU_BIN)))
    if not binary.is_file():
        pytest.skip("no emulator binary at %s (cargo build --release)" % binary)
    tmp = Path(tempfile.mkdtemp(prefix="glance-emu-faults-"))
    (tmp / "data").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCE_EMU_")}
    log = open(str(tmp / "stderr"), "wb")
    proc = subprocess.Popen(
        [str(binary), "--listen", "127.0.0.1:0", "--data", str(tmp / "data"),
         "--control"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env)
    log.close()
    line = proc.stdout.readline().decode("utf-8", "replace")
    # keep draining stdout so the emulator never blocks on a full pipe
    threading.Thread(target=lambda: [None for _ in iter(proc.stdout.readline, b"")],
                     daemon=True).start()
    m = URL_RE.search(line)
    try:
        if not m:
            raise RuntimeError("emulator did not announce its URL: %r\n%s"
                               % (line, (tmp / "stderr").read_text(errors="replace")))
        yield m.group(0)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(str(tmp), ignore_errors=True)


def control(url, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture
def emu(emu_url):
    """A clean emulator: one 64 KiB image, no fault rules, empty journal."""
    control(emu_url, "POST", "/_emu/reset", {"to": "empty", "all": True})
    control(emu_url, "POST", "/_emu/images", {"images": [{
        "id": IMAGE_ID, "name": "fault-target", "is_public": True,
        "disk_format": "raw", "container_format": "bare",
        "data": {"base64": base64.b64encode(DATA).decode()}}]})
    yield emu_url
    control(emu_url, "DELETE", "/_emu/faults")


@pytest.fixture
def client(emu):
    import glanceclient
    return glanceclient.Client("1", endpoint=emu, token="secret-token-value")


def add_fault(url, **rule):
    return control(url, "POST", "/_emu/faults", rule)["id"]


def download(client):
    return b"".join(client.images.data(IMAGE_ID))


def test_download_without_faults(client):
    assert download(client) == DATA


def test_truncated_download_is_a_checksum_failure(emu, client):
    add_fault(emu, method="GET", path="/v1/images/*", times=1,
              action="truncate", bytes=1000)
    with pytest.raises(IOError) as e:
        download(client)
    assert str(e.value) == (
        "[Errno 32] Corrupt image download. Checksum was %s expected %s"
        % (md5(DATA[:1000]), md5(DATA)))
    # The rule fired once; the retry gets the whole image.
    assert download(client) == DATA


def test_cut_connection_mid_body_fails_the_download(emu, client):
    add_fault(emu, method="GET", path="/v1/images/*", times=1,
              action="truncate", bytes=1000, keep_length=True)
    import requests
    # glanceclient passes requests' report of the short read through
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as e:
        download(client)
    assert "IncompleteRead(1000 bytes read, %d more expected)" % (len(DATA) - 1000) in str(e.value)


def test_close_after_headers_fails_the_download(emu, client):
    add_fault(emu, method="GET", path="/v1/images/*", times=1,
              action="close_after_headers")
    import requests
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as e:
        download(client)
    assert "IncompleteRead(0 bytes read, %d more expected)" % len(DATA) in str(e.value)


def test_injected_503_is_glances_service_unavailable(emu, client):
    add_fault(emu, method="HEAD", path="/v1/images/" + IMAGE_ID, times=1,
              action="status", status=503)
    with pytest.raises(exc.HTTPServiceUnavailable):
        client.images.get(IMAGE_ID)
    assert client.images.get(IMAGE_ID).name == "fault-target"


def test_injected_error_message_reaches_the_caller(emu, client):
    add_fault(emu, method="GET", path="/v1/images/detail", times=1,
              action="status", status=500, message="Database is on fire")
    with pytest.raises(exc.HTTPInternalServerError) as e:
        list(client.images.list())
    assert "Database is on fire" in str(e.value)


def test_reset_is_a_communication_error(emu, client):
    add_fault(emu, method="HEAD", path="/v1/images/*", times=1, action="reset")
    with pytest.raises(exc.CommunicationError):
        client.images.get(IMAGE_ID)


def test_delay_beyond_the_client_timeout(emu):
    import glanceclient
    impatient = glanceclient.Client("1", endpoint=emu, token="t", timeout=0.3)
    add_fault(emu, method="HEAD", times=1, action="delay", delay_ms=1500)
    with pytest.raises(exc.InvalidEndpoint):  # glanceclient's name for a timeout
        impatient.images.get(IMAGE_ID)


def test_slow_body_still_downloads(emu, client):
    add_fault(emu, method="GET", path="/v1/images/*", times=1, action="slow_body",
              chunk_bytes=16384, interval_ms=100)
    t = time.monotonic()
    assert download(client) == DATA
    assert time.monotonic() - t >= 0.3


def test_journal_shows_the_client_without_its_token(emu, client):
    client.images.get(IMAGE_ID)
    page = control(emu, "GET", "/_emu/journal?method=HEAD")
    entry = page["entries"][-1]
    assert entry["path"] == "/v1/images/" + IMAGE_ID
    assert entry["status"] == 200
    headers = dict(entry["headers"])
    assert headers["x-auth-token"] == "<redacted>"
    assert headers["user-agent"].startswith("python-glanceclient")
    assert "secret-token-value" not in json.dumps(page)
