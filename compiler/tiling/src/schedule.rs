//! The default schedule: tile sizes from an analytic rule on the host's cache sizes.
//!
//! Rule (first form): elementwise kernels process `elementwise` elements of the last axis
//! per grid point (a quarter of L1 in f32 values, at least 64); matmul tiles are square
//! `mm x mm` with a K step of `mm`, sized so that the three f32 tiles fit in half of L2;
//! reductions take `rows` rows per grid point and `elementwise` columns per step. The
//! cache sizes are read at run time from `/sys/devices/system/cpu/cpu0/cache`, with a
//! fallback of 32 KiB L1 and 512 KiB L2 when they cannot be read.

use std::fmt;

/// Tile sizes for one compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub elementwise: u64,
    pub mm: u64,
    pub rows: u64,
}

impl Schedule {
    /// The rule above for given L1 and L2 sizes in bytes.
    pub fn for_caches(l1: u64, l2: u64) -> Schedule {
        let elementwise = prev_pow2((l1 / 4 / 4).max(64)).min(4096);
        // 3 * mm^2 * 4 bytes <= l2 / 2
        let mut mm = 16;
        while 3 * (2 * mm) * (2 * mm) * 4 <= l2 / 2 && mm < 128 {
            mm *= 2;
        }
        Schedule {
            elementwise,
            mm,
            rows: 8,
        }
    }

    /// The rule for this host's caches.
    pub fn host() -> Schedule {
        let (l1, l2) = host_caches();
        Schedule::for_caches(l1, l2)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "elementwise {} / matmul {}x{} / reduction rows {}",
            self.elementwise, self.mm, self.mm, self.rows
        )
    }
}

fn prev_pow2(x: u64) -> u64 {
    1u64 << (63 - x.max(1).leading_zeros())
}

/// (L1 data, L2) in bytes for cpu0, or the fallback.
pub fn host_caches() -> (u64, u64) {
    let mut l1 = None;
    let mut l2 = None;
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let read = |f: &str| {
            std::fs::read_to_string(format!("{dir}/{f}"))
                .ok()
                .map(|s| s.trim().to_string())
        };
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            continue;
        };
        let bytes = parse_size(&size);
        match (level.as_str(), kind.as_str()) {
            ("1", "Data") => l1 = bytes,
            ("2", _) => l2 = bytes,
            _ => {}
        }
    }
    (l1.unwrap_or(32 * 1024), l2.unwrap_or(512 * 1024))
}

/// `32K`, `512K`, `1M` or a plain byte count.
fn parse_size(s: &str) -> Option<u64> {
    let (num, mul) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1024),
        'M' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_follows_the_caches() {
        let s = Schedule::for_caches(32 * 1024, 512 * 1024);
        assert_eq!(s.elementwise, 2048);
        assert_eq!(s.mm, 128);
        let small = Schedule::for_caches(4 * 1024, 16 * 1024);
        assert_eq!(small.elementwise, 256);
        assert_eq!(small.mm, 16);
        assert_eq!(parse_size("32K"), Some(32768));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("x"), None);
        let (l1, l2) = host_caches();
        assert!(l1 >= 1024 && l2 >= l1);
    }
}
