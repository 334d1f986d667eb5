//! The web display's files: `/` and `/web/{file}` serve the folder `scripts/build-web` writes
//! (only the files a build makes, with their types), say how to build it when it is missing,
//! and hold no city data (no token needed for the page; the data endpoints still ask). A
//! browser signs in with a cookie (`/login`, `/?token=`) that works like the token and is cleared
//! when refused, stale or signed out.

use gridwall_testkit::server::{RoleTokens, TestServer as Server};

fn get(s: &Server, path: &str) -> (u16, String, Vec<u8>) {
    let mut res =
        ureq::get(&s.url(path)).config().http_status_as_error(false).build().call().expect("the server answers");
    let kind = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (res.status().as_u16(), kind, res.body_mut().read_to_vec().expect("a body"))
}

#[test]
fn the_built_page_and_its_files_are_served_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><canvas id=gridwall></canvas>").unwrap();
    std::fs::write(dir.path().join("gridwall_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "not for the web").unwrap();
    let web = dir.path().to_owned();
    let (s, _t): (Server, RoleTokens) = Server::start_with_tokens(move |c| c.web = Some(web));
    let (status, kind, body) = get(&s, "/");
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(String::from_utf8_lossy(&body).contains("gridwall"), "the page, without a token");
    let (status, kind, body) = get(&s, "/web/gridwall_bg.wasm");
    assert_eq!((status, kind.as_str(), &body[..4]), (200, "application/wasm", &b"\0asm"[..]));
    assert_eq!(get(&s, "/web/secret.txt").0, 404, "only the files a build writes");
    assert_eq!(get(&s, "/web/..%2Fsecret.txt").0, 404);
    let (status, _, body) = get(&s, "/web/font.ttf");
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("scripts/build-web"), "says how to build it");
    // The city's data still asks for a token.
    assert_eq!(get(&s, "/api/v1/grids").0, 401);
}

#[test]
fn a_server_without_a_built_display_says_how_to_build_one() {
    let missing = tempfile::tempdir().unwrap().path().join("dist");
    let s = Server::start(move |c| c.web = Some(missing));
    let (status, _, body) = get(&s, "/");
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("run scripts/build-web"), "{}", String::from_utf8_lossy(&body));
}

/// One request without following redirects: status, `Location`, `Set-Cookie`.
fn raw(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let url = s.url(path);
    let header = |res: &ureq::http::Response<ureq::Body>, name: &str| {
        res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    let res = if method == "GET" {
        let mut r = ureq::get(&url).config().max_redirects(0).http_status_as_error(false).build();
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.call()
    } else {
        let mut r = ureq::post(&url).config().max_redirects(0).http_status_as_error(false).build();
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send(body)
    }
    .expect("the server answers");
    (res.status().as_u16(), header(&res, "location"), header(&res, "set-cookie"))
}

#[test]
fn a_browser_signs_in_with_a_cookie_only_this_site_sends_and_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
    let web = dir.path().to_owned();
    let (s, t) = Server::start_with_tokens(move |c| c.web = Some(web));
    let form = [("content-type", "application/x-www-form-urlencoded")];

    // The form: a known token sets the cookie and sends the browser to the page.
    let (status, to, cookie) = raw(&s, "POST", "/login", &form, &format!("token={}", t.viewer));
    assert_eq!((status, to.as_str()), (303, "/"));
    assert_eq!(cookie, format!("gridwall_token={}; Path=/; HttpOnly; SameSite=Strict", t.viewer));
    let jar = format!("gridwall_token={}", t.viewer);
    let with_cookie = [("cookie", jar.as_str())];
    assert_eq!(raw(&s, "GET", "/api/v1/grids", &with_cookie, "").0, 200, "the cookie reads the city");
    // The cookie stands for the token on reads only: a form on a sibling site (SameSite lets
    // those send it) cannot post with it.
    let step = r#"{"action":"dispatch","assignee":"P-1"}"#;
    let json = [("cookie", jar.as_str()), ("content-type", "application/json")];
    assert_eq!(raw(&s, "POST", "/api/v1/incidents/1/transitions", &json, step).0, 401);
    let commander = format!("gridwall_token={}", t.commander);
    let json = [("cookie", commander.as_str()), ("content-type", "application/json")];
    assert_eq!(raw(&s, "POST", "/api/v1/warnings/1/ack", &json, "").0, 401);
    // Other programs' cookies on this host beside ours (a long header) do not hide it.
    let crowded = format!("{}; {jar}; other={}", "x=1; ".repeat(300), "y".repeat(3000));
    assert_eq!(raw(&s, "GET", "/api/v1/grids", &[("cookie", crowded.as_str())], "").0, 200);

    // An address with the token: signed in, the token gone from the address, the page's own
    // parameters kept.
    let (status, to, cookie) = raw(&s, "GET", &format!("/?token={}&lang=en&x=1", t.commander), &[], "");
    assert_eq!((status, to.as_str()), (303, "/?lang=en"));
    assert!(cookie.starts_with(&format!("gridwall_token={};", t.commander)), "{cookie}");

    // A wrong token: told so, nothing set (a cookie the browser had stays).
    for (method, path, body) in [("POST", "/login", "token=gw_wrong&lang=en"), ("GET", "/?token=gw_wrong&lang=en", "")]
    {
        let (status, to, cookie) = raw(&s, method, path, &form, body);
        assert_eq!((status, to.as_str(), cookie.as_str()), (303, "/?lang=en&signin=refused", ""), "{method} {path}");
    }
    // Another site's page cannot sign this browser in (as its own token's holder), by the form
    // or by a link with a token, nor sign it out, nor send anything but the form.
    let foreign = [("content-type", "application/x-www-form-urlencoded"), ("origin", "http://evil.example")];
    assert_eq!(raw(&s, "POST", "/login", &foreign, &format!("token={}", t.viewer)).0, 403);
    let linked = [("sec-fetch-site", "cross-site")];
    let (status, to, cookie) = raw(&s, "GET", &format!("/?token={}", t.viewer), &linked, "");
    assert_eq!((status, to.as_str(), cookie.as_str()), (303, "/?signin=elsewhere", ""));
    assert_eq!(raw(&s, "POST", "/logout", &[("origin", "http://evil.example")], "").0, 403);
    assert_eq!(raw(&s, "POST", "/logout", &[("sec-fetch-site", "same-site")], "").0, 403);
    // The page's own parameters are the app's: a long or odd address without a token still
    // gets the page.
    assert_eq!(raw(&s, "GET", &format!("/?lang=en&x={}", "%".repeat(5000)), &[], "").0, 200);
    assert_eq!(raw(&s, "POST", "/login", &[("content-type", "text/plain")], "token=x").0, 415);
    assert_eq!(raw(&s, "POST", "/login", &form, &"token=a&".repeat(400)).0, 400, "a form too long");

    // A cookie whose token is gone: 401, and the browser is told to forget it; the page itself
    // still loads (to sign in again).
    let stale = [("cookie", "gridwall_token=gw_revoked")];
    let (status, _, cookie) = raw(&s, "GET", "/api/v1/grids", &stale, "");
    assert_eq!(status, 401);
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(raw(&s, "GET", "/", &stale, "").0, 200);

    // Signing out clears it.
    let (status, to, cookie) = raw(&s, "POST", "/logout", &with_cookie, "");
    assert_eq!((status, to.as_str()), (303, "/"));
    assert!(cookie.starts_with("gridwall_token=;") && cookie.contains("Max-Age=0"), "{cookie}");
}
