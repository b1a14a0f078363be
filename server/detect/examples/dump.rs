// TEMPORARY (helper analysis; delete before finishing).
use detect::{nab, Detector};
fn main() {
    let name = std::env::args().nth(1).unwrap();
    let (lo, hi): (usize, usize) = (
        std::env::args()
            .nth(2)
            .map(|s| s.parse().unwrap())
            .unwrap_or(0),
        std::env::args()
            .nth(3)
            .map(|s| s.parse().unwrap())
            .unwrap_or(usize::MAX),
    );
    let (_, files) = nab::open(Some("/work/shared/nab".into())).unwrap();
    let f = files.iter().find(|f| f.name.contains(&name)).unwrap();
    println!(
        "{} windows {:?} probation {}",
        f.name,
        f.labels.windows,
        nab::probation_len(f.values.len())
    );
    let mut d = Detector::default();
    for (i, (&t, &v)) in f.timestamps_ms.iter().zip(&f.values).enumerate() {
        let s = d.update(t, v);
        if i >= lo && i <= hi {
            let w = f.labels.windows.iter().any(|&(a, b)| (a..=b).contains(&i));
            println!(
                "{i}\t{}\t{v:.3}\t{:.3}\t{:.3}\t{:.3}",
                if w { "W" } else { "." },
                s.score,
                s.expected,
                (s.upper - s.expected) / 3.0
            );
        }
    }
}
