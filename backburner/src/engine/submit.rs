//! The one submit path of every write: take a `Seq` and a place in the
//! queue (admission, with its backpressure), stage a keyed write in the
//! overlay (read-your-writes), and issue the ticket; or, when the queue
//! refuses, mark the `Seq` refused in the overlay, cancel it, and hand the
//! write back in the error. The queue knows nothing of the overlay.

use std::sync::Arc;

use super::shared::Shared;
use super::ticket::Ticket;
use crate::error::Result;
use crate::outcome::{Slot, TicketOutput};
use crate::value::KvBuf;
use crate::write::Record;

impl Shared {
    /// Submits `rec`; `keyed` is the overlay's view of a put or delete
    /// (hash, key and value, tombstone). The write's slot is made here and
    /// its completer goes with the record.
    #[inline]
    pub(crate) fn submit<T: TicketOutput>(&self, rec: Record, keyed: Option<(u64, &KvBuf, bool)>) -> Result<Ticket<T>> {
        self.submit_in(rec, keyed, false)
    }

    /// Submits `rec` under a permit (`Store::reserve_async`): into the
    /// queue's lane, which has room for it; the permit is given back if the
    /// write is refused, or once the intake takes it.
    pub(crate) fn submit_reserved<T: TicketOutput>(
        &self,
        rec: Record,
        keyed: Option<(u64, &KvBuf, bool)>,
    ) -> Result<Ticket<T>> {
        self.submit_in(rec, keyed, true)
    }

    #[inline]
    fn submit_in<T: TicketOutput>(
        &self,
        mut rec: Record,
        keyed: Option<(u64, &KvBuf, bool)>,
        reserved: bool,
    ) -> Result<Ticket<T>> {
        let wm = &self.progress.watermark;
        let (slot, completer) = Slot::new();
        rec.done = Some(completer);
        let admitted = match reserved {
            false => self.queue.admit(&self.progress, rec),
            true => self.queue.admit_reserved(&self.progress, rec),
        };
        match admitted {
            Ok(seq) => {
                self.overlay.stage(seq, keyed, wm);
                Ok(Ticket::new(seq, slot, Arc::clone(&self.progress)))
            }
            Err(refused) => {
                // Refused in the overlay before the seq is listed as
                // cancelled: the Intake may pass it as soon as it is listed.
                self.overlay.refuse(refused.seq, wm);
                self.queue.cancel(refused.seq, &self.progress);
                Err(refused.into_error(&self.progress, self.queue.capacity()))
            }
        }
    }
}
