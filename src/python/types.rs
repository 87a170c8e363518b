//! Result objects. Each wraps the rmcp value and converts fields to Python when read, so a
//! call pays only for what the caller looks at.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rmcp::model;
use serde::Serialize;

use crate::python::convert::{json_to_py, object_to_py};

pub fn to_py_value<'py, T: Serialize>(py: Python<'py>, value: &Option<T>) -> PyResult<Bound<'py, PyAny>> {
    match value {
        None => Ok(py.None().into_bound(py)),
        Some(v) => json_to_py(py, &serde_json::to_value(v).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?),
    }
}

/// Python's repr of a str (single quotes unless the text has one).
pub fn py_str(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

pub fn py_opt(text: Option<&str>) -> String {
    text.map(py_str).unwrap_or_else(|| "None".into())
}

pub fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

pub fn py_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    format!("[{}]", items.into_iter().map(py_str).collect::<Vec<_>>().join(", "))
}

pub fn short(text: &str) -> String {
    if text.chars().count() > 60 { format!("{}…", text.chars().take(60).collect::<String>()) } else { text.to_string() }
}

/// A value as the MCP specification spells it: dicts with camelCase keys, as on the wire.
pub fn wire_dict<'py, T: Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    json_to_py(py, &serde_json::to_value(value).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?)
}

/// The same value as the official `mcp` SDK's model `mcp.types.<name>`, for code built on the
/// SDK's types (OpenAI Agents, LangChain's adapters, mcpadapt, smolagents, CrewAI).
pub fn sdk_model<'py>(py: Python<'py>, name: &str, dict: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let types = py.import("mcp.types").map_err(|e| {
        pyo3::exceptions::PyImportError::new_err(format!("to_mcp() needs the official MCP SDK: pip install mcp ({e})"))
    })?;
    types.getattr(name)?.call_method1("model_validate", (dict,))
}

/// The notebook display (`_repr_html_`), made by `mcpfleet._display` from the public getters.
pub fn html_of(value: &Bound<'_, PyAny>) -> PyResult<String> {
    value.py().import("mcpfleet._display")?.call_method1("html_of", (value,))?.extract()
}

/// A client's tools, as `mcpfleet._display.ToolList` (a list shown as a table in a notebook).
pub struct ToolList(pub Vec<Tool>);

impl<'py> IntoPyObject<'py> for ToolList {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let items = PyList::new(py, self.0)?;
        py.import(pyo3::intern!(py, "mcpfleet._display"))?.getattr(pyo3::intern!(py, "ToolList"))?.call1((items,))
    }
}

/// A tool offered by a server, and its `execution` (2025-11-25), which rmcp's type drops.
#[pyclass(module = "mcpfleet", frozen)]
pub struct Tool(pub model::Tool, pub Option<model::JsonObject>);

/// A tool as the specification spells it, `execution` included.
pub fn tool_dict<'py>(py: Python<'py>, tool: &model::Tool, execution: Option<&model::JsonObject>) -> PyResult<Bound<'py, PyAny>> {
    let mut value = serde_json::to_value(tool).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    if let (Some(execution), Some(object)) = (execution, value.as_object_mut()) {
        object.insert("execution".into(), serde_json::Value::Object(execution.clone()));
    }
    json_to_py(py, &value)
}

#[pymethods]
impl Tool {
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        html_of(slf.as_any())
    }
    /// The value as the MCP specification spells it: a dict with camelCase keys.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        tool_dict(py, &self.0, self.1.as_ref())
    }
    /// The same value as the official `mcp` SDK's `mcp.types.Tool`.
    fn to_mcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        sdk_model(py, "Tool", self.to_dict(py)?)
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    #[getter]
    fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    #[getter]
    fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// JSON Schema of the arguments, as a dict.
    #[getter]
    fn input_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        object_to_py(py, &self.0.input_schema)
    }
    #[getter]
    fn output_schema<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.0.output_schema.as_ref().map(|s| object_to_py(py, s)).transpose()
    }
    /// Hints such as `readOnlyHint`, `destructiveHint` (a dict), or None.
    #[getter]
    fn annotations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &self.0.annotations)
    }
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &self.0.meta)
    }
    /// Icons for the tool (each a dict: `src`, `mimeType`, `sizes`, `theme`).
    #[getter]
    fn icons<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &self.0.icons)
    }
    /// What the tool says about tasks (protocol 2025-11-25), e.g. ``{"taskSupport": "required"}``, or None.
    #[getter]
    fn execution<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &self.1)
    }
    fn __repr__(&self) -> String {
        format!("Tool(name={}, description={})", py_str(&self.0.name), py_opt(self.0.description.as_deref().map(short).as_deref()))
    }
}

/// The outcome of a tool call. A failed tool has `is_error=True`; it is not an exception.
#[pyclass(module = "mcpfleet", frozen)]
pub struct CallToolResult(pub model::CallToolResult);

#[pymethods]
impl CallToolResult {
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        html_of(slf.as_any())
    }
    /// The value as the MCP specification spells it: a dict with camelCase keys.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        wire_dict(py, &self.0)
    }
    /// The same value as the official `mcp` SDK's `mcp.types.CallToolResult`.
    fn to_mcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        sdk_model(py, "CallToolResult", self.to_dict(py)?)
    }
    /// Content blocks: TextContent, ImageContent, AudioContent, EmbeddedResource, ResourceLink.
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        content_list(py, &self.0.content)
    }
    #[getter]
    fn structured_content<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.0.structured_content {
            Some(v) => json_to_py(py, v),
            None => Ok(py.None().into_bound(py)),
        }
    }
    #[getter]
    fn is_error(&self) -> bool {
        self.0.is_error.unwrap_or(false)
    }
    /// The text blocks joined by newlines ("" when there are none).
    #[getter]
    fn text(&self) -> String {
        join_text(self.0.content.iter().filter_map(|c| match c {
            model::ContentBlock::Text(t) => Some(t.text.as_str()),
            _ => None,
        }))
    }
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &self.0.meta)
    }
    fn __repr__(&self) -> String {
        format!("CallToolResult(is_error={}, text={}, content_blocks={})", py_bool(self.is_error()), py_str(&short(&self.text())), self.0.content.len())
    }
}

fn join_text<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(part);
    }
    out
}

fn content_list<'py>(py: Python<'py>, blocks: &[model::ContentBlock]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for block in blocks {
        list.append(content_to_py(py, block)?)?;
    }
    Ok(list)
}

fn content_to_py<'py>(py: Python<'py>, block: &model::ContentBlock) -> PyResult<Bound<'py, PyAny>> {
    Ok(match block {
        model::ContentBlock::Text(t) => Bound::new(
            py,
            TextContent {
                text: t.text.clone(),
                annotations: to_py_value(py, &t.annotations)?.unbind(),
                meta: to_py_value(py, &t.meta)?.unbind(),
            },
        )?
        .into_any(),
        model::ContentBlock::Image(i) => Bound::new(
            py,
            ImageContent {
                data: i.data.clone(),
                mime_type: i.mime_type.clone(),
                annotations: to_py_value(py, &i.annotations)?.unbind(),
            },
        )?
        .into_any(),
        model::ContentBlock::Audio(a) => Bound::new(
            py,
            AudioContent {
                data: a.data.clone(),
                mime_type: a.mime_type.clone(),
                annotations: to_py_value(py, &a.annotations)?.unbind(),
            },
        )?
        .into_any(),
        model::ContentBlock::Resource(r) => Bound::new(
            py,
            EmbeddedResource { resource: resource_contents_to_py(py, &r.resource)?.unbind(), annotations: to_py_value(py, &r.annotations)?.unbind() },
        )?
        .into_any(),
        model::ContentBlock::ResourceLink(r) => Bound::new(py, ResourceLink(r.clone()))?.into_any(),
        // Content types newer than this build: handed over as a plain dict.
        #[allow(unreachable_patterns)]
        other => json_to_py(py, &serde_json::to_value(other).unwrap_or_default())?,
    })
}

/// Text content. `type` is "text".
#[pyclass(module = "mcpfleet", frozen, get_all)]
pub struct TextContent {
    text: String,
    annotations: Py<PyAny>,
    meta: Py<PyAny>,
}

#[pymethods]
impl TextContent {
    #[getter(r#type)]
    fn kind(&self) -> &'static str {
        "text"
    }
    fn __repr__(&self) -> String {
        format!("TextContent(text={})", py_str(&short(&self.text)))
    }
}

/// Base64 image data. `type` is "image".
#[pyclass(module = "mcpfleet", frozen, get_all)]
pub struct ImageContent {
    data: String,
    mime_type: String,
    annotations: Py<PyAny>,
}

#[pymethods]
impl ImageContent {
    #[getter(r#type)]
    fn kind(&self) -> &'static str {
        "image"
    }
    fn __repr__(&self) -> String {
        format!("ImageContent(mime_type={}, data=<{} base64 chars>)", py_str(&self.mime_type), self.data.len())
    }
}

/// Base64 audio data. `type` is "audio".
#[pyclass(module = "mcpfleet", frozen, get_all)]
pub struct AudioContent {
    data: String,
    mime_type: String,
    annotations: Py<PyAny>,
}

#[pymethods]
impl AudioContent {
    #[getter(r#type)]
    fn kind(&self) -> &'static str {
        "audio"
    }
    fn __repr__(&self) -> String {
        format!("AudioContent(mime_type={}, data=<{} base64 chars>)", py_str(&self.mime_type), self.data.len())
    }
}

/// A resource embedded in a result. `type` is "resource".
#[pyclass(module = "mcpfleet", frozen, get_all)]
pub struct EmbeddedResource {
    /// TextResourceContents or BlobResourceContents.
    resource: Py<PyAny>,
    annotations: Py<PyAny>,
}

#[pymethods]
impl EmbeddedResource {
    #[getter(r#type)]
    fn kind(&self) -> &'static str {
        "resource"
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("EmbeddedResource(resource={})", self.resource.bind(py).repr()?))
    }
}

/// A link to a resource. `type` is "resource_link".
#[pyclass(module = "mcpfleet", frozen)]
pub struct ResourceLink(model::Resource);

#[pymethods]
impl ResourceLink {
    #[getter(r#type)]
    fn kind(&self) -> &'static str {
        "resource_link"
    }
    #[getter]
    fn uri(&self) -> &str {
        &self.0.uri
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    #[getter]
    fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    #[getter]
    fn mime_type(&self) -> Option<&str> {
        self.0.mime_type.as_deref()
    }
    fn __repr__(&self) -> String {
        format!("ResourceLink(uri={}, name={})", py_str(&self.0.uri), py_str(&self.0.name))
    }
}

/// A resource a server lists.
#[pyclass(module = "mcpfleet", frozen)]
pub struct Resource(pub model::Resource);

#[pymethods]
impl Resource {
    /// The value as the MCP specification spells it: a dict with camelCase keys.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        wire_dict(py, &self.0)
    }
    /// The same value as the official `mcp` SDK's `mcp.types.Resource`.
    fn to_mcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        sdk_model(py, "Resource", self.to_dict(py)?)
    }
    #[getter]
    fn uri(&self) -> &str {
        &self.0.uri
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    #[getter]
    fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    #[getter]
    fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    #[getter]
    fn mime_type(&self) -> Option<&str> {
        self.0.mime_type.as_deref()
    }
    #[getter]
    fn size(&self) -> Option<u64> {
        self.0.size
    }
    fn __repr__(&self) -> String {
        format!("Resource(uri={}, name={})", py_str(&self.0.uri), py_str(&self.0.name))
    }
}

/// A family of resources a server can read, named by an RFC 6570 URI template.
#[pyclass(module = "mcpfleet", frozen)]
pub struct ResourceTemplate(pub model::ResourceTemplate);

#[pymethods]
impl ResourceTemplate {
    /// The value as the MCP specification spells it: a dict with camelCase keys.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        wire_dict(py, &self.0)
    }
    /// The same value as the official `mcp` SDK's `mcp.types.ResourceTemplate`.
    fn to_mcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        sdk_model(py, "ResourceTemplate", self.to_dict(py)?)
    }
    #[getter]
    fn uri_template(&self) -> &str {
        &self.0.uri_template
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    #[getter]
    fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    #[getter]
    fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    #[getter]
    fn mime_type(&self) -> Option<&str> {
        self.0.mime_type.as_deref()
    }
    fn __repr__(&self) -> String {
        format!("ResourceTemplate(uri_template={}, name={})", py_str(&self.0.uri_template), py_str(&self.0.name))
    }
}

/// Text contents of a resource.
#[pyclass(module = "mcpfleet", frozen, get_all)]
pub struct TextResourceContents {
    uri: String,
    mime_type: Option<String>,
    text: String,
}

#[pymethods]
impl TextResourceContents {
    fn __repr__(&self) -> String {
        format!("TextResourceContents(uri={}, text={})", py_str(&self.uri), py_str(&short(&self.text)))
    }
}

/// Binary contents of a resource, base64 in `blob`.
#[pyclass(module = "mcpfleet", frozen, get_all)]
pub struct BlobResourceContents {
    uri: String,
    mime_type: Option<String>,
    blob: String,
}

#[pymethods]
impl BlobResourceContents {
    fn __repr__(&self) -> String {
        format!("BlobResourceContents(uri={}, blob=<{} base64 chars>)", py_str(&self.uri), self.blob.len())
    }
}

fn resource_contents_to_py<'py>(py: Python<'py>, contents: &model::ResourceContents) -> PyResult<Bound<'py, PyAny>> {
    Ok(match contents {
        model::ResourceContents::TextResourceContents { uri, mime_type, text, .. } => {
            Bound::new(py, TextResourceContents { uri: uri.clone(), mime_type: mime_type.clone(), text: text.clone() })?.into_any()
        }
        model::ResourceContents::BlobResourceContents { uri, mime_type, blob, .. } => {
            Bound::new(py, BlobResourceContents { uri: uri.clone(), mime_type: mime_type.clone(), blob: blob.clone() })?.into_any()
        }
        #[allow(unreachable_patterns)]
        other => json_to_py(py, &serde_json::to_value(other).unwrap_or_default())?,
    })
}

/// The result of `read_resource`.
#[pyclass(module = "mcpfleet", frozen)]
pub struct ReadResourceResult(pub model::ReadResourceResult);

#[pymethods]
impl ReadResourceResult {
    /// The value as the MCP specification spells it: a dict with camelCase keys.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        wire_dict(py, &self.0)
    }
    /// The same value as the official `mcp` SDK's `mcp.types.ReadResourceResult`.
    fn to_mcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        sdk_model(py, "ReadResourceResult", self.to_dict(py)?)
    }
    /// TextResourceContents and BlobResourceContents items.
    #[getter]
    fn contents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for c in &self.0.contents {
            list.append(resource_contents_to_py(py, c)?)?;
        }
        Ok(list)
    }
    /// The text contents joined by newlines.
    #[getter]
    fn text(&self) -> String {
        join_text(self.0.contents.iter().filter_map(|c| match c {
            model::ResourceContents::TextResourceContents { text, .. } => Some(text.as_str()),
            _ => None,
        }))
    }
    fn __repr__(&self) -> String {
        format!("ReadResourceResult(contents={})", self.0.contents.len())
    }
}

/// An argument a prompt takes.
#[pyclass(module = "mcpfleet", frozen, get_all)]
pub struct PromptArgument {
    name: String,
    title: Option<String>,
    description: Option<String>,
    required: bool,
}

#[pymethods]
impl PromptArgument {
    fn __repr__(&self) -> String {
        format!("PromptArgument(name={}, required={})", py_str(&self.name), py_bool(self.required))
    }
}

/// A prompt a server offers.
#[pyclass(module = "mcpfleet", frozen)]
pub struct Prompt(pub model::Prompt);

#[pymethods]
impl Prompt {
    /// The value as the MCP specification spells it: a dict with camelCase keys.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        wire_dict(py, &self.0)
    }
    /// The same value as the official `mcp` SDK's `mcp.types.Prompt`.
    fn to_mcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        sdk_model(py, "Prompt", self.to_dict(py)?)
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    #[getter]
    fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    #[getter]
    fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    #[getter]
    fn arguments(&self) -> Vec<PromptArgument> {
        self.0
            .arguments
            .iter()
            .flatten()
            .map(|a| PromptArgument {
                name: a.name.clone(),
                title: a.title.clone(),
                description: a.description.clone(),
                required: a.required.unwrap_or(false),
            })
            .collect()
    }
    fn __repr__(&self) -> String {
        format!("Prompt(name={}, description={})", py_str(&self.0.name), py_opt(self.0.description.as_deref().map(short).as_deref()))
    }
}

/// One message of a prompt: `role` ("user" or "assistant") and a content block.
#[pyclass(module = "mcpfleet", frozen, get_all)]
pub struct PromptMessage {
    role: String,
    content: Py<PyAny>,
}

#[pymethods]
impl PromptMessage {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("PromptMessage(role={}, content={})", py_str(&self.role), self.content.bind(py).repr()?))
    }
}

/// The result of `get_prompt`.
#[pyclass(module = "mcpfleet", frozen)]
pub struct GetPromptResult(pub model::GetPromptResult);

#[pymethods]
impl GetPromptResult {
    /// The value as the MCP specification spells it: a dict with camelCase keys.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        wire_dict(py, &self.0)
    }
    /// The same value as the official `mcp` SDK's `mcp.types.GetPromptResult`.
    fn to_mcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        sdk_model(py, "GetPromptResult", self.to_dict(py)?)
    }
    #[getter]
    fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    #[getter]
    fn messages(&self, py: Python<'_>) -> PyResult<Vec<PromptMessage>> {
        self.0
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    model::Role::User => "user",
                    model::Role::Assistant => "assistant",
                };
                Ok(PromptMessage { role: role.into(), content: content_to_py(py, &m.content)?.unbind() })
            })
            .collect()
    }
    fn __repr__(&self) -> String {
        format!("GetPromptResult(messages={})", self.0.messages.len())
    }
}

/// What the server said about itself in the `initialize` handshake.
#[pyclass(module = "mcpfleet", frozen)]
pub struct ServerInfo(pub std::sync::Arc<model::ServerPeerInfo>);

#[pymethods]
impl ServerInfo {
    /// The value as the MCP specification spells it: a dict with camelCase keys.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        wire_dict(py, &*self.0)
    }
    /// The same value as the official `mcp` SDK's `mcp.types.InitializeResult`.
    fn to_mcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        sdk_model(py, "InitializeResult", self.to_dict(py)?)
    }
    #[getter]
    fn name(&self) -> Option<&str> {
        self.0.server_info.as_ref().map(|i| i.name.as_str())
    }
    #[getter]
    fn version(&self) -> Option<&str> {
        self.0.server_info.as_ref().map(|i| i.version.as_str())
    }
    #[getter]
    fn title(&self) -> Option<&str> {
        self.0.server_info.as_ref().and_then(|i| i.title.as_deref())
    }
    /// The negotiated MCP protocol version, e.g. "2025-11-25".
    #[getter]
    fn protocol_version(&self) -> String {
        self.0.protocol_version.to_string()
    }
    #[getter]
    fn instructions(&self) -> Option<&str> {
        self.0.instructions.as_deref()
    }
    /// The server's capabilities as a dict (`tools`, `resources`, `prompts`, `logging`, ...).
    #[getter]
    fn capabilities<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &Some(&self.0.capabilities))
    }
    fn __repr__(&self) -> String {
        format!("ServerInfo(name={}, version={}, protocol_version={})", py_opt(self.name()), py_opt(self.version()), py_str(&self.protocol_version()))
    }
}
