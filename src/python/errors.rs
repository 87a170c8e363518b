//! Core errors → the Python exception classes of `mcpfleet._errors`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::{PyErrArguments, import_exception};

use crate::auth::{TokenErrorKind, parse_www_authenticate};
use crate::error::Error;
use crate::python::convert::json_to_py;
use crate::util::redact::scrub;

import_exception!(mcpfleet._errors, ConfigError);
import_exception!(mcpfleet._errors, ServerStartError);
import_exception!(mcpfleet._errors, ServerExitedError);
import_exception!(mcpfleet._errors, RequestTimeoutError);
import_exception!(mcpfleet._errors, ProtocolError);
import_exception!(mcpfleet._errors, ServerError);
import_exception!(mcpfleet._errors, TransportError);
import_exception!(mcpfleet._errors, ServerNotRunningError);
import_exception!(mcpfleet._errors, AuthRequiredError);
import_exception!(mcpfleet._errors, OAuthError);
import_exception!(mcpfleet._errors, TokenProviderError);
import_exception!(mcpfleet._errors, ToolNotFoundError);
import_exception!(mcpfleet._errors, ServerNotFoundError);

/// Attribute values of an exception, built without the GIL and turned into Python when raised.
enum Detail {
    Str(String),
    OptStr(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Float(f64),
    Json(Option<serde_json::Value>),
    /// Becomes `__cause__`: the exception a Python callback raised.
    Cause(Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>),
}

/// `(message, {attribute: value})`: what the `_errors` classes take.
struct ErrorArgs {
    message: String,
    details: Vec<(&'static str, Detail)>,
}

impl PyErrArguments for ErrorArgs {
    fn arguments(self, py: Python<'_>) -> Py<PyAny> {
        let build = || -> PyResult<Py<PyAny>> {
            let details = PyDict::new(py);
            for (key, value) in self.details {
                let value = match value {
                    Detail::Str(s) => scrub(&s).into_pyobject(py)?.into_any(),
                    Detail::OptStr(s) => s.map(|s| scrub(&s)).into_pyobject(py)?.into_any(),
                    Detail::Int(i) => i.into_pyobject(py)?.into_any(),
                    Detail::OptInt(i) => i.into_pyobject(py)?.into_any(),
                    Detail::Float(f) => f.into_pyobject(py)?.into_any(),
                    Detail::Json(v) => match v {
                        Some(v) => json_to_py(py, &v)?,
                        None => py.None().into_bound(py),
                    },
                    Detail::Cause(cause) => match cause.as_deref().and_then(|c| c.downcast_ref::<PyErr>()) {
                        Some(err) => err.clone_ref(py).into_value(py).into_bound(py).into_any(),
                        None => continue,
                    },
                };
                details.set_item(key, value)?;
            }
            Ok(PyTuple::new(py, [scrub(&self.message).into_pyobject(py)?.into_any(), details.into_any()])?.into_any().unbind())
        };
        build().unwrap_or_else(|e| e.into_value(py).into_any())
    }
}

fn with(message: String, details: Vec<(&'static str, Detail)>) -> ErrorArgs {
    ErrorArgs { message, details }
}

/// `[{"scheme": ..., "params": {name: value}}]`, in header order.
fn challenges_json(challenges: &[crate::auth::Challenge]) -> serde_json::Value {
    challenges
        .iter()
        .map(|c| {
            let params: serde_json::Map<String, serde_json::Value> = c.params.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
            serde_json::json!({"scheme": c.scheme, "params": params})
        })
        .collect()
}

/// Maps a core error to its exception. Needs no GIL: the exception is built when raised.
pub fn to_py_err(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Config(_) => ConfigError::new_err(with(message, vec![])),
        Error::Start(_) | Error::CannotRun { .. } => ServerStartError::new_err(with(message, vec![])),
        Error::Exited { exit, stderr_tail } => ServerExitedError::new_err(with(
            message,
            vec![("exit_code", Detail::Int(exit.as_code().into())), ("stderr_tail", Detail::Str(stderr_tail))],
        )),
        Error::Timeout { timeout, .. } => {
            RequestTimeoutError::new_err(with(message, vec![("timeout", Detail::Float(timeout.as_secs_f64()))]))
        }
        Error::Server { code, data, .. } => {
            ServerError::new_err(with(message, vec![("code", Detail::Int(code.into())), ("data", Detail::Json(data))]))
        }
        Error::Protocol(_) => ProtocolError::new_err(with(message, vec![])),
        Error::Transport(_) => TransportError::new_err(with(message, vec![])),
        Error::NotConnected(_) => ServerNotRunningError::new_err(with(message, vec![])),
        Error::Invalid(problems) => {
            let first = problems.first();
            let json = problems_json(&problems);
            ConfigError::new_err(with(
                message,
                vec![
                    ("file", Detail::OptStr(first.and_then(|p| p.source.as_deref().map(str::to_string)))),
                    ("line", Detail::OptInt(first.and_then(|p| p.at.map(|a| a.line as i64)))),
                    ("column", Detail::OptInt(first.and_then(|p| p.at.map(|a| a.column as i64)))),
                    ("problems", Detail::Json(Some(json))),
                ],
            ))
        }
        Error::ToolNotFound { suggestions, .. } => ToolNotFoundError::new_err(with(message, vec![("close_matches", Detail::Json(Some(suggestions.into())))])),
        Error::UnknownServer { suggestions, .. } => ServerNotFoundError::new_err(with(message, vec![("close_matches", Detail::Json(Some(suggestions.into())))])),
        Error::Token(t) if t.kind == TokenErrorKind::OAuth => OAuthError::new_err(with(message, vec![("__cause__", Detail::Cause(t.cause))])),
        Error::Token(t) => TokenProviderError::new_err(with(message, vec![("__cause__", Detail::Cause(t.cause))])),
        Error::ServerDown { server, state, last_error } => ServerNotRunningError::new_err(with(
            message,
            vec![("server", Detail::Str(server)), ("state", Detail::Str(state.to_string())), ("last_error", Detail::OptStr(last_error))],
        )),
        Error::AuthRequired { url, status, www_authenticate } => {
            let c = parse_www_authenticate(&www_authenticate);
            AuthRequiredError::new_err(with(
                message,
                vec![
                    ("url", Detail::Str(crate::util::redact::redact_url(&url))),
                    ("status", Detail::Int(status.into())),
                    ("issuer", Detail::OptStr(c.issuer)),
                    ("scope", Detail::OptStr(c.scope)),
                    ("resource_metadata_url", Detail::OptStr(c.resource_metadata_url)),
                    ("error", Detail::OptStr(c.error)),
                    ("error_description", Detail::OptStr(c.error_description)),
                    ("www_authenticate", Detail::Str(crate::util::redact::quote(&www_authenticate, crate::transport::http::MAX_CHALLENGE_CHARS))),
                    ("challenges", Detail::Json(Some(challenges_json(&c.challenges)))),
                ],
            ))
        }
    }
}

/// Problems as `ConfigError.problems` holds them: file, line, column, server, field, message
/// (secrets redacted).
pub fn problems_json(problems: &[crate::fleet::definition::Problem]) -> serde_json::Value {
    let mut json: serde_json::Value = problems
        .iter()
        .map(|p| {
            serde_json::json!({
                "file": p.source.as_deref(), "line": p.at.map(|a| a.line), "column": p.at.map(|a| a.column),
                "field": p.field, "server": p.server, "message": p.message, "text": p.to_string(),
            })
        })
        .collect();
    crate::util::redact::scrub_json(&mut json);
    json
}

pub fn config_error(message: impl Into<String>) -> PyErr {
    ConfigError::new_err(with(message.into(), vec![]))
}
