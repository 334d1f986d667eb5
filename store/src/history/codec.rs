//! The on-disk forms of history: track chunks (one patrol, one time window, delta-of-delta coded
//! like the wire codec's positions) and keyframes (every patrol's position and status at one
//! moment).
//!
//! A chunk is `n`, then its first fix (time after the window start in ms, x and y in cm, zigzag
//! varints), then per fix the change of the step from the previous one: a patrol walking
//! straight at an even pace and reporting at a steady rate costs three bytes a fix (one per
//! number), a turn or a late report a few more. Positions are kept to the centimetre.

use gridwall_city::records::{KeyPatrol, centimetres};
use gridwall_protocol::{PatrolRole, PatrolStatus};

/// A fix in integer units: ms since the Unix epoch, centimetres of the scene's local frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fix {
    pub t_ms: i64,
    pub x_cm: i64,
    pub y_cm: i64,
}

impl Fix {
    pub fn from_metres(t_ms: i64, x: f64, y: f64) -> Self {
        Self { t_ms, x_cm: centimetres(x), y_cm: centimetres(y) }
    }

    pub fn metres(&self) -> [f64; 2] {
        [self.x_cm as f64 / 100.0, self.y_cm as f64 / 100.0]
    }
}

/// What a stored blob could not be read as (a damaged or foreign database).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stored {what} is damaged: {why}")]
pub struct Damaged {
    pub what: &'static str,
    pub why: &'static str,
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_i(out: &mut Vec<u8>, v: i64) {
    put(out, zigzag(v));
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl Reader<'_> {
    fn var(&mut self) -> Result<u64, Damaged> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.at).ok_or(Damaged { what: self.what, why: "it ends early" })?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Damaged { what: self.what, why: "a number is too long" })
    }

    fn ivar(&mut self) -> Result<i64, Damaged> {
        self.var().map(unzigzag)
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }
}

/// Encodes the fixes of one chunk (sorted by time) against the start of its window.
pub fn encode_chunk(window_ms: i64, fixes: &[Fix]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + fixes.len() * 3);
    put(&mut out, fixes.len() as u64);
    let mut prev: Option<(Fix, [i64; 3])> = None;
    for f in fixes {
        match prev {
            None => {
                put_i(&mut out, f.t_ms - window_ms);
                put_i(&mut out, f.x_cm);
                put_i(&mut out, f.y_cm);
                prev = Some((*f, [0; 3]));
            }
            Some((p, step)) => {
                let now = [f.t_ms - p.t_ms, f.x_cm - p.x_cm, f.y_cm - p.y_cm];
                for k in 0..3 {
                    put_i(&mut out, now[k] - step[k]);
                }
                prev = Some((*f, now));
            }
        }
    }
    out
}

/// Decodes a chunk written by [`encode_chunk`], appending its fixes to `out`. Hostile bytes
/// give an error, never a panic or an allocation beyond the bytes' size.
pub fn decode_chunk(window_ms: i64, bytes: &[u8], out: &mut Vec<Fix>) -> Result<(), Damaged> {
    const WHAT: &str = "track chunk";
    let bad = |why| Damaged { what: WHAT, why };
    let mut r = Reader { bytes, at: 0, what: WHAT };
    let n = r.var()?;
    // Each fix takes at least three bytes.
    if n > (r.left() / 3) as u64 {
        return Err(bad("it says more fixes than it holds"));
    }
    out.reserve(n as usize);
    let mut prev: Option<(Fix, [i64; 3])> = None;
    for _ in 0..n {
        let a = [r.ivar()?, r.ivar()?, r.ivar()?];
        let add = |a: i64, b: i64| a.checked_add(b).ok_or(bad("a value overflows"));
        let (fix, step) = match prev {
            None => (Fix { t_ms: add(window_ms, a[0])?, x_cm: a[1], y_cm: a[2] }, [0; 3]),
            Some((p, step)) => {
                let now = [add(step[0], a[0])?, add(step[1], a[1])?, add(step[2], a[2])?];
                (Fix { t_ms: add(p.t_ms, now[0])?, x_cm: add(p.x_cm, now[1])?, y_cm: add(p.y_cm, now[2])? }, now)
            }
        };
        prev = Some((fix, step));
        out.push(fix);
    }
    if r.left() != 0 {
        return Err(bad("bytes are left over"));
    }
    Ok(())
}

/// Decodes a chunk, keeping in `out` only its fixes with `after < t <= upto` (a chunk at either
/// end of a range may reach past it); how many it kept.
pub fn decode_chunk_within(
    window_ms: i64,
    bytes: &[u8],
    (after, upto): (i64, i64),
    out: &mut Vec<Fix>,
) -> Result<usize, Damaged> {
    let before = out.len();
    decode_chunk(window_ms, bytes, out)?;
    let mut kept = before;
    for i in before..out.len() {
        if out[i].t_ms > after && out[i].t_ms <= upto {
            out[kept] = out[i];
            kept += 1;
        }
    }
    out.truncate(kept);
    Ok(kept - before)
}

/// Every patrol's position, role and status (sorted by id): per patrol the id's step from the
/// previous one, role and status in one byte, x and y in cm (zigzag varints).
pub fn encode_keyframe(patrols: &[KeyPatrol]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + patrols.len() * 8);
    put(&mut out, patrols.len() as u64);
    let mut prev = 0u32;
    for p in patrols {
        put(&mut out, u64::from(p.id.wrapping_sub(prev)));
        prev = p.id;
        out.push(p.role.index() << 4 | p.status.index());
        put_i(&mut out, p.x_cm);
        put_i(&mut out, p.y_cm);
    }
    out
}

pub fn decode_keyframe(bytes: &[u8]) -> Result<Vec<KeyPatrol>, Damaged> {
    const WHAT: &str = "keyframe";
    let bad = |why| Damaged { what: WHAT, why };
    let mut r = Reader { bytes, at: 0, what: WHAT };
    let n = r.var()?;
    if n > (r.left() / 4) as u64 {
        return Err(bad("it says more patrols than it holds"));
    }
    let mut out = Vec::with_capacity(n as usize);
    let mut id = 0u32;
    for _ in 0..n {
        let step = u32::try_from(r.var()?).map_err(|_| bad("an id is too large"))?;
        id = id.checked_add(step).ok_or(bad("an id is too large"))?;
        let b = *r.bytes.get(r.at).ok_or(bad("it ends early"))?;
        r.at += 1;
        let role = PatrolRole::from_index(b >> 4).ok_or(bad("an unknown role"))?;
        let status = PatrolStatus::from_index(b & 15).ok_or(bad("an unknown status"))?;
        out.push(KeyPatrol { id, role, status, x_cm: r.ivar()?, y_cm: r.ivar()? });
    }
    if r.left() != 0 {
        return Err(bad("bytes are left over"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_to_the_centimetre_in_about_three_bytes_a_fix() {
        // A walk at 1.3 m/s reporting every second with a few ms of jitter, turning once.
        let w = 1_790_000_040_000;
        let mut fixes = Vec::new();
        let (mut x, mut y) = (-1234.56, 789.01);
        for i in 0..60i64 {
            let heading: f64 = if i < 30 { 0.3 } else { 1.9 };
            x += 1.3 * heading.cos();
            y += 1.3 * heading.sin();
            fixes.push(Fix::from_metres(w + 200 + i * 1000 + (i * 7 % 5), x, y));
        }
        let bytes = encode_chunk(w, &fixes);
        let mut back = Vec::new();
        decode_chunk(w, &bytes, &mut back).unwrap();
        assert_eq!(back, fixes);
        for (f, b) in fixes.iter().zip(&back) {
            let [bx, by] = b.metres();
            assert!((bx - f.metres()[0]).abs() < 0.005 && (by - f.metres()[1]).abs() < 0.005);
        }
        let per_fix = bytes.len() as f64 / fixes.len() as f64;
        assert!(per_fix <= 3.4, "{per_fix} bytes a fix");
    }

    #[test]
    fn damaged_chunks_and_keyframes_are_errors_not_panics() {
        let w = 0;
        let fixes: Vec<Fix> = (0..10).map(|i| Fix { t_ms: i * 1000, x_cm: i * 130, y_cm: -i * 40 }).collect();
        let bytes = encode_chunk(w, &fixes);
        for cut in 0..bytes.len() {
            assert!(decode_chunk(w, &bytes[..cut], &mut Vec::new()).is_err(), "cut at {cut}");
        }
        let mut huge = vec![0xff; 9];
        huge.push(0x01);
        assert!(decode_chunk(w, &huge, &mut Vec::new()).is_err());
        let overflow = [1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0];
        assert!(decode_chunk(i64::MAX, &overflow, &mut Vec::new()).is_err());

        let k = vec![
            KeyPatrol { id: 3, role: PatrolRole::Police, status: PatrolStatus::Responding, x_cm: -5, y_cm: 900_000 },
            KeyPatrol { id: 70_000, role: PatrolRole::Volunteer, status: PatrolStatus::Off, x_cm: 1, y_cm: 2 },
        ];
        let bytes = encode_keyframe(&k);
        assert_eq!(decode_keyframe(&bytes).unwrap(), k);
        for cut in 0..bytes.len() {
            assert!(decode_keyframe(&bytes[..cut]).is_err());
        }
        assert!(decode_keyframe(&[1, 0, 0x77, 0, 0]).is_err(), "unknown role");
    }
}
