//! IP blocklists (contract §20): the FireHOL netsets named by
//! `AUTHGATE_IP_BLOCKLISTS`, merged into one `IpTable` that requests read
//! without a lock, and read again, all of them, soon after one changes.
//!
//! A watcher looks at each file's metadata every second (a `stat`, no
//! read) and reloads when any differs, so an edit is in force within about
//! a second (the contract allows 5). A file that vanished or cannot be read
//! leaves the last list read in force: an update job that deletes and
//! rewrites its file must not unblock every listed network meanwhile.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use ipnet::IpNet;

use crate::config::{ConfigError, DefenceConfig};
use crate::domain::ip_table::{IpTable, IpTableBuilder};
use crate::domain::network::client_key;
use crate::tasks::Tasks;

const VAR: &str = "AUTHGATE_IP_BLOCKLISTS";
/// How often the watcher looks at the files.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// A network's refusals are audited at most once in this many seconds.
const AUDIT_EVERY_SECS: i64 = 60;
/// Networks remembered as audited: a flood from more networks than this in
/// a minute writes at most this many events a minute.
const MAX_AUDITED: usize = 4096;

pub struct Blocklist {
    table: Arc<ArcSwap<IpTable>>,
    audited: Mutex<Audited>,
}

impl Blocklist {
    /// Reads every file (an unreadable one fails the start, naming
    /// `AUTHGATE_IP_BLOCKLISTS`) and watches them until `tasks` close.
    /// Without files nothing is listed and nothing watches.
    pub fn start(config: &DefenceConfig, tasks: &Tasks) -> Result<Blocklist, ConfigError> {
        let blocklist = Blocklist {
            table: Arc::new(ArcSwap::from_pointee(IpTable::default())),
            audited: Mutex::new(Audited::default()),
        };
        if config.ip_blocklists.is_empty() {
            return Ok(blocklist);
        }
        let files: Arc<[PathBuf]> = config.ip_blocklists.clone().into();
        // Stamped before the read: an edit made during it is seen next time.
        let seen = stamps(&files);
        let (table, totals) = load(&files).map_err(|reason| ConfigError { var: VAR.into(), reason })?;
        totals.log("IP blocklists loaded", &table);
        blocklist.table.store(Arc::new(table));
        tasks.spawn(watch(files, seen, Arc::clone(&blocklist.table), tasks.clone()));
        Ok(blocklist)
    }

    /// Whether `ip` is on a list: one binary search, no lock.
    pub fn listed(&self, ip: IpAddr) -> bool {
        self.table.load().contains(ip)
    }

    /// Whether a refusal of `ip` at `now` (Unix seconds) is to be audited:
    /// the first of its network (an IPv4 address, an IPv6 /64) in a minute
    /// on this instance, so a flood does not become a flood of writes.
    pub fn audit_due(&self, ip: IpAddr, now: i64) -> bool {
        self.audited.lock().unwrap_or_else(PoisonError::into_inner).take(client_key(ip), now)
    }
}

/// What a file's metadata says of its contents: any difference means it
/// may have changed. The inode and change time (Unix) also catch a file
/// replaced by one with the same length and modified time (`rsync -t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: (u64, i64, i64),
}

/// Each file's stamp; `None` for one that cannot be looked at.
fn stamps(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            Some(Stamp {
                modified: meta.modified().ok(),
                len: meta.len(),
                #[cfg(unix)]
                inode: {
                    use std::os::unix::fs::MetadataExt;
                    (meta.ino(), meta.ctime(), meta.ctime_nsec())
                },
            })
        })
        .collect()
}

/// Counts for the log line of a load.
#[derive(Debug, Default)]
struct Totals {
    files: usize,
    entries: usize,
    skipped: usize,
}

impl Totals {
    fn log(&self, what: &'static str, table: &IpTable) {
        tracing::info!(
            files = self.files,
            entries = self.entries,
            skipped = self.skipped,
            ranges = table.ranges(),
            "{what}"
        );
    }
}

/// Reads and merges every file, or says which one could not be read.
/// Bytes that are not UTF-8 only spoil their own line.
fn load(files: &[PathBuf]) -> Result<(IpTable, Totals), String> {
    let mut builder = IpTableBuilder::default();
    let mut totals = Totals { files: files.len(), ..Totals::default() };
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| format!("{:?} cannot be read: {e}", path.display()))?;
        let summary = builder.add_netset(&String::from_utf8_lossy(&bytes));
        if let Some(line) = summary.first_skipped {
            tracing::warn!(
                file = %path.display(),
                skipped = summary.skipped,
                first = line,
                "IP blocklist: lines that are no address, network or range were skipped"
            );
        }
        totals.entries += summary.entries;
        totals.skipped += summary.skipped;
    }
    Ok((builder.build(), totals))
}

/// Reloads `files` into `table` whenever their stamps move, until `tasks`
/// close. The `stat`s and the reading run on the blocking pool: a large
/// list takes milliseconds to parse.
async fn watch(files: Arc<[PathBuf]>, mut seen: Vec<Option<Stamp>>, table: Arc<ArcSwap<IpTable>>, tasks: Tasks) {
    let poll = async move {
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            let (list, before) = (Arc::clone(&files), seen.clone());
            let step = tokio::task::spawn_blocking(move || {
                let now = stamps(&list);
                (now != before).then(|| (load(&list), now))
            });
            match step.await {
                Ok(None) => {}
                Ok(Some((Ok((fresh, totals)), now))) => {
                    totals.log("IP blocklists reloaded", &fresh);
                    table.store(Arc::new(fresh));
                    seen = now;
                }
                Ok(Some((Err(cause), now))) => {
                    tracing::warn!(cause = %cause, "IP blocklists: a file is gone or unreadable; the last lists read stay in force");
                    // Not tried again until a stamp moves (the file is back).
                    seen = now;
                }
                Err(e) => tracing::error!(error = %e, "IP blocklists: the reload failed; tried again in a second"),
            }
        }
    };
    tokio::select! {
        () = poll => {}
        () = tasks.closing() => {}
    }
}

/// When each network's refusal was last audited (Unix seconds).
#[derive(Debug, Default)]
struct Audited {
    last: HashMap<IpNet, i64>,
    /// While full, the time before which no entry can have expired: no
    /// scan is worth it before then.
    full_until: i64,
}

impl Audited {
    /// Whether `net` may be audited at `now`; if so, remembers it.
    fn take(&mut self, net: IpNet, now: i64) -> bool {
        match self.last.get_mut(&net) {
            Some(at) if now - *at < AUDIT_EVERY_SECS => return false,
            Some(at) => {
                *at = now;
                return true;
            }
            None => {}
        }
        if self.last.len() >= MAX_AUDITED {
            if now < self.full_until {
                return false;
            }
            self.last.retain(|_, at| now - *at < AUDIT_EVERY_SECS);
            if self.last.len() >= MAX_AUDITED {
                self.full_until = self.last.values().min().map_or(now, |oldest| oldest + AUDIT_EVERY_SECS);
                return false;
            }
        }
        self.last.insert(net, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn scratch_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("authgate-blocklist-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn config(files: &[&Path]) -> DefenceConfig {
        DefenceConfig { ip_blocklists: files.iter().map(|p| p.to_path_buf()).collect(), ..DefenceConfig::default() }
    }

    /// Waits up to 5 s (the contract's bound) for `listed(ip)` to be `want`.
    async fn until_listed(blocklist: &Blocklist, ip: IpAddr, want: bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while blocklist.listed(ip) != want {
            assert!(tokio::time::Instant::now() < deadline, "{ip} listed is not {want} after 5 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[test]
    fn without_files_nothing_is_listed_and_nothing_watches() {
        let tasks = Tasks::default();
        let blocklist = Blocklist::start(&DefenceConfig::default(), &tasks).unwrap();
        assert!(!blocklist.listed(ip("0.0.0.0")) && !blocklist.listed(ip("::1")));
        assert!(tasks.is_empty());
    }

    #[test]
    fn an_unreadable_file_fails_the_start_naming_the_variable() {
        let missing = scratch_dir().join("missing.netset");
        let err = Blocklist::start(&config(&[&missing]), &Tasks::default()).err().expect("an error");
        assert_eq!(err.var, "AUTHGATE_IP_BLOCKLISTS");
        assert!(err.reason.contains("missing.netset"), "{}", err.reason);
    }

    #[tokio::test]
    async fn files_merge_and_an_edit_is_in_force_within_seconds_while_a_deletion_is_not() {
        // Arrange
        let dir = scratch_dir();
        let (a, b) = (dir.join("a.netset"), dir.join("b.netset"));
        std::fs::write(&a, "# a\n192.0.2.0/24\n").unwrap();
        std::fs::write(&b, "2001:db8::/32 # b\nnonsense\n").unwrap();
        let tasks = Tasks::default();
        let blocklist = Blocklist::start(&config(&[&a, &b]), &tasks).unwrap();
        assert!(blocklist.listed(ip("192.0.2.9")) && blocklist.listed(ip("2001:db8::1")));
        assert!(blocklist.listed(ip("::ffff:192.0.2.9")));
        assert!(!blocklist.listed(ip("198.51.100.7")));

        // Act: an edit
        std::fs::write(&a, "198.51.100.7\n").unwrap();

        // Assert
        until_listed(&blocklist, ip("198.51.100.7"), true).await;
        assert!(!blocklist.listed(ip("192.0.2.9")));
        assert!(blocklist.listed(ip("2001:db8::1")));

        // Act: a deletion, then the file back
        std::fs::remove_file(&a).unwrap();
        tokio::time::sleep(POLL_EVERY * 3).await;
        assert!(blocklist.listed(ip("198.51.100.7")), "the last list read stays in force");
        std::fs::write(&a, "203.0.113.0/24\n").unwrap();
        until_listed(&blocklist, ip("203.0.113.5"), true).await;
        assert!(!blocklist.listed(ip("198.51.100.7")));

        // The watcher ends with the tasks.
        tasks.close();
        tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await.expect("the watcher ends");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_network_is_audited_once_a_minute() {
        let mut audited = Audited::default();
        let (one, its_64) = (client_key(ip("2001:db8:1:2::1")), client_key(ip("2001:db8:1:2::ffff")));
        assert!(audited.take(client_key(ip("192.0.2.1")), 1_000));
        assert!(!audited.take(client_key(ip("192.0.2.1")), 1_059));
        assert!(audited.take(client_key(ip("192.0.2.2")), 1_059), "another address, another count");
        assert!(audited.take(client_key(ip("192.0.2.1")), 1_060));
        assert!(audited.take(one, 1_000));
        assert!(!audited.take(its_64, 1_030), "one IPv6 client owns its /64");
    }

    #[test]
    fn the_memory_of_audited_networks_is_bounded() {
        let mut audited = Audited::default();
        let net = |i: usize| client_key(IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]));
        for i in 0..MAX_AUDITED {
            assert!(audited.take(net(i), 1_000 + (i % 30) as i64));
        }
        assert!(!audited.take(net(MAX_AUDITED), 1_040), "full: not audited rather than unbounded");
        assert!(!audited.take(net(MAX_AUDITED), 1_059));
        assert!(audited.take(net(MAX_AUDITED), 1_060), "the oldest have expired");
        assert!(audited.last.len() <= MAX_AUDITED);
    }
}
