//! How each backend spells SQL: the [`Dialect`] of SQLite and of
//! PostgreSQL, and [`Sql`], a statement written once whose text is built
//! per dialect on first use.

use std::sync::OnceLock;

use uuid::Uuid;

/// How a backend spells what differs in SQL text.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Its place in [`Sql`]'s cache.
    index: usize,
    /// Placeholders as `$N` (PostgreSQL) rather than `?N` (SQLite).
    dollar: bool,
    /// Locks the `jobs` rows a `SELECT` reads until the transaction ends
    /// (PostgreSQL: ` FOR UPDATE OF jobs`; SQLite needs none, its one
    /// writer serialises transactions).
    pub lock_jobs: &'static str,
    /// Locks the rows a `SELECT` reads, skipping those another
    /// transaction holds (PostgreSQL: ` FOR UPDATE SKIP LOCKED`).
    pub skip_locked: &'static str,
    /// The cast a text parameter bound for a JSON column needs
    /// (PostgreSQL: `::json`).
    pub json: &'static str,
    /// The cast a parameter that may be a NULL id needs to be typed
    /// (PostgreSQL: `::uuid`).
    pub uuid: &'static str,
    /// The hidden column that orders rows inserted in one transaction
    /// (`rowid`, `ctid`).
    pub row_order: &'static str,
    /// The column a statement deleting chosen jobs picks them by (SQLite:
    /// `seq`, its integer row key; PostgreSQL: `id`).
    pub job_key: &'static str,
    /// The operator matching our globs (`*`, `?`): `GLOB` or `LIKE`.
    pub glob: &'static str,
    /// A glob as the pattern [`Dialect::glob`] takes.
    pub glob_pattern: fn(&str) -> String,
    /// Latest completed first, jobs not completed last.
    pub latest_completed_first: &'static str,
    /// True as the schema compares it (SQLite's partial indexes say `1`).
    pub truth: &'static str,
    /// The larger of two values (`max`, `GREATEST`).
    pub greatest: &'static str,
    /// Null-safe equality (`IS`, `IS NOT DISTINCT FROM`).
    pub same: &'static str,
    /// Orders names byte by byte, as SQLite does by default (PostgreSQL:
    /// ` COLLATE "C"`).
    pub binary_order: &'static str,
    /// A statement that keeps writes to `jobs` out until the transaction
    /// ends, so that a check of the jobs referring to a queue or module
    /// sees every put committed before it, and a put after it finds the
    /// thing gone (PostgreSQL: `LOCK TABLE jobs IN SHARE MODE`; SQLite
    /// needs none, its one writer serialises transactions).
    pub lock_jobs_table: Option<&'static str>,
    /// A statement that makes transactions claiming the same module name
    /// (`?1`) take turns (PostgreSQL: a transaction-level advisory lock;
    /// SQLite needs none).
    pub lock_module_name: Option<&'static str>,
    /// Locks the rows a `SELECT` reads until the transaction ends
    /// (PostgreSQL: ` FOR UPDATE`; SQLite's one writer needs none).
    pub lock_rows: &'static str,
    /// `column` is one of the ids of the list parameter `param` (bound as
    /// [`Dialect::id_list`] writes it).
    pub in_ids: fn(column: &str, param: &str) -> String,
    /// A list of ids as one text parameter (SQLite: a JSON array of hex
    /// ids; PostgreSQL: an array literal, cast to `uuid[]`).
    pub id_list: fn(&[Uuid]) -> String,
    /// The next queue position (`seq`) for a job put at the end.
    pub next_seq: &'static str,
    /// The cast a text parameter that may be NULL needs to be typed
    /// (PostgreSQL: `::text`).
    pub text: &'static str,
    /// A job's quota names from a parameter holding them as a JSON array
    /// (SQLite stores the JSON; PostgreSQL a `text[]`).
    pub quota_names: fn(param: &str) -> String,
}

/// Our globs as SQLite GLOB patterns (`[` is literal).
fn sqlite_glob(pattern: &str) -> String {
    pattern.replace('[', "[[]")
}

/// Our globs as `LIKE` patterns (`%` and `_` are literal).
pub(crate) fn like_pattern(pattern: &str) -> String {
    let mut like = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' => like.push('%'),
            '?' => like.push('_'),
            '%' | '_' | '\\' => {
                like.push('\\');
                like.push(c);
            }
            c => like.push(c),
        }
    }
    like
}

/// SQLite's spelling.
pub(crate) static SQLITE: Dialect = Dialect {
    index: 0,
    dollar: false,
    lock_jobs: "",
    skip_locked: "",
    json: "",
    uuid: "",
    row_order: "rowid",
    job_key: "seq",
    glob: "GLOB",
    glob_pattern: sqlite_glob,
    latest_completed_first: "completed_at IS NULL, completed_at DESC",
    truth: "1",
    greatest: "max",
    same: "IS",
    binary_order: "",
    lock_jobs_table: None,
    lock_module_name: None,
    lock_rows: "",
    in_ids: |column, param| format!("{column} IN (SELECT unhex(value) FROM json_each({param}))"),
    id_list: |ids| {
        serde_json::Value::from(
            ids.iter()
                .map(|id| id.simple().to_string())
                .collect::<Vec<_>>(),
        )
        .to_string()
    },
    next_seq: "(SELECT max(seq) + 1 FROM jobs)",
    text: "",
    quota_names: |param| param.to_owned(),
};

/// PostgreSQL's spelling.
pub(crate) static POSTGRES: Dialect = Dialect {
    index: 1,
    dollar: true,
    lock_jobs: " FOR UPDATE OF jobs",
    skip_locked: " FOR UPDATE SKIP LOCKED",
    json: "::json",
    uuid: "::uuid",
    row_order: "ctid",
    job_key: "id",
    glob: "LIKE",
    glob_pattern: like_pattern,
    latest_completed_first: "completed_at DESC NULLS LAST",
    truth: "true",
    greatest: "GREATEST",
    same: "IS NOT DISTINCT FROM",
    binary_order: " COLLATE \"C\"",
    lock_jobs_table: Some("LOCK TABLE jobs IN SHARE MODE"),
    lock_module_name: Some(
        "SELECT pg_advisory_xact_lock(hashtextextended('wasync module name ' || ?1, 0))",
    ),
    lock_rows: " FOR UPDATE",
    in_ids: |column, param| format!("{column} = ANY({param}::uuid[])"),
    id_list: |ids| {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        format!("{{{}}}", ids.join(","))
    },
    next_seq: "nextval('jobs_seq_seq')",
    text: "::text",
    quota_names: |param| {
        format!("(SELECT array_agg(n) FROM json_array_elements_text({param}::json) AS n)")
    },
};

impl Dialect {
    /// Whether this backend locks rows (PostgreSQL): a statement tuned
    /// for it is written apart.
    pub fn locks_rows(&self) -> bool {
        !self.skip_locked.is_empty()
    }

    /// Whether every placeholder must carry its number (PostgreSQL's
    /// `$N`); SQLite also takes `?`, numbered in the text's order.
    pub fn numbers_placeholders(&self) -> bool {
        self.dollar
    }

    /// `text` with its `?N` placeholders in this dialect's spelling.
    pub fn render(&self, text: &str) -> String {
        if !self.dollar {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
                out.push('$');
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// A statement written once: its text built for a dialect on first use,
/// placeholders written `?N`, then kept.
pub(crate) struct Sql {
    build: fn(&Dialect) -> String,
    texts: [OnceLock<String>; 2],
}

impl Sql {
    /// A statement whose text `build` writes for a dialect.
    pub const fn new(build: fn(&Dialect) -> String) -> Self {
        Sql {
            build,
            texts: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The text for `dialect`.
    pub fn text(&self, dialect: &Dialect) -> &str {
        self.texts[dialect.index].get_or_init(|| dialect.render(&(self.build)(dialect)))
    }
}
