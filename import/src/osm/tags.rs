//! What OSM tags mean for a scene: component candidates, lengths, building heights, water.

use super::HeightSource;

/// Tags of a point node worth keeping as a candidate component.
pub fn is_component_candidate(tags: &[(&str, &str)]) -> bool {
    tags.iter().any(|&(k, v)| {
        matches!(
            (k, v),
            ("highway", "street_lamp" | "bus_stop" | "traffic_signals")
                | ("emergency", "fire_hydrant")
                | ("amenity", "waste_basket" | "bench" | "recycling" | "toilets" | "waste_disposal")
                | ("man_made", "surveillance" | "manhole" | "street_cabinet")
                | ("manhole", _)
                | ("power", "substation" | "transformer")
        )
    })
}

pub(super) fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Parses OSM length values: `12`, `12.5 m`, `12,5`, `40'` (feet).
pub fn parse_length(value: &str) -> Option<f64> {
    let v = value.trim().replace(',', ".");
    if let Some(feet) = v.strip_suffix('\'') {
        return feet.trim().parse::<f64>().ok().map(|f| f * 0.3048).filter(|h| h.is_finite() && *h >= 0.0);
    }
    let num: String = v.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-').collect();
    num.parse::<f64>().ok().filter(|h| h.is_finite() && *h >= 0.0)
}

/// Storey height used with `building:levels`.
pub const LEVEL_HEIGHT_M: f64 = 3.0;

/// Default number of storeys when a building has neither `height` nor `building:levels`:
/// 1 for garages, sheds, kiosks, roofs and the like; 2 for houses; 3 otherwise.
pub fn default_levels(kind: &str) -> f64 {
    match kind {
        "garage" | "garages" | "shed" | "kiosk" | "roof" | "carport" | "hut" | "cabin" | "toilets" | "service" => 1.0,
        "house" | "detached" | "semidetached_house" | "terrace" | "bungalow" | "farm" => 2.0,
        _ => 3.0,
    }
}

pub(super) fn building_heights(tags: &[(String, String)]) -> (f64, f64, HeightSource) {
    let kind = tag(tags, "building").unwrap_or("yes");
    let min_height = tag(tags, "min_height")
        .and_then(parse_length)
        .or_else(|| tag(tags, "building:min_level").and_then(parse_length).map(|l| l * LEVEL_HEIGHT_M))
        .unwrap_or(0.0);
    let roof_levels = tag(tags, "roof:levels").and_then(parse_length).unwrap_or(0.0);
    let (height, source) = if let Some(h) = tag(tags, "height").and_then(parse_length).filter(|h| *h > 0.0) {
        (h, HeightSource::Height)
    } else if let Some(l) = tag(tags, "building:levels").and_then(parse_length).filter(|l| *l > 0.0) {
        ((l + roof_levels) * LEVEL_HEIGHT_M, HeightSource::Levels)
    } else {
        (default_levels(kind) * LEVEL_HEIGHT_M, HeightSource::Default)
    };
    let height = height.max(min_height + 1.0);
    (height, min_height, source)
}

pub(super) fn is_water_area(tags: &[(String, String)]) -> bool {
    tag(tags, "natural") == Some("water")
        || tag(tags, "waterway") == Some("riverbank")
        || tag(tags, "water").is_some()
        || matches!(tag(tags, "landuse"), Some("reservoir" | "basin"))
        || tag(tags, "leisure") == Some("swimming_pool") && tag(tags, "indoor") != Some("yes")
}

pub(super) fn water_line_width(tags: &[(String, String)]) -> Option<f64> {
    if tag(tags, "tunnel").is_some() || tag(tags, "location") == Some("underground") {
        return None;
    }
    let default = match tag(tags, "waterway")? {
        "river" => 20.0,
        "canal" => 10.0,
        "stream" => 3.0,
        _ => return None,
    };
    Some(tag(tags, "width").and_then(parse_length).unwrap_or(default))
}

pub(super) fn owned_tags<'a>(it: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    it.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_parse_like_osm_writes_them() {
        assert_eq!(parse_length("12"), Some(12.0));
        assert_eq!(parse_length("12.5 m"), Some(12.5));
        assert_eq!(parse_length("7,5"), Some(7.5));
        assert!((parse_length("10'").unwrap() - 3.048).abs() < 1e-9);
        assert_eq!(parse_length("tall"), None);
    }

    #[test]
    fn heights_prefer_height_then_levels_then_default() {
        let t = |pairs: &[(&str, &str)]| owned_tags(pairs.iter().copied());
        assert_eq!(building_heights(&t(&[("building", "yes"), ("height", "21"), ("building:levels", "3")])).0, 21.0);
        let (h, _, src) = building_heights(&t(&[("building", "yes"), ("building:levels", "5")]));
        assert_eq!((h, src), (15.0, HeightSource::Levels));
        let (h, _, src) = building_heights(&t(&[("building", "garage")]));
        assert_eq!((h, src), (3.0, HeightSource::Default));
    }
}
