//! Loading image records from fixture files (`data/*.json`): the file shapes, field
//! defaults, validation with errors that name the file and the field, and the size/checksum
//! cross-check of the bytes behind each record.

use std::borrow::Cow;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use md5::{Digest, Md5};
use serde::{Deserialize, Deserializer as _};

use crate::model::{Checksum, Image, ImageData, ImageId, Interner, Member, Status, Timestamp};

mod scan;

/// Why fixtures could not be loaded. Every variant names the file; field errors name the
/// record and field as a path such as `images[2].created_at`.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path given with `--data` does not exist.
    #[error("{path}: no such file or directory")]
    Missing {
        /// The path as given.
        path: PathBuf,
    },
    /// A file or directory could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("{path}: invalid JSON at line {line}, column {column}: {msg}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's description.
        msg: String,
    },
    /// A field has a wrong type, an unknown key or a bad value.
    #[error("{path}: {field}: {msg}")]
    Field {
        /// The file.
        path: PathBuf,
        /// Path of the offending field, e.g. `images[0].size`.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// Two records share an id.
    #[error("{path}: {field}: duplicate image id '{id}' (already defined in {first})")]
    Duplicate {
        /// The file with the second definition.
        path: PathBuf,
        /// Where in that file.
        field: String,
        /// The id.
        id: String,
        /// The file with the first definition.
        first: PathBuf,
    },
}

/// The result of loading: the records plus warnings worth printing (mismatched data).
#[derive(Debug, Default)]
pub struct Loaded {
    /// Records in file order.
    pub images: Vec<Arc<Image>>,
    /// Human-readable warnings, each naming the file and the image.
    pub warnings: Vec<String>,
}

/// One record as written in a fixture. Text fields borrow from the input when it is held in
/// memory and has no escapes, so loading allocates only what the record keeps.
#[derive(Deserialize, Default, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct RawRecord<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    size: Option<Option<u64>>,
    #[serde(default)]
    virtual_size: Option<u64>,
    #[serde(default, borrow, deserialize_with = "present")]
    checksum: Option<Option<Cow<'a, str>>>,
    #[serde(default, borrow)]
    disk_format: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    container_format: Option<Cow<'a, str>>,
    #[serde(default)]
    min_disk: Option<u32>,
    #[serde(default)]
    min_ram: Option<u32>,
    #[serde(default, borrow)]
    owner: Option<Cow<'a, str>>,
    #[serde(default)]
    is_public: Option<bool>,
    #[serde(default)]
    protected: Option<bool>,
    #[serde(default)]
    deleted: Option<bool>,
    #[serde(default, borrow)]
    deleted_at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    created_at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    updated_at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    properties: Option<PropMap<'a>>,
    #[serde(default)]
    members: Option<Vec<RawMember>>,
    #[serde(default)]
    data: Option<RawData>,
}

/// A record's `properties` object: sorted by key, a repeated key keeping its last value
/// (a map's meaning), in a plain vector: a map per record would be one more allocation for
/// a handful of entries, a million times at start-up.
#[derive(Debug, Default, PartialEq)]
struct PropMap<'a>(Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>);

impl<'a> PropMap<'a> {
    fn insert(&mut self, k: Cow<'a, str>, v: Option<Cow<'a, str>>) {
        crate::model::upsert_sorted(&mut self.0, k, v);
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for PropMap<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = PropMap<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut p = PropMap::default();
                while let Some((k, v)) = m.next_entry::<Borrowed<'a>, Option<Borrowed<'a>>>()? {
                    p.insert(k.0, v.map(|v| v.0));
                }
                Ok(p)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A string borrowed from the input when it has no escapes (serde's `#[serde(borrow)]`
/// for a `Cow` inside a collection).
struct Borrowed<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Borrowed<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Borrowed<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Borrowed(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Borrowed(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Borrowed(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// Distinguishes "field omitted" (outer `None`, via `default`) from "field is null".
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct RawMember {
    member_id: String,
    #[serde(default)]
    can_share: bool,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct RawData {
    #[serde(default)]
    repeat: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    base64: Option<String>,
    #[serde(default)]
    file: Option<String>,
}

/// Loads every `--data` path in order: a directory contributes its `*.json` files sorted by
/// name; a file is read as is. Ids must be unique across all of them.
pub fn load_paths(paths: &[PathBuf], now: Timestamp) -> Result<Loaded, LoadError> {
    let (loaded, origins) = load_unchecked(paths, now)?;
    check_unique(&loaded.images, &origins)?;
    Ok(loaded)
}

/// [`load_paths`] for a server's start: the records come back indexed by id (and the
/// warnings), the unique-id check and the store's index being one hash table.
pub fn load_indexed(
    paths: &[PathBuf],
    now: Timestamp,
) -> Result<(crate::store::Indexed, Vec<String>), LoadError> {
    let (loaded, _) = load_unchecked(paths, now)?;
    if let Some(indexed) = crate::store::Indexed::unique(loaded.images) {
        return Ok((indexed, loaded.warnings));
    }
    // An id repeats. The records were moved into the index, so read the files again to
    // name both places (an error case: paying twice is fine).
    let loaded = load_paths(paths, now)?;
    // The files changed in between and no longer repeat an id: take them as they are.
    let indexed = crate::store::Indexed::unique(loaded.images).ok_or_else(|| LoadError::Io {
        path: paths.first().cloned().unwrap_or_default(),
        source: std::io::Error::other("fixture files changed while loading"),
    })?;
    Ok((indexed, loaded.warnings))
}

/// Every record of every path, with the first record index of each file.
#[allow(clippy::type_complexity)]
fn load_unchecked(
    paths: &[PathBuf],
    now: Timestamp,
) -> Result<(Loaded, Vec<(usize, PathBuf)>), LoadError> {
    let mut loaded = Loaded::default();
    // Which file each record came from: (first record index, file), for duplicate errors.
    let mut origins: Vec<(usize, PathBuf)> = Vec::new();
    for path in paths {
        for file in list_files(path)? {
            origins.push((loaded.images.len(), file.clone()));
            load_file(&file, now, &mut loaded)?;
        }
    }
    Ok((loaded, origins))
}

/// Ids must be unique across all files; the error names both files.
fn check_unique(images: &[Arc<Image>], origins: &[(usize, PathBuf)]) -> Result<(), LoadError> {
    /// A record keyed by its id: one pointer per entry keeps this table, which lives only
    /// during start-up, small (a million ids: 16 MB rather than 50).
    struct ById<'a>(&'a Image);
    impl std::hash::Hash for ById<'_> {
        fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
            self.0.id.as_str().hash(h)
        }
    }
    impl PartialEq for ById<'_> {
        fn eq(&self, other: &Self) -> bool {
            self.0.id == other.0.id
        }
    }
    impl Eq for ById<'_> {}

    let mut seen: std::collections::HashSet<ById<'_>, foldhash::fast::RandomState> =
        std::collections::HashSet::with_capacity_and_hasher(images.len(), Default::default());
    let origin = |i: usize| {
        let k = origins.partition_point(|(start, _)| *start <= i) - 1;
        (i - origins[k].0, origins[k].1.clone())
    };
    for (i, img) in images.iter().enumerate() {
        if !seen.insert(ById(img)) {
            // The error path: find where the id was first defined.
            let first = images.iter().position(|x| x.id == img.id).unwrap_or(i);
            let (n, path) = origin(i);
            return Err(LoadError::Duplicate {
                path,
                field: format!("record {n} id"),
                id: img.id.to_string(),
                first: origin(first).1,
            });
        }
    }
    Ok(())
}

fn list_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            LoadError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            LoadError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let io = |e| LoadError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let p = entry.map_err(io)?.path();
        if p.extension().is_some_and(|e| e == "json") && !p.is_dir() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Parses one fixture document (already read) into records. Exposed for runtime loading.
///
/// Records are deserialised straight from the text, one at a time, so a file with a million
/// records never exists as a JSON tree in memory. Only when the text is invalid is it parsed
/// a second, slower way that reports the exact field path.
pub fn parse_document(
    path: &Path,
    text: &str,
    now: Timestamp,
) -> Result<(Vec<Image>, Vec<String>), LoadError> {
    let shape = Shape::sniff(text.as_bytes());
    let mut de = serde_json::Deserializer::from_str(text);
    match parse_fast(path, &mut de, shape, now) {
        Ok(Ok((arcs, warnings))) => Ok((
            arcs.into_iter()
                .map(|a| Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone()))
                .collect(),
            warnings,
        )),
        Ok(Err(e)) => Err(e),
        Err(()) => parse_document_slow(path, text, now),
    }
}

/// Reads a fixture file as a stream: the text is never held whole, so peak memory stays
/// close to the records themselves. Invalid files are read again for an exact error.
#[allow(clippy::type_complexity)]
fn parse_file(path: &Path, now: Timestamp) -> Result<(Vec<Arc<Image>>, Vec<String>), LoadError> {
    use std::io::BufRead;
    let io = |e| LoadError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let shape = Shape::sniff(reader.fill_buf().map_err(io)?);
    let parsed = if shape == Shape::Single {
        let mut de = serde_json::Deserializer::from_reader(reader);
        parse_fast(path, &mut de, shape, now)
    } else {
        // Small files need no full-size buffer: it would add to their peak memory.
        let size = std::fs::metadata(path).map_or(WINDOW as u64, |m| m.len());
        let window = (size as usize).saturating_add(1).clamp(4096, WINDOW);
        parse_windows(path, reader, shape, now, window)
    };
    match parsed {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(e),
        Err(()) => {
            let text = std::fs::read_to_string(path).map_err(io)?;
            parse_document_slow(path, &text, now)
                .map(|(imgs, w)| (imgs.into_iter().map(Arc::new).collect(), w))
        }
    }
}

/// Bytes read per step by [`parse_windows`]; a record longer than this just grows the window.
const WINDOW: usize = 1 << 20;

/// Where the scanner of [`parse_windows`] is in the document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Before the records array opens.
    Open,
    /// Right after `[`: a record or `]`.
    FirstOrEnd,
    /// After a record: `,` or `]`.
    CommaOrEnd,
    /// After `,`: a record.
    Record,
    /// Inside a record (from its `{`).
    InRecord,
    /// After the array's `]`.
    Closed,
}

/// Loads a list (or `{"images": [...]}`) file a window at a time: a byte scanner finds each
/// record's extent and the record is parsed from that slice, borrowing its text. Peak memory
/// stays at the records plus one window, and parsing a slice is faster than parsing from a
/// reader. Anything unexpected outside the records returns `Err(())` for the exact slow path.
#[allow(clippy::type_complexity)]
fn parse_windows(
    path: &Path,
    mut reader: impl std::io::Read,
    shape: Shape,
    now: Timestamp,
    window: usize,
) -> Result<Result<(Vec<Arc<Image>>, Vec<String>), LoadError>, ()> {
    let mut sink = Sink::new(path, now, shape);
    // Depth at which records sit: inside `[` (list) or inside `{ "images": [` (wrapper).
    let arr_depth: u32 = if shape == Shape::Wrapper { 2 } else { 1 };
    // Zeroed once: reads land in `buf[end..]`, bytes past `end` are stale, never looked at.
    let mut buf: Vec<u8> = vec![0; window];
    let mut end = 0usize; // bytes of `buf` holding unread input
    let mut pos = 0usize; // next byte to scan
    let mut depth = 0u32;
    let mut in_str = false;
    let mut esc = false;
    let mut expect = Expect::Open;
    let mut rec_start = 0usize;
    let mut index = 0usize;
    let mut eof = false;
    let mut text: &str = "";
    loop {
        if pos == end {
            if eof {
                break;
            }
            // Keep only the unfinished record (if any), then read the next window.
            let keep = if expect == Expect::InRecord {
                rec_start
            } else {
                pos
            };
            buf.copy_within(keep..end, 0);
            end -= keep;
            pos -= keep;
            rec_start -= keep.min(rec_start);
            if buf.len() < end + window {
                // A record longer than the window so far: room for one more window.
                buf.resize(end + window, 0);
            }
            let n = loop {
                match reader.read(&mut buf[end..end + window]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(()),
                }
            };
            end += n;
            if n == 0 {
                eof = true;
            }
            // Checked once per window; a record reaching past valid text is serde's.
            text = match std::str::from_utf8(&buf[..end]) {
                Ok(t) => t,
                Err(e) => std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default(),
            };
            continue;
        }
        if esc {
            // The character after a backslash (possibly at the start of a new window).
            esc = false;
            pos += 1;
            continue;
        }
        if in_str {
            // Jump to the next quote or backslash.
            match memchr::memchr2(b'"', b'\\', &buf[pos..end]) {
                None => pos = end,
                Some(k) => {
                    let at = pos + k;
                    if buf[at] == b'\\' {
                        esc = true;
                        pos = at + 1;
                    } else {
                        in_str = false;
                        pos = at + 1;
                    }
                }
            }
            continue;
        }
        let b = buf[pos];
        pos += 1;
        // JSON whitespace only: anything else between records is for serde to reject.
        if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            continue;
        }
        match expect {
            Expect::InRecord => match b {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == arr_depth {
                        if b != b'}' {
                            return Err(());
                        }
                        let raw: RawRecord<'_> = match serde_json::from_slice(&buf[rec_start..pos])
                        {
                            Ok(r) => r,
                            Err(_) => return Err(()),
                        };
                        if sink.accept(Some(index), raw).is_err() {
                            return Ok(Err(sink.failure.take().ok_or(())?));
                        }
                        index += 1;
                        expect = Expect::CommaOrEnd;
                    }
                }
                _ => {}
            },
            Expect::Open => match (b, depth) {
                (b'{', 0) if arr_depth == 2 => depth = 1,
                (b'"', 1) if arr_depth == 2 => in_str = true,
                (b':', 1) if arr_depth == 2 => {}
                (b'[', d) if d + 1 == arr_depth => {
                    depth = arr_depth;
                    expect = Expect::FirstOrEnd;
                }
                _ => return Err(()),
            },
            Expect::FirstOrEnd | Expect::Record | Expect::CommaOrEnd => match (b, expect) {
                (b'{', Expect::FirstOrEnd | Expect::Record) => {
                    // The common shape is read in one pass; anything else (or a record
                    // cut by the window's end) is delimited below and read by serde.
                    if let Some((raw, n)) = text.get(pos - 1..).and_then(scan::record) {
                        if sink.accept(Some(index), raw).is_err() {
                            return Ok(Err(sink.failure.take().ok_or(())?));
                        }
                        index += 1;
                        pos += n - 1;
                        expect = Expect::CommaOrEnd;
                    } else {
                        rec_start = pos - 1;
                        depth += 1;
                        expect = Expect::InRecord;
                    }
                }
                (b',', Expect::CommaOrEnd) => expect = Expect::Record,
                (b']', Expect::FirstOrEnd | Expect::CommaOrEnd) => {
                    depth -= 1;
                    expect = Expect::Closed;
                }
                _ => return Err(()),
            },
            Expect::Closed => match (b, depth) {
                (b'}', 1) if arr_depth == 2 => depth = 0,
                _ => return Err(()),
            },
        }
    }
    sink.finish(expect == Expect::Closed && depth == 0 && !in_str)
}

/// Deserialises records one by one into images. `Err(())` means "not valid; take the slow
/// path for the message"; `Ok(Err(e))` is a record that parsed but failed validation.
#[allow(clippy::type_complexity)]
fn parse_fast<'de, R: serde_json::de::Read<'de>>(
    path: &Path,
    de: &mut serde_json::Deserializer<R>,
    shape: Shape,
    now: Timestamp,
) -> Result<Result<(Vec<Arc<Image>>, Vec<String>), LoadError>, ()> {
    let mut sink = Sink::new(path, now, shape);
    let parsed = match shape {
        Shape::List => serde::de::DeserializeSeed::deserialize(&mut sink, &mut *de),
        Shape::Wrapper => de.deserialize_map(WrapperVisitor(&mut sink)),
        Shape::Single => RawRecord::deserialize(&mut *de).and_then(|raw| {
            sink.accept(None, raw)
                .map_err(|()| serde::de::Error::custom("invalid record"))
        }),
    }
    .and_then(|()| de.end());
    sink.finish(parsed.is_ok())
}

impl Shape {
    /// Decides the document shape from its first bytes.
    fn sniff(head: &[u8]) -> Shape {
        let skip = |b: &[u8]| -> usize { b.iter().take_while(|c| c.is_ascii_whitespace()).count() };
        let i = skip(head);
        match head.get(i) {
            Some(b'[') => Shape::List,
            Some(b'{') if head[i + 1..][skip(&head[i + 1..])..].starts_with(b"\"images\"") => {
                Shape::Wrapper
            }
            _ => Shape::Single,
        }
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Shape {
    List,
    Wrapper,
    Single,
}

/// Receives records as they are deserialised.
struct Sink<'a> {
    path: &'a Path,
    now: Timestamp,
    prefix: &'static str,
    out: Vec<Arc<Image>>,
    warnings: Vec<String>,
    /// The validation error of the record that stopped the parse, if one did.
    failure: Option<LoadError>,
    interner: Interner,
}

impl<'a> Sink<'a> {
    fn new(path: &'a Path, now: Timestamp, shape: Shape) -> Self {
        Sink {
            path,
            now,
            prefix: if shape == Shape::Wrapper {
                "images"
            } else {
                ""
            },
            out: Vec::new(),
            warnings: Vec::new(),
            failure: None,
            interner: Interner::default(),
        }
    }

    /// The outcome of a fast parse: the records, a record's validation error, or `Err(())`
    /// (the document itself is off: take the slow path for the exact message).
    #[allow(clippy::type_complexity)]
    fn finish(self, parsed: bool) -> Result<Result<(Vec<Arc<Image>>, Vec<String>), LoadError>, ()> {
        match (parsed, self.failure) {
            (true, _) => Ok(Ok((self.out, self.warnings))),
            (false, Some(e)) => Ok(Err(e)),
            (false, None) => Err(()),
        }
    }

    /// Builds one record; `index` is its position in the list (None for a lone record).
    fn accept(&mut self, index: Option<usize>, raw: RawRecord) -> Result<(), ()> {
        // Field paths are only formatted when something is wrong, not once per record.
        let built =
            build(self.path, "", raw, self.now, &mut self.interner).map_err(|e| match index {
                Some(i) => reroot(e, &format!("{}[{i}]", self.prefix)),
                None => e,
            });
        match built {
            Ok((img, warn)) => {
                self.warnings.extend(warn);
                // Allocated once, in its final place: no second copy when indexed.
                self.out.push(Arc::new(img));
                Ok(())
            }
            Err(e) => {
                self.failure = Some(e);
                Err(())
            }
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for &mut Sink<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &mut Sink<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of image records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            self.out.reserve(n);
        }
        let mut i = 0usize;
        while let Some(raw) = seq.next_element::<RawRecord>()? {
            self.accept(Some(i), raw)
                .map_err(|()| serde::de::Error::custom("invalid record"))?;
            i += 1;
        }
        Ok(())
    }
}

struct WrapperVisitor<'s, 'a>(&'s mut Sink<'a>);

impl<'de> serde::de::Visitor<'de> for WrapperVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{\"images\": [...]}")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key != "images" || seen {
                return Err(serde::de::Error::custom("unexpected key"));
            }
            seen = true;
            map.next_value_seed(&mut *self.0)?;
        }
        Ok(())
    }
}

/// The slow, exact path: a JSON tree, then each record with its field path tracked.
fn parse_document_slow(
    path: &Path,
    text: &str,
    now: Timestamp,
) -> Result<(Vec<Image>, Vec<String>), LoadError> {
    let mut interner = Interner::default();
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| LoadError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        msg: strip_position(&e.to_string()),
    })?;
    let (prefix, items): (&str, Vec<serde_json::Value>) = match value {
        serde_json::Value::Array(items) => ("", items),
        serde_json::Value::Object(mut map) if map.contains_key("images") => {
            if map.len() != 1 {
                let extra = map
                    .keys()
                    .find(|k| *k != "images")
                    .cloned()
                    .unwrap_or_default();
                return Err(field_err(path, &extra, "unknown key beside \"images\""));
            }
            match map.remove("images") {
                Some(serde_json::Value::Array(items)) => ("images", items),
                _ => {
                    return Err(field_err(
                        path,
                        "images",
                        "expected a list of image records",
                    ))
                }
            }
        }
        obj @ serde_json::Value::Object(_) => ("", vec![obj]),
        _ => {
            return Err(field_err(
                path,
                "(top level)",
                "expected an image record, a list of records or {\"images\": [...]}",
            ))
        }
    };
    let single = prefix.is_empty() && items.len() == 1;
    let mut images = Vec::with_capacity(items.len());
    let mut warnings = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = if single && !text.trim_start().starts_with('[') {
            String::new()
        } else if prefix.is_empty() {
            format!("[{i}]")
        } else {
            format!("{prefix}[{i}]")
        };
        let raw: RawRecord = serde_path_to_error::deserialize(item).map_err(|e| {
            let inner = e.path().to_string();
            let field = join_path(&at, if inner == "." { "" } else { &inner });
            field_err(path, &field, &e.into_inner().to_string())
        })?;
        let (img, warn) = build(path, &at, raw, now, &mut interner)?;
        if let Some(w) = warn {
            warnings.push(w);
        }
        images.push(img);
    }
    Ok((images, warnings))
}

fn load_file(path: &Path, now: Timestamp, loaded: &mut Loaded) -> Result<(), LoadError> {
    let (images, warnings) = parse_file(path, now)?;
    if loaded.images.is_empty() {
        loaded.images = images;
    } else {
        loaded.images.extend(images);
    }
    loaded.warnings.extend(warnings);
    Ok(())
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Places a field error of a record under its position in the file (`images[3].size`).
fn reroot(e: LoadError, at: &str) -> LoadError {
    match e {
        LoadError::Field { path, field, msg } => LoadError::Field {
            path,
            field: if field == "(record)" {
                at.to_string()
            } else {
                format!("{at}.{field}")
            },
            msg,
        },
        other => other,
    }
}

fn join_path(at: &str, field: &str) -> String {
    match (at.is_empty(), field.is_empty()) {
        (true, true) => "(record)".to_string(),
        (true, false) => field.to_string(),
        (false, true) => at.to_string(),
        (false, false) => format!("{at}.{field}"),
    }
}

fn field_err(path: &Path, field: &str, msg: &str) -> LoadError {
    LoadError::Field {
        path: path.to_path_buf(),
        field: field.to_string(),
        msg: msg.to_string(),
    }
}

/// True for bytes HTTP allows in a header value (tab, visible ASCII, obs-text).
pub fn header_value_ok(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// True for a property key that can become `X-Image-Meta-Property-<key>`.
pub fn property_key_ok(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_ts(
    path: &Path,
    at: &str,
    name: &str,
    v: Option<Cow<'_, str>>,
) -> Result<Option<Timestamp>, LoadError> {
    match v {
        None => Ok(None),
        Some(s) => Timestamp::parse(&s).map(Some).ok_or_else(|| {
            field_err(
                path,
                &join_path(at, name),
                &format!("invalid timestamp '{s}' (expected e.g. 2016-05-22T06:04:20.425843)"),
            )
        }),
    }
}

fn build(
    path: &Path,
    at: &str,
    raw: RawRecord,
    now: Timestamp,
    interner: &mut Interner,
) -> Result<(Image, Option<String>), LoadError> {
    let f = |name: &str| join_path(at, name);
    if raw.id.is_empty() || raw.id.len() > 36 {
        return Err(field_err(
            path,
            &f("id"),
            "must be 1 to 36 characters (Glance never finds longer ids)",
        ));
    }
    if raw.id.contains('/') || !header_value_ok(&raw.id) || raw.id.contains(char::is_whitespace) {
        return Err(field_err(
            path,
            &f("id"),
            "must not contain '/', whitespace or control characters",
        ));
    }
    let status = match raw.status.as_deref() {
        None => Status::Active,
        Some(s) => Status::parse(s).ok_or_else(|| {
            let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            field_err(
                path,
                &f("status"),
                &format!("unknown status '{s}' (expected one of {})", all.join(", ")),
            )
        })?,
    };
    for (name, v) in [
        ("name", &raw.name),
        ("disk_format", &raw.disk_format),
        ("container_format", &raw.container_format),
        ("owner", &raw.owner),
    ] {
        if let Some(v) = v {
            if !header_value_ok(v) {
                return Err(field_err(
                    path,
                    &f(name),
                    "control characters cannot be sent in an HTTP header",
                ));
            }
        }
    }
    if let Some(Some(c)) = &raw.checksum {
        if c.len() > 32 {
            return Err(field_err(
                path,
                &f("checksum"),
                "at most 32 characters (an MD5 hex digest)",
            ));
        }
        if !header_value_ok(c) {
            return Err(field_err(path, &f("checksum"), "control characters"));
        }
    }
    let created_at = parse_ts(path, at, "created_at", raw.created_at)?.unwrap_or(now);
    let updated_at = parse_ts(path, at, "updated_at", raw.updated_at)?.unwrap_or(created_at);
    let deleted = raw
        .deleted
        .unwrap_or(matches!(status, Status::Deleted | Status::PendingDelete));
    let deleted_at = parse_ts(path, at, "deleted_at", raw.deleted_at)?.or(if deleted {
        Some(updated_at)
    } else {
        None
    });

    // Length checked above, so the inline id always fits.
    let id = ImageId::new(&raw.id).ok_or_else(|| field_err(path, &f("id"), "too long"))?;
    let mut img = Image::new(id, created_at);
    img.name = raw.name.map(|n| crate::model::Name::from(&*n));
    img.status = status;
    img.virtual_size = raw.virtual_size;
    img.disk_format = raw.disk_format.map(|s| interner.get(&s));
    img.container_format = raw.container_format.map(|s| interner.get(&s));
    img.min_disk = raw.min_disk.unwrap_or(0);
    img.min_ram = raw.min_ram.unwrap_or(0);
    img.owner = raw.owner.map(|s| interner.get(&s));
    img.is_public = raw.is_public.unwrap_or(false);
    img.protected = raw.protected.unwrap_or(false);
    img.deleted = deleted;
    img.deleted_at = deleted_at;
    img.updated_at = updated_at;
    let props = raw.properties.unwrap_or_default().0;
    for (k, v) in &props {
        let field = || f(&format!("properties.{k}"));
        if !property_key_ok(k) {
            return Err(field_err(
                path,
                &field(),
                "property names must be HTTP header tokens (letters, digits, _ - . and the like)",
            ));
        }
        if let Some(v) = v {
            if !header_value_ok(v) {
                return Err(field_err(path, &field(), "control characters"));
            }
        }
    }
    // A map: sorted by key, a repeated key already reduced to its last value.
    img.properties = interner.property_list(props.iter().map(|(k, v)| (&**k, v.as_deref())));
    for (i, m) in raw.members.unwrap_or_default().into_iter().enumerate() {
        if m.member_id.is_empty() {
            return Err(field_err(
                path,
                &f(&format!("members[{i}].member_id")),
                "must not be empty",
            ));
        }
        if img.members.iter().any(|x| x.member_id == m.member_id) {
            return Err(field_err(
                path,
                &f(&format!("members[{i}].member_id")),
                &format!("duplicate member '{}'", m.member_id),
            ));
        }
        img.members.push(Member {
            member_id: m.member_id,
            can_share: m.can_share,
        });
    }

    let mut computed: Option<(u64, String)> = None;
    if let Some(d) = raw.data {
        let (data, len, md5) = build_data(path, &f("data"), d)?;
        img.data = data.into();
        computed = Some((len, md5));
    }
    img.size = match (raw.size, &computed) {
        (Some(s), _) => s,
        (None, Some((len, _))) => Some(*len),
        (None, None) => Some(0),
    };
    img.checksum = match (raw.checksum, &computed) {
        (Some(c), _) => c.as_deref().and_then(Checksum::new),
        (None, Some((_, md5))) => Checksum::new(md5),
        (None, None) => None,
    };
    let mut warning = None;
    if let Some((len, md5)) = computed {
        let mut why = Vec::new();
        if img.size != Some(len) {
            why.push(format!(
                "size {} but data has {len} bytes",
                img.size.map_or("null".to_string(), |s| s.to_string())
            ));
        }
        if let Some(c) = &img.checksum {
            if *c != md5 {
                why.push(format!("checksum {c} but data has MD5 {md5}"));
            }
        }
        if !why.is_empty() {
            img.data_mismatch = true;
            warning = Some(format!(
                "{}: image {}: {} (HEAD will answer 409 unless --glance-compat)",
                path.display(),
                img.id,
                why.join("; ")
            ));
        }
    }
    Ok((img, warning))
}

fn build_data(path: &Path, field: &str, d: RawData) -> Result<(ImageData, u64, String), LoadError> {
    let given = [d.repeat.is_some(), d.base64.is_some(), d.file.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given != 1 {
        return Err(field_err(
            path,
            field,
            "give exactly one of {\"repeat\": TEXT, \"size\": N}, {\"base64\": ...} or {\"file\": PATH}",
        ));
    }
    if d.size.is_some() && d.repeat.is_none() {
        return Err(field_err(
            path,
            &format!("{field}.size"),
            "only allowed together with \"repeat\"",
        ));
    }
    if let Some(text) = d.repeat {
        let len = d.size.ok_or_else(|| {
            field_err(
                path,
                &format!("{field}.size"),
                "required with \"repeat\" (total length in bytes)",
            )
        })?;
        if text.is_empty() && len > 0 {
            return Err(field_err(
                path,
                &format!("{field}.repeat"),
                "must not be empty when size > 0",
            ));
        }
        let unit = Bytes::from(text.into_bytes());
        let md5 = repeat_md5(&unit, len);
        return Ok((
            ImageData::Repeat {
                unit: Box::new(unit),
                len,
            },
            len,
            md5,
        ));
    }
    if let Some(b64) = d.base64 {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| {
                field_err(
                    path,
                    &format!("{field}.base64"),
                    &format!("not base64: {e}"),
                )
            })?;
        let md5 = hex_md5(&bytes);
        let len = bytes.len() as u64;
        return Ok((ImageData::Bytes(Box::new(Bytes::from(bytes))), len, md5));
    }
    let rel = d.file.unwrap_or_default();
    let full = path.parent().unwrap_or(Path::new(".")).join(&rel);
    let full = std::fs::canonicalize(&full).map_err(|e| {
        field_err(
            path,
            &format!("{field}.file"),
            &format!("cannot read data file {}: {e}", full.display()),
        )
    })?;
    let (len, md5) = file_md5(&full).map_err(|e| {
        field_err(
            path,
            &format!("{field}.file"),
            &format!("cannot read data file {}: {e}", full.display()),
        )
    })?;
    Ok((
        ImageData::File {
            path: Arc::new(full),
            len,
        },
        len,
        md5,
    ))
}

/// MD5 of a byte slice as 32 lower-case hex digits.
pub fn hex_md5(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// Lower-case hex of a digest.
pub fn hex(d: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(d.len() * 2);
    for b in d {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

fn repeat_md5(unit: &Bytes, len: u64) -> String {
    let mut h = Md5::new();
    if !unit.is_empty() {
        // Hash a block of whole units at a time: far fewer update calls for tiny units.
        let block = crate::model::repeat_block(unit, 1 << 16);
        let mut left = len;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            h.update(&block[..n]);
            left -= n as u64;
        }
    }
    hex(&h.finalize())
}

fn file_md5(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hex(&h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2020-01-01T00:00:00").unwrap()
    }

    fn parse(text: &str) -> Result<(Vec<Image>, Vec<String>), LoadError> {
        parse_document(Path::new("t.json"), text, now())
    }

    #[test]
    fn defaults_follow_glance() {
        let (imgs, w) =
            parse(r#"{"id": "abc", "created_at": "2016-05-22T06:04:20.425843"}"#).unwrap();
        assert!(w.is_empty());
        let i = &imgs[0];
        assert_eq!(i.status, Status::Active);
        assert_eq!(i.size, Some(0));
        assert_eq!(i.updated_at, i.created_at);
        assert!(!i.is_public && !i.protected && !i.deleted);
        assert!(i.checksum.is_none());
    }

    #[test]
    fn data_fills_size_and_checksum() {
        let (imgs, w) = parse(r#"{"id": "a", "data": {"repeat": "ab", "size": 5}}"#).unwrap();
        assert!(w.is_empty());
        assert_eq!(imgs[0].size, Some(5));
        assert_eq!(
            imgs[0].checksum.as_deref(),
            Some(hex_md5(b"ababa").as_str())
        );
    }

    #[test]
    fn mismatch_loads_with_warning() {
        let (imgs, w) = parse(r#"[{"id": "a", "size": 9, "data": {"base64": "aGk="}}]"#).unwrap();
        assert!(imgs[0].data_mismatch);
        assert!(w[0].contains("t.json") && w[0].contains("image a"), "{w:?}");
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(r#"{"images": [{"id": "a"}, {"id": "b", "size": "big"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.json: images[1].size: invalid type: string \"big\", expected u64"
        );
        let e = parse(r#"{"id": "a", "colour": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.json: colour: unknown field `colour`"),
            "{e}"
        );
        let e = parse(r#"{"id": "a", "created_at": "soon"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.json: created_at: invalid timestamp 'soon'"),
            "{e}"
        );
        let e = parse("{\"id\": \"a\",\n  \"name\": }")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.json: invalid JSON at line 2, column 11"),
            "{e}"
        );
        let e = parse(r#"[{"id": "a", "status": "ACTIVE"}]"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.json: [0].status: unknown status 'ACTIVE'"),
            "{e}"
        );
    }

    fn windows(text: &str, window: usize) -> Result<Vec<String>, ()> {
        let shape = Shape::sniff(text.as_bytes());
        match parse_windows(Path::new("t.json"), text.as_bytes(), shape, now(), window)? {
            Ok((imgs, _)) => Ok(imgs.iter().map(|i| format!("{i:?}")).collect()),
            Err(e) => Ok(vec![format!("ERR {e}")]),
        }
    }

    #[test]
    fn windowed_loader_matches_whole_document_parse() {
        let list = r#" [ {"id": "a", "name": "q\"u{o}[te]\\", "properties": {"k": "}{", "x": null}},
            {"id": "b", "name": "\u00e9t\u00e9", "members": [{"member_id": "m"}]} ,{"id":"c"},
            {"id": "d", "name": "žluťoučký kůň 🐴", "status": "active", "size": 5,
             "checksum": "d41d8cd98f00b204e9800998ecf8427e", "disk_format": "raw",
             "container_format": "bare", "min_disk": 1, "min_ram": 2, "owner": "ö",
             "is_public": true, "protected": false, "deleted": false,
             "created_at": "2016-05-22T06:04:20.425843", "updated_at": "2016-05-22T06:04:21",
             "properties": {"os_distro": "ubuntu", "hw_disk_bus": "virtio", "n": null}},
            {"id": "e", "properties": {"os_distro": "ubuntu", "hw_disk_bus": "virtio", "n": null},
             "data": {"repeat": "ab", "size": 3}, "members": null},
            {"id": "f", "deleted": true, "status": "deleted", "deleted_at": "2017-01-01T00:00:00"} ]  "#;
        let wrapper = format!("{{ \"images\" :{} }}\n", list.trim());
        for text in [list.to_string(), wrapper] {
            let (imgs, _) = parse_document(Path::new("t.json"), &text, now()).unwrap();
            let expected: Vec<String> = imgs.iter().map(|i| format!("{i:?}")).collect();
            assert_eq!(expected.len(), 6);
            for window in [1, 2, 3, 5, 7, 16, 64, 4096] {
                assert_eq!(
                    windows(&text, window),
                    Ok(expected.clone()),
                    "window {window}"
                );
            }
        }
    }

    #[test]
    fn windowed_loader_refuses_what_is_not_plain_json() {
        for bad in [
            r#"[{"id": "a"} {"id": "b"}]"#,
            r#"[{"id": "a"},]"#,
            r#"[{"id": "a"}] x"#,
            r#"[{"id": "a"}, 3]"#,
            r#"{"images": [{"id": "a"}], "more": 1}"#,
            r#"[{"id": "a"}"#,
            r#"[{"id": "a", "name": "open]"#,
            "[{\"id\": \"a\"}\u{c}]",
        ] {
            assert_eq!(windows(bad, 4), Err(()), "{bad}");
        }
        // Record-level problems come back as the usual field errors.
        assert_eq!(
            windows(r#"[{"id": "a"}, {"id": "b", "created_at": "soon"}]"#, 4),
            Ok(vec!["ERR t.json: [1].created_at: invalid timestamp 'soon' (expected e.g. 2016-05-22T06:04:20.425843)".to_string()])
        );
    }

    /// The start-up load (one table for the unique-id check and the index) fails exactly
    /// as `load_paths` does on a repeated id, and holds the same records otherwise.
    #[test]
    fn indexed_load_names_repeated_ids_like_load_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), r#"[{"id": "x"}, {"id": "y"}]"#).unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"images": [{"id": "z"}, {"id": "x"}]}"#,
        )
        .unwrap();
        let paths = [dir.path().to_path_buf()];
        let plain = load_paths(&paths, now()).unwrap_err().to_string();
        assert!(plain.contains("duplicate image id 'x'"), "{plain}");
        assert_eq!(load_indexed(&paths, now()).unwrap_err().to_string(), plain);
        std::fs::remove_file(dir.path().join("b.json")).unwrap();
        let (indexed, warnings) = load_indexed(&paths, now()).unwrap();
        assert_eq!((indexed.len(), warnings.len()), (2, 0));
        let store = crate::Store::from_indexed(indexed).unwrap();
        assert!(store.get("y").is_some());
    }

    #[test]
    fn deleted_status_implies_deleted_flag() {
        let (imgs, _) =
            parse(r#"{"id": "a", "status": "deleted", "updated_at": "2017-01-01T00:00:00"}"#)
                .unwrap();
        assert!(imgs[0].deleted);
        assert_eq!(
            imgs[0].deleted_at.unwrap().glance(),
            "2017-01-01T00:00:00.000000"
        );
    }
}
