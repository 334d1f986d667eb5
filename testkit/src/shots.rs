//! Captures: PNG files read back as RGB pixels, and ways to look at them.

use std::path::Path;

/// A roof or wall of the city's buildings in the theme's blues (native and browser captures).
pub fn is_building(p: [u8; 3]) -> bool {
    let [r, g, b] = p.map(i32::from);
    r > 45 && b > 110 && b >= g + 40 && g <= r + 45
}

/// A capture's pixels, row by row from the top left.
#[derive(Debug, Clone)]
pub struct Shot {
    pub w: usize,
    pub h: usize,
    pub rgb: Vec<[u8; 3]>,
}

impl Shot {
    /// Reads a PNG (RGB or RGBA).
    pub fn read(path: &Path) -> Self {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let decoder = png::Decoder::new(std::io::BufReader::new(file));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        let channels = info.color_type.samples();
        Self {
            w: info.width as usize,
            h: info.height as usize,
            rgb: buf[..info.buffer_size()].chunks_exact(channels).map(|c| [c[0], c[1], c[2]]).collect(),
        }
    }

    pub fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * self.w + x]
    }

    /// Mean of a rectangle, per channel, 0..255.
    pub fn mean(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> [f64; 3] {
        let mut sum = [0.0; 3];
        for y in y0..y1 {
            for x in x0..x1 {
                let p = self.at(x, y);
                for k in 0..3 {
                    sum[k] += f64::from(p[k]);
                }
            }
        }
        let n = ((x1 - x0) * (y1 - y0)) as f64;
        sum.map(|s| s / n)
    }

    /// How many pixels of a rectangle pass `pred`.
    pub fn count(&self, (x0, y0, x1, y1): (usize, usize, usize, usize), pred: impl Fn([i32; 3]) -> bool) -> usize {
        (y0..y1.min(self.h))
            .flat_map(|y| (x0..x1.min(self.w)).map(move |x| (x, y)))
            .filter(|&(x, y)| pred(self.at(x, y).map(i32::from)))
            .count()
    }

    /// How many pixels within `r` of a point pass `pred` (off-picture ones do not count).
    pub fn count_near(&self, (cx, cy): (f32, f32), r: i32, pred: impl Fn([i32; 3]) -> bool) -> usize {
        let mut n = 0;
        for dy in -r..=r {
            for dx in -r..=r {
                let (x, y) = (cx as i32 + dx, cy as i32 + dy);
                if x >= 0
                    && y >= 0
                    && (x as usize) < self.w
                    && (y as usize) < self.h
                    && pred(self.at(x as usize, y as usize).map(i32::from))
                {
                    n += 1;
                }
            }
        }
        n
    }
}

/// Copies a capture to `$GRIDWALL_TEST_SHOTS/` when that is set, to look at what a test saw.
pub fn keep(name: &str, path: &Path) {
    if let Some(dir) = std::env::var_os("GRIDWALL_TEST_SHOTS") {
        std::fs::create_dir_all(&dir).expect("the shots folder");
        std::fs::copy(path, Path::new(&dir).join(name)).expect("a copy of the capture");
    }
}
