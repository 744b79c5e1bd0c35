//! Checks that the SQL handed to `execute` or `query` is one statement that
//! SQLite reads whole, before it is queued or run.
//!
//! SQLite compiles the first statement of a string and stops reading at a
//! NUL byte; rusqlite refuses the text after the first statement only when
//! it holds a second statement, so `INSERT …\0; DELETE …` would run the
//! `INSERT` and silently drop the rest. This check refuses, with a reason:
//!
//! * a NUL byte anywhere (SQLite never reads past it, even in a literal);
//! * text after the first statement other than whitespace, comments and
//!   semicolons (one statement per call is taken);
//! * a statement that is empty: nothing but whitespace, comments and
//!   semicolons.
//!
//! Where the first statement ends is found with SQLite's own rules: its
//! tokenizer's, for what hides a semicolon (string literals `'…'`, quoted
//! identifiers `"…"`, `` `…` `` and `[…]`, comments `--` to the end of the
//! line and `/* … */`, and Tcl-style parameters such as `$a(x;y)`), and
//! the state machine of `sqlite3_complete` for triggers: in `CREATE [TEMP]
//! TRIGGER … BEGIN …; …; END` only the semicolon after `END` ends the
//! statement. Text these rules cannot read (an unterminated literal, say)
//! is passed on: SQLite then refuses it when the statement is prepared.
//! The SQLite sink checks again when it prepares a statement (a journal
//! written before this check may hold any SQL): a NUL byte and an empty
//! statement with [`nul_or_empty`], a second statement as rusqlite reports
//! it.

/// Which call the SQL was given to, for the messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// `Store::execute`.
    Execute,
    /// `Store::query`.
    Query,
}

impl Call {
    /// `execute()` or `query()`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Call::Execute => "execute()",
            Call::Query => "query()",
        }
    }
}

/// Checks that `sql` is one statement SQLite reads whole.
///
/// # Errors
///
/// A reason that says what is wrong with `sql` and what to do instead.
pub(crate) fn check(sql: &str, call: Call) -> Result<(), String> {
    nul(sql)?;
    let b = sql.as_bytes();
    let mut state = State::Invalid;
    let mut i = 0;
    while i < b.len() {
        let (token, n) = token(&b[i..]);
        i += n;
        if token == Token::Space {
            continue;
        }
        let before = state;
        state = state.next(token);
        if token == Token::Semi && state == State::Start && before != State::Invalid && before != State::Start {
            // The first statement ended at this semicolon.
            return match rest(b, i) {
                None => Ok(()),
                Some(at) => Err(format!(
                    "{} takes one statement per call, and `{}` is followed by `{}` (at byte {at}); call {} \
                     once for each statement",
                    call.name(),
                    excerpt(&sql[..i]),
                    excerpt(&sql[at..]),
                    call.name(),
                )),
            };
        }
    }
    match state {
        State::Invalid | State::Start => Err(empty(sql, call)),
        _ => Ok(()),
    }
}

/// The checks SQLite's prepare cannot make: a NUL byte (SQLite stops there
/// without a word) and no statement at all (SQLite prepares nothing, and
/// says nothing). Text after the first statement is left to the prepare,
/// which reports it.
///
/// # Errors
///
/// As [`check`].
#[cfg(feature = "sqlite")]
pub(crate) fn nul_or_empty(sql: &str, call: Call) -> Result<(), String> {
    nul(sql)?;
    match rest(sql.as_bytes(), 0) {
        None => Err(empty(sql, call)),
        Some(_) => Ok(()),
    }
}

fn nul(sql: &str) -> Result<(), String> {
    match sql.find('\0') {
        None => Ok(()),
        Some(at) => Err(format!(
            "the SQL has a NUL byte at byte {at}, and SQLite stops reading at a NUL byte, so everything after it \
             would be dropped silently; remove it (pass text or blobs that hold NUL bytes as parameters, ?1)"
        )),
    }
}

fn empty(sql: &str, call: Call) -> String {
    format!(
        "the SQL `{}` holds no statement (only whitespace, comments or semicolons); {} takes one SQL statement",
        excerpt(sql),
        call.name()
    )
}

/// The first keyword of `sql` (after whitespace and comments), upper-cased,
/// if it starts with a word: `INSERT`, `REPLACE`, `WITH`, `UPDATE`...
#[cfg(feature = "sqlite")]
pub(crate) fn first_word(sql: &str) -> Option<String> {
    let b = sql.as_bytes();
    let i = rest(b, 0)?;
    let n = b[i..].iter().take_while(|&&c| c.is_ascii_alphabetic()).count();
    (n > 0).then(|| sql[i..i + n].to_ascii_uppercase())
}

/// Where the first token other than whitespace, a comment or a semicolon
/// starts at or after `from`, if there is one.
fn rest(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        let (token, n) = token(&b[i..]);
        if !matches!(token, Token::Space | Token::Semi) {
            return Some(i);
        }
        i += n;
    }
    None
}

/// At most 60 characters of `s`, for messages.
fn excerpt(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The tokens `sqlite3_complete` tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Semi,
    /// Whitespace or a comment.
    Space,
    Other,
    Explain,
    Create,
    Temp,
    Trigger,
    End,
}

/// The states of `sqlite3_complete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing but whitespace and comments yet.
    Invalid,
    /// After a semicolon that ended a statement (or an empty one).
    Start,
    /// In a statement that ends at the next semicolon.
    Normal,
    /// After `EXPLAIN` at the start of a statement.
    Explain,
    /// After `CREATE` (and perhaps `TEMP`) at the start of a statement.
    Create,
    /// In a `CREATE TRIGGER` statement.
    Trigger,
    /// In a trigger, after a semicolon.
    TriggerSemi,
    /// In a trigger, after `; END`.
    TriggerEnd,
}

impl State {
    /// The transition table of `sqlite3_complete` (whitespace never changes the state).
    fn next(self, t: Token) -> State {
        use State as S;
        use Token as T;
        match (self, t) {
            (S::Invalid | S::Start | S::Normal | S::Explain | S::Create, T::Semi) => S::Start,
            (S::Trigger | S::TriggerSemi, T::Semi) => S::TriggerSemi,
            (S::TriggerEnd, T::Semi) => S::Start,
            (S::Invalid | S::Start, T::Explain) => S::Explain,
            (S::Invalid | S::Start | S::Explain, T::Create) => S::Create,
            (S::Explain, T::Other) => S::Explain,
            (S::Create, T::Temp) => S::Create,
            (S::Create, T::Trigger) => S::Trigger,
            (S::TriggerSemi, T::End) => S::TriggerEnd,
            (S::Trigger | S::TriggerSemi | S::TriggerEnd, _) => S::Trigger,
            _ => S::Normal,
        }
    }
}

/// Whether `c` is whitespace to SQLite's `sqlite3Isspace` (which, unlike
/// its tokenizer, counts `\v`).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Whether `c` can be part of an identifier or keyword (as SQLite's `IdChar`).
fn is_id(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// The token at the start of `s` (not empty) and its length in bytes, as
/// SQLite's tokenizer reads it. An unterminated literal, identifier or
/// comment runs to the end.
fn token(s: &[u8]) -> (Token, usize) {
    let to_end = |from: usize, found: Option<usize>, len: usize| found.map_or(s.len(), |i| from + i + len);
    match s[0] {
        b';' => (Token::Semi, 1),
        b' ' | b'\t' | b'\n' | b'\r' | 0x0c => (Token::Space, 1),
        b'-' if s.get(1) == Some(&b'-') => (Token::Space, to_end(2, s[2..].iter().position(|&c| c == b'\n'), 1)),
        b'/' if s.get(1) == Some(&b'*') => (Token::Space, to_end(2, s[2..].windows(2).position(|w| w == b"*/"), 2)),
        q @ (b'\'' | b'"' | b'`') => (Token::Other, to_end(1, s[1..].iter().position(|&c| c == q), 1)),
        b'[' => (Token::Other, to_end(1, s[1..].iter().position(|&c| c == b']'), 1)),
        b'$' | b'@' | b':' | b'#' => (Token::Other, variable(s)),
        c if is_id(c) => {
            let n = s.iter().position(|&c| !is_id(c)).unwrap_or(s.len());
            (keyword(&s[..n]), n)
        }
        _ => (Token::Other, 1),
    }
}

/// The length of the parameter at the start of `s` (`$`, `@`, `:` or `#`,
/// then a name): SQLite's tokenizer also takes a Tcl-style suffix, `::` in
/// the name and `(…)` after it, up to the `)` or the first whitespace, so
/// `$a(x;y)` is one token and its `;` ends nothing.
fn variable(s: &[u8]) -> usize {
    let mut named = false;
    let mut i = 1;
    while i < s.len() {
        let c = s[i];
        if is_id(c) {
            named = true;
        } else if c == b'(' && named {
            let close = s[i + 1..].iter().position(|&c| c == b')' || is_space(c));
            return match close {
                Some(j) if s[i + 1 + j] == b')' => i + j + 2,
                Some(j) => i + 1 + j,
                None => s.len(),
            };
        } else if c == b':' && s.get(i + 1) == Some(&b':') {
            i += 1;
        } else {
            break;
        }
        i += 1;
    }
    i
}

fn keyword(word: &[u8]) -> Token {
    let is = |k: &str| word.eq_ignore_ascii_case(k.as_bytes());
    if is("create") {
        Token::Create
    } else if is("temp") || is("temporary") {
        Token::Temp
    } else if is("trigger") {
        Token::Trigger
    } else if is("end") {
        Token::End
    } else if is("explain") {
        Token::Explain
    } else {
        Token::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) {
        assert_eq!(check(sql, Call::Execute), Ok(()), "{sql:?}");
    }

    fn refused(sql: &str, needle: &str) {
        match check(sql, Call::Execute) {
            Err(r) => assert!(r.contains(needle), "{sql:?}: {r}"),
            Ok(()) => panic!("{sql:?} was taken"),
        }
    }

    #[test]
    fn one_statement_is_taken_whatever_hides_its_semicolons() {
        ok("INSERT INTO t VALUES (1)");
        ok("INSERT INTO t VALUES (1);");
        ok("INSERT INTO t VALUES (1);;  ; -- done\n/* really */");
        ok(";; INSERT INTO t VALUES (1)");
        ok("INSERT INTO t VALUES ('a;b', 'it''s; fine', x'3b00')");
        ok("INSERT INTO \"we;ird\"(\"a\"\"b;\") VALUES (1)");
        ok("INSERT INTO `x;y` VALUES ([c;d])");
        ok("INSERT INTO t VALUES (1) -- ; DELETE FROM t");
        ok("INSERT INTO t VALUES (1) /* ; DELETE FROM t */");
        ok("INSERT INTO t VALUES (1) /* unterminated ; DELETE");
        ok("INSERT INTO t VALUES ('\\0 is not a NUL byte')");
        ok("CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET n = n + 1; DELETE FROM u; END");
        ok("create temp trigger tr after insert on t begin select case when 1 then 2 end; end;");
        ok("CREATE TEMPORARY TRIGGER IF NOT EXISTS tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES (';'); END ;");
        ok("CREATE TABLE trigger_log(end INTEGER, \"trigger\" TEXT)");
        ok("EXPLAIN QUERY PLAN SELECT 1");
        ok("INSERT INTO t VALUES ($a(x;y), :b::c, @d, #e, ?1)");
        ok("INSERT INTO t VALUES ($a)");
        // Unterminated: SQLite refuses it when it is prepared.
        ok("INSERT INTO t VALUES ('oops; DELETE FROM t");
    }

    #[test]
    fn nul_trailing_text_and_empty_statements_are_refused() {
        refused("INSERT INTO t VALUES (26,'nul')\0; DELETE FROM t", "NUL byte at byte 31");
        refused("INSERT INTO t VALUES ('a\0b')", "NUL byte");
        refused("INSERT INTO t VALUES (1); DELETE FROM t", "one statement per call");
        refused("INSERT INTO t VALUES (1);\n-- and\nDELETE FROM t", "`DELETE FROM t` (at byte 33)");
        refused("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; DELETE FROM t", "`DELETE FROM t`");
        refused("INSERT INTO t VALUES (1); 'x", "one statement per call");
        // `--` inside a Tcl-style parameter starts no comment.
        refused("INSERT INTO t VALUES ($a(--), 1); DELETE FROM t", "`DELETE FROM t`");
        for empty in ["", "   ", ";", " ; ;", "-- nothing", "/* nothing */", "/* unterminated"] {
            refused(empty, "holds no statement");
        }
        match check("SELECT 1; SELECT 2", Call::Query) {
            Err(r) => assert!(r.starts_with("query() takes one statement per call"), "{r}"),
            Ok(()) => panic!("two queries were taken"),
        }
    }
}
