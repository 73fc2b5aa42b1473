"""The `glance_emu` fixture and GlanceEmu's control methods, seen through
python-glanceclient v1 (the client a user of the fixture points at it)."""
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import glanceclient
import pytest
from glanceclient import exc

import glance_emu as pkg
from glance_emu import ControlError, GlanceEmu

REPO = Path(__file__).resolve().parents[2]
ID = "6f1a0000-0000-4000-8000-000000000001"


def client(emu):
    return glanceclient.Client("1", endpoint=emu.url, token="secret-token")


def test_url_serves_glance_and_reset_to_empty(glance_emu):
    assert glance_emu.url.startswith("http://127.0.0.1:")
    assert glance_emu.reset(to="empty") == 0
    assert list(client(glance_emu).images.list(filters={"is_public": None})) == []


def test_load_then_glanceclient_sees_the_record(glance_emu):
    report = glance_emu.load({"id": ID, "name": "demo", "data": {"repeat": "ab", "size": 6}})
    assert report["loaded"] == 1 and report["ids"] == [ID]
    image = client(glance_emu).images.get(ID)
    assert (image.name, image.size, image.status) == ("demo", 6, "active")
    assert b"".join(client(glance_emu).images.data(ID)) == b"ababab"


def test_reset_between_tests_removed_the_previous_record(glance_emu):
    # runs after the test above (file order): the per-test reset took its image away
    assert glance_emu.journal() == []
    assert glance_emu.faults() == []
    with pytest.raises(exc.HTTPNotFound):
        client(glance_emu).images.get(ID)


def test_journal_filters_and_redacts_the_token(glance_emu):
    glance_emu.load({"id": ID, "name": "demo"})
    gc = client(glance_emu)
    gc.images.get(ID)
    with pytest.raises(exc.HTTPNotFound):
        gc.images.get("nope")
    heads = glance_emu.journal(method="HEAD")
    assert [(e["path"], e["status"]) for e in heads] == [
        ("/v1/images/" + ID, 200), ("/v1/images/nope", 404)]
    assert dict(heads[0]["headers"])["x-auth-token"] == "<redacted>"
    assert [e["path"] for e in glance_emu.journal(status="4xx")] == ["/v1/images/nope"]
    assert len(glance_emu.journal(limit=1)) == 1


def test_add_fault_truncate_is_a_corrupt_download(glance_emu):
    glance_emu.load({"id": ID, "data": {"repeat": "x", "size": 4096}})
    rule = glance_emu.add_fault(method="GET", path="/v1/images/" + ID, times=1,
                                action="truncate")
    assert rule["id"] == "f1" and rule["action"] == "truncate"
    with pytest.raises(IOError, match="Corrupt image download"):
        b"".join(client(glance_emu).images.data(ID))
    # times=1: the second download is whole
    assert b"".join(client(glance_emu).images.data(ID)) == b"x" * 4096
    sent = glance_emu.journal(path="/v1/images/" + ID, method="GET")
    assert [(e["status"], e["fault"]) for e in sent] == [(200, "f1"), (200, None)]
    assert glance_emu.faults()[0]["fired"] == 1


def test_add_fault_from_a_dict_status_503(glance_emu):
    glance_emu.load({"id": ID})
    glance_emu.add_fault({"method": "HEAD", "action": "status", "status": 503,
                          "message": "store down"})
    with pytest.raises(exc.HTTPServiceUnavailable):
        client(glance_emu).images.get(ID)
    glance_emu.clear_faults()
    assert client(glance_emu).images.get(ID).id == ID


def test_freeze_clock_and_queued_ids_shape_created_images(glance_emu):
    glance_emu.freeze_clock("2016-05-22T06:04:20.425843", step_us=1)
    glance_emu.seed_ids(seed=42, image_ids=[ID])
    image = client(glance_emu).images.create(name="new", disk_format="raw",
                                              container_format="bare",
                                              data=io.BytesIO(b"abc"))
    assert image.id == ID
    assert image.created_at == "2016-05-22T06:04:20.425843"
    assert image.checksum == hashlib.md5(b"abc").hexdigest()
    assert glance_emu.clock()["mode"] == "frozen"
    glance_emu.real_clock()
    assert glance_emu.clock()["mode"] == "real"


def test_image_export_and_remove(glance_emu):
    glance_emu.reset(to="empty")
    glance_emu.load([{"id": ID, "name": "one"}, {"id": "other", "name": "two"}])
    assert glance_emu.image(ID)["name"] == "one"
    assert sorted(r["id"] for r in glance_emu.images()) == [ID, "other"]
    glance_emu.remove_image("other")
    assert [r["id"] for r in glance_emu.images()] == [ID]


def test_control_errors_raise_with_status_and_message(glance_emu):
    with pytest.raises(ControlError) as err:
        glance_emu.add_fault(method="GET", action="explode")
    assert err.value.status == 400
    with pytest.raises(ControlError) as err:
        glance_emu.load({"id": ID, "created_at": "soon"})
    assert err.value.status == 400 and "invalid timestamp 'soon'" in err.value.message


def test_start_with_fixtures_resets_back_to_them():
    with GlanceEmu.start(data=[REPO / "data"]) as emu:
        n = emu.reset()
        assert n >= 10
        emu.load({"id": ID})
        assert emu.reset() == n
        emu.stop()
        assert "glance-emu: stopped" in emu.log()  # stderr is kept in a file


def test_start_reports_a_bad_flag_with_the_servers_message():
    with pytest.raises(RuntimeError, match="--auth"):
        GlanceEmu.start(args=["--auth", "nonsense"])


def test_binary_lookup_order(monkeypatch, tmp_path):
    monkeypatch.setenv("GLANCE_EMU_BIN", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="GLANCE_EMU_BIN"):
        pkg.find_binary()
    fake = tmp_path / "glance-emu"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.delenv("GLANCE_EMU_BIN")
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    assert pkg.find_binary() == str(fake)


def test_plugin_is_registered_by_the_entry_point(pytester):
    # A user's test file with no conftest and no import: the fixture comes from the
    # installed package's pytest11 entry point.
    pytester.makepyfile(test_user="""
        import urllib.request

        def test_one(glance_emu):
            glance_emu.load({"id": "u1", "name": "mine"})
            with urllib.request.urlopen(glance_emu.url + "/v1/images/u1") as r:
                assert r.status == 200

        def test_two(glance_emu):
            assert glance_emu.images() == []
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_ini_options_load_fixtures_and_pass_args(pytester):
    pytester.makeini("""
        [pytest]
        glance_emu_data = %s
        glance_emu_args = --auth trusted-headers
    """ % (REPO / "data"))
    pytester.makepyfile(test_user="""
        import urllib.error, urllib.request
        import pytest

        def test_fixtures_and_auth(glance_emu):
            assert len(glance_emu.images()) >= 10
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(glance_emu.url + "/v1/images")
            assert e.value.code == 401
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
