//! Video wall groups: displays that show one view together. A leader publishes the group's
//! view; a commander's desk may cast a view onto it (which stands until taken back); every member
//! gets the current view, stamped with the server time it became current, on joining and on every
//! change. Latest view wins: a slow panel skips to the newest one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gridwall_protocol::wall::{CameraMotion, WallView};
use tokio::sync::watch;

/// Most wall groups one server keeps (a wall name comes from clients).
pub const MAX_WALLS: usize = 256;
/// How long a cast's flight (and the flight back) takes.
pub const CAST_FLIGHT_MS: u32 = 1_500;

/// A view and the server time it became the group's view.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    pub time_ms: i64,
    pub view: Arc<WallView>,
}

/// Why a wall operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WallError {
    #[error("this server keeps at most {MAX_WALLS} wall groups")]
    TooManyWalls,
    #[error("no display leads or joined wall {0:?}")]
    NoSuchWall(String),
}

#[derive(Debug)]
struct Group {
    shown: watch::Sender<Option<Stamped>>,
    /// The leader's latest view (shown whenever no cast stands).
    led: Option<Stamped>,
    /// What the wall showed before a cast, to return to when no leader has spoken.
    before_cast: Option<Stamped>,
    casting: bool,
}

impl Group {
    fn new() -> Self {
        Self { shown: watch::Sender::new(None), led: None, before_cast: None, casting: false }
    }

    fn show(&self, time_ms: i64, view: WallView) {
        self.shown.send_replace(Some(Stamped { time_ms, view: Arc::new(view) }));
    }

    /// Where the wall's camera is at a server time (the overview if it never had a view).
    fn camera_now(&self, time_ms: i64) -> Option<gridwall_protocol::wall::Orbit> {
        self.shown.borrow().as_ref().map(|s| s.view.camera.at(time_ms))
    }
}

/// Every wall group of a server.
#[derive(Debug, Default)]
pub struct Walls {
    groups: Mutex<HashMap<String, Group>>,
}

impl Walls {
    /// Joins a group (made on first use); the receiver holds its current view and wakes on each
    /// change.
    pub fn join(&self, wall: &str) -> Result<watch::Receiver<Option<Stamped>>, WallError> {
        let mut groups = self.groups.lock().expect("wall groups");
        if !groups.contains_key(wall) && groups.len() >= MAX_WALLS {
            return Err(WallError::TooManyWalls);
        }
        Ok(groups.entry(wall.to_owned()).or_insert_with(Group::new).shown.subscribe())
    }

    /// The leader's new view; shown unless a cast stands.
    pub fn lead(&self, wall: &str, view: WallView, now_ms: i64) -> Result<(), WallError> {
        let mut groups = self.groups.lock().expect("wall groups");
        let g = groups.get_mut(wall).ok_or_else(|| WallError::NoSuchWall(wall.to_owned()))?;
        if !g.casting {
            g.show(now_ms, view.clone());
        }
        g.led = Some(Stamped { time_ms: now_ms, view: Arc::new(view) });
        Ok(())
    }

    /// Casts a view onto a group (the wall flies to its camera and shows its selection large),
    /// or, with `None`, takes the cast back: the wall flies back to its leader's view (or to what
    /// it showed before) and follows its leader again. The flight takes `flight_ms` of server
    /// time ([`CAST_FLIGHT_MS`] times the clock's speed, so that it takes the same real time).
    pub fn cast(&self, wall: &str, target: Option<WallView>, now_ms: i64, flight_ms: u32) -> Result<(), WallError> {
        let mut groups = self.groups.lock().expect("wall groups");
        if !groups.contains_key(wall) && groups.len() >= MAX_WALLS {
            return Err(WallError::TooManyWalls);
        }
        let g = groups.entry(wall.to_owned()).or_insert_with(Group::new);
        let from = g.camera_now(now_ms);
        let fly = |mut view: WallView| {
            let to = view.camera.at(now_ms + i64::from(flight_ms));
            view.camera =
                CameraMotion { from: from.unwrap_or(to), to, start_ms: now_ms, duration_ms: flight_ms, eased: true };
            view
        };
        match target {
            Some(mut view) => {
                if !g.casting {
                    g.before_cast.clone_from(&g.shown.borrow());
                }
                view.cast = true;
                g.casting = true;
                g.show(now_ms, fly(view));
            }
            None if g.casting => {
                g.casting = false;
                let back = g.led.clone().or_else(|| g.before_cast.take());
                if let Some(back) = back {
                    let mut view = (*back.view).clone();
                    view.cast = false;
                    g.show(now_ms, fly(view));
                }
            }
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwall_protocol::wall::{Orbit, Selected};

    fn orbit(x: f64) -> Orbit {
        Orbit { x, y: 0.0, heading: 0.0, pitch: 0.8, distance: 900.0 }
    }

    fn shown(rx: &watch::Receiver<Option<Stamped>>) -> Stamped {
        rx.borrow().clone().expect("a view")
    }

    #[test]
    fn leaders_publish_casts_override_until_taken_back() {
        let walls = Walls::default();
        let rx = walls.join("main").unwrap();
        assert!(rx.borrow().is_none(), "nothing shown before anyone led");
        walls.lead("main", WallView::at(orbit(0.0), 1_000), 1_000).unwrap();
        assert_eq!(shown(&rx).view.camera.at(1_000).x, 0.0);

        // A cast flies the wall from where it is to the incident, selected and large.
        let mut target = WallView::at(orbit(500.0), 2_000);
        target.selection = Some(Selected::Incident(7));
        walls.cast("main", Some(target), 2_000, CAST_FLIGHT_MS).unwrap();
        let s = shown(&rx);
        assert!(s.view.cast && s.view.selection == Some(Selected::Incident(7)));
        assert_eq!((s.view.camera.from.x, s.view.camera.to.x, s.view.camera.start_ms), (0.0, 500.0, 2_000));
        // The leader goes on (e.g. its tour), but the cast stands.
        walls.lead("main", WallView::at(orbit(50.0), 2_500), 2_500).unwrap();
        assert_eq!(shown(&rx).view.camera.to.x, 500.0);
        // Taken back once the wall is there: from the incident to where the leader is now.
        walls.cast("main", None, 3_600, CAST_FLIGHT_MS).unwrap();
        let s = shown(&rx);
        assert!(!s.view.cast);
        assert_eq!((s.view.camera.from.x, s.view.camera.to.x), (500.0, 50.0));
        walls.lead("main", WallView::at(orbit(60.0), 3_700), 3_700).unwrap();
        assert_eq!(shown(&rx).view.camera.to.x, 60.0, "the leader drives again");
    }

    #[test]
    fn unknown_walls_and_too_many_groups_are_refused() {
        let walls = Walls::default();
        assert_eq!(walls.lead("nowhere", WallView::at(orbit(0.0), 0), 0), Err(WallError::NoSuchWall("nowhere".into())));
        for i in 0..MAX_WALLS {
            walls.join(&format!("w{i}")).unwrap();
        }
        assert_eq!(walls.join("one-more").unwrap_err(), WallError::TooManyWalls);
        assert!(walls.join("w3").is_ok(), "existing groups can still be joined");
    }
}
