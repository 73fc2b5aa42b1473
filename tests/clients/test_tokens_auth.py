"""Who is asking: real clients against glance-emu in `--auth tokens:FILE` mode.

Only collected in the tokens modes (GLANCE_EMU_AUTH_MODE=tokens-member or
tokens-admin, see conftest.py).  The server's tokens file holds three callers
(conftest.CALLERS): "a" (member of tenant A), "b" (member of tenant B) and
"admin" (roles member + Admin, tenant ADMIN).  `gc` / `images` / `glance_cli`
act as the mode's caller (A in tokens-member, admin in tokens-admin);
`gc_as(key)` / `images_as(key)` / `glance_cli_as(key)` act as the others.

Expected answers follow FACTS.md 1.1 (401 without a valid token), 3.1
(other tenants' private and deleted images are 404, never 403), 4.5 (owner and
size/checksum are admin-only on update), 4.6 (delete), 4.8 (list visibility,
is_public ignored for non-admins) and 4.9 (members need sharing rights), and
glance 15.0.2's registry code where FACTS is silent (noted per test).
"""
import html
import http.client
import io
import uuid
from urllib.parse import urlsplit

import pytest
from glanceclient import exc

from conftest import CALLERS, MODE, md5, parse_list_table, parse_property_table, unique

A, B, ADMIN = CALLERS["a"].tenant, CALLERS["b"].tenant, CALLERS["admin"].tenant


def err(e):
    return html.unescape(str(e))   # WebOb escapes ' as &#x27;


def ids(gc, **filters):
    """Ids listed by GET /v1/images/detail with these filters (no is_public
    key = the client sends none; is_public=None is sent as "None")."""
    return [i.id for i in gc.images.list(filters=filters)]


def listings(gc, name):
    """image id lists for the four is_public variants of a by-name list."""
    return {
        "default": ids(gc, name=name),
        "None": ids(gc, name=name, is_public=None),
        "True": ids(gc, name=name, is_public=True),
        "False": ids(gc, name=name, is_public=False),
    }


def raw(url, method, path, headers=None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------
# 401
# --------------------------------------------------------------------------

def test_wrong_or_missing_token_unauthorized(gc, gc_as, images):
    img = images.create(name=unique("tok"), disk_format="raw", container_format="bare",
                        data=io.BytesIO(b"secret"))
    for token in ("wrong-" + uuid.uuid4().hex, "", None):
        bad = gc_as(token=token)
        with pytest.raises(exc.HTTPUnauthorized):
            bad.images.get(img.id)
        with pytest.raises(exc.HTTPUnauthorized):
            bad.images.get(str(uuid.uuid4()))          # unknown id: 401, not 404
        with pytest.raises(exc.HTTPUnauthorized):
            list(bad.images.list(filters={"is_public": None}))
        with pytest.raises(exc.HTTPUnauthorized):
            b"".join(bad.images.data(img.id))
        with pytest.raises(exc.HTTPUnauthorized):
            bad.images.create(name=img.name)
        with pytest.raises(exc.HTTPUnauthorized):
            bad.images.update(img.id, name="x")
        with pytest.raises(exc.HTTPUnauthorized):
            bad.images.delete(img.id)
        with pytest.raises(exc.HTTPUnauthorized):
            list(bad.image_members.list(image=img.id))
        with pytest.raises(exc.HTTPUnauthorized):
            bad.image_members.create(img.id, B)
    # nothing happened
    got = gc.images.get(img.id)
    assert (got.name, got.status) == (img.name, "active")
    assert ids(gc_as("admin"), name=img.name, is_public=None) == [img.id]
    assert list(gc.image_members.list(image=img.id)) == []


def test_401_on_the_wire(glance_url, images):
    img = images.create(name=unique("tok-raw"))
    for headers in ({}, {"X-Auth-Token": "nope"}):
        status, hdrs, body = raw(glance_url, "HEAD", "/v1/images/%s" % img.id, headers)
        assert status == 401
        assert hdrs["www-authenticate"].startswith("Keystone uri=")
        assert not any(k.startswith("x-image-meta-") for k in hdrs), hdrs
        assert "x-openstack-request-id" not in hdrs
        status, hdrs, body = raw(glance_url, "GET", "/v1/images/detail", headers)
        assert status == 401 and b"401 Unauthorized" in body
        assert img.id.encode() not in body
    # version discovery stays unauthenticated (versionnegotiation runs first)
    status, hdrs, body = raw(glance_url, "GET", "/")
    assert status == 300


def test_tokens_never_logged(gc, gc_as, images, emulator_log):
    wrong = "wrong-" + uuid.uuid4().hex
    img = images.create(name=unique("log"))
    gc_as("b").image_members.list(member=B)
    with pytest.raises(exc.HTTPUnauthorized):
        gc_as(token=wrong).images.get(img.id)
    if emulator_log is None:
        pytest.skip("emulator not started by the suite")
    log = emulator_log.read_text(errors="replace")
    for token in [c.token for c in CALLERS.values()] + [wrong]:
        assert token not in log


# --------------------------------------------------------------------------
# other tenants' private images
# --------------------------------------------------------------------------

def test_private_image_hidden_from_other_tenant(gc, gc_as, images, mode):
    data = b"mine, all mine"
    img = images.create(name=unique("priv"), disk_format="raw", container_format="bare",
                        properties={"secret": "yes"}, data=io.BytesIO(data))
    assert img.owner == mode.tenant
    other = gc_as("b")

    with pytest.raises(exc.HTTPNotFound):
        other.images.get(img.id)                       # HEAD: 404, never 403
    with pytest.raises(exc.HTTPNotFound):
        b"".join(other.images.data(img.id))
    with pytest.raises(exc.HTTPNotFound):
        other.images.update(img.id, name="stolen")
    with pytest.raises(exc.HTTPNotFound):
        other.images.delete(img.id)
    with pytest.raises(exc.HTTPNotFound):
        list(other.image_members.list(image=img.id))
    with pytest.raises(exc.HTTPNotFound):
        other.image_members.create(img.id, B)
    with pytest.raises(exc.HTTPNotFound):
        other.image_members.replace(img.id, [{"member_id": B, "can_share": True}])
    assert listings(other, img.name) == {"default": [], "None": [], "True": [], "False": []}
    assert img.id not in [i.id for i in other.images.list(filters={"is_public": None})]
    assert list(other.image_members.list(member=B)) == []
    # shared-images of the owner's tenant, asked by B, reveals nothing either
    if mode.tenant:
        assert list(other.image_members.list(member=mode.tenant)) == []

    # the owner still sees it, untouched, in every list variant
    got = gc.images.get(img.id)
    assert (got.name, got.status, got.owner) == (img.name, "active", mode.tenant)
    assert got.properties == {"secret": "yes"}
    assert b"".join(gc.images.data(img.id)) == data
    assert listings(gc, img.name) == {k: [img.id] for k in ("default", "None", "True", "False")}
    item = list(gc.images.list(filters={"name": img.name}))[0]
    assert item.owner == mode.tenant and item.is_public is False


def test_admin_sees_every_tenant_by_id_but_lists_like_a_user(gc_as, images_as):
    img = images_as("b").create(name=unique("priv-b"), disk_format="raw",
                                container_format="bare", data=io.BytesIO(b"bee"))
    assert img.owner == B
    admin = gc_as("admin")
    got = admin.images.get(img.id)
    assert (got.owner, got.status) == (B, "active")
    assert b"".join(admin.images.data(img.id)) == b"bee"
    # no is_public / is_public=true: the normal-user view (public + own +
    # shared); None: everything; False: every non-public image
    assert listings(admin, img.name) == {"default": [], "None": [img.id],
                                         "True": [], "False": [img.id]}
    # a member of another tenant sees nothing
    with pytest.raises(exc.HTTPNotFound):
        gc_as("a").images.get(img.id)
    assert listings(gc_as("a"), img.name) == {"default": [], "None": [], "True": [],
                                              "False": []}


def test_deleted_image_visible_to_admin_only(gc_as, images_as):
    img = images_as("a").create(name=unique("del-a"), disk_format="raw",
                                container_format="bare", data=io.BytesIO(b"bye"))
    gc_as("a").images.delete(img.id)
    for key in ("a", "b"):
        with pytest.raises(exc.HTTPNotFound):
            gc_as(key).images.get(img.id)
    got = gc_as("admin").images.get(img.id)
    assert (got.status, got.deleted, got.owner) == ("deleted", True, A)
    assert got.checksum == md5(b"bye")
    with pytest.raises(exc.HTTPNotFound):
        gc_as("admin").images.delete(img.id)


# --------------------------------------------------------------------------
# members
# --------------------------------------------------------------------------

def test_member_makes_image_visible(gc, gc_as, images, mode):
    data = b"shared bytes"
    img = images.create(name=unique("shared"), disk_format="raw", container_format="bare",
                        data=io.BytesIO(data))
    other = gc_as("b")
    with pytest.raises(exc.HTTPNotFound):
        other.images.get(img.id)

    gc.image_members.create(img.id, B)
    got = other.images.get(img.id)
    assert (got.id, got.owner, got.is_public) == (img.id, mode.tenant, False)
    assert b"".join(other.images.data(img.id)) == data
    # listed for the member whatever is_public says (ignored for non-admins)
    assert listings(other, img.name) == {k: [img.id] for k in ("default", "None", "True", "False")}
    shared = [(m.image_id, m.member_id, m.can_share)
              for m in other.image_members.list(member=B)]
    assert shared == [(img.id, B, False)]
    assert [m.member_id for m in other.image_members.list(image=img.id)] == [B]

    # a member without can_share may not change the membership list.  The
    # registry says 403 "No permission to share that image"; glance-api v1's
    # members controller turns every registry Forbidden into a 404 with that
    # text (glance/api/v1/members.py update/update_all/delete).
    for call in (lambda: other.image_members.create(img.id, unique("tenant")),
                 lambda: other.image_members.replace(img.id, [{"member_id": B}]),
                 lambda: other.image_members.delete(img.id, B)):
        with pytest.raises(exc.HTTPNotFound) as ei:
            call()
        assert "No permission to share that image" in err(ei.value)
    assert [m.member_id for m in gc.image_members.list(image=img.id)] == [B]
    # ... nor delete or modify the image (Glance answers an error; FACTS 4.6
    # says the exact code matters little)
    with pytest.raises(exc.HTTPException):
        other.images.delete(img.id)
    with pytest.raises(exc.HTTPException):
        other.images.update(img.id, name="taken-over")
    got = gc.images.get(img.id)
    assert (got.name, got.status) == (img.name, "active")

    # removing the member hides the image again
    gc.image_members.delete(img.id, B)
    with pytest.raises(exc.HTTPNotFound):
        other.images.get(img.id)
    assert listings(other, img.name) == {"default": [], "None": [], "True": [], "False": []}
    assert list(other.image_members.list(member=B)) == []


def test_member_with_can_share_may_share(gc, gc_as, images):
    img = images.create(name=unique("reshare"))
    gc.image_members.create(img.id, B, can_share=True)
    other = gc_as("b")
    c = unique("tenant")
    other.image_members.create(img.id, c)
    assert {m.member_id: m.can_share for m in gc.image_members.list(image=img.id)} \
        == {B: True, c: False}


def test_shared_images_of_other_tenants(gc, gc_as, images, mode):
    # GET /v1/shared-images/{member}: a non-admin sees the memberships of
    # images it owns and those naming itself, an admin all of them
    img = images.create(name=unique("memrows"))
    c = unique("tenant")
    gc.image_members.create(img.id, B)
    gc.image_members.create(img.id, c, can_share=True)

    def shared(key, member):
        return [(m.image_id, m.can_share) for m in gc_as(key).image_members.list(member=member)]
    assert shared("b", B) == [(img.id, False)]
    assert shared("admin", c) == [(img.id, True)]
    # A owns the image in tokens-member mode, is a stranger in tokens-admin
    assert shared("a", c) == ([] if mode.is_admin else [(img.id, True)])
    assert shared("a", B) == ([] if mode.is_admin else [(img.id, False)])


# Glance 15 (db image_member_find) shows a non-admin only rows of images it owns and
# rows naming itself.
@pytest.mark.parametrize("endpoint", ["members", "shared-images"])
def test_member_sees_only_its_own_membership(gc, gc_as, images, endpoint):
    img = images.create(name=unique("memrows"))
    c = unique("tenant")
    gc.image_members.create(img.id, B)
    gc.image_members.create(img.id, c, can_share=True)
    assert {m.member_id for m in gc.image_members.list(image=img.id)} == {B, c}
    b = gc_as("b")
    if endpoint == "members":
        # GET /v1/images/{id}/members as member B
        assert [m.member_id for m in b.image_members.list(image=img.id)] == [B]
    else:
        # GET /v1/shared-images/{c} as member B
        assert list(b.image_members.list(member=c)) == []


# --------------------------------------------------------------------------
# owner, is_public, immutable fields
# --------------------------------------------------------------------------

def test_admin_can_set_owner(gc_as, images_as):
    admin = gc_as("admin")
    img = images_as("admin").create(name=unique("owned-b"), owner=B, disk_format="raw",
                                    container_format="bare", data=io.BytesIO(b"for b"))
    assert img.owner == B
    assert admin.images.get(img.id).owner == B
    # the new owner sees it as its own, other members do not
    assert gc_as("b").images.get(img.id).owner == B
    assert ids(gc_as("b"), name=img.name) == [img.id]
    with pytest.raises(exc.HTTPNotFound):
        gc_as("a").images.get(img.id)
    # ... and the admin's normal-user list does not include it (not its own)
    assert ids(admin, name=img.name) == []

    upd = admin.images.update(img.id, owner=A)
    assert upd.owner == A
    assert gc_as("a").images.get(img.id).owner == A
    with pytest.raises(exc.HTTPNotFound):
        gc_as("b").images.get(img.id)


def test_member_owner_header_ignored(gc_as, images_as):
    a = gc_as("a")
    img = images_as("a").create(name=unique("owner-try"), owner=B)
    assert img.owner == A
    upd = a.images.update(img.id, owner=B)
    assert upd.owner == A
    assert a.images.get(img.id).owner == A
    with pytest.raises(exc.HTTPNotFound):
        gc_as("b").images.get(img.id)


def test_update_to_public(gc, images, mode):
    img = images.create(name=unique("topub"))
    if mode.can_publicize:
        upd = gc.images.update(img.id, is_public=True)
        assert upd.is_public is True
        assert gc.images.get(img.id).is_public is True
    else:
        with pytest.raises(exc.HTTPForbidden):
            gc.images.update(img.id, is_public=True)
        assert gc.images.get(img.id).is_public is False


def test_public_image_rules(gc_as, images_as):
    # members may not publicize (policy publicize_image: role:admin) ...
    with pytest.raises(exc.HTTPForbidden):
        gc_as("a").images.create(name=unique("pub-a"), is_public=True)
    # ... the admin may; everyone sees a public image, whatever is_public says
    img = images_as("admin").create(name=unique("pub"), is_public=True, disk_format="raw",
                                    container_format="bare", data=io.BytesIO(b"pub"))
    assert (img.is_public, img.owner) == (True, ADMIN)
    for key in ("a", "b"):
        who = gc_as(key)
        assert who.images.get(img.id).is_public is True
        assert b"".join(who.images.data(img.id)) == b"pub"
        assert listings(who, img.name) == {k: [img.id] for k in ("default", "None", "True",
                                                                 "False")}
        # not theirs: delete is 403 (FACTS 4.6), update an error
        with pytest.raises(exc.HTTPForbidden):
            who.images.delete(img.id)
        with pytest.raises(exc.HTTPException):
            who.images.update(img.id, name="mine now")
    assert listings(gc_as("admin"), img.name) == {"default": [img.id], "None": [img.id],
                                                  "True": [img.id], "False": []}
    # made private again, it disappears for the others
    gc_as("admin").images.update(img.id, is_public=False)
    with pytest.raises(exc.HTTPNotFound):
        gc_as("b").images.get(img.id)


def test_active_size_and_checksum_admin_only(gc_as, images_as):
    img = images_as("a").create(name=unique("immut"), disk_format="raw",
                                container_format="bare", data=io.BytesIO(b"12345"))
    a = gc_as("a")
    with pytest.raises(exc.HTTPForbidden) as ei:
        a.images.update(img.id, size=999)
    assert "Forbidden to modify 'size' of active image." in err(ei.value)
    with pytest.raises(exc.HTTPForbidden):
        a.images.update(img.id, checksum="0" * 32)
    got = a.images.get(img.id)
    assert (got.size, got.checksum) == (5, md5(b"12345"))
    # an admin may.  (Checked through the PUT answer and the list: glance-emu
    # without --glance-compat answers HEAD with 409 once the recorded size
    # disagrees with the stored bytes.)
    upd = gc_as("admin").images.update(img.id, size=6)
    assert upd.size == 6
    assert [i.size for i in a.images.list(filters={"name": img.name})] == [6]


# --------------------------------------------------------------------------
# CLI and SDK as another tenant
# --------------------------------------------------------------------------

def test_cli_wrong_token(glance_cli_as, images):
    img = images.create(name=unique("cli-tok"))
    bad = glance_cli_as(token="wrong-" + uuid.uuid4().hex)
    for args in (("image-list",), ("image-show", img.id), ("image-show", img.name)):
        res = bad(*args)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        assert "Invalid OpenStack Identity credentials." in res.stderr, res.stderr
        assert img.id not in res.stdout


def test_cli_other_tenant(glance_cli, glance_cli_as, gc, images, tag):
    img = images.create(name=unique("cli-priv"), properties={"suite_tag": tag})
    other = glance_cli_as("b")
    for ref in (img.id, img.name):
        res = other("image-show", ref)
        assert res.returncode == 1
        assert "No image with a name or ID of '%s' exists." % ref in res.stderr
    for extra in ((), ("--all-tenants",)):
        res = other("image-list", "--property-filter", "suite_tag=%s" % tag, *extra)
        assert res.returncode == 0 and parse_list_table(res.stdout) == []
    # shared: the name now resolves for B, and member-list shows the share
    gc.image_members.create(img.id, B)
    res = other("image-show", img.name)
    assert res.returncode == 0, res.stderr
    assert parse_property_table(res.stdout)["id"] == img.id
    res = other("member-list", "--tenant-id", B)
    assert parse_list_table(res.stdout) == [{"Image ID": img.id, "Member ID": B,
                                             "Can Share": ""}]
    res = other("image-list", "--property-filter", "suite_tag=%s" % tag)
    assert [r["ID"] for r in parse_list_table(res.stdout)] == [img.id]


def test_sdk_tokens(glance_url, images):
    pytest.importorskip("openstack")
    from openstack import connection, exceptions

    def conn(token):
        return connection.Connection(
            auth_type="admin_token", auth={"token": token, "endpoint": glance_url},
            image_endpoint_override=glance_url, image_api_version="1",
            region_name="RegionOne")

    img = images.create(name=unique("sdk-priv"))
    with pytest.raises(exceptions.HttpException) as ei:
        list(conn("wrong-" + uuid.uuid4().hex).image.images())
    assert ei.value.status_code == 401
    b = conn(CALLERS["b"].token)
    assert b.image.find_image(img.id) is None
    assert b.image.find_image(img.name) is None
    assert img.id not in [i.id for i in b.image.images()]
