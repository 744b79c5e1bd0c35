//! The write vocabulary at the bottom of the crate: the `Seq` a write is
//! given at enqueue, and a write on its way to the sink (`Record`), as the
//! queue, the journal's encoding, the dead-letter file and the sink's batch
//! all see it.

use std::fmt;

use crate::value::{KvBuf, SqlValue, Write};

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

/// A statement and its parameters.
pub(crate) struct ExecOp {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlValue>,
}

pub(crate) enum Op {
    Put(KvBuf),
    Delete(KvBuf),
    Execute(Box<ExecOp>),
}

/// One write on its way to the sink.
pub(crate) struct Record {
    pub(crate) seq: u64,
    /// Hash of the key for keyed writes (computed once, at enqueue).
    pub(crate) hash: u64,
    pub(crate) op: Op,
}

impl Record {
    pub(crate) fn key(&self) -> Option<&KvBuf> {
        match &self.op {
            Op::Put(kv) | Op::Delete(kv) => Some(kv),
            Op::Execute(_) => None,
        }
    }

    pub(crate) fn to_write(&self) -> Write {
        match &self.op {
            Op::Put(kv) => Write::Put { key: kv.key().to_vec(), value: kv.value().to_vec() },
            Op::Delete(kv) => Write::Delete { key: kv.key().to_vec() },
            Op::Execute(e) => Write::Execute { sql: e.sql.clone(), params: e.params.clone() },
        }
    }
}
