//! The crate's one error type, grouped by what the caller can do about it.
//!
//! Expected failures (a bad input file, an unknown F0, bad SQL, too many rejected rows) carry the
//! path, line and value involved plus a hint; [`Error::Internal`] is reserved for broken
//! invariants. [`Error::kind`] is the single place where an error becomes an outcome (CLI exit
//! code today; HTTP status and SQLSTATE later).

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in truyvet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A trace ran past its [`TraceRequest::deadline`](crate::TraceRequest::deadline) and
    /// was stopped.
    #[error("stopped: the trace ran past its time limit")]
    TimeLimit,
    /// An input file cannot be read as check-in logs (missing column, wrong type, corrupt).
    #[error("{path}: {reason}")]
    BadInput {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, with a hint where one helps.
        reason: String,
    },
    /// Too many rows of a batch were rejected; nothing was committed.
    #[error(
        "refused: {rejected} of {read} rows rejected ({ratio:.2}%), above --max-reject-ratio {max:.2}%; nothing committed (first rejects: {sample})"
    )]
    TooManyRejects {
        /// Rows read.
        read: u64,
        /// Rows rejected.
        rejected: u64,
        /// Rejected share in percent.
        ratio: f64,
        /// The allowed share in percent.
        max: f64,
        /// A few rejected rows (`file:line: reason`).
        sample: String,
    },
    /// A user-supplied argument is malformed (a time, a duration, a parameter).
    #[error("invalid {what} {value:?}: {hint}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// The value given.
        value: String,
        /// How to write it.
        hint: String,
    },
    /// A person or venue id that the store does not know.
    #[error("{what} {id:?} is not in the store")]
    NotFound {
        /// `person` or `venue`.
        what: &'static str,
        /// The id looked up.
        id: String,
    },
    /// The directory is not a truyvet store, or its files are damaged.
    #[error("store {path}: {reason}")]
    Store {
        /// Store directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the store's write lock.
    #[error("store {0} is locked by another ingest; try again when it finishes")]
    Locked(PathBuf),
    /// A SQL statement failed to plan or run, or was refused by the read-only sandbox.
    #[error("{message}\n  in: {statement}")]
    Sql {
        /// DataFusion's message, or the sandbox's reason.
        message: String,
        /// The statement that failed.
        statement: String,
        /// What kind of failure it was: a bad statement is [`ErrorKind::Usage`], a file that
        /// cannot be read or memory that ran out is [`ErrorKind::Environment`].
        kind: ErrorKind,
    },
    /// An operating-system I/O failure, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A Ballista cluster could not be reached, or failed a statement or a start.
    #[error("cluster: {0}")]
    Cluster(String),
    /// A broken invariant: a bug in truyvet.
    #[error("internal error (a bug in truyvet): {0}")]
    Internal(String),
}

/// What kind of outcome an error is, for mapping to exit codes, HTTP statuses and SQLSTATEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input or arguments are wrong (exit 2).
    Usage,
    /// The thing asked for does not exist (exit 2).
    NotFound,
    /// Input data refused (exit 3).
    Data,
    /// Store damaged, locked, or the machine failed (exit 4).
    Environment,
    /// A bug (exit 70).
    Internal,
}

impl ErrorKind {
    /// Process exit code for the CLI. The binary's own failures that carry no [`Error`] exit 1;
    /// its README lists every code.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage | ErrorKind::NotFound => 2,
            ErrorKind::Data => 3,
            ErrorKind::Environment => 4,
            ErrorKind::Internal => 70,
        }
    }
}

impl Error {
    /// Classify the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument { .. } => ErrorKind::Usage,
            Error::Sql { kind, .. } => *kind,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::BadInput { .. } | Error::TooManyRejects { .. } => ErrorKind::Data,
            Error::Store { .. } | Error::Locked(_) | Error::Io { .. } | Error::TimeLimit | Error::Cluster(_) => {
                ErrorKind::Environment
            }
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn bad_input(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::BadInput { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn store(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::Store { path: path.into(), reason: reason.into() }
    }
}
