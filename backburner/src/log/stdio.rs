//! Standard output and standard error as [`Destination`]s. Neither can cut
//! back a piece of a line (the logger finishes it instead), and neither
//! syncs.

use std::io::{self, Write as _};

use super::destination::Destination;

/// Standard output, through the standard library's `Stdout` (its
/// `LineWriter` is flushed after each hand-over).
pub(crate) struct Stdout(io::Stdout);

impl Stdout {
    pub(crate) fn new() -> Stdout {
        Stdout(io::stdout())
    }
}

impl Destination for Stdout {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write(bytes)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Standard error (unbuffered: the bytes go straight to the descriptor).
pub(crate) struct Stderr(io::Stderr);

impl Stderr {
    pub(crate) fn new() -> Stderr {
        Stderr(io::stderr())
    }
}

impl Destination for Stderr {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write(bytes)
    }
}
