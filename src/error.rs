//! The kinds of failure a caller must tell apart. HTTP status codes are chosen from these in
//! exactly one place (`http::error`); the CLI maps them to messages and exit codes in `main`.

/// A failure, by kind. Messages are safe to show to the caller: they never hold a secret or an
/// internal detail (internal errors show only "internal error"; their cause is logged once).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist (or the caller may not know it exists).
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with what is stored (a duplicate, a stale version, a wrong state).
    #[error("{0}")]
    Conflict(String),
    /// The request cannot be read at all (malformed JSON, a bad query string).
    #[error("{0}")]
    Malformed(String),
    /// The request was read but breaks a rule; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// A request body over its size limit.
    #[error("{0}")]
    TooLarge(String),
    /// No valid credential came with the request.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Anything else: a bug, or a part (database, disk, git) that failed.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Short for `Result<T, hangar::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(what: impl Into<String>) -> Error {
        Error::NotFound(what.into())
    }

    pub fn invalid(what: impl Into<String>) -> Error {
        Error::Invalid(what.into())
    }

    pub fn conflict(what: impl Into<String>) -> Error {
        Error::Conflict(what.into())
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Error {
        Error::Internal(err.into())
    }

    /// The message with, for internal errors, their whole cause chain: for the server's log,
    /// never for a response.
    pub fn detail(&self) -> String {
        match self {
            Error::Internal(err) => format!("{err:#}"),
            other => other.to_string(),
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Error {
        Error::Internal(err)
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::Internal(err.into())
    }
}
