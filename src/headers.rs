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

fn ts(t: Timestamp) -> HeaderValue {
    let mut v = Vec::with_capacity(26);
    t.write_glance(&mut v);
    HeaderValue::from_maybe_shared(bytes::Bytes::from(v)).unwrap_or(HeaderValue::from_static(""))
}

fn text(s: &str) -> Option<HeaderValue> {
    // Fixtures and request parsing only admit header-safe text, so this never drops a value
    // in practice; a value that slipped through is omitted rather than breaking the response.
    HeaderValue::from_str(s)
        .ok()
        .or_else(|| HeaderValue::from_bytes(s.as_bytes()).ok())
}

/// Appends the `X-Image-Meta-*` block for `img` in the order production Glance (Python 2.7)
/// sent it, followed by one header per non-null property (sorted by lower-cased key) unless
/// the image is deleted, then `Etag` when a checksum exists.
///
/// `size` overrides the recorded size (GET reports the size of the stored data).
pub fn image_meta(img: &Image, size: Option<u64>, out: &mut HeaderMap) {
    out.append(
        ID.clone(),
        text(&img.id).unwrap_or(HeaderValue::from_static("")),
    );
    out.append(DELETED.clone(), py_bool(img.deleted));
    if let Some(v) = img.container_format.as_deref().and_then(text) {
        out.append(CONTAINER_FORMAT.clone(), v);
    }
    if let Some(v) = img.checksum.as_deref().and_then(text) {
        out.append(CHECKSUM.clone(), v);
    }
    out.append(PROTECTED.clone(), py_bool(img.protected));
    out.append(MIN_DISK.clone(), HeaderValue::from(img.min_disk));
    if let Some(t) = img.deleted_at {
        out.append(DELETED_AT.clone(), ts(t));
    }
    out.append(CREATED_AT.clone(), ts(img.created_at));
    if let Some(s) = size.or(img.size) {
        out.append(SIZE.clone(), HeaderValue::from(s));
    }
    out.append(
        STATUS.clone(),
        HeaderValue::from_static(img.status.as_str()),
    );
    if let Some(v) = img.virtual_size {
        out.append(VIRTUAL_SIZE.clone(), HeaderValue::from(v));
    }
    out.append(IS_PUBLIC.clone(), py_bool(img.is_public));
    out.append(MIN_RAM.clone(), HeaderValue::from(img.min_ram));
    if let Some(v) = img.owner.as_deref().and_then(text) {
        out.append(OWNER.clone(), v);
    }
    out.append(UPDATED_AT.clone(), ts(img.updated_at));
    if let Some(v) = img.disk_format.as_deref().and_then(text) {
        out.append(DISK_FORMAT.clone(), v);
    }
    if let Some(v) = img.name.as_deref().and_then(text) {
        out.append(NAME.clone(), v);
    }
    if !img.deleted {
        for (key, value) in sorted_properties(img) {
            let Some(value) = value.and_then(text) else {
                continue;
            };
            let mut name = String::with_capacity(PROPERTY_PREFIX.len() + key.len());
            name.push_str(PROPERTY_PREFIX);
            name.push_str(&key);
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                // Two keys differing only by case collapse into one header, as in Glance.
                out.insert(name, value);
            }
        }
    }
    if let Some(v) = img.checksum.as_deref().and_then(text) {
        out.append(ETAG.clone(), v);
    }
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
            "3c3d1d01-b48a-4639-8a88-08be3b9b5d78".into(),
            Timestamp::parse("2016-05-22T06:04:20.425843").unwrap(),
        );
        img.status = Status::Active;
        img.name = Some("cirros".into());
        img.size = Some(13287936);
        img.checksum = Some("ee1eca47dc88f4879d8a229cc70a07c6".into());
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
