use ombuds_core::DomainError;
use ombuds_store::StoreError;

/// Everything a use case can answer besides success. Adapters map `code()` to their own terms.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("authentication required: {0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error("the desk is too busy to settle this change; retry")]
    Contention,
    /// A signed player identity that does not check out.
    #[error("{0}")]
    InvalidIdentity(String),
    #[error("the chat has ended")]
    ChatEnded,
    #[error("another agent took this chat first")]
    AlreadyTaken,
    #[error("the chat is not held by an agent")]
    ChatNotActive,
    /// The agent has a second factor: give the current code with the password.
    #[error("the code from your authenticator app is required")]
    CodeRequired,
    /// Too many wrong passwords: the login is locked until then.
    #[error("too many failed sign-ins; try again after {until}")]
    TooManyAttempts { until: jiff::Timestamp },
    /// A budget of requests (per client address, per complaint, per recipient) is spent.
    #[error("too many requests; try again in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: std::time::Duration },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DeskError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => DeskError::Conflict(m),
            e => DeskError::Store(e),
        }
    }
}

impl DeskError {
    pub fn code(&self) -> &'static str {
        match self {
            DeskError::Domain(d) => d.code(),
            DeskError::NotFound(_) => "not_found",
            DeskError::Unauthorized(_) => "unauthorized",
            DeskError::Conflict(_) => "conflict",
            DeskError::IdempotencyKeyReused => "idempotency_key_reused",
            DeskError::Contention => "contention",
            DeskError::InvalidIdentity(_) => "invalid_identity",
            DeskError::ChatEnded => "chat_ended",
            DeskError::AlreadyTaken => "already_taken",
            DeskError::ChatNotActive => "chat_not_active",
            DeskError::TooManyAttempts { .. } => "too_many_attempts",
            DeskError::CodeRequired => "code_required",
            DeskError::RateLimited { .. } => "rate_limited",
            DeskError::Store(_) => "internal",
        }
    }
}

pub type Result<T, E = DeskError> = std::result::Result<T, E>;
