use crate::fields::FieldError;
use crate::model::Status;

/// What the core refuses, and why. Adapters map each to their own vocabulary (HTTP status,
/// CLI exit code) through the stable `code()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid input: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("cannot {action} a complaint that is {status}: {why}")]
    IllegalTransition { action: &'static str, status: Status, why: String },
    #[error("{0}")]
    Forbidden(String),
}

impl DomainError {
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Invalid(_) => "validation_failed",
            DomainError::IllegalTransition { .. } => "illegal_transition",
            DomainError::Forbidden(_) => "forbidden",
        }
    }

    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Invalid(vec![FieldError::new(field, code, message)])
    }
}
