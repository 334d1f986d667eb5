//! A display's coordinates: its subscription box in local metres, and WGS84 positions added to
//! the JSON form of what it is sent.

use gridwall_protocol::{Bbox, BboxCrs, EventKind, ServerMessage};
use gridwall_scene::coords::CoordError;

use crate::Backend;
use crate::backend::with_frame;

/// Why a subscription's box was refused.
#[derive(Debug, thiserror::Error)]
pub enum BboxError {
    #[error("{0:?} is not [west, south, east, north]")]
    NotABox([f64; 4]),
    #[error("{0:?} is not a WGS84 box")]
    NotWgs84([f64; 4]),
    #[error(transparent)]
    Coord(#[from] CoordError),
}

/// A subscription bbox in local metres, clipped to the area the server keeps points in (a box
/// larger than the city sees the whole city, and costs no more). A WGS84 box becomes the
/// envelope of its projected edges.
pub fn to_local_bbox(bbox: Bbox, crs: BboxCrs, state: &Backend) -> Result<Bbox, BboxError> {
    let [x0, y0, x1, y1] = state.area();
    let Bbox([w, s, e, n]) = local_bbox(bbox, crs, state)?;
    Ok(Bbox([w.clamp(x0, x1), s.clamp(y0, y1), e.clamp(x0, x1), n.clamp(y0, y1)]))
}

fn local_bbox(bbox: Bbox, crs: BboxCrs, state: &Backend) -> Result<Bbox, BboxError> {
    if !bbox.is_valid() {
        return Err(BboxError::NotABox(bbox.0));
    }
    match crs {
        BboxCrs::Local => Ok(bbox),
        BboxCrs::Wgs84 => {
            let [w, s, e, n] = bbox.0;
            if w < -180.0 || e > 180.0 || s < -90.0 || n > 90.0 {
                return Err(BboxError::NotWgs84(bbox.0));
            }
            state.with_frame(|f| {
                let mut out = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
                for k in 0..=8 {
                    let t = f64::from(k) / 8.0;
                    for (lon, lat) in
                        [(w + (e - w) * t, s), (w + (e - w) * t, n), (w, s + (n - s) * t), (e, s + (n - s) * t)]
                    {
                        let (x, y) = f.to_local(lon, lat)?;
                        out = [out[0].min(x), out[1].min(y), out[2].max(x), out[3].max(y)];
                    }
                }
                Ok::<_, BboxError>(Bbox(out))
            })
        }
    }
}

/// Fills `lon`/`lat` of every position in a message (the JSON form).
pub(super) fn add_wgs84(msg: &mut ServerMessage, crs: &str, origin: (f64, f64)) {
    let _ = with_frame(crs, origin, |f| {
        let put = |x: f64, y: f64, lon: &mut Option<f64>, lat: &mut Option<f64>| {
            if let Ok((a, b)) = f.to_wgs84(x, y) {
                *lon = Some((a * 1e7).round() / 1e7);
                *lat = Some((b * 1e7).round() / 1e7);
            }
        };
        let events = match msg {
            ServerMessage::Snapshot { patrols, incidents, .. } => {
                for p in patrols {
                    put(p.pos.x, p.pos.y, &mut p.pos.lon, &mut p.pos.lat);
                }
                for i in incidents {
                    put(i.x, i.y, &mut i.lon, &mut i.lat);
                }
                return Ok::<_, CoordError>(());
            }
            ServerMessage::Delta { moved, entered, events, .. } => {
                for p in moved {
                    put(p.x, p.y, &mut p.lon, &mut p.lat);
                }
                for p in entered {
                    put(p.pos.x, p.pos.y, &mut p.pos.lon, &mut p.pos.lat);
                }
                events
            }
            _ => return Ok(()),
        };
        for e in events {
            if let EventKind::IncidentOpened { incident } | EventKind::IncidentChanged { incident, .. } = &mut e.kind {
                put(incident.x, incident.y, &mut incident.lon, &mut incident.lat);
            }
        }
        Ok(())
    });
}
