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

/// Parameters of a statement: `[]`, `()`, a `Vec<SqlValue>`, an array of
/// [`SqlValue`] or the [`params!`](crate::params) macro.
pub trait IntoParams {
    /// Turns the parameters into an owned list.
    fn into_params(self) -> Vec<SqlValue>;
}
impl IntoParams for Vec<SqlValue> {
    fn into_params(self) -> Vec<SqlValue> {
        self
    }
}
impl<const N: usize> IntoParams for [SqlValue; N] {
    fn into_params(self) -> Vec<SqlValue> {
        Vec::from(self)
    }
}
impl IntoParams for &[SqlValue] {
    fn into_params(self) -> Vec<SqlValue> {
        self.to_vec()
    }
}
impl IntoParams for () {
    fn into_params(self) -> Vec<SqlValue> {
        Vec::new()
    }
}

/// Builds statement parameters from values of mixed types.
///
/// ```
/// let p = backburner::params![42, "login", 1.5, None::<i64>];
/// assert_eq!(p.len(), 4);
/// assert_eq!(p[1], backburner::SqlValue::Text("login".into()));
/// ```
#[macro_export]
macro_rules! params {
    () => { [] as [$crate::SqlValue; 0] };
    ($($v:expr),+ $(,)?) => { [$($crate::SqlValue::from($v)),+] };
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
}
