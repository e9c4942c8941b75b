//! Errors of the command and their exit codes.

use modnas_core::config::ConfigError;
use std::fmt;
use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The configuration is invalid (exit code 2).
    Config(Box<ConfigError>),
    /// The command line is invalid (exit code 2).
    Usage(String),
    /// Something failed while running (exit code 1).
    Runtime(String),
    /// No trial succeeded (exit code 1).
    NoSuccess(String),
    /// The user interrupted the run; its state is saved (exit code 130).
    Interrupted(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Config(_) | CliError::Usage(_) => 2,
            CliError::Runtime(_) | CliError::NoSuccess(_) => 1,
            CliError::Interrupted(_) => 130,
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Config(e) => write!(f, "{e}"),
            CliError::Usage(m)
            | CliError::Runtime(m)
            | CliError::NoSuccess(m)
            | CliError::Interrupted(m) => f.write_str(m),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Config(Box::new(e))
    }
}

impl From<modnas_core::journal::JournalError> for CliError {
    fn from(e: modnas_core::journal::JournalError) -> Self {
        use modnas_core::journal::JournalError as J;
        match e {
            J::Busy(m) | J::Mismatch(m) => CliError::Usage(m),
            other => CliError::Runtime(other.to_string()),
        }
    }
}
