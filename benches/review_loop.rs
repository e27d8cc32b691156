//! One review body answered in a loop, for instruction counts that do not depend on how
//! busy the machine is:
//!
//!     cargo bench --bench review_loop --no-run
//!     valgrind --tool=callgrind target/release/deps/review_loop-* [REVIEW.json] [N]
//!
//! Without valgrind it prints the mean time per review. Defaults: the 8 KB nginx + app
//! Pod review, 2000 iterations.

use std::sync::Arc;
use std::time::Instant;

use lameduck::cluster::ClusterState;
use lameduck::plan::Settings;
use lameduck::scope::Mode;
use lameduck::webhook::Webhook;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let path = args
        .next()
        .unwrap_or_else(|| format!("{}/benches/data/review-8k.json", env!("CARGO_MANIFEST_DIR")));
    let iterations: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let webhook = Webhook::new(
        Settings::default(),
        Mode::Cluster,
        Arc::new(ClusterState::standalone()),
    );
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..iterations {
        bytes += webhook
            .review(std::hint::black_box(&body))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .body
            .len();
    }
    let mean = started.elapsed() / iterations;
    println!(
        "{path}: {iterations} reviews, {mean:?} each, {} B answers",
        bytes / iterations as usize
    );
}
