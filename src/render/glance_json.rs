//! How images look as Glance v1 JSON: the 18-key record, the 6-key index entry, the version
//! document, member lists. Pure; bodies are written with Python's `json.dumps` layout.

use serde_json::{json, Map, Value};

use crate::model::Image;

/// The 18-key record of `/v1/images/detail`, POST and PUT responses. Key order follows a
/// capture of the real server (Python's dict order; clients do not depend on it).
pub fn image_record(img: &Image) -> Value {
    let mut props = Map::new();
    // A delete clears them (Glance soft-deleted the rows with the image).
    for (k, v) in &img.properties {
        props.insert(
            k.to_string(),
            v.as_deref().map_or(Value::Null, |s| json!(s)),
        );
    }
    let mut m = Map::with_capacity(18);
    m.insert("deleted".into(), json!(img.deleted));
    m.insert("disk_format".into(), json!(img.disk_format));
    m.insert("checksum".into(), json!(img.checksum));
    m.insert("created_at".into(), json!(img.created_at.glance()));
    m.insert("id".into(), json!(img.id));
    m.insert("container_format".into(), json!(img.container_format));
    m.insert("min_disk".into(), json!(img.min_disk));
    m.insert("protected".into(), json!(img.protected));
    m.insert("min_ram".into(), json!(img.min_ram));
    m.insert("owner".into(), json!(img.owner));
    m.insert("name".into(), json!(img.name));
    m.insert("status".into(), json!(img.status.as_str()));
    m.insert("virtual_size".into(), json!(img.virtual_size));
    m.insert("is_public".into(), json!(img.is_public));
    m.insert("size".into(), json!(img.size));
    m.insert("updated_at".into(), json!(img.updated_at.glance()));
    m.insert(
        "deleted_at".into(),
        json!(img.deleted_at.map(|t| t.glance())),
    );
    m.insert("properties".into(), Value::Object(props));
    Value::Object(m)
}

/// The 6-key entry of `GET /v1/images`.
pub fn index_entry(img: &Image) -> Value {
    json!({
        "name": img.name,
        "container_format": img.container_format,
        "disk_format": img.disk_format,
        "checksum": img.checksum,
        "id": img.id,
        "size": img.size,
    })
}

/// `{"image": {...}}`.
pub fn image_body(img: &Image) -> String {
    crate::render::python::json::to_string(&json!({ "image": image_record(img) }))
}

/// `{"images": [...]}` from already-rendered entries.
pub fn images_body(entries: Vec<Value>) -> String {
    crate::render::python::json::to_string(&json!({ "images": entries }))
}

/// The version document (`glance/api/versions.py`, v1 only): self links from the request's
/// host URL (`http://<Host>`).
pub fn versions_body(host_url: &str) -> String {
    let entry = |id: &str| {
        json!({
            "id": id,
            "status": "DEPRECATED",
            "links": [{"rel": "self", "href": format!("{host_url}/v1/")}],
        })
    };
    crate::render::python::json::to_string(&json!({ "versions": [entry("v1.1"), entry("v1.0")] }))
}

/// `{"members": [{"member_id": ..., "can_share": ...}]}`.
pub fn members_body(img: &Image) -> String {
    let members: Vec<Value> = img
        .members
        .iter()
        .map(|m| json!({"member_id": m.member_id, "can_share": m.can_share}))
        .collect();
    crate::render::python::json::to_string(&json!({ "members": members }))
}

/// `{"shared_images": [{"image_id": ..., "can_share": ...}]}`.
pub fn shared_images_body(entries: &[(String, bool)]) -> String {
    let list: Vec<Value> = entries
        .iter()
        .map(|(id, cs)| json!({"image_id": id, "can_share": cs}))
        .collect();
    crate::render::python::json::to_string(&json!({ "shared_images": list }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    // Rule: A v1 JSON image record has Glance's 18 keys, nulls included.
    #[test]
    fn record_has_18_keys_and_nulls() {
        let img = Image::new(
            crate::model::ImageId::new("a").unwrap(),
            Timestamp::parse("2020-01-01").unwrap(),
        );
        let v = image_record(&img);
        assert_eq!(v.as_object().unwrap().len(), 18);
        assert_eq!(v["deleted_at"], Value::Null);
        assert_eq!(v["properties"], json!({}));
        assert_eq!(index_entry(&img).as_object().unwrap().len(), 6);
    }

    // Rule: The versions document is byte for byte Glance's.
    #[test]
    fn versions_document() {
        assert_eq!(
            versions_body("http://h:1"),
            r#"{"versions": [{"id": "v1.1", "status": "DEPRECATED", "links": [{"rel": "self", "href": "http://h:1/v1/"}]}, {"id": "v1.0", "status": "DEPRECATED", "links": [{"rel": "self", "href": "http://h:1/v1/"}]}]}"#
        );
    }
}
