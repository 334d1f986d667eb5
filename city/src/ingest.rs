//! Parsing and validating what devices and citizens send, before anything touches the world:
//! patrol position batches (`POST /api/v1/positions`, JSON or the protocol's binary batch) and
//! Open311 `GeoReport` v2 service requests.
//!
//! Validation is all-or-nothing per request: the first bad item refuses the whole batch with an
//! error naming the item and the field, so a client never has to guess which part was taken.

use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

use gridwall_protocol::IncidentCategory;
use gridwall_protocol::binary::{FixCrs, MAX_PATROL_ID, decode_positions};
use gridwall_scene::coords::{CoordError, InputCrs, SceneFrame};
use serde::{Deserialize, Serialize};

use crate::services::{self, Intake};

/// Largest batch of positions one request may carry.
pub const MAX_POSITIONS_PER_REQUEST: usize = 10_000;
/// Longest incident description accepted (Open311 allows free text; we bound it).
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;

/// A refused request: which item (if a batch), which field, why. Serialises as the JSON error
/// body of a 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}{field}: {message}", .index.map(|i| format!("[{i}].")).unwrap_or_default())]
pub struct IngestError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub field: String,
    pub message: String,
}

impl IngestError {
    pub(crate) fn new(index: Option<usize>, field: &str, message: impl Into<String>) -> Self {
        Self { index, field: field.to_owned(), message: message.into() }
    }
}

/// Strings borrow from the request body (no allocation unless they contain escapes).
#[derive(Debug, Deserialize)]
struct PositionIn<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed")]
    patrol_id: Option<Cow<'a, str>>,
    lon: Option<f64>,
    lat: Option<f64>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    ts: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    crs: Option<Cow<'a, str>>,
}

/// An optional text borrowed from the body where it has no escapes: serde borrows a `Cow`
/// field, but not one inside an `Option`.
fn borrowed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text<'de>>::deserialize(d)?.map(|t| t.0))
}

impl PositionIn<'_> {
    /// The same item, its texts copied (when it was read from a parsed value, not the body).
    fn owned(self) -> PositionIn<'static> {
        let own = |c: Option<Cow<'_, str>>| c.map(|c| Cow::Owned(c.into_owned()));
        PositionIn {
            patrol_id: own(self.patrol_id),
            lon: self.lon,
            lat: self.lat,
            ts: own(self.ts),
            crs: own(self.crs),
        }
    }
}

/// A validated position report in the scene's local metres. Its id is borrowed from the
/// request's body where it can be (a batch allocates nothing per fix for it).
#[derive(Debug, Clone, PartialEq)]
pub struct Position<'a> {
    pub patrol_id: Cow<'a, str>,
    pub x: f64,
    pub y: f64,
    pub t_ms: i64,
}

/// Why a time stamp was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimeError {
    #[error("{text:?} is not an RFC 3339 time: {source}")]
    Syntax { text: String, source: humantime::TimestampError },
    #[error("{0:?} has an offset that is not ±HH:MM up to 14 hours")]
    Offset(String),
    #[error("{0:?} is before 1970")]
    BeforeEpoch(String),
    #[error("{0:?} is out of range")]
    OutOfRange(String),
    #[error("longer than 64 characters")]
    TooLong,
}

/// Parses an RFC 3339 timestamp to milliseconds since the Unix epoch: `Z` or an offset such as
/// `+08:00` (what devices in China send), or no zone (read as UTC).
pub fn parse_time(ts: &str) -> Result<i64, TimeError> {
    if ts.len() > 64 {
        return Err(TimeError::TooLong);
    }
    let text = || ts.to_owned();
    let (base, offset_ms) = split_offset(ts).ok_or_else(|| TimeError::Offset(text()))?;
    let t = humantime::parse_rfc3339_weak(base).map_err(|source| TimeError::Syntax { text: text(), source })?;
    let d = t.duration_since(UNIX_EPOCH).map_err(|_| TimeError::BeforeEpoch(text()))?;
    let utc = i64::try_from(d.as_millis()).map_err(|_| TimeError::OutOfRange(text()))? - offset_ms;
    if utc < 0 {
        return Err(TimeError::BeforeEpoch(text()));
    }
    Ok(utc)
}

/// The time without its zone, and the zone's offset from UTC in milliseconds (`None`: a zone
/// that is not `Z` or `±HH:MM` up to 14 hours).
fn split_offset(ts: &str) -> Option<(&str, i64)> {
    if let Some(base) = ts.strip_suffix(['Z', 'z']) {
        return Some((base, 0));
    }
    let b = ts.as_bytes();
    let n = b.len();
    // A zone follows the time of day (after the 'T'), so the date's '-' is never taken for one.
    if n < 6 || !(b[n - 6] == b'+' || b[n - 6] == b'-') || !ts[..n - 6].contains(['T', 't', ' ']) {
        return Some((ts, 0));
    }
    if b[n - 3] != b':' {
        return None;
    }
    let hh: i64 = ts[n - 5..n - 3].parse().ok()?;
    let mm: i64 = ts[n - 2..].parse().ok()?;
    let digits = |r: std::ops::Range<usize>| ts[r].bytes().all(|c| c.is_ascii_digit());
    if hh > 14 || mm > 59 || !digits(n - 5..n - 3) || !digits(n - 2..n) {
        return None;
    }
    let sign = if b[n - 6] == b'-' { -1 } else { 1 };
    Some((&ts[..n - 6], sign * (hh * 3_600_000 + mm * 60_000)))
}

/// Formats milliseconds since the epoch as RFC 3339 (UTC, seconds).
/// RFC 3339 with milliseconds, UTC (exports, where fixes a second apart must differ).
pub fn format_time_ms(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

pub fn format_time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parses and validates a JSON array of position reports. Points must lie inside `bounds`
/// (local metres, the scene's extent grown by `margin_m`).
pub fn parse_positions<'a>(
    body: &'a [u8],
    frame: &SceneFrame,
    bounds: [f64; 4],
    margin_m: f64,
) -> Result<Vec<Position<'a>>, IngestError> {
    // Fast path: a well-typed batch parses straight into structs. Only when that fails is the
    // body parsed again item by item, to say which item and field is wrong.
    let items: Vec<PositionIn<'a>> = if let Ok(items) = serde_json::from_slice(body) {
        items
    } else {
        let values: Vec<serde_json::Value> = serde_json::from_slice(body)
            .map_err(|e| IngestError::new(None, "body", format!("expected a JSON array of positions: {e}")))?;
        values
            .iter()
            .enumerate()
            .map(|(i, item)| {
                PositionIn::deserialize(item)
                    .map(PositionIn::owned)
                    .map_err(|e| IngestError::new(Some(i), "item", format!("expected an object: {e}")))
            })
            .collect::<Result<_, _>>()?
    };
    check_batch_size(items.len())?;
    let fields = items.into_iter().enumerate().map(|(i, p)| {
        let err = |field: &str, msg: String| IngestError::new(Some(i), field, msg);
        let patrol_id = p.patrol_id.ok_or_else(|| err("patrol_id", "missing or empty".into()))?;
        let lon = p.lon.ok_or_else(|| err("lon", "missing".into()))?;
        let lat = p.lat.ok_or_else(|| err("lat", "missing".into()))?;
        let crs: InputCrs = match p.crs.as_deref() {
            None => InputCrs::Wgs84,
            Some(c) => c.parse().map_err(|e: CoordError| err("crs", e.to_string()))?,
        };
        let t_ms = parse_time(p.ts.as_deref().ok_or_else(|| err("ts", "missing".into()))?)
            .map_err(|e| err("ts", e.to_string()))?;
        Ok((patrol_id, (lon, lat, crs), t_ms))
    });
    checked_batch(fields, frame, bounds, margin_m)
}

/// Decodes and validates a binary position batch ([`gridwall_protocol::binary::PositionBatch`])
/// exactly as [`parse_positions`] does a JSON one: the same limits, fields and messages.
pub fn binary_positions<'a>(
    body: &'a [u8],
    frame: &SceneFrame,
    bounds: [f64; 4],
    margin_m: f64,
) -> Result<Vec<Position<'a>>, IngestError> {
    let batch = decode_positions(body)
        .map_err(|e| IngestError::new(None, "body", format!("not a binary position batch: {e}")))?;
    check_batch_size(batch.fixes.len())?;
    let crs = match batch.crs {
        FixCrs::Wgs84 => InputCrs::Wgs84,
        FixCrs::Gcj02 => InputCrs::Gcj02,
        FixCrs::Bd09 => InputCrs::Bd09,
    };
    let fields = batch.fixes.into_iter().enumerate().map(|(i, f)| {
        if (0..=MAX_FIX_MS).contains(&f.t_ms) {
            Ok((f.patrol_id, (f.lon, f.lat, crs), f.t_ms))
        } else {
            Err(IngestError::new(Some(i), "ts", format!("{} ms is not a time a device took a fix", f.t_ms)))
        }
    });
    checked_batch(fields, frame, bounds, margin_m)
}

/// The fields of one fix as either form carries them: id, (lon, lat, CRS), time.
type FixFields<'a> = (Cow<'a, str>, (f64, f64, InputCrs), i64);

/// A batch's fixes, item by item as read (an error names its item), checked and placed in the
/// scene. The first bad item refuses the batch, whichever check finds it: one that cannot be
/// placed before a later one that cannot be read.
fn checked_batch<'a>(
    items: impl ExactSizeIterator<Item = Result<FixFields<'a>, IngestError>>,
    frame: &SceneFrame,
    bounds: [f64; 4],
    margin_m: f64,
) -> Result<Vec<Position<'a>>, IngestError> {
    let mut out = Vec::with_capacity(items.len());
    let mut wgs84 = Vec::with_capacity(items.len());
    for (i, item) in items.enumerate() {
        match item.and_then(|(id, at, t_ms)| checked_fix(i, id, at, t_ms, &mut wgs84)) {
            Ok(c) => out.push(c),
            Err(later) => return Err(placed(out, wgs84, frame, bounds, margin_m).err().unwrap_or(later)),
        }
    }
    placed(out, wgs84, frame, bounds, margin_m)
}

/// Refuses a batch of more than [`MAX_POSITIONS_PER_REQUEST`] fixes (either form).
fn check_batch_size(n: usize) -> Result<(), IngestError> {
    if n > MAX_POSITIONS_PER_REQUEST {
        return Err(IngestError::new(
            None,
            "body",
            format!("{n} positions in one request; at most {MAX_POSITIONS_PER_REQUEST}"),
        ));
    }
    Ok(())
}

/// The latest time a binary fix may carry, as an RFC 3339 `ts` can write it (9999-12-31,
/// ms since the Unix epoch; none may be before it).
const MAX_FIX_MS: i64 = 253_402_300_799_999;

/// A fix whose id and coordinates are checked, in WGS84, not yet placed in the scene.
struct Checked<'a> {
    patrol_id: Cow<'a, str>,
    /// As sent (for messages).
    sent: (f64, f64),
    t_ms: i64,
}

/// One fix of either form, checked: the id and the coordinates; item `i` of its batch. Its
/// WGS84 (lon, lat) goes to `wgs84`, to be projected with the rest of the batch.
fn checked_fix<'a>(
    i: usize,
    patrol_id: Cow<'a, str>,
    (lon, lat, crs): (f64, f64, InputCrs),
    t_ms: i64,
    wgs84: &mut Vec<(f64, f64)>,
) -> Result<Checked<'a>, IngestError> {
    let err = |field: &str, msg: String| IngestError::new(Some(i), field, msg);
    if patrol_id.trim().is_empty() {
        return Err(err("patrol_id", "missing or empty".into()));
    }
    if patrol_id.len() > MAX_PATROL_ID {
        return Err(err("patrol_id", format!("longer than {MAX_PATROL_ID} bytes")));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(err("lon", format!("{lon} is not a longitude")));
    }
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(err("lat", format!("{lat} is not a latitude")));
    }
    wgs84.push(gridwall_scene::coords::to_wgs84(crs, lon, lat).map_err(|e| err("lon", e.to_string()))?);
    Ok(Checked { patrol_id, sent: (lon, lat), t_ms })
}

/// A batch's checked fixes placed in the scene: projected in one call into PROJ, each inside the
/// scene (grown by `margin_m`).
fn placed<'a>(
    fixes: Vec<Checked<'a>>,
    mut points: Vec<(f64, f64)>,
    frame: &SceneFrame,
    bounds: [f64; 4],
    margin_m: f64,
) -> Result<Vec<Position<'a>>, IngestError> {
    frame.many_to_local(&mut points).map_err(|(i, e)| IngestError::new(Some(i), "lon", e.to_string()))?;
    let mut out = Vec::with_capacity(fixes.len());
    for (i, (f, (x, y))) in fixes.into_iter().zip(points).enumerate() {
        if x < bounds[0] - margin_m || x > bounds[2] + margin_m || y < bounds[1] - margin_m || y > bounds[3] + margin_m
        {
            let (lon, lat) = f.sent;
            return Err(IngestError::new(Some(i), "lon", format!("({lon}, {lat}) lies outside the scene")));
        }
        out.push(Position { patrol_id: f.patrol_id, x, y, t_ms: f.t_ms });
    }
    Ok(out)
}

/// A validated `POST /open311/v2/requests.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    pub category: IncidentCategory,
    pub x: f64,
    pub y: f64,
    pub description: String,
    /// The service definition's attributes and a photo's address (photos are added by the
    /// caller, which stores them first).
    pub intake: Intake,
}

/// Validates an Open311 request's fields (form-encoded or JSON, flattened to strings, in the
/// order sent; the first of a repeated field counts, except attribute lists). Contact fields
/// (`email`, `phone`, names, `device_id`) are ignored on purpose: gridwall stores no personal
/// data of residents.
pub fn parse_request(
    fields: &[(String, String)],
    frame: &SceneFrame,
    bounds: [f64; 4],
) -> Result<NewRequest, IngestError> {
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let code = get("service_code").ok_or_else(|| IngestError::new(None, "service_code", "missing"))?;
    let category: IncidentCategory = code
        .parse()
        .map_err(|_| IngestError::new(None, "service_code", format!("{code:?} is not a service; see services.json")))?;
    let num = |k: &str| -> Result<f64, IngestError> {
        let v = get(k).ok_or_else(|| IngestError::new(None, k, "missing (address-only requests are not supported)"))?;
        v.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| IngestError::new(None, k, format!("{v:?} is not a number")))
    };
    let (lat, lon) = (num("lat")?, num("long")?);
    if !(-90.0..=90.0).contains(&lat) {
        return Err(IngestError::new(None, "lat", format!("{lat} is not a latitude")));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(IngestError::new(None, "long", format!("{lon} is not a longitude")));
    }
    let crs: InputCrs =
        get("crs").unwrap_or("wgs84").parse().map_err(|e: CoordError| IngestError::new(None, "crs", e.to_string()))?;
    let (x, y) = frame.input_to_local(crs, lon, lat).map_err(|e| IngestError::new(None, "long", e.to_string()))?;
    if x < bounds[0] || x > bounds[2] || y < bounds[1] || y > bounds[3] {
        return Err(IngestError::new(None, "long", format!("({lon}, {lat}) lies outside the scene")));
    }
    let description = get("description").unwrap_or_default().to_owned();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(IngestError::new(None, "description", format!("longer than {MAX_DESCRIPTION_CHARS} characters")));
    }
    let attributes = services::check_attributes(
        category,
        fields.iter().filter_map(|(f, v)| services::attribute_code(f).map(|c| (c, v.as_str()))),
        false,
    )?;
    let media_url = get("media_url").map(services::check_media_url).transpose()?.unwrap_or_default();
    let intake = Intake { attributes, photos: Vec::new(), media_url };
    Ok(NewRequest { category, x, y, description, intake })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_offsets_are_read_as_the_same_instant() {
        let utc = parse_time("2026-11-22T00:00:00Z").unwrap();
        assert_eq!(parse_time("2026-11-22T08:00:00+08:00").unwrap(), utc, "China Standard Time");
        assert_eq!(parse_time("2026-11-21T19:00:00-05:00").unwrap(), utc);
        assert_eq!(parse_time("2026-11-22T05:45:00+05:45").unwrap(), utc);
        assert_eq!(parse_time("2026-11-22T08:00:00.250+08:00").unwrap(), utc + 250);
        assert_eq!(parse_time("2026-11-22T00:00:00").unwrap(), utc, "no zone: UTC");
        for bad in [
            "2026-11-22T08:00:00+8:00",
            "2026-11-22T08:00:00+15:00",
            "2026-11-22T08:00:00+08:60",
            "2026-11-22T08:00:00+0a:00",
            "x".repeat(65).as_str(),
            "1970-01-01T00:00:00+01:00",
            "2026-11-22",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    fn frame() -> (SceneFrame, [f64; 4]) {
        (SceneFrame::centred_on("EPSG:32635", 24.944, 60.1716).unwrap(), [-521.0, -842.0, 521.0, 841.0])
    }

    #[test]
    fn positions_parse_in_any_accepted_crs() {
        let (f, b) = frame();
        let body = br#"[{"patrol_id":"P-1","lon":24.944,"lat":60.1716,"ts":"2026-11-22T08:00:00Z"},
                         {"patrol_id":"P-2","lon":24.945,"lat":60.172,"ts":"2026-11-22T08:00:01.500Z","crs":"gcj02"}]"#;
        let got = parse_positions(body, &f, b, 100.0).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].x.abs() < 1.0 && got[0].y.abs() < 1.0);
        assert_eq!(got[1].t_ms - got[0].t_ms, 1_500);
        assert_eq!(got[0].t_ms, parse_time("2026-11-22T08:00:00+00:00").unwrap());
        // Ids without escapes are borrowed from the body, not copied.
        assert!(got.iter().all(|p| matches!(p.patrol_id, Cow::Borrowed(_))));
        let escaped = br#"[{"patrol_id":"P\u002d1","lon":24.944,"lat":60.1716,"ts":"2026-11-22T08:00:00Z"}]"#;
        let got = parse_positions(escaped, &f, b, 100.0).unwrap();
        assert!(matches!(&got[0].patrol_id, Cow::Owned(id) if id == "P-1"), "{:?}", got[0].patrol_id);
    }

    #[test]
    fn a_bad_item_refuses_the_batch_naming_item_and_field() {
        let (f, b) = frame();
        let cases: [(&[u8], &str); 10] = [
            (br#"{"patrol_id":"P-1"}"#, "body: expected a JSON array"),
            (br#"[{"patrol_id":"P-1","lon":24.944,"lat":60.17,"ts":"2026-11-22T08:00:00Z"},{"lon":24.9,"lat":60.1,"ts":"2026-11-22T08:00:00Z"}]"#, "[1].patrol_id: missing"),
            (br#"[{"patrol_id":"P-1","lon":240,"lat":60.17,"ts":"2026-11-22T08:00:00Z"}]"#, "[0].lon: 240 is not a longitude"),
            (br#"[{"patrol_id":"P-1","lon":24.944,"ts":"2026-11-22T08:00:00Z"}]"#, "[0].lat: missing"),
            (br#"[{"patrol_id":"P-1","lon":24.944,"lat":60.17,"ts":"yesterday"}]"#, "[0].ts: \"yesterday\" is not an RFC 3339 time"),
            (br#"[{"patrol_id":"P-1","lon":24.944,"lat":60.17,"ts":"2026-11-22T08:00:00Z","crs":"osgb"}]"#, "[0].crs: unknown coordinate system"),
            (br#"[{"patrol_id":"P-1","lon":118.79,"lat":36.88,"ts":"2026-11-22T08:00:00Z"}]"#, "[0].lon: (118.79, 36.88) lies outside the scene"),
            (br"[42]", "[0].item: expected an object"),
            // The first bad item is named, whichever check finds it.
            (br#"[{"patrol_id":"P-1","lon":118.79,"lat":36.88,"ts":"2026-11-22T08:00:00Z"},{"patrol_id":"P-2","lon":24.944,"lat":60.17}]"#, "[0].lon: (118.79, 36.88) lies outside the scene"),
            (br#"[{"patrol_id":"P-1","lon":24.944,"lat":60.17,"ts":"2026-11-22T08:00:00Z"},{"patrol_id":"P-2","lon":24.944,"lat":60.17},{"patrol_id":"P-3","lon":118.79,"lat":36.88,"ts":"2026-11-22T08:00:00Z"}]"#, "[1].ts: missing"),
        ];
        for (body, expect) in cases {
            let e = parse_positions(body, &f, b, 100.0).unwrap_err();
            assert!(e.to_string().starts_with(expect), "{e} vs {expect}");
            let json = serde_json::to_value(&e).unwrap();
            assert!(json["field"].is_string() && json["message"].is_string());
        }
    }

    #[test]
    fn open311_requests_validate_and_render() {
        let (f, b) = frame();
        let fields =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<Vec<_>>();
        let ok = parse_request(
            &fields(&[
                ("service_code", "manhole_damage"),
                ("lat", "60.1716"),
                ("long", "24.944"),
                ("description", "井盖缺失"),
                ("email", "someone@example.org"),
                ("attribute[cover_type]", "sewage"),
                ("attribute[fault]", "missing"),
                ("media_url", "https://example.org/1.jpg"),
            ]),
            &f,
            b,
        )
        .unwrap();
        assert_eq!(ok.category, IncidentCategory::ManholeDamage);
        assert_eq!(ok.description, "井盖缺失");
        assert_eq!(ok.intake.attributes["cover_type"], ["sewage"]);
        assert_eq!(ok.intake.media_url, "https://example.org/1.jpg");
        for (pairs, expect) in [
            (vec![("lat", "60.17"), ("long", "24.94")], "service_code: missing"),
            (
                vec![("service_code", "ufo"), ("lat", "60.17"), ("long", "24.94")],
                "service_code: \"ufo\" is not a service",
            ),
            (vec![("service_code", "noise"), ("long", "24.94")], "lat: missing"),
            (vec![("service_code", "noise"), ("lat", "north"), ("long", "24.94")], "lat: \"north\" is not a number"),
            (
                vec![("service_code", "noise"), ("lat", "36.88"), ("long", "118.79")],
                "long: (118.79, 36.88) lies outside the scene",
            ),
            (
                vec![("service_code", "manhole_damage"), ("lat", "60.17"), ("long", "24.94")],
                "attribute[cover_type]: required",
            ),
            (
                vec![("service_code", "dispute"), ("lat", "60.17"), ("long", "24.94"), ("media_url", "file:///etc")],
                "media_url: not an http",
            ),
        ] {
            let e = parse_request(&fields(&pairs), &f, b).unwrap_err();
            assert!(e.to_string().starts_with(expect), "{e}");
        }
    }

    #[test]
    fn times_round_trip() {
        let ms = parse_time("2026-11-22T08:00:00Z").unwrap();
        assert_eq!(format_time(ms), "2026-11-22T08:00:00Z");
    }
}
