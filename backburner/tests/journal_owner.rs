//! Guards that a journal belongs to one writer: its directory names the
//! writer (`WRITER`), a store opens it only as that writer (its seqs are
//! that writer's, checked against that writer's checkpoint), and writers of
//! one database get journals and dead-letter files of their own by default.

use backburner::{Durability, Error, Fsync, Store};

fn journaled(url: &str) -> backburner::Builder {
    Store::builder(url).durability(Durability::Journal { fsync: Fsync::EveryBatch })
}

#[test]
fn a_journal_is_opened_only_as_the_writer_it_belongs_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let journal = dir.path().join("j");
    let store = journaled(&url).writer("web-1").journal(&journal).build().expect("open");
    store.put("k", "v").expect("put").wait().expect("commit");
    store.close().expect("close");
    assert_eq!(std::fs::read_to_string(journal.join("WRITER")).expect("WRITER"), "web-1\n");
    match journaled(&url).writer("web-2").journal(&journal).build() {
        Err(e @ Error::InvalidOption { name: "writer", .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("`web-1`") && msg.contains("`web-2`"), "{msg}");
            assert!(msg.contains("?writer=web-1"), "says what to do: {msg}");
        }
        other => panic!("expected InvalidOption(writer), got {other:?}"),
    }
    // As its own writer it opens.
    journaled(&url).writer("web-1").journal(&journal).build().expect("reopen").close().expect("close");
}

#[test]
fn writers_of_one_database_get_their_own_default_journal_and_dead_letter_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let a = journaled(&format!("sqlite://{}?writer=a", db.display())).build().expect("writer a");
    // Both open at once: a shared default journal would be Error::Locked.
    let b = journaled(&format!("sqlite://{}", db.display())).writer("b").build().expect("writer b");
    let d = journaled(&format!("sqlite://{}", db.display())).build().expect("the default writer");
    for s in [&a, &b, &d] {
        s.put("k", "v").expect("put").wait().expect("commit");
    }
    for s in [a, b, d] {
        s.close().expect("close");
    }
    for j in ["t.db.a.journal", "t.db.b.journal", "t.db.journal"] {
        assert!(dir.path().join(j).is_dir(), "{j} missing");
    }
}

#[test]
fn a_writer_id_that_cannot_name_a_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    for bad in ["", "a/b", "..", ".hidden", "with space", "é", &"x".repeat(201)] {
        match Store::builder(&url).writer(bad).build() {
            Err(Error::InvalidOption { name: "writer", reason }) => assert!(reason.contains("writer id"), "{reason}"),
            other => panic!("{bad:?}: expected InvalidOption(writer), got {other:?}"),
        }
    }
    Store::builder(&url).writer("web-1.eu_west").build().expect("a good id").close().expect("close");
}
