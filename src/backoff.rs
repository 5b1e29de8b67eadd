//! Waiting between retries: one helper for every retry loop in the server (carrier submits,
//! store writes that must not be lost, status callbacks, receipts that overtake their
//! submission), so each loop states its policy in one line instead of hand-writing it.

use rand::Rng;
use std::time::Duration;
use tokio::time::Instant;

/// An exponential (or fixed) backoff, optionally jittered and bounded in total time.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    doubling: bool,
    jitter: bool,
    deadline: Option<Instant>,
    retries: u32,
}

impl Backoff {
    /// Waits `first`, then twice as long each time, never more than `max`.
    pub fn exponential(first: Duration, max: Duration) -> Self {
        Backoff { first, max, doubling: true, jitter: false, deadline: None, retries: 0 }
    }

    /// Waits `every` each time.
    pub fn fixed(every: Duration) -> Self {
        Backoff { first: every, max: every, doubling: false, jitter: false, deadline: None, retries: 0 }
    }

    /// Spreads each wait by ±20 %, so retries of many failures do not arrive together.
    pub fn with_jitter(mut self) -> Self {
        self.jitter = true;
        self
    }

    /// [`Backoff::wait`] answers false, without waiting, once `total` has passed from now.
    pub fn give_up_after(mut self, total: Duration) -> Self {
        self.deadline = Some(Instant::now() + total);
        self
    }

    /// Goes on from `retries` waits already made (by a run before a restart), so the next wait is
    /// as long as it would have been then.
    pub fn continuing_after(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The wait before retry number `retry` (1 for the first retry), without jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        if !self.doubling {
            return self.first;
        }
        let doublings = retry.saturating_sub(1).min(16);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// Sleeps before the next retry; false (at once) when the time allowed is over.
    pub async fn wait(&mut self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        self.retries = self.retries.saturating_add(1);
        let mut delay = self.delay(self.retries);
        if self.jitter {
            delay = delay.mul_f64(rand::rng().random_range(0.8..1.2));
        }
        tokio::time::sleep(delay).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_delays_double_up_to_the_cap() {
        let b = Backoff::exponential(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<u128> = (1..=5).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn fixed_delays_stay_the_same() {
        let b = Backoff::fixed(Duration::from_millis(20));
        assert_eq!(b.delay(1), b.delay(30));
    }

    #[test]
    fn huge_retry_numbers_do_not_overflow() {
        let b = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn continuing_after_earlier_retries_waits_as_long_as_the_next_retry_would() {
        let mut b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10)).continuing_after(3);
        let started = Instant::now();
        assert!(b.wait().await);
        assert_eq!(started.elapsed().as_millis(), 800, "retry 4 waits 100 ms doubled three times");
    }

    #[tokio::test(start_paused = true)]
    async fn wait_gives_up_once_the_time_allowed_is_over() {
        let mut b = Backoff::fixed(Duration::from_millis(40)).give_up_after(Duration::from_millis(100));
        let mut waits = 0;
        while b.wait().await {
            waits += 1;
        }
        assert_eq!(waits, 3, "waits at 0, 40 and 80 ms; at 120 ms the time is over");
    }

    #[tokio::test(start_paused = true)]
    async fn jittered_waits_stay_within_twenty_percent() {
        let mut b = Backoff::fixed(Duration::from_millis(1000)).with_jitter();
        for _ in 0..20 {
            let started = Instant::now();
            assert!(b.wait().await);
            let ms = started.elapsed().as_millis();
            assert!((800..=1200).contains(&ms), "waited {ms} ms");
        }
    }
}
