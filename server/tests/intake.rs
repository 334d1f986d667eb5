//! What a request is filed with beyond a place, over real sockets: service definitions in both
//! formats (the spec's nesting), attributes checked against them and kept with the case, and
//! photos uploaded as multipart (limits of size and type, a file that lies about its type,
//! metadata stripped before storing, served to reader roles only, `media_url` pointing at it),
//! on the embedded store and on PostgreSQL.

use gridwall_testkit::photos::{jpeg_with_metadata, multipart, png};
use gridwall_testkit::server::{TestServer as Server, agent, call_with};
use serde_json::Value;

fn children<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    node.children().filter(|c| c.is_element() && c.tag_name().name() == name).collect()
}

fn names<'a>(node: roxmltree::Node<'a, 'a>) -> Vec<&'a str> {
    node.children().filter(roxmltree::Node::is_element).map(|c| c.tag_name().name()).collect()
}

fn text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> &'a str {
    children(node, name).first().and_then(roxmltree::Node::text).unwrap_or_default()
}

/// A GET with a token and a language: status, content type, body bytes.
fn get(s: &Server, token: Option<&str>, path: &str) -> (u16, String, Vec<u8>) {
    let mut req = agent().get(&s.url(path)).header("accept-language", "zh-CN");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut res = req.call().unwrap();
    let kind = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (res.status().as_u16(), kind, res.body_mut().read_to_vec().unwrap())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn service_definitions_come_in_both_formats_and_requests_are_checked_against_them() {
    // Bodies held to 64 KiB (photos aside), to see a larger one refused.
    let s = Server::start(|c| c.max_body_bytes = 64 << 10);
    // services: metadata true where there is a definition.
    let (_, _, body) = get(&s, None, "/open311/v2/services.json");
    let list: Value = serde_json::from_slice(&body).unwrap();
    let meta =
        |code: &str| list.as_array().unwrap().iter().find(|s| s["service_code"] == code).unwrap()["metadata"].clone();
    assert_eq!((meta("manhole_damage"), meta("dispute")), (Value::Bool(true), Value::Bool(false)));

    // The definition in XML, nested as the spec writes it.
    let (st, kind, body) = get(&s, None, "/open311/v2/services/manhole_damage.xml");
    assert_eq!((st, kind.as_str()), (200, "text/xml; charset=utf-8"));
    let body = String::from_utf8(body).unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "service_definition");
    assert_eq!(names(root), ["service_code", "attributes"]);
    let attrs = children(children(root, "attributes")[0], "attribute");
    assert_eq!(
        names(attrs[0]),
        ["variable", "code", "datatype", "required", "datatype_description", "order", "description", "values"]
    );
    assert_eq!(
        (text(attrs[0], "code"), text(attrs[0], "datatype"), text(attrs[0], "required")),
        ("cover_type", "singlevaluelist", "true")
    );
    assert_eq!(text(attrs[0], "description"), "井盖类型");
    let values = children(children(attrs[0], "values")[0], "value");
    assert_eq!((text(values[0], "key"), text(values[0], "name")), ("rain", "雨水"));
    // The same in JSON, in English when asked.
    let mut res = agent()
        .get(&s.url("/open311/v2/services/manhole_damage.json?jurisdiction_id=helsinki"))
        .header("accept-language", "en")
        .call()
        .unwrap();
    let d: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(d["service_code"], "manhole_damage");
    assert_eq!(d["attributes"].as_array().unwrap().len(), attrs.len());
    assert_eq!(d["attributes"][0]["values"][0], serde_json::json!({"key": "rain", "name": "Storm drain"}));
    assert_eq!(d["attributes"][0]["order"], 1);
    // A service without attributes, and one that does not exist: 404 in the format asked.
    let (st, kind, body) = get(&s, None, "/open311/v2/services/dispute.xml");
    assert_eq!(st, 404);
    assert!(kind.starts_with("text/xml"));
    assert!(String::from_utf8(body).unwrap().contains("<errors><error><code>404</code>"));
    let (st, _, body) = get(&s, None, "/open311/v2/services/ufo.json");
    assert_eq!(st, 404);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()[0]["field"], "service_code");

    // A request missing a required attribute, or with a value outside the list: 400, nothing made.
    let (lon, lat) = s.lonlat(5.0, 5.0);
    let base = format!("service_code=manhole_damage&lat={lat}&long={lon}&description=%E4%BA%95%E7%9B%96");
    for (extra, field) in [
        ("&attribute[cover_type]=rain", "attribute[fault]"),
        ("&attribute[cover_type]=gold&attribute[fault]=missing", "attribute[cover_type]"),
        ("&attribute[cover_type]=rain&attribute[fault]=missing&attribute[colour]=red", "attribute[colour]"),
    ] {
        let (st, b) = s.post_raw(
            "/open311/v2/requests.json",
            "application/x-www-form-urlencoded",
            format!("{base}{extra}").as_bytes(),
        );
        assert_eq!(st, 400, "{extra}: {b}");
        assert_eq!(b[0]["field"], field, "{b}");
    }
    // Bodies that would make more fields than a request has, or are larger than bodies may be.
    let many = format!(
        r#"{{"service_code":"garbage","lat":{lat},"long":{lon},"attribute":{{"waste":[{}]}}}}"#,
        vec!["\"bulky\""; 200].join(",")
    );
    let (st, b) = s.post_raw("/open311/v2/requests.json", "application/json", many.as_bytes());
    assert_eq!((st, b[0]["field"].as_str()), (400, Some("body")), "{b}");
    let huge = format!("service_code=garbage&description={}", "x".repeat(100 << 10));
    assert_eq!(s.post_raw("/open311/v2/requests.json", "application/x-www-form-urlencoded", huge.as_bytes()).0, 413);
    assert_eq!(s.get("/open311/v2/requests.json").1, serde_json::json!([]));
    // Valid ones, as a form (a list's values repeated) and as JSON: kept with the case.
    let id = s.open_request_with(
        "manhole_damage",
        5.0,
        5.0,
        "井盖",
        "&attribute%5Bcover_type%5D=sewage&attribute[fault]=broken&attribute[place]=sidewalk",
    );
    let (st, b) = s.post(
        "/open311/v2/requests.json",
        &serde_json::json!({"service_code": "garbage", "lat": lat, "long": lon,
                            "attribute": {"waste": ["bulky", "garden"], "volume_m3": 2.5}}),
    );
    assert_eq!(st, 201, "{b}");
    let garbage = b[0]["service_request_id"].as_str().unwrap().to_owned();
    let (_, r) = s.get(&format!("/open311/v2/requests/{id}.json"));
    assert_eq!(
        r[0]["gridwall"]["attributes"],
        serde_json::json!({"cover_type": ["sewage"], "fault": ["broken"], "place": ["sidewalk"]})
    );
    let (_, r) = s.get(&format!("/open311/v2/requests/{garbage}.json"));
    assert_eq!(r[0]["gridwall"]["attributes"], serde_json::json!({"volume_m3": ["2.5"], "waste": ["bulky", "garden"]}));
    let (_, _, body) = get(&s, None, &format!("/open311/v2/requests/{id}.xml"));
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("<attributes><attribute><code>cover_type</code><value>sewage</value></attribute>"), "{body}");
}

#[test]
fn photos_are_stripped_stored_and_shown_to_readers_only() {
    photos_round_trip(|_| {});
}

#[test]
fn photos_are_kept_in_postgres_too() {
    let pg = gridwall_testkit::postgres::TempPostgres::start();
    let url = pg.url();
    photos_round_trip(move |c| c.live.store = Some(url));
}

fn photos_round_trip(configure: impl FnOnce(&mut gridwall_server::config::ServeConfig)) {
    let (s, t) = Server::start_with_tokens(configure);
    let (lon, lat) = s.lonlat(0.0, 30.0);
    let (lat, lon) = (lat.to_string(), lon.to_string());
    let place = [("service_code", "road_damage"), ("lat", lat.as_str()), ("long", lon.as_str())];
    let post = |fields: &[(&str, &str)], files: &[(&str, &str, &str, &[u8])]| {
        let (ctype, body) = multipart(fields, files);
        call_with("POST", &s.url("/open311/v2/requests.json"), Some(&t.intake), &ctype, &body)
    };
    let jpeg = jpeg_with_metadata(6);
    assert!(contains(&jpeg, b"Zhang San"));
    let mut fields = place.to_vec();
    fields.push(("description", "路面塌陷，见照片"));
    let (st, b) = post(
        &fields,
        &[("media", "IMG_0001.jpg", "image/jpeg", &jpeg), ("media", "map.png", "image/png", &png(20, 10))],
    );
    assert_eq!(st, 201, "{b}");
    let id = b[0]["service_request_id"].as_str().unwrap().to_owned();

    // A reader sees both photos; media_url is the first. The photo has lost its metadata.
    let (st, _, body) = get(&s, Some(&t.viewer), &format!("/open311/v2/requests/{id}.json"));
    assert_eq!(st, 200);
    let r: Value = serde_json::from_slice(&body).unwrap();
    let media = r[0]["gridwall"]["media"].as_array().unwrap().clone();
    assert_eq!(media.len(), 2);
    assert_eq!(r[0]["media_url"], media[0]);
    let url = media[0].as_str().unwrap();
    assert!(url.starts_with(&format!("http://{}/open311/v2/media/", s.addr)), "{url}");
    assert_eq!(url.rsplit_once('.').unwrap().1, "jpg");
    let path = url.split_once(&s.addr.to_string()).unwrap().1;
    let (st, kind, photo) = get(&s, Some(&t.viewer), path);
    assert_eq!((st, kind.as_str()), (200, "image/jpeg"));
    assert!(photo.starts_with(&[0xFF, 0xD8]) && !contains(&photo, b"Zhang San") && !contains(&photo, b"GPSLatitude"));
    assert_eq!(image_size(&photo), (64, 48));
    let (st, kind, _) =
        get(&s, Some(&t.commander), media[1].as_str().unwrap().split_once(&s.addr.to_string()).unwrap().1);
    assert_eq!((st, kind.as_str()), (200, "image/png"));
    // XML names the same photo.
    let (_, _, body) = get(&s, Some(&t.viewer), &format!("/open311/v2/requests/{id}.xml"));
    assert!(String::from_utf8(body).unwrap().contains(&format!("<media_url>{url}</media_url>")));

    // Those who may not read residents' text see no photo, and may not fetch it.
    for token in [None, Some(t.intake.as_str()), Some(t.device.as_str())] {
        let (st, _, body) = get(&s, token, &format!("/open311/v2/requests/{id}.json"));
        if st == 200 {
            let r: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(r[0]["media_url"], "", "{token:?}");
            assert!(r[0]["gridwall"].get("media").is_none(), "{token:?}");
        }
        let (st, _, _) = get(&s, token, path);
        assert!(st == 401 || st == 403, "{token:?}: {st}");
    }
    assert_eq!(get(&s, Some(&t.viewer), "/open311/v2/media/../../etc/passwd").0, 404);
    assert_eq!(get(&s, Some(&t.viewer), &format!("/open311/v2/media/{}.jpg", "0".repeat(64))).0, 404);

    // Refused: no token (before the body is read), a file that lies about its type, one that is
    // no image, one too large, too many.
    let before = count(&s, &t.viewer);
    let (ctype, body) = multipart(&place, &[("media", "a.jpg", "image/jpeg", &jpeg)]);
    assert_eq!(call_with("POST", &s.url("/open311/v2/requests.json"), None, &ctype, &body).0, 401);
    let (st, b) = post(&place, &[("media", "x.png", "image/png", &jpeg)]);
    assert_eq!(st, 415, "{b}");
    assert!(
        b[0]["description"].as_str().unwrap().contains("declared as image/png but its content is image/jpeg"),
        "{b}"
    );
    let (st, _) = post(&place, &[("media", "x.jpg", "image/jpeg", b"<svg onload=alert(1)>")]);
    assert_eq!(st, 415);
    let mut broken = jpeg.clone();
    broken.truncate(jpeg.len() / 2);
    assert_eq!(post(&place, &[("media", "x.jpg", "image/jpeg", &broken)]).0, 400);
    let mut big = jpeg.clone();
    big.resize(gridwall_city::photo::MAX_PHOTO_BYTES + 1, 0);
    assert_eq!(post(&place, &[("media", "big.jpg", "image/jpeg", &big)]).0, 413);
    let five: Vec<(&str, &str, &str, &[u8])> = (0..5).map(|_| ("media", "a.jpg", "image/jpeg", &jpeg[..])).collect();
    assert_eq!(post(&place, &five).0, 400);
    // And a media_url that is not a web address.
    let mut bad = place.to_vec();
    bad.push(("media_url", "file:///etc/passwd"));
    assert_eq!(post(&bad, &[]).0, 400);
    assert_eq!(count(&s, &t.viewer), before, "nothing was opened");
    // A media_url given is shown (as residents' text) when there is no photo.
    let mut given = place.to_vec();
    given.push(("media_url", "https://photos.example.org/a.jpg"));
    let (st, b) = post(&given, &[]);
    assert_eq!(st, 201, "{b}");
    let other = b[0]["service_request_id"].as_str().unwrap();
    let (_, _, body) = get(&s, Some(&t.viewer), &format!("/open311/v2/requests/{other}.json"));
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()[0]["media_url"], "https://photos.example.org/a.jpg");
}

fn count(s: &Server, token: &str) -> usize {
    let (_, _, body) = get(s, Some(token), "/open311/v2/requests.json");
    serde_json::from_slice::<Value>(&body).unwrap().as_array().unwrap().len()
}

/// Width and height from a JPEG's frame header.
fn image_size(jpeg: &[u8]) -> (u16, u16) {
    let at = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline frame");
    let h = u16::from_be_bytes([jpeg[at + 5], jpeg[at + 6]]);
    let w = u16::from_be_bytes([jpeg[at + 7], jpeg[at + 8]]);
    (w, h)
}
