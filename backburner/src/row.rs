//! Typed reading: a [`Row`] of a query's answer, and [`FromSql`], the
//! conversion of one column's [`SqlValue`] into a Rust type, for
//! [`Store::query_map`](crate::Store::query_map).

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::value::SqlValue;

/// One row of a query's answer, as the closure of
/// [`Store::query_map`](crate::Store::query_map) sees it: read a column with
/// [`get`](Row::get).
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}/t.db", dir.path().display());
/// let store = backburner::Store::open(&url)?;
/// let names = store.query_map("SELECT 1, 'Ada' UNION ALL SELECT 2, 'Bob'", [], |row| {
///     assert_eq!(row.len(), 2);
///     row.get::<String>(1)
/// })?;
/// assert_eq!(names, ["Ada", "Bob"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    values: &'a [SqlValue],
}

impl<'a> Row<'a> {
    /// Column `column` (from 0, as in the `SELECT` list) read as a `T`.
    ///
    /// # Errors
    ///
    /// [`Error::Column`] when the row has no such column, or when its value
    /// is not a `T` (see [`FromSql`] for what each type takes), saying what
    /// the column holds and what was expected:
    /// `column 2 is Text("x"), expected an integer; …`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}/t.db", dir.path().display());
    /// let store = backburner::Store::open(&url)?;
    /// let rows = store.query_map("SELECT 7, NULL, 'x'", [], |row| {
    ///     Ok((row.get::<u64>(0)?, row.get::<Option<String>>(1)?))
    /// })?;
    /// assert_eq!(rows, [(7, None)]);
    /// let err = store.query_map("SELECT 7, NULL, 'x'", [], |row| row.get::<i64>(2)).unwrap_err();
    /// assert!(err.to_string().starts_with(r#"column 2 is Text("x"), expected an integer"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<T: FromSql>(&self, column: usize) -> Result<T> {
        let Some(value) = self.values.get(column) else {
            return Err(no_column(column, self.values.len()));
        };
        T::from_sql(value).map_err(|e| wrong_type(column, value, &e))
    }

    /// The row's values, one per column.
    pub fn values(&self) -> &'a [SqlValue] {
        self.values
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Maps each row with `f`, in order; the first error ends the mapping.
pub(crate) fn map_rows<T>(rows: &[Vec<SqlValue>], mut f: impl FnMut(&Row<'_>) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(|values| f(&Row { values })).collect()
}

#[cold]
fn no_column(column: usize, len: usize) -> Error {
    let reason = match len {
        0 => "does not exist: the row has no columns".to_string(),
        1 => "does not exist: the row has 1 column, column 0 (columns count from 0)".to_string(),
        n => format!("does not exist: the row has {n} columns, 0 to {} (columns count from 0)", n - 1),
    };
    Error::Column { column, reason }
}

#[cold]
fn wrong_type(column: usize, value: &SqlValue, e: &FromSqlError) -> Error {
    let hint = match value {
        SqlValue::Null => "read it as an Option (NULL is None)".to_string(),
        _ => format!(
            "read it as the type it holds (`row.get::<SqlValue>({column})` takes any value) or convert it in the SQL (CAST)"
        ),
    };
    Error::Column { column, reason: format!("is {}, expected {}; {hint}", Shown(value), e.expected) }
}

/// A value as an error message shows it: long text cut short, a blob by
/// its length.
struct Shown<'a>(&'a SqlValue);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 40;
        let text = |f: &mut fmt::Formatter<'_>, kind: &str, s: &str| match s.char_indices().nth(MAX) {
            None => write!(f, "{kind}({s:?})"),
            Some((cut, _)) => write!(f, "{kind}({:?}…, {} bytes)", &s[..cut], s.len()),
        };
        match self.0 {
            SqlValue::Text(s) => text(f, "Text", s),
            SqlValue::Json(s) => text(f, "Json", s),
            SqlValue::Blob(b) => write!(f, "Blob({} bytes)", b.len()),
            SqlValue::Timestamp(t) => {
                let mut s = String::new();
                crate::time::rfc3339_micros(&mut s, *t);
                write!(f, "Timestamp({s})")
            }
            other => write!(f, "{other:?}"),
        }
    }
}

/// Why a column's value is not the type asked for: what the type takes
/// (`"an integer"`). [`Row::get`] adds the column and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromSqlError {
    expected: Cow<'static, str>,
}

impl FromSqlError {
    /// The value is not what the type takes; `what` says what it takes, to
    /// follow "expected" in the message (`"an integer"`, `"text"`).
    ///
    /// ```
    /// use backburner::{FromSql, FromSqlError, SqlValue};
    /// struct Even(i64);
    /// impl FromSql for Even {
    ///     fn from_sql(value: &SqlValue) -> Result<Even, FromSqlError> {
    ///         match value {
    ///             SqlValue::Integer(i) if i % 2 == 0 => Ok(Even(*i)),
    ///             _ => Err(FromSqlError::expected("an even integer")),
    ///         }
    ///     }
    /// }
    /// assert!(Even::from_sql(&SqlValue::Integer(3)).is_err());
    /// ```
    pub fn expected(what: impl Into<Cow<'static, str>>) -> FromSqlError {
        FromSqlError { expected: what.into() }
    }
}

impl fmt::Display for FromSqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}", self.expected)
    }
}

impl std::error::Error for FromSqlError {}

/// A type that one column's value can be read as, with [`Row::get`].
///
/// What each type takes (anything else is an error that says what the
/// column holds):
///
/// | type | takes |
/// |---|---|
/// | `i64` | `Integer` |
/// | `i8` … `i32`, `isize`, `u8` … `u64`, `usize` | `Integer` within the type's range (`u64`: not negative) |
/// | `f64` | `Real`, and `Integer` (converted, as [`SqlValue::as_f64`] does) |
/// | `bool` | `Bool`, and `Integer` 0 or 1 (how SQLite stores a boolean; other integers are refused) |
/// | `String` | `Text`, `Json` |
/// | `Vec<u8>` | `Blob`, and the bytes of `Text` or `Json` (as [`SqlValue::as_bytes`]) |
/// | `SystemTime` | `Timestamp`, and text in RFC 3339 (`2025-12-01T22:40:00.123456Z`, as a timestamp parameter is stored) or as SQLite's `datetime()` writes it (`2025-12-01 22:40:00`, UTC) |
/// | `Option<T>` | `Null` as `None`, else what `T` takes |
/// | `SqlValue` | any value |
///
/// Implement it for a type of your own to read it with `get`.
pub trait FromSql: Sized {
    /// Reads `value` as this type.
    ///
    /// # Errors
    ///
    /// [`FromSqlError`] saying what the type takes.
    fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError>;
}

impl FromSql for SqlValue {
    fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError> {
        Ok(value.clone())
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError> {
        match value {
            SqlValue::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

impl FromSql for i64 {
    fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError> {
        match value {
            SqlValue::Integer(i) => Ok(*i),
            _ => Err(FromSqlError::expected("an integer")),
        }
    }
}

/// The integer types narrower than `i64`, or unsigned: an `Integer` in range.
macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError> {
                match value {
                    SqlValue::Integer(i) => <$t>::try_from(*i).map_err(|_| int_range::<$t>(stringify!($t))),
                    _ => Err(int_range::<$t>(stringify!($t))),
                }
            }
        }
        impl Bounded for $t {
            const LOW: i64 = if (<$t>::MIN as i128) < i64::MIN as i128 { i64::MIN } else { <$t>::MIN as i64 };
            const HIGH: i64 = if (<$t>::MAX as i128) > i64::MAX as i128 { i64::MAX } else { <$t>::MAX as i64 };
        }
    )*};
}
from_int!(i8, i16, i32, isize, u8, u16, u32, u64, usize);

/// The part of an integer type's range that an `i64` covers.
trait Bounded {
    const LOW: i64;
    const HIGH: i64;
}

/// "an integer from MIN to MAX (TYPE)", the range cut to `i64`'s.
#[cold]
fn int_range<T: Bounded>(ty: &str) -> FromSqlError {
    FromSqlError::expected(format!("an integer from {} to {} ({ty})", T::LOW, T::HIGH))
}

impl FromSql for f64 {
    fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError> {
        if let SqlValue::Integer(i) = value {
            // Above 2^53 an f64 cannot hold every integer: refuse one it
            // would round (read it as an i64).
            let f = *i as f64;
            if f as i64 != *i || f == i64::MAX as f64 {
                return Err(FromSqlError::expected("a number an f64 holds exactly (read this integer as an i64)"));
            }
            return Ok(f);
        }
        value.as_f64().ok_or_else(|| FromSqlError::expected("a number"))
    }
}

impl FromSql for bool {
    fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError> {
        match value {
            SqlValue::Bool(b) => Ok(*b),
            SqlValue::Integer(0) => Ok(false),
            SqlValue::Integer(1) => Ok(true),
            _ => Err(FromSqlError::expected("a boolean (Integer 0 or 1)")),
        }
    }
}

impl FromSql for String {
    fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError> {
        match value {
            SqlValue::Text(s) | SqlValue::Json(s) => Ok(s.clone()),
            _ => Err(FromSqlError::expected("text")),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError> {
        value.as_bytes().map(<[u8]>::to_vec).ok_or_else(|| FromSqlError::expected("a blob or text"))
    }
}

impl FromSql for SystemTime {
    fn from_sql(value: &SqlValue) -> Result<Self, FromSqlError> {
        match value {
            SqlValue::Timestamp(t) => Ok(*t),
            SqlValue::Text(s) => crate::time::parse_rfc3339(s).ok_or_else(timestamp_expected),
            _ => Err(timestamp_expected()),
        }
    }
}

#[cold]
fn timestamp_expected() -> FromSqlError {
    FromSqlError::expected(
        "a timestamp: text as `2025-12-01T22:40:00.123456Z` (RFC 3339) or `2025-12-01 22:40:00` (SQLite's datetime(), UTC); \
         for unix seconds, read an i64 and add it to UNIX_EPOCH (subtract, if negative)",
    )
}
