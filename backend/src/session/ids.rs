//! The patrols a display knows, as a bitset (patrol ids are dense: one bit per registered
//! patrol).

/// A set of patrol ids as a bitset.
#[derive(Debug, Default)]
pub(super) struct IdSet(Vec<u64>);

impl IdSet {
    pub(super) fn contains(&self, id: u32) -> bool {
        self.0.get(id as usize / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
    }
    pub(super) fn insert(&mut self, id: u32) {
        let i = id as usize / 64;
        if i >= self.0.len() {
            self.0.resize(i + 1, 0);
        }
        self.0[i] |= 1 << (id % 64);
    }
    /// Removes an id; whether it was there.
    pub(super) fn remove(&mut self, id: u32) -> bool {
        let had = self.contains(id);
        if had {
            self.0[id as usize / 64] &= !(1 << (id % 64));
        }
        had
    }
    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(i, &w)| (0..64).filter(move |b| w & (1 << b) != 0).map(move |b| (i * 64 + b) as u32))
    }
}

impl FromIterator<u32> for IdSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut s = Self::default();
        for id in iter {
            s.insert(id);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::IdSet;

    #[test]
    fn the_id_bitset_behaves_like_a_set() {
        let mut s: IdSet = [3, 64, 200].into_iter().collect();
        assert!(s.contains(64) && !s.contains(65) && !s.contains(100_000));
        assert!(s.remove(64) && !s.remove(64));
        s.insert(0);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 3, 200]);
    }
}
