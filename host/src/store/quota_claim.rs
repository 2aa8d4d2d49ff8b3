//! What a claim of a queue with quotas accepts, written once for both
//! backends: the counting, the merge and the walk's pages, without SQL
//! (`claim_apart.rs` runs the claim over these; the backends' `quota.rs`
//! hold only its statements).
//!
//! A claim reads its queue's quotas, the slots the plain ones have taken
//! (the jobs in flight) and the keys of its partitioned quotas that have
//! pending jobs and room (`claim_apart::OPEN_KEYS`, from `quota_slots`,
//! which triggers on `jobs` keep: never a walk of the queue). It then takes
//! candidates from two sources, each in queue order: the walk over the jobs
//! without a key (index `jobs_pending_unslotted`) and the first jobs of each
//! open key (index `jobs_pending_slot`, at most the key's room each), and
//! merges them in queue order ([`Heads`]). The walk reads pages ([`Walk`])
//! that follow the queue order, priority first, on every page. Each
//! candidate is accepted while every slot it takes has room
//! ([`Slots::offer`]): a job accepted takes a slot of each plain quota it
//! names and of its key, so one batch never takes a quota or a key past its
//! size. A key that is full is never read at all, so claiming from 1,000
//! keys of which 990 are full reads the 10 others.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};

use super::statement::Sql;
use crate::model::{Rate, split_quota_slot};

/// Whether a queue is claimed apart (`claim_apart.rs`): it
/// has quotas or a rate. Its name is `?1`.
pub(crate) static CLAIMED_APART: Sql = Sql::new(|_| {
    "SELECT EXISTS (SELECT 1 FROM quotas WHERE queue = ?1) \
     OR EXISTS (SELECT 1 FROM queues WHERE name = ?1 AND rate_limit IS NOT NULL)"
        .to_owned()
});

/// A quota as a claim reads it: name, size, partitioned, rate.
pub(crate) type Quota = (String, u32, bool, Option<Rate>);

/// A candidate's place in the queue order (`QUEUE_ORDER`): priority
/// (higher first), due time, scheduled before plain, put order.
pub(crate) type OrderKey = (Reverse<i32>, i64, bool, i64);

/// The place of a row with these columns.
pub(crate) fn order_key(priority: i32, begin_after: i64, scheduled: bool, seq: i64) -> OrderKey {
    (Reverse(priority), begin_after, !scheduled, seq)
}

/// A stored rate column pair: a rate when both are set.
pub(crate) fn stored_rate(limit: Option<i64>, period_ms: Option<i64>) -> Option<Rate> {
    Some(Rate {
        limit: u32::try_from(limit?).ok()?,
        period_ms: u64::try_from(period_ms?).ok()?,
    })
}

/// A window's count to write: its end and the starts to add.
pub(crate) type RateCount = (i64, u32);

/// The slots a claim counts: by entry (a plain quota's name, or a key's
/// entry `quota U+001F key`), its size and how many it holds.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    sizes: HashMap<String, u32>,
    held: HashMap<String, u32>,
    /// The partitioned quotas' sizes and rates, by name.
    partitioned: HashMap<String, (u32, Option<Rate>)>,
    /// Now, in milliseconds (for rate windows).
    now_ms: i64,
    /// The queue's rate: its window's end and how many more may start.
    queue_rate: Option<(i64, u32)>,
    /// The keys' rates, by entry: their window's end and how many more may
    /// start.
    key_rates: HashMap<String, (i64, u32)>,
    /// The starts accepted per key with a rate, and for the queue.
    key_starts: HashMap<String, u32>,
    queue_starts: u32,
}

impl Slots {
    /// The queue's quotas (`name, size, partitioned`) and the entries of
    /// the jobs holding slots now (a plain quota's name per slot; a key's
    /// entries are counted by [`Slots::open`] instead).
    pub(crate) fn new(
        quotas: impl IntoIterator<Item = Quota>,
        in_flight: impl IntoIterator<Item = String>,
        now_ms: i64,
    ) -> Self {
        let mut slots = Slots {
            now_ms,
            ..Slots::default()
        };
        for (name, size, partitioned, rate) in quotas {
            if partitioned {
                slots.partitioned.insert(name, (size, rate));
            } else {
                slots.sizes.insert(name, size);
            }
        }
        for name in in_flight {
            if slots.sizes.contains_key(&name) {
                *slots.held.entry(name).or_default() += 1;
            }
        }
        slots
    }

    /// The largest size of a partitioned quota (0: none).
    pub(crate) fn partitioned_size(&self) -> u32 {
        self.partitioned
            .values()
            .map(|(s, _)| *s)
            .max()
            .unwrap_or(0)
    }

    /// Takes in the queue's rate (if any) and its stored window (end,
    /// starts).
    pub(crate) fn queue_rate(&mut self, rate: Option<Rate>, until: i64, starts: i64) {
        self.queue_rate = rate.map(|r| {
            let end = r.window_end(self.now_ms);
            (end, r.allowance(self.now_ms, until, starts))
        });
    }

    /// Takes in a key's entry with `held` slots taken and its stored rate
    /// window (end, starts); true when its quota still exists, is
    /// partitioned, and the key has room and (with a rate) starts left.
    pub(crate) fn open(&mut self, entry: String, held: u32, window: (i64, i64)) -> bool {
        let Some(&(size, rate)) =
            split_quota_slot(&entry).and_then(|(q, _)| self.partitioned.get(q))
        else {
            return false;
        };
        if held >= size {
            return false;
        }
        if let Some(rate) = rate {
            let left = rate.allowance(self.now_ms, window.0, window.1);
            if left == 0 {
                return false;
            }
            let end = rate.window_end(self.now_ms);
            self.key_rates.insert(entry.clone(), (end, left));
        }
        self.sizes.insert(entry.clone(), size);
        self.held.insert(entry, held);
        true
    }

    /// The starts to count: the queue's window (if it has a rate and any
    /// job was accepted) and each key's with a rate.
    pub(crate) fn rate_counts(&self) -> (Option<RateCount>, Vec<(String, RateCount)>) {
        let queue = self
            .queue_rate
            .filter(|_| self.queue_starts > 0)
            .map(|(end, _)| (end, self.queue_starts));
        let keys = self
            .key_starts
            .iter()
            .map(|(entry, n)| (entry.clone(), (self.key_rates[entry].0, *n)))
            .collect();
        (queue, keys)
    }

    /// True when the queue has a rate and its window allows no more
    /// starts.
    pub(crate) fn no_starts_left(&self) -> bool {
        self.queue_rate.is_some_and(|(_, left)| left == 0)
    }

    fn is_full(&self, entry: &str) -> bool {
        self.sizes
            .get(entry)
            .is_some_and(|size| self.held.get(entry).copied().unwrap_or(0) >= *size)
    }

    /// The plain quotas that are full: the statements skip jobs naming
    /// them.
    pub(crate) fn full_names(&self) -> BTreeSet<String> {
        self.sizes
            .keys()
            .filter(|n| split_quota_slot(n).is_none() && self.is_full(n))
            .cloned()
            .collect()
    }

    /// Accepts a job with these stored quota entries when each known one
    /// has room, taking a slot of each; false when one is full (filled by
    /// a job accepted earlier in this claim) or is a key not read as open.
    pub(crate) fn offer(&mut self, entries: &[String]) -> bool {
        if self.no_starts_left() {
            return false;
        }
        let known: Vec<&String> = entries
            .iter()
            .filter(|e| self.sizes.contains_key(*e) || split_quota_slot(e).is_some())
            .collect();
        let no_starts_left = |e: &String| self.key_rates.get(e).is_some_and(|(_, left)| *left == 0);
        if known
            .iter()
            .any(|e| !self.sizes.contains_key(*e) || self.is_full(e) || no_starts_left(e))
        {
            return false;
        }
        for entry in known {
            *self.held.entry(entry.clone()).or_default() += 1;
            if let Some((_, left)) = self.key_rates.get_mut(entry) {
                *left -= 1;
                *self.key_starts.entry(entry.clone()).or_default() += 1;
            }
        }
        if let Some((_, left)) = &mut self.queue_rate {
            *left -= 1;
            self.queue_starts += 1;
        }
        true
    }
}

/// The first jobs of the open keys, in queue order, to merge into the
/// walk over the jobs without a key.
#[derive(Debug)]
pub(crate) struct Heads<I> {
    rows: VecDeque<(OrderKey, Vec<String>, I)>,
}

impl<I> Heads<I> {
    /// The candidates as read (any order).
    pub(crate) fn new(mut rows: Vec<(OrderKey, Vec<String>, I)>) -> Self {
        rows.sort_by_key(|a| a.0);
        Heads { rows: rows.into() }
    }

    /// The next candidate that goes before `key` (`None`: before every
    /// one left).
    pub(crate) fn next_before(&mut self, key: Option<&OrderKey>) -> Option<(Vec<String>, I)> {
        match (self.rows.front(), key) {
            (Some((first, _, _)), Some(key)) if first >= key => None,
            (Some(_), _) => self.rows.pop_front().map(|(_, names, id)| (names, id)),
            (None, _) => None,
        }
    }
}

/// The most candidates one page of the walk reads.
const PAGE_MAX: u32 = 512;

/// Where the next page of the walk over the jobs without a key starts.
/// Pages follow the queue order ([`QUEUE_ORDER`](super::queue::QUEUE_ORDER)):
/// the rest of one priority after the last job read, then the priorities
/// below it from their first job. Each is one range of the walk's index
/// (`jobs_pending_unslotted`), so a page never rereads what an earlier one
/// read, and a job of a higher priority never waits behind one of a lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    /// The jobs of a priority below this one, from the first (`i64::MAX`:
    /// every job).
    Below(i64),
    /// The jobs of `priority` after this position (`begin_after`,
    /// `scheduled`, `seq`).
    After {
        priority: i64,
        begin_after: i64,
        scheduled: bool,
        seq: i64,
    },
}

impl Page {
    /// The statement that reads it (`WALK[0]`: below a priority,
    /// `WALK[1]`: after a position) and its values: the priority, then the
    /// position (`begin_after`, `scheduled`, `seq`; unused below a
    /// priority).
    pub(crate) fn binds(self) -> (usize, (i64, i64, bool, i64)) {
        match self {
            Page::Below(priority) => (0, (priority, i64::MIN, false, i64::MIN)),
            Page::After {
                priority,
                begin_after,
                scheduled,
                seq,
            } => (1, (priority, begin_after, scheduled, seq)),
        }
    }
}

/// The walk's pages: which one comes next, and how many rows each reads.
#[derive(Debug)]
pub(crate) struct Walk {
    next: Option<Page>,
    last: Option<OrderKey>,
    /// The rows one page reads.
    pub(crate) size: u32,
}

impl Walk {
    /// A walk for a claim of `limit` jobs, from the first job.
    pub(crate) fn new(limit: u32) -> Self {
        Walk {
            next: Some(Page::Below(i64::MAX)),
            last: None,
            size: limit.saturating_mul(2).clamp(16, PAGE_MAX),
        }
    }

    /// The page to read next (`None`: the walk has read every job).
    pub(crate) fn page(&self) -> Option<Page> {
        self.next
    }

    /// Notes a row read (in the page's order).
    pub(crate) fn saw(&mut self, key: &OrderKey) {
        self.last = Some(*key);
    }

    /// Ends the page that read `rows` rows: a full page goes on after its
    /// last row; a short one ends its priority (or, from the start or
    /// below a priority, the walk).
    pub(crate) fn read(&mut self, rows: usize) {
        let Some(page) = self.next else { return };
        self.next = match (rows >= self.size as usize, self.last) {
            (true, Some((std::cmp::Reverse(priority), begin_after, plain, seq))) => {
                Some(Page::After {
                    priority: i64::from(priority),
                    begin_after,
                    scheduled: !plain,
                    seq,
                })
            }
            _ => match page {
                Page::After { priority, .. } => Some(Page::Below(priority)),
                Page::Below(_) => None,
            },
        };
    }
}

/// The jobs a claim accepts, up to its limit.
#[derive(Debug)]
pub(crate) struct Accepted<I> {
    /// The accepted ids, in queue order.
    pub(crate) ids: Vec<I>,
    limit: usize,
}

impl<I> Accepted<I> {
    /// Up to `limit` jobs.
    pub(crate) fn new(limit: u32) -> Self {
        Accepted {
            ids: Vec::new(),
            limit: limit as usize,
        }
    }

    /// Offers a candidate; true once the limit is reached, or once the
    /// queue's rate allows no more starts (then no later job could be
    /// accepted: the walk stops rather than read the rest of the queue).
    pub(crate) fn offer(&mut self, slots: &mut Slots, names: &[String], id: I) -> bool {
        if slots.offer(names) {
            self.ids.push(id);
        }
        self.ids.len() >= self.limit || slots.no_starts_left()
    }

    /// Ends a page of `walk` that read `rows` rows; after the last one,
    /// offers the key candidates left (they go after every job walked).
    pub(crate) fn end_page(
        &mut self,
        walk: &mut Walk,
        rows: usize,
        slots: &mut Slots,
        heads: &mut Heads<I>,
    ) {
        walk.read(rows);
        if walk.page().is_none() {
            self.offer_heads(slots, heads, None);
        }
    }

    /// Offers the key candidates that go before `key` (all that are left
    /// for `None`); true once the limit is reached.
    pub(crate) fn offer_heads(
        &mut self,
        slots: &mut Slots,
        heads: &mut Heads<I>,
        key: Option<&OrderKey>,
    ) -> bool {
        while let Some((names, id)) = heads.next_before(key) {
            if self.offer(slots, &names, id) {
                return true;
            }
        }
        self.ids.len() >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::quota_slot;

    #[test]
    fn keys_fill_separately_and_plain_quotas_as_a_whole() {
        let mut slots = Slots::new(
            [
                ("serial".into(), 1, false, None),
                ("tenants".into(), 2, true, None),
            ],
            ["other".to_owned()],
            0,
        );
        assert_eq!(slots.partitioned_size(), 2);
        let (a, b) = (quota_slot("tenants", "a"), quota_slot("tenants", "b"));
        assert!(slots.open(a.clone(), 1, (0, 0)));
        assert!(!slots.open(quota_slot("tenants", "full"), 2, (0, 0)));
        assert!(!slots.open(quota_slot("gone", "x"), 0, (0, 0)));
        assert!(slots.open(b.clone(), 0, (0, 0)));
        assert!(slots.offer(std::slice::from_ref(&a)));
        assert!(!slots.offer(std::slice::from_ref(&a)), "a has 2 of 2");
        assert!(slots.offer(&[b.clone(), "serial".into()]));
        assert!(
            !slots.offer(&[b.clone(), "serial".into()]),
            "serial is full"
        );
        assert!(slots.offer(std::slice::from_ref(&b)));
        assert!(!slots.offer(&[quota_slot("tenants", "full")]), "not open");
        assert!(slots.offer(&["unknown".into()]));
        assert_eq!(slots.full_names(), BTreeSet::from(["serial".to_owned()]));
    }

    #[test]
    fn rates_hold_starts_to_their_window() {
        let rate = Some(Rate {
            limit: 2,
            period_ms: 1_000,
        });
        let mut slots = Slots::new([("tenants".into(), 5, true, rate)], [], 1_500);
        slots.queue_rate(
            Some(Rate {
                limit: 3,
                period_ms: 1_000,
            }),
            2_000,
            1,
        );
        let (a, b, c) = (
            quota_slot("tenants", "a"),
            quota_slot("tenants", "b"),
            quota_slot("tenants", "c"),
        );
        assert!(slots.open(a.clone(), 0, (2_000, 1)), "one start left");
        assert!(!slots.open(b.clone(), 0, (2_000, 2)), "used up");
        assert!(slots.open(c.clone(), 0, (1_000, 2)), "an old window");
        assert!(slots.offer(std::slice::from_ref(&a)));
        assert!(!slots.offer(std::slice::from_ref(&a)), "a's rate");
        assert!(slots.offer(std::slice::from_ref(&c)));
        assert!(slots.no_starts_left());
        assert!(!slots.offer(&[]), "the queue's rate: 2 of 3 were left");
        let mut accepted = Accepted::new(10);
        assert!(accepted.offer(&mut slots, &[], 1), "nothing more can start");
        assert!(accepted.ids.is_empty());
        let (queue, mut keys) = slots.rate_counts();
        keys.sort();
        assert_eq!(queue, Some((2_000, 2)));
        assert_eq!(keys, [(a, (2_000, 1)), (c, (2_000, 1))]);
    }

    #[test]
    fn heads_merge_before_the_walk_rows_they_precede() {
        let mut heads = Heads::new(vec![
            (order_key(0, 5, false, 9), Vec::new(), 9),
            (order_key(1, 9, false, 8), Vec::new(), 8),
            (order_key(0, 5, false, 3), Vec::new(), 3),
        ]);
        let walk = order_key(0, 5, false, 4);
        assert_eq!(heads.next_before(Some(&walk)).map(|h| h.1), Some(8));
        assert_eq!(heads.next_before(Some(&walk)).map(|h| h.1), Some(3));
        assert_eq!(heads.next_before(Some(&walk)), None);
        assert_eq!(heads.next_before(None).map(|h| h.1), Some(9));
        let mut accepted = Accepted::new(1);
        let mut slots = Slots::default();
        let mut more = Heads::new(vec![(order_key(0, 0, false, 1), Vec::new(), 1)]);
        assert!(accepted.offer_heads(&mut slots, &mut more, None));
        assert_eq!(accepted.ids, [1]);
    }

    #[test]
    fn the_walk_pages_through_each_priority_then_the_ones_below() {
        let mut walk = Walk::new(2);
        assert_eq!(walk.size, 16);
        assert_eq!(walk.page(), Some(Page::Below(i64::MAX)));
        walk.saw(&order_key(5, 70, true, 9));
        walk.read(16);
        let after = Page::After {
            priority: 5,
            begin_after: 70,
            scheduled: true,
            seq: 9,
        };
        assert_eq!(
            walk.page(),
            Some(after),
            "a full page goes on after its last row"
        );
        walk.saw(&order_key(5, 80, false, 12));
        walk.read(3);
        assert_eq!(walk.page(), Some(Page::Below(5)), "priority 5 is read");
        walk.read(0);
        assert_eq!(walk.page(), None, "nothing below it");
        assert_eq!(Walk::new(1_000).size, PAGE_MAX);
    }
}
