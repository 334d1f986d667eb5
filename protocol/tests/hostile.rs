//! Hostile frames: thousands of mutations of valid binary and JSON messages (millions with
//! `GRIDWALL_FUZZ_CASES`) go through every decoder a server or display runs on input from the
//! network. None may panic, and none may make the decoder hold memory far beyond the frame's
//! size (a count that claims billions of items must not be believed before the bytes are there).

use gridwall_protocol::binary::{
    Fix, FixCrs, PositionBatch, ServerDecoder, ServerEncoder, decode_client, decode_positions, encode_client,
    encode_positions,
};
use gridwall_protocol::*;
use gridwall_testkit::fixtures::{client_messages, component, delta, events, incident, patrol, snapshot, wall_view};
use gridwall_testkit::fuzz::{Counting, Mutator, cases, peak_during};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Memory a decoder may hold for a frame of `n` bytes.
fn allowed(n: usize) -> usize {
    64 * n + (64 << 10)
}

fn server_messages() -> Vec<ServerMessage> {
    let patrols: Vec<PatrolState> = (0..6).map(|i| patrol(i, f64::from(i) * 10.0, -5.0)).collect();
    vec![
        snapshot(
            patrols.clone(),
            vec![incident(1, IncidentStage::Accepted), incident(2, IncidentStage::Dispatched)],
            vec![component(3, ComponentCategory::Manhole, ComponentState::Damaged)],
        ),
        delta(vec![PatrolPos { id: 1, x: 11.5, y: 20.0, lon: None, lat: None }], vec![patrol(9, 1.0, 2.0)], vec![2]),
        events(vec![
            EventKind::IncidentOpened { incident: incident(10, IncidentStage::Accepted) },
            EventKind::IncidentEscalated { incident: 10, level: GridLevel::Street, deadline_ms: 5 },
            EventKind::PatrolLeftGrid { patrol: 5, grid: "370783001001001".into() },
        ]),
        ServerMessage::WallView { wall: "main".into(), time_ms: 3, view: Box::new(wall_view()) },
        gridwall_testkit::fixtures::timeline(),
        ServerMessage::Pong { t: 1, time_ms: 2 },
    ]
}

fn check(what: &str, input: &[u8], peak: usize) {
    assert!(
        peak <= allowed(input.len()),
        "{what}: {peak} bytes held for a frame of {} bytes: {:?}",
        input.len(),
        String::from_utf8_lossy(&input[..input.len().min(200)])
    );
}

#[test]
fn mutated_client_frames_neither_panic_nor_bloat() {
    let msgs = client_messages();
    let mut binary = Mutator::new(1, msgs.iter().map(encode_client).collect());
    let mut text = Mutator::new(2, msgs.iter().map(|m| json::encode_client(m).into_bytes()).collect());
    for _ in 0..cases() {
        let frame = binary.next_input();
        let (_, peak) = peak_during(|| decode_client(&frame).is_ok());
        check("binary client frame", &frame, peak);
        let frame = text.next_input();
        let (_, peak) = peak_during(|| std::str::from_utf8(&frame).is_ok_and(|t| json::decode_client(t).is_ok()));
        check("JSON client frame", &frame, peak);
    }
}

#[test]
fn mutated_server_frames_neither_panic_nor_bloat() {
    let msgs = server_messages();
    let mut enc = ServerEncoder::new();
    let mut binary = Mutator::new(3, msgs.iter().map(|m| enc.encode(m)).collect());
    let mut text = Mutator::new(4, msgs.iter().map(|m| json::encode_server(m).into_bytes()).collect());
    // A display's decoder keeps state between frames (the patrols it knows): one decoder sees
    // the whole hostile stream.
    let mut dec = ServerDecoder::new();
    for _ in 0..cases() {
        let frame = binary.next_input();
        let (_, peak) = peak_during(|| dec.decode(&frame).is_ok());
        check("binary server frame", &frame, peak);
        let frame = text.next_input();
        let (_, peak) = peak_during(|| std::str::from_utf8(&frame).is_ok_and(|t| json::decode_server(t).is_ok()));
        check("JSON server frame", &frame, peak);
    }
}

#[test]
fn mutated_position_batches_neither_panic_nor_bloat() {
    let fix = |i: i32| Fix {
        patrol_id: format!("P-{i}").into(),
        lon: 118.0 + f64::from(i) * 1e-4,
        lat: 35.0,
        t_ms: 1_790_000_000_000 + i64::from(i),
    };
    let batch = PositionBatch { crs: FixCrs::Gcj02, fixes: (0..20).map(fix).collect() };
    let mut m = Mutator::new(5, vec![encode_positions(&batch), encode_positions(&PositionBatch::default())]);
    for _ in 0..cases() {
        let frame = m.next_input();
        let (_, peak) = peak_during(|| decode_positions(&frame).is_ok());
        check("position batch", &frame, peak);
    }
}

#[test]
fn a_frame_that_claims_billions_of_items_is_refused_without_allocating_them() {
    // A snapshot whose patrol count says 4 billion, with four bytes behind it.
    let mut frame = ServerEncoder::new().encode(&snapshot(vec![], vec![], vec![]));
    frame.truncate(frame.len() - 3);
    frame.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3, 4]);
    let (ok, peak) = peak_during(|| ServerDecoder::new().decode(&frame).is_ok());
    assert!(!ok);
    check("a frame claiming billions", &frame, peak);
}

#[test]
fn the_allocator_counts_what_a_call_holds() {
    let (len, peak) = peak_during(|| vec![7u8; 1 << 20].len());
    assert_eq!(len, 1 << 20);
    assert!(peak >= 1 << 20, "the measure sees a 1 MiB buffer: {peak}");
}
