//! Where definitions come from: YAML files of `MCPServer` documents (muster's shape or flat),
//! a directory in muster's layout (`<dir>/mcpservers/*.yaml|*.yml`), the `{"mcpServers": ...}`
//! JSON of desktop MCP clients, and values handed over from Python. Loading is all or nothing:
//! any problem anywhere and nothing is returned but the complete list of problems.

use std::path::Path;
use std::sync::Arc;

use crate::fleet::definition::{API_VERSION, MUSTER_API_VERSION, Problem, Problems, ReadContext, ServerDefinition, did_you_mean, read_definition};
use crate::fleet::node::{Location, Node, Value, parse_documents};
use crate::util::file::{MAX_FILE_BYTES, ReadError, read_text};

/// Files read from one configuration directory.
const MAX_FILES: usize = 10_000;

/// Desktop-client keys that have no meaning here.
const DESKTOP_IGNORED: &[&str] = &["disabled", "alwaysAllow", "autoApprove", "disabledTools", "note", "notes"];
const DOCUMENT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

/// Loads a file or a configuration directory.
pub fn load_path(path: &Path) -> Result<Vec<ServerDefinition>, Vec<Problem>> {
    let label: Arc<str> = path.display().to_string().into();
    let io_problem = |e: std::io::Error, what: &str| vec![Problem { source: Some(label.clone()), at: None, field: String::new(), server: None, message: format!("cannot {what}: {e}") }];
    let meta = std::fs::metadata(path).map_err(|e| io_problem(e, "read it"))?;
    if !meta.is_dir() {
        let text = read_text(path, MAX_FILE_BYTES).map_err(|e| {
            let at = match e {
                ReadError::NotUtf8 { line, column, .. } => Some(Location { line, column }),
                _ => None,
            };
            vec![Problem { source: Some(label.clone()), at, field: String::new(), server: None, message: format!("cannot read it: {e}") }]
        })?;
        return load_text(&text, label.clone(), path.file_stem().and_then(|s| s.to_str()));
    }
    let dir = path.join("mcpservers");
    if !dir.is_dir() {
        return Err(vec![Problem {
            source: Some(label),
            at: None,
            field: String::new(),
            server: None,
            message: "a configuration directory must contain `mcpservers/` with *.yaml or *.yml files (muster's layout)".into(),
        }]);
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| io_problem(e, "list mcpservers/"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .take(MAX_FILES + 1)
        .collect();
    if files.len() > MAX_FILES {
        return Err(vec![Problem { source: Some(label), at: None, field: String::new(), server: None, message: format!("more than {MAX_FILES} files in mcpservers/") }]);
    }
    files.sort();
    let mut definitions = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match load_path(&file) {
            Ok(mut defs) => definitions.append(&mut defs),
            Err(mut p) => problems.append(&mut p),
        }
    }
    check_unique(&definitions, &mut problems);
    if problems.is_empty() { Ok(definitions) } else { Err(problems) }
}

/// Loads several files or directories as one source: every problem of every one, and a
/// server defined in two of them is a problem too.
pub fn load_paths(paths: &[std::path::PathBuf]) -> Result<Vec<ServerDefinition>, Vec<Problem>> {
    let mut definitions = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match load_path(path) {
            Ok(mut defs) => definitions.append(&mut defs),
            Err(mut p) => problems.append(&mut p),
        }
    }
    check_unique(&definitions, &mut problems);
    if problems.is_empty() { Ok(definitions) } else { Err(problems) }
}

/// Loads every document of a YAML or JSON text. `stem` names a document without `metadata.name`.
pub fn load_text(text: &str, label: Arc<str>, stem: Option<&str>) -> Result<Vec<ServerDefinition>, Vec<Problem>> {
    let documents = parse_documents(text)
        .map_err(|e| vec![Problem { source: Some(label.clone()), at: Some(e.at), field: String::new(), server: None, message: format!("syntax error: {}", e.message) }])?;
    let mut problems = Problems::new(Some(label.clone()));
    let mut definitions = Vec::new();
    for doc in &documents {
        let stem = if documents.len() == 1 { stem } else { None };
        definitions.extend(read_document(doc, &mut problems, stem, &label));
    }
    let mut problems = problems.list;
    if documents.is_empty() {
        problems.push(Problem { source: Some(label), at: None, field: String::new(), server: None, message: "no server definitions found (the file is empty)".into() });
    }
    check_unique(&definitions, &mut problems);
    if problems.is_empty() { Ok(definitions) } else { Err(problems) }
}

/// Reads a value handed over from Python: a flat definition, a document, or `{"mcpServers": ...}`.
pub fn load_value(value: &serde_json::Value, label: &str) -> Result<Vec<ServerDefinition>, Vec<Problem>> {
    let node = Node::from_json(value);
    let label: Arc<str> = label.into();
    let mut problems = Problems::new(Some(label.clone()));
    let definitions = read_document(&node, &mut problems, None, &label);
    let mut problems = problems.list;
    check_unique(&definitions, &mut problems);
    if problems.is_empty() { Ok(definitions) } else { Err(problems) }
}

/// Reads the one definition `update(name, spec)` takes; a flat spec may leave out its name.
pub fn load_update(name: &str, value: &serde_json::Value, label: &str) -> crate::error::Result<ServerDefinition> {
    let mut value = value.clone();
    if let Some(map) = value.as_object_mut() {
        if !map.contains_key("metadata") && !map.contains_key("mcpServers") {
            map.entry("name").or_insert_with(|| name.into());
        }
    }
    let mut definitions = load_value(&value, label).map_err(crate::error::Error::Invalid)?;
    if definitions.len() != 1 {
        return Err(crate::error::Error::Config(format!("{label} takes exactly one server definition, got {}", definitions.len())));
    }
    Ok(definitions.remove(0))
}

fn origin(label: &str, node: &Node) -> String {
    match node.at {
        Some(at) => format!("{label}:{}", at.line),
        None => label.to_string(),
    }
}

/// Reads one document; its problems name the server they belong to.
fn read_document(doc: &Node, problems: &mut Problems, stem: Option<&str>, label: &str) -> Vec<ServerDefinition> {
    let before = problems.list.len();
    let definitions = read_document_fields(doc, problems, stem, label);
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .or_else(|| doc.get("name"))
        .and_then(Node::as_str)
        .or(stem.filter(|_| doc.get("apiVersion").is_some() || doc.get("spec").is_some()));
    if let Some(name) = name {
        for p in &mut problems.list[before..] {
            p.server.get_or_insert_with(|| name.to_string());
        }
    }
    definitions
}

fn read_document_fields(doc: &Node, problems: &mut Problems, stem: Option<&str>, label: &str) -> Vec<ServerDefinition> {
    let Some(entries) = doc.as_map() else {
        problems.add(doc.at, "", format!("expected a server definition (a mapping), found {}", doc.kind_name()));
        return Vec::new();
    };
    if let Some(servers) = doc.get("mcpServers") {
        return read_desktop(servers, problems, label);
    }
    let is_document = entries.iter().any(|(k, _)| DOCUMENT_FIELDS[..4].contains(&k.name.as_str()));
    if !is_document {
        let ctx = ReadContext { path: String::new(), name: None, at: doc.at, default_auto_start: false, ignored_keys: &[], origin: origin(label, doc) };
        return read_definition(doc, ctx, problems).into_iter().collect();
    }
    for (key, _) in entries {
        if !DOCUMENT_FIELDS.contains(&key.name.as_str()) {
            let hint = did_you_mean(&key.name, DOCUMENT_FIELDS.iter().copied()).map(|h| format!("; did you mean `{h}`?")).unwrap_or_default();
            problems.add(key.at, key.name.clone(), format!("unknown field `{}` in an MCPServer document{hint} (server fields go under `spec`)", key.name));
        }
    }
    match doc.get("apiVersion") {
        Some(v) if v.as_str() == Some(MUSTER_API_VERSION) || v.as_str() == Some(API_VERSION) => {}
        Some(v) => problems.add(v.at, "apiVersion", format!("expected {MUSTER_API_VERSION:?} or {API_VERSION:?}, got {}", describe(v))),
        None => problems.add(doc.at, "apiVersion", format!("apiVersion is required ({MUSTER_API_VERSION:?} or {API_VERSION:?})")),
    }
    match doc.get("kind") {
        Some(v) if v.as_str() == Some("MCPServer") => {}
        Some(v) => problems.add(v.at, "kind", format!("expected \"MCPServer\", got {}", describe(v))),
        None => problems.add(doc.at, "kind", "kind is required (\"MCPServer\")"),
    }
    let name = match doc.get("metadata") {
        Some(meta) => match meta.get("name") {
            Some(n) => match n.as_str() {
                Some(s) => Some((s.to_string(), n.at)),
                None => {
                    problems.add(n.at, "metadata.name", format!("expected a string, found {}", n.kind_name()));
                    None
                }
            },
            None => stem.map(|s| (s.to_string(), meta.at)),
        },
        None => stem.map(|s| (s.to_string(), doc.at)),
    };
    if name.is_none() && !problems.list.iter().any(|p| p.field == "metadata.name") {
        problems.add(doc.get("metadata").map_or(doc.at, |m| m.at), "metadata.name", "metadata.name is required");
    }
    let Some(spec) = doc.get("spec") else {
        problems.add(doc.at, "spec", "spec is required");
        return Vec::new();
    };
    let Some(name) = name else { return Vec::new() };
    let ctx = ReadContext { path: "spec".into(), name: Some(name), at: spec.at, default_auto_start: false, ignored_keys: &[], origin: origin(label, doc) };
    read_definition(spec, ctx, problems).into_iter().collect()
}

fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("{s:?}"),
        _ => node.kind_name().to_string(),
    }
}

fn read_desktop(servers: &Node, problems: &mut Problems, label: &str) -> Vec<ServerDefinition> {
    let Some(entries) = servers.as_map() else {
        problems.add(servers.at, "mcpServers", format!("expected a mapping of server names to servers, found {}", servers.kind_name()));
        return Vec::new();
    };
    let mut definitions = Vec::new();
    for (key, entry) in entries {
        let disabled = entry.get("disabled").is_some_and(|d| d.value == Value::Bool(true));
        let ctx = ReadContext {
            path: format!("mcpServers.{}", key.name),
            name: Some((key.name.clone(), key.at)),
            at: entry.at,
            // Desktop clients run every server that is not disabled.
            default_auto_start: !disabled,
            ignored_keys: DESKTOP_IGNORED,
            origin: origin(label, entry),
        };
        let before = problems.list.len();
        definitions.extend(read_definition(entry, ctx, problems));
        for p in &mut problems.list[before..] {
            p.server.get_or_insert_with(|| key.name.clone());
        }
    }
    definitions
}

fn check_unique(definitions: &[ServerDefinition], problems: &mut Vec<Problem>) {
    for (i, d) in definitions.iter().enumerate() {
        if let Some(first) = definitions[..i].iter().find(|f| f.name == d.name) {
            problems.push(Problem {
                source: None,
                at: None,
                field: String::new(),
                server: None,
                message: format!("{}: server `{}` is defined twice (first at {})", d.origin, d.name, first.origin),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<ServerDefinition>, String> {
        load_text(text, "f.yaml".into(), Some("stem")).map_err(|p| p.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))
    }

    #[test]
    fn muster_documents_many_per_file() {
        let defs = load(
            "apiVersion: muster.giantswarm.io/v1alpha1\nkind: MCPServer\nmetadata: {name: a}\nspec: {type: stdio, command: uvx}\n---\n\
             apiVersion: mcpfleet.dev/v1alpha1\nkind: MCPServer\nmetadata: {name: b}\nspec: {type: sse, url: 'http://h/sse', autoStart: true}\n",
        )
        .unwrap();
        assert_eq!(defs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(defs[1].auto_start);
        assert_eq!(defs[0].origin, "f.yaml:1");
    }

    #[test]
    fn desktop_json() {
        let defs = load(r#"{"mcpServers": {"time": {"command": "uvx", "args": ["t"], "alwaysAllow": []}, "remote": {"url": "https://h/mcp", "headers": {"X": "y"}}, "old": {"url": "http://h/sse"}, "off": {"command": "x", "disabled": true}}}"#).unwrap();
        let kinds: Vec<_> = defs.iter().map(|d| (d.name.as_str(), d.kind.as_str(), d.auto_start)).collect();
        assert_eq!(kinds, [("time", "stdio", true), ("remote", "streamable-http", true), ("old", "sse", true), ("off", "stdio", false)]);
    }

    #[test]
    fn one_bad_document_registers_nothing() {
        let e = load("name: a\ntype: stdio\ncommand: x\n---\nname: b\ntype: stdio\n").unwrap_err();
        assert!(e.contains("f.yaml:5:1: server `b`: command: command is required when type is stdio"), "{e}");
        let e = load("name: a\ntype: stdio\ncommand: x\n---\nname: a\ntype: stdio\ncommand: y\n").unwrap_err();
        assert!(e.contains("server `a` is defined twice (first at f.yaml:1)"), "{e}");
    }

    #[test]
    fn document_shape_problems() {
        let e = load("apiVersion: v9\nkind: Pod\nmetadata: {}\nspc: {}\n").unwrap_err();
        for expected in [
            "f.yaml:1:13: server `stem`: apiVersion: expected",
            "f.yaml:2:7: server `stem`: kind: expected \"MCPServer\", got \"Pod\"",
            "f.yaml:4:1: server `stem`: spc: unknown field `spc` in an MCPServer document; did you mean `spec`?",
            "spec: spec is required",
        ] {
            assert!(e.contains(expected), "missing {expected:?} in\n{e}");
        }
        // metadata.name falls back to the file name
        let defs = load("apiVersion: mcpfleet.dev/v1alpha1\nkind: MCPServer\nspec: {type: stdio, command: x}\n").unwrap();
        assert_eq!(defs[0].name, "stem");
    }

    #[test]
    fn problems_name_their_server() {
        let e = load(
            "# servers\napiVersion: muster.giantswarm.io/v1alpha1\nkind: MCPServer\nmetadata:\n  name: wetter-ü\nspec:\n  type: sse\n  url: ftp://h\n---\n\
             mcpServers:\n  zeit: {command: 3}\n",
        )
        .unwrap_err();
        assert!(e.contains("f.yaml:8:8: server `wetter-ü`: spec.url: expected an http:// or https:// URL"), "{e}");
        assert!(e.contains("f.yaml:11:19: server `zeit`: mcpServers.zeit.command: expected a string"), "{e}");
        let e = load("apiVersion: mcpfleet.dev/v1alpha1\nkind: MCPServer\nmetadata: {name: 'bad name'}\nspec: {command: x}\n").unwrap_err();
        assert!(e.contains("f.yaml:3:18: server `bad name`: metadata.name: invalid name"), "{e}");
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = load("name: a\n  type: [stdio\n").unwrap_err();
        assert!(e.starts_with("f.yaml:") && e.contains("syntax error"), "{e}");
    }
}
