//! `MCPServer` definitions: muster's fields plus `cwd`, a restart policy, a ping interval and
//! tool filters. Reading a definition collects every problem, each with its field and location.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::fleet::expand;
use crate::fleet::node::{Key, Location, Node, Value};
use crate::transport::http::redact_url;

pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Floors and ceilings of the timing fields: no value makes a busy loop or a restart storm.
pub const MIN_PING_SECS: f64 = 1.0;
pub const MIN_RESTART_DELAY_SECS: f64 = 0.05;
pub const MAX_RESTARTS: u32 = 100;
pub const MUSTER_API_VERSION: &str = "muster.giantswarm.io/v1alpha1";
pub const API_VERSION: &str = "mcpfleet.dev/v1alpha1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Stdio,
    StreamableHttp,
    Sse,
}

impl ServerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Stdio => "stdio",
            ServerKind::StreamableHttp => "streamable-http",
            ServerKind::Sse => "sse",
        }
    }

    /// The canonical names plus the spellings configs in the wild use (`http` is what Claude
    /// Code and VS Code write for streamable HTTP).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stdio" => Some(ServerKind::Stdio),
            "streamable-http" | "streamable_http" | "streamableHttp" | "http" => Some(ServerKind::StreamableHttp),
            "sse" => Some(ServerKind::Sse),
            _ => None,
        }
    }

    /// Only the three canonical names.
    pub fn parse_exact(s: &str) -> Option<Self> {
        [ServerKind::Stdio, ServerKind::StreamableHttp, ServerKind::Sse].into_iter().find(|k| k.as_str() == s)
    }

    pub fn is_remote(self) -> bool {
        self != ServerKind::Stdio
    }
}

/// Supervised restarts: exponential backoff, a cap, and a crash-loop limit.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    pub enabled: bool,
    pub initial_delay: Duration,
    pub factor: f64,
    pub max_delay: Duration,
    /// Restarts allowed within `reset_after` before the server is left in `CrashLoop`.
    pub max_restarts: u32,
    /// Running this long without a crash resets the restart counter.
    pub reset_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_delay: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(60),
            max_restarts: 5,
            reset_after: Duration::from_secs(300),
        }
    }
}

impl RestartPolicy {
    /// Delay before restart number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(60) as i32;
        let secs = self.initial_delay.as_secs_f64() * self.factor.powi(exponent);
        Duration::from_secs_f64(secs.min(self.max_delay.as_secs_f64()).max(0.0))
    }
}

/// Which of a server's tools are published. Patterns may use `*`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolFilter {
    pub allow: Option<Vec<String>>,
    pub deny: Vec<String>,
}

impl ToolFilter {
    pub fn admits(&self, tool: &str) -> bool {
        let allowed = self.allow.as_ref().is_none_or(|allow| allow.iter().any(|p| glob_match(p, tool)));
        allowed && !self.deny.iter().any(|p| glob_match(p, tool))
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// File paths (PEM) and the explicit switch that turns certificate checks off.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsOptions {
    pub ca_bundle: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub insecure: bool,
}

#[derive(Clone, PartialEq)]
pub struct ServerDefinition {
    pub name: String,
    pub description: String,
    pub tool_prefix: Option<String>,
    pub kind: ServerKind,
    pub auto_start: bool,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub url: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Default per-request limit; also the connect/initialize limit of remote servers.
    pub timeout: Duration,
    /// Start + initialize limit; default 10 s for stdio, `timeout` for remote servers.
    pub init_timeout: Option<Duration>,
    /// `protocol`: how the version is settled ("auto", "latest", or a version).
    pub protocol: crate::client::Protocol,
    /// As given (for comparisons); `oauth` is what it says.
    pub auth: Option<serde_json::Value>,
    /// `auth: {type: oauth, ...}`; the fleet turns it into `tokens` when it registers the server.
    pub oauth: Option<OAuthSpec>,
    pub restart: RestartPolicy,
    /// `None`: no periodic ping.
    pub ping_interval: Option<Duration>,
    pub tools: ToolFilter,
    /// TLS of a remote server: extra trusted CAs, client certificate (mTLS), no verification.
    pub tls: TlsOptions,
    /// Where the definition came from, for messages ("servers.yaml:12:3", "create()").
    pub origin: String,
    /// Bearer tokens from a host-language provider (remote servers; set by the binding).
    pub tokens: Option<crate::auth::Tokens>,
}

// Env and header values, URL credentials and client secrets are secrets: Debug shows the
// redacted definition only.
impl fmt::Debug for ServerDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerDefinition({})", self.redacted_json())
    }
}

impl ServerDefinition {
    /// The prefix of this server's public tool names.
    pub fn prefix(&self) -> String {
        match &self.tool_prefix {
            Some(p) => p.clone(),
            None => self.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect(),
        }
    }

    /// The definition as JSON in the flat shape, with env and header values redacted.
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("type".into(), self.kind.as_str().into());
        if !self.description.is_empty() {
            m.insert("description".into(), self.description.clone().into());
        }
        if let Some(p) = &self.tool_prefix {
            m.insert("toolPrefix".into(), p.clone().into());
        }
        m.insert("autoStart".into(), self.auto_start.into());
        if let Some(c) = &self.command {
            m.insert("command".into(), c.clone().into());
        }
        if !self.args.is_empty() {
            m.insert("args".into(), self.args.clone().into());
        }
        let redacted = |pairs: &[(String, String)]| pairs.iter().map(|(k, _)| (k.clone(), serde_json::Value::from("<redacted>"))).collect::<serde_json::Map<_, _>>();
        if !self.env.is_empty() {
            m.insert("env".into(), redacted(&self.env).into());
        }
        if let Some(cwd) = &self.cwd {
            m.insert("cwd".into(), cwd.clone().into());
        }
        if let Some(u) = &self.url {
            m.insert("url".into(), redact_url(u).into());
        }
        if !self.headers.is_empty() {
            m.insert("headers".into(), redacted(&self.headers).into());
        }
        m.insert("timeout".into(), self.timeout.as_secs_f64().into());
        if let Some(t) = self.init_timeout {
            m.insert("initTimeout".into(), t.as_secs_f64().into());
        }
        if self.protocol != crate::client::Protocol::Auto {
            m.insert("protocol".into(), self.protocol.to_string().into());
        }
        if let Some(auth) = &self.auth {
            let kind = auth.get("type").cloned().unwrap_or_else(|| "none".into());
            let mut shown = serde_json::json!({ "type": kind });
            if let Some(o) = &self.oauth {
                shown["grant"] = o.grant.clone().into();
                match &o.secret_ref {
                    // The ID came from the Secret: shown as where it is, not what it is.
                    Some(secret) => {
                        shown["clientCredentialsSecretRef"] = serde_json::json!({
                            "name": secret.name, "namespace": secret.namespace,
                            "clientIdKey": secret.client_id_key.as_deref().unwrap_or(DEFAULT_CLIENT_ID_KEY),
                            "clientSecretKey": secret.client_secret_key.as_deref().unwrap_or(DEFAULT_CLIENT_SECRET_KEY),
                        });
                    }
                    None => {
                        if let Some(id) = &o.client_id {
                            shown["clientId"] = id.clone().into();
                        }
                    }
                }
                if !o.scopes.is_empty() {
                    shown["scopes"] = o.scopes.clone().into();
                }
                if let Some(store) = &o.token_store {
                    shown["tokenStore"] = store.clone().into();
                }
            }
            m.insert("auth".into(), shown);
        }
        m.insert("pingInterval".into(), self.ping_interval.map(|d| d.as_secs_f64()).unwrap_or(0.0).into());
        let r = &self.restart;
        m.insert(
            "restart".into(),
            serde_json::json!({
                "enabled": r.enabled, "initialDelay": r.initial_delay.as_secs_f64(), "factor": r.factor,
                "maxDelay": r.max_delay.as_secs_f64(), "maxRestarts": r.max_restarts, "resetAfter": r.reset_after.as_secs_f64(),
            }),
        );
        if self.tools != ToolFilter::default() {
            m.insert("tools".into(), serde_json::json!({ "allow": self.tools.allow, "deny": self.tools.deny }));
        }
        if self.tls != TlsOptions::default() {
            let t = &self.tls;
            m.insert("tls".into(), serde_json::json!({ "caBundle": t.ca_bundle, "clientCert": t.client_cert, "clientKey": t.client_key, "insecure": t.insecure }));
        }
        serde_json::Value::Object(m)
    }

    /// Whether a running server must restart to take `new` (description, autoStart, tool
    /// filters, restart policy and ping interval apply without one).
    pub fn needs_restart_for(&self, new: &ServerDefinition) -> bool {
        self.kind != new.kind
            || self.command != new.command
            || self.args != new.args
            || self.env != new.env
            || self.cwd != new.cwd
            || self.url != new.url
            || self.headers != new.headers
            || self.timeout != new.timeout
            || self.init_timeout != new.init_timeout
            || self.protocol != new.protocol
            || self.auth != new.auth
            || self.tokens != new.tokens
            || self.tls != new.tls
            || self.tool_prefix != new.tool_prefix
    }
}

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// File path, or a label such as "create()".
    pub source: Option<Arc<str>>,
    pub at: Option<Location>,
    /// Dotted path of the field ("spec.url", "mcpServers.time.command"), empty for the document.
    pub field: String,
    /// The server the field belongs to, when the document names it.
    pub server: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.source, &self.at) {
            (Some(s), Some(at)) => write!(f, "{s}:{at}: ")?,
            (Some(s), None) => write!(f, "{s}: ")?,
            (None, Some(at)) => write!(f, "line {}, column {}: ", at.line, at.column)?,
            (None, None) => {}
        }
        if let Some(server) = &self.server {
            write!(f, "server `{server}`: ")?;
        }
        if self.field.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.field, self.message) }
    }
}

/// Collects problems while a document is read.
pub struct Problems {
    source: Option<Arc<str>>,
    pub list: Vec<Problem>,
}

impl Problems {
    pub fn new(source: Option<Arc<str>>) -> Self {
        Self { source, list: Vec::new() }
    }

    pub fn add(&mut self, at: Option<Location>, field: impl Into<String>, message: impl Into<String>) {
        self.list.push(Problem { source: self.source.clone(), at, field: field.into(), server: None, message: message.into() });
    }

    pub fn source(&self) -> Option<&Arc<str>> {
        self.source.as_ref()
    }
}

/// Known spec fields: (canonical name, accepted spellings).
const FIELDS: &[(&str, &[&str])] = &[
    ("name", &["name"]),
    ("description", &["description"]),
    ("toolPrefix", &["toolPrefix", "tool_prefix"]),
    ("type", &["type", "transport"]),
    ("autoStart", &["autoStart", "auto_start"]),
    ("command", &["command"]),
    ("args", &["args"]),
    ("env", &["env"]),
    ("cwd", &["cwd"]),
    ("url", &["url"]),
    ("headers", &["headers"]),
    ("timeout", &["timeout"]),
    ("initTimeout", &["initTimeout", "init_timeout"]),
    ("protocol", &["protocol", "protocolVersion", "protocol_version"]),
    ("auth", &["auth"]),
    ("restart", &["restart", "restartPolicy", "restart_policy"]),
    ("pingInterval", &["pingInterval", "ping_interval"]),
    ("tools", &["tools"]),
    ("tls", &["tls"]),
    ("family", &["family"]),
];

const TLS_FIELDS: &[(&str, &[&str])] = &[
    ("caBundle", &["caBundle", "ca_bundle"]),
    ("clientCert", &["clientCert", "client_cert"]),
    ("clientKey", &["clientKey", "client_key"]),
    ("insecure", &["insecure"]),
];

const RESTART_FIELDS: &[(&str, &[&str])] = &[
    ("enabled", &["enabled"]),
    ("initialDelay", &["initialDelay", "initial_delay"]),
    ("factor", &["factor"]),
    ("maxDelay", &["maxDelay", "max_delay"]),
    ("maxRestarts", &["maxRestarts", "max_restarts"]),
    ("resetAfter", &["resetAfter", "reset_after"]),
];

const TOOLS_FIELDS: &[(&str, &[&str])] = &[("allow", &["allow"]), ("deny", &["deny"])];

const AUTH_FIELDS: &[(&str, &[&str])] = &[
    ("type", &["type"]),
    ("grant", &["grant"]),
    ("clientId", &["clientId", "client_id"]),
    ("clientSecret", &["clientSecret", "client_secret"]),
    ("credentialsFile", &["credentialsFile", "credentials_file"]),
    ("clientIdKey", &["clientIdKey", "client_id_key"]),
    ("clientSecretKey", &["clientSecretKey", "client_secret_key"]),
    ("privateKeyFile", &["privateKeyFile", "private_key_file"]),
    ("signingAlgorithm", &["signingAlgorithm", "signing_algorithm"]),
    ("scopes", &["scopes"]),
    ("redirectUri", &["redirectUri", "redirect_uri"]),
    ("clientMetadataUrl", &["clientMetadataUrl", "client_metadata_url"]),
    ("clientName", &["clientName", "client_name"]),
    ("tokenStore", &["tokenStore", "token_store"]),
    ("loginTimeout", &["loginTimeout", "login_timeout"]),
    ("clientCredentialsSecretRef", &["clientCredentialsSecretRef", "client_credentials_secret_ref"]),
];

const SECRET_REF_FIELDS: &[(&str, &[&str])] = &[
    ("name", &["name"]),
    ("namespace", &["namespace"]),
    ("clientIdKey", &["clientIdKey", "client_id_key"]),
    ("clientSecretKey", &["clientSecretKey", "client_secret_key"]),
];

/// `auth.clientCredentialsSecretRef` (muster's shape): the client ID and secret are in a
/// Kubernetes Secret, read by a fleet that follows a cluster ([`crate::kubernetes`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretRef {
    pub name: String,
    /// The resource's own namespace when not given.
    pub namespace: Option<String>,
    pub client_id_key: Option<String>,
    pub client_secret_key: Option<String>,
}

/// The default keys of a credentials file (a Kubernetes secret's layout).
pub const DEFAULT_CLIENT_ID_KEY: &str = "client-id";
pub const DEFAULT_CLIENT_SECRET_KEY: &str = "client-secret";

/// `auth: {type: oauth, ...}` of a remote server, as written (files not read yet).
#[derive(Clone, PartialEq, Default)]
pub struct OAuthSpec {
    pub grant: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub credentials_file: Option<String>,
    pub client_id_key: Option<String>,
    pub client_secret_key: Option<String>,
    pub private_key_file: Option<String>,
    pub signing_algorithm: Option<String>,
    pub scopes: Vec<String>,
    pub redirect_uri: Option<String>,
    pub client_metadata_url: Option<String>,
    pub client_name: Option<String>,
    pub token_store: Option<String>,
    pub login_timeout: Option<Duration>,
    pub secret_ref: Option<SecretRef>,
}

impl fmt::Debug for OAuthSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthSpec")
            .field("grant", &self.grant)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("credentials_file", &self.credentials_file)
            .field("private_key_file", &self.private_key_file)
            .field("scopes", &self.scopes)
            .field("token_store", &self.token_store)
            .field("secret_ref", &self.secret_ref)
            .finish_non_exhaustive()
    }
}

fn canonical(fields: &[(&'static str, &[&str])], key: &str) -> Option<&'static str> {
    fields.iter().find(|(_, spellings)| spellings.contains(&key)).map(|(c, _)| *c)
}

/// The closest known name, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(key: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            previous = current;
        }
    }
    row[b.len()]
}

fn unknown_field(problems: &mut Problems, key: &Key, field: String, known: &[(&'static str, &[&str])]) {
    let hint = did_you_mean(&key.name, known.iter().flat_map(|(_, s)| s.iter().copied()))
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_else(|| format!("; known fields: {}", known.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")));
    problems.add(key.at, field, format!("unknown field `{}`{hint}", key.name));
}

fn is_valid_prefix(p: &str) -> bool {
    let mut chars = p.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn is_valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    n.chars().count() <= 63
        && chars.next().is_some_and(char::is_alphanumeric)
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// How a definition is being read.
pub struct ReadContext<'a> {
    /// Dotted path to the spec ("spec", "mcpServers.time", or "" for flat).
    pub path: String,
    /// The name when it comes from outside the spec (metadata.name, an mcpServers key).
    pub name: Option<(String, Option<Location>)>,
    /// Location of the whole definition, for problems that have no field.
    pub at: Option<Location>,
    pub default_auto_start: bool,
    /// Desktop-client keys that mean nothing here and are ignored.
    pub ignored_keys: &'a [&'a str],
    pub origin: String,
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_string() } else { format!("{path}.{field}") }
}

/// Reads a definition from its spec mapping. Returns `None` when there were problems.
pub fn read_definition(spec: &Node, ctx: ReadContext<'_>, problems: &mut Problems) -> Option<ServerDefinition> {
    let before = problems.list.len();
    let Some(entries) = spec.as_map() else {
        problems.add(spec.at, ctx.path.clone(), format!("expected a mapping of server fields, found {}", spec.kind_name()));
        return None;
    };
    let mut fields: Vec<(&'static str, &Key, &Node)> = Vec::new();
    for (key, value) in entries {
        match canonical(FIELDS, &key.name) {
            Some(c) => {
                if let Some((_, first, _)) = fields.iter().find(|(f, _, _)| *f == c) {
                    problems.add(key.at, join(&ctx.path, &key.name), format!("`{}` and `{}` are the same field; give it once", first.name, key.name));
                } else {
                    fields.push((c, key, value));
                }
            }
            None if ctx.ignored_keys.contains(&key.name.as_str()) => {}
            None => unknown_field(problems, key, join(&ctx.path, &key.name), FIELDS),
        }
    }
    let get = |name: &str| fields.iter().find(|(f, _, _)| *f == name).map(|(_, k, v)| (*k, *v));
    let path = |key: &Key| join(&ctx.path, &key.name);

    let name = match (&ctx.name, get("name")) {
        (Some(_), Some((key, _))) => {
            problems.add(key.at, path(key), "the name is already given by the document (metadata.name or the mcpServers key); remove this field");
            ctx.name.clone()
        }
        (Some(n), None) => Some(n.clone()),
        (None, Some((key, node))) => match node.as_str() {
            Some(s) => Some((s.to_string(), node.at)),
            None => {
                problems.add(node.at, path(key), format!("expected a string, found {}", node.kind_name()));
                None
            }
        },
        (None, None) => {
            problems.add(ctx.at, join(&ctx.path, "name"), "name is required");
            None
        }
    };
    if let Some((n, at)) = &name {
        if !is_valid_name(n) {
            let field = if ctx.path == "spec" && ctx.name.is_some() { "metadata.name".to_string() } else { join(&ctx.path, "name") };
            problems.add(*at, field, format!("invalid name {n:?}: use letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most 63 characters"));
        }
    }

    let string = |problems: &mut Problems, field: &str| -> Option<String> {
        let (key, node) = get(field)?;
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Null => None,
            _ => {
                problems.add(node.at, path(key), format!("expected a string, found {}", node.kind_name()));
                None
            }
        }
    };
    let seconds = |problems: &mut Problems, field: &str, min: f64, max: f64| -> Option<Duration> {
        let (key, node) = get(field)?;
        let value = match node.value {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            _ => {
                problems.add(node.at, path(key), format!("expected a number of seconds, found {}", node.kind_name()));
                return None;
            }
        };
        if !(min..=max).contains(&value) {
            let off = if field == "pingInterval" { " (or 0 to turn pings off)" } else { "" };
            problems.add(node.at, path(key), format!("must be between {min} and {max} seconds{off}, got {value}"));
            return None;
        }
        Some(Duration::from_secs_f64(value))
    };
    let boolean = |problems: &mut Problems, field: &str| -> Option<bool> {
        let (key, node) = get(field)?;
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                problems.add(node.at, path(key), format!("expected true or false, found {}", node.kind_name()));
                None
            }
        }
    };

    let kind = match get("type") {
        Some((key, node)) => match node.as_str().map(|s| (s, ServerKind::parse(s))) {
            Some((_, Some(kind))) => Some(kind),
            Some((s, None)) => {
                let hint = did_you_mean(s, ["stdio", "streamable-http", "sse"]).map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default();
                problems.add(node.at, path(key), format!("unknown type {s:?}{hint}: expected \"stdio\", \"streamable-http\" or \"sse\""));
                None
            }
            None => {
                problems.add(node.at, path(key), format!("expected \"stdio\", \"streamable-http\" or \"sse\", found {}", node.kind_name()));
                None
            }
        },
        // Desktop-client style: the fields say what it is.
        None if get("command").is_some() && get("url").is_none() => Some(ServerKind::Stdio),
        None if get("url").is_some() && get("command").is_none() => {
            let url = get("url").and_then(|(_, n)| n.as_str()).unwrap_or_default();
            Some(if url.trim_end_matches('/').ends_with("/sse") { ServerKind::Sse } else { ServerKind::StreamableHttp })
        }
        None => {
            problems.add(ctx.at, join(&ctx.path, "type"), "type is required: \"stdio\", \"streamable-http\" or \"sse\"");
            None
        }
    };

    let description = string(problems, "description").unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        let (key, node) = get("description").expect("read above");
        problems.add(node.at, path(key), format!("at most {MAX_DESCRIPTION_CHARS} characters, got {}", description.chars().count()));
    }
    let tool_prefix = string(problems, "toolPrefix");
    if let Some(p) = &tool_prefix {
        if !p.is_empty() && !is_valid_prefix(p) {
            let (key, node) = get("toolPrefix").expect("read above");
            problems.add(node.at, path(key), format!("invalid tool prefix {p:?}: must match ^[a-zA-Z][a-zA-Z0-9_-]*$ (or be empty: names as the server gives them)"));
        }
    }
    let auto_start = boolean(problems, "autoStart").unwrap_or(ctx.default_auto_start);

    let command = match get("command") {
        Some((key, node)) => match &node.value {
            Value::Str(s) if s.trim().is_empty() => {
                problems.add(node.at, path(key), "command must not be empty");
                None
            }
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) => {
                problems.add(node.at, path(key), "command is one executable; put its arguments in `args`");
                None
            }
            _ => {
                problems.add(node.at, path(key), format!("expected a string, found {}", node.kind_name()));
                None
            }
        },
        None => None,
    };
    let args = match get("args") {
        Some((key, node)) => match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item.scalar_text() {
                    Some(s) => Some(s),
                    None => {
                        problems.add(item.at, format!("{}[{i}]", path(key)), format!("expected a string, found {}", item.kind_name()));
                        None
                    }
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => {
                problems.add(node.at, path(key), format!("expected a list of strings, found {}", node.kind_name()));
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let string_map = |problems: &mut Problems, field: &str| -> Vec<(String, String)> {
        let Some((key, node)) = get(field) else { return Vec::new() };
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .filter_map(|(k, v)| match v.scalar_text() {
                    Some(s) => Some((k.name.clone(), s)),
                    None => {
                        problems.add(v.at, format!("{}.{}", path(key), k.name), format!("expected a string, found {}", v.kind_name()));
                        None
                    }
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => {
                problems.add(node.at, path(key), format!("expected a mapping of names to strings, found {}", node.kind_name()));
                Vec::new()
            }
        }
    };
    let env = string_map(problems, "env");
    let headers = string_map(problems, "headers");
    let cwd = string(problems, "cwd");
    let protocol = match (string(problems, "protocol"), get("protocol")) {
        (Some(text), Some((key, node))) => crate::client::Protocol::parse(&text).unwrap_or_else(|e| {
            problems.add(node.at, path(key), e.to_string().replace("configuration error: ", ""));
            crate::client::Protocol::Auto
        }),
        _ => crate::client::Protocol::Auto,
    };
    let url = string(problems, "url");
    if let (Some(u), Some((key, node))) = (&url, get("url")) {
        // Checked as it will be used: with its variables expanded (an unset one is reported below).
        if let Ok(expanded) = expand::expand_env(u) {
            if let Err(reason) = check_http_url(&expanded) {
                let after = if expanded == *u { String::new() } else { format!(" (after expanding variables: {:?})", redact_url(&expanded)) };
                problems.add(node.at, path(key), format!("expected an http:// or https:// URL, got {:?}{after}: {reason}", redact_url(u)));
            }
        }
    }
    let timeout = seconds(problems, "timeout", 1.0, 300.0).unwrap_or(Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    let init_timeout = seconds(problems, "initTimeout", 0.1, 600.0);
    // 0 turns pings off; anything else is at least a second apart, so a typo cannot busy-loop.
    let ping_interval = match get("pingInterval") {
        Some((_, node)) if matches!(node.value, Value::Int(0)) || node.value == Value::Float(0.0) => None,
        _ => Some(seconds(problems, "pingInterval", MIN_PING_SECS, 86400.0).unwrap_or(Duration::from_secs(30))),
    };

    let auth = get("auth").map(|(_, node)| node.to_json());
    let oauth = get("auth").and_then(|(key, node)| read_oauth(node, &path(key), problems));
    let restart = get("restart").map(|(key, node)| read_restart(node, &path(key), problems)).unwrap_or_default();
    let tools = get("tools").map(|(key, node)| read_tools(node, &path(key), problems)).unwrap_or_default();
    let tls = get("tls").map(|(key, node)| read_tls(node, &path(key), problems)).unwrap_or_default();
    if let Some((key, _)) = get("family") {
        problems.add(key.at, path(key), "families are not supported; give each server its own toolPrefix");
    }

    if let Some(kind) = kind {
        let at = ctx.at;
        match kind {
            ServerKind::Stdio => {
                if command.is_none() && get("command").is_none() {
                    problems.add(at, join(&ctx.path, "command"), "command is required when type is stdio");
                }
                if let Some((key, _)) = get("url") {
                    problems.add(key.at, path(key), "url is only allowed when type is streamable-http or sse");
                }
                for field in ["headers", "tls"] {
                    if let Some((key, _)) = get(field) {
                        problems.add(key.at, path(key), format!("{field} field is only allowed when type is streamable-http or sse"));
                    }
                }
                if let (Some((key, _)), Some(_)) = (get("auth"), &oauth) {
                    problems.add(key.at, path(key), "auth is only supported for remote server types (streamable-http or sse)");
                }
            }
            ServerKind::StreamableHttp | ServerKind::Sse => {
                if url.is_none() && get("url").is_none() {
                    problems.add(at, join(&ctx.path, "url"), "url is required when type is streamable-http or sse");
                }
                for field in ["command", "args", "env", "cwd"] {
                    if let Some((key, _)) = get(field) {
                        problems.add(key.at, path(key), format!("{field} field is only allowed when type is stdio"));
                    }
                }
                if tls.client_key.is_some() && tls.client_cert.is_none() {
                    if let Some((key, _)) = get("tls") {
                        problems.add(key.at, format!("{}.clientKey", path(key)), "clientKey needs clientCert");
                    }
                }
            }
        }
    }

    // Every ${VAR} without a default must be set now (and again when the server starts).
    for field in EXPANDED_FIELDS {
        if let Some((key, node)) = get(field) {
            check_variables(node, &path(key), problems);
        }
    }

    if problems.list.len() > before {
        return None;
    }
    Some(ServerDefinition {
        name: name?.0,
        description,
        tool_prefix,
        kind: kind?,
        auto_start,
        command,
        args,
        env,
        cwd,
        url,
        headers,
        timeout,
        init_timeout,
        protocol,
        auth,
        oauth,
        restart,
        ping_interval,
        tools,
        tls,
        origin: ctx.origin,
        tokens: None,
    })
}

/// The fields whose text may hold `${VAR}`: how to run and reach the server. Names, prefixes
/// and descriptions are identity and presentation and are taken as written.
pub const EXPANDED_FIELDS: &[&str] = &["command", "args", "env", "cwd", "url", "headers", "tls", "auth"];

fn check_variables(node: &Node, path: &str, problems: &mut Problems) {
    match &node.value {
        Value::Str(text) => {
            for var in expand::missing_variables(text) {
                problems.add(node.at, path, format!("environment variable `{var}` is not set (write ${{{var}:-default}} to give a default)"));
            }
        }
        Value::Seq(items) => items.iter().enumerate().for_each(|(i, item)| check_variables(item, &format!("{path}[{i}]"), problems)),
        Value::Map(entries) => entries.iter().for_each(|(k, v)| check_variables(v, &join(path, &k.name), problems)),
        _ => {}
    }
}

/// Why `url` is not a usable server URL.
pub fn check_http_url(url: &str) -> std::result::Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(u) if matches!(u.scheme(), "http" | "https") => Err("it has no host".into()),
        Ok(u) => Err(format!("the scheme must be http or https, not {:?}", u.scheme())),
        Err(e) => Err(e.to_string()),
    }
}

/// An unset variable met while expanding a definition.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsetVariable {
    pub field: String,
    pub variable: String,
}

impl ServerDefinition {
    /// The definition with `${VAR}` expanded in every field of [`EXPANDED_FIELDS`], from the
    /// environment as it is now. The one place expansion happens.
    pub fn expanded(&self) -> std::result::Result<ServerDefinition, UnsetVariable> {
        let one = |text: &str, field: &str| expand::expand_env(text).map_err(|variable| UnsetVariable { field: field.to_string(), variable });
        let opt = |text: &Option<String>, field: &str| text.as_deref().map(|t| one(t, field)).transpose();
        let pairs = |pairs: &[(String, String)], field: &str| -> std::result::Result<Vec<(String, String)>, UnsetVariable> {
            pairs.iter().map(|(k, v)| Ok((k.clone(), one(v, &format!("{field}.{k}"))?))).collect()
        };
        let mut def = self.clone();
        def.command = opt(&self.command, "command")?;
        def.args = self.args.iter().enumerate().map(|(i, a)| one(a, &format!("args[{i}]"))).collect::<std::result::Result<_, _>>()?;
        def.env = pairs(&self.env, "env")?;
        def.cwd = opt(&self.cwd, "cwd")?;
        def.url = opt(&self.url, "url")?;
        def.headers = pairs(&self.headers, "headers")?;
        def.tls.ca_bundle = opt(&self.tls.ca_bundle, "tls.caBundle")?;
        def.tls.client_cert = opt(&self.tls.client_cert, "tls.clientCert")?;
        def.tls.client_key = opt(&self.tls.client_key, "tls.clientKey")?;
        if let Some(o) = &self.oauth {
            let mut e = o.clone();
            e.client_id = opt(&o.client_id, "auth.clientId")?;
            e.client_secret = opt(&o.client_secret, "auth.clientSecret")?;
            e.credentials_file = opt(&o.credentials_file, "auth.credentialsFile")?;
            e.private_key_file = opt(&o.private_key_file, "auth.privateKeyFile")?;
            e.redirect_uri = opt(&o.redirect_uri, "auth.redirectUri")?;
            e.client_metadata_url = opt(&o.client_metadata_url, "auth.clientMetadataUrl")?;
            e.token_store = opt(&o.token_store, "auth.tokenStore")?;
            e.scopes = o.scopes.iter().map(|s| one(s, "auth.scopes")).collect::<std::result::Result<_, _>>()?;
            def.oauth = Some(e);
        }
        Ok(def)
    }
}

fn read_restart(node: &Node, path: &str, problems: &mut Problems) -> RestartPolicy {
    let mut policy = RestartPolicy::default();
    let Some(entries) = node.as_map() else {
        if let Value::Bool(enabled) = node.value {
            policy.enabled = enabled;
        } else {
            problems.add(node.at, path, format!("expected a mapping (or true/false), found {}", node.kind_name()));
        }
        return policy;
    };
    for (key, value) in entries {
        let field = join(path, &key.name);
        let number = |problems: &mut Problems, min: f64, max: f64| -> Option<f64> {
            let n = match value.value {
                Value::Int(i) => i as f64,
                Value::Float(f) => f,
                _ => {
                    problems.add(value.at, field.clone(), format!("expected a number, found {}", value.kind_name()));
                    return None;
                }
            };
            if !(min..=max).contains(&n) {
                problems.add(value.at, field.clone(), format!("must be between {min} and {max}, got {n}"));
                return None;
            }
            Some(n)
        };
        match canonical(RESTART_FIELDS, &key.name) {
            Some("enabled") => match value.value {
                Value::Bool(b) => policy.enabled = b,
                _ => problems.add(value.at, field, format!("expected true or false, found {}", value.kind_name())),
            },
            Some("initialDelay") => {
                if let Some(n) = number(problems, MIN_RESTART_DELAY_SECS, 3600.0) {
                    policy.initial_delay = Duration::from_secs_f64(n);
                }
            }
            Some("factor") => {
                if let Some(n) = number(problems, 1.0, 10.0) {
                    policy.factor = n;
                }
            }
            Some("maxDelay") => {
                if let Some(n) = number(problems, MIN_RESTART_DELAY_SECS, 86400.0) {
                    policy.max_delay = Duration::from_secs_f64(n);
                }
            }
            Some("maxRestarts") => {
                if let Some(n) = number(problems, 0.0, MAX_RESTARTS as f64) {
                    policy.max_restarts = n as u32;
                }
            }
            Some("resetAfter") => {
                if let Some(n) = number(problems, 1.0, 86400.0 * 7.0) {
                    policy.reset_after = Duration::from_secs_f64(n);
                }
            }
            _ => unknown_field(problems, key, field, RESTART_FIELDS),
        }
    }
    policy
}

fn read_tls(node: &Node, path: &str, problems: &mut Problems) -> TlsOptions {
    let mut tls = TlsOptions::default();
    let Some(entries) = node.as_map() else {
        problems.add(node.at, path, format!("expected a mapping with caBundle, clientCert, clientKey or insecure, found {}", node.kind_name()));
        return tls;
    };
    for (key, value) in entries {
        let field = join(path, &key.name);
        let file = |problems: &mut Problems| match value.as_str() {
            Some(p) if !p.trim().is_empty() => Some(p.to_string()),
            _ => {
                problems.add(value.at, field.clone(), format!("expected a file path, found {}", value.kind_name()));
                None
            }
        };
        match canonical(TLS_FIELDS, &key.name) {
            Some("caBundle") => tls.ca_bundle = file(problems),
            Some("clientCert") => tls.client_cert = file(problems),
            Some("clientKey") => tls.client_key = file(problems),
            Some("insecure") => match value.value {
                Value::Bool(b) => tls.insecure = b,
                _ => problems.add(value.at, field, format!("expected true or false, found {}", value.kind_name())),
            },
            _ => unknown_field(problems, key, field, TLS_FIELDS),
        }
    }
    tls
}

/// `auth` of a remote server: `type: none`, or `type: oauth` with its settings.
fn read_oauth(node: &Node, path: &str, problems: &mut Problems) -> Option<OAuthSpec> {
    let Some(entries) = node.as_map() else {
        problems.add(node.at, path, format!("expected a mapping with `type: oauth` or `type: none`, found {}", node.kind_name()));
        return None;
    };
    let mut spec = OAuthSpec { grant: "authorization_code".into(), ..OAuthSpec::default() };
    let mut oauth = false;
    for (key, value) in entries {
        let field = join(path, &key.name);
        let text = |problems: &mut Problems| match value.scalar_text() {
            Some(t) if !t.trim().is_empty() => Some(t),
            _ => {
                problems.add(value.at, field.clone(), format!("expected a non-empty string, found {}", value.kind_name()));
                None
            }
        };
        match canonical(AUTH_FIELDS, &key.name) {
            Some("type") => match value.as_str() {
                Some("oauth") => oauth = true,
                Some("none") => {}
                _ => problems.add(value.at, field, "expected \"oauth\" or \"none\""),
            },
            Some("grant") => match value.as_str() {
                Some(g @ ("authorization_code" | "client_credentials" | "private_key_jwt")) => spec.grant = g.to_string(),
                _ => problems.add(value.at, field, "expected authorization_code, client_credentials or private_key_jwt"),
            },
            Some("clientId") => spec.client_id = text(problems),
            Some("clientSecret") => spec.client_secret = text(problems),
            Some("credentialsFile") => spec.credentials_file = text(problems),
            Some("clientIdKey") => spec.client_id_key = text(problems),
            Some("clientSecretKey") => spec.client_secret_key = text(problems),
            Some("privateKeyFile") => spec.private_key_file = text(problems),
            Some("signingAlgorithm") => match value.as_str() {
                Some(a @ ("RS256" | "RS384" | "RS512" | "ES256" | "ES384")) => spec.signing_algorithm = Some(a.to_string()),
                _ => problems.add(value.at, field, "expected one of RS256, RS384, RS512, ES256, ES384"),
            },
            Some("scopes") => match &value.value {
                Value::Seq(items) => spec.scopes = items.iter().filter_map(Node::scalar_text).collect(),
                _ => match value.scalar_text() {
                    Some(t) => spec.scopes = t.split_whitespace().map(str::to_string).collect(),
                    None => problems.add(value.at, field, format!("expected a list of scopes or a space-separated string, found {}", value.kind_name())),
                },
            },
            Some("redirectUri") => spec.redirect_uri = text(problems),
            Some("clientMetadataUrl") => spec.client_metadata_url = text(problems),
            Some("clientName") => spec.client_name = text(problems),
            Some("tokenStore") => spec.token_store = text(problems),
            Some("loginTimeout") => match value.scalar_text().and_then(|t| t.parse::<f64>().ok()).filter(|v| *v > 0.0 && *v <= 86400.0) {
                Some(v) => spec.login_timeout = Some(Duration::from_secs_f64(v)),
                None => problems.add(value.at, field, "expected seconds between 0 and 86400"),
            },
            Some("clientCredentialsSecretRef") => spec.secret_ref = read_secret_ref(value, &field, problems),
            _ => unknown_field(problems, key, field, AUTH_FIELDS),
        }
    }
    if !oauth {
        return None;
    }
    if spec.secret_ref.is_some() && (spec.credentials_file.is_some() || spec.client_secret.is_some()) {
        problems.add(node.at, path, "clientCredentialsSecretRef takes the place of clientSecret and credentialsFile: give one of them");
    }
    let has_client = spec.client_id.is_some() || spec.credentials_file.is_some() || spec.secret_ref.is_some();
    let has_secret = spec.client_secret.is_some() || spec.credentials_file.is_some() || spec.secret_ref.is_some();
    let problem = match (spec.grant.as_str(), &spec.private_key_file) {
        ("client_credentials", None) if !has_client || !has_secret => {
            Some("the client_credentials grant needs clientId and clientSecret (or credentialsFile, or clientCredentialsSecretRef)")
        }
        ("private_key_jwt", None) => Some("the private_key_jwt grant needs privateKeyFile"),
        ("private_key_jwt" | "client_credentials", Some(_)) if !has_client => Some("the private_key_jwt grant needs clientId (or credentialsFile)"),
        ("authorization_code", Some(_)) => Some("privateKeyFile is for the client_credentials or private_key_jwt grant"),
        _ if spec.client_secret.is_some() && spec.client_id.is_none() && spec.credentials_file.is_none() => Some("clientSecret needs clientId"),
        _ if spec.credentials_file.is_none() && (spec.client_id_key.is_some() || spec.client_secret_key.is_some()) => {
            Some("clientIdKey and clientSecretKey name keys of credentialsFile, which is not set")
        }
        _ => None,
    };
    if let Some(problem) = problem {
        problems.add(node.at, path, problem);
    }
    if let Some(url) = &spec.client_metadata_url {
        let url = &expand::expand_env(url).unwrap_or_else(|_| url.clone());
        if !url::Url::parse(url).is_ok_and(|u| u.scheme() == "https" && u.path().len() > 1) {
            problems.add(node.get("clientMetadataUrl").and_then(|n| n.at), join(path, "clientMetadataUrl"), "expected an https URL with a path");
        }
    }
    Some(spec)
}

fn read_secret_ref(node: &Node, path: &str, problems: &mut Problems) -> Option<SecretRef> {
    let Some(entries) = node.as_map() else {
        problems.add(node.at, path, format!("expected a mapping with name (and namespace, clientIdKey, clientSecretKey), found {}", node.kind_name()));
        return None;
    };
    let mut secret = SecretRef::default();
    for (key, value) in entries {
        let field = join(path, &key.name);
        let text = match value.scalar_text() {
            Some(t) if !t.trim().is_empty() => Some(t),
            _ => {
                problems.add(value.at, field.clone(), format!("expected a non-empty string, found {}", value.kind_name()));
                None
            }
        };
        match canonical(SECRET_REF_FIELDS, &key.name) {
            Some("name") => secret.name = text.unwrap_or_default(),
            Some("namespace") => secret.namespace = text,
            Some("clientIdKey") => secret.client_id_key = text,
            Some("clientSecretKey") => secret.client_secret_key = text,
            _ => unknown_field(problems, key, field, SECRET_REF_FIELDS),
        }
    }
    if secret.name.is_empty() {
        problems.add(node.at, path, "expected the Secret's name (name: ...)");
        return None;
    }
    Some(secret)
}

/// The core's OAuth settings for a spec; `read` reads the files it names.
pub fn oauth_settings(
    spec: &OAuthSpec,
    read: &dyn Fn(&str) -> std::result::Result<Vec<u8>, String>,
) -> std::result::Result<crate::auth::OAuthSettings, String> {
    use crate::auth::oauth::{FileStore, Grant};
    let key_pem = spec.private_key_file.as_deref().map(read).transpose()?;
    let grant = Grant::from_names(&spec.grant, key_pem, spec.signing_algorithm.as_deref())?;
    let mut settings = crate::auth::OAuthSettings::new(grant);
    settings.client_id = spec.client_id.clone();
    settings.client_secret = spec.client_secret.clone();
    if let Some(secret) = &spec.secret_ref {
        if spec.client_secret.is_none() {
            return Err(format!(
                "clientCredentialsSecretRef names the Kubernetes Secret {:?}, which only a fleet that follows a cluster reads (Adapter.from_kubernetes, mcpfleet serve --kubernetes); elsewhere give clientSecret or credentialsFile",
                secret.name
            ));
        }
    }
    if let Some(file) = &spec.credentials_file {
        let bytes = read(file)?;
        {
            let id_key = spec.client_id_key.as_deref().unwrap_or(DEFAULT_CLIENT_ID_KEY);
            let secret_key = spec.client_secret_key.as_deref().unwrap_or(DEFAULT_CLIENT_SECRET_KEY);
            let (id, secret) = read_credentials(&bytes, id_key, secret_key).map_err(|e| format!("credentials file {file}: {e}"))?;
            settings.client_id = settings.client_id.or(Some(id));
            settings.client_secret = settings.client_secret.or(secret);
        }
    }
    settings.scopes = spec.scopes.clone();
    settings.redirect_uri = spec.redirect_uri.clone();
    settings.client_metadata_url = spec.client_metadata_url.clone();
    if let Some(name) = &spec.client_name {
        settings.client_name = name.clone();
    }
    if let Some(timeout) = spec.login_timeout {
        settings.login_timeout = timeout;
    }
    if let Some(path) = &spec.token_store {
        settings.store = Arc::new(FileStore::new(path));
    }
    Ok(settings)
}

/// A credentials file: a JSON or YAML mapping (a Kubernetes secret's `data`/`stringData`
/// layout, values plain or base64 under `data`).
fn read_credentials(bytes: &[u8], id_key: &str, secret_key: &str) -> std::result::Result<(String, Option<String>), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let docs = crate::fleet::node::parse_documents(text).map_err(|e| e.message)?;
    let root = docs.into_iter().next().ok_or("empty")?;
    let get = |key: &str| -> Option<String> {
        if let Some(v) = root.get("stringData").and_then(|d| d.get(key)).and_then(Node::scalar_text) {
            return Some(v);
        }
        if let Some(v) = root.get("data").and_then(|d| d.get(key)).and_then(Node::scalar_text) {
            let decoded = decode_base64(&v);
            return decoded.or(Some(v));
        }
        root.get(key).and_then(Node::scalar_text)
    };
    let id = get(id_key).ok_or_else(|| format!("no {id_key:?} key (the client ID; see clientIdKey)"))?;
    Ok((id, get(secret_key)))
}

fn decode_base64(text: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

fn read_tools(node: &Node, path: &str, problems: &mut Problems) -> ToolFilter {
    let mut filter = ToolFilter::default();
    let Some(entries) = node.as_map() else {
        problems.add(node.at, path, format!("expected a mapping with `allow` and/or `deny`, found {}", node.kind_name()));
        return filter;
    };
    for (key, value) in entries {
        let field = join(path, &key.name);
        let list = match &value.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|i| {
                    let s = i.as_str().map(str::to_string);
                    if s.is_none() {
                        problems.add(i.at, field.clone(), format!("expected tool names, found {}", i.kind_name()));
                    }
                    s
                })
                .collect(),
            _ => {
                problems.add(value.at, field.clone(), format!("expected a list of tool names, found {}", value.kind_name()));
                Vec::new()
            }
        };
        match canonical(TOOLS_FIELDS, &key.name) {
            Some("allow") => filter.allow = Some(list),
            Some("deny") => filter.deny = list,
            _ => unknown_field(problems, key, field, TOOLS_FIELDS),
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::node::parse_documents;

    fn read(yaml: &str) -> Result<ServerDefinition, Vec<String>> {
        let doc = parse_documents(yaml).unwrap().remove(0);
        let mut problems = Problems::new(Some("t.yaml".into()));
        let ctx = ReadContext { path: String::new(), name: None, at: doc.at, default_auto_start: false, ignored_keys: &[], origin: "t".into() };
        read_definition(&doc, ctx, &mut problems).ok_or_else(|| problems.list.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn a_good_stdio_definition() {
        let d = read("name: time\ntype: stdio\ncommand: uvx\nargs: [mcp-server-time, 8080]\nenv: {TZ: UTC, N: 1}\nautoStart: true\n").unwrap();
        assert_eq!(d.kind, ServerKind::Stdio);
        assert_eq!(d.args, ["mcp-server-time", "8080"]);
        assert_eq!(d.env, [("TZ".to_string(), "UTC".to_string()), ("N".to_string(), "1".to_string())]);
        assert!(d.auto_start);
        assert_eq!(d.timeout, Duration::from_secs(30));
        assert_eq!(d.prefix(), "time");
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let errors = read("name: x\ntype: stdio\nurl: http://a\ncomand: uvx\ntoolPrefix: 9bad\ntimeout: 0\nheaders: {A: b}\n").unwrap_err();
        let text = errors.join("\n");
        for expected in [
            "t.yaml:4:1: comand: unknown field `comand`; did you mean `command`?",
            "t.yaml:5:13: toolPrefix: invalid tool prefix \"9bad\"",
            "t.yaml:6:10: timeout: must be between 1 and 300 seconds, got 0",
            "command: command is required when type is stdio",
            "t.yaml:3:1: url: url is only allowed when type is streamable-http or sse",
            "t.yaml:7:1: headers: headers field is only allowed when type is streamable-http or sse",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn remote_rules() {
        let e = read("name: r\ntype: streamable-http\nurl: ftp://x\nargs: [a]\n").unwrap_err().join("\n");
        assert!(e.contains("url: expected an http:// or https:// URL"), "{e}");
        assert!(e.contains("args: args field is only allowed when type is stdio"), "{e}");
        let e = read("name: r\ntype: sse\n").unwrap_err().join("\n");
        assert!(e.contains("url is required when type is streamable-http or sse"), "{e}");
        let e = read("name: r\ntype: websocket\nurl: http://x\n").unwrap_err().join("\n");
        assert!(e.contains("unknown type \"websocket\""), "{e}");
    }

    #[test]
    fn unset_variables_are_named() {
        let e = read("name: r\ntype: streamable-http\nurl: http://x\nheaders: {Authorization: 'Bearer ${MCPFLEET_TEST_SURELY_UNSET}'}\n").unwrap_err().join("\n");
        assert!(e.contains("headers.Authorization: environment variable `MCPFLEET_TEST_SURELY_UNSET` is not set"), "{e}");
        read("name: r\ntype: streamable-http\nurl: http://x\nheaders: {A: '${MCPFLEET_TEST_SURELY_UNSET:-none}'}\n").unwrap();
    }

    #[test]
    fn variables_expand_in_every_field_that_runs_or_reaches_the_server() {
        // SAFETY: only this test sets these names.
        unsafe {
            std::env::set_var("MCPFLEET_T_PORT", "8123");
            std::env::set_var("MCPFLEET_T_BIN", "/usr/bin/python3");
        }
        let d = read("name: r\ntype: streamable-http\nurl: http://127.0.0.1:${MCPFLEET_T_PORT}/mcp\ntls: {caBundle: '${MCPFLEET_T_BIN}.pem'}\n").unwrap();
        let e = d.expanded().unwrap();
        assert_eq!(e.url.as_deref(), Some("http://127.0.0.1:8123/mcp"));
        assert_eq!(e.tls.ca_bundle.as_deref(), Some("/usr/bin/python3.pem"));
        let d = read("name: s\ncommand: ${MCPFLEET_T_BIN}\ncwd: ${MCPFLEET_T_HOME:-/tmp}\nargs: ['-m', x]\n").unwrap();
        let e = d.expanded().unwrap();
        assert_eq!((e.command.as_deref(), e.cwd.as_deref()), (Some("/usr/bin/python3"), Some("/tmp")));
        let errors = read("name: s\ncommand: ${MCPFLEET_T_UNSET_BIN}\ncwd: $${X}\n").unwrap_err().join("\n");
        assert!(errors.contains("t.yaml:2:10: command: environment variable `MCPFLEET_T_UNSET_BIN` is not set"), "{errors}");
        // Checked after expansion, and the message says so.
        let errors = read("name: r\nurl: 'ftp://h:${MCPFLEET_T_PORT}/mcp'\n").unwrap_err().join("\n");
        assert!(errors.contains("after expanding variables: \"ftp://h:8123/mcp\""), "{errors}");
    }

    #[test]
    fn timing_fields_have_floors_and_ceilings() {
        let errors = read("name: s\ncommand: x\npingInterval: 1e-7\nrestart: {initialDelay: 0.000000001, maxDelay: 0, maxRestarts: 1000000, resetAfter: 0}\n").unwrap_err().join("\n");
        for expected in [
            "pingInterval: must be between 1 and 86400 seconds (or 0 to turn pings off), got 0.0000001",
            "restart.initialDelay: must be between 0.05 and 3600",
            "restart.maxDelay: must be between 0.05 and 86400",
            "restart.maxRestarts: must be between 0 and 100",
            "restart.resetAfter: must be between 1 and 604800",
        ] {
            assert!(errors.contains(expected), "missing {expected:?} in\n{errors}");
        }
        assert_eq!(read("name: s\ncommand: x\npingInterval: 0\n").unwrap().ping_interval, None);
        assert_eq!(read("name: s\ncommand: x\npingInterval: 2.5\n").unwrap().ping_interval, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn backoff_grows_to_the_cap() {
        let p = RestartPolicy { initial_delay: Duration::from_secs(1), factor: 2.0, max_delay: Duration::from_secs(5), ..Default::default() };
        assert_eq!([1, 2, 3, 4].map(|a| p.delay(a).as_secs()), [1, 2, 4, 5]);
    }

    #[test]
    fn tool_filters() {
        let f = ToolFilter { allow: Some(vec!["get_*".into(), "echo".into()]), deny: vec!["*_secret".into()] };
        assert!(f.admits("get_time") && f.admits("echo"));
        assert!(!f.admits("get_secret") && !f.admits("set_time"));
        assert!(glob_match("a*b*c", "axxbyyc") && !glob_match("a*b*c", "acb"));
    }
}
