//! What a log call leaves for the worker: the call site (static), the time,
//! and the arguments copied as values; or, when an argument cannot be copied
//! cheaply, the message formatted on the caller.

use std::fmt;

use super::Level;

/// Most arguments a call may have for deferred formatting; calls with more
/// are formatted on the caller.
pub const MAX_ARGS: usize = 4;

/// Bytes of a string argument copied in place (longer ones fall back to
/// formatting on the caller).
pub const INLINE_STR: usize = 22;

/// A short string copied in place.
#[derive(Clone, Copy)]
pub struct InlineStr {
    len: u8,
    bytes: [u8; INLINE_STR],
}

impl InlineStr {
    /// Copies `s` if it fits.
    #[inline]
    pub fn new(s: &str) -> Option<InlineStr> {
        if s.len() > INLINE_STR {
            return None;
        }
        let mut bytes = [0u8; INLINE_STR];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(InlineStr { len: s.len() as u8, bytes })
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Copied from a `str` whole: always valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

/// One argument, copied at the call, in its own type (so that it formats
/// exactly as it would have on the caller: `0.1f32` stays `0.1`, `{:x}` of
/// `-1i8` stays `ff`).
#[derive(Clone, Copy)]
#[non_exhaustive]
#[allow(missing_docs)] // one variant per type, named after it
pub enum ArgVal {
    /// Unused slot.
    None,
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    Isize(isize),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    Usize(usize),
    F32(f32),
    F64(f64),
    Bool(bool),
    Char(char),
    /// A short string.
    Str(InlineStr),
}

/// Formats `$v` with the trait `$tr` for the numeric variants listed, and
/// with `Display` (or nothing, for `None`) otherwise.
macro_rules! fmt_traits {
    ($tr:ident: $($var:ident),*) => {
        impl fmt::$tr for ArgVal {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(ArgVal::$var(v) => fmt::$tr::fmt(v, f),)*
                    ArgVal::None => Ok(()),
                    other => fmt::Display::fmt(other, f),
                }
            }
        }
    };
}

impl fmt::Display for ArgVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgVal::None => Ok(()),
            ArgVal::I8(v) => fmt::Display::fmt(v, f),
            ArgVal::I16(v) => fmt::Display::fmt(v, f),
            ArgVal::I32(v) => fmt::Display::fmt(v, f),
            ArgVal::I64(v) => fmt::Display::fmt(v, f),
            ArgVal::Isize(v) => fmt::Display::fmt(v, f),
            ArgVal::U8(v) => fmt::Display::fmt(v, f),
            ArgVal::U16(v) => fmt::Display::fmt(v, f),
            ArgVal::U32(v) => fmt::Display::fmt(v, f),
            ArgVal::U64(v) => fmt::Display::fmt(v, f),
            ArgVal::Usize(v) => fmt::Display::fmt(v, f),
            ArgVal::F32(v) => fmt::Display::fmt(v, f),
            ArgVal::F64(v) => fmt::Display::fmt(v, f),
            ArgVal::Bool(v) => fmt::Display::fmt(v, f),
            ArgVal::Char(v) => fmt::Display::fmt(v, f),
            ArgVal::Str(v) => fmt::Display::fmt(v.as_str(), f),
        }
    }
}

impl fmt::Debug for ArgVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgVal::None => Ok(()),
            ArgVal::I8(v) => fmt::Debug::fmt(v, f),
            ArgVal::I16(v) => fmt::Debug::fmt(v, f),
            ArgVal::I32(v) => fmt::Debug::fmt(v, f),
            ArgVal::I64(v) => fmt::Debug::fmt(v, f),
            ArgVal::Isize(v) => fmt::Debug::fmt(v, f),
            ArgVal::U8(v) => fmt::Debug::fmt(v, f),
            ArgVal::U16(v) => fmt::Debug::fmt(v, f),
            ArgVal::U32(v) => fmt::Debug::fmt(v, f),
            ArgVal::U64(v) => fmt::Debug::fmt(v, f),
            ArgVal::Usize(v) => fmt::Debug::fmt(v, f),
            ArgVal::F32(v) => fmt::Debug::fmt(v, f),
            ArgVal::F64(v) => fmt::Debug::fmt(v, f),
            ArgVal::Bool(v) => fmt::Debug::fmt(v, f),
            ArgVal::Char(v) => fmt::Debug::fmt(v, f),
            ArgVal::Str(v) => fmt::Debug::fmt(v.as_str(), f),
        }
    }
}

fmt_traits!(LowerHex: I8, I16, I32, I64, Isize, U8, U16, U32, U64, Usize);
fmt_traits!(UpperHex: I8, I16, I32, I64, Isize, U8, U16, U32, U64, Usize);
fmt_traits!(Octal: I8, I16, I32, I64, Isize, U8, U16, U32, U64, Usize);
fmt_traits!(Binary: I8, I16, I32, I64, Isize, U8, U16, U32, U64, Usize);
fmt_traits!(LowerExp: I8, I16, I32, I64, Isize, U8, U16, U32, U64, Usize, F32, F64);
fmt_traits!(UpperExp: I8, I16, I32, I64, Isize, U8, U16, U32, U64, Usize, F32, F64);

/// Turns an argument into an [`ArgVal`] when that is a cheap copy.
///
/// The macros call `(&Capture(&arg)).capture()`: method resolution picks
/// the impl for cheap types when there is one, and the fallback (which says
/// "format on the caller") for every other type.
pub struct Capture<'a, T: ?Sized>(pub &'a T);

/// Cheap types: copied as values.
pub trait CaptureCheap {
    /// The copy.
    fn capture(&self) -> Option<ArgVal>;
}

/// Every other type: formatted on the caller.
pub trait CaptureFallback {
    /// Always `None`.
    fn capture(&self) -> Option<ArgVal>;
}

impl<T: ?Sized> CaptureFallback for &Capture<'_, T> {
    #[inline]
    fn capture(&self) -> Option<ArgVal> {
        None
    }
}

macro_rules! cheap {
    ($($t:ty => $v:ident as $as:ty),* $(,)?) => {$(
        impl CaptureCheap for Capture<'_, $t> {
            #[inline]
            fn capture(&self) -> Option<ArgVal> {
                Some(ArgVal::$v(*self.0 as $as))
            }
        }
    )*};
}
cheap!(
    i8 => I8 as i8, i16 => I16 as i16, i32 => I32 as i32, i64 => I64 as i64,
    isize => Isize as isize, u8 => U8 as u8, u16 => U16 as u16, u32 => U32 as u32, u64 => U64 as u64,
    usize => Usize as usize, f32 => F32 as f32, f64 => F64 as f64,
    bool => Bool as bool, char => Char as char,
);

impl CaptureCheap for Capture<'_, str> {
    #[inline]
    fn capture(&self) -> Option<ArgVal> {
        InlineStr::new(self.0).map(ArgVal::Str)
    }
}
impl CaptureCheap for Capture<'_, String> {
    #[inline]
    fn capture(&self) -> Option<ArgVal> {
        InlineStr::new(self.0).map(ArgVal::Str)
    }
}
/// References to cheap types are cheap too (`&str`, `&u64`, `&&String`, …).
impl<T: ?Sized> CaptureCheap for Capture<'_, &T>
where
    for<'b> Capture<'b, T>: CaptureCheap,
{
    #[inline]
    fn capture(&self) -> Option<ArgVal> {
        Capture(*self.0).capture()
    }
}

/// Formats a call's message from its copied arguments (made by the macro for
/// each call site).
pub type Render = fn(&[ArgVal; MAX_ARGS], &mut String);

/// A call site: everything static about a log call.
#[derive(Debug)]
pub struct Site {
    /// The level.
    pub level: Level,
    /// The target (the module path by default).
    pub target: &'static str,
    /// The source file.
    pub file: &'static str,
    /// The line.
    pub line: u32,
}

/// Key-value fields of a record, formatted on the caller.
pub type Fields = Box<[(Box<str>, Box<str>)]>;

/// The message of one call.
pub enum Message {
    /// Arguments copied, formatted later by `render`.
    Deferred {
        /// The formatter of this call site.
        render: Render,
        /// The arguments.
        args: [ArgVal; MAX_ARGS],
    },
    /// A message with no arguments.
    Static(&'static str),
    /// Formatted on the caller.
    Formatted(Box<str>),
    /// From the `log` facade: formatted on the caller, with its run-time
    /// target and key-value fields.
    Facade(Box<FacadeMsg>),
    /// From `tracing`: formatted on the caller; the target is static.
    #[cfg(feature = "tracing")]
    Event {
        /// The message.
        msg: Box<str>,
        /// The event's target.
        target: &'static str,
        /// Its other fields, if any.
        fields: Option<Fields>,
    },
}

/// A `log` facade record.
pub struct FacadeMsg {
    pub(crate) msg: Box<str>,
    pub(crate) target: Box<str>,
    pub(crate) fields: Fields,
}

/// One log call, as queued.
pub struct Entry {
    /// When the call was made: a raw TSC reading (`quanta::Clock::raw`),
    /// turned into wall-clock time by the worker.
    pub(crate) at: u64,
    pub(crate) site: &'static Site,
    pub(crate) msg: Message,
}

impl Entry {
    pub(crate) fn render(&self, out: &mut String) {
        match &self.msg {
            Message::Deferred { render, args } => render(args, out),
            Message::Static(s) => out.push_str(s),
            Message::Formatted(s) => out.push_str(s),
            Message::Facade(f) => out.push_str(&f.msg),
            #[cfg(feature = "tracing")]
            Message::Event { msg, .. } => out.push_str(msg),
        }
    }

    pub(crate) fn target(&self) -> &str {
        match &self.msg {
            Message::Facade(f) => &f.target,
            #[cfg(feature = "tracing")]
            Message::Event { target, .. } => target,
            _ => self.site.target,
        }
    }

    pub(crate) fn fields(&self) -> &[(Box<str>, Box<str>)] {
        match &self.msg {
            Message::Facade(f) => &f.fields,
            #[cfg(feature = "tracing")]
            Message::Event { fields: Some(f), .. } => f,
            _ => &[],
        }
    }

    pub(crate) fn level(&self) -> Level {
        self.site.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_stay_small() {
        // Each entry is copied into a ring at every call: keep it compact.
        assert_eq!(std::mem::size_of::<ArgVal>(), 24);
        assert!(std::mem::size_of::<Entry>() <= 128, "{}", std::mem::size_of::<Entry>());
    }
}
