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
    ($($id:ident = $s:literal;)*) => {
        $(
            #[doc = concat!("`", $s, "`")]
            pub static $id: HeaderName = HeaderName::from_static($s);
        )*
    };
}

names! {
    ID = "x-image-meta-id";
    DELETED = "x-image-meta-deleted";
    CONTAINER_FORMAT = "x-image-meta-container_format";
    CHECKSUM = "x-image-meta-checksum";
    PROTECTED = "x-image-meta-protected";
    MIN_DISK = "x-image-meta-min_disk";
    DELETED_AT = "x-image-meta-deleted_at";
    CREATED_AT = "x-image-meta-created_at";
    SIZE = "x-image-meta-size";
    STATUS = "x-image-meta-status";
    VIRTUAL_SIZE = "x-image-meta-virtual_size";
    IS_PUBLIC = "x-image-meta-is_public";
    MIN_RAM = "x-image-meta-min_ram";
    OWNER = "x-image-meta-owner";
    UPDATED_AT = "x-image-meta-updated_at";
    DISK_FORMAT = "x-image-meta-disk_format";
    NAME = "x-image-meta-name";
    ETAG = "etag";
    REQUEST_ID = "x-openstack-request-id";
}

/// Python's `str(bool)`.
pub fn py_bool(b: bool) -> HeaderValue {
    HeaderValue::from_static(if b { "True" } else { "False" })
}

/// Appends the `X-Image-Meta-*` block for `img` in the order production Glance (Python 2.7)
/// sent it, followed by one header per non-null property (sorted by lower-cased key) unless
/// the image is deleted, then `Etag` when a checksum exists.
///
/// `size` overrides the recorded size (GET reports the size of the stored data).
///
/// This is the hot path of HEAD: every value is written into one buffer and each header
/// value is a slice of it, so a response costs two allocations instead of one per header.
pub fn image_meta(img: &Image, size: Option<u64>, out: &mut HeaderMap) {
    let mut w = Writer::new(img.properties.len());
    w.text(&ID, &img.id);
    w.fixed(&DELETED, py_bool_str(img.deleted));
    if let Some(v) = img.container_format.as_deref() {
        w.text(&CONTAINER_FORMAT, v);
    }
    if let Some(v) = img.checksum.as_deref() {
        w.text(&CHECKSUM, v);
    }
    w.fixed(&PROTECTED, py_bool_str(img.protected));
    w.number(&MIN_DISK, u64::from(img.min_disk));
    if let Some(t) = img.deleted_at {
        w.time(&DELETED_AT, t);
    }
    w.time(&CREATED_AT, img.created_at);
    if let Some(s) = size.or(img.size) {
        w.number(&SIZE, s);
    }
    w.fixed(&STATUS, img.status.as_str());
    if let Some(v) = img.virtual_size {
        w.number(&VIRTUAL_SIZE, v);
    }
    w.fixed(&IS_PUBLIC, py_bool_str(img.is_public));
    w.number(&MIN_RAM, u64::from(img.min_ram));
    if let Some(v) = img.owner.as_deref() {
        w.text(&OWNER, v);
    }
    w.time(&UPDATED_AT, img.updated_at);
    if let Some(v) = img.disk_format.as_deref() {
        w.text(&DISK_FORMAT, v);
    }
    if let Some(v) = img.name.as_deref() {
        w.text(&NAME, v);
    }
    if !img.deleted {
        if img
            .properties
            .iter()
            .all(|(k, _)| !k.bytes().any(|b| b.is_ascii_uppercase()))
        {
            // Stored keys are kept sorted; already lower case (everything v1 writes is),
            // they are the wire order as they stand.
            for (key, value) in &img.properties {
                if let (Some(value), Some(name)) = (value.as_deref(), property_name(key)) {
                    w.text(&name, value);
                }
            }
        } else {
            for (key, value) in sorted_properties(img) {
                if let (Some(value), Some(name)) = (value, property_name(&key)) {
                    w.text(&name, value);
                }
            }
        }
    }
    if let Some(v) = img.checksum.as_deref() {
        w.text(&ETAG, v);
    }
    w.finish(out);
}

fn py_bool_str(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

enum Val {
    Static(&'static str),
    Range(usize, usize),
}

/// Collects header values into one buffer, then hands out slices of it.
struct Writer {
    buf: Vec<u8>,
    entries: Vec<(HeaderName, Val)>,
}

impl Writer {
    fn new(props: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(384),
            entries: Vec::with_capacity(18 + props),
        }
    }

    fn fixed(&mut self, name: &HeaderName, v: &'static str) {
        self.entries.push((name.clone(), Val::Static(v)));
    }

    fn range(&mut self, name: &HeaderName, start: usize) {
        self.entries
            .push((name.clone(), Val::Range(start, self.buf.len())));
    }

    fn text(&mut self, name: &HeaderName, v: &str) {
        let start = self.buf.len();
        self.buf.extend_from_slice(v.as_bytes());
        self.range(name, start);
    }

    fn number(&mut self, name: &HeaderName, v: u64) {
        let start = self.buf.len();
        let mut tmp = [0u8; 20];
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
        self.buf.extend_from_slice(&tmp[i..]);
        self.range(name, start);
    }

    fn time(&mut self, name: &HeaderName, t: Timestamp) {
        let start = self.buf.len();
        t.write_glance(&mut self.buf);
        self.range(name, start);
    }

    fn finish(self, out: &mut HeaderMap) {
        let shared = bytes::Bytes::from(self.buf);
        for (name, v) in self.entries {
            let value = match v {
                Val::Static(s) => HeaderValue::from_static(s),
                // Fixtures and request parsing admit only header-safe text, so a slice that
                // fails validation cannot happen; it would be omitted rather than sent.
                Val::Range(a, b) => match HeaderValue::from_maybe_shared(shared.slice(a..b)) {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            if name.as_str().starts_with(PROPERTY_PREFIX) {
                // Two keys differing only by case collapse into one header, as in Glance.
                out.insert(name, value);
            } else {
                out.append(name, value);
            }
        }
    }
}

thread_local! {
    /// Property header names already built on this thread: a custom `HeaderName` costs an
    /// allocation, a cached one only a reference-count increment.
    static PROPERTY_NAMES: std::cell::RefCell<std::collections::HashMap<String, HeaderName>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// `x-image-meta-property-<key>` (key already lower-cased), or `None` if not a valid name.
fn property_name(key: &str) -> Option<HeaderName> {
    PROPERTY_NAMES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(n) = cache.get(key) {
            return Some(n.clone());
        }
        let mut full = String::with_capacity(PROPERTY_PREFIX.len() + key.len());
        full.push_str(PROPERTY_PREFIX);
        full.push_str(key);
        let name = HeaderName::from_bytes(full.as_bytes()).ok()?;
        // Bounded: property names come from fixtures and clients, not from the hot path's
        // adversaries, but a cap keeps memory flat whatever they send.
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(key.to_string(), name.clone());
        Some(name)
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

    #[test]
    fn order_values_and_omissions() {
        let mut map = HeaderMap::new();
        image_meta(&sample(), None, &mut map);
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

    #[test]
    fn deleted_images_show_deleted_at_and_no_properties() {
        let mut img = sample();
        img.deleted = true;
        img.status = Status::Deleted;
        img.deleted_at = Some(Timestamp::parse("2017-01-01T00:00:00").unwrap());
        img.checksum = None;
        img.owner = Some("t1".into());
        img.virtual_size = Some(7);
        let mut map = HeaderMap::new();
        image_meta(&img, None, &mut map);
        let l = lines(&map);
        assert!(l.contains(&"x-image-meta-deleted: True".to_string()));
        assert!(l.contains(&"x-image-meta-deleted_at: 2017-01-01T00:00:00.000000".to_string()));
        assert!(l.contains(&"x-image-meta-owner: t1".to_string()));
        assert!(l.contains(&"x-image-meta-virtual_size: 7".to_string()));
        assert!(!l.iter().any(|h| h.starts_with("x-image-meta-property")));
        assert!(!l
            .iter()
            .any(|h| h.starts_with("etag") || h.contains("checksum")));
        // Deleted_at sits between Min_disk and Created_at.
        let pos = |p: &str| l.iter().position(|h| h.starts_with(p)).unwrap();
        assert!(pos("x-image-meta-min_disk") < pos("x-image-meta-deleted_at"));
        assert!(pos("x-image-meta-deleted_at") < pos("x-image-meta-created_at"));
    }

    #[test]
    fn size_override_and_null_size() {
        let mut img = sample();
        let mut map = HeaderMap::new();
        image_meta(&img, Some(28), &mut map);
        assert_eq!(map[&SIZE], "28");
        img.size = None;
        let mut map = HeaderMap::new();
        image_meta(&img, None, &mut map);
        assert!(!map.contains_key(&SIZE));
    }
}
