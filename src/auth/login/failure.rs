//! Why a login was refused: a fixed reason (audited as its snake_case name, and deciding the
//! status of the page the browser sees) and a detail that never holds a token, a code or a
//! secret.

/// Why a login was refused; stored in the audit event as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The callback carries no `state`.
    MissingState,
    /// This browser holds no transaction cookie for the callback's `state`.
    StateMismatch,
    /// No such transaction (never started, or already finished: a replay).
    UnknownTransaction,
    /// The transaction is older than [`TRANSACTION_MS`].
    TransactionExpired,
    /// The provider answered with an error (the user declined, ...).
    ProviderError,
    /// The callback carries no `code`.
    MissingCode,
    /// The callback's `iss` is not the issuer the transaction went to (mix-up).
    IssuerMismatch,
    /// The provider promises an `iss` parameter and the callback lacks it.
    MissingIssuer,
    /// The code exchange failed (a wrong PKCE verifier, an injected or used code).
    TokenExchange,
    /// The ID token failed a check.
    IdToken,
    /// Userinfo failed or names another subject.
    UserInfo,
    /// The account is disabled here.
    AccountDisabled,
    /// The account may not use this way in (local sign-in beside an external provider is for
    /// administrators only).
    NotAllowed,
    /// The provider or its configuration is unusable (metadata, no S256, a bad secret file).
    Misconfigured,
    /// The provider cannot be reached.
    Unavailable,
    /// No provider of that name is configured.
    UnknownProvider,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingState => "missing_state",
            Reason::StateMismatch => "state_mismatch",
            Reason::UnknownTransaction => "unknown_transaction",
            Reason::TransactionExpired => "transaction_expired",
            Reason::ProviderError => "provider_error",
            Reason::MissingCode => "missing_code",
            Reason::IssuerMismatch => "issuer_mismatch",
            Reason::MissingIssuer => "missing_issuer",
            Reason::TokenExchange => "token_exchange_failed",
            Reason::IdToken => "invalid_id_token",
            Reason::UserInfo => "userinfo_failed",
            Reason::AccountDisabled => "account_disabled",
            Reason::NotAllowed => "not_allowed",
            Reason::Misconfigured => "provider_misconfigured",
            Reason::Unavailable => "provider_unavailable",
            Reason::UnknownProvider => "unknown_provider",
        }
    }

    /// The HTTP status a browser sees.
    pub fn status(self) -> u16 {
        match self {
            Reason::Misconfigured | Reason::Unavailable => 502,
            Reason::AccountDisabled | Reason::NotAllowed => 403,
            Reason::UnknownProvider => 404,
            _ => 400,
        }
    }
}

/// A refused login: the reason, and a detail for the audit trail and the error page (never a
/// token, a code or a secret).
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: Reason,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Failure {
        Failure {
            reason,
            detail: detail.into(),
        }
    }
}
