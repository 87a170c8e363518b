//! Tool search for big fleets: instead of hundreds of tools, a client sees two, `search_tools`
//! (ranked over names and descriptions) and `call_tool` (by the name a search returned).

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{Value, json};

use crate::fleet::manager::{Catalog, CatalogTool};

pub const SEARCH_TOOLS: &str = "search_tools";
pub const CALL_TOOL: &str = "call_tool";
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 50;

fn schema(value: Value) -> Arc<JsonObject> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

/// The two tools published instead of the catalog.
pub fn tools(total: usize) -> Vec<Tool> {
    vec![
        Tool::new(
            SEARCH_TOOLS,
            format!(
                "Finds tools among the {total} of this fleet by what they do: give a few words (\"create github issue\", \"read file\"). \
                 Returns the best matches with their names, descriptions and input schemas; call one with `call_tool`."
            ),
            schema(json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words describing the task."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": format!("At most this many results (default {DEFAULT_LIMIT}).")}
                },
                "required": ["query"]
            })),
        ),
        Tool::new(
            CALL_TOOL,
            "Calls a tool of this fleet by the name `search_tools` returned, with its arguments.",
            schema(json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The tool's name, as search_tools gave it."},
                    "arguments": {"type": "object", "description": "The tool's arguments, as its input schema says."}
                },
                "required": ["name"]
            })),
        ),
    ]
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// How well a tool matches the query words: a word in the name counts three, in the
/// description one; a word that is a prefix of one counts half. Ties keep catalog order.
fn score(tool: &CatalogTool, query: &[String]) -> f64 {
    let name = words(&tool.public_name);
    let description = words(tool.tool.description.as_deref().unwrap_or_default());
    query
        .iter()
        .map(|q| {
            let hit = |ws: &[String]| {
                if ws.iter().any(|w| w == q) {
                    1.0
                } else if ws.iter().any(|w| w.starts_with(q.as_str()) || (q.len() > 3 && w.contains(q.as_str()))) {
                    0.5
                } else {
                    0.0
                }
            };
            3.0 * hit(&name) + hit(&description)
        })
        .sum()
}

/// The best matches for `query`, at most `limit`.
pub fn search<'a>(tools: &'a [CatalogTool], query: &str, limit: usize) -> Vec<&'a CatalogTool> {
    let query = words(query);
    let mut ranked: Vec<(f64, usize, &CatalogTool)> =
        tools.iter().enumerate().map(|(i, t)| (score(t, &query), i, t)).filter(|(s, _, _)| *s > 0.0).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().take(limit.clamp(1, MAX_LIMIT)).map(|(_, _, t)| t).collect()
}

/// `search_tools(query, limit)` as a tool result.
pub fn search_result(catalog: &Catalog, arguments: Option<&JsonObject>) -> CallToolResult {
    let Some(query) = arguments.and_then(|a| a.get("query")).and_then(Value::as_str) else {
        return CallToolResult::error(vec![ContentBlock::text("`query` (a string) is required")]);
    };
    let limit = arguments.and_then(|a| a.get("limit")).and_then(Value::as_u64).map_or(DEFAULT_LIMIT, |l| l as usize);
    let found: Vec<Value> = search(&catalog.tools, query, limit)
        .into_iter()
        .map(|t| {
            json!({
                "name": t.public_name,
                "description": t.tool.description,
                "inputSchema": Value::Object((*t.tool.input_schema).clone()),
                "server": t.server,
            })
        })
        .collect();
    let value = json!({ "tools": found, "total": catalog.tools.len() });
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, description: &str) -> CatalogTool {
        CatalogTool {
            public_name: name.into(),
            server: "s".into(),
            tool: Tool::new(name.to_string(), description.to_string(), Arc::new(JsonObject::new())),
            execution: None,
        }
    }

    #[test]
    fn ranks_names_over_descriptions() {
        let catalog = vec![
            tool("files_read_file", "Reads a file from disk."),
            tool("github_create_issue", "Opens an issue in a repository."),
            tool("github_list_issues", "Lists the issues of a repository."),
            tool("time_now", "The current time."),
        ];
        let names = |q: &str| search(&catalog, q, 10).into_iter().map(|t| t.public_name.as_str()).collect::<Vec<_>>();
        assert_eq!(names("create issue"), ["github_create_issue", "github_list_issues"]);
        assert_eq!(names("FILE"), ["files_read_file"]);
        assert_eq!(names("repository"), ["github_create_issue", "github_list_issues"]);
        assert!(names("zebra").is_empty());
        assert_eq!(search(&catalog, "issue", 1).len(), 1);
    }
}
