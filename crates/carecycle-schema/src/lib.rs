//! The one way CareCycle's databases change shape — the app's encrypted store
//! and the back end's record alike: an ordered list of steps, with
//! `PRAGMA user_version` counting the steps a database has had. A database
//! made by an earlier release has a lower count and gets the steps since; a
//! new one gets them all. (`rusqlite_migration` does the same but is built for
//! another rusqlite than the one SQLCipher is linked through here.)

use rusqlite::Connection;

/// One change of shape.
#[derive(Debug, Clone, Copy)]
pub enum Step<E> {
    /// SQL, run in one transaction together with the count going up: a crash
    /// leaves the database before the step or after it, never half-way.
    Sql(&'static str),
    /// Code for what SQL alone cannot do (filling a new column from the JSON,
    /// moving rows to another file). It must be safe to run again after a
    /// crash part-way: the count goes up only once it returned.
    Code(fn(&mut Connection) -> Result<(), E>),
}

/// How many steps the database has had.
pub fn version(conn: &Connection) -> rusqlite::Result<usize> {
    let done: i64 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
    Ok(usize::try_from(done).unwrap_or(0))
}

/// Runs the steps the database has not had yet, in order; how many ran now.
/// A database from a newer release (a count beyond the list) is refused
/// rather than written to by code that does not know its shape.
pub fn migrate<E: From<rusqlite::Error>>(
    conn: &mut Connection,
    steps: &[Step<E>],
    newer: impl FnOnce(usize) -> E,
) -> Result<usize, E> {
    let done = version(conn)?;
    if done > steps.len() {
        return Err(newer(done));
    }
    for (i, step) in steps.iter().enumerate().skip(done) {
        let count = i64::try_from(i + 1).unwrap_or(i64::MAX);
        match step {
            Step::Sql(sql) => {
                let tx = conn.transaction()?;
                tx.execute_batch(sql)?;
                tx.pragma_update(Some("main"), "user_version", count)?;
                tx.commit()?;
            }
            Step::Code(run) => {
                run(conn)?;
                conn.pragma_update(Some("main"), "user_version", count)?;
            }
        }
    }
    Ok(steps.len() - done)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fill(conn: &mut Connection) -> rusqlite::Result<()> {
        conn.execute("UPDATE t SET b = a * 2 WHERE b IS NULL", [])?;
        Ok(())
    }

    const STEPS: &[Step<rusqlite::Error>] = &[
        Step::Sql("CREATE TABLE t (a INTEGER)"),
        Step::Sql("ALTER TABLE t ADD COLUMN b INTEGER"),
        Step::Code(fill),
    ];

    #[test]
    fn an_older_database_gets_the_steps_since_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        // Made by a release that knew only the first step.
        let mut old = Connection::open(&path).unwrap();
        migrate(&mut old, &STEPS[..1], |_| unreachable_newer()).unwrap();
        old.execute("INSERT INTO t (a) VALUES (21)", []).unwrap();
        drop(old);

        let mut conn = Connection::open(&path).unwrap();
        assert_eq!(
            migrate(&mut conn, STEPS, |_| unreachable_newer()).unwrap(),
            2
        );
        assert_eq!(version(&conn).unwrap(), 3);
        let b: i64 = conn.query_row("SELECT b FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(b, 42);
        assert_eq!(
            migrate(&mut conn, STEPS, |_| unreachable_newer()).unwrap(),
            0,
            "once"
        );
    }

    #[test]
    fn a_database_from_a_newer_release_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 9).unwrap();
        let refused = migrate(&mut conn, STEPS, |n| {
            rusqlite::Error::InvalidParameterName(format!("made by a newer release (step {n})"))
        });
        assert!(refused.is_err());
    }

    fn unreachable_newer() -> rusqlite::Error {
        rusqlite::Error::InvalidQuery
    }
}
