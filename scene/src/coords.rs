//! Coordinate systems gridwall accepts, and the one place that converts between them.
//!
//! * WGS84 longitude/latitude (GPS, OpenStreetMap).
//! * GCJ-02, the obfuscated datum required for Chinese web maps (Amap/高德, Tencent), and
//!   BD-09, Baidu's further offset of GCJ-02. Both are closed-form (GCJ-02's inverse is iterated to
//!   sub-millimetre agreement).
//! * Any projected CRS PROJ knows (CGCS2000 3-degree Gauss-Krüger such as EPSG:4549 for 120°E,
//!   UTM, …). A scene states its CRS; its *local* metres are that CRS shifted to the scene origin,
//!   x east, y north.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use proj::Proj;
use serde::{Deserialize, Serialize};

/// Errors of coordinate handling.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error("PROJ cannot build a transformation between {from} and {to}: {source}")]
    Create { from: String, to: String, source: proj::ProjCreateError },
    #[error("PROJ failed to transform ({x}, {y}): {source}")]
    Transform { x: f64, y: f64, source: proj::ProjError },
    #[error("PROJ transformed ({x}, {y}) to a point that is not finite")]
    NotFinite { x: f64, y: f64 },
    #[error("unknown coordinate system {0:?} (expected wgs84, gcj02, bd09 or EPSG:NNNN)")]
    UnknownCrs(String),
    #[error("longitude {lon} / latitude {lat} out of range")]
    OutOfRange { lon: f64, lat: f64 },
}

/// The systems a user may hand us geographic input in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InputCrs {
    #[default]
    Wgs84,
    Gcj02,
    Bd09,
}

impl FromStr for InputCrs {
    type Err = CoordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Every fix of a batch may name its system: the usual spellings take no allocation.
        for (name, crs) in [("wgs84", Self::Wgs84), ("gcj02", Self::Gcj02), ("bd09", Self::Bd09)] {
            if s.eq_ignore_ascii_case(name) {
                return Ok(crs);
            }
        }
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "wgs84" | "epsg:4326" | "4326" => Ok(Self::Wgs84),
            "gcj02" | "gcj" | "mars" => Ok(Self::Gcj02),
            "bd09" | "bd09ll" | "baidu" => Ok(Self::Bd09),
            _ => Err(CoordError::UnknownCrs(s.to_owned())),
        }
    }
}

impl fmt::Display for InputCrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Wgs84 => "wgs84",
            Self::Gcj02 => "gcj02",
            Self::Bd09 => "bd09",
        })
    }
}

/// Checks that a longitude/latitude pair is a real place.
pub fn check_lon_lat(lon: f64, lat: f64) -> Result<(), CoordError> {
    if lon.is_finite() && lat.is_finite() && (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) {
        Ok(())
    } else {
        Err(CoordError::OutOfRange { lon, lat })
    }
}

/// Converts a geographic point in `crs` to WGS84 (lon, lat).
pub fn to_wgs84(crs: InputCrs, lon: f64, lat: f64) -> Result<(f64, f64), CoordError> {
    check_lon_lat(lon, lat)?;
    Ok(match crs {
        InputCrs::Wgs84 => (lon, lat),
        InputCrs::Gcj02 => gcj02_to_wgs84(lon, lat),
        InputCrs::Bd09 => {
            let (glon, glat) = bd09_to_gcj02(lon, lat);
            gcj02_to_wgs84(glon, glat)
        }
    })
}

// GCJ-02: Krasovsky 1940 ellipsoid parameters used by the published algorithm.
const GCJ_A: f64 = 6378245.0;
const GCJ_EE: f64 = 0.006693421622965943;

/// GCJ-02 leaves points outside mainland China unshifted.
pub fn outside_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn gcj_offset(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon - 105.0;
    let y = lat - 35.0;
    let common = (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    let mut dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    dlat += common;
    dlat += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    dlat += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    let mut dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    dlon += common;
    dlon += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    dlon += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - GCJ_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrt_magic) * PI);
    let dlon = (dlon * 180.0) / (GCJ_A / sqrt_magic * rad_lat.cos() * PI);
    (dlon, dlat)
}

/// WGS84 → GCJ-02.
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    let (dlon, dlat) = gcj_offset(lon, lat);
    (lon + dlon, lat + dlat)
}

/// GCJ-02 → WGS84, by fixed-point iteration to better than 1e-9° (0.1 mm).
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    let (mut wlon, mut wlat) = (lon, lat);
    for _ in 0..30 {
        let (glon, glat) = wgs84_to_gcj02(wlon, wlat);
        let (elon, elat) = (glon - lon, glat - lat);
        wlon -= elon;
        wlat -= elat;
        if elon.abs() < 1e-10 && elat.abs() < 1e-10 {
            break;
        }
    }
    (wlon, wlat)
}

const BD_X_PI: f64 = PI * 3000.0 / 180.0;

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * BD_X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * BD_X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// BD-09 → GCJ-02.
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon - 0.0065;
    let y = lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * BD_X_PI).cos();
    (z * theta.cos(), z * theta.sin())
}

/// The UTM zone CRS (WGS84 / UTM) containing a point, e.g. `EPSG:32635` for Helsinki.
pub fn utm_crs_for(lon: f64, lat: f64) -> String {
    let zone = (((lon + 180.0) / 6.0).floor() as i32).clamp(0, 59) + 1;
    if lat >= 0.0 { format!("EPSG:326{zone:02}") } else { format!("EPSG:327{zone:02}") }
}

/// A scene's frame: WGS84 ⇄ projected CRS ⇄ local metres around an origin.
///
/// Not `Sync` (PROJ contexts are per thread); build one per thread with [`SceneFrame::new`].
pub struct SceneFrame {
    crs: String,
    origin: (f64, f64),
    forward: Proj,
    inverse: Proj,
}

impl fmt::Debug for SceneFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SceneFrame").field("crs", &self.crs).field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl SceneFrame {
    /// A frame for `crs` (anything PROJ accepts, e.g. `EPSG:4549`) with local (0, 0) at the projected
    /// coordinates `origin` (easting, northing).
    pub fn new(crs: &str, origin: (f64, f64)) -> Result<Self, CoordError> {
        let make = |from: &str, to: &str| {
            Proj::new_known_crs(from, to, None).map_err(|source| CoordError::Create {
                from: from.to_owned(),
                to: to.to_owned(),
                source,
            })
        };
        Ok(Self { crs: crs.to_owned(), origin, forward: make("EPSG:4326", crs)?, inverse: make(crs, "EPSG:4326")? })
    }

    /// A frame whose origin is the projection of a WGS84 point, rounded to whole metres.
    pub fn centred_on(crs: &str, lon: f64, lat: f64) -> Result<Self, CoordError> {
        let mut frame = Self::new(crs, (0.0, 0.0))?;
        let (e, n) = frame.project(lon, lat)?;
        frame.origin = (e.round(), n.round());
        Ok(frame)
    }

    pub fn crs(&self) -> &str {
        &self.crs
    }

    /// Projected coordinates of the local origin.
    pub fn origin(&self) -> (f64, f64) {
        self.origin
    }

    /// WGS84 → projected CRS (easting, northing).
    pub fn project(&self, lon: f64, lat: f64) -> Result<(f64, f64), CoordError> {
        check_lon_lat(lon, lat)?;
        let (e, n) =
            self.forward.convert((lon, lat)).map_err(|source| CoordError::Transform { x: lon, y: lat, source })?;
        if e.is_finite() && n.is_finite() { Ok((e, n)) } else { Err(CoordError::NotFinite { x: lon, y: lat }) }
    }

    /// WGS84 → local metres.
    pub fn to_local(&self, lon: f64, lat: f64) -> Result<(f64, f64), CoordError> {
        let (e, n) = self.project(lon, lat)?;
        Ok((e - self.origin.0, n - self.origin.1))
    }

    /// Any accepted geographic input → local metres.
    pub fn input_to_local(&self, crs: InputCrs, lon: f64, lat: f64) -> Result<(f64, f64), CoordError> {
        let (lon, lat) = to_wgs84(crs, lon, lat)?;
        self.to_local(lon, lat)
    }

    /// Many WGS84 points → local metres, in place, in one call into PROJ (a batch of position
    /// fixes: the per-call overhead is paid once). Where a point fails, the first that does and
    /// why (the points are then as they were).
    pub fn many_to_local(&self, points: &mut [(f64, f64)]) -> Result<(), (usize, CoordError)> {
        for (i, &(lon, lat)) in points.iter().enumerate() {
            check_lon_lat(lon, lat).map_err(|e| (i, e))?;
        }
        let sent = points.to_vec();
        if self.forward.convert_array(points).is_err() {
            // PROJ leaves the points alone when one fails: one by one, to say which.
            for (i, p) in points.iter_mut().enumerate() {
                *p = self.to_local(p.0, p.1).map_err(|e| (i, e))?;
            }
            return Ok(());
        }
        for (i, p) in points.iter_mut().enumerate() {
            if !(p.0.is_finite() && p.1.is_finite()) {
                return Err((i, CoordError::NotFinite { x: sent[i].0, y: sent[i].1 }));
            }
            *p = (p.0 - self.origin.0, p.1 - self.origin.1);
        }
        Ok(())
    }

    /// Local metres → WGS84 (lon, lat).
    pub fn to_wgs84(&self, x: f64, y: f64) -> Result<(f64, f64), CoordError> {
        self.inverse.convert((x + self.origin.0, y + self.origin.1)).map_err(|source| CoordError::Transform {
            x,
            y,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f64, f64), b: (f64, f64), tol: f64) -> bool {
        (a.0 - b.0).abs() <= tol && (a.1 - b.1).abs() <= tol
    }

    // Reference values published with the widely used `coordtransform` implementations
    // (wandergis/coordtransform; the Rust port coordtransform_rs tests the same numbers).
    #[test]
    fn gcj02_and_bd09_match_published_reference_points() {
        assert!(close(wgs84_to_gcj02(116.404, 39.915), (116.41024449916938, 39.91640428150164), 1e-9));
        assert!(close(gcj02_to_bd09(116.404, 39.915), (116.41036949371029, 39.92133699351021), 1e-9));
        assert!(close(bd09_to_gcj02(116.404, 39.915), (116.39762729119315, 39.90865673957631), 1e-9));
        // gcoord's GCJ-02 → WGS84 check point (exact inverse; gcoord tests to 1e-5).
        assert!(close(gcj02_to_wgs84(123.0, 45.0), (122.99395597, 44.99804071), 1e-5));
    }

    #[test]
    fn gcj02_inverse_round_trips_to_sub_millimetre() {
        for &(lon, lat) in
            &[(118.791, 36.8868), (117.1201, 36.6512), (121.5272106, 31.1774276), (113.912316, 22.543847)]
        {
            let (glon, glat) = wgs84_to_gcj02(lon, lat);
            let back = gcj02_to_wgs84(glon, glat);
            assert!(close(back, (lon, lat), 1e-9), "{back:?} vs {lon},{lat}");
            // The published BD-09 pair is not an exact inverse: ~2e-7° (2 cm) is its precision.
            let (blon, blat) = gcj02_to_bd09(glon, glat);
            let via_bd = to_wgs84(InputCrs::Bd09, blon, blat).unwrap();
            assert!(close(via_bd, (lon, lat), 5e-7), "{via_bd:?}");
        }
    }

    #[test]
    fn outside_china_is_not_shifted() {
        assert_eq!(wgs84_to_gcj02(24.94, 60.17), (24.94, 60.17));
        assert_eq!(gcj02_to_wgs84(24.94, 60.17), (24.94, 60.17));
    }

    #[test]
    fn utm_zone_selection() {
        assert_eq!(utm_crs_for(24.94, 60.17), "EPSG:32635");
        assert_eq!(utm_crs_for(118.79, 36.89), "EPSG:32650");
        assert_eq!(utm_crs_for(-43.2, -22.9), "EPSG:32723");
    }

    // Reference values from PROJ 9.1 `cs2cs -f %.4f EPSG:4326 <crs>` (authority axis order, swapped
    // here to easting, northing).
    #[test]
    fn projections_match_proj_reference_values_to_1cm() {
        let cases = [
            ("EPSG:32635", 24.9384, 60.1699, 385611.3167, 6672118.3803),
            ("EPSG:4549", 117.1201, 36.6512, 242457.7007, 4061668.7082),
            ("EPSG:4549", 118.7910, 36.8868, 392223.3108, 4084631.0120),
            ("EPSG:4547", 114.3055, 30.5928, 529299.8603, 3385869.4534),
        ];
        for (crs, lon, lat, e, n) in cases {
            let frame = SceneFrame::new(crs, (0.0, 0.0)).unwrap();
            let got = frame.project(lon, lat).unwrap();
            assert!(close(got, (e, n), 0.01), "{crs}: {got:?} vs ({e}, {n})");
            let back = frame.to_wgs84(got.0, got.1).unwrap();
            assert!(close(back, (lon, lat), 1e-9), "{crs} inverse: {back:?}");
        }
    }

    #[test]
    fn local_frame_is_centred() {
        let frame = SceneFrame::centred_on("EPSG:32635", 24.9384, 60.1699).unwrap();
        assert_eq!(frame.origin(), (385611.0, 6672118.0));
        let (x, y) = frame.to_local(24.9384, 60.1699).unwrap();
        assert!(x.abs() < 0.5 && y.abs() < 0.5);
        let (x2, y2) = frame.to_local(24.9484, 60.1699).unwrap();
        // 0.01° of longitude at 60°N is 556.6 m on the ellipsoid (UTM scale ~0.9996 here).
        let d = (x2 - x).hypot(y2 - y);
        assert!((d - 556.6).abs() < 2.0, "{d}");
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(to_wgs84(InputCrs::Wgs84, 200.0, 0.0).is_err());
        assert!(to_wgs84(InputCrs::Gcj02, f64::NAN, 0.0).is_err());
        assert!("gcj-02".parse::<InputCrs>().is_ok());
        assert!("mercator".parse::<InputCrs>().is_err());
        assert!(SceneFrame::new("EPSG:999999", (0.0, 0.0)).is_err());
    }

    #[test]
    fn a_batch_projects_as_each_point_does_and_names_the_one_that_fails() {
        let frame = SceneFrame::centred_on("EPSG:4549", 118.35, 35.05).unwrap();
        let inputs: Vec<(f64, f64)> =
            (0..50).map(|i| (118.3 + f64::from(i) * 0.002, 35.0 + f64::from(i) * 0.001)).collect();
        let mut batch = inputs.clone();
        frame.many_to_local(&mut batch).unwrap();
        for (got, &(lon, lat)) in batch.iter().zip(&inputs) {
            assert_eq!(*got, frame.to_local(lon, lat).unwrap());
        }
        let mut bad = inputs.clone();
        bad[7] = (f64::NAN, 35.0);
        assert!(matches!(frame.many_to_local(&mut bad), Err((7, CoordError::OutOfRange { .. }))));
        frame.many_to_local(&mut []).unwrap();
    }
}
