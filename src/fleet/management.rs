//! The management operations as MCP tools (`mcpserver_list`, `_get`, `_create`, `_update`,
//! `_delete`, `_validate`), offered only when the fleet owner asks for them: creating a stdio
//! server runs a command.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{Value, json};

use crate::error::Error;
use crate::fleet::load::{load_update, load_value};
use crate::fleet::manager::{Fleet, ServerInfo};

pub const TOOL_NAMES: [&str; 6] = ["mcpserver_list", "mcpserver_get", "mcpserver_create", "mcpserver_update", "mcpserver_delete", "mcpserver_validate"];

fn schema(value: Value) -> Arc<JsonObject> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

fn spec_schema() -> Value {
    json!({
        "type": "object",
        "description": "An MCPServer definition: name, type (stdio | streamable-http | sse), command/args/env/cwd for stdio, url/headers for remote servers, toolPrefix, description, autoStart, timeout.",
        "properties": {
            "name": {"type": "string"}, "type": {"type": "string", "enum": ["stdio", "streamable-http", "sse"]},
            "command": {"type": "string"}, "args": {"type": "array", "items": {"type": "string"}},
            "env": {"type": "object", "additionalProperties": {"type": "string"}}, "cwd": {"type": "string"},
            "url": {"type": "string"}, "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "toolPrefix": {"type": "string"}, "description": {"type": "string"}, "autoStart": {"type": "boolean"},
            "timeout": {"type": "number"}
        },
        "required": ["name"]
    })
}

pub fn tools() -> Vec<Tool> {
    let name_only = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    vec![
        Tool::new("mcpserver_list", "Lists the MCP servers of the fleet with their state.", schema(json!({"type": "object", "properties": {}}))),
        Tool::new("mcpserver_get", "Shows one MCP server: definition (secrets redacted), state, last error, tools, restarts.", schema(name_only.clone())),
        Tool::new("mcpserver_create", "Registers a new MCP server (and starts it when autoStart is true).", schema(json!({"type": "object", "properties": {"spec": spec_schema()}, "required": ["spec"]}))),
        Tool::new(
            "mcpserver_update",
            "Replaces an MCP server's definition; a running server restarts when needed.",
            schema(json!({"type": "object", "properties": {"name": {"type": "string"}, "spec": spec_schema()}, "required": ["name", "spec"]})),
        ),
        Tool::new("mcpserver_delete", "Stops and removes an MCP server.", schema(name_only)),
        Tool::new("mcpserver_validate", "Checks an MCP server definition without registering it.", schema(json!({"type": "object", "properties": {"spec": spec_schema()}, "required": ["spec"]}))),
    ]
}

pub fn info_json(info: &ServerInfo) -> Value {
    json!({
        "name": info.definition.name,
        "type": info.definition.kind.as_str(),
        "state": info.state.as_str(),
        "toolPrefix": info.definition.prefix(),
        "description": info.definition.description,
        "autoStart": info.definition.auto_start,
        "lastError": info.last_error,
        "toolCount": info.tool_count,
        "restartCount": info.restart_count,
        "uptimeSeconds": info.uptime.map(|d| d.as_secs_f64()),
        "pid": info.pid,
        "definition": info.definition.redacted_json(),
    })
}

/// What a model reads goes through the same redaction as messages and logs.
fn ok(mut value: Value) -> CallToolResult {
    crate::util::redact::scrub_json(&mut value);
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    result
}

fn failed(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(crate::util::redact::scrub(&message))])
}

fn arg<'a>(args: &'a JsonObject, name: &str) -> Result<&'a Value, String> {
    args.get(name).ok_or_else(|| format!("`{name}` argument is required"))
}

fn name_arg(args: &JsonObject) -> Result<String, String> {
    arg(args, "name")?.as_str().map(str::to_string).ok_or_else(|| "`name` must be a string".into())
}

/// Runs a management tool; `None` when `tool` is not one. Failures are tool errors
/// (`is_error`), as MCP wants, never exceptions.
pub async fn call(fleet: &Fleet, tool: &str, args: Option<JsonObject>) -> Option<CallToolResult> {
    if !TOOL_NAMES.contains(&tool) {
        return None;
    }
    let args = args.unwrap_or_default();
    let outcome: Result<Value, String> = async {
        match tool {
            "mcpserver_list" => {
                let servers: Vec<Value> = fleet.list().iter().map(info_json).collect();
                Ok(json!({"total": servers.len(), "mcpServers": servers}))
            }
            "mcpserver_get" => fleet.info(&name_arg(&args)?).map(|i| info_json(&i)).map_err(|e| e.to_string()),
            "mcpserver_validate" => match load_value(arg(&args, "spec")?, "spec") {
                Ok(defs) => Ok(json!({"valid": true, "names": defs.iter().map(|d| d.name.clone()).collect::<Vec<_>>()})),
                Err(problems) => Ok(json!({"valid": false, "problems": problems.iter().map(|p| p.to_string()).collect::<Vec<_>>()})),
            },
            "mcpserver_create" => {
                let defs = load_value(arg(&args, "spec")?, "spec").map_err(|p| Error::Invalid(p).to_string())?;
                let infos = fleet.create(defs, true).await.map_err(|e| e.to_string())?;
                Ok(json!({"created": infos.iter().map(info_json).collect::<Vec<_>>()}))
            }
            "mcpserver_update" => {
                let name = name_arg(&args)?;
                let def = load_update(&name, arg(&args, "spec")?, "spec").map_err(|e| e.to_string())?;
                let started = fleet.update(&name, def, true).await;
                let info = fleet.info(&name).map_err(|e| e.to_string())?;
                let mut value = info_json(&info);
                if let Err(e) = started {
                    value["startError"] = e.to_string().into();
                }
                Ok(value)
            }
            "mcpserver_delete" => {
                let name = name_arg(&args)?;
                fleet.remove(&name).await.map_err(|e| e.to_string())?;
                Ok(json!({"deleted": name}))
            }
            _ => unreachable!("checked above"),
        }
    }
    .await;
    Some(match outcome {
        Ok(value) => ok(value),
        Err(message) => failed(message),
    })
}
