//! Budgets counted in the store, so that every node sees the same count and a restart or a new
//! code does not reset it: uses per key in fixed windows (`rate_counts`, migration 0019).
//!
//! A key names what is counted and for whom, e.g. `track-wrong:<complaint id>` or
//! `unsolicited-mail:<address>`. A window starts at a multiple of its length since the Unix
//! epoch, so one window is one row per key.

use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::{now, to_micros};
use std::time::Duration;

/// The longest window a budget may use; older rows are swept.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

fn window_start(window: Duration) -> i64 {
    let len = (window.as_micros() as i64).max(1);
    let at = to_micros(now());
    at - at.rem_euclid(len)
}

impl Store {
    /// Counts one use of `key` in the current window of length `window`; the count including it.
    pub async fn count_use(&self, key: &str, window: Duration) -> Result<i64, StoreError> {
        let start = window_start(window);
        let row = with_tx!(self.db(), |conn| conn
            .fetch_optional(
                "INSERT INTO rate_counts (key, window_start, count) VALUES ($1, $2, 1) \
                 ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counts.count + 1 RETURNING count",
                &params![key, start],
            )
            .await)?;
        row.map(|r| r.i64("count")).transpose().map(|n| n.unwrap_or(1))
    }

    /// The uses of `key` counted in the current window of length `window`.
    pub async fn uses(&self, key: &str, window: Duration) -> Result<i64, StoreError> {
        let start = window_start(window);
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional("SELECT count FROM rate_counts WHERE key = $1 AND window_start = $2", &params![key, start])
            .await)?;
        row.map(|r| r.i64("count")).transpose().map(|n| n.unwrap_or(0))
    }

    /// Forgets windows that started more than [`MAX_WINDOW`] ago; how many rows went.
    pub async fn sweep_counts(&self) -> Result<u64, StoreError> {
        let before = to_micros(now()) - MAX_WINDOW.as_micros() as i64;
        with_tx!(self.db(), |conn| conn.execute("DELETE FROM rate_counts WHERE window_start < $1", &params![before]).await)
    }
}
