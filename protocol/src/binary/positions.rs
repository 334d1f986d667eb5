//! The compact binary position batch a device (or a gateway for many) sends instead of JSON:
//! over `POST /api/v1/positions` with `Content-Type: application/vnd.gridwall.positions`, or as a
//! binary frame on `/ws/ingest`. JSON stays accepted on both.
//!
//! A batch is `version: u8`, the tag [`T_POSITIONS`], the coordinate system of every fix (one
//! byte: [`FixCrs`]), the number of fixes, then each fix: the patrol's id (length + UTF-8, at
//! most [`MAX_PATROL_ID`] bytes), longitude and latitude (f64, little-endian), and the time of
//! the fix in milliseconds since the Unix epoch (zigzag varint). About 30 bytes a fix where JSON
//! takes about 90, and no text to parse.

use std::borrow::Cow;

use super::{DecodeError, Reader, Writer, finish, header};
use crate::PROTOCOL_VERSION;

/// The media type of a binary batch over HTTP.
pub const POSITIONS_MEDIA_TYPE: &str = "application/vnd.gridwall.positions";

/// The tag of a position batch (apart from the display messages' tags).
pub const T_POSITIONS: u8 = 120;

/// The longest patrol id a fix may carry (as in JSON).
pub const MAX_PATROL_ID: usize = 64;

/// The fewest bytes a fix takes on the wire (an id of one byte): a count is never believed
/// beyond what the frame's bytes can hold.
const MIN_FIX_BYTES: usize = 1 + 1 + 8 + 8 + 1;

/// The coordinate system of a batch's longitudes and latitudes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FixCrs {
    #[default]
    Wgs84,
    /// China's GCJ-02 (the offset most Chinese map SDKs give).
    Gcj02,
    /// Baidu's BD-09.
    Bd09,
}

impl FixCrs {
    fn byte(self) -> u8 {
        match self {
            FixCrs::Wgs84 => 0,
            FixCrs::Gcj02 => 1,
            FixCrs::Bd09 => 2,
        }
    }

    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        match b {
            0 => Ok(FixCrs::Wgs84),
            1 => Ok(FixCrs::Gcj02),
            2 => Ok(FixCrs::Bd09),
            value => Err(DecodeError::Enum { what: "crs", value }),
        }
    }
}

/// One position fix. A decoded fix borrows its id from the frame (no allocation per fix).
#[derive(Debug, Clone, PartialEq)]
pub struct Fix<'a> {
    pub patrol_id: Cow<'a, str>,
    pub lon: f64,
    pub lat: f64,
    /// When the device took it, ms since the Unix epoch.
    pub t_ms: i64,
}

/// A batch of fixes in one coordinate system.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PositionBatch<'a> {
    pub crs: FixCrs,
    pub fixes: Vec<Fix<'a>>,
}

/// Encodes a batch.
pub fn encode_positions(batch: &PositionBatch<'_>) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(4 + batch.fixes.len() * 32));
    w.u8(PROTOCOL_VERSION as u8);
    w.u8(T_POSITIONS);
    w.u8(batch.crs.byte());
    w.len(batch.fixes.len());
    for f in &batch.fixes {
        w.str(&f.patrol_id);
        w.f64(f.lon);
        w.f64(f.lat);
        w.ivar(f.t_ms);
    }
    w.0
}

/// Decodes a batch. Only the frame's shape is checked here (ids' lengths, the count against the
/// bytes there); the values are the ingest's to check, as for JSON.
pub fn decode_positions(frame: &[u8]) -> Result<PositionBatch<'_>, DecodeError> {
    let mut r = Reader { buf: frame, pos: 0 };
    let tag = header(&mut r)?;
    if tag != T_POSITIONS {
        return Err(DecodeError::Tag(tag));
    }
    let crs = FixCrs::from_byte(r.u8()?)?;
    let n = r.len()?;
    if n > (r.buf.len() - r.pos) / MIN_FIX_BYTES {
        return Err(DecodeError::UnexpectedEnd);
    }
    let mut fixes = Vec::with_capacity(n);
    for _ in 0..n {
        let patrol_id = r.str_ref()?;
        if patrol_id.len() > MAX_PATROL_ID {
            return Err(DecodeError::TooLong { what: "patrol id", len: patrol_id.len(), max: MAX_PATROL_ID });
        }
        fixes.push(Fix { patrol_id: Cow::Borrowed(patrol_id), lon: r.f64()?, lat: r.f64()?, t_ms: r.ivar()? });
    }
    finish(&r, PositionBatch { crs, fixes })
}

/// Whether a frame is a binary batch rather than JSON text (JSON never begins with the
/// version byte).
pub fn is_position_batch(frame: &[u8]) -> bool {
    frame.first().is_some_and(|&b| u16::from(b) == PROTOCOL_VERSION) && frame.get(1) == Some(&T_POSITIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> PositionBatch<'static> {
        PositionBatch {
            crs: FixCrs::Gcj02,
            fixes: vec![
                Fix { patrol_id: "P-1".into(), lon: 118.123_456_789, lat: 35.5, t_ms: 1_790_000_000_123 },
                Fix { patrol_id: "网格员-7".into(), lon: -0.0, lat: 90.0, t_ms: -5 },
            ],
        }
    }

    #[test]
    fn a_batch_round_trips_exactly() {
        let b = batch();
        let bytes = encode_positions(&b);
        assert!(is_position_batch(&bytes));
        assert!(!is_position_batch(b"[{\"patrol_id\":\"P-1\"}]"));
        assert_eq!(decode_positions(&bytes).unwrap(), b);
        assert_eq!(decode_positions(&encode_positions(&PositionBatch::default())).unwrap(), PositionBatch::default());
    }

    #[test]
    fn bad_frames_say_why() {
        let bytes = encode_positions(&batch());
        assert_eq!(decode_positions(&bytes[..bytes.len() - 1]), Err(DecodeError::UnexpectedEnd));
        let mut more = bytes.clone();
        more.push(0);
        assert_eq!(decode_positions(&more), Err(DecodeError::Trailing(1)));
        let mut crs = bytes.clone();
        crs[2] = 9;
        assert_eq!(decode_positions(&crs), Err(DecodeError::Enum { what: "crs", value: 9 }));
        let mut tag = bytes.clone();
        tag[1] = 3;
        assert_eq!(decode_positions(&tag), Err(DecodeError::Tag(3)));
        let long = PositionBatch {
            crs: FixCrs::Wgs84,
            fixes: vec![Fix { patrol_id: "x".repeat(65).into(), ..batch().fixes[0].clone() }],
        };
        assert!(decode_positions(&encode_positions(&long)).is_err(), "an id longer than JSON allows");
        // A count far beyond the bytes behind it is refused before anything is allocated.
        let claim = [PROTOCOL_VERSION as u8, T_POSITIONS, 0, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
        assert_eq!(decode_positions(&claim), Err(DecodeError::UnexpectedEnd));
    }
}
