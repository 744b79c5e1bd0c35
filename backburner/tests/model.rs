//! Guards read-your-writes and durability against a model: random sequences
//! of put / delete / get / flush, run by several threads at once through
//! clones of one store (each thread on its own keys, plus a few keys all of
//! them write), with close-and-reopen between phases. Every `get` of a
//! thread's own key must return exactly what the thread's model says (the
//! last put or delete through the store is seen at once); a `get` of a
//! shared key must return one of the values written to it; after each
//! close the SQLite file holds exactly the model's state, and so does the
//! reopened store.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use backburner::Store;
use proptest::prelude::*;

const THREADS: usize = 3;
const KEYS: u8 = 4;
const SHARED_KEYS: u8 = 2;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    Get(u8),
    Flush,
    PutShared(u8),
    GetShared(u8),
}

#[derive(Debug, Clone)]
struct Phase {
    /// The operations of each thread.
    ops: Vec<Vec<Op>>,
    /// Close the store after the phase and open it again.
    reopen: bool,
}

#[derive(Debug, Clone)]
struct Case {
    capacity: usize,
    batch_max: usize,
    linger_ms: u64,
    phases: Vec<Phase>,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0..KEYS).prop_map(Op::Delete),
        4 => (0..KEYS).prop_map(Op::Get),
        1 => Just(Op::Flush),
        1 => (0..SHARED_KEYS).prop_map(Op::PutShared),
        1 => (0..SHARED_KEYS).prop_map(Op::GetShared),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let phase = (prop::collection::vec(prop::collection::vec(op(), 0..40), THREADS), any::<bool>())
        .prop_map(|(ops, reopen)| Phase { ops, reopen });
    (1usize..32, 1usize..16, prop_oneof![Just(0u64), Just(2), Just(20)], prop::collection::vec(phase, 1..4))
        .prop_map(|(capacity, batch_max, linger_ms, phases)| Case { capacity, batch_max, linger_ms, phases })
}

fn key(t: usize, k: u8) -> String {
    format!("t{t}:k{k}")
}

fn shared_key(k: u8) -> String {
    format!("shared:{k}")
}

/// The value thread `t` writes to a shared key as its `i`th op of phase `p`:
/// unique, so a read names its writer.
fn shared_value(p: usize, t: usize, i: usize) -> Vec<u8> {
    format!("p{p}t{t}i{i}").into_bytes()
}

fn private_value(p: usize, i: usize, v: u8) -> Vec<u8> {
    format!("p{p}i{i}v{v}").into_bytes()
}

type Model = HashMap<u8, Vec<u8>>;

/// Runs one thread's ops of phase `p`, checking each read against `model`.
fn run_thread(
    store: &Store,
    p: usize,
    t: usize,
    ops: &[Op],
    model: &mut Model,
    shared_written: &HashMap<u8, HashSet<Vec<u8>>>,
    shared_put_before: &HashSet<u8>,
) -> Result<(), String> {
    let mut own_shared: HashSet<u8> = HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        let err = |what: String| format!("phase {p} thread {t} op {i} {op:?}: {what}");
        match *op {
            Op::Put(k, v) => {
                let value = private_value(p, i, v);
                drop(store.put(key(t, k), &value).map_err(|e| err(e.to_string()))?);
                model.insert(k, value);
            }
            Op::Delete(k) => {
                drop(store.delete(key(t, k)).map_err(|e| err(e.to_string()))?);
                model.remove(&k);
            }
            Op::Get(k) => {
                let got = store.get(key(t, k)).map_err(|e| err(e.to_string()))?;
                let want = model.get(&k);
                if got.as_deref() != want.map(Vec::as_slice) {
                    return Err(err(format!("got {got:?}, model says {want:?}")));
                }
            }
            Op::Flush => store.flush().map_err(|e| err(e.to_string()))?,
            Op::PutShared(k) => {
                let value = shared_value(p, t, i);
                drop(store.put(shared_key(k), &value).map_err(|e| err(e.to_string()))?);
                own_shared.insert(k);
            }
            Op::GetShared(k) => {
                let got = store.get(shared_key(k)).map_err(|e| err(e.to_string()))?;
                match got {
                    Some(v) if shared_written[&k].contains(&*v) => {}
                    Some(v) => return Err(err(format!("{v:?} was never written"))),
                    // Shared keys are only ever put: once a put of this key
                    // was made before the read, the key exists.
                    None if own_shared.contains(&k) || shared_put_before.contains(&k) => {
                        return Err(err("a written shared key reads as absent".into()))
                    }
                    None => {}
                }
            }
        }
    }
    Ok(())
}

/// Checks every key against the models: through `store` if given, else in
/// the SQLite file directly.
fn check_state(
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    models: &[Model],
    shared_written: &HashMap<u8, HashSet<Vec<u8>>>,
    shared_put_before: &HashSet<u8>,
    when: &str,
) -> Result<(), TestCaseError> {
    for (t, model) in models.iter().enumerate() {
        for k in 0..KEYS {
            let got = read(&key(t, k));
            prop_assert_eq!(got.as_ref(), model.get(&k), "{}: key {}", when, key(t, k));
        }
    }
    for k in 0..SHARED_KEYS {
        match read(&shared_key(k)) {
            Some(v) => {
                prop_assert!(shared_written[&k].contains(&v), "{}: shared key {} holds {:?}, never written", when, k, v)
            }
            None => {
                prop_assert!(!shared_put_before.contains(&k), "{}: shared key {} was written but is absent", when, k)
            }
        }
    }
    Ok(())
}

fn open(url: &str, c: &Case) -> Store {
    Store::builder(url)
        .capacity(c.capacity)
        .batch_max(c.batch_max)
        .linger(Duration::from_millis(c.linger_ms))
        .build()
        .expect("open")
}

fn run_case(c: &Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let mut store = open(&url, c);
    let mut models: Vec<Model> = vec![Model::new(); THREADS];
    // Every value ever written to each shared key (those of the running
    // phase included: another thread may have written it a moment ago).
    let mut shared_written: HashMap<u8, HashSet<Vec<u8>>> = (0..SHARED_KEYS).map(|k| (k, HashSet::new())).collect();
    // Shared keys put in an earlier phase.
    let mut shared_put_before: HashSet<u8> = HashSet::new();

    for (p, phase) in c.phases.iter().enumerate() {
        for (t, ops) in phase.ops.iter().enumerate() {
            for (i, op) in ops.iter().enumerate() {
                if let Op::PutShared(k) = op {
                    shared_written.get_mut(k).expect("shared key").insert(shared_value(p, t, i));
                }
            }
        }
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = phase
                .ops
                .iter()
                .zip(models.iter_mut())
                .enumerate()
                .map(|(t, (ops, model))| {
                    let store = store.clone();
                    let sw = &shared_written;
                    let before = &shared_put_before;
                    s.spawn(move || run_thread(&store, p, t, ops, model, sw, before))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into()))).collect()
        });
        for r in results {
            r.map_err(TestCaseError::fail)?;
        }
        for ops in &phase.ops {
            for op in ops {
                if let Op::PutShared(k) = op {
                    shared_put_before.insert(*k);
                }
            }
        }

        // After the threads: the store agrees with the models.
        let via_store = |k: &str| store.get(k).expect("get").map(|v| v.to_vec());
        check_state(&via_store, &models, &shared_written, &shared_put_before, &format!("after phase {p}"))?;

        if phase.reopen {
            store.close().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let in_file = |k: &str| common::committed(Path::new(&db), k.as_bytes());
            check_state(
                &in_file,
                &models,
                &shared_written,
                &shared_put_before,
                &format!("in the file after phase {p}"),
            )?;
            store = open(&url, c);
            let via_store = |k: &str| store.get(k).expect("get").map(|v| v.to_vec());
            check_state(
                &via_store,
                &models,
                &shared_written,
                &shared_put_before,
                &format!("reopened after phase {p}"),
            )?;
        }
    }
    store.close().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let in_file = |k: &str| common::committed(Path::new(&db), k.as_bytes());
    check_state(&in_file, &models, &shared_written, &shared_put_before, "in the file at the end")?;
    let st_rows = common::count(&db, "backburner_kv");
    let want = models.iter().map(|m| m.len() as i64).sum::<i64>() + shared_put_before.len() as i64;
    prop_assert_eq!(st_rows, want, "rows in backburner_kv");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn concurrent_ops_match_the_model(c in case()) {
        run_case(&c)?;
    }
}
