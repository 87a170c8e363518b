//! Python token providers: a callable (sync or async) or an object with `get_access_token()`,
//! returning a token string or None, called for every HTTP request.

use std::sync::Arc;

use futures::future::BoxFuture;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;

use crate::auth::{TokenError, TokenSource};
use crate::python::callback::{PyCallback, type_name};

pub struct PyTokenSource {
    callback: Arc<PyCallback>,
}

impl PyTokenSource {
    pub fn new(provider: &Bound<'_, PyAny>) -> PyResult<Arc<Self>> {
        let py = provider.py();
        if !provider.is_callable() && !provider.hasattr(intern!(py, "get_access_token"))? {
            return Err(PyTypeError::new_err(format!(
                "token_provider must be a callable or have a get_access_token() method, not {}",
                type_name(provider)
            )));
        }
        Ok(Arc::new(Self { callback: PyCallback::new(provider, "the token provider") }))
    }

    pub fn bind_running_loop(&self, py: Python<'_>) {
        self.callback.bind_running_loop(py);
    }
}

impl TokenSource for PyTokenSource {
    fn token(&self) -> BoxFuture<'_, Result<Option<String>, TokenError>> {
        self.callback.call(
            |provider| match provider.getattr(intern!(provider.py(), "get_access_token")) {
                Ok(method) => method.call0(),
                Err(_) => provider.call0(),
            },
            token_value,
        )
    }
}

fn token_value(value: &Bound<'_, PyAny>) -> Result<Option<String>, TokenError> {
    if value.is_none() {
        return Ok(None);
    }
    match value.extract::<String>() {
        Ok(token) if token.is_empty() => Ok(None),
        Ok(token) => Ok(Some(token)),
        Err(_) => Err(TokenError::new(format!("the token provider returned {}, expected a str or None", type_name(value)))),
    }
}
