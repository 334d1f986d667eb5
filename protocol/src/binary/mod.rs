//! The compact binary form of [`ClientMessage`] and [`ServerMessage`].
//!
//! A frame is `version: u8`, `tag: u8`, then the fields: integers as LEB128 varints (signed ones
//! zigzagged), strings as length + UTF-8, enums as one byte, positions quantized to centimetres.
//!
//! Patrol positions are the bulk of the traffic, so the server→client codec is stateful: the
//! encoder and the decoder of one connection each keep the last position sent per patrol, and
//! `moved` items carry only the centimetre delta from it (ids delta-coded too). A patrol walking
//! 1.4 m between updates costs ~5 bytes. `Snapshot` resets both sides; `entered` and `left`
//! maintain them. Positions decode without `lon`/`lat` (the JSON form carries those).
//!
//! Devices send their fixes the other way as a [`PositionBatch`] (`positions`).

mod client;
mod positions;
mod server;

use std::collections::HashMap;

pub use client::{decode_client, encode_client};
pub use positions::{
    Fix, FixCrs, MAX_PATROL_ID, POSITIONS_MEDIA_TYPE, PositionBatch, T_POSITIONS, decode_positions, encode_positions,
    is_position_batch,
};
pub use server::{ServerDecoder, ServerEncoder};

use crate::PROTOCOL_VERSION;
use crate::messages::{Event, EventKind, IncidentState, PatrolId, PatrolPos, PatrolState};
use crate::model::{
    ComponentCategory, ComponentState, GridLevel, IncidentCategory, IncidentSource, IncidentStage, PatrolRole,
    PatrolStatus,
};
use crate::wall::WallView;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame ends early")]
    UnexpectedEnd,
    #[error("protocol version {0} is not supported (this build speaks {PROTOCOL_VERSION})")]
    Version(u8),
    #[error("unknown message tag {0}")]
    Tag(u8),
    #[error("bad {what} value {value}")]
    Enum { what: &'static str, value: u8 },
    #[error("string is not UTF-8")]
    Utf8,
    #[error("varint overflows 64 bits")]
    Varint,
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    #[error("moved patrol {0} was never sent to this client")]
    UnknownPatrol(PatrolId),
    #[error("bad wall view: {0}")]
    View(String),
    #[error("a {what} of {len} bytes (at most {max})")]
    TooLong { what: &'static str, len: usize, max: usize },
}

/// Metres → centimetres (the wire's unit).
pub fn quantize(m: f64) -> i64 {
    (m * 100.0).round() as i64
}

fn dequantize(cm: i64) -> f64 {
    cm as f64 / 100.0
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn ivar(&mut self, v: i64) {
        self.var(zigzag(v));
    }
    fn metres(&mut self, m: f64) {
        self.ivar(quantize(m));
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.var(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn len(&mut self, n: usize) {
        self.var(n as u64);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(b)
    }
    fn var(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Varint)
    }
    fn ivar(&mut self) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.var()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.var()?).map_err(|_| DecodeError::Varint)
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        u16::try_from(self.var()?).map_err(|_| DecodeError::Varint)
    }
    fn metres(&mut self) -> Result<f64, DecodeError> {
        Ok(dequantize(self.ivar()?))
    }
    fn f64(&mut self) -> Result<f64, DecodeError> {
        let bytes = self.buf.get(self.pos..self.pos + 8).ok_or(DecodeError::UnexpectedEnd)?;
        self.pos += 8;
        Ok(f64::from_le_bytes(bytes.try_into().map_err(|_| DecodeError::UnexpectedEnd)?))
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        self.str_ref().map(str::to_owned)
    }
    /// A string borrowed from the frame.
    fn str_ref(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.len()?;
        let bytes = self.buf.get(self.pos..self.pos + n).ok_or(DecodeError::UnexpectedEnd)?;
        self.pos += n;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8)
    }
    /// A count; never more than the bytes left, so garbage cannot make us allocate much.
    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = usize::try_from(self.var()?).map_err(|_| DecodeError::Varint)?;
        if n > self.buf.len() - self.pos { Err(DecodeError::UnexpectedEnd) } else { Ok(n) }
    }
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, DecodeError>) -> Result<Option<T>, DecodeError> {
        if self.u8()? == 0 { Ok(None) } else { f(self).map(Some) }
    }
    fn vec<T>(&mut self, mut f: impl FnMut(&mut Self) -> Result<T, DecodeError>) -> Result<Vec<T>, DecodeError> {
        let n = self.len()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(f(self)?);
        }
        Ok(v)
    }
}

macro_rules! enum_codec {
    ($($t:ident => $what:literal),+) => {
        $(impl EnumByte for $t {
            fn byte(self) -> u8 { self.index() }
            fn from_byte(b: u8) -> Result<Self, DecodeError> {
                Self::from_index(b).ok_or(DecodeError::Enum { what: $what, value: b })
            }
        })+
    };
}

trait EnumByte: Sized {
    fn byte(self) -> u8;
    fn from_byte(b: u8) -> Result<Self, DecodeError>;
}

enum_codec!(
    ComponentCategory => "component category", ComponentState => "component state", GridLevel => "grid level",
    IncidentStage => "incident stage", IncidentSource => "incident source", IncidentCategory => "incident category",
    PatrolRole => "patrol role", PatrolStatus => "patrol status"
);

fn put_enum<E: EnumByte>(w: &mut Writer, e: E) {
    w.u8(e.byte());
}

fn get_enum<E: EnumByte>(r: &mut Reader<'_>) -> Result<E, DecodeError> {
    E::from_byte(r.u8()?)
}

fn put_incident(w: &mut Writer, i: &IncidentState) {
    w.var(i.id);
    put_enum(w, i.category);
    put_enum(w, i.source);
    put_enum(w, i.stage);
    w.u8(i.priority);
    w.metres(i.x);
    w.metres(i.y);
    w.str(&i.grid);
    put_enum(w, i.level);
    w.ivar(i.created_ms);
    w.ivar(i.deadline_ms);
    match i.assignee {
        Some(p) => {
            w.u8(1);
            w.var(u64::from(p));
        }
        None => w.u8(0),
    }
    w.str(&i.description);
}

fn get_incident(r: &mut Reader<'_>) -> Result<IncidentState, DecodeError> {
    Ok(IncidentState {
        id: r.var()?,
        category: get_enum(r)?,
        source: get_enum(r)?,
        stage: get_enum(r)?,
        priority: r.u8()?,
        x: r.metres()?,
        y: r.metres()?,
        lon: None,
        lat: None,
        grid: r.str()?,
        level: get_enum(r)?,
        created_ms: r.ivar()?,
        deadline_ms: r.ivar()?,
        assignee: r.opt(Reader::u32)?,
        description: r.str()?,
    })
}

fn put_event(w: &mut Writer, e: &Event) {
    w.var(e.seq);
    w.ivar(e.time_ms);
    match &e.kind {
        EventKind::IncidentOpened { incident } => {
            w.u8(0);
            put_incident(w, incident);
        }
        EventKind::IncidentChanged { incident, actor, note } => {
            w.u8(1);
            put_incident(w, incident);
            w.str(actor);
            w.str(note);
        }
        EventKind::IncidentEscalated { incident, level, deadline_ms } => {
            w.u8(2);
            w.var(*incident);
            put_enum(w, *level);
            w.ivar(*deadline_ms);
        }
        EventKind::PatrolLeftGrid { patrol, grid } => {
            w.u8(3);
            w.var(u64::from(*patrol));
            w.str(grid);
        }
    }
}

fn get_event(r: &mut Reader<'_>) -> Result<Event, DecodeError> {
    let seq = r.var()?;
    let time_ms = r.ivar()?;
    let kind = match r.u8()? {
        0 => EventKind::IncidentOpened { incident: get_incident(r)? },
        1 => EventKind::IncidentChanged { incident: get_incident(r)?, actor: r.str()?, note: r.str()? },
        2 => EventKind::IncidentEscalated { incident: r.var()?, level: get_enum(r)?, deadline_ms: r.ivar()? },
        3 => EventKind::PatrolLeftGrid { patrol: r.u32()?, grid: r.str()? },
        t => return Err(DecodeError::Enum { what: "event kind", value: t }),
    };
    Ok(Event { seq, time_ms, kind })
}

/// Last quantized position sent per patrol, kept identically by both ends of a connection.
type PositionCache = HashMap<PatrolId, (i64, i64)>;

fn put_patrol_state(w: &mut Writer, p: &PatrolState, cache: &mut PositionCache) {
    w.var(u64::from(p.pos.id));
    let q = (quantize(p.pos.x), quantize(p.pos.y));
    w.ivar(q.0);
    w.ivar(q.1);
    cache.insert(p.pos.id, q);
    w.str(&p.patrol_id);
    w.str(&p.name);
    put_enum(w, p.role);
    put_enum(w, p.status);
    w.str(&p.grid);
}

fn get_patrol_state(r: &mut Reader<'_>, cache: &mut PositionCache) -> Result<PatrolState, DecodeError> {
    let id = r.u32()?;
    let q = (r.ivar()?, r.ivar()?);
    cache.insert(id, q);
    Ok(PatrolState {
        pos: PatrolPos { id, x: dequantize(q.0), y: dequantize(q.1), lon: None, lat: None },
        patrol_id: r.str()?,
        name: r.str()?,
        role: get_enum(r)?,
        status: get_enum(r)?,
        grid: r.str()?,
    })
}

const T_WELCOME: u8 = 1;
const T_SNAPSHOT: u8 = 2;
const T_DELTA: u8 = 3;
const T_REPLY: u8 = 4;
const T_ERROR: u8 = 5;
const T_PONG: u8 = 6;
const T_KPIS: u8 = 7;
const T_WALL_VIEW: u8 = 8;
const T_TIMELINE: u8 = 9;
const T_WARNINGS: u8 = 10;
const T_HELLO: u8 = 101;
const T_SUBSCRIBE: u8 = 102;
const T_ASSIGN: u8 = 103;
const T_TRANSITION: u8 = 104;
const T_PING: u8 = 105;
const T_JOIN_WALL: u8 = 106;
const T_LEAD_WALL: u8 = 107;
const T_CAST: u8 = 108;
const T_REPLAY: u8 = 109;
const T_LIVE: u8 = 110;
const T_ACK_WARNING: u8 = 111;

/// Wall views are rare (a few a second per wall) and nested: they travel as their JSON text.
fn put_view(w: &mut Writer, view: &WallView) {
    w.str(&serde_json::to_string(view).expect("a wall view serialises"));
}

fn get_view(r: &mut Reader<'_>) -> Result<Box<WallView>, DecodeError> {
    serde_json::from_str(&r.str()?).map_err(|e| DecodeError::View(e.to_string()))
}

/// Warnings are rare (a few an hour) and nested: they travel as their JSON text too.
fn put_warnings(w: &mut Writer, warnings: &[crate::api::analysis::Warning]) {
    w.str(&serde_json::to_string(warnings).expect("warnings serialise"));
}

fn get_warnings(r: &mut Reader<'_>) -> Result<Vec<crate::api::analysis::Warning>, DecodeError> {
    serde_json::from_str(&r.str()?).map_err(|e| DecodeError::View(e.to_string()))
}

fn header(r: &mut Reader<'_>) -> Result<u8, DecodeError> {
    let v = r.u8()?;
    if u16::from(v) != PROTOCOL_VERSION {
        return Err(DecodeError::Version(v));
    }
    r.u8()
}

fn finish<T>(r: &Reader<'_>, v: T) -> Result<T, DecodeError> {
    if r.pos == r.buf.len() { Ok(v) } else { Err(DecodeError::Trailing(r.buf.len() - r.pos)) }
}
