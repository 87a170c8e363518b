//! Structured tool results checked against the tool's `outputSchema`, as the official SDK does:
//! a tool that declares one must return matching `structuredContent` (unless it failed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use rmcp::model::{CallToolResult, Tool};
use serde_json::Value;

/// Validators of the tools last listed that declare an `outputSchema`.
#[derive(Default)]
pub struct OutputSchemas {
    /// Whether any is known: calls to servers without output schemas skip the lookup.
    any: AtomicBool,
    validators: RwLock<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl OutputSchemas {
    /// Compiles the schemas of a fresh tool list (a schema that does not compile is not checked).
    pub fn learn(&self, tools: &[Tool]) {
        let mut validators = HashMap::new();
        for tool in tools {
            let Some(schema) = &tool.output_schema else { continue };
            match jsonschema::validator_for(&Value::Object(schema.as_ref().clone())) {
                Ok(validator) => {
                    validators.insert(tool.name.to_string(), Arc::new(validator));
                }
                Err(e) => tracing::debug!(tool = %tool.name, "the tool's outputSchema is not a valid JSON Schema, so its results are not checked: {e}"),
            }
        }
        self.any.store(!validators.is_empty(), Ordering::Release);
        *self.validators.write().unwrap_or_else(|e| e.into_inner()) = validators;
    }

    /// Why `result` does not match the tool's `outputSchema`, if it does not.
    pub fn check(&self, tool: &str, result: &CallToolResult) -> Result<(), String> {
        if !self.any.load(Ordering::Acquire) || result.is_error == Some(true) {
            return Ok(());
        }
        let Some(validator) = self.validators.read().unwrap_or_else(|e| e.into_inner()).get(tool).cloned() else { return Ok(()) };
        let Some(structured) = &result.structured_content else {
            return Err("the tool declares an outputSchema but returned no structuredContent".into());
        };
        let problems: Vec<String> = validator
            .iter_errors(structured)
            .take(3)
            .map(|e| {
                let path = e.instance_path().to_string();
                if path.is_empty() { e.to_string() } else { format!("at {path}: {e}") }
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        Err(format!("the structuredContent does not match the tool's outputSchema: {}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(schema: Value) -> Tool {
        serde_json::from_value(serde_json::json!({"name": "t", "inputSchema": {"type": "object"}, "outputSchema": schema})).unwrap()
    }

    fn result(json: Value) -> CallToolResult {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn results_are_held_to_the_schema_of_their_tool() {
        let schemas = OutputSchemas::default();
        let plain = result(serde_json::json!({"content": []}));
        assert!(schemas.check("t", &plain).is_ok(), "nothing known, nothing checked");
        schemas.learn(&[tool(serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}))]);
        assert!(schemas.check("t", &result(serde_json::json!({"content": [], "structuredContent": {"n": 3}}))).is_ok());
        let wrong = schemas.check("t", &result(serde_json::json!({"content": [], "structuredContent": {"n": "three"}}))).unwrap_err();
        assert!(wrong.contains("at /n") && wrong.contains("integer"), "{wrong}");
        assert!(schemas.check("t", &plain).unwrap_err().contains("no structuredContent"));
        assert!(schemas.check("t", &result(serde_json::json!({"content": [], "isError": true}))).is_ok(), "a failed call is not checked");
        assert!(schemas.check("other", &plain).is_ok());
    }
}
