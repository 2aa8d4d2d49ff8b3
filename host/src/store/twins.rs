//! A guard against the two backends growing apart into copies of each
//! other: counts the code lines `store/sqlite/X.rs` and `store/postgres/X.rs`
//! share, in order, once the mechanical differences are normalised away
//! (placeholders `?1`/`$1`, the backends' type and pool names, SQL casts),
//! and fails when the count grows past [`TWIN_LINES_CEILING`].
//!
//! Logic shared by both backends belongs once in `store/` (as
//! `store/settle.rs` does), generic over a statement trait; per backend only
//! the statements. A change that writes the same lines into both backends
//! (the usual way a feature lands twice) shows here as a count above the
//! ceiling. The ceiling only goes down: when a change removes twins, the
//! test asks for the ceiling to be lowered to the new count.

use std::collections::BTreeMap;
use std::path::Path;

/// The most twin lines the backends may share. Lower it when the count
/// drops (the test says by how much); never raise it.
const TWIN_LINES_CEILING: usize = 284;

/// How far below the ceiling the count may fall before the test asks for
/// the ceiling to be lowered (small drifts from reformatting pass).
const SLACK: usize = 20;

/// The lines of a Rust file that count: not blank, not a comment, not lone
/// punctuation, not a `use` line; each normalised (see the module doc).
fn code_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_use = false;
    for raw in text.lines() {
        let line = raw.trim();
        if in_use {
            in_use = !line.ends_with(';');
            continue;
        }
        if line.starts_with("use ")
            || line.starts_with("pub use ")
            || line.starts_with("pub(crate) use ")
            || line.starts_with("pub(super) use ")
        {
            in_use = !line.ends_with(';');
            continue;
        }
        if line.is_empty()
            || line.starts_with("//")
            || line.chars().all(|c| "{}()[];,.".contains(c))
        {
            continue;
        }
        lines.push(normalise(line));
    }
    lines
}

/// Folds the differences between the backends that are only spelling.
fn normalise(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        // `?1`, `$1` → `?`
        if (c == '?' || c == '$') && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
            continue;
        }
        out.push(c);
    }
    let mut s = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in [
        // SQL casts PostgreSQL needs and SQLite does without.
        ("::jsonb", ""),
        ("::json", ""),
        ("::uuid[]", ""),
        ("::text[]", ""),
        ("::bigint[]", ""),
        ("::uuid", ""),
        ("::text", ""),
        ("::bigint", ""),
        // Pools and transaction handles.
        ("&db.reader", "&db.pool"),
        ("&db.writer", "&db.pool"),
        ("&self.reader", "&db.pool"),
        ("&self.writer", "&db.pool"),
        ("&self.pool", "&db.pool"),
        ("&mut **tx", "&mut *conn"),
        ("&mut *tx", "&mut *conn"),
        ("&mut tx", "&mut *conn"),
        // Type and module names.
        ("SqliteTx", "BackendTx"),
        ("PgTx", "BackendTx"),
        ("SqliteStore", "BackendStore"),
        ("PgStore", "BackendStore"),
        ("SqliteRow", "BackendRow"),
        ("PgRow", "BackendRow"),
        ("Transaction<'static, Sqlite>", "Conn"),
        ("Transaction<'static, Postgres>", "Conn"),
        ("PgConnection", "Conn"),
        ("Sqlite", "Backend"),
        ("Postgres", "Backend"),
        ("sqlite", "backend"),
        ("postgres", "backend"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// The length of the longest common subsequence of two line lists: the
/// lines one file shares with the other, in order.
fn shared_in_order(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Each backend's `.rs` files, by name relative to its folder.
fn backend_files(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("a backend folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path
                    .strip_prefix(dir)
                    .expect("below the folder")
                    .to_string_lossy()
                    .into_owned();
                let text = std::fs::read_to_string(&path).expect("a readable file");
                files.insert(name, code_lines(&text));
            }
        }
    }
    files
}

/// The twin lines per file pair, and their sum.
pub(crate) fn count() -> (usize, Vec<(String, usize, usize, usize)>) {
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let sqlite = backend_files(&store.join("sqlite"));
    let postgres = backend_files(&store.join("postgres"));
    let mut rows = Vec::new();
    let mut total = 0;
    for (name, s) in &sqlite {
        let Some(p) = postgres.get(name) else {
            continue;
        };
        let shared = shared_in_order(s, p);
        total += shared;
        rows.push((name.clone(), shared, s.len(), p.len()));
    }
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    (total, rows)
}

#[test]
fn backend_twins_stay_under_their_ceiling() {
    let (total, rows) = count();
    let table: String = rows
        .iter()
        .map(|(name, shared, s, p)| {
            format!("  {name}: {shared} of {s} (sqlite) / {p} (postgres)\n")
        })
        .collect();
    assert!(
        total <= TWIN_LINES_CEILING,
        "the backends share {total} code lines, more than the ceiling of \
         {TWIN_LINES_CEILING}: write the new logic once in store/, generic over a \
         statement trait (store/settle.rs shows how), and keep only statements per backend.\n\
         {table}"
    );
    assert!(
        total + SLACK >= TWIN_LINES_CEILING,
        "the backends share {total} code lines, well under the ceiling of \
         {TWIN_LINES_CEILING}: lower TWIN_LINES_CEILING in store/twins.rs to {total}.\n{table}"
    );
}

#[test]
fn normalising_folds_placeholders_casts_and_names() {
    assert_eq!(
        normalise("WHERE id = $1 AND args = $2::json"),
        normalise("WHERE id = ?1 AND args = ?2")
    );
    assert_eq!(
        normalise(".fetch_all(&db.reader)"),
        normalise(".fetch_all(&db.pool)")
    );
    assert_eq!(normalise("db: &SqliteStore,"), normalise("db: &PgStore,"));
    assert_ne!(normalise("WHERE id = ?1"), normalise("WHERE id IN ?1"));
    let lines = code_lines("use a::b;\nuse c::{\n  d,\n};\n// x\n\n  }\nlet a = 1;\n");
    assert_eq!(lines, vec!["let a = 1;".to_owned()]);
}

#[test]
fn shared_lines_are_counted_in_order() {
    let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        shared_in_order(&v(&["a", "b", "c"]), &v(&["a", "c", "b"])),
        2
    );
    assert_eq!(shared_in_order(&v(&["a", "b"]), &v(&["x", "y"])), 0);
    assert_eq!(
        shared_in_order(&v(&["a", "b", "c"]), &v(&["a", "b", "c"])),
        3
    );
}
