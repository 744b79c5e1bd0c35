//! The one write vocabulary, at the bottom of the crate: a [`Write`] is what
//! a caller hands over, what admission queues, what the journal and the
//! dead-letter file encode, what a sink's batch yields, and what an error
//! that refused a write hands back. No module converts it into a shape of
//! its own. A [`Record`] is a write on its way to the sink: its `Seq`, the
//! hash of its key, and the completer of its ticket's slot.

use std::fmt;

use crate::outcome::Completer;
use crate::value::{KvBuf, SqlValue};

/// The sequence number of a write: given at enqueue, strictly increasing per
/// store, and stored by the sink with each batch so that a reopened store
/// resumes after the last applied one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

impl Seq {
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The largest `Seq` a store hands out: the overlay's index keeps a
/// tombstone flag in a `Seq`'s top bit, and its staging ring keeps three
/// bits of state below a `Seq` shifted left by three. (At ten million
/// writes a second, 2^60 seqs last over 3,000 years.)
pub(crate) const MAX_SEQ: u64 = 1 << 60;

/// One write: a keyed put or delete into the store's key/value table, or a
/// statement.
///
/// Handed back by an error that refused it (so nothing handed over is lost
/// silently), read back from a dead-letter file, and seen by a
/// [`Sink`](crate::Sink) in its [`Batch`](crate::Batch).
///
/// ```
/// use backburner::{SqlValue, Write};
/// let w = Write::put("user:42", "Ada");
/// assert_eq!(w.key(), Some(&b"user:42"[..]));
/// match &w {
///     Write::Put(kv) => assert_eq!(kv.value(), b"Ada"),
///     Write::Delete(kv) => println!("delete {:?}", kv.key()),
///     Write::Execute(st) => println!("{} with {} parameters", st.sql(), st.params().len()),
///     _ => {}
/// }
/// let e = Write::execute("INSERT INTO t VALUES (?1)", vec![SqlValue::Integer(1)]);
/// assert_eq!(e.sql(), Some("INSERT INTO t VALUES (?1)"));
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Write {
    /// `put(key, value)`.
    Put(KeyValue),
    /// `delete(key)` (the value is empty).
    Delete(KeyValue),
    /// `execute(sql, params)`.
    Execute(Statement),
}

impl Write {
    /// A put of `value` at `key`.
    pub fn put(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Write {
        Write::Put(KeyValue(KvBuf::new(key.as_ref(), value.as_ref())))
    }

    /// A delete of `key`.
    pub fn delete(key: impl AsRef<[u8]>) -> Write {
        Write::Delete(KeyValue(KvBuf::new(key.as_ref(), &[])))
    }

    /// A statement with its parameters.
    pub fn execute(sql: impl Into<String>, params: Vec<SqlValue>) -> Write {
        Write::Execute(Statement(Box::new(StatementParts { sql: sql.into(), params })))
    }

    /// The key of a put or delete.
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            Write::Put(kv) | Write::Delete(kv) => Some(kv.key()),
            Write::Execute(_) => None,
        }
    }

    /// The value of a put.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Write::Put(kv) => Some(kv.value()),
            Write::Delete(_) | Write::Execute(_) => None,
        }
    }

    /// The statement of an execute.
    pub fn sql(&self) -> Option<&str> {
        match self {
            Write::Execute(st) => Some(st.sql()),
            Write::Put(_) | Write::Delete(_) => None,
        }
    }

    /// The parameters of an execute.
    pub fn params(&self) -> Option<&[SqlValue]> {
        match self {
            Write::Execute(st) => Some(st.params()),
            Write::Put(_) | Write::Delete(_) => None,
        }
    }

    /// `"put"`, `"delete"` or `"execute"` (as the dead-letter file names them).
    pub fn kind(&self) -> &'static str {
        match self {
            Write::Put(_) => "put",
            Write::Delete(_) => "delete",
            Write::Execute(_) => "execute",
        }
    }

    /// The keyed write's buffer (for the overlay).
    pub(crate) fn kv(&self) -> Option<&KvBuf> {
        match self {
            Write::Put(kv) | Write::Delete(kv) => Some(&kv.0),
            Write::Execute(_) => None,
        }
    }
}

impl fmt::Debug for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Write::Put(kv) => {
                f.debug_struct("Put").field("key", &Bytes(kv.key())).field("value", &Bytes(kv.value())).finish()
            }
            Write::Delete(kv) => f.debug_struct("Delete").field("key", &Bytes(kv.key())).finish(),
            Write::Execute(st) => {
                f.debug_struct("Execute").field("sql", &st.sql()).field("params", &st.params()).finish()
            }
        }
    }
}

/// Bytes shown as text when they are UTF-8.
struct Bytes<'a>(&'a [u8]);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) => write!(f, "{s:?}"),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

/// The key and value of a keyed write. Small ones (up to 61 bytes together)
/// are stored in place, so a small `put` takes no allocation.
#[derive(Clone)]
pub struct KeyValue(pub(crate) KvBuf);

impl KeyValue {
    /// The key.
    pub fn key(&self) -> &[u8] {
        self.0.key()
    }

    /// The value (empty for a delete).
    pub fn value(&self) -> &[u8] {
        self.0.value()
    }
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key() && self.value() == other.value()
    }
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue").field("key", &Bytes(self.key())).field("value", &Bytes(self.value())).finish()
    }
}

/// A statement and its parameters (boxed: a `Write` stays one cache line).
#[derive(Clone, PartialEq)]
pub struct Statement(pub(crate) Box<StatementParts>);

#[derive(Clone, PartialEq)]
pub(crate) struct StatementParts {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlValue>,
}

impl Statement {
    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.0.sql
    }

    /// The parameters, in order.
    pub fn params(&self) -> &[SqlValue] {
        &self.0.params
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement").field("sql", &self.sql()).field("params", &self.params()).finish()
    }
}

/// One write on its way to the sink.
pub(crate) struct Record {
    pub(crate) seq: u64,
    /// Hash of the key for keyed writes (computed once, at enqueue).
    pub(crate) hash: u64,
    pub(crate) write: Write,
    /// Completes the ticket's slot; `None` for a write replayed from the
    /// journal (its ticket belonged to an earlier run).
    pub(crate) done: Option<Completer>,
}

impl Record {
    pub(crate) fn key(&self) -> Option<&KvBuf> {
        self.write.kv()
    }
}
