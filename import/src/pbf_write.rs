//! A small writer for the OSM PBF format (dense nodes, ways, relations; zlib blobs), enough to
//! produce synthetic cities and test fixtures that go through the real importer.
//!
//! Format: a sequence of (u32 BE length, `BlobHeader`, `Blob`) where the blob holds a zlib'd
//! `HeaderBlock` first and `PrimitiveBlock`s after it (see the OSM wiki's PBF Format page).

use std::collections::HashMap;
use std::io::{self, Write};

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// Protobuf encoding helpers (wire types 0 = varint, 2 = length-delimited).
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }
    fn uint(&mut self, field: u32, v: u64) {
        self.key(field, 0);
        self.varint(v);
    }
    fn sint(&mut self, field: u32, v: i64) {
        self.uint(field, zigzag(v));
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn packed(&mut self, field: u32, values: impl IntoIterator<Item = u64>) {
        let mut inner = Pb::default();
        for v in values {
            inner.varint(v);
        }
        if !inner.0.is_empty() {
            self.bytes(field, &inner.0);
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn deltas(values: impl IntoIterator<Item = i64>) -> impl Iterator<Item = u64> {
    let mut prev = 0i64;
    values.into_iter().map(move |v| {
        let d = v - prev;
        prev = v;
        zigzag(d)
    })
}

/// Relation member kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberType {
    Node = 0,
    Way = 1,
    Relation = 2,
}

type Tags = Vec<(String, String)>;

/// Collects elements, then writes them as a sorted PBF (nodes, then ways, then relations).
#[derive(Debug, Default)]
pub struct PbfWriter {
    nodes: Vec<(i64, f64, f64, Tags)>, // id, lon, lat
    ways: Vec<(i64, Vec<i64>, Tags)>,
    relations: Vec<(i64, Vec<(MemberType, i64, String)>, Tags)>,
}

fn tags(t: &[(&str, &str)]) -> Tags {
    t.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
}

const BLOCK: usize = 8000;

impl PbfWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn node(&mut self, id: i64, lon: f64, lat: f64, t: &[(&str, &str)]) {
        self.nodes.push((id, lon, lat, tags(t)));
    }

    pub fn way(&mut self, id: i64, refs: &[i64], t: &[(&str, &str)]) {
        self.ways.push((id, refs.to_vec(), tags(t)));
    }

    pub fn relation(&mut self, id: i64, members: &[(MemberType, i64, &str)], t: &[(&str, &str)]) {
        self.relations.push((id, members.iter().map(|&(ty, id, role)| (ty, id, role.to_owned())).collect(), tags(t)));
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Writes the file. Elements are sorted by id within each kind.
    pub fn write(mut self, out: &mut impl Write) -> io::Result<()> {
        self.nodes.sort_by_key(|n| n.0);
        self.ways.sort_by_key(|w| w.0);
        self.relations.sort_by_key(|r| r.0);
        let (mut w, mut s, mut n, mut e) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &(_, lon, lat, _) in &self.nodes {
            w = w.min(lon);
            e = e.max(lon);
            s = s.min(lat);
            n = n.max(lat);
        }
        let mut header = Pb::default();
        if !self.nodes.is_empty() {
            let mut bbox = Pb::default();
            let nano = |d: f64| (d * 1e9).round() as i64;
            bbox.sint(1, nano(w));
            bbox.sint(2, nano(e));
            bbox.sint(3, nano(n));
            bbox.sint(4, nano(s));
            header.bytes(1, &bbox.0);
        }
        header.bytes(4, b"OsmSchema-V0.6");
        header.bytes(4, b"DenseNodes");
        header.bytes(16, b"gridwall-server");
        write_blob(out, "OSMHeader", &header.0)?;

        for chunk in self.nodes.chunks(BLOCK) {
            let mut st = StringTable::default();
            let mut dense = Pb::default();
            dense.packed(1, deltas(chunk.iter().map(|n| n.0)));
            dense.packed(8, deltas(chunk.iter().map(|n| (n.2 * 1e7).round() as i64)));
            dense.packed(9, deltas(chunk.iter().map(|n| (n.1 * 1e7).round() as i64)));
            if chunk.iter().any(|n| !n.3.is_empty()) {
                let mut kv = Vec::new();
                for node in chunk {
                    for (k, v) in &node.3 {
                        kv.push(st.get(k));
                        kv.push(st.get(v));
                    }
                    kv.push(0);
                }
                dense.packed(10, kv);
            }
            let mut group = Pb::default();
            group.bytes(2, &dense.0);
            write_blob(out, "OSMData", &primitive_block(&st, &group))?;
        }
        for chunk in self.ways.chunks(BLOCK) {
            let mut st = StringTable::default();
            let mut group = Pb::default();
            for (id, refs, t) in chunk {
                let mut way = Pb::default();
                way.uint(1, *id as u64);
                way.packed(2, t.iter().map(|(k, _)| st.get(k)).collect::<Vec<_>>());
                way.packed(3, t.iter().map(|(_, v)| st.get(v)).collect::<Vec<_>>());
                way.packed(8, deltas(refs.iter().copied()));
                group.bytes(3, &way.0);
            }
            write_blob(out, "OSMData", &primitive_block(&st, &group))?;
        }
        for chunk in self.relations.chunks(BLOCK) {
            let mut st = StringTable::default();
            let mut group = Pb::default();
            for (id, members, t) in chunk {
                let mut rel = Pb::default();
                rel.uint(1, *id as u64);
                rel.packed(2, t.iter().map(|(k, _)| st.get(k)).collect::<Vec<_>>());
                rel.packed(3, t.iter().map(|(_, v)| st.get(v)).collect::<Vec<_>>());
                rel.packed(8, members.iter().map(|m| st.get(&m.2)).collect::<Vec<_>>());
                rel.packed(9, deltas(members.iter().map(|m| m.1)));
                rel.packed(10, members.iter().map(|m| m.0 as u64).collect::<Vec<_>>());
                group.bytes(4, &rel.0);
            }
            write_blob(out, "OSMData", &primitive_block(&st, &group))?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct StringTable {
    index: HashMap<String, u64>,
    strings: Vec<String>,
}

impl StringTable {
    fn get(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u64 + 1; // index 0 is the empty string
        self.strings.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

fn primitive_block(st: &StringTable, group: &Pb) -> Vec<u8> {
    let mut table = Pb::default();
    table.bytes(1, b"");
    for s in &st.strings {
        table.bytes(1, s.as_bytes());
    }
    let mut block = Pb::default();
    block.bytes(1, &table.0);
    block.bytes(2, &group.0);
    block.0
}

fn write_blob(out: &mut impl Write, kind: &str, raw: &[u8]) -> io::Result<()> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    z.write_all(raw)?;
    let compressed = z.finish()?;
    let mut blob = Pb::default();
    blob.uint(2, raw.len() as u64);
    blob.bytes(3, &compressed);
    let mut header = Pb::default();
    header.bytes(1, kind.as_bytes());
    header.uint(3, blob.0.len() as u64);
    out.write_all(&(header.0.len() as u32).to_be_bytes())?;
    out.write_all(&header.0)?;
    out.write_all(&blob.0)
}
