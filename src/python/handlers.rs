//! Python callables as the client's answers to the server's requests (elicitation, sampling,
//! roots), its log sink and a call's progress callback. Each runs on the loop the client is
//! used from; a coroutine function is awaited there.
// Sampling, roots and logging are deprecated in 2026-07-28 (SEP-2577); 2025-era servers use them.
#![allow(deprecated)]

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rmcp::ErrorData;
use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationAction, ListRootsResult,
    LoggingMessageNotificationParam, ProgressNotificationParam, Root, SamplingMessage,
};
use serde_json::{Map, Value};

use crate::auth::TokenError;
use crate::client::callbacks::{Answer, ClientCallbacks, Elicitation, LogSink, RootList, RootsSource, Sampling, root};
use crate::client::ProgressSink;
use crate::python::callback::{PyCallback, type_name};
use crate::python::convert::{json_to_py, py_to_json};
use crate::python::types::{py_opt, py_str, short};

/// The handlers given to a client (or a fleet), kept so they can follow the loop it is used from.
#[derive(Clone, Default)]
pub struct PyHandlers {
    callables: Vec<Arc<PyCallback>>,
    /// Roots given as a list: `set_roots` replaces them.
    pub root_list: Option<Arc<RootList>>,
    pub callbacks: ClientCallbacks,
}

impl PyHandlers {
    pub fn new(
        elicitation: Option<&Bound<'_, PyAny>>,
        sampling: Option<&Bound<'_, PyAny>>,
        roots: Option<&Bound<'_, PyAny>>,
        log: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut handlers = PyHandlers::default();
        if let Some(f) = callable(elicitation, "elicitation_handler")? {
            let callback = PyCallback::new(&f, "the elicitation handler");
            handlers.callbacks.elicitation = Some(Arc::new(PyElicitation(callback.clone())));
            handlers.callables.push(callback);
        }
        if let Some(f) = callable(sampling, "sampling_handler")? {
            let callback = PyCallback::new(&f, "the sampling handler");
            handlers.callbacks.sampling = Some(Arc::new(PySampling(callback.clone())));
            handlers.callables.push(callback);
        }
        if let Some(roots) = roots.filter(|r| !r.is_none()) {
            if roots.is_callable() {
                let callback = PyCallback::new(roots, "the roots callable");
                handlers.callbacks.roots = Some(Arc::new(PyRoots(callback.clone())));
                handlers.callables.push(callback);
            } else {
                let list = RootList::new(root_list(roots)?);
                handlers.callbacks.roots = Some(list.clone());
                handlers.root_list = Some(list);
            }
        }
        if let Some(f) = callable(log, "log_handler")? {
            let callback = PyCallback::new(&f, "the log handler");
            handlers.callbacks.log = Some(Arc::new(PyLog(callback.clone())));
            handlers.callables.push(callback);
        }
        Ok(handlers)
    }

    /// Makes the running loop (or the blocking caller's home loop) where the handlers run.
    pub fn bind_running_loop(&self, py: Python<'_>) {
        for callable in &self.callables {
            callable.bind_running_loop(py);
        }
    }

}

fn callable<'py>(value: Option<&Bound<'py, PyAny>>, what: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) if v.is_callable() => Ok(Some(v.clone())),
        Some(v) => Err(PyTypeError::new_err(format!("{what} must be a function (sync or async), not {}", type_name(v)))),
    }
}

/// Roots from Python: paths, `file://` URIs, `(uri, name)` pairs or `{"uri", "name"}` dicts.
pub fn root_list(value: &Bound<'_, PyAny>) -> PyResult<Vec<Root>> {
    if value.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err("roots must be a list of paths or URIs, not one string"));
    }
    let mut roots = Vec::new();
    for (i, item) in value.try_iter()?.enumerate() {
        let item = item?;
        let (location, name) = if let Ok(dict) = item.cast::<PyDict>() {
            let uri = dict.get_item("uri")?.ok_or_else(|| PyValueError::new_err(format!("roots[{i}]: a root dict needs \"uri\"")))?;
            (uri.str()?.to_string(), dict.get_item("name")?.filter(|n| !n.is_none()).map(|n| n.str().map(|s| s.to_string())).transpose()?)
        } else if let Ok((uri, name)) = item.extract::<(String, Option<String>)>() {
            (uri, name)
        } else if let Ok(path) = item.extract::<std::path::PathBuf>() {
            (path.to_string_lossy().into_owned(), None)
        } else {
            return Err(PyTypeError::new_err(format!("roots[{i}] must be a path, a URI, (uri, name) or a dict, not {}", type_name(&item))));
        };
        roots.push(root(&location, name).map_err(|e| PyValueError::new_err(format!("roots[{i}]: {e}")))?);
    }
    Ok(roots)
}

fn handler_error(what: &str, e: TokenError) -> ErrorData {
    ErrorData::internal_error(format!("the client's {what} failed: {}", e.message), None)
}

/// A server's `elicitation/create`, as the elicitation handler sees it.
#[pyclass(frozen, get_all, module = "mcpfleet._core")]
pub struct ElicitationRequest {
    /// The name of the server asking (the client's `name`, or the fleet server's).
    server: String,
    /// "form" (answer with content matching `requested_schema`) or "url" (send the user to `url`).
    mode: String,
    message: String,
    requested_schema: Option<Py<PyAny>>,
    url: Option<String>,
    elicitation_id: Option<String>,
    meta: Option<Py<PyAny>>,
}

#[pymethods]
impl ElicitationRequest {
    /// The schema's default for each field that has one (SEP-1034): accepting with partial
    /// content fills the rest from these.
    fn defaults<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let Some(schema) = &self.requested_schema else { return Ok(out) };
        if let Ok(Some(properties)) = schema.bind(py).get_item("properties").map(|p| p.cast_into::<PyDict>().ok()) {
            for (name, property) in properties.iter() {
                if let Ok(Some(default)) = property.cast::<PyDict>().map(|p| p.get_item("default")).unwrap_or(Ok(None)) {
                    out.set_item(name, default)?;
                }
            }
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!("ElicitationRequest(server={}, mode={}, message={})", py_str(&self.server), py_str(&self.mode), py_str(&short(&self.message)))
    }
}

struct PyElicitation(Arc<PyCallback>);

impl Elicitation for PyElicitation {
    fn elicit(&self, server: &Arc<str>, params: ElicitRequestParams) -> Answer<ElicitResult> {
        let server = server.to_string();
        let call = self.0.call(
            move |f| {
                let py = f.py();
                let json = |v: &Option<Value>| v.as_ref().map(|v| json_to_py(py, v).map(Bound::unbind)).transpose();
                let request = match params {
                    ElicitRequestParams::FormElicitationParams { meta, message, requested_schema, .. } => ElicitationRequest {
                        server,
                        mode: "form".into(),
                        message,
                        requested_schema: json(&serde_json::to_value(&requested_schema).ok())?,
                        url: None,
                        elicitation_id: None,
                        meta: json(&meta.and_then(|m| serde_json::to_value(m).ok()))?,
                    },
                    ElicitRequestParams::UrlElicitationParams { meta, message, url, elicitation_id } => ElicitationRequest {
                        server,
                        mode: "url".into(),
                        message,
                        requested_schema: None,
                        url: Some(url),
                        elicitation_id: Some(elicitation_id).filter(|i| !i.is_empty()),
                        meta: json(&meta.and_then(|m| serde_json::to_value(m).ok()))?,
                    },
                    _ => return Err(PyValueError::new_err("an elicitation mode this client does not know")),
                };
                f.call1((request,))
            },
            elicit_result,
        );
        Box::pin(async move { call.await.map_err(|e| handler_error("elicitation handler", e)) })
    }
}

/// None → decline; "accept"/"decline"/"cancel"; a dict with "action" (an ElicitResult); any
/// other dict → accept with it as content; a pydantic model → its dict.
fn elicit_result(value: &Bound<'_, PyAny>) -> Result<ElicitResult, TokenError> {
    if value.is_none() {
        return Ok(ElicitResult::new(ElicitationAction::Decline));
    }
    if let Ok(action) = value.extract::<String>() {
        return action_of(&action).map(ElicitResult::new);
    }
    let json = model_value(value)?;
    match json {
        Value::Object(map) if map.contains_key("action") => {
            serde_json::from_value(Value::Object(map)).map_err(|e| TokenError::new(format!("returned an invalid elicitation result: {e}")))
        }
        Value::Object(map) => Ok(ElicitResult::new(ElicitationAction::Accept).with_content(Value::Object(map))),
        _ => Err(TokenError::new(format!(
            "returned {}: expected None, \"accept\"/\"decline\"/\"cancel\", a dict of content or {{\"action\": …, \"content\": …}}",
            type_name(value)
        ))),
    }
}

fn action_of(action: &str) -> Result<ElicitationAction, TokenError> {
    match action {
        "accept" => Ok(ElicitationAction::Accept),
        "decline" => Ok(ElicitationAction::Decline),
        "cancel" => Ok(ElicitationAction::Cancel),
        other => Err(TokenError::new(format!("returned {other:?}: expected \"accept\", \"decline\" or \"cancel\""))),
    }
}

/// A value's JSON; a pydantic model (the SDK's types) by its wire names.
pub fn model_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    model_value(value).map_err(|e| match e.cause.as_ref().and_then(|c| c.downcast_ref::<PyErr>()) {
        Some(err) => Python::attach(|py| err.clone_ref(py)),
        None => PyValueError::new_err(e.message),
    })
}

fn model_value(value: &Bound<'_, PyAny>) -> Result<Value, TokenError> {
    let py = value.py();
    let value = if value.hasattr(intern!(py, "model_dump")).unwrap_or(false) {
        let kwargs = PyDict::new(py);
        let dumped = kwargs
            .set_item("by_alias", true)
            .and_then(|_| kwargs.set_item("exclude_none", true))
            .and_then(|_| kwargs.set_item("mode", "json"))
            .and_then(|_| value.call_method(intern!(py, "model_dump"), (), Some(&kwargs)));
        dumped.map_err(|e| crate::python::callback::failed(py, e))?
    } else {
        value.clone()
    };
    py_to_json(&value).map_err(|e| crate::python::callback::failed(py, e))
}

/// A server's `sampling/createMessage`, as the sampling handler sees it.
#[pyclass(frozen, get_all, module = "mcpfleet._core")]
pub struct SamplingRequest {
    server: String,
    /// The conversation: dicts with "role" and "content" (MCP's SamplingMessage).
    messages: Py<PyAny>,
    system_prompt: Option<String>,
    max_tokens: u32,
    temperature: Option<f64>,
    stop_sequences: Option<Vec<String>>,
    model_preferences: Option<Py<PyAny>>,
    include_context: Option<String>,
    metadata: Option<Py<PyAny>>,
    /// Tools the model may call (MCP tool dicts), if the server offers any.
    tools: Option<Py<PyAny>>,
}

#[pymethods]
impl SamplingRequest {
    /// The text of the last message, for handlers that answer plain prompts.
    #[getter]
    fn prompt(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let messages = self.messages.bind(py);
        let Ok(last) = messages.get_item(-1) else { return Ok(None) };
        let content = last.get_item("content")?;
        let text = if content.is_instance_of::<PyDict>() { content.get_item("text").ok() } else { None };
        Ok(text.and_then(|t| t.extract().ok()))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let count = self.messages.bind(py).len().unwrap_or(0);
        format!("SamplingRequest(server={}, messages={count}, max_tokens={}, system_prompt={})", py_str(&self.server), self.max_tokens, py_opt(self.system_prompt.as_deref().map(short).as_deref()))
    }
}

struct PySampling(Arc<PyCallback>);

impl Sampling for PySampling {
    fn create_message(&self, server: &Arc<str>, params: CreateMessageRequestParams) -> Answer<CreateMessageResult> {
        let server = server.to_string();
        let call = self.0.call(
            move |f| {
                let py = f.py();
                let json = |v: Option<Value>| v.as_ref().map(|v| json_to_py(py, v).map(Bound::unbind)).transpose();
                let request = SamplingRequest {
                    server,
                    messages: json_to_py(py, &serde_json::to_value(&params.messages).unwrap_or_default())?.unbind(),
                    system_prompt: params.system_prompt,
                    max_tokens: params.max_tokens,
                    temperature: params.temperature.map(f64::from),
                    stop_sequences: params.stop_sequences,
                    model_preferences: json(params.model_preferences.and_then(|p| serde_json::to_value(p).ok()))?,
                    include_context: params.include_context.and_then(|c| serde_json::to_value(c).ok()).and_then(|v| v.as_str().map(str::to_owned)),
                    metadata: json(params.metadata)?,
                    tools: json(params.tools.and_then(|t| serde_json::to_value(t).ok()))?,
                };
                f.call1((request,))
            },
            sampling_result,
        );
        Box::pin(async move { call.await.map_err(|e| handler_error("sampling handler", e)) })
    }
}

/// A string → the assistant's text; a dict (or pydantic model) → a CreateMessageResult, with
/// "role" defaulting to "assistant" and "model" to "unknown".
fn sampling_result(value: &Bound<'_, PyAny>) -> Result<CreateMessageResult, TokenError> {
    if let Ok(text) = value.extract::<String>() {
        let mut result = CreateMessageResult::new(SamplingMessage::assistant_text(text), "unknown".into());
        result.stop_reason = Some(CreateMessageResult::STOP_REASON_END_TURN.into());
        return Ok(result);
    }
    let Value::Object(mut map) = model_value(value)? else {
        return Err(TokenError::new(format!("returned {}: expected a string or a dict with \"content\"", type_name(value))));
    };
    map.entry("role").or_insert_with(|| Value::from("assistant"));
    map.entry("model").or_insert_with(|| Value::from("unknown"));
    if let Some(Value::String(text)) = map.get("content") {
        let content = Value::Object(Map::from_iter([("type".into(), Value::from("text")), ("text".into(), Value::from(text.as_str()))]));
        map.insert("content".into(), content);
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| TokenError::new(format!("returned an invalid sampling result: {e}")))
}

struct PyRoots(Arc<PyCallback>);

impl RootsSource for PyRoots {
    fn list_roots(&self, _server: &Arc<str>) -> Answer<ListRootsResult> {
        let call = self.0.call(|f| f.call0(), |value| {
            root_list(value).map(ListRootsResult::new).map_err(|e| crate::python::callback::failed(value.py(), e))
        });
        Box::pin(async move { call.await.map_err(|e| handler_error("roots callable", e)) })
    }
}

/// A server's log message, as the log handler sees it.
#[pyclass(frozen, get_all, module = "mcpfleet._core")]
pub struct LogMessage {
    server: String,
    /// "debug", "info", "notice", "warning", "error", "critical", "alert" or "emergency".
    level: String,
    logger: Option<String>,
    /// What the server logged: usually a string, any JSON value.
    data: Py<PyAny>,
}

#[pymethods]
impl LogMessage {
    fn __repr__(&self, py: Python<'_>) -> String {
        let data = self.data.bind(py).str().map(|s| s.to_string()).unwrap_or_default();
        format!("LogMessage(server={}, level={}, logger={}, data={})", py_str(&self.server), py_str(&self.level), py_opt(self.logger.as_deref()), py_str(&short(&data)))
    }
}

struct PyLog(Arc<PyCallback>);

impl LogSink for PyLog {
    fn log(&self, server: &Arc<str>, params: LoggingMessageNotificationParam) {
        let server = server.to_string();
        self.0.fire(move |f| {
            let level = serde_json::to_value(params.level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let message = LogMessage { server, level, logger: params.logger, data: json_to_py(f.py(), &params.data)?.unbind() };
            f.call1((message,))
        });
    }
}

/// A call's `progress=` callback: called with (progress, total, message).
pub fn progress_sink(callback: Option<&Bound<'_, PyAny>>) -> PyResult<Option<ProgressSink>> {
    let Some(f) = callable(callback, "progress")? else { return Ok(None) };
    let callback = PyCallback::new(&f, "the progress callback");
    Ok(Some(Arc::new(move |p: ProgressNotificationParam| {
        callback.fire(move |f| f.call1((p.progress, p.total, p.message)));
    })))
}
