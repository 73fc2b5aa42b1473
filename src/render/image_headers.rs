//! How an image looks as Glance v1 `X-Image-Meta-*` headers: which fields appear, in which
//! order, and how each value is spelled. Pure; `docs/headers.md` is the table it implements.
//!
//! Names are written in lower case; the server turns on hyper's title-case writer, which
//! produces exactly eventlet's capitalisation (`x-image-meta-container_format` becomes
//! `X-Image-Meta-Container_format`) because every name here is lower case.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::model::{Image, Timestamp};

/// `X-Image-Meta-Property-` prefix, lower case.
pub const PROPERTY_PREFIX: &str = "x-image-meta-property-";

macro_rules! names {
    ($($id:ident, $field:ident = $s:literal, $title:literal;)*) => {
        $(
            #[doc = concat!("`", $s, "`")]
            pub static $id: HeaderName = HeaderName::from_static($s);
            static $field: Field = Field { name: &$id, title: $title };
        )*
        /// Every field of the block, for the test that checks the spellings.
        #[cfg(test)]
        static ALL_FIELDS: &[&Field] = &[$(&$field),*];
    };
}

/// A header of the image block: the lower-case name a `HeaderMap` holds and the name as
/// hyper's title-case writer puts it on the wire (checked against that writer in a test),
/// so the wire writer need not capitalise byte by byte.
pub struct Field {
    name: &'static HeaderName,
    title: &'static str,
}

names! {
    ID, F_ID = "x-image-meta-id", "X-Image-Meta-Id";
    DELETED, F_DELETED = "x-image-meta-deleted", "X-Image-Meta-Deleted";
    CONTAINER_FORMAT, F_CONTAINER_FORMAT =
        "x-image-meta-container_format", "X-Image-Meta-Container_format";
    CHECKSUM, F_CHECKSUM = "x-image-meta-checksum", "X-Image-Meta-Checksum";
    PROTECTED, F_PROTECTED = "x-image-meta-protected", "X-Image-Meta-Protected";
    MIN_DISK, F_MIN_DISK = "x-image-meta-min_disk", "X-Image-Meta-Min_disk";
    DELETED_AT, F_DELETED_AT = "x-image-meta-deleted_at", "X-Image-Meta-Deleted_at";
    CREATED_AT, F_CREATED_AT = "x-image-meta-created_at", "X-Image-Meta-Created_at";
    SIZE, F_SIZE = "x-image-meta-size", "X-Image-Meta-Size";
    STATUS, F_STATUS = "x-image-meta-status", "X-Image-Meta-Status";
    VIRTUAL_SIZE, F_VIRTUAL_SIZE = "x-image-meta-virtual_size", "X-Image-Meta-Virtual_size";
    IS_PUBLIC, F_IS_PUBLIC = "x-image-meta-is_public", "X-Image-Meta-Is_public";
    MIN_RAM, F_MIN_RAM = "x-image-meta-min_ram", "X-Image-Meta-Min_ram";
    OWNER, F_OWNER = "x-image-meta-owner", "X-Image-Meta-Owner";
    UPDATED_AT, F_UPDATED_AT = "x-image-meta-updated_at", "X-Image-Meta-Updated_at";
    DISK_FORMAT, F_DISK_FORMAT = "x-image-meta-disk_format", "X-Image-Meta-Disk_format";
    NAME, F_NAME = "x-image-meta-name", "X-Image-Meta-Name";
    ETAG, F_ETAG = "etag", "Etag";
    REQUEST_ID, F_REQUEST_ID = "x-openstack-request-id", "X-Openstack-Request-Id";
}

/// Python's `str(bool)`.
pub fn py_bool(b: bool) -> HeaderValue {
    HeaderValue::from_static(if b { "True" } else { "False" })
}

/// Appends the `X-Image-Meta-*` block for `img` in the order production Glance (Python 2.7)
/// sent it, followed by one header per non-null property (sorted by lower-cased key; a
/// delete clears them, as Glance soft-deleted the rows), then `Etag` when a checksum exists.
///
/// `size` overrides the recorded size (GET reports the size of the stored data).
///
/// This is the hot path of HEAD through hyper: every value is written into one buffer and
/// each header value is a slice of it, so a response costs two allocations instead of one
/// per header.
///
/// Returns `false` when the headers do not fit in a `HeaderMap` (more than 32,768 of them:
/// a record built past [`MAX_RECORD_HEADER_BYTES`](crate::model::MAX_RECORD_HEADER_BYTES)
/// other than by loading it); the caller answers 500 instead of hyper panicking.
#[must_use]
pub fn image_meta(img: &Image, size: Option<u64>, out: &mut HeaderMap) -> bool {
    let mut w = Writer::new(img.properties.len());
    walk(img, size, keys_lower_case(img), &mut w);
    w.finish(out)
}

/// Writes the same block as [`image_meta`] as wire bytes (`Name: value\r\n` lines, names
/// capitalised as hyper's title-case writer does), for the HEAD fast path. Returns `false`,
/// having written nothing, when the record has property keys that differ only by case:
/// those collapse into one header the way a `HeaderMap` collapses them, so such records go
/// through [`image_meta`].
pub fn write_image_meta(img: &Image, out: &mut Vec<u8>) -> bool {
    if !keys_lower_case(img) {
        return false;
    }
    walk(img, None, true, &mut Wire(out));
    true
}

/// The header `X-Openstack-Request-Id: <id>` as wire bytes.
pub fn write_request_id(id: &[u8], out: &mut Vec<u8>) {
    Wire(out).line(F_REQUEST_ID.title.as_bytes(), id);
}

fn keys_lower_case(img: &Image) -> bool {
    img.properties
        .iter()
        .all(|(k, _)| !k.bytes().any(|b| b.is_ascii_uppercase()))
}

/// One walk over the record, shared by the `HeaderMap` writer and the wire writer, so the
/// two cannot disagree on order or spelling. `lower` is [`keys_lower_case`] of the record.
fn walk<S: Sink>(img: &Image, size: Option<u64>, lower: bool, w: &mut S) {
    w.fixed(&F_ID, &img.id);
    w.fixed(&F_DELETED, py_bool_str(img.deleted));
    if let Some(v) = img.container_format.as_deref() {
        w.fixed(&F_CONTAINER_FORMAT, v);
    }
    if let Some(v) = img.checksum.as_deref() {
        w.fixed(&F_CHECKSUM, v);
    }
    w.fixed(&F_PROTECTED, py_bool_str(img.protected));
    w.number(&F_MIN_DISK, u64::from(img.min_disk));
    if let Some(t) = img.deleted_at {
        w.time(&F_DELETED_AT, t);
    }
    w.time(&F_CREATED_AT, img.created_at);
    if let Some(s) = size.or(img.size) {
        w.number(&F_SIZE, s);
    }
    w.fixed(&F_STATUS, img.status.as_str());
    if let Some(v) = img.virtual_size {
        w.number(&F_VIRTUAL_SIZE, v);
    }
    w.fixed(&F_IS_PUBLIC, py_bool_str(img.is_public));
    w.number(&F_MIN_RAM, u64::from(img.min_ram));
    if let Some(v) = &img.owner {
        w.fixed(&F_OWNER, &v.text());
    }
    w.time(&F_UPDATED_AT, img.updated_at);
    if let Some(v) = img.disk_format.as_deref() {
        w.fixed(&F_DISK_FORMAT, v);
    }
    if let Some(v) = img.name.as_deref() {
        w.fixed(&F_NAME, v);
    }
    if lower {
        // Stored keys are kept sorted; already lower case (everything v1 writes is),
        // they are the wire order as they stand.
        for (key, value) in img.properties.iter() {
            if let Some(value) = value.as_deref() {
                w.property(key, value);
            }
        }
    } else {
        for (key, value) in sorted_properties(img) {
            if let Some(value) = value {
                w.property(&key, value);
            }
        }
    }
    if let Some(v) = img.checksum.as_deref() {
        w.fixed(&F_ETAG, v);
    }
}

/// Where the walk puts each header.
trait Sink {
    /// A text value (copied).
    fn fixed(&mut self, f: &'static Field, v: &str);
    /// A decimal number.
    fn number(&mut self, f: &'static Field, v: u64);
    /// A Glance timestamp.
    fn time(&mut self, f: &'static Field, t: Timestamp);
    /// `x-image-meta-property-<key>` (key lower case); skipped when not a valid name.
    fn property(&mut self, key: &str, v: &str);
}

/// Python's `str(bool)`.
fn py_bool_str(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// `v` as decimal digits, in the tail of `tmp`.
fn decimal(v: u64, tmp: &mut [u8; 20]) -> &[u8] {
    let mut i = tmp.len();
    let mut n = v;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &tmp[i..]
}

/// hyper's title-case writer: upper-case the first byte and every byte after a `-` (also
/// for heads written without hyper).
pub fn title_case(dst: &mut Vec<u8>, name: &[u8]) {
    let mut prev = b'-';
    for &c in name {
        dst.push(if prev == b'-' {
            c.to_ascii_uppercase()
        } else {
            c
        });
        prev = c;
    }
}

/// Wire lines straight into the response buffer.
struct Wire<'a>(&'a mut Vec<u8>);

impl Wire<'_> {
    /// `title: v\r\n`, unless `v` is a value a `HeaderMap` would refuse (left out on both
    /// paths).
    fn line(&mut self, title: &[u8], v: &[u8]) {
        if crate::model::header_value_ok(v) {
            self.0.extend_from_slice(title);
            self.0.extend_from_slice(b": ");
            self.0.extend_from_slice(v);
            self.0.extend_from_slice(b"\r\n");
        }
    }
}

impl Sink for Wire<'_> {
    fn fixed(&mut self, f: &'static Field, v: &str) {
        self.line(f.title.as_bytes(), v.as_bytes());
    }

    fn number(&mut self, f: &'static Field, v: u64) {
        let mut tmp = [0u8; 20];
        self.line(f.title.as_bytes(), decimal(v, &mut tmp));
    }

    fn time(&mut self, f: &'static Field, t: Timestamp) {
        let out = &mut *self.0;
        out.extend_from_slice(f.title.as_bytes());
        out.extend_from_slice(b": ");
        t.write_glance(out);
        out.extend_from_slice(b"\r\n");
    }

    fn property(&mut self, key: &str, v: &str) {
        with_property_name(key, |p| {
            if let Some(p) = p {
                self.line(&p.title, v.as_bytes());
            }
        });
    }
}

/// Collects header values into one buffer, then hands out slices of it.
struct Writer {
    buf: Vec<u8>,
    entries: Vec<(HeaderName, usize, usize)>,
}

impl Writer {
    fn new(props: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(384),
            entries: Vec::with_capacity(18 + props),
        }
    }

    fn push(&mut self, name: HeaderName, v: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(v);
        self.entries.push((name, start, self.buf.len()));
    }

    fn finish(self, out: &mut HeaderMap) -> bool {
        let shared = bytes::Bytes::from(self.buf);
        for (name, a, b) in self.entries {
            // Fixtures and request parsing admit only header-safe text, so a slice that
            // fails validation cannot happen; it would be omitted rather than sent.
            let Ok(value) = HeaderValue::from_maybe_shared(shared.slice(a..b)) else {
                continue;
            };
            // `try_`: past the map's capacity this is an error, not a panic.
            let fits = if name.as_str().starts_with(PROPERTY_PREFIX) {
                // Two keys differing only by case collapse into one header, as in Glance.
                out.try_insert(name, value).is_ok()
            } else {
                out.try_append(name, value).is_ok()
            };
            if !fits {
                return false;
            }
        }
        true
    }
}

impl Sink for Writer {
    fn fixed(&mut self, f: &'static Field, v: &str) {
        self.push(f.name.clone(), v.as_bytes());
    }

    fn number(&mut self, f: &'static Field, v: u64) {
        let mut tmp = [0u8; 20];
        self.push(f.name.clone(), decimal(v, &mut tmp));
    }

    fn time(&mut self, f: &'static Field, t: Timestamp) {
        let start = self.buf.len();
        t.write_glance(&mut self.buf);
        self.entries.push((f.name.clone(), start, self.buf.len()));
    }

    fn property(&mut self, key: &str, v: &str) {
        if let Some(name) = with_property_name(key, |p| p.map(|p| p.name.clone())) {
            self.push(name, v.as_bytes());
        }
    }
}

/// A property header name in both spellings.
struct PropertyName {
    name: HeaderName,
    title: Box<[u8]>,
}

thread_local! {
    /// Property header names already built on this thread: a custom `HeaderName` costs an
    /// allocation, a cached one only a reference-count increment. `None` marks a key that
    /// makes no valid header name.
    static PROPERTY_NAMES: std::cell::RefCell<
        std::collections::HashMap<Box<str>, Option<PropertyName>, foldhash::fast::RandomState>,
    > = std::cell::RefCell::new(Default::default());
}

/// Calls `f` with the names of `x-image-meta-property-<key>` (key already lower-cased), or
/// with `None` if that is not a valid header name.
fn with_property_name<R>(key: &str, f: impl FnOnce(Option<&PropertyName>) -> R) -> R {
    PROPERTY_NAMES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(n) = cache.get(key) {
            return f(n.as_ref());
        }
        let mut full = String::with_capacity(PROPERTY_PREFIX.len() + key.len());
        full.push_str(PROPERTY_PREFIX);
        full.push_str(key);
        let entry = HeaderName::from_bytes(full.as_bytes()).ok().map(|name| {
            let mut title = Vec::with_capacity(full.len());
            title_case(&mut title, name.as_str().as_bytes());
            PropertyName {
                name,
                title: title.into(),
            }
        });
        let r = f(entry.as_ref());
        // Bounded: property names come from fixtures and clients, not from the hot path's
        // adversaries, but a cap keeps memory flat whatever they send.
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(key.into(), entry);
        r
    })
}

/// Properties as they go on the wire: keys lower-cased, sorted, last duplicate wins.
pub fn sorted_properties(img: &Image) -> Vec<(String, Option<&str>)> {
    let mut v: Vec<(String, Option<&str>)> = img
        .properties
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_deref()))
        .collect();
    // Stable sort keeps the stored order among keys that collapse into one.
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn sample() -> Image {
        let mut img = Image::new(
            crate::model::ImageId::new("3c3d1d01-b48a-4639-8a88-08be3b9b5d78").unwrap(),
            Timestamp::parse("2016-05-22T06:04:20.425843").unwrap(),
        );
        img.status = Status::Active;
        img.name = Some("cirros".into());
        img.size = Some(13287936);
        img.checksum = crate::model::Checksum::new("ee1eca47dc88f4879d8a229cc70a07c6");
        img.disk_format = Some("qcow2".into());
        img.container_format = Some("bare".into());
        img.updated_at = Timestamp::parse("2016-05-22T06:04:21").unwrap();
        img.set_property("Hw_Disk_Bus".into(), Some("virtio".into()));
        img.set_property("empty".into(), None);
        img
    }

    fn lines(map: &HeaderMap) -> Vec<String> {
        map.iter()
            .map(|(k, v)| format!("{}: {}", k, v.to_str().unwrap()))
            .collect()
    }

    // Rule: `X-Image-Meta-*` headers come in Glance's order with its value spellings, absent fields left out.
    #[test]
    fn order_values_and_omissions() {
        let mut map = HeaderMap::new();
        assert!(image_meta(&sample(), None, &mut map));
        assert_eq!(
            lines(&map),
            vec![
                "x-image-meta-id: 3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
                "x-image-meta-deleted: False",
                "x-image-meta-container_format: bare",
                "x-image-meta-checksum: ee1eca47dc88f4879d8a229cc70a07c6",
                "x-image-meta-protected: False",
                "x-image-meta-min_disk: 0",
                "x-image-meta-created_at: 2016-05-22T06:04:20.425843",
                "x-image-meta-size: 13287936",
                "x-image-meta-status: active",
                "x-image-meta-is_public: False",
                "x-image-meta-min_ram: 0",
                "x-image-meta-updated_at: 2016-05-22T06:04:21.000000",
                "x-image-meta-disk_format: qcow2",
                "x-image-meta-name: cirros",
                "x-image-meta-property-hw_disk_bus: virtio",
                "etag: ee1eca47dc88f4879d8a229cc70a07c6",
            ]
        );
    }

    // Rule: A deleted image's headers show deleted_at, and the properties it still has (a
    // delete clears them; a create with `x-image-meta-deleted: true` kept them in Glance).
    #[test]
    fn deleted_images_show_deleted_at_and_their_properties() {
        let mut img = sample();
        img.deleted = true;
        img.status = Status::Deleted;
        img.deleted_at = Some(Timestamp::parse("2017-01-01T00:00:00").unwrap());
        img.checksum = None;
        img.owner = Some("t1".into());
        img.virtual_size = Some(7);
        let mut map = HeaderMap::new();
        assert!(image_meta(&img, None, &mut map));
        let l = lines(&map);
        assert!(l.contains(&"x-image-meta-deleted: True".to_string()));
        assert!(l.contains(&"x-image-meta-deleted_at: 2017-01-01T00:00:00.000000".to_string()));
        assert!(l.contains(&"x-image-meta-owner: t1".to_string()));
        assert!(l.contains(&"x-image-meta-virtual_size: 7".to_string()));
        assert!(l.contains(&"x-image-meta-property-hw_disk_bus: virtio".to_string()));
        assert!(!l
            .iter()
            .any(|h| h.starts_with("etag") || h.contains("checksum")));
        // Deleted_at sits between Min_disk and Created_at.
        let pos = |p: &str| l.iter().position(|h| h.starts_with(p)).unwrap();
        assert!(pos("x-image-meta-min_disk") < pos("x-image-meta-deleted_at"));
        assert!(pos("x-image-meta-deleted_at") < pos("x-image-meta-created_at"));
        img.properties.clear();
        let mut map = HeaderMap::new();
        assert!(image_meta(&img, None, &mut map));
        assert!(!lines(&map)
            .iter()
            .any(|h| h.starts_with("x-image-meta-property")));
    }

    // Rule: Every field's title-cased name is what hyper writes on the wire.
    #[test]
    fn field_titles_are_what_hyper_writes() {
        for f in ALL_FIELDS {
            let mut t = Vec::new();
            title_case(&mut t, f.name.as_str().as_bytes());
            assert_eq!(std::str::from_utf8(&t).unwrap(), f.title);
        }
    }

    /// The wire writer and the `HeaderMap` writer give the same lines, in the same order.
    #[test]
    fn wire_block_matches_header_map() {
        let mut lower = sample();
        lower.remove_property("Hw_Disk_Bus");
        lower.remove_property("empty");
        lower.set_property("hw_disk_bus".into(), Some("virtio".into()));
        lower.set_property("os-distro".into(), Some("ubuntu".into()));
        lower.set_property("bad key".into(), Some("x".into()));
        lower.set_property("nul".into(), None);
        lower.set_property("ctl".into(), Some("a\u{1}b".into()));
        let mut deleted = lower.clone();
        deleted.deleted = true;
        deleted.deleted_at = Some(Timestamp::parse("2017-01-01T00:00:00").unwrap());
        deleted.virtual_size = Some(12);
        deleted.owner = Some("t1".into());
        for img in [lower, deleted] {
            let mut map = HeaderMap::new();
            assert!(image_meta(&img, None, &mut map));
            let mut expected = Vec::new();
            for (name, value) in &map {
                title_case(&mut expected, name.as_str().as_bytes());
                expected.extend_from_slice(b": ");
                expected.extend_from_slice(value.as_bytes());
                expected.extend_from_slice(b"\r\n");
            }
            let mut wire = Vec::new();
            assert!(write_image_meta(&img, &mut wire));
            assert_eq!(
                String::from_utf8_lossy(&wire),
                String::from_utf8_lossy(&expected)
            );
        }
        // Keys that collapse by case are left to the HeaderMap writer.
        let mut mixed = sample();
        mixed.set_property("hw_disk_bus".into(), Some("ide".into()));
        let mut wire = Vec::new();
        assert!(!write_image_meta(&mixed, &mut wire));
        assert!(wire.is_empty());
    }

    // Rule: The size header can be overridden (the bytes served) and a null size is left out.
    #[test]
    fn size_override_and_null_size() {
        let mut img = sample();
        let mut map = HeaderMap::new();
        assert!(image_meta(&img, Some(28), &mut map));
        assert_eq!(map[&SIZE], "28");
        img.size = None;
        let mut map = HeaderMap::new();
        assert!(image_meta(&img, None, &mut map));
        assert!(!map.contains_key(&SIZE));
    }
}
