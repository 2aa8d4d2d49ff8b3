//! Scoped API tokens: creation (the secret shown once, only its SHA-256
//! kept), listing, revocation, and the authority a request, a job or a
//! schedule acts with. Also which modules an authority sees: the admin's
//! uploads are shared with every token; a token's uploads are seen by the
//! tokens that share one of its queue globs (itself included).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::names::{NAME_MAX_LEN, queue_from_alias, validate_module_name};
use super::{Error, Result, Service};
use crate::model::{
    Authority, JobId, ModuleDigest, ModuleInfo, ScheduleId, Scope, TOKEN_NAME_MAX_LEN,
    TOKEN_QUEUES_MAX, Token, TokenId,
};

/// How every secret starts: tells a wasync token from other secrets.
pub const SECRET_PREFIX: &str = "wst_";

/// A token just created, with its secret: the only time it is shown.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token.
    #[serde(flatten)]
    pub token: Token,
    /// Its secret, to send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// The SHA-256 of a secret, as the store keeps it (hex).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new secret: 32 bytes from the operating system's random source (two
/// random UUIDs' bytes, 244 bits of them random), in hex, prefixed.
fn new_secret() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

fn validate_token_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= TOKEN_NAME_MAX_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(Error::Invalid(format!(
            "invalid token name `{name}`: use 1 to {TOKEN_NAME_MAX_LEN} letters, digits and \
             `_ - .`"
        )));
    }
    Ok(())
}

/// A token's queue globs, checked (`default` is the default queue).
fn queue_globs(queues: Vec<String>) -> Result<Vec<String>> {
    if queues.is_empty() || queues.len() > TOKEN_QUEUES_MAX {
        return Err(Error::Invalid(format!(
            "a token needs 1 to {TOKEN_QUEUES_MAX} queue globs (`*` matches every queue)"
        )));
    }
    let mut globs = BTreeSet::new();
    for glob in &queues {
        let glob = glob.trim();
        let bad = glob.len() > NAME_MAX_LEN || glob.chars().any(char::is_control);
        if bad {
            return Err(Error::Invalid(format!(
                "invalid queue glob `{glob}`: at most {NAME_MAX_LEN} bytes, no control \
                 characters"
            )));
        }
        globs.insert(queue_from_alias(glob).to_owned());
    }
    Ok(globs.into_iter().collect())
}

impl Service {
    /// Creates a token granting `scopes` in the queues its globs match,
    /// and returns it with its secret. [`Error::Conflict`] for a name
    /// taken.
    pub async fn token_create(
        &self,
        name: &str,
        queues: Vec<String>,
        scopes: Vec<Scope>,
    ) -> Result<CreatedToken> {
        validate_token_name(name)?;
        let queues = queue_globs(queues)?;
        let scopes: Vec<Scope> = scopes
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if scopes.is_empty() {
            return Err(Error::Invalid(
                "a token needs at least one scope (read, put, upload, manage, admin)".into(),
            ));
        }
        let secret = new_secret();
        let token = Token {
            id: TokenId(Uuid::now_v7()),
            name: name.to_owned(),
            queues,
            scopes,
            created_at: self.clock().now(),
        };
        let token = self
            .store()
            .token_insert(&token, &secret_hash(&secret))
            .await?;
        Ok(CreatedToken { token, secret })
    }

    /// Every token, by name (never their secrets).
    pub async fn token_list(&self) -> Result<Vec<Token>> {
        Ok(self.store().token_list().await?)
    }

    /// Revokes a token: its secret is refused from now on, and the jobs
    /// and schedules it put act with nothing.
    pub async fn token_revoke(&self, name: &str) -> Result<()> {
        Ok(self.store().token_delete(name).await?)
    }

    /// The token whose secret this is, if any.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Arc<Token>>> {
        if !secret.starts_with(SECRET_PREFIX) {
            return Ok(None);
        }
        let token = self.store().token_by_hash(&secret_hash(secret)).await?;
        Ok(token.map(Arc::new))
    }

    /// The authority of what recorded `token` (`None`: the admin).
    pub async fn authority_of(&self, token: Option<TokenId>) -> Result<Authority> {
        let Some(id) = token else {
            return Ok(Authority::Admin);
        };
        Ok(match self.store().token_get(id).await? {
            Some(token) => Authority::Token(Arc::new(token)),
            None => Authority::Revoked(id),
        })
    }

    /// The authority a job acts with: the token it was put with.
    pub async fn job_authority(&self, job: JobId) -> Result<Authority> {
        let token = self.store().job_token(job).await?;
        self.authority_of(token).await
    }

    /// The authority a schedule puts its jobs with.
    pub async fn schedule_authority(&self, schedule: ScheduleId) -> Result<Authority> {
        let token = self.store().schedule_token(schedule).await?;
        self.authority_of(token).await
    }

    /// Records that a schedule was created (or changed) by `authority`.
    pub async fn schedule_authority_set(
        &self,
        schedule: ScheduleId,
        authority: &Authority,
    ) -> Result<()> {
        match authority.token_id() {
            Some(token) => Ok(self.store().schedule_token_set(schedule, token).await?),
            None => Ok(()),
        }
    }

    /// Uploads a module as `authority` (see [`Service::module_upload`]),
    /// recording the uploader. A token may give a name only if no module
    /// holds it or the module holding it is one only its peers uploaded:
    /// it never moves a name its jobs' neighbours rely on.
    pub async fn module_upload_as(
        &self,
        authority: &Authority,
        bytes: Vec<u8>,
        name: Option<String>,
    ) -> Result<ModuleInfo> {
        if let (Authority::Token(token), Some(name)) = (authority, &name) {
            validate_module_name(name)?;
            match self.store().module_get(name).await {
                Ok(holder) => {
                    let uploads = self.uploaders().await?;
                    if !self
                        .owned_by_peers(token, uploads.get(&holder.digest))
                        .await?
                    {
                        return Err(Error::Conflict(format!(
                            "the module name `{name}` belongs to a module this token's queues \
                             do not own"
                        )));
                    }
                }
                Err(crate::store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let info = self.module_upload(bytes, name).await?;
        self.store()
            .module_upload_record(&info.digest, authority.token_id(), self.clock().now())
            .await?;
        Ok(info)
    }

    /// The modules `authority` sees, oldest first.
    pub async fn module_list_as(&self, authority: &Authority) -> Result<Vec<ModuleInfo>> {
        let modules = self.module_list().await?;
        let Authority::Token(token) = authority else {
            return Ok(if authority.is_admin() {
                modules
            } else {
                Vec::new()
            });
        };
        let uploads = self.uploaders().await?;
        let peers = self.peers(token).await?;
        Ok(modules
            .into_iter()
            .filter(|m| visible(uploads.get(&m.digest), token, &peers))
            .collect())
    }

    /// A module by digest or name, if `authority` sees it; otherwise not
    /// found, as if it did not exist.
    pub async fn module_get_as(
        &self,
        authority: &Authority,
        reference: &str,
    ) -> Result<ModuleInfo> {
        let module = self.module_get(reference).await?;
        self.check_module_visible(authority, &module.digest, reference)
            .await?;
        Ok(module)
    }

    /// [`Error::NotFound`] (as for a module that does not exist) when
    /// `authority` does not see the module.
    pub(super) async fn check_module_visible(
        &self,
        authority: &Authority,
        digest: &ModuleDigest,
        reference: &str,
    ) -> Result<()> {
        let seen = match authority {
            Authority::Admin => true,
            Authority::Revoked(_) => false,
            Authority::Token(token) => {
                let uploads = self.store().module_uploaders(digest).await?;
                // Most puts name a shared module or one of the token's own:
                // no need to read the other tokens.
                let shared =
                    uploads.is_empty() || uploads.iter().any(|u| u.is_none_or(|id| id == token.id));
                shared || visible(Some(&uploads), token, &self.peers(token).await?)
            }
        };
        if seen {
            Ok(())
        } else {
            Err(Error::not_found(format!("module `{reference}`")))
        }
    }

    /// Each module's uploaders.
    async fn uploaders(&self) -> Result<BTreeMap<ModuleDigest, Vec<Option<TokenId>>>> {
        let mut uploads: BTreeMap<ModuleDigest, Vec<Option<TokenId>>> = BTreeMap::new();
        for upload in self.store().module_uploads().await? {
            uploads.entry(upload.digest).or_default().push(upload.token);
        }
        Ok(uploads)
    }

    /// The tokens that share a queue glob with `token` (itself included).
    async fn peers(&self, token: &Token) -> Result<BTreeSet<TokenId>> {
        Ok(self
            .store()
            .token_list()
            .await?
            .iter()
            .filter(|other| other.shares_queues_with(token))
            .map(|other| other.id)
            .chain([token.id])
            .collect())
    }

    /// Whether only `token`'s peers uploaded a module (not the admin).
    async fn owned_by_peers(
        &self,
        token: &Token,
        uploads: Option<&Vec<Option<TokenId>>>,
    ) -> Result<bool> {
        let Some(uploads) = uploads else {
            return Ok(false);
        };
        let peers = self.peers(token).await?;
        Ok(uploads
            .iter()
            .all(|u| u.is_some_and(|id| peers.contains(&id))))
    }
}

/// Whether a module with these uploaders is seen by `token`: one with no
/// record (uploaded before tokens existed) or an upload of the admin is
/// shared; otherwise one of its uploaders must be a peer.
fn visible(
    uploads: Option<&Vec<Option<TokenId>>>,
    token: &Token,
    peers: &BTreeSet<TokenId>,
) -> bool {
    match uploads {
        None => true,
        Some(uploads) => uploads.iter().any(|u| match u {
            None => true,
            Some(id) => *id == token.id || peers.contains(id),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hashed() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 64);
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), secret_hash(&b));
    }

    #[test]
    fn names_and_globs_are_checked() {
        assert!(validate_token_name("ci-bot.1").is_ok());
        assert!(validate_token_name("").is_err());
        assert!(validate_token_name("a b").is_err());
        assert_eq!(
            queue_globs(vec!["b".into(), "a*".into(), "default".into(), "b".into()]).unwrap(),
            vec!["", "a*", "b"]
        );
        assert!(queue_globs(Vec::new()).is_err());
        assert!(queue_globs(vec!["a\nb".into()]).is_err());
    }
}
