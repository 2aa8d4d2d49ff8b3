//! Quotas: create, list, show, resize and
//! remove the named caps of a queue, and check the names a job carries.

use super::names::{queue_from_alias, queue_what};
use super::{Error, Result, Service};
use crate::model::{QUOTA_SIZE_DEFAULT, QUOTA_SIZE_MAX, Quota, check_quota_name};
use crate::store::QuotaCreateParams;

fn check_size(size: u32) -> Result<u32> {
    if size == 0 || size > QUOTA_SIZE_MAX {
        return Err(Error::Invalid(format!(
            "quota `size` must be 1 to {QUOTA_SIZE_MAX}, got {size}"
        )));
    }
    Ok(size)
}

impl Service {
    /// Creates a quota in a queue, of `size` (default
    /// [`QUOTA_SIZE_DEFAULT`]).
    pub async fn quota_create(&self, queue: &str, name: &str, size: Option<u32>) -> Result<Quota> {
        let queue = queue_from_alias(queue);
        check_quota_name(name).map_err(Error::Invalid)?;
        let size = check_size(size.unwrap_or(QUOTA_SIZE_DEFAULT))?;
        let quota = self
            .store()
            .quota_create(QuotaCreateParams {
                queue: queue.to_owned(),
                name: name.to_owned(),
                size,
                now: self.clock().now(),
            })
            .await?;
        self.inner.lookups.forget_quotas(queue);
        Ok(quota)
    }

    /// A quota: its size, the jobs holding it, whether it is filled.
    pub async fn quota_get(&self, queue: &str, name: &str) -> Result<Quota> {
        Ok(self
            .store()
            .quota_get(queue_from_alias(queue), name)
            .await?)
    }

    /// A queue's quotas, by name.
    pub async fn quota_list(&self, queue: &str) -> Result<Vec<Quota>> {
        Ok(self.store().quota_list(queue_from_alias(queue)).await?)
    }

    /// Changes a quota's size. Running jobs are not touched; a larger size
    /// lets this process's dispatcher claim at once.
    pub async fn quota_set_size(&self, queue: &str, name: &str, size: u32) -> Result<Quota> {
        let size = check_size(size)?;
        let quota = self
            .store()
            .quota_set_size(queue_from_alias(queue), name, size)
            .await?;
        self.events().work_available();
        Ok(quota)
    }

    /// Removes a quota: the jobs naming it no longer count against
    /// anything (and may be claimed at once).
    pub async fn quota_delete(&self, queue: &str, name: &str) -> Result<()> {
        let queue = queue_from_alias(queue);
        self.store().quota_delete(queue, name).await?;
        self.inner.lookups.forget_quotas(queue);
        self.events().work_available();
        Ok(())
    }

    /// Checks that every name is a quota of `queue` (an unknown name is
    /// refused), from the cache when it knows them all, else from the
    /// store.
    pub(super) async fn check_quota_names(&self, queue: &str, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let known = |list: &[String]| names.iter().find(|n| !list.contains(n)).cloned();
        if let Some(cached) = self.inner.lookups.quotas(queue)
            && known(&cached).is_none()
        {
            return Ok(());
        }
        let list: Vec<String> = self
            .store()
            .quota_list(queue)
            .await?
            .into_iter()
            .map(|q| q.name)
            .collect();
        let missing = known(&list);
        self.inner.lookups.remember_quotas(queue, list);
        match missing {
            None => Ok(()),
            Some(name) => Err(Error::Invalid(format!(
                "unknown quota name `{name}` in {}: create the quota first",
                queue_what(queue)
            ))),
        }
    }
}
