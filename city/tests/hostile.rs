//! Hostile bodies for the server's intake parsers: position batches (devices), Open311 requests
//! (forms and JSON from citizens' apps) and residents' photos. Thousands of mutations of valid bodies
//! (millions with `GRIDWALL_FUZZ_CASES`): no panic, and no memory held far beyond the body.

use gridwall_city::fields::{form_fields, json_fields};
use gridwall_city::ingest::{parse_positions, parse_request};
use gridwall_scene::SceneManifest;
use gridwall_testkit::fuzz::{Counting, Mutator, cases, peak_during};
use gridwall_testkit::paths::helsinki;
use gridwall_testkit::server::helsinki_frame;

#[global_allocator]
static ALLOC: Counting = Counting;

fn allowed(n: usize) -> usize {
    64 * n + (64 << 10)
}

#[test]
fn mutated_position_batches_neither_panic_nor_bloat() {
    let frame = helsinki_frame();
    let bounds = SceneManifest::load(&helsinki()).unwrap().bounds.local;
    let valid = [
        r#"[{"patrol_id":"P-1","lon":24.944,"lat":60.1716,"ts":"2026-11-22T08:00:00Z"}]"#.to_owned(),
        r#"[{"patrol_id":"P-2","lon":24.94,"lat":60.17,"ts":"2026-11-22T16:00:00.250+08:00","crs":"gcj02"},{"patrol_id":"P-3","lon":24.95,"lat":60.175,"ts":"2026-11-22T08:00:01Z","crs":"bd09"}]"#.to_owned(),
        format!("[{}]", vec![r#"{"patrol_id":"P-9","lon":24.944,"lat":60.17,"ts":"2026-11-22T08:00:00Z"}"#; 50].join(",")),
    ];
    let mut m = Mutator::new(11, valid.iter().map(|v| v.clone().into_bytes()).collect());
    let mut accepted = 0;
    for _ in 0..cases() {
        let body = m.next_input();
        let (ok, peak) = peak_during(|| parse_positions(&body, &frame, bounds, 500.0).is_ok());
        accepted += usize::from(ok);
        assert!(peak <= allowed(body.len()), "{peak} bytes for {:?}", String::from_utf8_lossy(&body));
    }
    assert!(accepted > 0, "some mutations stay valid: the parser was really exercised");
}

#[test]
fn mutated_open311_requests_neither_panic_nor_bloat() {
    let frame = helsinki_frame();
    let bounds = SceneManifest::load(&helsinki()).unwrap().bounds.local;
    let valid = [
        "service_code=manhole_damage&lat=60.1716&long=24.944&description=%E4%BA%95%E7%9B%96%E7%BC%BA%E5%A4%B1&attribute%5Bcover_type%5D=rain&attribute%5Bfault%5D=missing",
        "service_code=garbage&lat=60.17&long=24.94&crs=gcj02&gridwall_source=hotline&email=a%40b.c",
        r#"{"service_code":"noise","lat":"60.17","long":"24.945","description":"夜间施工噪音","attribute[source]":"construction"}"#,
    ];
    let mut m = Mutator::new(12, valid.iter().map(|v| v.as_bytes().to_vec()).collect());
    let mut accepted = 0;
    for _ in 0..cases() {
        let body = m.next_input();
        let (ok, peak) = peak_during(|| {
            // As the server reads them: a JSON object flattened to fields, or a form.
            let fields = if body.first() == Some(&b'{') { json_fields(&body) } else { form_fields(&body) }.ok();
            fields.is_some_and(|f| parse_request(&f, &frame, bounds).is_ok())
        });
        accepted += usize::from(ok);
        assert!(peak <= allowed(body.len()), "{peak} bytes for {:?}", String::from_utf8_lossy(&body));
    }
    assert!(accepted > 0, "some mutations stay valid");
}

#[test]
fn mutated_photos_neither_panic_nor_come_out_malformed() {
    let jpeg = gridwall_testkit::photos::jpeg_with_metadata(6);
    let png = gridwall_testkit::photos::png(12, 9);
    let mut m = Mutator::new(13, vec![jpeg, png]);
    let mut accepted = 0;
    for _ in 0..cases() / 10 {
        let photo = m.next_input();
        if let Ok(clean) = gridwall_city::photo::clean(None, &photo) {
            accepted += 1;
            assert_eq!(gridwall_city::photo::sniff(&clean.bytes), Some(clean.mime), "a kept photo is what it says");
            if clean.mime == "image/jpeg" {
                assert!(clean.bytes.ends_with(&[0xFF, 0xD9]), "nothing after the image's end");
            }
        }
    }
    assert!(accepted > 0, "some mutations stay images: the cleaner was really exercised");
}
