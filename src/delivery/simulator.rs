//! The built-in carrier simulator (the default carrier): deterministic outcomes by
//! destination, plus runtime rules for fault injection.
//!
//! Built-in outcomes:
//!
//! | destination | outcome |
//! | --- | --- |
//! | `+15005550300` | `sent`, and no receipt ever arrives |
//! | `+1500555030N`, N = 1…8 | error `3000N`: `failed` for 30001/30002, `undelivered` for 30003–30008 |
//! | anything else | `delivered` |
//!
//! Rules (from the config file, or per account through `/_switchboard/`) are checked first:
//! the first rule whose `To`/`From` patterns match, and whose probability draw succeeds, decides.

use super::carrier::{Carrier, CarrierEvent, CarrierUnavailable, Submission, SubmitOutcome};
use async_trait::async_trait;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// How a simulated message ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivery receipt: delivered.
    Delivered,
    /// Accepted by the carrier, never receipted.
    StaysSent,
    /// Rejected before the carrier accepted it.
    Failed(u32),
    /// Receipt: not delivered.
    Undelivered(u32),
    /// Delivered, then read (WhatsApp, RCS read receipts).
    Read,
}

/// A fault-injection rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Only for this account (`None`: every account; config-file rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// Pattern on `To`: exact, or with `*` wildcards (`+1555*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Pattern on `From`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `delivered`, `read` (delivered, then a read receipt), `sent` (no receipt), `failed`,
    /// `undelivered`, or `no-rcs` (the `rcs:` recipient's device cannot take RCS: SMS fallback).
    pub outcome: String,
    /// Error code for `failed`/`undelivered` (default 30008).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    /// Extra delay before the receipt, ms.
    #[serde(default)]
    pub delay_ms: u64,
    /// Chance that the rule applies, 0–1 (default 1).
    #[serde(default = "one")]
    pub probability: f64,
}

fn one() -> f64 {
    1.0
}

impl Rule {
    /// Checks the rule's values; returns a message for the user when one is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !["delivered", "read", "sent", "failed", "undelivered", "no-rcs"].contains(&self.outcome.as_str()) {
            return Err(format!(
                "Outcome must be delivered, read, sent, failed, undelivered or no-rcs, got '{}'",
                self.outcome
            ));
        }
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(format!("Probability must be between 0 and 1, got {}", self.probability));
        }
        if let Some(code) = self.error_code {
            if !(30000..=63999).contains(&code) {
                return Err(format!("ErrorCode must be a Twilio delivery error code (3xxxx), got {code}"));
            }
        }
        if self.delay_ms > 3_600_000 {
            return Err("DelayMs must be at most 3600000".into());
        }
        Ok(())
    }

    fn outcome(&self) -> Outcome {
        let code = self.error_code.unwrap_or(30008);
        match self.outcome.as_str() {
            "sent" => Outcome::StaysSent,
            "failed" => Outcome::Failed(code),
            "undelivered" => Outcome::Undelivered(code),
            "read" => Outcome::Read,
            _ => Outcome::Delivered,
        }
    }

    fn matches(&self, s: &Submission) -> bool {
        self.account_sid.as_deref().is_none_or(|a| a == s.account_sid)
            && self.to.as_deref().is_none_or(|p| glob(p, &s.to))
            && self.from.as_deref().is_none_or(|p| glob(p, &s.from))
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The built-in outcome for a destination (channel prefixes are ignored).
pub fn builtin_outcome(to: &str) -> Outcome {
    let number = to.rsplit(':').next().unwrap_or(to);
    match number.strip_prefix("+1500555030").map(str::as_bytes) {
        Some(b"0") => Outcome::StaysSent,
        Some(b"1") => Outcome::Failed(30001),
        Some(b"2") => Outcome::Failed(30002),
        Some(&[n @ b'3'..=b'8']) => Outcome::Undelivered(30000 + u32::from(n - b'0')),
        _ => Outcome::Delivered,
    }
}

/// How long each simulated step takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delays {
    /// From `sending` to the carrier's answer (`sent` or `failed`).
    pub submit: Duration,
    /// From `sent` to the delivery receipt (`delivered` or `undelivered`).
    pub receipt: Duration,
}

/// The simulator carrier.
pub struct Simulator {
    delays: Delays,
    /// Each rule with how many messages it decided.
    rules: RwLock<Vec<(Rule, Arc<AtomicU64>)>>,
    /// How many of `rules` (the first ones) come from the configuration.
    configured: usize,
    events: mpsc::UnboundedSender<CarrierEvent>,
}

impl Simulator {
    /// A simulator with these step delays, starting with the config's rules.
    pub fn new(delays: Delays, rules: Vec<Rule>, events: mpsc::UnboundedSender<CarrierEvent>) -> Arc<Self> {
        let configured = rules.len();
        let rules = rules.into_iter().map(|r| (r, Arc::new(AtomicU64::new(0)))).collect();
        Arc::new(Simulator { delays, rules: RwLock::new(rules), configured, events })
    }

    /// Replaces the runtime rules (the configuration's stay first) with `runtime`, as stored;
    /// a rule unchanged at its place keeps its hit count.
    pub fn set_runtime_rules(&self, runtime: Vec<Rule>) {
        let Ok(mut rules) = self.rules.write() else { return };
        let keep = self.configured.min(rules.len());
        let old = rules.split_off(keep);
        for (i, rule) in runtime.into_iter().enumerate() {
            let hits = match old.get(i) {
                Some((same, hits)) if *same == rule => hits.clone(),
                _ => Arc::new(AtomicU64::new(0)),
            };
            rules.push((rule, hits));
        }
    }

    /// Which of the account's runtime rules (0 = its first) the `index`-th rule of
    /// [`Self::rules_for`] is; `None` when it is a configuration rule or does not exist.
    pub fn runtime_position(&self, account_sid: &str, index: usize) -> Option<usize> {
        let rules = self.rules.read().ok()?;
        let (at, _) = rules
            .iter()
            .enumerate()
            .filter(|(_, (x, _))| x.account_sid.as_deref().is_none_or(|a| a == account_sid))
            .nth(index)?;
        if at < self.configured || rules[at].0.account_sid.as_deref() != Some(account_sid) {
            return None;
        }
        Some(rules[self.configured..at].iter().filter(|(x, _)| x.account_sid.as_deref() == Some(account_sid)).count())
    }

    /// Adds a runtime rule (checked after the ones before it).
    pub fn add_rule(&self, rule: Rule) {
        if let Ok(mut rules) = self.rules.write() {
            rules.push((rule, Arc::new(AtomicU64::new(0))));
        }
    }

    /// The rules that apply to an account's messages.
    pub fn rules_for(&self, account_sid: &str) -> Vec<Rule> {
        self.rules_with_hits(account_sid).into_iter().map(|(r, _)| r).collect()
    }

    /// The rules that apply to an account's messages, each with how many messages it decided.
    pub fn rules_with_hits(&self, account_sid: &str) -> Vec<(Rule, u64)> {
        self.rules.read().map_or_else(
            |_| Vec::new(),
            |r| {
                r.iter()
                    .filter(|(x, _)| x.account_sid.as_deref().is_none_or(|a| a == account_sid))
                    .map(|(x, hits)| (x.clone(), hits.load(Ordering::Relaxed)))
                    .collect()
            },
        )
    }

    /// Removes the `index`-th rule of [`Self::rules_for`] when it is one of the account's runtime
    /// rules; false otherwise (config-file rules stay).
    pub fn remove_rule(&self, account_sid: &str, index: usize) -> bool {
        let Ok(mut rules) = self.rules.write() else { return false };
        let position = rules
            .iter()
            .enumerate()
            .filter(|(_, (x, _))| x.account_sid.as_deref().is_none_or(|a| a == account_sid))
            .nth(index)
            .map(|(i, _)| i);
        match position {
            Some(i) if rules[i].0.account_sid.as_deref() == Some(account_sid) => {
                rules.remove(i);
                true
            }
            _ => false,
        }
    }

    /// Removes an account's runtime rules (config-file rules stay).
    pub fn clear_rules(&self, account_sid: &str) {
        if let Ok(mut rules) = self.rules.write() {
            rules.retain(|(r, _)| r.account_sid.as_deref() != Some(account_sid));
        }
    }

    /// Loads the runtime rules from the store (shared by every node on the database) into this
    /// simulator; a stored rule this version cannot read is skipped.
    pub async fn reload_rules(&self, store: &dyn crate::store::Store) -> anyhow::Result<()> {
        let stored = store.simulator_rules().await?;
        let rules = stored.iter().filter_map(|json| serde_json::from_str::<Rule>(json).ok()).collect();
        self.set_runtime_rules(rules);
        Ok(())
    }

    /// Decides a submission's fate: the first matching rule, else the built-in table.
    fn decide(&self, s: &Submission) -> (Outcome, Duration) {
        if let Ok(rules) = self.rules.read() {
            for (rule, hits) in rules.iter().filter(|(r, _)| r.outcome != "no-rcs" && r.matches(s)) {
                if rule.probability >= 1.0 || rand::rng().random_bool(rule.probability.max(0.0)) {
                    hits.fetch_add(1, Ordering::Relaxed);
                    return (rule.outcome(), Duration::from_millis(rule.delay_ms));
                }
            }
        }
        (builtin_outcome(&s.to), Duration::ZERO)
    }

    async fn pause(d: Duration) {
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }

    /// Sends the receipt for an accepted submission after the step delay (plus any extra).
    fn schedule_receipt(&self, carrier_id: String, outcome: Outcome, extra: Duration) {
        let read = outcome == Outcome::Read;
        let result = match outcome {
            Outcome::Delivered | Outcome::Read => Ok(()),
            Outcome::Undelivered(code) => Err(code),
            Outcome::StaysSent | Outcome::Failed(_) => return,
        };
        let (events, delay) = (self.events.clone(), self.delays.receipt + extra);
        tokio::spawn(async move {
            Self::pause(delay).await;
            let done_at_ms = Some(crate::clock::now_ms());
            let _ = events.send(CarrierEvent::Receipt { carrier_id: carrier_id.clone(), result, done_at_ms });
            if read {
                Self::pause(delay).await;
                let _ = events.send(CarrierEvent::Read { carrier_id });
            }
        });
    }
}

/// The built-in recipient whose device does not take RCS.
pub const NO_RCS_NUMBER: &str = "+15005550310";

#[async_trait]
impl Carrier for Simulator {
    fn rcs_capable(&self, account_sid: &str, to: &str) -> bool {
        let probe = Submission {
            key: String::new(),
            account_sid: account_sid.to_string(),
            from: String::new(),
            to: to.to_string(),
            body: String::new(),
            media_urls: Vec::new(),
            segments: 1,
        };
        if let Ok(rules) = self.rules.read() {
            for (rule, hits) in rules.iter().filter(|(r, _)| r.outcome == "no-rcs" && r.matches(&probe)) {
                if rule.probability >= 1.0 || rand::rng().random_bool(rule.probability.max(0.0)) {
                    hits.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
            }
        }
        to.rsplit(':').next() != Some(NO_RCS_NUMBER)
    }

    async fn submit(&self, s: &Submission) -> Result<SubmitOutcome, CarrierUnavailable> {
        Self::pause(self.delays.submit).await;
        let (outcome, extra) = self.decide(s);
        if let Outcome::Failed(code) = outcome {
            return Ok(SubmitOutcome::Rejected { code });
        }
        let carrier_id = format!("sim-{}", s.key);
        self.schedule_receipt(carrier_id.clone(), outcome, extra);
        // The crash-loop test counts these to measure the at-least-once window.
        tracing::debug!(target: "switchboard::carrier", key = %s.key, "carrier accepted");
        Ok(SubmitOutcome::Accepted { carrier_id })
    }

    async fn recover(&self, carrier_id: &str, s: &Submission) {
        let (outcome, extra) = self.decide(s);
        self.schedule_receipt(carrier_id.to_string(), outcome, extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(to: &str) -> Submission {
        Submission {
            key: "k".into(),
            account_sid: "AC1".into(),
            from: "+14155550100".into(),
            to: to.into(),
            body: String::new(),
            media_urls: vec![],
            segments: 1,
        }
    }

    #[test]
    fn magic_destinations_pick_their_outcome() {
        assert_eq!(builtin_outcome("+15005550300"), Outcome::StaysSent);
        assert_eq!(builtin_outcome("+15005550301"), Outcome::Failed(30001));
        assert_eq!(builtin_outcome("+15005550302"), Outcome::Failed(30002));
        for n in 3..=8 {
            assert_eq!(builtin_outcome(&format!("+1500555030{n}")), Outcome::Undelivered(30000 + n));
        }
        assert_eq!(builtin_outcome("+15005550309"), Outcome::Delivered);
        assert_eq!(builtin_outcome("+150055503001"), Outcome::Delivered);
        assert_eq!(builtin_outcome("whatsapp:+15005550304"), Outcome::Undelivered(30004));
        assert_eq!(builtin_outcome("+14155552671"), Outcome::Delivered);
    }

    #[test]
    fn glob_patterns_match_prefixes_suffixes_and_middles() {
        assert!(glob("+1555*", "+15551234567"));
        assert!(!glob("+1555*", "+14151234567"));
        assert!(glob("*567", "+15551234567"));
        assert!(glob("+1*34*7", "+15551234567"));
        assert!(!glob("+1*99*", "+15551234567"));
        assert!(glob("*", "anything"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
    }

    #[test]
    fn the_first_matching_rule_wins_and_respects_its_account() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let sim = Simulator::new(Delays::default(), vec![], tx);
        let rule = |account: Option<&str>, to: &str, outcome: &str, code| Rule {
            account_sid: account.map(str::to_string),
            to: Some(to.into()),
            from: None,
            outcome: outcome.into(),
            error_code: code,
            delay_ms: 0,
            probability: 1.0,
        };
        sim.add_rule(rule(Some("AC2"), "+1415*", "failed", Some(30002)));
        sim.add_rule(rule(Some("AC1"), "+1415*", "undelivered", Some(30007)));
        sim.add_rule(rule(None, "+1415*", "failed", None));
        assert_eq!(sim.decide(&submission("+14155552671")).0, Outcome::Undelivered(30007));
        assert_eq!(sim.decide(&submission("+442079460958")).0, Outcome::Delivered);
        sim.clear_rules("AC1");
        assert_eq!(sim.decide(&submission("+14155552671")).0, Outcome::Failed(30008));
        assert_eq!(sim.rules_for("AC1").len(), 1);
    }

    #[test]
    fn rules_count_their_matches_and_only_the_accounts_own_rules_can_be_removed() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let config_rule = Rule {
            account_sid: None,
            to: Some("+4420*".into()),
            from: None,
            outcome: "failed".into(),
            error_code: None,
            delay_ms: 0,
            probability: 1.0,
        };
        let sim = Simulator::new(Delays::default(), vec![config_rule.clone()], tx);
        sim.add_rule(Rule { account_sid: Some("AC1".into()), to: Some("+1415*".into()), ..config_rule });
        sim.decide(&submission("+14155552671"));
        sim.decide(&submission("+14155552672"));
        let hits: Vec<u64> = sim.rules_with_hits("AC1").iter().map(|(_, h)| *h).collect();
        assert_eq!(hits, [0, 2]);
        assert!(!sim.remove_rule("AC1", 0), "a config-file rule stays");
        assert!(!sim.remove_rule("AC2", 1), "another account's rule index does not exist");
        assert!(sim.remove_rule("AC1", 1));
        assert_eq!(sim.rules_for("AC1").len(), 1);
    }

    #[test]
    fn stored_runtime_rules_replace_the_old_ones_after_the_configured_ones_and_map_to_positions() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let base = Rule {
            account_sid: None,
            to: Some("+1555*".into()),
            from: None,
            outcome: "failed".into(),
            error_code: None,
            delay_ms: 0,
            probability: 1.0,
        };
        let config = base.clone();
        let sim = Simulator::new(Delays::default(), vec![config.clone()], tx);
        let mine = |to: &str| Rule { account_sid: Some("AC1".into()), to: Some(to.into()), ..base.clone() };
        let other = Rule { account_sid: Some("AC2".into()), outcome: "sent".into(), ..base.clone() };
        sim.set_runtime_rules(vec![mine("+1"), other.clone(), mine("+2")]);
        assert_eq!(sim.rules_for("AC1"), [config.clone(), mine("+1"), mine("+2")]);
        assert_eq!(sim.runtime_position("AC1", 0), None, "a configuration rule");
        assert_eq!(sim.runtime_position("AC1", 2), Some(1));
        assert_eq!(sim.runtime_position("AC1", 3), None);
        sim.set_runtime_rules(vec![other]);
        assert_eq!(sim.rules_for("AC1"), [config]);
    }

    #[test]
    fn rules_with_zero_probability_never_apply() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let sim = Simulator::new(Delays::default(), vec![], tx);
        sim.add_rule(Rule {
            account_sid: None,
            to: None,
            from: None,
            outcome: "failed".into(),
            error_code: Some(30003),
            delay_ms: 0,
            probability: 0.0,
        });
        for _ in 0..100 {
            assert_eq!(sim.decide(&submission("+14155552671")).0, Outcome::Delivered);
        }
    }

    #[test]
    fn invalid_rules_are_explained() {
        let mut r = Rule {
            account_sid: None,
            to: None,
            from: None,
            outcome: "exploded".into(),
            error_code: None,
            delay_ms: 0,
            probability: 1.0,
        };
        assert!(r.validate().is_err());
        r.outcome = "failed".into();
        r.probability = 2.0;
        assert!(r.validate().is_err());
        r.probability = 0.5;
        assert!(r.validate().is_ok());
    }
}
