//! Times bursts of puts (a quick A/B probe for the enqueue path).
fn main() {
    let dir = std::env::temp_dir().join(format!("bb-putspin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}/p.db", dir.display());
    let burst: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let store = backburner::Store::builder(&url)
        .capacity(burst as usize + 1)
        .batch_max(burst as usize + 1)
        .linger(std::time::Duration::from_secs(60))
        .build()
        .expect("open");
    let mut lat = Vec::with_capacity(burst as usize);
    for round in 0..6u64 {
        lat.clear();
        for i in 0..burst {
            let k = format!("key:{:010}", round * burst + i);
            let t = std::time::Instant::now();
            let tk = store.put(&k, "{\"n\":0000000042,\"payload\":\"abcdefghijk\"}");
            lat.push(t.elapsed().as_nanos() as u64);
            drop(tk);
        }
        store.flush().expect("flush");
        lat.sort_unstable();
        println!("round {round}: put p50 {} ns p99 {} ns", lat[lat.len() / 2], lat[lat.len() * 99 / 100]);
    }
}
