//! A small document tree that remembers where each value came from, so that every problem in a
//! definition can name its file, line and column. YAML and JSON files are read with the YAML
//! parser (JSON is YAML's flow syntax); values from Python arrive as `serde_json::Value`s and
//! have no location.

use std::collections::HashMap;
use std::fmt;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub at: Option<Location>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub at: Option<Location>,
}

impl Node {
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text: how env values and args written as `8080` or `true` are read.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn from_json(value: &serde_json::Value) -> Node {
        let value = match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(items) => Value::Seq(items.iter().map(Node::from_json).collect()),
            serde_json::Value::Object(map) => {
                Value::Map(map.iter().map(|(k, v)| (Key { name: k.clone(), at: None }, Node::from_json(v))).collect())
            }
        };
        Node { value, at: None }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null),
            Value::Str(s) => s.clone().into(),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect::<serde_json::Map<_, _>>().into(),
        }
    }
}

/// A syntax error in a file.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub at: Location,
}

fn location(span: &Span) -> Location {
    Location { line: span.start.line(), column: span.start.col() + 1 }
}

fn syntax(e: ScanError) -> SyntaxError {
    let mark = e.marker();
    SyntaxError { message: e.info(), at: Location { line: mark.line(), column: mark.col() + 1 } }
}

/// YAML 1.2 core schema for plain scalars (`yes`/`no` stay strings).
fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Int(i);
    }
    let looks_numeric = text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        && text.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if looks_numeric {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text.to_string())
}

/// How many values a text may hold once its aliases are expanded. Each alias counts the whole
/// node it copies, so a few hundred bytes of nested aliases ("billion laughs") cannot make
/// gigabytes of tree.
pub const MAX_NODES: usize = 100_000;

/// Parses every document of a YAML (or JSON) text. Documents that hold nothing (a stray `---`,
/// comments only) are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let events = Parser::new_from_str(text).collect::<Result<Vec<_>, _>>().map_err(syntax)?;
    let mut reader = EventReader { events, next: 0, anchors: HashMap::new(), nodes: 0 };
    let mut documents = Vec::new();
    while let Some((event, span)) = reader.take() {
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart(..) => {
                reader.anchors.clear();
                match reader.node()? {
                    Some(Node { value: Value::Null, .. }) | None => {}
                    Some(node) => documents.push(node),
                }
            }
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_) => {
                return Err(SyntaxError { message: "unexpected content outside a document".into(), at: location(&span) });
            }
            _ => {} // stream start and end markers, comments
        }
    }
    Ok(documents)
}

struct EventReader<'a> {
    events: Vec<(Event<'a>, Span)>,
    next: usize,
    /// Anchored nodes with the number of values each holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Values made so far, aliases counted in full.
    nodes: usize,
}

fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| 1 + size(v)).sum(),
        _ => 0,
    }
}

impl<'a> EventReader<'a> {
    fn take(&mut self) -> Option<(Event<'a>, Span)> {
        let item = self.events.get(self.next).cloned();
        self.next += 1;
        item
    }

    fn count(&mut self, n: usize, span: &Span, what: &str) -> Result<(), SyntaxError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(SyntaxError { message: format!("{what} makes the file hold more than {MAX_NODES} values; nothing was loaded"), at: location(span) });
        }
        Ok(())
    }

    /// One node; `None` at the end of a document or collection.
    fn node(&mut self) -> Result<Option<Node>, SyntaxError> {
        loop {
            let Some((event, span)) = self.take() else { return Ok(None) };
            let at = Some(location(&span));
            if matches!(event, Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)) {
                self.count(1, &span, "this value")?;
            }
            let (node, anchor) = match event {
                Event::Scalar(text, style, anchor, _tag) => {
                    let value = match style {
                        ScalarStyle::Plain => plain_scalar(&text),
                        _ => Value::Str(text.into_owned()),
                    };
                    (Node { value, at }, anchor)
                }
                Event::SequenceStart(_, anchor, _) => {
                    let mut items = Vec::new();
                    while let Some(item) = self.node()? {
                        items.push(item);
                    }
                    (Node { value: Value::Seq(items), at }, anchor)
                }
                Event::MappingStart(_, anchor, _) => {
                    let mut entries: Vec<(Key, Node)> = Vec::new();
                    while let Some(key) = self.node()? {
                        let name = match key.value {
                            Value::Str(s) => s,
                            Value::Int(i) => i.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::Float(f) => f.to_string(),
                            Value::Null => String::new(),
                            _ => return Err(SyntaxError { message: "a mapping key must be a plain value".into(), at: key.at.unwrap_or(Location { line: 0, column: 0 }) }),
                        };
                        let value = self.node()?.unwrap_or(Node { value: Value::Null, at: key.at });
                        if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name) {
                            let first = first.at.map(|l| format!(" (first at line {})", l.line)).unwrap_or_default();
                            return Err(SyntaxError { message: format!("duplicate key `{name}`{first}"), at: key.at.unwrap_or(Location { line: 0, column: 0 }) });
                        }
                        entries.push((Key { name, at: key.at }, value));
                    }
                    (Node { value: Value::Map(entries), at }, anchor)
                }
                Event::Alias(id) => {
                    let Some((node, n)) = self.anchors.get(&id) else {
                        return Err(SyntaxError { message: "unknown alias".into(), at: location(&span) });
                    };
                    let (value, n) = (node.value.clone(), *n);
                    if n > MAX_NODES - self.nodes.min(MAX_NODES) {
                        return Err(SyntaxError { message: format!("this alias makes the file hold more than {MAX_NODES} values (aliases copy what they name); nothing was loaded"), at: location(&span) });
                    }
                    self.count(n, &span, "this alias")?;
                    return Ok(Some(Node { value, at }));
                }
                Event::SequenceEnd | Event::MappingEnd | Event::DocumentEnd | Event::StreamEnd => return Ok(None),
                _ => continue, // comments, anchor metadata
            };
            if anchor != 0 {
                self.anchors.insert(anchor, (node.clone(), size(&node)));
            }
            return Ok(Some(node));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_keep_locations() {
        let docs = parse_documents("a: 1\nb:\n  - x\n  - 'y'\n---\nc: yes\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        assert_eq!(b.at, Some(Location { line: 3, column: 3 }));
        let Value::Seq(items) = &b.value else { panic!() };
        assert_eq!(items[1].value, Value::Str("y".into()));
        assert_eq!(docs[1].get("c").unwrap().value, Value::Str("yes".into()));
        let json = parse_documents("{\n  \"mcpServers\": {\"t\": {\"command\": \"uvx\", \"n\": 3}}\n}").unwrap();
        let t = json[0].get("mcpServers").unwrap().get("t").unwrap();
        assert_eq!(t.get("n").unwrap().value, Value::Int(3));
        assert_eq!(t.get("command").unwrap().at.unwrap().line, 2);
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_have_positions() {
        let e = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.at.line >= 1, "{e:?}");
        let e = parse_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.at, Location { line: 3, column: 1 });
        assert!(e.message.contains("duplicate key `a` (first at line 1)"), "{}", e.message);
    }

    #[test]
    fn anchors_and_aliases_resolve() {
        let docs = parse_documents("base: &e {A: '1'}\nother: *e\n").unwrap();
        assert_eq!(docs[0].get("other").unwrap().get("A").unwrap().value, Value::Str("1".into()));
    }

    #[test]
    fn comments_blank_documents_bom_crlf_and_tabs() {
        let text = "\u{FEFF}# fleet.yaml\r\n#\tmaintained by ops\r\n---\r\n\r\n# nothing here\r\n---\r\nname: a   # trailing\r\ncommand: 'x'\r\n...\r\n---\r\n---\r\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].get("command").unwrap().value, Value::Str("x".into()));
        assert_eq!(docs[0].get("name").unwrap().at, Some(Location { line: 7, column: 7 }));
        assert!(parse_documents("# only a comment\n").unwrap().is_empty());
        assert!(parse_documents("").unwrap().is_empty());
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, name) in "abcdefghi".chars().zip("bcdefghij".chars()) {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        assert!(text.len() < 500, "{}", text.len());
        let e = parse_documents(&text).unwrap_err();
        assert!(e.message.contains("more than 100000 values"), "{}", e.message);
        assert!(e.at.line >= 2, "{:?}", e.at);
        // Ordinary reuse stays fine.
        let docs = parse_documents("base: &b {A: '1', B: '2'}\nx: *b\ny: *b\n").unwrap();
        assert_eq!(docs[0].get("y").unwrap().get("B").unwrap().value, Value::Str("2".into()));
    }
}
