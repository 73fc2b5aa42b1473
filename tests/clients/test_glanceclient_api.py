"""python-glanceclient v1 Python API (glanceclient.Client('1', ...)) against a
Glance v1 endpoint.  Runs with both glanceclient 4.x and 2.17.1.

Expectations were validated against a real Glance 15.0.2 (Pike) v1 server,
noauth pipeline (every caller is an admin with no tenant and no roles).  In
the tokens modes (GLANCE_EMU_AUTH_MODE=tokens-member|tokens-admin, see
conftest.Mode) the expectations that depend on the caller follow FACTS.md
1.1, 3.1, 4.5, 4.6, 4.8 and 4.9; tests of the rules themselves are in
test_tokens_auth.py.
"""
import html
import io
import os
import re
import uuid

import pytest
from glanceclient import exc

from conftest import MODE, md5, unique

# the JSON image record of POST/PUT responses and of /images/detail items
RECORD_KEYS = {"id", "name", "status", "size", "virtual_size", "disk_format",
               "container_format", "checksum", "min_disk", "min_ram", "owner",
               "protected", "is_public", "created_at", "updated_at", "deleted_at",
               "deleted", "properties"}
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


class UnseekableReader(object):
    """File-like object with read() only: the client cannot learn its size,
    so no x-image-meta-size is sent and the body goes out chunked."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)

    def read(self, n=-1):
        return self._buf.read(n)


def all_images(gc, **filters):
    # Real Glance: for an admin (noauth) caller a list WITHOUT is_public only
    # shows public images; is_public=None (sent as the string "None") shows
    # every non-deleted, non-killed image.  A non-admin's is_public is
    # ignored (public + own + shared-with-me), which still covers every image
    # the tests create themselves.
    filters.setdefault("is_public", None)
    return list(gc.images.list(filters=filters))


def err(e):
    """Error text of a glanceclient exception.  Real Glance (WebOb on
    Python 3) HTML-escapes ' as &#x27; in its error pages; Python 2 did not,
    so accept both."""
    return html.unescape(str(e))


def download(gc, image_id):
    return b"".join(gc.images.data(image_id))


# --------------------------------------------------------------------------
# create / get (HEAD)
# --------------------------------------------------------------------------

def test_create_with_data_then_head(gc, images):
    # > 64 KiB so that glanceclient 2.x sends several chunks
    data = os.urandom(200 * 1024 + 17)
    name = unique("cwd")
    img = images.create(name=name, disk_format="qcow2", container_format="bare",
                        min_ram=512, min_disk=2, data=io.BytesIO(data),
                        properties={"os_distro": "debian", "hw_disk_bus": "virtio"})
    assert set(img.to_dict()) == RECORD_KEYS   # nulls included
    assert img.status == "active"
    assert img.size == len(data)
    assert img.checksum == md5(data)
    assert img.owner == MODE.tenant and img.deleted_at is None
    assert img.properties == {"os_distro": "debian", "hw_disk_bus": "virtio"}

    got = gc.images.get(img.id)
    info = got.to_dict()
    assert got.id == img.id
    assert got.name == name
    assert got.status == "active"
    assert got.size == len(data) and isinstance(got.size, int)
    assert got.checksum == md5(data)
    assert got.disk_format == "qcow2"
    assert got.container_format == "bare"
    assert got.min_ram == 512 and isinstance(got.min_ram, int)
    assert got.min_disk == 2 and isinstance(got.min_disk, int)
    assert got.is_public is False
    assert got.protected is False
    assert got.deleted is False
    assert got.properties == {"os_distro": "debian", "hw_disk_bus": "virtio"}
    assert TS_RE.match(got.created_at), got.created_at
    assert TS_RE.match(got.updated_at), got.updated_at
    # null fields are omitted from HEAD (noauth images have no owner), and the
    # store location is never revealed
    for absent in ("location", "deleted_at", "virtual_size"):
        assert absent not in info, (absent, info)
    if MODE.tenant is None:
        assert "owner" not in info, info
    else:
        assert info["owner"] == MODE.tenant


def test_create_with_unseekable_stream(gc, images):
    data = os.urandom(70000)
    img = images.create(name=unique("stream"), disk_format="raw",
                        container_format="bare", data=UnseekableReader(data))
    assert img.status == "active"
    assert img.size == len(data)
    assert img.checksum == md5(data)
    got = gc.images.get(img.id)
    assert (got.size, got.checksum) == (len(data), md5(data))


def test_create_without_data_is_queued(gc, images):
    name = unique("queued")
    img = images.create(name=name, disk_format="raw", container_format="bare")
    assert img.status == "queued"
    assert img.size == 0
    assert img.checksum is None      # JSON body carries null
    got = gc.images.get(img.id)
    info = got.to_dict()
    assert got.status == "queued"
    assert got.size == 0
    assert got.name == name
    # HEAD leaves out null fields: no checksum for a queued image
    assert "checksum" not in info


def test_create_bare_no_fields(gc, images):
    # POST with no metadata at all: queued, no name / formats headers on HEAD
    img = gc.images.create()
    images.track(img.id)
    assert img.status == "queued"
    assert img.name is None
    info = gc.images.get(img.id).to_dict()
    for absent in ("name", "disk_format", "container_format", "checksum"):
        assert absent not in info, (absent, info)
    assert info["size"] == 0


def test_create_size_zero_without_data_is_active(gc, images):
    # Real Glance quirk: x-image-meta-size: 0 with no body creates an
    # *active* empty image (not queued).
    img = images.create(name=unique("zero"), disk_format="raw",
                        container_format="bare", size=0)
    assert img.status == "active"
    assert gc.images.get(img.id).status == "active"
    assert download(gc, img.id) == b""


def test_create_size_mismatch_kills_image(gc, images):
    image_id = str(uuid.uuid4())
    images.track(image_id)
    data = b"x" * 23
    with pytest.raises(exc.HTTPBadRequest) as ei:
        gc.images.create(id=image_id, name=unique("mismatch"), disk_format="raw",
                         container_format="bare", size=999, data=io.BytesIO(data))
    assert ("Supplied size (999) and size generated from uploaded image (23) "
            "did not match. Setting image status to 'killed'.") in err(ei.value)
    got = gc.images.get(image_id)
    assert got.status == "killed"
    assert got.size == 999          # the declared size is kept
    assert "checksum" not in got.to_dict()
    # killed images are hidden from lists
    assert image_id not in [i.id for i in all_images(gc)]


def test_create_duplicate_id_conflict(gc, images):
    image_id = str(uuid.uuid4())
    images.create(id=image_id, name=unique("dup"))
    with pytest.raises(exc.HTTPConflict):
        gc.images.create(id=image_id, name=unique("dup2"))


def test_create_invalid_disk_format(gc):
    with pytest.raises(exc.HTTPBadRequest) as ei:
        gc.images.create(name=unique("badfmt"), disk_format="bogus",
                         container_format="bare")
    assert "Invalid disk format 'bogus' for image." in err(ei.value)


def test_create_public_needs_admin_role(gc, images):
    # Real Glance noauth: the context is admin but has no roles, and the stock
    # policy publicize_image is "role:admin" -> 403.  Same for a member; a
    # caller with role admin may publicize.
    name = unique("pub")
    if MODE.can_publicize:
        img = images.create(name=name, is_public=True)
        assert img.is_public is True
        assert gc.images.get(img.id).is_public is True
        assert [i.id for i in gc.images.list(filters={"name": name, "is_public": True})] \
            == [img.id]
    else:
        with pytest.raises(exc.HTTPForbidden):
            gc.images.create(name=name, is_public=True)
        assert all_images(gc, name=name) == []


def test_property_names_normalised(gc, images):
    # Glance lower-cases property names and turns '-' into '_' on input.
    img = images.create(name=unique("props"),
                        properties={"Hw_Disk_Bus": "virtio", "os-version": "12"})
    expected = {"hw_disk_bus": "virtio", "os_version": "12"}
    assert img.properties == expected
    assert gc.images.get(img.id).properties == expected


def test_header_values_stored_percent_encoded(gc, images):
    # glanceclient (>= 2.11.1) percent-encodes every header value; real Glance
    # v1 never decodes, so a space is stored (and returned) as %20.
    img = images.create(name=unique("enc"), properties={"description": "my image"})
    assert img.properties == {"description": "my%20image"}
    assert gc.images.get(img.id).properties == {"description": "my%20image"}


def test_get_unknown_id_not_found(gc):
    with pytest.raises(exc.HTTPNotFound):
        gc.images.get(str(uuid.uuid4()))
    with pytest.raises(exc.HTTPNotFound):
        gc.images.get("does-not-exist")


# --------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------

def test_download_and_checksum(gc, images):
    data = os.urandom(150 * 1024)
    img = images.create(name=unique("dl"), disk_format="raw",
                        container_format="bare", data=io.BytesIO(data))
    body = gc.images.data(img.id)
    chunks = list(body)
    got = b"".join(chunks)
    assert got == data
    assert md5(got) == img.checksum
    # explicit checksum verification disabled gives the same bytes
    assert b"".join(gc.images.data(img.id, do_checksum=False)) == data


def test_download_queued_image_not_found(gc, images):
    img = images.create(name=unique("dlq"), disk_format="raw", container_format="bare")
    with pytest.raises(exc.HTTPNotFound) as ei:
        download(gc, img.id)
    assert "Image %s is not active" % img.id in err(ei.value)


def test_download_unknown_not_found(gc):
    with pytest.raises(exc.HTTPNotFound):
        download(gc, str(uuid.uuid4()))


# --------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------

def test_list_filter_by_name(gc, images):
    a = images.create(name=unique("lista"), disk_format="raw", container_format="bare",
                      data=io.BytesIO(b"abc"))
    images.create(name=unique("listb"))
    found = all_images(gc, name=a.name)
    assert [i.id for i in found] == [a.id]
    item = found[0]
    assert set(item.to_dict()) == RECORD_KEYS
    # list items are used as the JSON gives them: real types needed
    assert item.size == 3 and isinstance(item.size, int)
    assert item.is_public is False
    assert item.protected is False
    assert item.deleted is False
    assert item.checksum == md5(b"abc")
    assert item.status == "active"
    assert item.properties == {}
    assert item.deleted_at is None


def test_list_default_visibility_is_public_only(gc, images):
    # Real Glance quirk: an admin (noauth) list without is_public returns only
    # public images, so freshly created (private) images are not listed.
    # With a tenant (tokens modes) that "normal-user view" is public + own +
    # shared, so the caller's own private image is listed: for a member
    # because is_public is ignored, for an admin because is_public=true also
    # means the normal-user view.
    img = images.create(name=unique("vis"))
    own = [img.id] if MODE.lists_own_private else []
    assert [i.id for i in gc.images.list(filters={"name": img.name})] == own
    assert [i.id for i in all_images(gc, name=img.name)] == [img.id]
    assert [i.id for i in gc.images.list(filters={"name": img.name, "is_public": False})] \
        == [img.id]
    assert [i.id for i in gc.images.list(filters={"name": img.name, "is_public": True})] \
        == own


def test_list_filter_by_property(gc, images, tag):
    a = images.create(name=unique("pa"), properties={"suite_tag": tag, "flavor": "x"})
    b = images.create(name=unique("pb"), properties={"suite_tag": tag, "flavor": "y"})
    images.create(name=unique("pc"), properties={"suite_tag": "other"})
    ids = {i.id for i in all_images(gc, properties={"suite_tag": tag})}
    assert ids == {a.id, b.id}
    ids = [i.id for i in all_images(gc, properties={"suite_tag": tag, "flavor": "y"})]
    assert ids == [b.id]


def test_list_paging_with_marker(gc, images, tag):
    created = [images.create(name=unique("page%d" % n), properties={"suite_tag": tag})
               for n in range(5)]
    want = {i.id for i in created}
    # page_size=2: the client asks limit=2, then marker=<last id> until a
    # short page comes back.
    got = [i.id for i in gc.images.list(page_size=2,
                                        filters={"is_public": None,
                                                 "properties": {"suite_tag": tag}})]
    assert len(got) == 5 and set(got) == want
    # default order is created_at desc
    assert got == [i.id for i in reversed(created)]
    # the server really honours limit and marker
    q = "/v1/images/detail?limit=2&is_public=None&property-suite_tag=%s" % tag
    resp, body = gc.http_client.get(q)
    first = [i["id"] for i in body["images"]]
    assert first == got[:2]
    resp, body = gc.http_client.get(q + "&marker=%s" % first[-1])
    assert [i["id"] for i in body["images"]] == got[2:4]
    # client-side limit cuts the result
    assert len(list(gc.images.list(page_size=2, limit=3,
                                   filters={"is_public": None,
                                            "properties": {"suite_tag": tag}}))) == 3


def test_list_sort_key_and_dir(gc, images, tag):
    prefix = unique("sort")
    sizes = {"b": 30, "a": 10, "c": 20}
    made = {}
    for suffix, size in sizes.items():
        made[suffix] = images.create(name="%s-%s" % (prefix, suffix), disk_format="raw",
                                     container_format="bare", properties={"suite_tag": tag},
                                     data=io.BytesIO(b"z" * size))
    # NB: glanceclient pops "properties" out of the filters dict it is given,
    # so build a fresh dict for every call.
    def f():
        return {"is_public": None, "properties": {"suite_tag": tag}}
    names = [i.name for i in gc.images.list(sort_key="name", sort_dir="asc", filters=f())]
    assert names == ["%s-%s" % (prefix, s) for s in ("a", "b", "c")]
    names = [i.name for i in gc.images.list(sort_key="name", sort_dir="desc", filters=f())]
    assert names == ["%s-%s" % (prefix, s) for s in ("c", "b", "a")]
    sizes_asc = [i.size for i in gc.images.list(sort_key="size", sort_dir="asc", filters=f())]
    assert sizes_asc == [10, 20, 30]
    ids_desc = [i.id for i in gc.images.list(sort_key="created_at", sort_dir="desc", filters=f())]
    assert ids_desc == [made[s].id for s in ("c", "a", "b")]


# --------------------------------------------------------------------------
# update
# --------------------------------------------------------------------------

def test_update_metadata_keeps_properties(gc, images):
    img = images.create(name=unique("upd"), properties={"a": "1", "b": "2"})
    new_name = unique("upd-new")
    upd = gc.images.update(img.id, name=new_name, min_ram=128,
                           disk_format="raw", container_format="bare",
                           properties={"c": "3"})
    # update() sends x-glance-registry-purge-props: false by default
    assert upd.name == new_name
    assert upd.min_ram == 128
    assert upd.properties == {"a": "1", "b": "2", "c": "3"}
    got = gc.images.get(img.id)
    assert got.name == new_name
    assert got.min_ram == 128
    assert got.disk_format == "raw"
    assert got.status == "queued"
    assert got.properties == {"a": "1", "b": "2", "c": "3"}


def test_update_purge_props(gc, images):
    img = images.create(name=unique("purge"), properties={"a": "1", "b": "2"})
    upd = gc.images.update(img.id, properties={"b": "20", "c": "3"}, purge_props=True)
    assert upd.properties == {"b": "20", "c": "3"}
    assert gc.images.get(img.id).properties == {"b": "20", "c": "3"}
    # purging everything
    upd = gc.images.update(img.id, purge_props=True)
    assert upd.properties == {}
    assert gc.images.get(img.id).properties == {}


def test_upload_to_queued_image_via_update(gc, images):
    img = images.create(name=unique("upl"), disk_format="raw", container_format="bare",
                        properties={"keep": "me"})
    assert img.status == "queued"
    data = os.urandom(100 * 1024 + 3)
    upd = gc.images.update(img.id, data=io.BytesIO(data))
    assert upd.status == "active"
    assert upd.size == len(data)
    assert upd.checksum == md5(data)
    got = gc.images.get(img.id)
    assert (got.status, got.size, got.checksum) == ("active", len(data), md5(data))
    assert got.properties == {"keep": "me"}
    assert download(gc, img.id) == data


def test_upload_to_active_image_conflict(gc, images):
    img = images.create(name=unique("act"), disk_format="raw", container_format="bare",
                        data=io.BytesIO(b"first"))
    if MODE.is_admin:
        with pytest.raises(exc.HTTPConflict) as ei:
            gc.images.update(img.id, data=io.BytesIO(b"second"))
        assert "Cannot upload to an unqueued image" in err(ei.value)
    else:
        # the client also sends x-image-meta-size: 6; for a non-admin the
        # active-image size check (403) comes before the upload check (409)
        with pytest.raises(exc.HTTPForbidden) as ei:
            gc.images.update(img.id, data=io.BytesIO(b"second"))
        assert "Forbidden to modify 'size' of active image." in err(ei.value)
    assert download(gc, img.id) == b"first"


def test_update_unknown_not_found(gc):
    with pytest.raises(exc.HTTPNotFound):
        gc.images.update(str(uuid.uuid4()), name="nobody")


# --------------------------------------------------------------------------
# delete
# --------------------------------------------------------------------------

def test_delete_then_get_shows_deleted(gc, images):
    img = images.create(name=unique("del"), disk_format="raw", container_format="bare",
                        properties={"p": "v"}, data=io.BytesIO(b"bye"))
    gc.images.delete(img.id)
    if MODE.is_admin:
        # noauth = admin: HEAD still answers 200 with status deleted
        got = gc.images.get(img.id)
        info = got.to_dict()
        assert got.status == "deleted"
        assert got.deleted is True
        assert TS_RE.match(info["deleted_at"]), info
        assert got.properties == {}          # properties are soft-deleted too
        assert got.checksum == md5(b"bye")   # checksum and size are kept
        assert got.size == 3
    else:
        # non-admins cannot see deleted images at all
        with pytest.raises(exc.HTTPNotFound):
            gc.images.get(img.id)
    # data is gone, a second delete is 404, and it is no longer listed
    with pytest.raises(exc.HTTPNotFound):
        download(gc, img.id)
    with pytest.raises(exc.HTTPNotFound):
        gc.images.delete(img.id)
    assert all_images(gc, name=img.name) == []
    # an update of a deleted image is refused (non-admin: it is invisible)
    with pytest.raises(exc.HTTPForbidden if MODE.is_admin else exc.HTTPNotFound):
        gc.images.update(img.id, name="zombie")


def assert_deleted(gc, image_id):
    if MODE.is_admin:
        assert gc.images.get(image_id).status == "deleted"
    else:
        with pytest.raises(exc.HTTPNotFound):
            gc.images.get(image_id)


def test_delete_queued_image(gc, images):
    img = images.create(name=unique("delq"))
    gc.images.delete(img.id)
    assert_deleted(gc, img.id)


def test_delete_protected_forbidden(gc, images):
    img = images.create(name=unique("prot"), protected=True)
    assert gc.images.get(img.id).protected is True
    with pytest.raises(exc.HTTPForbidden):
        gc.images.delete(img.id)
    assert gc.images.get(img.id).status == "queued"
    gc.images.update(img.id, protected=False)
    gc.images.delete(img.id)
    assert_deleted(gc, img.id)


def test_delete_unknown_not_found(gc):
    with pytest.raises(exc.HTTPNotFound):
        gc.images.delete(str(uuid.uuid4()))


# --------------------------------------------------------------------------
# members
# --------------------------------------------------------------------------

def test_members_lifecycle(gc, images):
    img = images.create(name=unique("mem"))
    ta, tb, tc = unique("tenant"), unique("tenant"), unique("tenant")
    assert list(gc.image_members.list(image=img.id)) == []

    gc.image_members.create(img.id, ta)
    gc.image_members.create(img.id, tb, can_share=True)
    members = {m.member_id: m.can_share for m in gc.image_members.list(image=img.id)}
    assert members == {ta: False, tb: True}
    for m in gc.image_members.list(image=img.id):
        assert m.image_id == img.id

    shared = list(gc.image_members.list(member=tb))
    assert [(m.image_id, m.member_id, m.can_share) for m in shared] == [(img.id, tb, True)]

    # GET /v1/images/{id}/members/{m} is 405 on real Glance; the client
    # swallows the error and returns nothing.
    assert list(gc.image_members.list(image=img.id, member=ta)) == []

    # updating can_share of an existing member
    gc.image_members.create(img.id, ta, can_share=True)
    members = {m.member_id: m.can_share for m in gc.image_members.list(image=img.id)}
    assert members == {ta: True, tb: True}

    gc.image_members.replace(img.id, [{"member_id": tc, "can_share": False}])
    members = {m.member_id: m.can_share for m in gc.image_members.list(image=img.id)}
    assert members == {tc: False}
    assert list(gc.image_members.list(member=ta)) == []

    gc.image_members.delete(img.id, tc)
    assert list(gc.image_members.list(image=img.id)) == []
    with pytest.raises(exc.HTTPNotFound):
        gc.image_members.delete(img.id, tc)


def test_members_of_deleted_or_unknown_image(gc, images):
    img = images.create(name=unique("memdel"))
    gc.image_members.create(img.id, unique("tenant"))
    gc.images.delete(img.id)
    with pytest.raises(exc.HTTPNotFound):
        list(gc.image_members.list(image=img.id))
    with pytest.raises(exc.HTTPNotFound):
        list(gc.image_members.list(image=str(uuid.uuid4())))
