//! Watching the server and this generator while a load runs, shared by the `chat` and `media`
//! scenarios: [`procfs`] reads a process's CPU time and RSS (and finds the server by its
//! listening port), [`server`] samples the server in the background; plus the figures both
//! scenarios print.

pub mod procfs;
pub mod server;

/// Memory per connection: the growth from `before` shared by `connections`.
pub fn per_connection(before: u64, now: u64, connections: usize) -> f64 {
    (now as f64 - before as f64) / connections.max(1) as f64
}

/// Bytes for people: `512 B`, `3.2 KiB`, `45.6 MiB`, `1.50 GiB` (negative growth keeps its sign).
pub fn bytes(n: f64) -> String {
    let magnitude = n.abs();
    if magnitude < 1024.0 {
        format!("{n:.0} B")
    } else if magnitude < 1024.0 * 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else if magnitude < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", n / 1024.0 / 1024.0 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn bytes_for_people() {
        let cases: &[(f64, &str)] = &[
            (0.0,                  "0 B"),
            (512.0,                "512 B"),
            (3276.8,               "3.2 KiB"),
            (-2048.0,              "-2.0 KiB"),
            (47_815_065.6,         "45.6 MiB"),
            (1_610_612_736.0,      "1.50 GiB"),
        ];
        for &(n, expected) in cases {
            assert_eq!(bytes(n), expected, "{n}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn memory_per_connection() {
        let cases: &[(u64, u64, usize, f64)] = &[
            (10_000_000, 30_000_000, 1000, 20_000.0),
            (10_000_000, 10_000_000, 1000, 0.0),
            (10_000_000, 9_000_000,  1000, -1000.0), // the allocator gave memory back
            (0,          100,        0,    100.0),   // no connections: no division by zero
        ];
        for &(before, now, connections, expected) in cases {
            assert_eq!(per_connection(before, now, connections), expected);
        }
    }
}
