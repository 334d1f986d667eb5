//! Open311 `GeoReport` v2 in both of the specification's formats, over real sockets: every
//! method in JSON and XML (element names and nesting as the spec's examples write them, empty
//! lists, errors in the format asked), `jurisdiction_id`, the discovery document, and
//! `updated_after` / `updated_before` for integrators that poll.

use gridwall_testkit::now_ms;
use gridwall_testkit::server::{TestServer as Server, agent, urlencode};
use serde_json::{Value, json as j};

/// A GET or POST: the status, the content type and the body.
fn fetch(s: &Server, method: &str, path: &str, ctype: &str, body: &[u8]) -> (u16, String, String) {
    let a = agent();
    let mut res = if method == "GET" {
        a.get(&s.url(path)).call().unwrap()
    } else {
        a.post(&s.url(path)).header("content-type", ctype).send(body).unwrap()
    };
    let kind = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (res.status().as_u16(), kind, res.body_mut().read_to_string().unwrap())
}

fn get(s: &Server, path: &str) -> (u16, String, String) {
    fetch(s, "GET", path, "", b"")
}

/// The children of `node` with element names, as (name, text) pairs.
fn fields<'a>(node: roxmltree::Node<'a, 'a>) -> Vec<(&'a str, &'a str)> {
    node.children().filter(roxmltree::Node::is_element).map(|c| (c.tag_name().name(), c.text().unwrap_or(""))).collect()
}

fn children<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    node.children().filter(|c| c.is_element() && c.tag_name().name() == name).collect()
}

fn form(s: &Server, code: &str, x: f64, y: f64, description: &str) -> String {
    let (lon, lat) = s.lonlat(x, y);
    format!("service_code={code}&lat={lat}&long={lon}&description={}", urlencode(description))
}

#[test]
fn every_method_answers_in_json_and_in_xml_as_the_spec_writes_it() {
    let s = Server::start(|_| {});

    // Services: the same list in both formats, the spec's element names in its order.
    let (st, kind, body) = get(&s, "/open311/v2/services.xml");
    assert_eq!((st, kind.as_str()), (200, "text/xml; charset=utf-8"));
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "services");
    let services = children(doc.root_element(), "service");
    let json: Value = serde_json::from_str(&get(&s, "/open311/v2/services.json").2).unwrap();
    assert_eq!(services.len(), json.as_array().unwrap().len());
    let names: Vec<&str> = fields(services[0]).iter().map(|f| f.0).collect();
    assert_eq!(names, ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]);
    let manhole = services.iter().find(|n| fields(**n).contains(&("service_code", "manhole_damage"))).unwrap();
    assert!(fields(*manhole).contains(&("service_name", "井盖破损丢失")), "{:?}", fields(*manhole));

    // A request posted as a form to requests.xml is answered in XML.
    let (st, kind, body) = fetch(
        &s,
        "POST",
        "/open311/v2/requests.xml",
        "application/x-www-form-urlencoded",
        form(&s, "garbage", 10.0, 20.0, "垃圾满溢 <已三天> & 无人清运").as_bytes(),
    );
    assert_eq!(st, 201, "{body}");
    assert!(kind.starts_with("text/xml"));
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    let created = children(doc.root_element(), "request");
    assert_eq!(created.len(), 1);
    let f = fields(created[0]);
    assert_eq!(f.iter().map(|f| f.0).collect::<Vec<_>>(), ["service_request_id", "service_notice", "account_id"]);
    let id: u64 = f[0].1.parse().unwrap();
    assert_eq!(f[1].1, "已受理");

    // A JSON body to requests.json is answered in JSON, as before.
    let (lon, lat) = s.lonlat(-40.0, 30.0);
    let (st, _, body) = fetch(
        &s,
        "POST",
        "/open311/v2/requests.json",
        "application/json",
        j!({"service_code":"noise","lat":lat.to_string(),"long":lon.to_string(),"description":"噪音"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(st, 201, "{body}");
    let noise: u64 =
        serde_json::from_str::<Value>(&body).unwrap()[0]["service_request_id"].as_str().unwrap().parse().unwrap();

    // One request, both formats: the same fields, Chinese and markup intact.
    let (st, kind, body) = get(&s, &format!("/open311/v2/requests/{id}.xml"));
    assert_eq!(st, 200);
    assert!(kind.starts_with("text/xml"));
    let doc = roxmltree::Document::parse(&body).unwrap();
    let reqs = children(doc.root_element(), "request");
    assert_eq!(reqs.len(), 1);
    let f = fields(reqs[0]);
    let field = |k: &str| f.iter().find(|x| x.0 == k).map_or_else(|| panic!("no {k} in {f:?}"), |x| x.1);
    assert_eq!(field("description"), "垃圾满溢 <已三天> & 无人清运");
    assert_eq!(field("status"), "open");
    assert_eq!(field("service_code"), "garbage");
    let json: Value = serde_json::from_str(&get(&s, &format!("/open311/v2/requests/{id}.json")).2).unwrap();
    assert_eq!(json[0]["requested_datetime"].as_str().unwrap(), field("requested_datetime"));
    assert_eq!(json[0]["lat"].as_f64().unwrap(), field("lat").parse::<f64>().unwrap());
    assert_eq!(json[0]["long"].as_f64().unwrap(), field("long").parse::<f64>().unwrap());
    let ext = children(reqs[0], "gridwall");
    assert!(fields(ext[0]).contains(&("stage", "accepted")));
    // The public steps and who has the case, in Chinese unless English is preferred.
    assert!(field("status_notes").ends_with(" 受理"), "{f:?}");
    assert!(field("agency_responsible").starts_with("网格 "), "{f:?}");
    let mut res = agent()
        .get(&s.url(&format!("/open311/v2/requests/{id}.json")))
        .header("accept-language", "en-GB,en;q=0.9,zh;q=0.5")
        .call()
        .unwrap();
    assert_eq!(res.headers().get("vary").unwrap(), "accept-language");
    let en: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    assert!(en[0]["status_notes"].as_str().unwrap().ends_with(" accepted"), "{en}");
    assert_eq!(en[0]["service_name"], "Garbage");
    assert!(en[0]["agency_responsible"].as_str().unwrap().starts_with("Grid cell "));

    // Lists: filtered, and an empty list is an empty root.
    let (_, _, body) = get(&s, "/open311/v2/requests.xml?service_code=noise");
    let doc = roxmltree::Document::parse(&body).unwrap();
    let ids: Vec<String> = children(doc.root_element(), "request")
        .iter()
        .map(|r| fields(*r).iter().find(|f| f.0 == "service_request_id").unwrap().1.to_owned())
        .collect();
    assert_eq!(ids, [noise.to_string()]);
    let (st, _, body) = get(&s, "/open311/v2/requests.xml?service_code=road_damage");
    assert_eq!(st, 200);
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    assert_eq!(doc.root_element().children().filter(roxmltree::Node::is_element).count(), 0);

    // jurisdiction_id: this server's is accepted, another is refused in the format asked.
    assert_eq!(get(&s, "/open311/v2/services.json?jurisdiction_id=helsinki").0, 200);
    // A client configured without one sends it empty (the Python `open311` package does).
    assert_eq!(get(&s, "/open311/v2/services.xml?jurisdiction_id=").0, 200);
    let (st, _, body) = get(&s, "/open311/v2/requests.xml?jurisdiction_id=elsewhere.example");
    assert_eq!(st, 404);
    let doc = roxmltree::Document::parse(&body).unwrap();
    let err = children(doc.root_element(), "error");
    assert!(fields(err[0]).contains(&("code", "404")));
    let (st, _, body) = fetch(
        &s,
        "POST",
        "/open311/v2/requests.json",
        "application/x-www-form-urlencoded",
        format!("{}&jurisdiction_id=elsewhere", form(&s, "garbage", 0.0, 0.0, "x")).as_bytes(),
    );
    assert_eq!(st, 404, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()[0]["code"], 404);
    let (st, _, _) = get(&s, &format!("/open311/v2/requests/{id}.json?jurisdiction_id=helsinki"));
    assert_eq!(st, 200);
}

#[test]
fn errors_come_in_the_format_asked_and_change_nothing() {
    let s = Server::start(|_| {});
    // No such request.
    let (st, kind, body) = get(&s, "/open311/v2/requests/999.xml");
    assert_eq!(st, 404);
    assert!(kind.starts_with("text/xml"));
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "errors");
    let e = fields(children(doc.root_element(), "error")[0]);
    assert_eq!(e[0], ("code", "404"));
    assert!(e[1].1.contains("no request 999"), "{e:?}");
    // A request with no place, to the XML and the JSON form.
    let (st, _, body) = fetch(
        &s,
        "POST",
        "/open311/v2/requests.xml",
        "application/x-www-form-urlencoded",
        b"service_code=garbage&description=x",
    );
    assert_eq!(st, 400);
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert!(fields(children(doc.root_element(), "error")[0]).contains(&("code", "400")));
    let (st, _, body) = fetch(
        &s,
        "POST",
        "/open311/v2/requests.json",
        "application/x-www-form-urlencoded",
        b"service_code=garbage&description=x",
    );
    assert_eq!(st, 400);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()[0]["code"], 400);
    // A bad filter, an unknown resource and a write to a read-only one.
    let (st, _, body) = get(&s, "/open311/v2/requests.xml?status=maybe");
    assert_eq!(st, 400);
    assert!(body.contains("<errors><error><code>400</code>"), "{body}");
    assert_eq!(get(&s, "/open311/v2/other.xml").0, 404);
    assert_eq!(get(&s, "/open311/v2/services").0, 404, "a resource names its format");
    let (st, _, body) = fetch(&s, "POST", "/open311/v2/services.xml", "application/x-www-form-urlencoded", b"");
    assert_eq!(st, 405, "{body}");
    // Nothing was made.
    let (_, _, body) = get(&s, "/open311/v2/requests.json");
    assert_eq!(body, "[]");
}

#[test]
fn the_discovery_document_says_where_and_in_which_formats() {
    let s = Server::start(|_| {});
    for path in ["/open311/discovery.json", "/open311/v2/discovery.json"] {
        let (st, _, body) = get(&s, path);
        assert_eq!(st, 200, "{path}");
        let d: Value = serde_json::from_str(&body).unwrap();
        let e = &d["endpoints"][0];
        assert_eq!(e["specification"], "http://wiki.open311.org/GeoReport_v2");
        assert_eq!(e["url"], format!("http://{}/open311/v2", s.addr));
        assert_eq!(e["formats"], j!(["text/xml", "application/json"]));
        assert_eq!(e["type"], "production");
    }
    let (st, kind, body) = get(&s, "/open311/discovery.xml");
    assert_eq!(st, 200);
    assert!(kind.starts_with("text/xml"));
    let doc = roxmltree::Document::parse(&body).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "discovery");
    let endpoint = children(children(root, "endpoints")[0], "endpoint")[0];
    assert!(fields(endpoint).contains(&("specification", "http://wiki.open311.org/GeoReport_v2")));
    let formats: Vec<&str> =
        children(children(endpoint, "formats")[0], "format").iter().filter_map(roxmltree::Node::text).collect();
    assert_eq!(formats, ["text/xml", "application/json"]);
    assert_eq!(get(&s, "/open311/other.json").0, 404);
}

#[test]
fn integrators_poll_for_what_changed_with_updated_after() {
    polls_for_changes(&Server::start(|_| {}));
}

/// The same on PostgreSQL (its own query of the transitions).
#[test]
fn integrators_poll_for_what_changed_on_postgres() {
    let pg = gridwall_testkit::postgres::TempPostgres::start();
    polls_for_changes(&Server::start(|c| c.live.store = Some(pg.url())));
}

fn polls_for_changes(s: &Server) {
    let old = s.open_request("garbage", 0.0, 0.0, "旧");
    let untouched = s.open_request("noise", 10.0, 0.0, "未动");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let t = gridwall_city::ingest::format_time_ms(now_ms());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (st, b) = s.step(old, &j!({"action":"dispatch","assignee":"P-1","actor":"指挥长"}));
    assert_eq!(st, 200, "{b}");
    let new = s.open_request("road_damage", 20.0, 0.0, "新");
    let ids = |path: &str| -> Vec<u64> {
        let (st, _, body) = get(s, path);
        assert_eq!(st, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let mut ids: Vec<u64> =
            v.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap().parse().unwrap()).collect();
        ids.sort_unstable();
        ids
    };
    let t = urlencode(&t);
    // Changed since t: the one dispatched and the one made since, not the untouched one.
    assert_eq!(ids(&format!("/open311/v2/requests.json?updated_after={t}")), [old, new]);
    // Last changed before t: only the untouched one.
    assert_eq!(ids(&format!("/open311/v2/requests.json?updated_before={t}")), [untouched]);
    // With other filters, and in XML.
    assert_eq!(ids(&format!("/open311/v2/requests.json?updated_after={t}&service_code=garbage")), [old]);
    let (_, _, body) = get(s, &format!("/open311/v2/requests.xml?updated_after={t}"));
    assert_eq!(body.matches("<request>").count(), 2);
    // A time that is not one is refused.
    let (st, _, body) = get(s, "/open311/v2/requests.xml?updated_after=yesterday");
    assert_eq!(st, 400);
    assert!(body.contains("updated_after"), "{body}");
}
