//! The store as the server holds it: the live snapshot, refreshed when a commit replaces it,
//! the status index built once per snapshot, and the audit log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use truyvet::store::audit::{AuditLog, AuditRecord};
use truyvet::trace::{ChainRequest, StatusIndex};
use truyvet::{Snapshot, Store};

use crate::accounts::Users;

/// How long a page session lasts by default.
pub const SESSION: Duration = Duration::from_secs(12 * 3600);

/// Shared by every request.
pub struct Live {
    store: Mutex<Store>,
    /// The status index of one snapshot version, under the default rules.
    status: Mutex<Option<(u64, Arc<StatusIndex>)>>,
    audit: AuditLog,
    /// Longest a request may run.
    pub time_limit: Duration,
    /// Most bytes a SQL statement may hold.
    pub memory_limit: Option<usize>,
    /// The rules a request's `rule` may name ([`crate::Config::rules`]).
    pub rules: truyvet::RuleBook,
    /// The SQL session of one snapshot version.
    #[cfg(feature = "sql")]
    sql: Mutex<Option<(u64, Arc<truyvet::sql::Session>)>>,
    /// The same with the `audit` table, for admins.
    #[cfg(feature = "sql")]
    sql_admin: Mutex<Option<(u64, Arc<truyvet::sql::Session>)>>,
    /// The accounts (`None`: the store's owner alone, on loopback).
    pub users: Option<Users>,
    /// How long a page session lasts ([`SESSION`] unless changed before serving).
    pub session_lifetime: Duration,
    /// Page sessions: token → (user, expiry).
    sessions: Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>,
    /// Failed sign-ins per client address: (count, start of the minute counted).
    failures: Mutex<std::collections::HashMap<std::net::IpAddr, (u32, std::time::Instant)>>,
    /// Requests computing at once (traces, status, pages), two per core (one may be writing its
    /// audit record); the others wait their turn in arrival order rather than share the cores
    /// sixty ways. A turn is held by the computation itself, so a request abandoned at its time
    /// limit keeps its turn until its work ends.
    pub work: Arc<tokio::sync::Semaphore>,
    /// SQL statements computing at once over HTTP: one, beside the requests above, so that an
    /// epidemiologist's query never holds a tracer's trace behind it.
    pub sql_slots: Arc<tokio::sync::Semaphore>,
}

impl Live {
    /// Open `config`'s store, audit log and accounts.
    pub fn open(config: &crate::Config) -> anyhow::Result<Live> {
        let store = Store::open(&config.store)?;
        let audit = AuditLog::open(&config.store)
            .map_err(|e| anyhow::anyhow!("cannot open the audit log in {}: {e}", config.store.display()))?;
        let users = config.users.as_deref().map(Users::read).transpose()?;
        Ok(Live {
            store: Mutex::new(store),
            status: Mutex::new(None),
            #[cfg(feature = "sql")]
            sql: Mutex::new(None),
            #[cfg(feature = "sql")]
            sql_admin: Mutex::new(None),
            audit,
            time_limit: config.time_limit,
            memory_limit: config.memory_limit,
            rules: config.rules.clone(),
            users,
            session_lifetime: SESSION,
            sessions: Mutex::new(Default::default()),
            failures: Mutex::new(Default::default()),
            work: Arc::new(tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            sql_slots: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    /// The live snapshot: the one held, or the new one if a commit replaced it since. A
    /// snapshot handed out never changes, so a running request never sees a commit.
    pub fn snapshot(&self) -> truyvet::Result<Snapshot> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if store.refresh()? {
            tracing::info!(version = store.snapshot().manifest().version, "serving a new store version");
        }
        Ok(store.snapshot())
    }

    /// The status index of `snap` under the default rules, built on first use per version.
    pub fn status_index(&self, snap: &Snapshot) -> truyvet::Result<Arc<StatusIndex>> {
        let version = snap.manifest().version;
        let mut held = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, index)) = held.as_ref()
            && *v == version
        {
            return Ok(index.clone());
        }
        let index = Arc::new(snap.status_index(&ChainRequest::new(truyvet::TraceRequest::default(), 2))?);
        *held = Some((version, index.clone()));
        Ok(index)
    }

    /// The SQL session of `snap` (read-only; statements under the time and memory limits),
    /// opened on first use per version. Admins' sessions also have the `audit` table.
    #[cfg(feature = "sql")]
    pub fn sql_session(&self, snap: &Snapshot, admin: bool) -> truyvet::Result<Arc<truyvet::sql::Session>> {
        let version = snap.manifest().version;
        let mut held = if admin { &self.sql_admin } else { &self.sql }.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, session)) = held.as_ref()
            && *v == version
        {
            return Ok(session.clone());
        }
        let session = Arc::new(truyvet::sql::Session::with_options(snap, self.sql_options(admin))?);
        *held = Some((version, session.clone()));
        Ok(session)
    }

    /// How the server's SQL sessions run, over HTTP and Postgres wire alike: under its time and
    /// memory limits, with the `audit` table for admins.
    #[cfg(feature = "sql")]
    pub fn sql_options(&self, admin: bool) -> truyvet::sql::SessionOptions {
        truyvet::sql::SessionOptions::default()
            .time_limit(Some(self.time_limit))
            .memory_limit(self.memory_limit)
            .audit(admin)
            .rules(self.rules.clone())
    }

    /// A new page session for `user`: its token.
    pub fn open_session(&self, user: &str) -> anyhow::Result<String> {
        let mut token = [0u8; 32];
        getrandom::fill(&mut token).map_err(|e| anyhow::anyhow!("no randomness for a session: {e}"))?;
        let token = hex::encode(token);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        sessions.retain(|_, (_, until)| *until > now);
        sessions.insert(token.clone(), (user.to_string(), now + self.session_lifetime));
        Ok(token)
    }

    /// The user of a live session token.
    pub fn session_user(&self, token: &str) -> Option<String> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(token).filter(|(_, until)| *until > std::time::Instant::now()).map(|(u, _)| u.clone())
    }

    /// Failed sign-ins from `client` in the current minute.
    pub fn failures(&self, client: std::net::IpAddr) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.get(&client).filter(|(_, since)| since.elapsed() < Duration::from_secs(60)).map_or(0, |f| f.0)
    }

    /// Count a failed sign-in from `client`.
    pub fn failed(&self, client: std::net::IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failures.entry(client).or_insert((0, std::time::Instant::now()));
        if entry.1.elapsed() >= Duration::from_secs(60) {
            *entry = (0, std::time::Instant::now());
        }
        entry.0 += 1;
    }

    /// End a session.
    pub fn close_session(&self, token: &str) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
    }

    /// Append `record` to the store's audit log without waiting for the disk (for records made
    /// where nothing can wait, such as a row stream's end).
    pub fn audit_nowait(&self, record: &AuditRecord) {
        self.audit.append(record, None);
    }

    /// Append `record` to the store's audit log and wait until it is on disk. A failure to
    /// write is logged (by the writer), not returned: the answer has been computed, the log
    /// is the operator's to fix.
    pub async fn audit(&self, record: &AuditRecord) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.audit.append(
            record,
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        );
        let _ = rx.await;
    }
}

impl Drop for Live {
    /// The SQL session owns a tokio runtime, which must not be dropped on an async thread (the
    /// server's own runtime drops `Live` there at shutdown): it is dropped on a thread of its own.
    fn drop(&mut self) {
        #[cfg(feature = "sql")]
        for held in [&mut self.sql, &mut self.sql_admin] {
            if let Some(held) = held.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = std::thread::spawn(move || drop(held)).join();
            }
        }
    }
}
