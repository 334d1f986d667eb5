//! The services residents and hotline systems file requests under (one per incident category),
//! their Open311 service definitions (the attributes a category asks for: a manhole cover's type
//! and what is wrong with it, the kind of rubbish, …) and the check of submitted attributes,
//! and what a request was filed with ([`Intake`]: the attributes, its photos, a photo's address).

use std::collections::BTreeMap;

use gridwall_protocol::IncidentCategory;
use gridwall_protocol::api::FiledAttribute;
use gridwall_protocol::api::open311::{Attribute, AttributeValue, Lang, Service, ServiceDefinition};
use serde::{Deserialize, Serialize};

use crate::ingest::{IngestError, parse_time};

/// Longest value of a `string` attribute (characters).
pub const MAX_STRING_CHARS: usize = 100;
/// Longest value of a `text` attribute (characters).
pub const MAX_TEXT_CHARS: usize = 1_000;
/// Most submitted attribute fields one request may carry (values of lists included).
pub const MAX_ATTRIBUTE_FIELDS: usize = 32;
/// Most photos one request may carry.
pub const MAX_PHOTOS: usize = 4;
/// Longest `media_url` accepted.
pub const MAX_MEDIA_URL: usize = 1_000;

/// What a request was filed with, beyond category, place and description: kept with the case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Intake {
    /// Submitted attributes of the service definition: code → values (one unless a
    /// `multivaluelist`), checked against it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Photos uploaded with the request, stored beside it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<Photo>,
    /// A photo's address the client gave (`media_url`, http or https), not fetched.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub media_url: String,
}

impl Intake {
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.photos.is_empty() && self.media_url.is_empty()
    }

    /// The same intake checked again as a request's is (a command from another server is no
    /// more trusted), required attributes apart: what is stored is what the checks give back
    /// (trimmed, once each, known codes only), and photos must be ones a server made.
    pub fn recheck(&self, category: IncidentCategory) -> Result<Self, IngestError> {
        if self.attributes.len() > MAX_ATTRIBUTE_FIELDS {
            return Err(IngestError::new(None, "attribute", "too many attributes"));
        }
        let sent = self.attributes.iter().flat_map(|(c, v)| v.iter().map(move |v| (c.as_str(), v.as_str())));
        let attributes = check_attributes(category, sent, true)?;
        let media_url = if self.media_url.is_empty() { String::new() } else { check_media_url(&self.media_url)? };
        let made_here = |p: &Photo| is_photo_id(&p.id) && (p.mime == "image/jpeg" || p.mime == "image/png");
        if self.photos.len() > MAX_PHOTOS || !self.photos.iter().all(made_here) {
            return Err(IngestError::new(None, "media", "too many photos, or a photo this server did not make"));
        }
        Ok(Self { attributes, photos: self.photos.clone(), media_url })
    }
}

/// A photo kept in the store: its id (the SHA-256 of the stored bytes, hex) and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    pub id: String,
    /// `image/jpeg` or `image/png`.
    pub mime: String,
    pub bytes: u32,
    pub width: u32,
    pub height: u32,
}

/// Whether a photo id is one this server makes: 64 lowercase hex digits.
pub fn is_photo_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What an attribute takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A line of text.
    String,
    /// A number within bounds.
    Number(f64, f64),
    /// An instant (RFC 3339).
    Datetime,
    /// Free text.
    Text,
    /// One of the choices.
    Single(&'static [Choice]),
    /// Any of the choices.
    Multi(&'static [Choice]),
}

/// One choice of a list: key, Chinese, English.
type Choice = (&'static str, &'static str, &'static str);

/// One attribute of a definition: code, kind, required, the question in Chinese and English.
struct Def {
    code: &'static str,
    kind: Kind,
    required: bool,
    zh: &'static str,
    en: &'static str,
}

const COVER_TYPES: &[Choice] = &[
    ("rain", "雨水", "Storm drain"),
    ("sewage", "污水", "Sewer"),
    ("water", "自来水", "Water supply"),
    ("power", "电力", "Power"),
    ("telecom", "通信", "Telecom"),
    ("gas", "燃气", "Gas"),
    ("heating", "热力", "District heating"),
    ("unknown", "不明", "Unknown"),
];
const COVER_FAULTS: &[Choice] = &[
    ("missing", "缺失", "Missing"),
    ("broken", "破损", "Broken"),
    ("displaced", "移位", "Displaced"),
    ("sunken", "沉陷", "Sunken or raised"),
    ("noisy", "松动异响", "Loose, rattles"),
];
const PLACES: &[Choice] = &[
    ("roadway", "机动车道", "Roadway"),
    ("cycle_lane", "非机动车道", "Cycle lane"),
    ("sidewalk", "人行道", "Sidewalk"),
    ("green", "绿化带", "Green strip"),
    ("yard", "小区内", "Residential yard"),
];
const WASTE: &[Choice] = &[
    ("household", "生活垃圾", "Household waste"),
    ("construction", "建筑垃圾", "Construction waste"),
    ("bulky", "大件垃圾", "Bulky waste"),
    ("hazardous", "有害垃圾", "Hazardous waste"),
    ("garden", "园林垃圾", "Garden waste"),
];
const BLOCKING: &[Choice] = &[
    ("fire_lane", "消防通道", "Fire lane"),
    ("sidewalk", "人行道", "Sidewalk"),
    ("crossing", "路口", "Junction"),
    ("bus_stop", "公交站", "Bus stop"),
    ("other", "其他", "Other"),
];
const DAMAGE_SIZES: &[Choice] = &[
    ("small", "小于1平方米", "Under 1 m²"),
    ("medium", "1至5平方米", "1 to 5 m²"),
    ("large", "大于5平方米", "Over 5 m²"),
];
const NOISE_SOURCES: &[Choice] = &[
    ("construction", "施工", "Construction"),
    ("commercial", "商业经营", "Shops, bars"),
    ("residential", "邻里生活", "Neighbours"),
    ("traffic", "交通", "Traffic"),
    ("other", "其他", "Other"),
];

/// The attributes a category asks for (none for most).
fn defs(category: IncidentCategory) -> &'static [Def] {
    use IncidentCategory as C;
    match category {
        C::ManholeDamage => &[
            Def {
                code: "cover_type",
                kind: Kind::Single(COVER_TYPES),
                required: true,
                zh: "井盖类型",
                en: "Type of cover",
            },
            Def { code: "fault", kind: Kind::Single(COVER_FAULTS), required: true, zh: "问题", en: "What is wrong" },
            Def { code: "place", kind: Kind::Single(PLACES), required: false, zh: "所在位置", en: "Where it lies" },
        ],
        C::Garbage => &[
            Def { code: "waste", kind: Kind::Multi(WASTE), required: false, zh: "垃圾种类", en: "Kind of waste" },
            Def {
                code: "volume_m3",
                kind: Kind::Number(0.0, 1_000.0),
                required: false,
                zh: "估计体积（立方米）",
                en: "Estimated volume (m³)",
            },
        ],
        C::IllegalParking => &[
            Def { code: "blocking", kind: Kind::Single(BLOCKING), required: true, zh: "占用", en: "What it blocks" },
            Def { code: "plate", kind: Kind::String, required: false, zh: "车牌号", en: "Number plate" },
        ],
        C::RoadDamage => &[
            Def {
                code: "size",
                kind: Kind::Single(DAMAGE_SIZES),
                required: false,
                zh: "破损面积",
                en: "Size of the damage",
            },
            Def { code: "place", kind: Kind::Single(PLACES), required: false, zh: "所在位置", en: "Where it lies" },
        ],
        C::StreetLightOut => {
            &[Def { code: "pole", kind: Kind::String, required: false, zh: "灯杆编号", en: "Number on the pole" }]
        }
        C::Noise => &[
            Def {
                code: "source", kind: Kind::Single(NOISE_SOURCES), required: false, zh: "噪音来源", en: "Source"
            },
            Def { code: "since", kind: Kind::Datetime, required: false, zh: "开始时间", en: "Since when" },
            Def { code: "details", kind: Kind::Text, required: false, zh: "补充说明", en: "More details" },
        ],
        _ => &[],
    }
}

fn pick(lang: Lang, zh: &'static str, en: &'static str) -> String {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
    .to_owned()
}

/// `GET services`: one service per incident category; `metadata` where it has a definition.
pub fn services(lang: Lang) -> Vec<Service> {
    IncidentCategory::ALL
        .iter()
        .map(|&c| Service {
            service_code: c.key().to_owned(),
            service_name: pick(lang, c.name_zh(), c.name_en()),
            description: match lang {
                Lang::Zh => format!("{} ({})", c.name_zh(), c.name_en()),
                Lang::En => c.name_en().to_owned(),
            },
            metadata: !defs(c).is_empty(),
            kind: "realtime".into(),
            keywords: {
                let en = c.name_en().to_lowercase();
                if en == c.key() {
                    format!("{},{}", c.key(), c.name_zh())
                } else {
                    format!("{},{},{en}", c.key(), c.name_zh())
                }
            },
            group: "grid".into(),
        })
        .collect()
}

/// `GET services/{code}`: the definition of a category that has one.
pub fn definition(category: IncidentCategory, lang: Lang) -> Option<ServiceDefinition> {
    let defs = defs(category);
    if defs.is_empty() {
        return None;
    }
    let attributes = defs
        .iter()
        .zip(1..)
        .map(|(d, order)| {
            let (datatype, datatype_description, values) = match d.kind {
                Kind::String => ("string", format!("≤ {MAX_STRING_CHARS}"), &[][..]),
                Kind::Text => ("text", format!("≤ {MAX_TEXT_CHARS}"), &[][..]),
                Kind::Number(lo, hi) => ("number", format!("{lo}–{hi}"), &[][..]),
                Kind::Datetime => ("datetime", "RFC 3339".to_owned(), &[][..]),
                Kind::Single(c) => ("singlevaluelist", String::new(), c),
                Kind::Multi(c) => ("multivaluelist", String::new(), c),
            };
            Attribute {
                variable: true,
                code: d.code.to_owned(),
                datatype: datatype.to_owned(),
                required: d.required,
                datatype_description,
                order,
                description: pick(lang, d.zh, d.en),
                values: values
                    .iter()
                    .map(|&(key, zh, en)| AttributeValue { key: key.to_owned(), name: pick(lang, zh, en) })
                    .collect(),
            }
        })
        .collect();
    Some(ServiceDefinition { service_code: category.key().to_owned(), attributes })
}

/// The attributes a case was filed with as lines to show, in the definition's order: the
/// question and the answers' names (a value the definition does not know is shown as sent).
pub fn describe(category: IncidentCategory, attributes: &BTreeMap<String, Vec<String>>) -> Vec<FiledAttribute> {
    defs(category)
        .iter()
        .filter_map(|d| {
            let values = attributes.get(d.code)?;
            let names = |en: bool| {
                values
                    .iter()
                    .map(|v| match d.kind {
                        Kind::Single(c) | Kind::Multi(c) => {
                            c.iter().find(|c| c.0 == v).map_or(v.as_str(), |c| if en { c.2 } else { c.1 })
                        }
                        _ => v.as_str(),
                    })
                    .collect::<Vec<_>>()
            };
            Some(FiledAttribute {
                code: d.code.to_owned(),
                label_zh: format!("{}：{}", d.zh, names(false).join("、")),
                label_en: format!("{}: {}", d.en, names(true).join(", ")),
            })
        })
        .collect()
}

/// The name of a submitted attribute field: `attribute[code]` or `attribute[code][]` → `code`.
pub fn attribute_code(field: &str) -> Option<&str> {
    let inner = field.strip_prefix("attribute[")?;
    let inner = inner.strip_suffix("[]").unwrap_or(inner);
    inner.strip_suffix(']')
}

/// Checks the submitted attributes (`code`, value pairs, in the order sent) against the
/// category's definition: every code known, every value of its type and within its bounds,
/// every required one there (unless `partial`: a command from another server, or a case opened
/// by other means than a request), one value unless a `multivaluelist` (whose repeated values
/// count once). Empty values count as not sent.
pub fn check_attributes<'a>(
    category: IncidentCategory,
    submitted: impl IntoIterator<Item = (&'a str, &'a str)>,
    partial: bool,
) -> Result<BTreeMap<String, Vec<String>>, IngestError> {
    let defs = defs(category);
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, (code, value)) in submitted.into_iter().enumerate() {
        let code: String = code.chars().take(crate::fields::MAX_CODE).collect();
        let code = code.as_str();
        let field = format!("attribute[{code}]");
        let bad = |m: String| IngestError::new(None, &field, m);
        if n >= MAX_ATTRIBUTE_FIELDS {
            return Err(bad(format!("at most {MAX_ATTRIBUTE_FIELDS} attribute values")));
        }
        let value = value.trim();
        let def = defs.iter().find(|d| d.code == code).ok_or_else(|| {
            bad(format!("{:?} has no attribute {code:?}; see services/{}.json", category.key(), category.key()))
        })?;
        if value.is_empty() {
            continue;
        }
        let ok = match def.kind {
            Kind::String | Kind::Text => {
                let max = if def.kind == Kind::String { MAX_STRING_CHARS } else { MAX_TEXT_CHARS };
                if value.chars().count() > max {
                    return Err(bad(format!("longer than {max} characters")));
                }
                true
            }
            Kind::Number(lo, hi) => value.parse::<f64>().is_ok_and(|v| v.is_finite() && (lo..=hi).contains(&v)),
            Kind::Datetime => parse_time(value).is_ok(),
            Kind::Single(c) | Kind::Multi(c) => c.iter().any(|&(k, _, _)| k == value),
        };
        if !ok {
            let expected = match def.kind {
                Kind::Number(lo, hi) => format!("a number from {lo} to {hi}"),
                Kind::Datetime => "a time such as 2026-12-06T08:00:00+08:00".to_owned(),
                Kind::Single(c) | Kind::Multi(c) => {
                    format!("one of {}", c.iter().map(|c| c.0).collect::<Vec<_>>().join(", "))
                }
                Kind::String | Kind::Text => unreachable!("any text within its length"),
            };
            let shown: String = value.chars().take(40).collect();
            return Err(bad(format!("{shown:?} is not {expected}")));
        }
        let values = out.entry(def.code.to_owned()).or_default();
        match def.kind {
            Kind::Multi(_) if values.iter().any(|v| v == value) => {}
            Kind::Multi(_) => values.push(value.to_owned()),
            _ if !values.is_empty() => return Err(bad("sent twice".into())),
            _ => values.push(value.to_owned()),
        }
    }
    if let Some(missing) = defs.iter().find(|d| !partial && d.required && !out.contains_key(d.code)) {
        return Err(IngestError::new(
            None,
            &format!("attribute[{}]", missing.code),
            format!("required for {}: {}", category.key(), missing.en.to_lowercase()),
        ));
    }
    Ok(out)
}

/// Checks a `media_url`: an absolute http or https address of printable characters, bounded.
pub fn check_media_url(url: &str) -> Result<String, IngestError> {
    let url = url.trim();
    let bad = |m: &str| IngestError::new(None, "media_url", m);
    if url.len() > MAX_MEDIA_URL {
        return Err(bad("too long"));
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && url.chars().all(|c| c.is_ascii_graphic()) => {
            Ok(url.to_owned())
        }
        _ => Err(bad("not an http or https address")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: IncidentCategory, pairs: &[(&str, &str)]) -> Result<BTreeMap<String, Vec<String>>, IngestError> {
        check_attributes(c, pairs.iter().copied(), false)
    }

    #[test]
    fn services_with_attributes_say_so_and_define_them() {
        let s = services(Lang::Zh);
        assert_eq!(s.len(), IncidentCategory::ALL.len());
        let manhole = s.iter().find(|s| s.service_code == "manhole_damage").unwrap();
        assert!(manhole.metadata);
        assert_eq!(manhole.service_name, "井盖破损丢失");
        assert!(!s.iter().find(|s| s.service_code == "dispute").unwrap().metadata);
        assert!(definition(IncidentCategory::Dispute, Lang::Zh).is_none());
        for c in IncidentCategory::ALL {
            assert_eq!(definition(c, Lang::En).is_some(), s.iter().any(|s| s.service_code == c.key() && s.metadata));
        }
        let d = definition(IncidentCategory::ManholeDamage, Lang::Zh).unwrap();
        assert_eq!(d.attributes[0].code, "cover_type");
        assert_eq!((d.attributes[0].datatype.as_str(), d.attributes[0].required), ("singlevaluelist", true));
        assert_eq!(d.attributes[0].values[0], AttributeValue { key: "rain".into(), name: "雨水".into() });
        assert_eq!(d.attributes.iter().map(|a| a.order).collect::<Vec<_>>(), [1, 2, 3]);
        let en = definition(IncidentCategory::Garbage, Lang::En).unwrap();
        assert_eq!(en.attributes[1].datatype, "number");
        assert_eq!(en.attributes[1].datatype_description, "0–1000");
    }

    #[test]
    fn submitted_attributes_are_checked_against_the_definition() {
        use IncidentCategory as C;
        let got = check(C::ManholeDamage, &[("cover_type", "sewage"), ("fault", "missing")]).unwrap();
        assert_eq!(got["cover_type"], ["sewage"]);
        let e = check(C::ManholeDamage, &[("cover_type", "sewage")]).unwrap_err();
        assert_eq!(e.field, "attribute[fault]");
        assert!(e.message.starts_with("required"), "{}", e.message);
        assert!(check_attributes(C::ManholeDamage, [("cover_type", "sewage")], true).is_ok(), "partial");
        let e = check(C::ManholeDamage, &[("cover_type", "gold"), ("fault", "missing")]).unwrap_err();
        assert!(e.message.contains("one of rain, sewage"), "{}", e.message);
        let e = check(C::ManholeDamage, &[("colour", "red")]).unwrap_err();
        assert_eq!(e.field, "attribute[colour]");
        let e = check(C::Dispute, &[("anything", "x")]).unwrap_err();
        assert!(e.message.contains("no attribute"));
        assert!(check(C::Dispute, &[]).unwrap().is_empty());
        // A multi-value list keeps each value once; a single one may not be sent twice.
        let got = check(C::Garbage, &[("waste", "bulky"), ("waste", "garden"), ("waste", "bulky")]).unwrap();
        assert_eq!(got["waste"], ["bulky", "garden"]);
        let shown = describe(C::Garbage, &got);
        assert_eq!(
            (shown[0].label_zh.as_str(), shown[0].label_en.as_str()),
            ("垃圾种类：大件垃圾、园林垃圾", "Kind of waste: Bulky waste, Garden waste")
        );
        let e = check(C::IllegalParking, &[("blocking", "sidewalk"), ("blocking", "crossing")]).unwrap_err();
        assert_eq!(e.message, "sent twice");
        // Numbers within bounds, times as RFC 3339, text within its length.
        assert!(check(C::Garbage, &[("volume_m3", "2.5")]).is_ok());
        for bad in ["-1", "1e9", "NaN", "inf", "two"] {
            assert!(check(C::Garbage, &[("volume_m3", bad)]).is_err(), "{bad}");
        }
        assert!(check(C::Noise, &[("source", "traffic"), ("since", "2026-12-06T22:00:00+08:00")]).is_ok());
        assert!(check(C::Noise, &[("source", "traffic"), ("since", "yesterday")]).is_err());
        let long = "字".repeat(MAX_STRING_CHARS + 1);
        assert!(check(C::StreetLightOut, &[("pole", &long)]).is_err());
        assert!(check(C::StreetLightOut, &[("pole", &long[..3 * MAX_STRING_CHARS])]).is_ok());
        // Empty values count as not sent (a form's untouched optional field).
        assert!(check(C::RoadDamage, &[("size", ""), ("place", " ")]).unwrap().is_empty());
        let many: Vec<(&str, &str)> = (0..=MAX_ATTRIBUTE_FIELDS).map(|_| ("waste", "bulky")).collect();
        assert!(check(C::Garbage, &many).is_err());
    }

    #[test]
    fn attribute_fields_and_media_urls_are_read_strictly() {
        assert_eq!(attribute_code("attribute[cover_type]"), Some("cover_type"));
        assert_eq!(attribute_code("attribute[waste][]"), Some("waste"));
        assert_eq!(attribute_code("attributes[x]"), None);
        assert_eq!(attribute_code("attribute[x"), None);
        assert!(check_media_url("https://example.org/p/1.jpg").is_ok());
        for bad in ["ftp://x/y", "javascript:alert(1)", "https://", "https:///x", "http://a b", "/local/file"] {
            assert!(check_media_url(bad).is_err(), "{bad}");
        }
        assert!(check_media_url(&format!("https://x/{}", "a".repeat(MAX_MEDIA_URL))).is_err());
    }
}
