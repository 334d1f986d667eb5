//! Open311 `GeoReport` v2 in XML, as the specification writes it: the same answers as the JSON
//! forms, with the spec's element names and nesting (`services/service`,
//! `service_requests/request`, `errors/error`, `discovery/endpoints/endpoint/formats/format`),
//! UTF-8, Chinese text as it is. Text that XML 1.0 cannot carry (control characters other than
//! tab and line breaks) is replaced by U+FFFD: a resident's description may hold anything.

use super::{Discovery, Open311Error, RequestCreated, Service, ServiceDefinition, ServiceRequest};

/// The media type of the XML answers.
pub const MEDIA_TYPE: &str = "text/xml; charset=utf-8";

struct Writer(String);

impl Writer {
    fn new(root: &str) -> Self {
        let mut w = Self(String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"));
        w.open(root);
        w
    }
    fn open(&mut self, tag: &str) {
        self.0.push('<');
        self.0.push_str(tag);
        self.0.push('>');
    }
    fn close(&mut self, tag: &str) {
        self.0.push_str("</");
        self.0.push_str(tag);
        self.0.push('>');
    }
    /// `<tag>text</tag>`, escaped; `<tag/>` when empty.
    fn leaf(&mut self, tag: &str, text: &str) {
        if text.is_empty() {
            self.0.push('<');
            self.0.push_str(tag);
            self.0.push_str("/>");
            return;
        }
        self.open(tag);
        for c in text.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&apos;"),
                '\t' | '\n' | '\r' => self.0.push(c),
                c if allowed(c) => self.0.push(c),
                _ => self.0.push('\u{FFFD}'),
            }
        }
        self.close(tag);
    }
    fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.0.push('\n');
        self.0
    }
}

/// Whether XML 1.0 allows a character (`Char` of the specification, tab and breaks apart).
fn allowed(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// `GET services.xml`.
pub fn services(list: &[Service]) -> String {
    let mut w = Writer::new("services");
    for s in list {
        w.open("service");
        w.leaf("service_code", &s.service_code);
        w.leaf("service_name", &s.service_name);
        w.leaf("description", &s.description);
        w.leaf("metadata", if s.metadata { "true" } else { "false" });
        w.leaf("type", &s.kind);
        w.leaf("keywords", &s.keywords);
        w.leaf("group", &s.group);
        w.close("service");
    }
    w.finish("services")
}

/// `GET services/{code}.xml`.
pub fn definition(d: &ServiceDefinition) -> String {
    let mut w = Writer::new("service_definition");
    w.leaf("service_code", &d.service_code);
    w.open("attributes");
    for a in &d.attributes {
        w.open("attribute");
        w.leaf("variable", if a.variable { "true" } else { "false" });
        w.leaf("code", &a.code);
        w.leaf("datatype", &a.datatype);
        w.leaf("required", if a.required { "true" } else { "false" });
        w.leaf("datatype_description", &a.datatype_description);
        w.leaf("order", &a.order.to_string());
        w.leaf("description", &a.description);
        w.open("values");
        for v in &a.values {
            w.open("value");
            w.leaf("key", &v.key);
            w.leaf("name", &v.name);
            w.close("value");
        }
        w.close("values");
        w.close("attribute");
    }
    w.close("attributes");
    w.finish("service_definition")
}

/// `GET requests.xml` and `GET requests/{id}.xml`.
pub fn requests(list: &[ServiceRequest]) -> String {
    let mut w = Writer::new("service_requests");
    for r in list {
        w.open("request");
        w.leaf("service_request_id", &r.service_request_id);
        w.leaf("status", &r.status);
        w.leaf("status_notes", &r.status_notes);
        w.leaf("service_name", &r.service_name);
        w.leaf("service_code", &r.service_code);
        w.leaf("description", &r.description);
        w.leaf("agency_responsible", &r.agency_responsible);
        w.leaf("requested_datetime", &r.requested_datetime);
        w.leaf("updated_datetime", &r.updated_datetime);
        w.leaf("lat", &r.lat.to_string());
        w.leaf("long", &r.long.to_string());
        w.leaf("media_url", &r.media_url);
        // gridwall's extension, as in JSON: clients that do not know it skip it.
        let g = &r.gridwall;
        w.open("gridwall");
        w.leaf("stage", &g.stage);
        w.leaf("stage_zh", &g.stage_zh);
        w.leaf("level", &g.level);
        w.leaf("grid", &g.grid);
        if let Some(d) = &g.deadline {
            w.leaf("deadline", d);
        }
        w.leaf("escalated", if g.escalated { "true" } else { "false" });
        if !g.attributes.is_empty() {
            w.open("attributes");
            for (code, values) in &g.attributes {
                for v in values {
                    w.open("attribute");
                    w.leaf("code", code);
                    w.leaf("value", v);
                    w.close("attribute");
                }
            }
            w.close("attributes");
        }
        if !g.media.is_empty() {
            w.open("media");
            for m in &g.media {
                w.leaf("url", m);
            }
            w.close("media");
        }
        w.close("gridwall");
        w.close("request");
    }
    w.finish("service_requests")
}

/// The answer to `POST requests.xml`.
pub fn created(list: &[RequestCreated]) -> String {
    let mut w = Writer::new("service_requests");
    for r in list {
        w.open("request");
        w.leaf("service_request_id", &r.service_request_id);
        w.leaf("service_notice", &r.service_notice);
        w.leaf("account_id", r.account_id.as_deref().unwrap_or_default());
        w.close("request");
    }
    w.finish("service_requests")
}

/// An error answer. The offending field, gridwall's addition, is named in the description too.
pub fn errors(list: &[Open311Error]) -> String {
    let mut w = Writer::new("errors");
    for e in list {
        w.open("error");
        w.leaf("code", &e.code.to_string());
        w.leaf("description", &e.description);
        w.leaf("field", &e.field);
        w.close("error");
    }
    w.finish("errors")
}

/// `GET discovery.xml`.
pub fn discovery(d: &Discovery) -> String {
    let mut w = Writer::new("discovery");
    w.leaf("changeset", &d.changeset);
    w.leaf("contact", &d.contact);
    w.leaf("key_service", &d.key_service);
    w.open("endpoints");
    for e in &d.endpoints {
        w.open("endpoint");
        w.leaf("specification", &e.specification);
        w.leaf("url", &e.url);
        w.leaf("changeset", &e.changeset);
        w.leaf("type", &e.kind);
        w.open("formats");
        for f in &e.formats {
            w.leaf("format", f);
        }
        w.close("formats");
        w.close("endpoint");
    }
    w.close("endpoints");
    w.finish("discovery")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::open311::Extension;

    #[test]
    fn an_empty_list_is_an_empty_root() {
        assert_eq!(services(&[]), "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<services></services>\n");
        assert!(requests(&[]).ends_with("<service_requests></service_requests>\n"));
    }

    #[test]
    fn text_is_escaped_and_what_xml_cannot_hold_is_replaced() {
        let r = ServiceRequest {
            service_request_id: "7".into(),
            status: "open".into(),
            status_notes: String::new(),
            service_code: "garbage".into(),
            service_name: "垃圾堆放".into(),
            description: "a<b & \"c\" 'd'\u{1}\u{FFFF}\n井盖".into(),
            agency_responsible: "网格 A-1".into(),
            requested_datetime: "2026-12-06T08:00:00Z".into(),
            updated_datetime: "2026-12-06T08:05:00Z".into(),
            lat: 36.5,
            long: 118.25,
            media_url: String::new(),
            gridwall: Extension {
                stage: "accepted".into(),
                stage_zh: "受理".into(),
                level: "cell".into(),
                grid: "A-1".into(),
                deadline: None,
                escalated: false,
                attributes: std::collections::BTreeMap::new(),
                media: Vec::new(),
            },
        };
        let x = requests(&[r]);
        assert!(
            x.contains("<description>a&lt;b &amp; &quot;c&quot; &apos;d&apos;\u{FFFD}\u{FFFD}\n井盖</description>"),
            "{x}"
        );
        assert!(x.contains("<status>open</status><status_notes/><service_name>垃圾堆放</service_name><service_code>garbage</service_code>"));
        assert!(x.contains("</description><agency_responsible>网格 A-1</agency_responsible><requested_datetime>"));
        assert!(x.contains("<lat>36.5</lat><long>118.25</long><media_url/>"));
        assert!(x.contains("<escalated>false</escalated></gridwall></request></service_requests>"));
        assert!(!x.contains("<deadline"));
    }

    #[test]
    fn created_and_errors_follow_the_spec() {
        let c = created(&[RequestCreated {
            service_request_id: "12".into(),
            service_notice: "已受理".into(),
            account_id: None,
        }]);
        assert!(c.contains("<request><service_request_id>12</service_request_id><service_notice>已受理</service_notice><account_id/></request>"));
        let e = errors(&[Open311Error { code: 400, description: "lat: missing".into(), field: "lat".into() }]);
        assert!(e.contains(
            "<errors><error><code>400</code><description>lat: missing</description><field>lat</field></error></errors>"
        ));
    }
}
