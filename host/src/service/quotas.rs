//! Quotas: create, list, show, resize and
//! remove the named caps of a queue, and check the names a job carries.

use super::names::{queue_from_alias, queue_what};
use super::{Error, Result, Service};
use std::collections::BTreeMap;

use crate::model::{QUOTA_SIZE_DEFAULT, QUOTA_SIZE_MAX, Quota, Rate, check_quota_name, quota_slot};
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
    /// [`QUOTA_SIZE_DEFAULT`]); `partitioned`: the size applies to each
    /// key separately; `rate`: a partitioned quota's rate, per key.
    pub async fn quota_create(
        &self,
        queue: &str,
        name: &str,
        size: Option<u32>,
        partitioned: bool,
        rate: Option<Rate>,
    ) -> Result<Quota> {
        let queue = queue_from_alias(queue);
        check_quota_name(name).map_err(Error::Invalid)?;
        let size = check_size(size.unwrap_or(QUOTA_SIZE_DEFAULT))?;
        let rate = rate.map(Rate::check).transpose().map_err(Error::Invalid)?;
        if rate.is_some() && !partitioned {
            return Err(Error::Invalid(format!(
                "quota `{name}`: a quota's `rate` applies per key, so the quota must be \
                 `partitioned`; a rate for the whole queue is the queue's own (PUT /v1/queues/{{name}}/rate)"
            )));
        }
        let quota = self
            .store()
            .quota_create(QuotaCreateParams {
                queue: queue.to_owned(),
                name: name.to_owned(),
                size,
                partitioned,
                rate,
                now: self.clock().now(),
            })
            .await?;
        self.inner.lookups.forget_quotas(queue);
        Ok(quota)
    }

    /// A quota: its size, the jobs holding it, whether it is filled (a
    /// partitioned one: each key's, with its rate window).
    pub async fn quota_get(&self, queue: &str, name: &str) -> Result<Quota> {
        let quota = self
            .store()
            .quota_get(queue_from_alias(queue), name)
            .await?;
        Ok(quota.at(self.clock().now()))
    }

    /// A queue's quotas, by name.
    pub async fn quota_list(&self, queue: &str) -> Result<Vec<Quota>> {
        let now = self.clock().now();
        let quotas = self.store().quota_list(queue_from_alias(queue)).await?;
        Ok(quotas.into_iter().map(|q| q.at(now)).collect())
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

    /// Checks that every name is an unpartitioned quota of `queue` and
    /// every quota of `keys` a partitioned one (an unknown name, or one of
    /// the wrong kind, is refused naming it), from the cache when it knows
    /// them all, else from the store. The cache lists a partitioned quota
    /// as its key entry with an empty key ([`quota_slot`]`(name, "")`).
    pub(super) async fn check_quota_names(
        &self,
        queue: &str,
        names: &[String],
        keys: &BTreeMap<String, String>,
    ) -> Result<()> {
        if names.is_empty() && keys.is_empty() {
            return Ok(());
        }
        let wanted: Vec<String> = names
            .iter()
            .cloned()
            .chain(keys.keys().map(|q| quota_slot(q, "")))
            .collect();
        let all_known = |list: &[String]| wanted.iter().all(|n| list.contains(n));
        if let Some(cached) = self.inner.lookups.quotas(queue)
            && all_known(&cached)
        {
            return Ok(());
        }
        let list: Vec<String> = self
            .store()
            .quota_list(queue)
            .await?
            .into_iter()
            .map(|q| {
                if q.partitioned {
                    quota_slot(&q.name, "")
                } else {
                    q.name
                }
            })
            .collect();
        let ok = all_known(&list);
        self.inner.lookups.remember_quotas(queue, list.clone());
        if ok {
            return Ok(());
        }
        let queue = queue_what(queue);
        for name in names {
            if list.contains(&quota_slot(name, "")) {
                return Err(Error::QuotaMismatch(format!(
                    "quota `{name}` of {queue} is partitioned: name it in `quota_keys` with the job's key"
                )));
            }
            if !list.contains(name) {
                return Err(Error::Invalid(format!(
                    "unknown quota name `{name}` in {queue}: create the quota first"
                )));
            }
        }
        for name in keys.keys() {
            if list.contains(name) {
                return Err(Error::QuotaMismatch(format!(
                    "quota `{name}` of {queue} is not partitioned: name it in `quota_names`, without a key"
                )));
            }
        }
        let name = keys.keys().next().map_or("", String::as_str);
        Err(Error::Invalid(format!(
            "unknown quota name `{name}` in {queue}: create the quota first"
        )))
    }
}
