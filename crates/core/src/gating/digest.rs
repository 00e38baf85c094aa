//! The daily digest: for gates whose owners chose "daily" notifications, one message per gate and day
//! listing the requests that came in that day (UTC). Run as often as you like: each digest has one
//! dedupe key per gate and day, so it is written once, and a crash between runs loses nothing.

use super::{gate_info, GateInfo};
use crate::time::now_millis;
use crate::Hub;
use gatehouse_store::{AccessRequest, CollectionStore, Gate, GatingStore, RepoStore};
use gatehouse_types::{Error, Result};
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;

/// The digest of the UTC day before the one `now` falls in; returns how many notifications were written.
pub async fn send_daily_digests(hub: &Hub, now: i64) -> Result<u64> {
    let today = now - now.rem_euclid(DAY_MS);
    let (from, to) = (today - DAY_MS, today);
    let day = &crate::time::iso8601(from)[..10];
    let mut by_gate: BTreeMap<(u8, i64), Vec<AccessRequest>> = BTreeMap::new();
    for r in hub.store.pending_requests_for_digest(from, to).await? {
        let key = match r.gate {
            Gate::Repo(id) => (0, id),
            Gate::Group(id) => (1, id),
        };
        by_gate.entry(key).or_default().push(r);
    }
    let mut written = 0;
    for (_, requests) in by_gate {
        let Some(info) = digest_gate(hub, requests[0].gate).await? else { continue };
        let lines: Vec<String> = requests
            .iter()
            .map(|r| {
                format!(
                    "- {} ({}{})",
                    r.user_name,
                    r.user_fullname,
                    r.shared_email().map(|e| format!(", {e}")).unwrap_or_default()
                )
            })
            .collect();
        let subject = format!("{} new access request(s) for {} on {day}", requests.len(), info.label);
        let body = format!(
            "These users asked for access to {} on {day}:\n\n{}\n\nReview them on the repository's settings page (the link below).\n",
            info.label,
            lines.join("\n")
        );
        let r = crate::notify::gate_recipients(hub, &info.owner, info.settings.notifications_email.as_deref()).await?;
        let key = format!("digest:{:?}:{day}", info.gate);
        written +=
            crate::notify::enqueue(hub, &crate::notify::notices(&r, &subject, &body, Some(&info.review_path), &key))
                .await?;
    }
    Ok(written)
}

/// The gate of a digest, seen from one of its repositories (a group's review page is on each of them).
async fn digest_gate(hub: &Hub, gate: Gate) -> Result<Option<GateInfo>> {
    let repo = match gate {
        Gate::Repo(id) => hub.store.repo_by_id(id).await?,
        Gate::Group(id) => hub.store.gating_group_repos(id).await?.into_iter().next(),
    };
    match repo {
        Some(repo) => Ok(Some(gate_info(hub, &repo).await?)),
        // A group emptied since: nobody to review on a page; skip rather than fail the others.
        None => Ok(None),
    }
}

/// Runs for the life of the server: the digest job, every ten minutes (it writes each digest once).
pub async fn run(hub: std::sync::Arc<Hub>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        if let Err(e) = send_daily_digests(&hub, now_millis()).await {
            let e: Error = e;
            tracing::warn!(error = %e.message, "daily access-request digest failed");
        }
    }
}
