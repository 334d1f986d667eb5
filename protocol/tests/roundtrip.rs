//! Round trips of both codecs, with fixed examples and property tests.

use gridwall_protocol::binary::{DecodeError, ServerDecoder, ServerEncoder, decode_client, encode_client, quantize};
use gridwall_protocol::*;
use gridwall_testkit::fixtures;
use gridwall_testkit::fixtures::{client_messages, wall_view};
use proptest::prelude::*;

/// Every field of an incident set, most away from the fixture's defaults.
fn incident(id: u64) -> IncidentState {
    IncidentState {
        category: IncidentCategory::ManholeDamage,
        priority: 1,
        x: 12.34,
        y: -56.78,
        grid: "370783001001002".into(),
        level: GridLevel::Community,
        created_ms: 1_790_000_000_000,
        deadline_ms: 1_790_000_180_000,
        assignee: Some(7),
        description: "井盖缺失，车辆绕行".into(),
        ..fixtures::incident(id, IncidentStage::Dispatched)
    }
}

fn patrol(id: u32, x: f64, y: f64) -> PatrolState {
    PatrolState {
        patrol_id: format!("W-{id}"),
        name: format!("网格员{id}"),
        role: PatrolRole::GridWorker,
        grid: "370783001001001".into(),
        ..fixtures::patrol(id, x, y)
    }
}

fn snapshot() -> ServerMessage {
    ServerMessage::Snapshot {
        seq: 41,
        tick: 1000,
        time_ms: 1_790_000_000_000,
        patrols: vec![patrol(1, 10.0, 20.0), patrol(2, -300.5, 400.25)],
        incidents: vec![incident(9)],
        components: vec![ComponentItem {
            id: 3,
            code: "3707830101000001".into(),
            category: ComponentCategory::Manhole,
            state: ComponentState::Damaged,
            x: 1.5,
            y: 2.5,
        }],
    }
}

#[test]
fn snapshot_then_deltas_round_trip_and_positions_are_small() {
    let (mut enc, mut dec) = (ServerEncoder::new(), ServerDecoder::new());
    let snap = snapshot();
    assert_eq!(dec.decode(&enc.encode(&snap)).unwrap(), snap);

    let delta = ServerMessage::Delta {
        tick: 1001,
        time_ms: 1_790_000_000_100,
        moved: vec![
            PatrolPos { id: 1, x: 11.4, y: 20.0, lon: None, lat: None },
            PatrolPos { id: 2, x: -300.0, y: 401.0, lon: None, lat: None },
        ],
        entered: vec![patrol(5, 0.0, 0.0)],
        left: vec![2],
        events: vec![
            Event { seq: 42, time_ms: 1, kind: EventKind::IncidentOpened { incident: incident(10) } },
            Event {
                seq: 43,
                time_ms: 2,
                kind: EventKind::IncidentChanged {
                    incident: incident(10),
                    actor: "指挥长".into(),
                    note: "派单".into(),
                },
            },
            Event {
                seq: 44,
                time_ms: 3,
                kind: EventKind::IncidentEscalated {
                    incident: 10,
                    level: GridLevel::Street,
                    deadline_ms: 1_790_000_600_000,
                },
            },
            Event {
                seq: 45,
                time_ms: 4,
                kind: EventKind::PatrolLeftGrid { patrol: 5, grid: "370783001001001".into() },
            },
        ],
    };
    assert_eq!(dec.decode(&enc.encode(&delta)).unwrap(), delta);

    // After `left`, patrol 2 is unknown again: a move of it is sent absolute and still decodes.
    let again = ServerMessage::Delta {
        tick: 1002,
        time_ms: 0,
        moved: vec![PatrolPos { id: 2, x: 5.0, y: 6.0, lon: None, lat: None }],
        entered: vec![],
        left: vec![],
        events: vec![],
    };
    assert_eq!(dec.decode(&enc.encode(&again)).unwrap(), again);
}

#[test]
fn walking_patrols_cost_under_8_bytes_per_update() {
    let n = 10_000u32;
    let (mut enc, mut dec) = (ServerEncoder::new(), ServerDecoder::new());
    let patrols: Vec<PatrolState> = (0..n).map(|i| patrol(i, f64::from(i) * 3.0, f64::from(i % 100) * 7.0)).collect();
    let snap = ServerMessage::Snapshot { seq: 0, tick: 0, time_ms: 0, patrols, incidents: vec![], components: vec![] };
    dec.decode(&enc.encode(&snap)).unwrap();
    // Each patrol moved ~1.4 m (walking, one 1 Hz report).
    let moved: Vec<PatrolPos> = (0..n)
        .map(|i| PatrolPos {
            id: i,
            x: f64::from(i) * 3.0 + 1.0,
            y: f64::from(i % 100) * 7.0 - 1.0,
            lon: None,
            lat: None,
        })
        .collect();
    let msg = ServerMessage::Delta { tick: 1, time_ms: 100, moved, entered: vec![], left: vec![], events: vec![] };
    let bytes = enc.encode(&msg);
    let per = bytes.len() as f64 / f64::from(n);
    assert!(per <= 8.0, "{per} bytes per update");
    assert_eq!(dec.decode(&bytes).unwrap(), msg);
    let json = json::encode_server(&msg);
    assert!(json.len() as f64 / f64::from(n) > 4.0 * per, "JSON should be several times larger");
}

#[test]
fn client_messages_round_trip_in_both_forms() {
    let msgs = client_messages();
    for m in msgs {
        assert_eq!(decode_client(&encode_client(&m)).unwrap(), m);
        assert_eq!(json::decode_client(&json::encode_client(&m)).unwrap(), m);
    }
}

#[test]
fn json_form_matches_the_documented_shape() {
    let sub = json::decode_client(
        r#"{"type":"subscribe","bbox":[24.93,60.16,24.95,60.18],"layers":["patrols","incidents"]}"#,
    )
    .unwrap();
    assert!(matches!(sub, ClientMessage::Subscribe { crs: BboxCrs::Wgs84, .. }));
    let delta = ServerMessage::Delta {
        tick: 1,
        time_ms: 0,
        moved: vec![PatrolPos { id: 4, x: 1.0, y: 2.0, lon: Some(24.94), lat: Some(60.17) }],
        entered: vec![],
        left: vec![],
        events: vec![],
    };
    let v: serde_json::Value = serde_json::from_str(&json::encode_server(&delta)).unwrap();
    assert_eq!(v["type"], "delta");
    assert_eq!(v["moved"][0]["id"], 4);
    assert_eq!(v["moved"][0]["lon"], 24.94);
    assert_eq!(v["moved"][0]["lat"], 60.17);
    assert_eq!(json::decode_server(&json::encode_server(&snapshot())).unwrap(), snapshot());
}

#[test]
fn bad_frames_are_errors_not_panics() {
    let mut dec = ServerDecoder::new();
    assert_eq!(dec.decode(&[]), Err(DecodeError::UnexpectedEnd));
    assert_eq!(dec.decode(&[9, 1]), Err(DecodeError::Version(9)));
    let v = PROTOCOL_VERSION as u8;
    assert_eq!(dec.decode(&[v, 250]), Err(DecodeError::Tag(250)));
    // A delta moving a patrol this connection never received.
    let mut enc = ServerEncoder::new();
    enc.encode(&snapshot());
    let bytes = enc.encode(&ServerMessage::Delta {
        tick: 1,
        time_ms: 0,
        moved: vec![PatrolPos { id: 1, x: 0.0, y: 0.0, lon: None, lat: None }],
        entered: vec![],
        left: vec![],
        events: vec![],
    });
    assert_eq!(ServerDecoder::new().decode(&bytes), Err(DecodeError::UnknownPatrol(1)));
    let mut full = ServerEncoder::new().encode(&snapshot());
    full.push(0);
    assert_eq!(ServerDecoder::new().decode(&full), Err(DecodeError::Trailing(1)));
    // A huge declared length must not allocate or panic.
    assert_eq!(
        ServerDecoder::new().decode(&[v, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        Err(DecodeError::UnexpectedEnd)
    );
}

fn arb_pos() -> impl Strategy<Value = (u32, f64, f64)> {
    (0u32..5000, -50_000.0f64..50_000.0, -50_000.0f64..50_000.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_122), ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_moves_decodes_to_the_quantized_positions(
        initial in prop::collection::vec(arb_pos(), 0..50),
        steps in prop::collection::vec(prop::collection::vec(arb_pos(), 0..50), 0..8),
    ) {
        let (mut enc, mut dec) = (ServerEncoder::new(), ServerDecoder::new());
        let patrols: Vec<PatrolState> = initial.iter().map(|&(id, x, y)| patrol(id, x, y)).collect();
        let snap = ServerMessage::Snapshot { seq: 0, tick: 0, time_ms: 0, patrols, incidents: vec![], components: vec![] };
        let ServerMessage::Snapshot { patrols: got, .. } = dec.decode(&enc.encode(&snap)).unwrap() else { panic!() };
        for (g, &(id, x, y)) in got.iter().zip(&initial) {
            prop_assert_eq!(g.pos.id, id);
            prop_assert_eq!(quantize(g.pos.x), quantize(x));
            prop_assert_eq!(quantize(g.pos.y), quantize(y));
        }
        for (tick, step) in steps.into_iter().enumerate() {
            let moved: Vec<PatrolPos> = step.iter().map(|&(id, x, y)| PatrolPos { id, x, y, lon: None, lat: None }).collect();
            let msg = ServerMessage::Delta { tick: tick as u64, time_ms: 0, moved, entered: vec![], left: vec![], events: vec![] };
            let ServerMessage::Delta { moved: got, .. } = dec.decode(&enc.encode(&msg)).unwrap() else { panic!() };
            prop_assert_eq!(got.len(), step.len());
            for (g, &(id, x, y)) in got.iter().zip(&step) {
                prop_assert_eq!(g.id, id);
                prop_assert_eq!(quantize(g.x), quantize(x));
                prop_assert_eq!(quantize(g.y), quantize(y));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = ServerDecoder::new().decode(&bytes);
        let _ = decode_client(&bytes);
    }

    #[test]
    fn client_json_and_binary_agree(req in any::<u64>(), inc in any::<u64>(), p in any::<u32>(), actor in "\\PC{0,20}") {
        let m = ClientMessage::Assign { request: req, incident: inc, patrol: p, actor };
        prop_assert_eq!(decode_client(&encode_client(&m)).unwrap(), m.clone());
        prop_assert_eq!(json::decode_client(&json::encode_client(&m)).unwrap(), m);
    }
}

#[test]
fn small_server_messages_round_trip_in_both_forms() {
    let msgs = vec![
        ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            scene: "赫尔辛基中心".into(),
            tick_hz: 10,
            resumed: true,
            clock_rate: 30.0,
            may_command: true,
        },
        ServerMessage::Reply {
            request: 7,
            ok: false,
            error: Some("cannot resolve an incident that is accepted (受理)".into()),
        },
        ServerMessage::Reply { request: 8, ok: true, error: None },
        ServerMessage::Error { code: "bad_bbox".into(), message: "west > east".into() },
        ServerMessage::Pong { t: 12, time_ms: 1_790_000_000_123 },
        ServerMessage::WallView { wall: "main".into(), time_ms: 1_790_000_000_000, view: Box::new(wall_view()) },
        gridwall_testkit::fixtures::timeline(),
        ServerMessage::Kpis {
            time_ms: 1_790_000_000_000,
            kpis: Kpis {
                total: 9,
                open: 2,
                closed: 7,
                closed_today: 3,
                overdue: 1,
                closure_rate: 7.0 / 9.0,
                on_time_rate: 0.5,
                satisfaction_rate: 0.93,
                mean_handling_min: 41.5,
            },
        },
    ];
    for m in msgs {
        let (mut enc, mut dec) = (ServerEncoder::new(), ServerDecoder::new());
        assert_eq!(dec.decode(&enc.encode(&m)).unwrap(), m);
        assert_eq!(json::decode_server(&json::encode_server(&m)).unwrap(), m);
    }
}
