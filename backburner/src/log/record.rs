//! What a log call leaves for the worker: the call site (static), the time,
//! and the arguments copied as values; or, when an argument cannot be copied
//! cheaply, the message formatted on the caller.

use std::fmt;

use super::level::Level;

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

/// Whether `{}` was written with no width, precision or flag: then the
/// worker may format numbers with `itoa` and `ryu`, which write the same text
/// as `Display` several times faster (float formatting was a third of the
/// worker's time in `examples/logspin`).
#[inline]
fn plain(f: &fmt::Formatter<'_>) -> bool {
    f.width().is_none() && f.precision().is_none() && !f.sign_plus() && !f.alternate() && !f.sign_aware_zero_pad()
}

/// An integer as `Display` writes it, through `itoa`.
#[inline]
fn int(v: impl itoa::Integer, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(itoa::Buffer::new().format(v))
}

/// A float as `Display` writes it, through `ryu`: the same shortest
/// round-trip digits, with three differences handled here. `ryu` writes
/// `1.0` where `Display` writes `1` (trimmed); it switches to an exponent
/// for large and small magnitudes, where `Display` never does (left to
/// `Display`, as are NaN and infinities); and when two shortest candidates
/// are equally close, `ryu` rounds half to even and `Display` rounds half
/// up (`603027966083292.25` is `…292.2` against `…292.3`). Such a tie needs
/// more significant digits than the type always round-trips (15 for `f64`,
/// 6 for `f32`: two decimals that short cannot name the same float), so
/// longer outputs are left to `Display` too.
#[inline]
fn float(
    v: impl ryu::Float + fmt::Display + Copy + Into<f64>,
    safe_digits: usize,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    if v.into().is_finite() {
        let mut buf = ryu::Buffer::new();
        let s = buf.format_finite(v);
        if !s.contains('e') && s.bytes().filter(u8::is_ascii_digit).skip_while(|&b| b == b'0').count() <= safe_digits {
            return f.write_str(s.strip_suffix(".0").unwrap_or(s));
        }
    }
    fmt::Display::fmt(&v, f)
}

const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0];
const POW10_U: [u64; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

/// `v` as `n / 10^k` with `n < 10^15` and `k <= 6` as small as can be,
/// if there is such a decimal whose nearest `f64` is `v`: then its digits are
/// the ones `Display` writes (prices and measures: `99.5`, `0.25`, `1200`),
/// found with a few multiplications where `ryu` spent ~35 ns.
///
/// Why the digits agree: `n` and `10^k` are exact in an `f64`, so the
/// division is the correctly rounded value of the decimal, and equality
/// proves the decimal round-trips. Two decimals of at most 15 significant
/// digits never round to the same `f64`, so it is the only one that short,
/// and no shorter one exists (it would have been found at a smaller `k`:
/// `v * 10^k` is within 0.25 of an integer below `10^15`, so rounding
/// finds it). `Display` writes the shortest round-tripping decimal, never with an
/// exponent: the same digits.
#[inline]
fn short_decimal(v: f64) -> Option<(bool, u64, usize)> {
    let a = v.abs();
    if a.is_nan() || a >= 1e15 {
        return None; // NaN, infinities, large magnitudes
    }
    for (k, p) in POW10.iter().enumerate() {
        let scaled = a * p;
        if scaled >= 1e15 {
            return None;
        }
        // The nearest integer (`round` is a libm call on baseline x86-64).
        let n = (scaled + 0.5) as u64;
        if n as f64 / p == a {
            return Some((v.is_sign_negative(), n, k));
        }
    }
    None
}

/// Writes `[-]n / 10^k` with exactly `k` fractional digits (none if `k` is 0).
fn write_decimal(neg: bool, n: u64, k: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if neg {
        f.write_str("-")?;
    }
    let p = POW10_U[k];
    f.write_str(itoa::Buffer::new().format(n / p))?;
    if k > 0 {
        let mut frac = itoa::Buffer::new();
        let digits = frac.format(n % p);
        f.write_str(".")?;
        f.write_str(&"000000"[..k - digits.len()])?;
        f.write_str(digits)?;
    }
    Ok(())
}

impl fmt::Display for ArgVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if plain(f) {
            match self {
                ArgVal::I8(v) => return int(*v, f),
                ArgVal::I16(v) => return int(*v, f),
                ArgVal::I32(v) => return int(*v, f),
                ArgVal::I64(v) => return int(*v, f),
                ArgVal::Isize(v) => return int(*v, f),
                ArgVal::U8(v) => return int(*v, f),
                ArgVal::U16(v) => return int(*v, f),
                ArgVal::U32(v) => return int(*v, f),
                ArgVal::U64(v) => return int(*v, f),
                ArgVal::Usize(v) => return int(*v, f),
                ArgVal::F64(v) => {
                    return match short_decimal(*v) {
                        Some((neg, n, k)) => write_decimal(neg, n, k, f),
                        None => float(*v, 15, f),
                    }
                }
                ArgVal::F32(v) => return float(*v, 6, f),
                ArgVal::Str(v) => return f.write_str(v.as_str()),
                _ => {}
            }
        }
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

/// The site of records whose target and place come at run time (the `log`
/// facade, `tracing`): only the level is static.
pub(crate) fn runtime_site(level: Level) -> &'static Site {
    static SITES: [Site; 5] = [
        Site { level: Level::Error, target: "", file: "", line: 0 },
        Site { level: Level::Warn, target: "", file: "", line: 0 },
        Site { level: Level::Info, target: "", file: "", line: 0 },
        Site { level: Level::Debug, target: "", file: "", line: 0 },
        Site { level: Level::Trace, target: "", file: "", line: 0 },
    ];
    &SITES[level as usize - 1]
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
        /// The spans the event is in (`text[..spans]`, root first, already in
        /// the logger's format), then the message: one allocation for both.
        text: Box<str>,
        /// Where the message starts in `text` (0: in no span).
        spans: u32,
        /// Where the innermost span starts in `text` (JSON writes it twice).
        inner: u32,
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
            Message::Event { text, spans, .. } => out.push_str(text.get(*spans as usize..).unwrap_or("")),
        }
    }

    /// The spans of a `tracing` event: all of them, root first, and the
    /// innermost one (both empty outside any span).
    pub(crate) fn spans(&self) -> (&str, &str) {
        match &self.msg {
            #[cfg(feature = "tracing")]
            Message::Event { text, spans, inner, .. } => {
                let all = text.get(..*spans as usize).unwrap_or("");
                (all, all.get(*inner as usize..).unwrap_or(""))
            }
            _ => ("", ""),
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
    use super::{ArgVal, Entry};
    use proptest::prelude::*;

    fn same_as_display(v: ArgVal, want: String) {
        assert_eq!(format!("{v}"), want, "{v:?}");
    }

    #[test]
    fn fast_number_formatting_matches_display_on_edge_values() {
        for v in [
            0.0f64,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.3,
            99.5,
            1e15,
            1e16,
            1e17,
            1e21,
            1.5e300,
            1e-5,
            1e-6,
            1e-7,
            5e-324,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123456789.125,
            0.000123,
            9007199254740993.0,
            // Exactly 603027966083292.25: a tie between ...292.2 and ...292.3.
            603_027_966_083_292.2,
            0.30000000000000004,
        ] {
            same_as_display(ArgVal::F64(v), format!("{v}"));
            same_as_display(ArgVal::F32(v as f32), format!("{}", v as f32));
        }
        for v in [0i64, -1, i64::MIN, i64::MAX] {
            same_as_display(ArgVal::I64(v), format!("{v}"));
        }
        same_as_display(ArgVal::U64(u64::MAX), format!("{}", u64::MAX));
        // With a width, precision or flag, `Display` itself runs.
        assert_eq!(format!("{:>10.2}", ArgVal::F64(99.5)), format!("{:>10.2}", 99.5));
        assert_eq!(format!("{:+}", ArgVal::I64(5)), "+5");
        assert_eq!(format!("{:05}", ArgVal::U32(42)), "00042");
    }

    proptest! {
        #[test]
        fn fast_float_formatting_matches_display(bits in any::<u64>(), bits32 in any::<u32>()) {
            let v = f64::from_bits(bits);
            prop_assert_eq!(format!("{}", ArgVal::F64(v)), format!("{v}"));
            let w = f32::from_bits(bits32);
            prop_assert_eq!(format!("{}", ArgVal::F32(w)), format!("{w}"));
        }

        #[test]
        fn fast_float_formatting_matches_display_in_the_decimal_range(v in -1e17f64..1e17, e in -8i32..17) {
            let v = v / 10f64.powi(e);
            prop_assert_eq!(format!("{}", ArgVal::F64(v)), format!("{v}"));
            let w = v as f32;
            prop_assert_eq!(format!("{}", ArgVal::F32(w)), format!("{w}"));
        }

        #[test]
        fn fast_float_formatting_matches_display_for_short_decimals(m in -999_999_999_999_999i64..999_999_999_999_999, e in 0i32..20) {
            // Prices and measures: few digits, where the fast path runs.
            let v = m as f64 / 10f64.powi(e);
            prop_assert_eq!(format!("{}", ArgVal::F64(v)), format!("{v}"));
            let w = (m % 10_000_000) as f32 / 10f32.powi(e % 8);
            prop_assert_eq!(format!("{}", ArgVal::F32(w)), format!("{w}"));
        }

        #[test]
        fn fast_integer_formatting_matches_display(a in any::<i64>(), b in any::<u64>(), c in any::<i32>()) {
            prop_assert_eq!(format!("{}", ArgVal::I64(a)), a.to_string());
            prop_assert_eq!(format!("{}", ArgVal::U64(b)), b.to_string());
            prop_assert_eq!(format!("{}", ArgVal::I32(c)), c.to_string());
        }
    }

    #[test]
    fn sizes_stay_small() {
        // Each entry is copied into a ring at every call: keep it compact.
        assert_eq!(std::mem::size_of::<ArgVal>(), 24);
        assert!(std::mem::size_of::<Entry>() <= 128, "{}", std::mem::size_of::<Entry>());
    }
}
