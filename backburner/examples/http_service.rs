//! A small axum service over backburner, as a new user would write it:
//!
//! * `POST /events` (body: the event's text) writes a row and answers its id;
//! * `GET /events/{id}` reads it back (read-your-writes: a row posted a
//!   moment ago is there, committed or not);
//! * `GET /health` touches no database;
//! * `tracing` goes through backburner's logger (`tracing_layer`);
//! * SIGTERM or Ctrl-C shuts the server down gracefully, then closes the
//!   store (`close_async`: every accepted write is committed).
//!
//! `BB_MODE` picks how `POST` writes, for `scripts/bench-http.sh`:
//! `ff` (default: backburner, fire and forget, room awaited with a permit),
//! `await` (backburner, awaiting the commit), `blocking` (one autocommit
//! INSERT per request in `spawn_blocking`), `writer` (one awaited INSERT per
//! request on a single writer thread, as tokio-rusqlite does), `none` (no
//! write: the HTTP stack's own ceiling). `BB_URL_OPTIONS` adds options to
//! the store's URL (`checkpoint_rows=5000`, say). `BB_SINK=null` puts the
//! store over a sink that takes every batch and stores nothing: `ff` and
//! `await` then measure backburner's own cost, without SQLite's.
//!
//! ```sh
//! cargo run --release -p backburner --features tracing --example http_service -- 127.0.0.1:3000 /tmp/events.db
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use backburner::sink::{ApplyError, Batch, Outcomes, Resume, Sink, SinkError};
use backburner::{Seq, Store};
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    FireAndForget,
    Await,
    Blocking,
    Writer,
    None,
}

type Job = (String, tokio::sync::oneshot::Sender<rusqlite::Result<i64>>);

struct App {
    mode: Mode,
    store: Store,
    next: AtomicI64,
    db: std::path::PathBuf,
    writer: Option<std::sync::mpsc::Sender<Job>>,
}

/// `BB_SINK=null`: takes every batch, stores nothing.
struct NullSink;

impl Sink for NullSink {
    fn open_writer(&mut self, _: &str) -> Result<Resume, SinkError> {
        Ok(Resume { last_applied: Seq(0), epoch: 0 })
    }
    fn apply(&mut self, _: &Batch<'_>, _: &mut Outcomes<'_>) -> Result<(), ApplyError> {
        Ok(())
    }
}

fn key(id: i64) -> String {
    format!("event:{id}")
}

async fn post_event(State(app): State<Arc<App>>, body: String) -> Result<String, (StatusCode, String)> {
    let id = app.next.fetch_add(1, Ordering::Relaxed);
    let err = |e: &dyn std::fmt::Display| (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    match app.mode {
        Mode::FireAndForget => {
            let permit = app.store.reserve_async().await.map_err(|e| err(&e))?;
            permit.put(key(id), body).map_err(|e| err(&e))?;
        }
        Mode::Await => {
            let permit = app.store.reserve_async().await.map_err(|e| err(&e))?;
            permit.put(key(id), body).map_err(|e| err(&e))?.await.map_err(|e| err(&e))?;
        }
        Mode::Blocking => {
            let db = app.db.clone();
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(db)?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                conn.execute("INSERT INTO events(id, body) VALUES (?1, ?2)", rusqlite::params![id, body])
            })
            .await
            .map_err(|e| err(&e))?
            .map_err(|e| err(&e))?;
        }
        Mode::Writer => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let writer = app.writer.as_ref().ok_or_else(|| err(&"no writer thread"))?;
            writer.send((format!("{id}\u{0}{body}"), tx)).map_err(|e| err(&e))?;
            rx.await.map_err(|e| err(&e))?.map_err(|e| err(&e))?;
        }
        Mode::None => {}
    }
    tracing::debug!(id, "event posted");
    Ok(id.to_string())
}

async fn get_event(State(app): State<Arc<App>>, Path(id): Path<i64>) -> Result<String, StatusCode> {
    match app.store.get_async(key(id)).await {
        Ok(Some(v)) => Ok(String::from_utf8_lossy(&v).into_owned()),
        Ok(None) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

async fn health() -> &'static str {
    "ok"
}

/// The single writer thread of `Mode::Writer`: one autocommit INSERT per job.
fn writer_thread(db: std::path::PathBuf) -> std::sync::mpsc::Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::spawn(move || {
        let Ok(conn) = rusqlite::Connection::open(db) else { return };
        let _ = conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
        for (job, reply) in rx {
            let (id, body) = job.split_once('\u{0}').unwrap_or(("0", ""));
            let r = conn.execute(
                "INSERT INTO events(id, body) VALUES (?1, ?2)",
                rusqlite::params![id.parse::<i64>().unwrap_or(0), body],
            );
            let _ = reply.send(r.map(|n| n as i64));
        }
    });
    tx
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".into());
    let db = std::path::PathBuf::from(args.next().unwrap_or_else(|| "events.db".into()));
    let mode = match std::env::var("BB_MODE").as_deref() {
        Ok("await") => Mode::Await,
        Ok("blocking") => Mode::Blocking,
        Ok("writer") => Mode::Writer,
        Ok("none") => Mode::None,
        _ => Mode::FireAndForget,
    };

    let log = backburner::log::Logger::builder().stderr().filter("info").build()?;
    let _guard = log.guard();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(log.tracing_layer()))?;

    let opts = std::env::var("BB_URL_OPTIONS").map(|o| format!("?{o}")).unwrap_or_default();
    let url = format!("sqlite://{}{opts}", db.display());
    let store = match std::env::var("BB_SINK").as_deref() {
        Ok("null") => Store::builder(&url).sink(NullSink).build_async().await?,
        _ => Store::open_async(&url).await?,
    };
    {
        let conn = rusqlite::Connection::open(&db)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        )?;
    }
    let writer = (mode == Mode::Writer).then(|| writer_thread(db.clone()));
    let app = Arc::new(App { mode, store, next: AtomicI64::new(1), db, writer });
    let router = Router::new()
        .route("/events", post(post_event))
        .route("/events/{id}", get(get_event))
        .route("/health", get(health))
        .with_state(Arc::clone(&app));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(addr = addr.as_str(), "listening");
    axum::serve(listener, router).with_graceful_shutdown(shutdown()).await?;
    // Every accepted write is committed before the process ends.
    app.store.close_async().await?;
    let st = app.store.stats();
    tracing::info!(
        committed = st.committed,
        batches = st.batches,
        mean_batch = st.mean_batch_size,
        commit_p50_us = st.commit_p50.as_micros() as u64,
        commit_p99_us = st.commit_p99.as_micros() as u64,
        commit_max_us = st.commit_max.as_micros() as u64,
        "store closed"
    );
    log.flush_async().await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return ctrl_c.await.unwrap_or(()),
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
