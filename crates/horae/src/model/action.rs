//! What a daemon task does: run a command or make an HTTP request.
//!
//! Rust programs bind tasks to handlers; tasks for the `horae` daemon carry their action in
//! the task record instead, so every node that shares the store can run their jobs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human_opt;
use crate::error::ValidationError;

/// The work a daemon task performs (`executor` `command` or `http`).
///
/// JSON is externally tagged: `{"command": {"argv": [...]}}` or `{"http": {"url": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskAction {
    /// Run a program.
    Command(CommandAction),
    /// Make an HTTP request.
    Http(HttpAction),
}

/// A program to run. Exit code 0 is success; the job's details are in its environment
/// (`HORAE_JOB_ID`, `HORAE_ARGS`, ... — DESIGN.md section 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandAction {
    /// The program and its arguments; with `shell`, one shell script line and its positional
    /// parameters.
    pub argv: Vec<String>,
    /// Run `argv[0]` through `/bin/sh -c` (default false: no shell).
    #[serde(default)]
    pub shell: bool,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The working directory (default: the daemon's).
    #[serde(default)]
    pub cwd: Option<String>,
}

/// An HTTP request. A 2xx status is success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAction {
    /// The method (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// An `http://` or `https://` URL.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body.
    #[serde(default)]
    pub body: Option<String>,
    /// How long the request may take (default: the task's timeout, if any).
    #[serde(default, with = "serde_human_opt")]
    pub timeout: Option<Duration>,
}

fn default_method() -> String {
    "GET".to_owned()
}

impl TaskAction {
    /// Checks the action.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] for an empty argv or program name, an empty environment
    /// variable name or one with `=` or NUL, a method that is not an HTTP token, a URL
    /// that is not `http(s)://host...`, or a header name or value that HTTP forbids.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            TaskAction::Command(command) => command.validate(),
            TaskAction::Http(http) => http.validate(),
        }
    }
}

impl CommandAction {
    fn validate(&self) -> Result<(), ValidationError> {
        match self.argv.first() {
            None => return Err(ValidationError::new("command", "command must not be empty")),
            Some(program) if program.trim().is_empty() => {
                return Err(ValidationError::new(
                    "command",
                    "command: the program name must not be empty",
                ));
            }
            Some(_) => {}
        }
        if self.argv.iter().any(|arg| arg.contains('\0')) {
            return Err(ValidationError::new(
                "command",
                "command: arguments must not contain NUL characters",
            ));
        }
        for (name, value) in &self.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') || value.contains('\0')
            {
                return Err(ValidationError::new(
                    "env",
                    format!(
                        "env: invalid variable {name:?} (names are non-empty, without '=' or NUL)"
                    ),
                ));
            }
        }
        if self
            .cwd
            .as_deref()
            .is_some_and(|cwd| cwd.is_empty() || cwd.contains('\0'))
        {
            return Err(ValidationError::new("cwd", "cwd must be a non-empty path"));
        }
        Ok(())
    }
}

impl HttpAction {
    fn validate(&self) -> Result<(), ValidationError> {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        };
        if !token(&self.method) {
            return Err(ValidationError::new(
                "method",
                format!("http.method: {:?} is not an HTTP method", self.method),
            ));
        }
        let rest = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"));
        if !rest.is_some_and(|rest| {
            !rest.is_empty() && !rest.starts_with('/') && !rest.chars().any(char::is_whitespace)
        }) {
            return Err(ValidationError::new(
                "url",
                format!("http.url: {:?} is not an http:// or https:// URL", self.url),
            ));
        }
        for (name, value) in &self.headers {
            if !token(name) || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(ValidationError::new(
                    "headers",
                    format!("http.headers: invalid header {name:?}"),
                ));
            }
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(ValidationError::new(
                "timeout",
                "http.timeout must be positive",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_externally_tagged_with_defaults() {
        let action: TaskAction =
            serde_json::from_value(json!({"command": {"argv": ["echo", "hi"]}})).unwrap();
        assert_eq!(
            action,
            TaskAction::Command(CommandAction {
                argv: vec!["echo".into(), "hi".into()],
                shell: false,
                env: BTreeMap::new(),
                cwd: None,
            })
        );
        let action: TaskAction = serde_json::from_value(
            json!({"http": {"url": "http://127.0.0.1:9/x", "timeout": "5s"}}),
        )
        .unwrap();
        let TaskAction::Http(http) = &action else {
            panic!("{action:?}")
        };
        assert_eq!(http.method, "GET");
        assert_eq!(http.timeout, Some(Duration::from_secs(5)));
        assert!(action.validate().is_ok());
        assert!(serde_json::from_value::<TaskAction>(json!({"shell": {}})).is_err());
    }

    #[test]
    fn invalid_actions_are_rejected() {
        let command = |argv: &[&str]| {
            TaskAction::Command(CommandAction {
                argv: argv.iter().map(|s| (*s).to_owned()).collect(),
                shell: false,
                env: BTreeMap::new(),
                cwd: None,
            })
        };
        assert!(command(&[]).validate().is_err());
        assert!(command(&[" "]).validate().is_err());
        assert!(command(&["a\0b"]).validate().is_err());
        assert!(command(&["true"]).validate().is_ok());
        let http = |method: &str, url: &str| {
            TaskAction::Http(HttpAction {
                method: method.into(),
                url: url.into(),
                headers: BTreeMap::new(),
                body: None,
                timeout: None,
            })
        };
        assert!(http("GET", "ftp://x").validate().is_err());
        assert!(http("GET", "http://").validate().is_err());
        assert!(http("GE T", "http://x").validate().is_err());
        assert!(http("POST", "https://example.com/hook").validate().is_ok());
    }
}
