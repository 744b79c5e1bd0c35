//! What open says when the database or the journal directory cannot be
//! used: the cause (not a database, a directory, a read-only file system, a
//! file in the way, no permission) and what to do next, produced with real
//! files. As root, file permissions stop nothing: a read-only file system is
//! a read-only bind mount, and missing permission the immutable attribute
//! (`chattr +i`, EPERM). Without the right to do either, both fall back to a
//! directory of mode 0555, and expect the wording for missing permission.

use std::path::{Path, PathBuf};
use std::process::Command;

use backburner::{Durability, Error, Fsync, Store};

/// A directory that cannot be written, for as long as this lives.
struct Unwritable {
    dir: PathBuf,
    how: How,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    /// A read-only bind mount of it on itself.
    Mount,
    /// The immutable attribute (`chattr +i`): writes fail with EPERM, for root too.
    Immutable,
    /// Mode 0555 (stops only users other than root).
    Mode,
}

fn run(cmd: &str, args: &[&str], dir: &Path) -> bool {
    Command::new(cmd).args(args).arg(dir).status().is_ok_and(|s| s.success())
}

impl Unwritable {
    /// On a read-only file system (without the right to mount: mode 0555).
    fn read_only(dir: &Path) -> Unwritable {
        if run("mount", &["--bind", &dir.display().to_string()], dir) {
            if run("mount", &["-o", "remount,ro,bind"], dir) {
                return Unwritable { dir: dir.to_path_buf(), how: How::Mount };
            }
            run("umount", &[], dir);
        }
        Unwritable::mode(dir)
    }

    /// Without permission to write in it.
    fn no_permission(dir: &Path) -> Unwritable {
        if run("chattr", &["+i"], dir) {
            return Unwritable { dir: dir.to_path_buf(), how: How::Immutable };
        }
        Unwritable::mode(dir)
    }

    fn mode(dir: &Path) -> Unwritable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        Unwritable { dir: dir.to_path_buf(), how: How::Mode }
    }

    /// The key parts of the message: the cause, and what to do.
    fn expected(&self) -> [&'static str; 2] {
        match self.how {
            How::Mount => ["read-only file system", "remount it read-write"],
            How::Immutable | How::Mode => ["no permission", "write permission"],
        }
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        match self.how {
            How::Mount => {
                run("umount", &[], &self.dir);
            }
            How::Immutable => {
                run("chattr", &["-i"], &self.dir);
            }
            How::Mode => {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
            }
        }
    }
}

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// The message of the error `Store::open(url)` fails with.
fn open_error(url: &str) -> String {
    match Store::open(url) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{url}: the store opened"),
    }
}

#[test]
fn a_file_that_is_not_a_database_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("notdb0.db");
    std::fs::write(&db, "this is a text file, not a database; ".repeat(40)).expect("write");
    let m = open_error(&url(&db));
    assert!(m.contains(&format!("{} is not a SQLite database", db.display())), "{m}");
    assert!(m.contains("check the path"), "says what to do: {m}");
    assert!(!m.contains("WAL"), "WAL mode has nothing to do with it: {m}");
}

#[test]
fn a_directory_as_the_database_path_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let adir = dir.path().join("adir");
    std::fs::create_dir(&adir).expect("mkdir");
    let m = open_error(&url(&adir));
    assert!(m.contains(&format!("{} is a directory", adir.display())), "{m}");
    assert!(m.contains(&format!("{}/app.db", adir.display())), "suggests a file path: {m}");
}

/// Opens a database that exists and one that would have to be created, in
/// `dir` made unwritable by `make`; checks the message of each.
fn unwritable_database(make: fn(&Path) -> Unwritable) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).expect("mkdir");
    // SQLite opens the one that exists read-only, and fails later.
    let existing = ro.join("a.db");
    rusqlite::Connection::open(&existing).expect("create").execute_batch("CREATE TABLE x(a)").expect("ddl");
    let guard = make(&ro);
    for db in [existing, ro.join("new.db")] {
        let m = open_error(&url(&db));
        let [cause, todo] = guard.expected();
        assert!(m.contains(&db.display().to_string()) && m.contains(cause), "{m}");
        assert!(m.contains(todo), "says what to do: {m}");
        assert!(!m.contains("WAL mode"), "{m}");
    }
}

#[test]
fn a_database_on_a_read_only_file_system_says_so() {
    unwritable_database(Unwritable::read_only);
}

#[test]
fn a_database_in_a_directory_without_write_permission_says_so() {
    unwritable_database(Unwritable::no_permission);
}

fn journal_error(db: &Path, journal: &Path) -> Error {
    let store =
        Store::builder(&url(db)).durability(Durability::Journal { fsync: Fsync::EveryBatch }).journal(journal).build();
    match store {
        Err(e) => e,
        Ok(_) => panic!("{}: the store opened", journal.display()),
    }
}

#[test]
fn a_file_where_the_journal_directory_should_be_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jfile = dir.path().join("jfile");
    std::fs::write(&jfile, "not a directory").expect("write");
    let m = journal_error(&dir.path().join("t.db"), &jfile).to_string();
    assert!(m.contains(&format!("{} as the journal directory: it is a file, not a directory", jfile.display())), "{m}");
    assert!(m.contains("Builder::journal"), "says what to do: {m}");
    // And below a file: the directory cannot be created there.
    let below = jfile.join("journal");
    let m = journal_error(&dir.path().join("t.db"), &below).to_string();
    assert!(m.contains(&format!("{} is a file", jfile.display())), "{m}");
}

fn unwritable_journal(make: fn(&Path) -> Unwritable) {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("rojournal");
    std::fs::create_dir(&journal).expect("mkdir");
    let guard = make(&journal);
    let m = journal_error(&dir.path().join("t.db"), &journal).to_string();
    let [cause, todo] = guard.expected();
    assert!(m.contains(&format!("cannot use {} as the journal directory", journal.display())), "{m}");
    assert!(m.contains(cause) && m.contains(todo) && m.contains("Builder::journal"), "says what to do: {m}");
}

#[test]
fn a_journal_directory_on_a_read_only_file_system_says_so() {
    unwritable_journal(Unwritable::read_only);
}

#[test]
fn a_journal_directory_without_write_permission_says_so() {
    unwritable_journal(Unwritable::no_permission);
}
