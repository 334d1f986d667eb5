//! The patrols by their internal id. Ids are issued densely from 0 (the live state numbers
//! patrols as they register), so the table is a vector: a position fix finds its patrol by
//! indexing, without hashing, and a batch that lists its patrols in order reads memory in order.
//! Its size is the number of registered patrols, which is live work, not history.

use crate::world::PatrolRec;

/// Patrol records by id; the subset of a map's interface the city uses.
#[derive(Debug, Default, Clone)]
pub struct PatrolTable {
    recs: Vec<Option<PatrolRec>>,
}

/// Ids above this are not dense ids issued by the live state (a table never grows past it).
pub const MAX_PATROL_ID: u32 = 50_000_000;

impl PatrolTable {
    pub fn get(&self, id: &u32) -> Option<&PatrolRec> {
        self.recs.get(*id as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, id: &u32) -> Option<&mut PatrolRec> {
        self.recs.get_mut(*id as usize)?.as_mut()
    }

    /// The record of `id`, made with `make` if there is none.
    ///
    /// # Panics
    /// If `id` exceeds [`MAX_PATROL_ID`].
    pub fn get_or_insert_with(&mut self, id: u32, make: impl FnOnce() -> PatrolRec) -> &mut PatrolRec {
        assert!(id <= MAX_PATROL_ID, "patrol ids are issued densely from 0");
        let i = id as usize;
        if i >= self.recs.len() {
            self.recs.resize_with(i + 1, || None);
        }
        self.recs[i].get_or_insert_with(make)
    }

    pub fn values(&self) -> impl Iterator<Item = &PatrolRec> {
        self.recs.iter().flatten()
    }
}

impl std::ops::Index<&u32> for PatrolTable {
    type Output = PatrolRec;
    fn index(&self, id: &u32) -> &PatrolRec {
        self.get(id).expect("a registered patrol")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwall_protocol::PatrolRole;

    fn rec(id: u32) -> PatrolRec {
        PatrolRec { name: format!("P-{id}"), ..PatrolRec::new(id, PatrolRole::GridWorker) }
    }

    #[test]
    fn records_are_found_by_id_and_counted_once() {
        let mut t = PatrolTable::default();
        assert!(t.values().next().is_none() && t.get(&0).is_none() && t.get(&u32::MAX).is_none());
        t.get_or_insert_with(3, || rec(3));
        t.get_or_insert_with(0, || rec(0));
        t.get_or_insert_with(3, || unreachable!("already there")).name = "改名".into();
        assert_eq!(t.values().count(), 2);
        assert_eq!(t[&3].name, "改名");
        assert!(t.get(&0).is_some() && t.get(&1).is_none() && t.get(&4).is_none());
        t.get_mut(&0).unwrap().outside = true;
        assert_eq!(t.values().map(|r| r.id).collect::<Vec<_>>(), vec![0, 3]);
    }

    #[test]
    #[should_panic(expected = "densely")]
    fn an_id_far_beyond_the_issued_ones_is_refused() {
        PatrolTable::default().get_or_insert_with(MAX_PATROL_ID + 1, || rec(0));
    }
}
