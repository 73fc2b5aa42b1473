"""What a legacy client sees from glance-emu, run inside the compose network.

1. The test harness loads an image through the control API (token required).
2. python-glanceclient v1 lists, inspects and downloads it.
3. The harness injects a short download; glanceclient reports the checksum failure it
   reports against a real Glance whose store returned too few bytes.
4. The harness reads the request journal (tokens redacted) and cleans up.
Exit status 0 when every step saw what it expected.
"""
import base64
import json
import os
import subprocess
import sys
import urllib.request

import glanceclient

GLANCE_URL = os.environ.get("GLANCE_URL", "http://glance:9292")
CONTROL_URL = os.environ.get("EMU_CONTROL_URL", "http://glance:9393")
CONTROL_TOKEN = os.environ.get("EMU_CONTROL_TOKEN", "")
IMAGE_ID = "c0ffee00-0000-4000-8000-000000000001"
DATA = b"glance-emu in compose\n" * 1000


def control(method, path, body=None):
    req = urllib.request.Request(
        CONTROL_URL + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Emu-Token": CONTROL_TOKEN})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def main():
    control("POST", "/_emu/images", {"id": IMAGE_ID, "name": "compose-demo",
                                     "is_public": True, "disk_format": "raw",
                                     "container_format": "bare",
                                     "data": {"base64": base64.b64encode(DATA).decode()}})
    gc = glanceclient.Client("1", endpoint=GLANCE_URL, token="legacy-client-token")

    names = sorted(i.name or "" for i in gc.images.list(filters={"is_public": None}))
    print("images:", ", ".join(names))
    img = gc.images.get(IMAGE_ID)
    print("HEAD says: status=%s size=%s checksum=%s" % (img.status, img.size, img.checksum))
    assert b"".join(gc.images.data(IMAGE_ID)) == DATA
    print("download: %d bytes, checksum verified" % len(DATA))

    # The `glance` CLI as an operator would run it.
    out = subprocess.run(["glance", "--os-image-api-version", "1", "--os-image-url", GLANCE_URL,
                          "--os-auth-token", "legacy-client-token", "image-show", IMAGE_ID],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True)
    print(out.stdout.decode())

    control("POST", "/_emu/faults", {"method": "GET", "path": "/v1/images/" + IMAGE_ID,
                                     "times": 1, "action": "truncate", "bytes": 4096})
    try:
        b"".join(gc.images.data(IMAGE_ID))
    except IOError as e:
        print("short download reported as:", e)
        assert "Corrupt image download" in str(e)
    else:
        sys.exit("the truncated download was not detected")

    journal = control("GET", "/_emu/journal?path=/v1/images/*")
    for e in journal["entries"]:
        print("journal #%d %s %s -> %s%s" % (e["seq"], e["method"], e["path"], e["status"],
                                            " (fault %s)" % e["fault"] if e["fault"] else ""))
    assert "legacy-client-token" not in json.dumps(journal)
    control("POST", "/_emu/reset", {"all": True})
    print("ok")


if __name__ == "__main__":
    main()
