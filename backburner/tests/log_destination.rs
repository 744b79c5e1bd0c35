//! A user's own log destination (`Builder::destination`): every line
//! arrives whole and in per-thread order, through short writes that
//! succeed; after a short write and an error only whole lines arrive (the
//! piece cut back where the destination can, else the cut line finished
//! first), the error is reported by the next flush, and `written` and
//! `write_errors` count exactly; a destination that rotates gets no line
//! split across its parts.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use backburner::log::{Destination, LogError, Logger};

/// What a test destination holds, shared with the test.
#[derive(Default)]
struct State {
    /// The bytes taken, in order (the current part).
    bytes: Vec<u8>,
    /// Bytes it takes before it fails: `None` is no limit.
    room: Option<usize>,
    /// Bytes taken by each `write` at most (short writes that succeed).
    chunk: Option<usize>,
    /// Whether `cut_back` works.
    can_cut: bool,
    /// The pieces cut back.
    cuts: Vec<usize>,
    /// With rotation: the parts before the current one, and the most bytes a part may hold.
    parts: Vec<Vec<u8>>,
    part_max: Option<u64>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<State>>);

impl Shared {
    fn get(&self) -> MutexGuard<'_, State> {
        self.0.lock().expect("state lock")
    }
    fn text(&self) -> String {
        String::from_utf8(self.get().bytes.clone()).expect("utf-8")
    }
}

/// A destination into memory that takes bytes as `State` says.
struct Memory(Shared);

impl Destination for Memory {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut s = self.0.get();
        let mut n = bytes.len().min(s.chunk.unwrap_or(usize::MAX));
        if let Some(room) = s.room {
            if room == 0 {
                return Err(io::Error::other("test destination full"));
            }
            n = n.min(room);
            s.room = Some(room - n);
        }
        s.bytes.extend_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn cut_back(&mut self, piece: usize) -> io::Result<()> {
        let mut s = self.0.get();
        if !s.can_cut {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "test destination cannot cut"));
        }
        let len = s.bytes.len();
        assert!(piece <= len, "asked to cut {piece} of {len} bytes");
        s.bytes.truncate(len - piece);
        s.cuts.push(piece);
        Ok(())
    }

    fn rotation_due(&mut self, held: u64, next: usize) -> bool {
        let s = self.0.get();
        let size = s.bytes.len() as u64 + held;
        s.part_max.is_some_and(|m| size > 0 && size + next as u64 > m)
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut s = self.0.get();
        let part = std::mem::take(&mut s.bytes);
        s.parts.push(part);
        Ok(())
    }
}

/// The message of a whole line of this file: `<ts> INFO  log_destination [<thread>] <message>`,
/// its thread and message.
fn parse(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    let stamp = b.len() > 27 && b[26] == b'Z' && b[10] == b'T' && b[..4].iter().all(u8::is_ascii_digit);
    if !stamp {
        return None;
    }
    let rest = line.get(27..)?.strip_prefix(" INFO  log_destination [")?;
    rest.split_once("] ")
}

/// `<phase> line <n> end` lines: checks every line is whole, returns the numbers of each phase in order.
fn by_phase(text: &str) -> HashMap<String, Vec<u64>> {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "ends inside a line: {:?}",
        &text[text.len().saturating_sub(200)..]
    );
    let mut by: HashMap<String, Vec<u64>> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let whole = parse(line).and_then(|(_, msg)| {
            let (phase, n) = msg.strip_suffix(" end")?.split_once(" line ")?;
            Some((phase.to_string(), n.parse::<u64>().ok()?))
        });
        let Some((phase, n)) = whole else { panic!("line {} is not whole (or two glued): {line:?}", i + 1) };
        by.entry(phase).or_default().push(n);
    }
    by
}

#[test]
fn lines_from_many_threads_arrive_whole_and_in_order() {
    const THREADS: u64 = 6;
    const LINES: u64 = 5_000;
    let state = Shared::default();
    // Short writes that succeed: at most 1,000 bytes per call, so the
    // logger must go on with the rest, inside lines.
    state.get().chunk = Some(1_000);
    let log = Logger::builder().destination(Memory(state.clone())).queue_capacity(256).build().expect("logger");
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::Builder::new()
                .name(format!("t{t}"))
                .spawn(move || {
                    for i in 0..LINES {
                        backburner::info!(log, "thread {} line {} end", t, i);
                    }
                })
                .expect("spawn")
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    log.flush().expect("flush");
    let text = state.text();
    assert!(text.ends_with('\n'), "ends inside a line");
    let mut next = vec![0u64; THREADS as usize];
    for (i, line) in text.lines().enumerate() {
        let parsed = parse(line).and_then(|(thread, msg)| {
            let (t, n) = msg.strip_prefix("thread ")?.strip_suffix(" end")?.split_once(" line ")?;
            let t: u64 = t.parse().ok()?;
            (thread == format!("t{t}")).then_some((t, n.parse::<u64>().ok()?))
        });
        let Some((t, n)) = parsed else { panic!("line {} is not whole (or two glued): {line:?}", i + 1) };
        assert_eq!(n, next[t as usize], "thread {t}: line {n} out of order (line {} of the output)", i + 1);
        next[t as usize] += 1;
    }
    assert_eq!(next, vec![LINES; THREADS as usize], "lines missing");
    let stats = log.stats();
    assert_eq!(stats.written, THREADS * LINES, "{stats:?}");
    assert_eq!(stats.write_errors, 0, "{stats:?}");
}

/// Logs `n` lines `<phase> line <i> end` from a thread named `w`, then flushes.
fn log_phase(log: &Logger, phase: &'static str, n: u64) -> Result<(), LogError> {
    let log = log.clone();
    std::thread::Builder::new()
        .name("w".into())
        .spawn(move || {
            for i in 0..n {
                backburner::info!(log, "{} line {:05} end", phase, i);
            }
            log.flush()
        })
        .expect("spawn")
        .join()
        .expect("join")
}

/// Runs a destination out of room inside a line, then gives it room
/// again; returns the output, the stats, and the lines the failed flush
/// reported.
fn run_out_of_room(can_cut: bool) -> (Shared, HashMap<String, Vec<u64>>, backburner::log::LogStats) {
    const DURING: u64 = 300;
    let state = Shared::default();
    state.get().can_cut = can_cut;
    let log = Logger::builder().destination(Memory(state.clone())).build().expect("logger");
    log_phase(&log, "before", 20).expect("flush before the destination is full");
    // Lines are all the same length: room for 10 and a half more.
    let line = state.text().lines().next().map(str::len).expect("a line") + 1;
    state.get().room = Some(10 * line + line / 2);
    let reported = match log_phase(&log, "during", DURING) {
        Err(LogError::Write { lines, message }) => {
            assert!(message.contains("test destination full"), "{message}");
            lines
        }
        other => panic!("a flush into a full destination should report the lost lines: {other:?}"),
    };
    let full = state.text();
    if can_cut {
        assert!(full.ends_with('\n'), "the piece of the cut line was not cut back");
        assert_eq!(state.get().cuts, vec![line / 2], "one cut, of the piece");
    } else {
        assert!(!full.ends_with('\n'), "the write was not cut inside a line: the test misses its case");
    }
    let stats = log.stats();
    assert_eq!(reported, stats.write_errors, "the flush reports every lost line: {stats:?}");
    assert!(log.flush().is_ok(), "the error is reported once");
    state.get().room = None;
    log_phase(&log, "after", 100).expect("flush once there is room again");
    let by = by_phase(&state.text());
    let stats = log.stats();
    assert_eq!(by["before"], (0..20).collect::<Vec<_>>());
    assert_eq!(by["after"], (0..100).collect::<Vec<_>>());
    let during = &by["during"];
    assert_eq!(*during, (0..during.len() as u64).collect::<Vec<_>>(), "the first lines, in order");
    let lines = (20 + during.len() + 100) as u64;
    assert_eq!(stats.written, lines, "written counts the lines that arrived: {stats:?}");
    assert_eq!(stats.write_errors, DURING - during.len() as u64, "write_errors counts the others: {stats:?}");
    assert_eq!(stats.logged, stats.written + stats.write_errors, "{stats:?}");
    (state, by, stats)
}

#[test]
fn a_cut_line_that_cannot_be_cut_back_is_finished_first() {
    let (state, by, _) = run_out_of_room(false);
    // The 11th line was cut: finished once there was room, so it arrived.
    assert_eq!(by["during"].len(), 11);
    assert!(state.get().cuts.is_empty());
}

#[test]
fn a_cut_line_is_cut_back_where_the_destination_can() {
    let (_, by, _) = run_out_of_room(true);
    assert_eq!(by["during"].len(), 10, "the cut line is gone, not finished");
}

#[test]
fn a_destination_that_takes_nothing_loses_every_line_and_says_so() {
    let state = Shared::default();
    state.get().room = Some(0);
    let log = Logger::builder().destination(Memory(state.clone())).build().expect("logger");
    match log_phase(&log, "lost", 50) {
        Err(LogError::Write { lines, message }) => {
            assert_eq!(lines, 50);
            assert!(message.contains("test destination full"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let stats = log.stats();
    assert_eq!((stats.written, stats.write_errors), (0, 50), "{stats:?}");
    assert!(state.get().bytes.is_empty());
}

#[test]
fn a_destination_that_rotates_gets_whole_lines_in_each_part() {
    const MAX: u64 = 2_000;
    let state = Shared::default();
    state.get().part_max = Some(MAX);
    let log = Logger::builder().destination(Memory(state.clone())).build().expect("logger");
    log_phase(&log, "rotated", 500).expect("flush");
    let mut s = state.get();
    let current = std::mem::take(&mut s.bytes);
    let mut parts = std::mem::take(&mut s.parts);
    drop(s);
    parts.push(current);
    assert!(parts.len() > 10, "{} parts", parts.len());
    let mut all = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        assert!(p.len() as u64 <= MAX, "part {i} holds {} bytes", p.len());
        let text = std::str::from_utf8(p).expect("utf-8");
        by_phase(text); // whole lines only
        all.extend_from_slice(p);
    }
    let by = by_phase(std::str::from_utf8(&all).expect("utf-8"));
    assert_eq!(by["rotated"], (0..500).collect::<Vec<_>>());
    let stats = log.stats();
    assert_eq!(stats.rotations, parts.len() as u64 - 1, "{stats:?}");
    assert_eq!(stats.written, 500, "{stats:?}");
}
