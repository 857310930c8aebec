//! The RFC 8785 (JCS) form of the small JSON trees Arkivo builds or reads back: objects of
//! strings, objects and arrays. Members are sorted here, by UTF-16 code units as RFC 8785 §3.2.3
//! requires, whatever order they were built in; strings are escaped as RFC 8785 §3.2.2.2
//! requires.

/// A JSON value without numbers, booleans or null (no canonical body contains them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
}

impl Node {
    pub(crate) fn s(v: impl Into<String>) -> Node {
        Node::Str(v.into())
    }

    /// The node of a JSON value made only of strings, arrays and objects, as the proto3 JSON of
    /// a Rekor v2 entry is (its only scalars are strings, bytes and enums); `None` otherwise.
    pub(crate) fn from_value(v: &serde_json::Value) -> Option<Node> {
        match v {
            serde_json::Value::String(s) => Some(Node::Str(s.clone())),
            serde_json::Value::Array(items) => items
                .iter()
                .map(Node::from_value)
                .collect::<Option<_>>()
                .map(Node::Arr),
            serde_json::Value::Object(members) => members
                .iter()
                .map(|(k, v)| Some((k.clone(), Node::from_value(v)?)))
                .collect::<Option<_>>()
                .map(Node::Obj),
            _ => None,
        }
    }

    pub(crate) fn obj<const N: usize>(members: [(&str, Node); N]) -> Node {
        Node::Obj(
            members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }
}

/// The canonical bytes of `node`.
pub(crate) fn to_vec(node: &Node) -> Vec<u8> {
    let mut out = Vec::new();
    write(node, &mut out);
    out
}

fn write(node: &Node, out: &mut Vec<u8>) {
    match node {
        Node::Str(s) => write_str(s, out),
        Node::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Node::Obj(members) => {
            let mut sorted: Vec<&(String, Node)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write(v, out);
            }
            out.push(b'}');
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_members_and_escapes_like_rfc8785() {
        let n = Node::Obj(vec![
            ("b".into(), Node::s("x")),
            (
                "a".into(),
                Node::Arr(vec![Node::s("\u{1}\n\"\\/é€"), Node::obj([])]),
            ),
            // U+FB01 sorts before U+1F600 by UTF-16 code units (0xFB01 > 0xD83D is false...):
            ("\u{1F600}".into(), Node::s("")),
            ("\u{FB01}".into(), Node::s("")),
            ("A".into(), Node::s("\u{7f}")),
        ]);
        let got = String::from_utf8(to_vec(&n)).unwrap();
        assert_eq!(
            got,
            "{\"A\":\"\u{7f}\",\"a\":[\"\\u0001\\n\\\"\\\\/é€\",{}],\"b\":\"x\",\"\u{1F600}\":\"\",\"\u{FB01}\":\"\"}"
        );
    }
}
