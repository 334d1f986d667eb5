//! The web display's files: `/` and `/web/{file}` serve the folder `scripts/build-web` writes
//! (only the files a build makes, with their types), say how to build it when it is missing,
//! and hold no city data (no token needed for the page; the data endpoints still ask).

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
