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

/// Where a write takes its room.
#[derive(Clone, Copy)]
pub(crate) enum Room {
    /// In the bounded queue, as its `Backpressure` says.
    Queue,
    /// The room a `Permit` holds.
    Permit,
}

impl Shared {
    /// Submits `rec`; `keyed` is the overlay's view of a put or delete
    /// (hash, key and value, tombstone). The write's slot is made here and
    /// its completer goes with the record. With [`Room::Permit`], the write
    /// goes into the queue's lane, which has room for it
    /// (`Store::reserve_async`); a refused write leaves the room to the
    /// permit, which gives it back when dropped.
    #[inline]
    pub(crate) fn submit<T: TicketOutput>(
        &self,
        mut rec: Record,
        keyed: Option<(u64, &KvBuf, bool)>,
        room: Room,
    ) -> Result<Ticket<T>> {
        let wm = &self.progress.watermark;
        let (slot, completer) = Slot::new();
        rec.done = Some(completer);
        let admitted = match room {
            Room::Queue => self.queue.admit(&self.progress, rec),
            Room::Permit => self.queue.admit_reserved(&self.progress, rec),
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
