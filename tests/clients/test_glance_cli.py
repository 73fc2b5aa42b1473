"""The `glance` CLI (python-glanceclient's v1 shell) against a Glance v1
endpoint: `glance --os-image-api-version 1 --os-image-url URL --os-auth-token T ...`.

Runs with both glanceclient 4.x and 2.17.1.  By default the CLI gets a
pseudo-terminal as stdin (see conftest.GlanceCLI): when stdin is not a
terminal, image-create reads it as image data and image-update refuses to
touch an active image.  Caller-dependent expectations follow conftest.MODE.
"""
import io
import os
import re
import uuid

from conftest import MODE, md5, parse_list_table, parse_property_table, unique


def check_ok(res):
    assert res.returncode == 0, "rc=%s\nstdout:\n%s\nstderr:\n%s" % (
        res.returncode, res.stdout, res.stderr)
    return res.stdout


def check_fail(res, message):
    assert res.returncode == 1, "rc=%s\nstdout:\n%s\nstderr:\n%s" % (
        res.returncode, res.stdout, res.stderr)
    assert message in res.stderr, res.stderr


def has_row(out, *cells):
    """True if the printed table has a row `| cell1 | cell2 | ... |`."""
    pat = r"^\|" + r"\|".join(r" %s +" % re.escape(c) for c in cells) + r"\|$"
    return re.search(pat, out, re.M) is not None


def test_cli_image_create_with_file_and_properties(glance_cli, gc, images, tmp_path):
    data = os.urandom(90 * 1024 + 5)
    f = tmp_path / "disk.img"
    f.write_bytes(data)
    name = unique("cli-create")
    res = glance_cli("image-create", "--name", name, "--disk-format", "qcow2",
                     "--container-format", "bare", "--min-ram", "64",
                     "--property", "os_distro=debian", "--property", "hw_disk_bus=virtio",
                     "--file", str(f))
    rows = parse_property_table(check_ok(res))
    images.track(rows["id"])
    assert rows["name"] == name
    assert rows["status"] == "active"
    assert rows["size"] == str(len(data))
    assert rows["checksum"] == md5(data)
    assert rows["disk_format"] == "qcow2"
    assert rows["container_format"] == "bare"
    assert rows["min_ram"] == "64"
    # without --is-public the CLI sends x-image-meta-is_public: None -> False
    assert rows["is_public"] == "False"
    assert rows["Property 'os_distro'"] == "debian"
    assert rows["Property 'hw_disk_bus'"] == "virtio"
    # the POST response JSON carries every field, nulls included
    assert rows["deleted_at"] == "None"
    assert rows["owner"] == str(MODE.tenant)
    assert has_row(res.stdout, "name", name)

    got = gc.images.get(rows["id"])
    assert (got.status, got.size, got.checksum) == ("active", len(data), md5(data))
    assert got.properties == {"os_distro": "debian", "hw_disk_bus": "virtio"}


def test_cli_image_create_data_from_stdin(glance_cli, gc, images):
    data = os.urandom(3000)
    res = glance_cli("image-create", "--name", unique("cli-stdin"), "--disk-format", "raw",
                     "--container-format", "bare", stdin=data)
    rows = parse_property_table(check_ok(res))
    images.track(rows["id"])
    assert rows["status"] == "active"
    assert rows["size"] == str(len(data))
    assert rows["checksum"] == md5(data)
    assert b"".join(gc.images.data(rows["id"])) == data


def test_cli_image_create_without_data(glance_cli, gc, images):
    name = unique("cli-queued")
    res = glance_cli("image-create", "--name", name, "--disk-format", "raw",
                     "--container-format", "bare")
    rows = parse_property_table(check_ok(res))
    images.track(rows["id"])
    assert rows["status"] == "queued"
    assert rows["size"] == "0"
    assert rows["checksum"] == "None"
    assert gc.images.get(rows["id"]).status == "queued"


def test_cli_image_show_by_id(glance_cli, images):
    data = b"show me" * 100
    img = images.create(name=unique("cli-show"), disk_format="raw", container_format="bare",
                        min_disk=3, properties={"os_distro": "ubuntu"},
                        data=io.BytesIO(data))
    out = check_ok(glance_cli("image-show", img.id))
    rows = parse_property_table(out)
    assert has_row(out, "name", img.name)
    assert has_row(out, "Property 'os_distro'", "ubuntu")
    assert rows["id"] == img.id
    assert rows["name"] == img.name
    assert rows["status"] == "active"
    assert rows["size"] == str(len(data))
    assert rows["checksum"] == md5(data)
    assert rows["min_disk"] == "3"
    assert rows["is_public"] == "False"
    assert rows["protected"] == "False"
    assert rows["deleted"] == "False"
    assert rows["Property 'os_distro'"] == "ubuntu"
    # HEAD leaves out null fields (owner, deleted_at, virtual_size) and never
    # exposes the store location, so the table has no such rows
    for absent in ("location", "deleted_at", "virtual_size"):
        assert absent not in rows, rows
    if MODE.tenant is None:
        assert "owner" not in rows, rows
    else:
        assert rows["owner"] == MODE.tenant
    # rows are sorted: properties first, then the attributes alphabetically
    keys = list(rows)
    assert keys[0] == "Property 'os_distro'"
    assert keys[1:] == sorted(keys[1:])


def test_cli_image_show_queued_has_no_checksum(glance_cli, images):
    img = images.create(name=unique("cli-showq"))
    rows = parse_property_table(check_ok(glance_cli("image-show", img.id)))
    assert rows["status"] == "queued"
    assert rows["size"] == "0"
    for absent in ("checksum", "disk_format", "container_format"):
        assert absent not in rows, rows


def test_cli_image_show_by_name_private_not_found(glance_cli, images):
    # Real Glance quirk: the name lookup is GET /v1/images/detail?name=X with
    # no is_public, which for an admin/noauth caller lists public images only,
    # so a private image cannot be found by name (exit code 1).  With a
    # tenant (tokens modes) that list includes the caller's own images, so the
    # name is found.
    img = images.create(name=unique("cli-byname"))
    if MODE.lists_own_private:
        rows = parse_property_table(check_ok(glance_cli("image-show", img.name)))
        assert (rows["id"], rows["name"]) == (img.id, img.name)
    else:
        check_fail(glance_cli("image-show", img.name),
                   "No image with a name or ID of '%s' exists." % img.name)
    # ... while the id works
    check_ok(glance_cli("image-show", img.id))


def test_cli_image_show_unknown(glance_cli):
    missing = str(uuid.uuid4())
    check_fail(glance_cli("image-show", missing),
               "No image with a name or ID of '%s' exists." % missing)
    name = unique("cli-nosuch")
    check_fail(glance_cli("image-show", name),
               "No image with a name or ID of '%s' exists." % name)


def test_cli_image_list(glance_cli, images, tag):
    a = images.create(name=unique("cli-list"), disk_format="raw", container_format="bare",
                      properties={"suite_tag": tag}, data=io.BytesIO(b"12345"))
    b = images.create(name=unique("cli-list"), properties={"suite_tag": tag})

    # image-list without --all-tenants sends no is_public: real Glance shows
    # only public images to an admin/noauth caller, so ours are absent; a
    # caller with a tenant (tokens modes) also sees its own.
    out = check_ok(glance_cli("image-list", "--property-filter", "suite_tag=%s" % tag))
    header = out.splitlines()[1]
    assert [c.strip() for c in header.strip("|").split("|")] == \
        ["ID", "Name", "Disk Format", "Container Format", "Size", "Status"]
    own = sorted([a.name, b.name]) if MODE.lists_own_private else []
    assert [r["Name"] for r in parse_list_table(out)] == own

    # --all-tenants adds is_public=None: everything is listed (a non-admin's
    # is_public is ignored: still its own images), name ascending
    out = check_ok(glance_cli("image-list", "--all-tenants",
                              "--property-filter", "suite_tag=%s" % tag))
    rows = parse_list_table(out)
    expected = sorted([
        {"ID": a.id, "Name": a.name, "Disk Format": "raw", "Container Format": "bare",
         "Size": "5", "Status": "active"},
        # empty / zero / null values print blank
        {"ID": b.id, "Name": b.name, "Disk Format": "", "Container Format": "",
         "Size": "", "Status": "queued"},
    ], key=lambda r: r["Name"])
    assert rows == expected
    assert has_row(out, a.id, a.name, "raw", "bare", "5", "active")

    out = check_ok(glance_cli("image-list", "--all-tenants", "--name", a.name))
    assert [r["ID"] for r in parse_list_table(out)] == [a.id]


def test_cli_image_list_paging(glance_cli, images, tag):
    made = [images.create(name=unique("cli-page"), properties={"suite_tag": tag})
            for _ in range(5)]
    out = check_ok(glance_cli("image-list", "--all-tenants", "--page-size", "2",
                              "--property-filter", "suite_tag=%s" % tag,
                              "--sort-key", "created_at", "--sort-dir", "asc"))
    assert [r["ID"] for r in parse_list_table(out)] == [i.id for i in made]


def test_cli_image_download(glance_cli, images, tmp_path):
    data = os.urandom(130 * 1024)
    img = images.create(name=unique("cli-dl"), disk_format="raw", container_format="bare",
                        data=io.BytesIO(data))
    out_file = tmp_path / "out.img"
    check_ok(glance_cli("image-download", img.id, "--file", str(out_file)))
    assert out_file.read_bytes() == data


def test_cli_image_download_queued_fails(glance_cli, images, tmp_path):
    img = images.create(name=unique("cli-dlq"))
    res = glance_cli("image-download", img.id, "--file", str(tmp_path / "x"))
    # HTML error page, tags stripped and lines joined with ": " by the client
    check_fail(res, "HTTP 404 Not Found: The resource could not be found.: "
                    "Image %s is not active" % img.id)


def test_cli_image_update_metadata(glance_cli, gc, images):
    img = images.create(name=unique("cli-upd"), disk_format="raw", container_format="bare",
                        properties={"a": "1"}, data=io.BytesIO(b"data"))
    new_name = unique("cli-upd-new")
    res = glance_cli("image-update", img.id, "--name", new_name, "--min-ram", "256",
                     "--property", "b=2")
    rows = parse_property_table(check_ok(res))
    assert rows["name"] == new_name
    assert rows["min_ram"] == "256"
    assert rows["status"] == "active"
    assert rows["Property 'a'"] == "1"
    assert rows["Property 'b'"] == "2"
    got = gc.images.get(img.id)
    assert got.name == new_name
    assert got.min_ram == 256
    assert got.properties == {"a": "1", "b": "2"}

    # --purge-props drops the properties that are not given again
    res = glance_cli("image-update", img.id, "--purge-props", "--property", "c=3")
    rows = parse_property_table(check_ok(res))
    assert rows["Property 'c'"] == "3"
    assert "Property 'a'" not in rows
    assert gc.images.get(img.id).properties == {"c": "3"}


def test_cli_image_update_active_with_piped_stdin_refused(glance_cli, gc, images):
    # Client-side check: stdin that is not a terminal is taken as image data,
    # and the CLI refuses to upload to a non-queued image.
    img = images.create(name=unique("cli-pipe"), disk_format="raw", container_format="bare",
                        data=io.BytesIO(b"data"))
    res = glance_cli("image-update", img.id, "--name", "x", stdin=b"")
    assert res.returncode == 1
    assert "Unable to upload image data to an image which is active." in res.stderr
    assert gc.images.get(img.id).name == img.name


def test_cli_image_update_uploads_to_queued(glance_cli, gc, images, tmp_path):
    img = images.create(name=unique("cli-updq"), disk_format="raw", container_format="bare")
    data = os.urandom(20000)
    f = tmp_path / "up.img"
    f.write_bytes(data)
    rows = parse_property_table(check_ok(glance_cli("image-update", img.id, "--file", str(f))))
    assert rows["status"] == "active"
    assert rows["size"] == str(len(data))
    assert rows["checksum"] == md5(data)
    assert b"".join(gc.images.data(img.id)) == data


def test_cli_image_delete(glance_cli, gc, images):
    img = images.create(name=unique("cli-del"), disk_format="raw", container_format="bare",
                        data=io.BytesIO(b"gone"))
    res = glance_cli("image-delete", img.id)
    check_ok(res)
    if MODE.is_admin:
        assert gc.images.get(img.id).status == "deleted"
        # the CLI refuses a second delete itself (status deleted)
        check_fail(glance_cli("image-delete", img.id),
                   "No image with an ID of '%s' exists." % img.id)
        rows = parse_property_table(check_ok(glance_cli("image-show", img.id)))
        assert rows["status"] == "deleted"
        assert rows["deleted"] == "True"
        assert "deleted_at" in rows
    else:
        # a non-admin gets 404 for a deleted image: the CLI's lookup by id
        # and then by name both come back empty
        missing = "No image with a name or ID of '%s' exists." % img.id
        check_fail(glance_cli("image-delete", img.id), missing)
        check_fail(glance_cli("image-show", img.id), missing)


def test_cli_image_delete_unknown(glance_cli):
    missing = str(uuid.uuid4())
    res = glance_cli("image-delete", missing)
    assert res.returncode == 1
    assert "No image with a name or ID of '%s' exists." % missing in res.stderr


def test_cli_members(glance_cli, gc, images):
    img = images.create(name=unique("cli-mem"))
    tx, ty = unique("tenant"), unique("tenant")
    check_ok(glance_cli("member-create", img.id, tx, "--can-share"))
    check_ok(glance_cli("member-create", img.id, ty))

    out = check_ok(glance_cli("member-list", "--image-id", img.id))
    rows = parse_list_table(out)
    assert sorted(rows, key=lambda r: r["Member ID"]) == sorted([
        {"Image ID": img.id, "Member ID": tx, "Can Share": "True"},
        # can_share False prints blank
        {"Image ID": img.id, "Member ID": ty, "Can Share": ""},
    ], key=lambda r: r["Member ID"])
    assert has_row(out, img.id, tx, "True")

    out = check_ok(glance_cli("member-list", "--tenant-id", tx))
    assert parse_list_table(out) == [{"Image ID": img.id, "Member ID": tx, "Can Share": "True"}]

    check_ok(glance_cli("member-delete", img.id, tx))
    rows = parse_list_table(check_ok(glance_cli("member-list", "--image-id", img.id)))
    assert [r["Member ID"] for r in rows] == [ty]
    assert parse_list_table(check_ok(glance_cli("member-list", "--tenant-id", tx))) == []
    assert {m.member_id for m in gc.image_members.list(image=img.id)} == {ty}
