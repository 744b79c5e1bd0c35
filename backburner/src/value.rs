//! Values that cross the queue: SQL parameters (`SqlValue`, `params!`), the
//! buffer of a keyed write (`KvBuf`), and values read back (`Value`). The
//! writes themselves are in `write.rs`.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::SystemTime;

/// An owned value: a parameter of [`Store::execute`](crate::Store::execute)
/// or a column of a [`Store::query`](crate::Store::query) row.
///
/// Neutral across sinks: besides the five storage classes every SQL
/// database has, booleans, timestamps and JSON are cases of their own, and
/// each sink maps them to its own types (SQLite: `Bool` as INTEGER 0 or 1,
/// `Timestamp` as RFC 3339 text in UTC with microseconds, which SQLite's
/// date functions read, `Json` as TEXT, which its JSON functions read).
/// Rows read back carry what the sink stores (SQLite: one of the first five).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// A boolean.
    Bool(bool),
    /// A point in time. SQLite stores RFC 3339 text (UTC, microseconds,
    /// truncated); its date functions read years 0000 to 9999.
    Timestamp(SystemTime),
    /// JSON, as text (not checked: the sink reads it).
    Json(String),
}

impl SqlValue {
    /// A JSON parameter.
    ///
    /// ```
    /// let p = backburner::SqlValue::json(r#"{"plan":"pro"}"#);
    /// assert!(matches!(p, backburner::SqlValue::Json(_)));
    /// ```
    pub fn json(text: impl Into<String>) -> SqlValue {
        SqlValue::Json(text.into())
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            SqlValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Integer(i) => Some(*i),
            _ => None,
        }
    }
    /// The float (integers convert), if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SqlValue::Real(f) => Some(*f),
            SqlValue::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// The text, if this is text (or JSON).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) | SqlValue::Json(s) => Some(s),
            _ => None,
        }
    }
    /// The bytes of a blob or of text (or JSON).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            SqlValue::Blob(b) => Some(b),
            SqlValue::Text(s) | SqlValue::Json(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
    /// Whether this is `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, SqlValue::Null)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for SqlValue {
            fn from(v: $t) -> Self { SqlValue::Integer(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Bool(v)
    }
}
impl From<SystemTime> for SqlValue {
    fn from(v: SystemTime) -> Self {
        SqlValue::Timestamp(v)
    }
}

impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Real(v)
    }
}
impl From<f32> for SqlValue {
    fn from(v: f32) -> Self {
        SqlValue::Real(f64::from(v))
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(v.clone())
    }
}
impl From<&[u8]> for SqlValue {
    fn from(v: &[u8]) -> Self {
        SqlValue::Blob(v.to_vec())
    }
}
impl From<Vec<u8>> for SqlValue {
    fn from(v: Vec<u8>) -> Self {
        SqlValue::Blob(v)
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// One statement parameter, as [`params!`](crate::params) builds it: a
/// [`SqlValue`], or an integer that no `SqlValue` holds (a `u64`, `usize`,
/// `u128` or `i128` above `i64::MAX`, or an `i128` below `i64::MIN`), which
/// [`IntoParams`] refuses with a [`ParamError`] naming its position: it is
/// never wrapped, clamped or turned into a real. [`params!`](crate::params)
/// and [`params_from_iter`] take lists of them.
///
/// Every type that converts into a `SqlValue` converts into a `Param`, and
/// so do `u64`, `usize`, `u128`, `i128`, `isize` and their `Option`s.
///
/// ```
/// use backburner::{params_from_iter, IntoParams, Param, SqlValue};
/// let p = [Param::from(7u64), Param::from("x"), Param::from(None::<usize>)];
/// assert_eq!(params_from_iter(p).into_params()?, [SqlValue::Integer(7), SqlValue::Text("x".into()), SqlValue::Null]);
/// assert!(params_from_iter([Param::from(u64::MAX)]).into_params().is_err());
/// # Ok::<(), backburner::ParamError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Param(ParamRepr);

#[derive(Clone, Debug, PartialEq)]
enum ParamRepr {
    Value(SqlValue),
    /// An integer outside `i64` (boxed: a `Param` stays the size of a `SqlValue`).
    Wide(Box<Wide>),
}

/// An integer outside `i64`: its decimal digits and its type's name.
#[derive(Clone, Debug, PartialEq)]
struct Wide {
    digits: String,
    ty: &'static str,
}

impl<T: Into<SqlValue>> From<T> for Param {
    fn from(v: T) -> Param {
        Param(ParamRepr::Value(v.into()))
    }
}

/// Conversions of the integer types wider than SQLite's, checked: a value
/// that fits is an `Integer`, one that does not is kept aside for
/// `IntoParams` to refuse.
macro_rules! wide_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Param {
            fn from(v: $t) -> Param {
                match i64::try_from(v) {
                    Ok(i) => Param(ParamRepr::Value(SqlValue::Integer(i))),
                    Err(_) => wide(v.to_string(), stringify!($t)),
                }
            }
        }
        impl From<Option<$t>> for Param {
            fn from(v: Option<$t>) -> Param {
                v.map_or(Param(ParamRepr::Value(SqlValue::Null)), Param::from)
            }
        }
    )*};
}
wide_int!(u64, usize, u128, i128, isize);

#[cold]
fn wide(digits: String, ty: &'static str) -> Param {
    Param(ParamRepr::Wide(Box::new(Wide { digits, ty })))
}

/// A parameter that no [`SqlValue`] holds: an integer outside `i64`, the
/// range of SQLite's INTEGER (and of `SqlValue::Integer`).
///
/// [`Store::execute`](crate::Store::execute) and
/// [`Store::query`](crate::Store::query) turn it into
/// [`Error::InvalidStatement`](crate::Error::InvalidStatement) with this
/// message, before anything is queued or run.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamError {
    position: usize,
    message: String,
    values: Vec<SqlValue>,
}

impl ParamError {
    /// The position of the first refused parameter, from 1 (as `?1`, `?2`).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Every parameter as a `SqlValue`, a refused integer as its decimal
    /// text (`SqlValue::Text("18446744073709551615")`): what a refused
    /// write hands back.
    pub fn into_values(self) -> Vec<SqlValue> {
        self.values
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParamError {}

/// Checks a list of [`Param`]s: the values, or the first one out of range.
fn check(params: impl IntoIterator<Item = Param>) -> Result<Vec<SqlValue>, ParamError> {
    let mut first = None;
    let values = params
        .into_iter()
        .enumerate()
        .map(|(i, p)| match p.0 {
            ParamRepr::Value(v) => v,
            ParamRepr::Wide(w) => {
                first.get_or_insert_with(|| (i + 1, out_of_range(i + 1, &w.digits, w.ty)));
                SqlValue::Text(w.digits)
            }
        })
        .collect();
    match first {
        None => Ok(values),
        Some((position, message)) => Err(ParamError { position, message, values }),
    }
}

#[cold]
fn out_of_range(position: usize, digits: &str, ty: &str) -> String {
    let side = match digits.starts_with('-') {
        true => "below i64::MIN, the smallest",
        false => "above i64::MAX, the largest",
    };
    format!(
        "parameter {position} is {digits} ({ty}), {side} integer SQLite stores; it is neither wrapped nor \
         stored as a real: store it in a TEXT or BLOB column (SQLite turns digits bound into an INTEGER, \
         NUMERIC or REAL column into a rounded REAL), as text (`n.to_string()`) or as a blob \
         (`n.to_be_bytes().to_vec()`), or as an i64 if your values fit (`i64::try_from(n)`)"
    )
}

/// Parameters of a statement: `[]`, `()`, the [`params!`](crate::params)
/// macro, [`params_from_iter`], or a `Vec`, an array or a slice of
/// [`SqlValue`]s.
///
/// # Examples
///
/// ```
/// use backburner::{params, IntoParams, SqlValue};
/// assert_eq!(params![1u64, "a"].into_params()?, [SqlValue::Integer(1), SqlValue::Text("a".into())]);
/// assert_eq!(vec![SqlValue::Null].into_params()?, [SqlValue::Null]);
/// let err = params![1, u64::MAX].into_params().unwrap_err();
/// assert_eq!(err.position(), 2);
/// assert!(err.to_string().starts_with("parameter 2 is 18446744073709551615 (u64), above i64::MAX"));
/// # Ok::<(), backburner::ParamError>(())
/// ```
pub trait IntoParams {
    /// Turns the parameters into an owned list.
    ///
    /// # Errors
    ///
    /// [`ParamError`] when a [`Param`] is an integer outside `i64` (the
    /// first one is named; every other list of `SqlValue`s converts).
    fn into_params(self) -> Result<Vec<SqlValue>, ParamError>;
}
impl IntoParams for Vec<SqlValue> {
    fn into_params(self) -> Result<Vec<SqlValue>, ParamError> {
        Ok(self)
    }
}
impl<const N: usize> IntoParams for [SqlValue; N] {
    fn into_params(self) -> Result<Vec<SqlValue>, ParamError> {
        Ok(Vec::from(self))
    }
}
impl IntoParams for &[SqlValue] {
    fn into_params(self) -> Result<Vec<SqlValue>, ParamError> {
        Ok(self.to_vec())
    }
}
impl IntoParams for () {
    fn into_params(self) -> Result<Vec<SqlValue>, ParamError> {
        Ok(Vec::new())
    }
}

/// Parameters from an iterator of values that convert into a [`Param`]
/// (a [`SqlValue`], a `u64`, a `&str`, …), checked as
/// [`params!`](crate::params) checks them: for a list built at run time.
///
/// ```
/// use backburner::{params_from_iter, IntoParams, SqlValue};
/// let ids: Vec<u64> = vec![1, 2, 3];
/// assert_eq!(params_from_iter(ids.iter().copied()).into_params()?.len(), 3);
/// let err = params_from_iter([1, u64::MAX]).into_params().unwrap_err();
/// assert_eq!(err.position(), 2);
/// # Ok::<(), backburner::ParamError>(())
/// ```
pub fn params_from_iter<I>(iter: I) -> ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: Into<Param>,
{
    ParamsFromIter(iter)
}

/// Parameters from an iterator: see [`params_from_iter`]; what
/// [`params!`](crate::params) builds.
#[derive(Clone, Debug)]
pub struct ParamsFromIter<I>(I);

impl<I> IntoParams for ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: Into<Param>,
{
    fn into_params(self) -> Result<Vec<SqlValue>, ParamError> {
        check(self.0.into_iter().map(Into::into))
    }
}

/// Builds statement parameters from values of mixed types: anything that
/// converts into a [`SqlValue`], and `u64`, `usize`, `u128`, `i128` and
/// `isize`, which are checked when the statement is handed over (a value
/// outside `i64` is refused with an error naming it, never wrapped; see
/// [`Param`]).
///
/// ```
/// use backburner::{params, IntoParams, SqlValue};
/// let id: u64 = 42;
/// let n: usize = 3;
/// let p = params![id, n, "login", 1.5, None::<i64>].into_params()?;
/// assert_eq!(p.len(), 5);
/// assert_eq!(p[0], SqlValue::Integer(42));
/// assert_eq!(p[2], SqlValue::Text("login".into()));
/// # Ok::<(), backburner::ParamError>(())
/// ```
#[macro_export]
macro_rules! params {
    () => { $crate::params_from_iter([] as [$crate::Param; 0]) };
    ($($v:expr),+ $(,)?) => { $crate::params_from_iter([$($crate::Param::from($v)),+]) };
}

/// Bytes of key and value stored in place: writes this small take no
/// allocation on the enqueue path (the queue slot and the overlay entry each
/// hold a copy).
pub(crate) const INLINE: usize = 61;

/// Key and value of a keyed write: in place when they fit in [`INLINE`]
/// bytes, else in one shared allocation (queue and overlay share it).
#[derive(Clone)]
pub(crate) enum KvBuf {
    Inline { klen: u8, len: u8, bytes: [u8; INLINE] },
    Shared { klen: u32, buf: Arc<[u8]> },
}

impl KvBuf {
    /// Copies key and value. Keys must be shorter than 4 GiB (the caller checks).
    #[inline]
    pub(crate) fn new(key: &[u8], value: &[u8]) -> KvBuf {
        let len = key.len() + value.len();
        if len <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            bytes[key.len()..len].copy_from_slice(value);
            KvBuf::Inline { klen: key.len() as u8, len: len as u8, bytes }
        } else {
            let buf: Arc<[u8]> = key.iter().chain(value).copied().collect();
            KvBuf::Shared { klen: key.len() as u32, buf }
        }
    }

    /// A small write packed into eight words (for the overlay's staging
    /// ring); `None` for a shared buffer. Byte 0 is the key length, byte 1
    /// the total length, bytes 3.. the key and value.
    #[inline]
    pub(crate) fn pack(&self) -> Option<[u64; 8]> {
        let KvBuf::Inline { klen, len, bytes } = self else { return None };
        let mut b = [0u8; 64];
        b[0] = *klen;
        b[1] = *len;
        b[3..].copy_from_slice(bytes);
        let mut w = [0u64; 8];
        for (w, c) in w.iter_mut().zip(b.chunks_exact(8)) {
            *w = u64::from_ne_bytes(c.try_into().unwrap_or_default());
        }
        Some(w)
    }

    /// The inverse of [`pack`](KvBuf::pack).
    #[inline]
    pub(crate) fn unpack(w: &[u64; 8]) -> KvBuf {
        let mut b = [0u8; 64];
        for (c, w) in b.chunks_exact_mut(8).zip(w) {
            c.copy_from_slice(&w.to_ne_bytes());
        }
        let mut bytes = [0u8; INLINE];
        bytes.copy_from_slice(&b[3..]);
        // Lengths come from `pack`; clamp anyway, so a bad word cannot index out of bounds.
        let len = b[1].min(INLINE as u8);
        KvBuf::Inline { klen: b[0].min(len), len, bytes }
    }

    #[inline]
    fn parts(&self) -> (&[u8], usize) {
        match self {
            KvBuf::Inline { klen, len, bytes } => (&bytes[..*len as usize], *klen as usize),
            KvBuf::Shared { klen, buf } => (buf, *klen as usize),
        }
    }

    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        let (b, k) = self.parts();
        b.get(..k).unwrap_or(&[])
    }

    #[inline]
    pub(crate) fn value(&self) -> &[u8] {
        let (b, k) = self.parts();
        b.get(k..).unwrap_or(&[])
    }
}

/// A value read with [`Store::get`](crate::Store::get). A value served from
/// the overlay is a copy (small values) or shares the pending write's bytes
/// (large ones): no allocation either way.
#[derive(Clone)]
pub struct Value {
    kv: KvBuf,
}

impl Value {
    pub(crate) fn from_kv(kv: &KvBuf) -> Value {
        Value { kv: kv.clone() }
    }
    /// Copies the bytes into a `Vec`.
    pub fn to_vec(&self) -> Vec<u8> {
        self.deref().to_vec()
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value { kv: KvBuf::Shared { klen: 0, buf: Arc::from(v) } }
    }
}

impl Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.kv.value()
    }
}
impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self
    }
}
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}
impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}
impl PartialEq<&[u8]> for Value {
    fn eq(&self, other: &&[u8]) -> bool {
        **self == **other
    }
}
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self) {
            Ok(s) => write!(f, "Value({s:?})"),
            Err(_) => write!(f, "Value({:?})", &**self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvbuf_inline_and_shared_round_trip() {
        for (k, v) in [
            (&b""[..], &b""[..]),
            (b"k", b"v"),
            (&[7u8; 30][..], &[9u8; 31][..]),
            (&[7u8; 30][..], &[9u8; 32][..]),
            (&[1u8; 200][..], &[2u8; 5][..]),
        ] {
            let kv = KvBuf::new(k, v);
            assert_eq!(kv.key(), k);
            assert_eq!(kv.value(), v);
            assert_eq!(matches!(kv, KvBuf::Inline { .. }), k.len() + v.len() <= INLINE);
            if let Some(w) = kv.pack() {
                let back = KvBuf::unpack(&w);
                assert_eq!((back.key(), back.value()), (kv.key(), kv.value()));
            }
            assert_eq!(&*Value::from_kv(&kv), v);
        }
        assert_eq!(std::mem::size_of::<KvBuf>(), 64);
    }

    #[test]
    fn a_param_is_the_size_of_a_sql_value() {
        assert_eq!(std::mem::size_of::<Param>(), std::mem::size_of::<SqlValue>());
    }
}
