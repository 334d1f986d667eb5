//! Video wall groups over real sockets: a leader's view reaches the followers through the server,
//! a follower that restarts rejoins in step, the wall keeps its last view when the leader leaves,
//! and a commander's cast stands over the leader until it is taken back.

use std::time::Duration;

use gridwall_protocol::wall::{Orbit, Selected, WallView};
use gridwall_protocol::{ClientMessage, ServerMessage};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::server::TestServer as Server;

fn orbit(x: f64) -> Orbit {
    Orbit { x, y: -50.0, heading: 0.4, pitch: 0.9, distance: 800.0 }
}

fn join(s: &Server, wall: &str, lead: bool) -> Client {
    let mut c = Client::connect(s.addr, false);
    c.send(&ClientMessage::JoinWall { wall: wall.into(), lead });
    c
}

/// The next view of `wall` this client gets.
fn next_view(c: &mut Client, wall: &str) -> (i64, WallView) {
    c.until("a wall view", |m| match m {
        ServerMessage::WallView { wall: w, time_ms, view } if w == wall => Some((*time_ms, (**view).clone())),
        _ => None,
    })
}

#[test]
fn a_leaders_view_reaches_every_panel_and_survives_restarts_and_the_leader_leaving() {
    let s = Server::start(|_| {});
    let mut leader = join(&s, "main", true);
    let mut panel_a = join(&s, "main", false);
    let mut panel_b = join(&s, "main", false);

    // The leader moves: both panels get the same view, stamped with the same server time.
    let mut view = WallView::at(orbit(100.0), 0);
    view.selection = Some(Selected::Incident(3));
    view.heatmap = true;
    leader.send(&ClientMessage::LeadWall { view: Box::new(view.clone()) });
    let (ta, va) = next_view(&mut panel_a, "main");
    let (tb, vb) = next_view(&mut panel_b, "main");
    assert_eq!((ta, &va), (tb, &vb));
    assert_eq!((va.camera.to, va.selection.clone(), va.heatmap), (orbit(100.0), Some(Selected::Incident(3)), true));
    assert!((ta - gridwall_testkit::now_ms()).abs() < 5_000, "stamped with the server's clock: {ta}");

    // Panel A restarts: on joining again it gets the current view at once, the others nothing.
    drop(panel_a);
    let mut panel_a = join(&s, "main", false);
    let (t2, v2) = next_view(&mut panel_a, "main");
    assert_eq!((t2, v2), (ta, va.clone()));
    assert!(panel_b.next(Duration::from_millis(600)).into_iter().all(|m| !matches!(m, ServerMessage::WallView { .. })));

    // The leader leaves: the wall keeps its last view, and a panel joining later gets it too.
    drop(leader);
    std::thread::sleep(Duration::from_millis(300));
    let mut panel_c = join(&s, "main", false);
    assert_eq!(next_view(&mut panel_c, "main").1, va);

    // Another group is not disturbed by this one.
    let mut other = join(&s, "lobby", false);
    assert!(other.next(Duration::from_millis(600)).into_iter().all(|m| !matches!(m, ServerMessage::WallView { .. })));
}

#[test]
fn a_cast_from_the_desk_stands_until_taken_back() {
    let s = Server::start(|_| {});
    let mut leader = join(&s, "main", true);
    let mut panel = join(&s, "main", false);
    leader.send(&ClientMessage::LeadWall { view: Box::new(WallView::at(orbit(0.0), 0)) });
    next_view(&mut panel, "main");

    // A commander's desk (not a member) casts an incident: the wall flies there, panel large.
    let mut desk = Client::connect(s.addr, false);
    let mut target = WallView::at(orbit(400.0), 0);
    target.selection = Some(Selected::Incident(9));
    desk.send(&ClientMessage::Cast { wall: "main".into(), view: Some(Box::new(target)) });
    let (t, cast) = next_view(&mut panel, "main");
    assert!(cast.cast && cast.selection == Some(Selected::Incident(9)));
    assert_eq!((cast.camera.from.x, cast.camera.to.x, cast.camera.start_ms), (0.0, 400.0, t));
    assert!(cast.camera.eased && cast.camera.duration_ms > 0, "the wall flies, it does not jump");

    // The leader's moves wait behind the cast…
    leader.send(&ClientMessage::LeadWall { view: Box::new(WallView::at(orbit(50.0), 0)) });
    assert!(panel.next(Duration::from_millis(600)).into_iter().all(|m| !matches!(m, ServerMessage::WallView { .. })));
    // …until 收回 (once the wall has landed): back to where the leader is, and the leader drives
    // again.
    std::thread::sleep(Duration::from_millis(1_600));
    desk.send(&ClientMessage::Cast { wall: "main".into(), view: None });
    let (_, back) = next_view(&mut panel, "main");
    assert!(!back.cast);
    assert_eq!((back.camera.from.x, back.camera.to.x), (400.0, 50.0));
    leader.send(&ClientMessage::LeadWall { view: Box::new(WallView::at(orbit(60.0), 0)) });
    assert_eq!(next_view(&mut panel, "main").1.camera.to.x, 60.0);
}

#[test]
fn only_leaders_lead_and_hostile_views_are_refused() {
    let s = Server::start(|_| {});
    let error = |c: &mut Client| {
        c.until("an error", |m| match m {
            ServerMessage::Error { code, message } => Some((code.clone(), message.clone())),
            _ => None,
        })
    };
    let mut panel = join(&s, "main", false);
    panel.send(&ClientMessage::LeadWall { view: Box::new(WallView::at(orbit(1.0), 0)) });
    assert_eq!(error(&mut panel).0, "wall");

    let mut leader = join(&s, "main", true);
    let mut bad = WallView::at(orbit(1.0), 0);
    bad.camera.to.distance = 1e9;
    leader.send(&ClientMessage::LeadWall { view: Box::new(bad) });
    assert!(error(&mut leader).1.contains("camera"));

    let mut stranger = Client::connect(s.addr, false);
    stranger.send(&ClientMessage::JoinWall { wall: "main floor".into(), lead: false });
    assert!(error(&mut stranger).1.contains("wall names"));
    // Nothing of that reached the wall.
    assert!(panel.next(Duration::from_millis(500)).into_iter().all(|m| !matches!(m, ServerMessage::WallView { .. })));
}
