//! The built-in MCP server: small, native and fast. It is the quickstart's default server and
//! the reference server for benchmarks (so a benchmark measures the client, not the server).
//! Started with `python -m mcpfleet.demo_server` (stdio) or `--http PORT` (streamable HTTP).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    GetPromptResult, Implementation, JsonObject, ListPromptsResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, Role, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

pub const GREETING_URI: &str = "demo://greeting";
pub const GREETING_TEXT: &str = "Hello from the mcpfleet demo server!";

/// One per session. `toggle_tool` adds or removes the tool `extra` and tells the client
/// (`notifications/tools/list_changed`), to exercise clients that follow tool-list changes.
#[derive(Clone, Default)]
pub struct DemoServer {
    extra: Arc<std::sync::atomic::AtomicBool>,
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("schemas are objects"),
    }
}

fn tools() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        vec![
            Tool::new(
                "echo",
                "Returns the text it is given.",
                schema(json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})),
            ),
            Tool::new(
                "add",
                "Adds two numbers; the sum is in the text and in structured content.",
                schema(json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]})),
            ),
            Tool::new(
                "sleep",
                "Waits the given number of seconds, then answers. Honours cancellation.",
                schema(json!({"type": "object", "properties": {"seconds": {"type": "number", "minimum": 0}}, "required": ["seconds"]})),
            ),
            Tool::new(
                "fail",
                "Always reports a tool error (isError: true) with the given message.",
                schema(json!({"type": "object", "properties": {"message": {"type": "string"}}})),
            ),
            Tool::new(
                "toggle_tool",
                "Adds the tool `extra` (or removes it again) and notifies the client that the tool list changed.",
                schema(json!({"type": "object", "properties": {}})),
            ),
            Tool::new(
                "stderr",
                "Writes the given text to the server's stderr.",
                schema(json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})),
            ),
        ]
    })
}

fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn arg<'a>(args: &'a Option<JsonObject>, name: &str) -> Option<&'a Value> {
    args.as_ref().and_then(|a| a.get(name))
}

fn invalid(message: String) -> ErrorData {
    ErrorData::invalid_params(message, None)
}

fn number_arg(args: &Option<JsonObject>, name: &str) -> Result<f64, ErrorData> {
    arg(args, name).and_then(Value::as_f64).ok_or_else(|| invalid(format!("argument `{name}` must be a number")))
}

impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().enable_resources().enable_prompts().build())
            .with_server_info(Implementation::new("mcpfleet-demo", env!("CARGO_PKG_VERSION")))
            .with_instructions("A demo server: echo, add, sleep, fail, toggle_tool and stderr tools; a greeting resource; a greet prompt.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut list = tools().to_vec();
        if self.extra.load(std::sync::atomic::Ordering::Relaxed) {
            list.push(Tool::new("extra", "Present after `toggle_tool`; answers \"extra\".", schema(json!({"type": "object", "properties": {}}))));
        }
        Ok(ListToolsResult::with_all_items(list))
    }

    async fn call_tool(&self, request: CallToolRequestParams, context: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
        let args = &request.arguments;
        let result = match request.name.as_ref() {
            "echo" => {
                let text = arg(args, "text").and_then(Value::as_str).ok_or_else(|| invalid("argument `text` must be a string".into()))?;
                text_result(text)
            }
            "add" => {
                let sum = number_arg(args, "a")? + number_arg(args, "b")?;
                let sum_json = if sum.fract() == 0.0 && sum.abs() < 9e15 { json!(sum as i64) } else { json!(sum) };
                let mut result = text_result(sum_json.to_string());
                result.structured_content = Some(json!({"result": sum_json}));
                result
            }
            "sleep" => {
                let seconds = number_arg(args, "seconds")?;
                if !(0.0..=3600.0).contains(&seconds) {
                    return Err(invalid("argument `seconds` must be between 0 and 3600".into()));
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs_f64(seconds)) => text_result(format!("slept {seconds} s")),
                    _ = context.ct.cancelled() => {
                        eprintln!("sleep cancelled");
                        return Err(ErrorData::internal_error("cancelled", None));
                    }
                }
            }
            "fail" => {
                let message = arg(args, "message").and_then(Value::as_str).unwrap_or("the tool failed, as asked");
                CallToolResult::error(vec![ContentBlock::text(message)])
            }
            "toggle_tool" => {
                let now = !self.extra.fetch_xor(true, std::sync::atomic::Ordering::Relaxed);
                let _ = context.peer.notify_tool_list_changed().await;
                text_result(if now { "added extra" } else { "removed extra" })
            }
            "extra" if self.extra.load(std::sync::atomic::Ordering::Relaxed) => text_result("extra"),
            "stderr" => {
                let text = arg(args, "text").and_then(Value::as_str).ok_or_else(|| invalid("argument `text` must be a string".into()))?;
                eprintln!("{text}");
                text_result("written")
            }
            other => return Err(ErrorData::invalid_params(format!("unknown tool `{other}`"), None)),
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut greeting = Resource::new(GREETING_URI, "greeting");
        greeting.description = Some("A friendly greeting".into());
        greeting.mime_type = Some("text/plain".into());
        Ok(ListResourcesResult::with_all_items(vec![greeting]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != GREETING_URI {
            return Err(ErrorData::resource_not_found(format!("no resource {}", request.uri), None));
        }
        Ok(ReadResourceResult::new(vec![ResourceContents::text(GREETING_TEXT, GREETING_URI)]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let mut name = PromptArgument::new("name");
        name.description = Some("Who to greet".into());
        name.required = Some(true);
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new("greet", Some("Greets someone by name"), Some(vec![name]))]))
    }

    async fn get_prompt(&self, request: GetPromptRequestParams, _context: RequestContext<RoleServer>) -> Result<GetPromptResponse, ErrorData> {
        if request.name != "greet" {
            return Err(ErrorData::invalid_params(format!("unknown prompt `{}`", request.name), None));
        }
        let name = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("argument `name` is required".into()))?;
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, format!("Please greet {name} warmly."))])
            .with_description("A greeting prompt")
            .into())
    }
}

/// Serves on stdin/stdout until stdin closes.
pub async fn serve_stdio() -> std::io::Result<()> {
    let service = match stdio_pipes() {
        Some(pipes) => DemoServer::default().serve(pipes).await,
        None => DemoServer::default().serve(rmcp::transport::stdio()).await,
    }
    .map_err(std::io::Error::other)?;
    service.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}

/// stdin and stdout as non-blocking pipes driven by the reactor. `tokio::io::stdin()` reads on
/// a blocking-pool thread, which costs a thread hop per message; kept only as the fallback when
/// stdio is not a pipe (a terminal or a file).
fn stdio_pipes() -> Option<(tokio::net::unix::pipe::Receiver, tokio::net::unix::pipe::Sender)> {
    use std::os::fd::AsFd;
    let stdin = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let stdout = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(stdin).ok()?;
    let tx = tokio::net::unix::pipe::Sender::from_owned_fd(stdout).ok()?;
    Some((rx, tx))
}

/// Binds streamable HTTP on 127.0.0.1:`port` (0 picks a free port); the MCP endpoint answers on
/// any path, `/mcp` by convention. Returns the bound port and the serving future.
pub async fn bind_http(port: u16) -> std::io::Result<(u16, impl Future<Output = std::io::Result<()>>)> {
    use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager};

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let service: StreamableHttpService<DemoServer, LocalSessionManager> =
        StreamableHttpService::new(|| Ok(DemoServer::default()), Default::default(), StreamableHttpServerConfig::default());
    let serve = async move {
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let svc = hyper_util::service::TowerToHyperService::new(service);
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(io, svc)
                    .await;
            });
        }
    };
    Ok((port, serve))
}
