//! Replication of the city's shared state between server instances: a follower's live state
//! taking in what one commit of the leader changed ([`Change`]: patrol registrations, incidents,
//! events), in the leader's commit order.
//!
//! Only the leader makes events and ids; a follower's [`Live`] is a copy that changes by
//! [`Live::apply_change`] (and by position fixes, which every instance takes itself).

use std::sync::Arc;

use gridwall_protocol::Event;

use super::{EVENT_LOG, Live, RestoreError};
use crate::records::Change;

impl Live {
    /// Whether this state is a follower's copy: it makes no events or ids of its own.
    pub fn is_replica(&self) -> bool {
        self.replica
    }

    /// Makes this state a follower's copy (`true`) or the leader's (`false`).
    pub fn set_replica(&mut self, replica: bool) {
        self.replica = replica;
    }

    /// The newest change applied ([`Live::apply_change`]) or, on the leader, committed.
    pub fn change_id(&self) -> u64 {
        self.change_id
    }

    /// After a restore: the newest change the stored state includes.
    pub fn set_change_id(&mut self, id: u64) {
        self.change_id = id;
    }

    /// Takes in a change the leader committed: patrols registered or updated, incidents
    /// replaced, events logged and handed to the next tick. A change already applied is
    /// skipped; the caller applies them in order without gaps.
    pub fn apply_change(&mut self, c: &Change) -> Result<(), RestoreError> {
        if c.id <= self.change_id {
            return Ok(());
        }
        for p in &c.patrols {
            self.put_patrol(p)?;
            self.mark(p.id, true);
        }
        for i in &c.incidents {
            self.put_incident(i, true)?;
        }
        for (seq, _, json) in &c.events {
            if *seq < self.next_seq {
                continue;
            }
            let e: Event = serde_json::from_str(json).map_err(|source| RestoreError::Event { seq: *seq, source })?;
            let e = Arc::new(e);
            self.log.push_back(e.clone());
            if self.log.len() > EVENT_LOG {
                self.log.pop_front();
            }
            self.pending.push(e);
            self.next_seq = seq + 1;
        }
        if let Some(d) = &mut self.durable_seq {
            *d = (*d).max(self.next_seq - 1);
        }
        self.change_id = c.id;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use gridwall_protocol::api::PatrolRegistration;
    use gridwall_protocol::{IncidentCategory, IncidentSource};

    use super::*;
    use crate::records::{Loaded, PatrolRow, Record};
    use crate::services::Intake;
    use crate::state::{Clock, Live};
    use crate::workflow::{Action, TimeLimits};
    use crate::world::World;

    fn live() -> Live {
        let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenes/helsinki");
        let world = World::load(&scene, TimeLimits::default()).unwrap();
        Live::restore(world, Loaded::default(), Clock::new(1.0), 0).unwrap()
    }

    fn police(id: &str) -> PatrolRegistration {
        PatrolRegistration { patrol_id: id.into(), name: None, role: "police".into(), grid: None, status: None }
    }

    #[test]
    fn a_follower_ends_up_where_the_leader_is_and_skips_what_it_has() {
        let mut leader = live();
        let mut follower = live();
        follower.set_replica(true);
        let mut changes = Vec::new();
        let mut commit = |leader: &mut Live, records: Vec<Record>| {
            let c = Change::of(leader.change_id() + 1, &records).expect("a shared change");
            leader.set_change_id(c.id);
            changes.push(c);
        };
        let r = leader.register(&[police("P-1"), police("P-2")]).unwrap();
        commit(&mut leader, r);
        let (id, r) = leader.open_incident(
            IncidentCategory::Garbage,
            IncidentSource::Hotline,
            [10.0, 20.0],
            "垃圾",
            Intake::default(),
        );
        commit(&mut leader, r);
        let r = leader.assign(id, 1, "指挥长").unwrap();
        commit(&mut leader, r);
        let r = leader.apply(id, &Action::Resolve, "P-2", "已清运").unwrap();
        commit(&mut leader, r);
        let (second, r) = leader.open_incident(
            IncidentCategory::Noise,
            IncidentSource::Hotline,
            [5.0, 5.0],
            "噪音",
            Intake::default(),
        );
        commit(&mut leader, r);
        let r = leader.apply(id, &Action::ReviewPass, "审核员", "").unwrap();
        commit(&mut leader, r);
        let r = leader.apply(id, &Action::Close { satisfaction: 5 }, "回访员", "").unwrap();
        commit(&mut leader, r);
        // Fixes and audit entries are no shared change.
        let positions = vec![crate::records::TrackPoint { patrol: 0, t_ms: 1, x: 1.0, y: 1.0 }];
        assert!(Change::of(99, &leader.ingest_points(positions)).is_none());

        for c in &changes {
            follower.apply_change(c).unwrap();
        }
        // Again: nothing happens twice.
        for c in &changes {
            follower.apply_change(c).unwrap();
        }
        assert_eq!(follower.change_id(), 7);
        assert_eq!(follower.last_seq(), leader.last_seq());
        assert_eq!(follower.patrol_id("P-2"), Some(1));
        let (a, b) = (leader.world.incident(second).unwrap(), follower.world.incident(second).unwrap());
        assert_eq!((&a.case, &a.grid, a.pos), (&b.case, &b.grid, b.pos));
        // The closed one left both, and both count it the same.
        assert!(leader.world.incident(id).is_none() && follower.world.incident(id).is_none());
        assert_eq!(follower.kpis(), leader.kpis());
        assert_eq!((leader.kpis().total, leader.kpis().closed), (2, 1));
        assert_eq!(follower.world.patrols[&1].status, leader.world.patrols[&1].status);
        // The events reach the follower's displays, once each, in order.
        let seqs: Vec<u64> = follower.tick().events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=leader.last_seq()).collect::<Vec<_>>());
        assert!(follower.tick().events.is_empty());
        // A follower makes no events of its own (a patrol leaving its cell is the leader's to tell).
        let far = vec![crate::records::TrackPoint { patrol: 0, t_ms: 2, x: 400.0, y: 400.0 }];
        assert!(follower.ingest_points(far).iter().all(|r| matches!(r, Record::Track(_))));
    }

    #[test]
    fn a_command_from_the_bus_is_checked_again() {
        use crate::command::Command;
        let mut leader = live();
        let area = [-100.0, -100.0, 100.0, 100.0];
        let open = |x: f64, description: String| Command::Open {
            category: IncidentCategory::Noise,
            source: IncidentSource::Hotline,
            x,
            y: 0.0,
            description,
            intake: Intake::default(),
        };
        assert!(open(1e9, String::new()).run(&mut leader, area).is_err());
        assert!(open(f64::NAN, String::new()).run(&mut leader, area).is_err());
        assert!(open(0.0, "长".repeat(4_001)).run(&mut leader, area).is_err());
        let mut bad = open(0.0, String::new());
        if let Command::Open { intake, .. } = &mut bad {
            intake.attributes.insert("source".into(), vec!["aliens".into()]);
        }
        assert!(bad.run(&mut leader, area).is_err(), "an attribute outside its definition");
        if let Command::Open { intake, .. } = &mut bad {
            intake.attributes.clear();
            intake.photos.push(crate::services::Photo {
                id: "../../etc/passwd".into(),
                mime: "image/jpeg".into(),
                bytes: 1,
                width: 1,
                height: 1,
            });
        }
        assert!(bad.run(&mut leader, area).is_err(), "a photo id this server does not make");
        let (records, id) = open(0.0, "噪音".into()).run(&mut leader, area).unwrap();
        assert_eq!(id, Some(1));
        assert!(Change::of(1, &records).is_some_and(|c| c.incidents.len() == 1 && c.events.len() == 1));
    }

    #[test]
    fn a_change_that_skips_a_patrol_id_is_refused() {
        let mut follower = live();
        let row = PatrolRow {
            id: 3,
            ext_id: "P-4".into(),
            name: "P-4".into(),
            role: "police".into(),
            grid: String::new(),
            status: "patrolling".into(),
            at_ms: 0,
        };
        let c = Change { id: 1, patrols: vec![row], ..Change::default() };
        assert!(matches!(follower.apply_change(&c), Err(RestoreError::SparseIds(3))));
        assert_eq!(follower.change_id(), 0);
    }
}
