//! API tokens: who may do what in which queues. A token grants its
//! scopes in every queue one of its globs matches; the admin (the
//! server's own `--token`, or anyone when none is set) may do everything.
//! A job acts with the authority of the put that created it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// The longest token name.
pub const TOKEN_NAME_MAX_LEN: usize = 64;
/// The most queue globs one token may carry.
pub const TOKEN_QUEUES_MAX: usize = 64;

super::ids::uuid_id!(
    /// A token's id: what jobs and uploads record (a name can be reused
    /// once revoked; an id never).
    TokenId
);

/// What a token may do in its queues.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// See jobs, queues, results, annotations, quotas, statistics.
    Read,
    /// Put jobs (callbacks, composites, parts) and set annotations.
    Put,
    /// Upload modules.
    Upload,
    /// Change, cancel, pull, remove and put back jobs; pause queues; set
    /// quotas, retry policies, agents, schedules and job names.
    Manage,
    /// Everything in its queues, create and delete them; with the glob
    /// `*`, everything server-wide too (tokens, dispatchers).
    Admin,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 5] = [
        Scope::Read,
        Scope::Put,
        Scope::Upload,
        Scope::Manage,
        Scope::Admin,
    ];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Put => "put",
            Scope::Upload => "upload",
            Scope::Manage => "manage",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is none of [`Scope::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}` (read, put, upload, manage, admin)")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s.trim())
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

/// A token as stored (its secret never is: only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Token {
    /// Its id.
    pub id: TokenId,
    /// Its unique name.
    pub name: String,
    /// The queues it may use: globs (`*` any run of characters, `?` one).
    pub queues: Vec<String>,
    /// What it may do there.
    pub scopes: Vec<Scope>,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl Token {
    /// Whether it grants `scope` in `queue` (`admin` grants every scope).
    pub fn allows(&self, scope: Scope, queue: &str) -> bool {
        (self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin))
            && self.queues.iter().any(|g| glob_matches(g, queue))
    }

    /// Whether it is an admin of every queue (glob `*` with `admin`): what
    /// server-wide operations need.
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin) && self.queues.iter().any(|g| g == "*")
    }

    /// Whether it shares a queue glob with `other`: such tokens see each
    /// other's uploads.
    pub fn shares_queues_with(&self, other: &Token) -> bool {
        self.id == other.id || self.queues.iter().any(|g| other.queues.contains(g))
    }
}

/// Who is acting: the admin, or a token (or the token a job was put
/// with). A job whose token was revoked acts with [`Authority::Revoked`],
/// which may do nothing beyond its own job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Authority {
    /// Everything, everywhere.
    #[default]
    Admin,
    /// What the token grants.
    Token(Arc<Token>),
    /// A token that no longer exists: nothing.
    Revoked(TokenId),
}

impl Authority {
    /// Whether it grants `scope` in `queue`.
    pub fn allows(&self, scope: Scope, queue: &str) -> bool {
        match self {
            Authority::Admin => true,
            Authority::Token(token) => token.allows(scope, queue),
            Authority::Revoked(_) => false,
        }
    }

    /// Whether it may do server-wide operations.
    pub fn is_admin(&self) -> bool {
        match self {
            Authority::Admin => true,
            Authority::Token(token) => token.is_admin(),
            Authority::Revoked(_) => false,
        }
    }

    /// The token to record on what it creates (`None`: the admin).
    pub fn token_id(&self) -> Option<TokenId> {
        match self {
            Authority::Admin => None,
            Authority::Token(token) => Some(token.id),
            Authority::Revoked(id) => Some(*id),
        }
    }
}

/// Whether `name` matches `glob`, where `*` matches any run of
/// characters and `?` exactly one (the globs of agent filters).
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut gi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match g.get(gi) {
            Some('*') => {
                star = Some((gi, ni));
                gi += 1;
            }
            Some('?') => {
                gi += 1;
                ni += 1;
            }
            Some(c) if *c == n[ni] => {
                gi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sg, sn)) => {
                    gi = sg + 1;
                    ni = sn + 1;
                    star = Some((sg, sn + 1));
                }
                None => return false,
            },
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn globs_match_as_agent_filters_do() {
        assert!(glob_matches("a", "a"));
        assert!(!glob_matches("a", "b"));
        assert!(!glob_matches("a", "ab"));
        assert!(glob_matches("a*", "a"));
        assert!(glob_matches("a*", "abc"));
        assert!(!glob_matches("a*", "ba"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("?b", "ab"));
        assert!(!glob_matches("?b", "b"));
        assert!(glob_matches("*x*y", "axxbxy"));
        assert!(!glob_matches("*x*y", "axxbxyz"));
    }

    fn token(queues: &[&str], scopes: &[Scope]) -> Token {
        Token {
            id: TokenId(Uuid::now_v7()),
            name: "t".into(),
            queues: queues.iter().map(|q| q.to_string()).collect(),
            scopes: scopes.to_vec(),
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_token_grants_its_scopes_in_its_queues_only() {
        let t = Authority::Token(Arc::new(token(&["a*"], &[Scope::Read, Scope::Put])));
        assert!(t.allows(Scope::Read, "a"));
        assert!(t.allows(Scope::Put, "alpha"));
        assert!(!t.allows(Scope::Manage, "a"));
        assert!(!t.allows(Scope::Read, "b"));
        assert!(!t.is_admin());
        let admin = Authority::Token(Arc::new(token(&["*"], &[Scope::Admin])));
        assert!(admin.allows(Scope::Manage, "anything") && admin.is_admin());
        let queue_admin = Authority::Token(Arc::new(token(&["a"], &[Scope::Admin])));
        assert!(queue_admin.allows(Scope::Put, "a") && !queue_admin.is_admin());
        assert!(!Authority::Revoked(TokenId(Uuid::nil())).allows(Scope::Read, "a"));
        assert!(Authority::Admin.allows(Scope::Admin, "b"));
    }

    #[test]
    fn scopes_parse_by_name() {
        assert_eq!("put".parse::<Scope>(), Ok(Scope::Put));
        assert!("write".parse::<Scope>().is_err());
    }
}
