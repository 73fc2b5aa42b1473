//! Import once of the JSON-lines log (`DIR/images.log`, bytes in `DIR/blobs/`) that
//! `--persist` wrote before it kept Glance's database: the log is read to its final state,
//! written into `DIR/glance.sqlite` as one transaction (the bytes moved to
//! `DIR/images/<id>`), and then renamed to `images.log.imported` (never deleted). Nothing
//! writes the log any more; this reader is all that is left of it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;

use crate::model::{Checksum, Data, Image, ImageData, ImageId, Member, Status, Timestamp};

/// The log's file name in the state directory.
pub const LOG_FILE: &str = "images.log";
/// What the log is renamed to once imported.
pub const IMPORTED: &str = "images.log.imported";

/// One line of the old log.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum LogEntry {
    Put(Box<PImage>),
    Remove(String),
}

/// A record as the old log wrote it.
#[derive(Deserialize)]
struct PImage {
    id: String,
    name: Option<String>,
    status: String,
    size: Option<u64>,
    virtual_size: Option<u64>,
    checksum: Option<String>,
    disk_format: Option<Arc<str>>,
    container_format: Option<Arc<str>>,
    min_disk: u32,
    min_ram: u32,
    owner: Option<Arc<str>>,
    is_public: bool,
    protected: bool,
    deleted: bool,
    deleted_at: Option<String>,
    created_at: String,
    updated_at: String,
    properties: Vec<(Arc<str>, Option<Arc<str>>)>,
    members: Vec<(String, bool)>,
    data: PData,
    data_mismatch: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum PData {
    None,
    Base64(String),
    Repeat { unit: String, len: u64 },
    File { path: PathBuf, len: u64 },
}

impl PImage {
    fn into_image(self) -> Option<Image> {
        let ts = |s: &str| Timestamp::parse(s);
        let mut img = Image::new(ImageId::new(&self.id)?, ts(&self.created_at)?);
        img.name = self.name.map(Into::into);
        img.status = Status::parse(&self.status)?;
        img.size = self.size;
        img.virtual_size = self.virtual_size;
        img.checksum = self.checksum.as_deref().and_then(Checksum::new);
        img.disk_format = self.disk_format;
        img.container_format = self.container_format;
        img.min_disk = self.min_disk;
        img.min_ram = self.min_ram;
        img.owner = self.owner.as_deref().map(crate::model::Owner::new);
        img.is_public = self.is_public;
        img.protected = self.protected;
        img.deleted = self.deleted;
        img.deleted_at = match self.deleted_at {
            Some(s) => Some(ts(&s)?),
            None => None,
        };
        img.updated_at = ts(&self.updated_at)?;
        // Earlier versions kept a deleted record's properties and never showed them.
        if !self.deleted {
            img.properties = self.properties.into();
        }
        img.members = self
            .members
            .into_iter()
            .map(|(member_id, can_share)| Member {
                member_id,
                can_share,
            })
            .collect();
        img.data = Data::from(match self.data {
            PData::None => ImageData::None,
            PData::Base64(s) => ImageData::Bytes(Box::new(Bytes::from(
                base64::engine::general_purpose::STANDARD.decode(s).ok()?,
            ))),
            PData::Repeat { unit, len } => ImageData::Repeat {
                unit: Box::new(Bytes::from(unit.into_bytes())),
                len,
            },
            PData::File { path, len } => ImageData::File {
                path: Arc::new(path),
                len,
            },
        });
        img.data_mismatch = self.data_mismatch;
        Some(img)
    }
}

/// The final state of an old log: records to store and ids removed outright.
#[derive(Debug, Default)]
pub struct LogState {
    /// The last record written for each id still present.
    pub puts: Vec<Image>,
    /// Ids whose last entry was a removal.
    pub removes: Vec<String>,
}

/// Reads `path` to its final state. A torn last line (a crash mid-append) was never
/// acknowledged and is ignored, as the old reader did; any other bad line is an error
/// naming the line.
pub fn read(path: &Path) -> Result<LogState, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = BufReader::new(file).split(b'\n').enumerate().peekable();
    let mut last: HashMap<String, Option<Image>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    while let Some((n, line)) = lines.next() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let is_last = lines.peek().is_none();
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<LogEntry>(&line)
            .map_err(|e| e.to_string())
            .and_then(|e| match e {
                LogEntry::Put(p) => p
                    .into_image()
                    .map(|i| (i.id.to_string(), Some(i)))
                    .ok_or_else(|| "invalid record".to_string()),
                LogEntry::Remove(id) => Ok((id, None)),
            });
        match parsed {
            Ok((id, img)) => {
                if !last.contains_key(&id) {
                    order.push(id.clone());
                }
                last.insert(id, img);
            }
            Err(_) if is_last => break,
            Err(msg) => {
                return Err(format!(
                    "{}: line {}: corrupt log entry: {msg}",
                    path.display(),
                    n + 1
                ))
            }
        }
    }
    let mut state = LogState::default();
    for id in order {
        match last.remove(&id) {
            Some(Some(img)) => state.puts.push(img),
            Some(None) => state.removes.push(id),
            None => {}
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rule: Importing an old images.log gives its final state and ignores a torn last line.
    #[test]
    fn final_state_of_a_log_with_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(LOG_FILE);
        let rec = |id: &str, name: &str| {
            format!(
                r#"{{"put":{{"id":"{id}","name":"{name}","status":"active","size":3,"virtual_size":null,"checksum":"900150983cd24fb0d6963f7d28e17f72","disk_format":"raw","container_format":"bare","min_disk":0,"min_ram":0,"owner":null,"is_public":false,"protected":false,"deleted":false,"deleted_at":null,"created_at":"2026-11-22T13:40:23.526723","updated_at":"2026-11-22T13:40:24.000001","properties":[["k","v"],["n",null]],"members":[["t1",true]],"data":{{"base64":"YWJj"}},"data_mismatch":false}}}}"#
            )
        };
        let text = [
            rec("a", "one"),
            rec("b", "two"),
            rec("a", "one again"),
            r#"{"remove":"b"}"#.to_string(),
            r#"{"remove":"fixture"}"#.to_string(),
            r#"{"put": {"id": "torn"#.to_string(),
        ]
        .join("\n");
        std::fs::write(&p, text).unwrap();
        let s = read(&p).unwrap();
        assert_eq!(s.puts.len(), 1);
        assert_eq!(s.puts[0].name.as_deref(), Some("one again"));
        assert_eq!(s.puts[0].property("k"), Some("v"));
        assert_eq!(s.puts[0].members[0].member_id, "t1");
        assert_eq!(s.puts[0].data.len(), Some(3));
        assert_eq!(s.removes, ["b", "fixture"]);
        std::fs::write(
            &p,
            format!("{}\nnot json\n{}\n", rec("a", "x"), rec("b", "y")),
        )
        .unwrap();
        let e = read(&p).unwrap_err();
        assert!(e.contains("line 2: corrupt log entry"), "{e}");
    }
}
