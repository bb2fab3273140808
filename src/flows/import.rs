//! Moving from the Django original (contract §18): every user of the
//! source, checked, then stored in batches (one transaction each); the
//! original's outstanding refresh tokens, for their first refresh here.

use std::collections::HashSet;

use crate::domain::import::{LegacyToken, Skip, Stored};
use crate::domain::{Email, User, UserId};
use crate::error::Result;
use crate::store::Store;
use crate::store::django::Original;

/// Users per transaction: large enough that a commit's cost spreads thin,
/// small enough that the write lock is never held long (the import may run
/// while authgate serves).
const BATCH: usize = 1000;

/// Told of the import's progress (the command line shows a bar).
pub trait ImportProgress {
    /// The number of users the source holds.
    fn start(&self, users: u64);
    /// `users` more were handled.
    fn advance(&self, users: u64);
    /// A row left out, and why.
    fn skipped(&self, skip: &Skip);
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub imported: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    /// Outstanding refresh tokens (not expired) of the users kept.
    pub tokens: u64,
    /// Of those, the ones blacklisted in the original.
    pub blacklisted: u64,
}

impl std::fmt::Display for ImportSummary {
    /// The summary line of `authgate import-django`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ImportSummary { imported, updated, unchanged, skipped, .. } = self;
        write!(f, "imported {imported}, updated {updated}, unchanged {unchanged}, skipped {skipped}")
    }
}

/// Imports what `original` holds; `now` (unix seconds) decides which
/// refresh tokens are still worth keeping.
pub async fn import(
    store: &Store,
    original: Original,
    now: i64,
    dry_run: bool,
    progress: &dyn ImportProgress,
) -> Result<ImportSummary> {
    let mut summary = ImportSummary::default();
    progress.start(original.users.len() as u64);
    let mut seen = Addresses::default();
    let mut kept = HashSet::new();
    let mut batch = Vec::with_capacity(BATCH);
    for row in original.users {
        match row.and_then(|user| seen.claim(user)) {
            Ok(user) => batch.push(user),
            Err(skip) => {
                summary.skipped += 1;
                progress.skipped(&skip);
                progress.advance(1);
            }
        }
        if batch.len() == BATCH {
            kept.extend(store_batch(store, std::mem::take(&mut batch), dry_run, &mut summary, progress).await?);
        }
    }
    kept.extend(store_batch(store, batch, dry_run, &mut summary, progress).await?);
    let live: Vec<LegacyToken> =
        original.tokens.into_iter().filter(|t| t.expires_at > now && kept.contains(&t.user_id)).collect();
    summary.tokens = live.len() as u64;
    summary.blacklisted = live.iter().filter(|t| t.blacklisted).count() as u64;
    for chunk in live.chunks(BATCH) {
        store.import_legacy_tokens(chunk, dry_run).await?;
    }
    Ok(summary)
}

async fn store_batch(
    store: &Store,
    users: Vec<User>,
    dry_run: bool,
    summary: &mut ImportSummary,
    progress: &dyn ImportProgress,
) -> Result<Vec<UserId>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let mut kept = Vec::with_capacity(users.len());
    let outcomes = store.import_users(&users, dry_run).await?;
    for (user, outcome) in users.iter().zip(outcomes) {
        let taken = |what: &str| Skip { id: user.id.to_string(), reason: format!("{what} belongs to another account") };
        match outcome {
            Stored::Imported => summary.imported += 1,
            Stored::Updated => summary.updated += 1,
            Stored::Unchanged => summary.unchanged += 1,
            Stored::EmailTaken | Stored::PhoneTaken => {
                summary.skipped += 1;
                progress.skipped(&taken(if outcome == Stored::EmailTaken { "the email" } else { "the phone" }));
                continue;
            }
        }
        kept.push(user.id);
    }
    progress.advance(users.len() as u64);
    Ok(kept)
}

/// The addresses of the source's live users so far: of two rows with one
/// address, the first in source order keeps it (contract §3's uniqueness,
/// which ignores case, where Django's did not).
#[derive(Default)]
struct Addresses {
    emails: HashSet<String>,
    phones: HashSet<String>,
}

impl Addresses {
    fn claim(&mut self, user: User) -> std::result::Result<User, Skip> {
        if user.deleted_at.is_some() {
            return Ok(user);
        }
        let skip = |reason: &str| Skip { id: user.id.to_string(), reason: reason.into() };
        let email = user.email.as_ref().map(Email::key);
        let phone = user.phone.as_ref().map(|p| p.as_str().to_owned());
        if email.as_ref().is_some_and(|e| self.emails.contains(e)) {
            return Err(skip("duplicate email (an earlier row has it)"));
        }
        if phone.as_ref().is_some_and(|p| self.phones.contains(p)) {
            return Err(skip("duplicate phone (an earlier row has it)"));
        }
        self.emails.extend(email);
        self.phones.extend(phone);
        Ok(user)
    }
}
