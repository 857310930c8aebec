//! Generates the Rust types of `proto/` and their proto3 JSON mapping (tiles-checkpoints-v2.md §7.1)
//! into `$OUT_DIR/proto.rs`, included by `src/proto/mod.rs`.
//!
//! Why our own generator instead of protox + prost-build + pbjson-build: those crates (and
//! prost-derive, which their output needs) enable more features of `regex`, `itertools` and
//! `either` on the host, which bindgen — the build-dependency of librocksdb-sys — shares; cargo
//! then rebuilds bindgen and with it all of RocksDB's C++ (~20 min on 2 cores), for every
//! developer and CI. Measured with `cargo tree -e features` before and after. This file needs
//! only `std`, and the protocol buffers we speak are a small, fixed subset.
//!
//! Supported `.proto` subset (anything else stops the build with a message): `syntax =
//! "proto3"`, `package`, `import`, `option` (ignored), top-level `message` and `enum`; fields of
//! type `string`, `bytes`, `int64`, an enum or a message, optionally `repeated`; `oneof`. Field
//! and enum options in `[...]` are ignored. Proto3 JSON rules implemented in the output (with the
//! helpers of `src/proto/json.rs`): lowerCamelCase JSON names (protoc's `ToJsonName`), the proto
//! field name accepted too; `int64` as a decimal string (numbers accepted); `bytes` as padded
//! standard base64 (URL-safe and unpadded accepted); enums by value name (numbers accepted);
//! `null` read as the default; unknown, duplicate and doubly set oneof fields refused. Defaults
//! are omitted on output, as protojson does, unless the caller asks for unpopulated fields to
//! be emitted (`json::Json(&msg, true)`), as grpc-gateway does for Rekor v2 answers (§6.1).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The files compiled, relative to `proto/`; imports must name files of this list.
const PROTO_FILES: [&str; 7] = [
    "sigstore_common.proto",
    "sigstore_rekor.proto",
    "envelope.proto",
    "rekor/v2/verifier.proto",
    "rekor/v2/hashedrekord.proto",
    "rekor/v2/dsse.proto",
    "rekor/v2/entry.proto",
];

/// Each protobuf package and the module of `crate::proto` that holds its types.
const PACKAGES: [(&str, &str); 4] = [
    ("dev.sigstore.common.v1", "common_v1"),
    ("dev.sigstore.rekor.v1", "rekor_v1"),
    ("dev.sigstore.rekor.v2", "rekor_v2"),
    ("io.intoto", "intoto"),
];

fn main() {
    println!("cargo:rerun-if-changed=proto");
    let mut schema = Schema::default();
    for file in PROTO_FILES {
        let path = Path::new("proto").join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        parse_file(file, &text, &mut schema).unwrap_or_else(|e| panic!("proto/{file}: {e}"));
    }
    let code = generate(&schema).unwrap_or_else(|e| panic!("generating proto types: {e}"));
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("proto.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

// ---------------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Schema {
    /// By fully qualified name (`package.Name`), so the output order is fixed.
    messages: BTreeMap<String, Message>,
    enums: BTreeMap<String, Enum>,
}

struct Message {
    package: String,
    name: String,
    /// Fields and oneofs in declaration order (the JSON output order).
    members: Vec<Member>,
}

enum Member {
    Field(Field),
    Oneof { name: String, fields: Vec<Field> },
}

struct Field {
    name: String,
    /// The type as written: a scalar name or a (possibly qualified) message or enum name.
    type_name: String,
    repeated: bool,
}

struct Enum {
    package: String,
    name: String,
    values: Vec<(String, i32)>,
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Splits `.proto` text into identifiers (dots included), numbers, strings and punctuation,
/// dropping whitespace and comments.
fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            if i == chars.len() {
                return Err("unterminated string".into());
            }
            i += 1;
            tokens.push(chars[start..i].iter().collect());
        } else if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-'))
            {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if "{}[]()<>;=,".contains(c) {
            tokens.push(c.to_string());
            i += 1;
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(tokens)
}

struct Tokens {
    tokens: Vec<String>,
    at: usize,
}

impl Tokens {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Result<String, String> {
        let t = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or("unexpected end of file")?;
        self.at += 1;
        Ok(t)
    }

    fn expect(&mut self, want: &str) -> Result<(), String> {
        let got = self.next()?;
        if got == want {
            Ok(())
        } else {
            Err(format!("expected {want:?}, found {got:?}"))
        }
    }

    /// Skips to and past the next `;` (an option or reserved statement).
    fn skip_statement(&mut self) -> Result<(), String> {
        while self.next()? != ";" {}
        Ok(())
    }

    /// Skips a `[...]` option list if one follows.
    fn skip_options(&mut self) -> Result<(), String> {
        if self.peek() == Some("[") {
            while self.next()? != "]" {}
        }
        Ok(())
    }
}

fn is_identifier(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_file(file: &str, text: &str, schema: &mut Schema) -> Result<(), String> {
    let mut t = Tokens {
        tokens: tokenize(text)?,
        at: 0,
    };
    t.expect("syntax")?;
    t.expect("=")?;
    t.expect("\"proto3\"")?;
    t.expect(";")?;
    let mut package = None;
    while let Some(keyword) = t.peek() {
        match keyword {
            "package" => {
                t.next()?;
                let name = t.next()?;
                if !PACKAGES.iter().any(|(p, _)| *p == name) {
                    return Err(format!("package {name} has no module in build.rs PACKAGES"));
                }
                package = Some(name);
                t.expect(";")?;
            }
            "import" => {
                t.next()?;
                let path = t.next()?;
                let path = path.trim_matches('"');
                if !PROTO_FILES.contains(&path) {
                    return Err(format!(
                        "{file} imports {path}, which is not in PROTO_FILES"
                    ));
                }
                t.expect(";")?;
            }
            "option" => t.skip_statement()?,
            "message" | "enum" => {
                let keyword = t.next()?;
                let package = package
                    .clone()
                    .ok_or("the package must be declared before the first type")?;
                let name = t.next()?;
                if !is_identifier(&name) {
                    return Err(format!("bad type name {name:?}"));
                }
                let full = format!("{package}.{name}");
                if schema.messages.contains_key(&full) || schema.enums.contains_key(&full) {
                    return Err(format!("{full} is defined twice"));
                }
                if keyword == "message" {
                    let members = parse_message_body(&mut t)?;
                    schema.messages.insert(
                        full,
                        Message {
                            package,
                            name,
                            members,
                        },
                    );
                } else {
                    let values = parse_enum_body(&mut t)?;
                    schema.enums.insert(
                        full,
                        Enum {
                            package,
                            name,
                            values,
                        },
                    );
                }
            }
            other => return Err(format!("unsupported top-level statement {other:?}")),
        }
    }
    Ok(())
}

/// One field after its optional `repeated`: `type name = N [options];`.
fn parse_field(t: &mut Tokens, repeated: bool) -> Result<Field, String> {
    let type_name = t.next()?;
    match type_name.as_str() {
        "optional" | "required" | "map" | "group" | "message" | "enum" | "extensions" => {
            return Err(format!("{type_name:?} is not supported by build.rs"));
        }
        _ => {}
    }
    let name = t.next()?;
    if !is_identifier(&name) {
        return Err(format!("bad field name {name:?}"));
    }
    t.expect("=")?;
    let number = t.next()?;
    if number.parse::<u32>().map_or(true, |n| n == 0) {
        return Err(format!("bad field number {number:?} of {name}"));
    }
    t.skip_options()?;
    t.expect(";")?;
    Ok(Field {
        name,
        type_name,
        repeated,
    })
}

fn parse_message_body(t: &mut Tokens) -> Result<Vec<Member>, String> {
    t.expect("{")?;
    let mut members = Vec::new();
    loop {
        match t.peek().ok_or("unterminated message")? {
            "}" => {
                t.next()?;
                return Ok(members);
            }
            "option" | "reserved" => t.skip_statement()?,
            "oneof" => {
                t.next()?;
                let name = t.next()?;
                t.expect("{")?;
                let mut fields = Vec::new();
                while t.peek() != Some("}") {
                    if t.peek() == Some("option") {
                        t.skip_statement()?;
                    } else {
                        fields.push(parse_field(t, false)?);
                    }
                }
                t.expect("}")?;
                members.push(Member::Oneof { name, fields });
            }
            "repeated" => {
                t.next()?;
                members.push(Member::Field(parse_field(t, true)?));
            }
            _ => members.push(Member::Field(parse_field(t, false)?)),
        }
    }
}

fn parse_enum_body(t: &mut Tokens) -> Result<Vec<(String, i32)>, String> {
    t.expect("{")?;
    let mut values = Vec::new();
    loop {
        match t.peek().ok_or("unterminated enum")? {
            "}" => {
                t.next()?;
                break;
            }
            "option" | "reserved" => t.skip_statement()?,
            _ => {
                let name = t.next()?;
                t.expect("=")?;
                let number = t.next()?;
                let number: i32 = number
                    .parse()
                    .map_err(|_| format!("bad enum value {number:?}"))?;
                t.skip_options()?;
                t.expect(";")?;
                values.push((name, number));
            }
        }
    }
    if values.first().map(|v| v.1) != Some(0) {
        return Err("the first enum value must be 0 (proto3)".into());
    }
    Ok(values)
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

/// protoc's `ToJsonName`: drop each `_` and upper-case the letter after it.
fn json_name(proto_name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in proto_name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `snake_case` of a field or message name: `payloadType` → `payload_type`,
/// `DSSERequestV002` → `dsse_request_v002`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `UpperCamelCase` of a snake_case name: `hashed_rekord_v002` → `HashedRekordV002`.
fn upper_camel(name: &str) -> String {
    let mut out = String::new();
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

const RUST_KEYWORDS: [&str; 38] = [
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while",
];

fn rust_field_name(proto_name: &str) -> Result<String, String> {
    let name = snake_case(proto_name);
    if RUST_KEYWORDS.contains(&name.as_str()) {
        return Err(format!("field name {proto_name:?} is a Rust keyword"));
    }
    Ok(name)
}

fn module_of(package: &str) -> &'static str {
    PACKAGES
        .iter()
        .find(|(p, _)| *p == package)
        .map(|(_, m)| *m)
        .expect("packages are checked when parsed")
}

// ---------------------------------------------------------------------------------------------
// Types of fields
// ---------------------------------------------------------------------------------------------

/// What a field holds, as far as JSON and Rust are concerned.
enum Kind {
    String,
    Bytes,
    Int64,
    /// An enum or a message, by Rust path relative to the generated item.
    Enum(String),
    Message(String),
}

impl Schema {
    /// Resolves `type_name` as protoc does: in `package`, then in each enclosing package, then
    /// as a fully qualified name. `depth` is how many modules below the package module the code
    /// that uses the path sits (1 inside a oneof's module).
    fn kind(&self, package: &str, type_name: &str, depth: usize) -> Result<Kind, String> {
        match type_name {
            "string" => return Ok(Kind::String),
            "bytes" => return Ok(Kind::Bytes),
            "int64" => return Ok(Kind::Int64),
            "double" | "float" | "int32" | "uint32" | "uint64" | "sint32" | "sint64"
            | "fixed32" | "fixed64" | "sfixed32" | "sfixed64" | "bool" => {
                return Err(format!(
                    "scalar type {type_name} is not supported yet: add it to build.rs and \
                     src/proto/json.rs"
                ));
            }
            _ => {}
        }
        let name = type_name.trim_start_matches('.');
        let mut scopes: Vec<String> = Vec::new();
        if !type_name.starts_with('.') {
            let mut scope = package.to_owned();
            loop {
                scopes.push(format!("{scope}.{name}"));
                match scope.rfind('.') {
                    Some(dot) => scope.truncate(dot),
                    None => break,
                }
            }
        }
        scopes.push(name.to_owned());
        for full in scopes {
            let (target_package, target_name, is_enum) = if let Some(m) = self.messages.get(&full) {
                (&m.package, &m.name, false)
            } else if let Some(e) = self.enums.get(&full) {
                (&e.package, &e.name, true)
            } else {
                continue;
            };
            let mut path = "super::".repeat(depth);
            if target_package != package {
                path.push_str("super::");
                path.push_str(module_of(target_package));
                path.push_str("::");
            }
            path.push_str(target_name);
            return Ok(if is_enum {
                Kind::Enum(path)
            } else {
                Kind::Message(path)
            });
        }
        Err(format!("unknown type {type_name:?} in package {package}"))
    }
}

impl Kind {
    fn rust_type(&self) -> String {
        match self {
            Kind::String => "::std::string::String".into(),
            Kind::Bytes => "::std::vec::Vec<u8>".into(),
            Kind::Int64 => "i64".into(),
            Kind::Enum(p) | Kind::Message(p) => p.clone(),
        }
    }

    /// The Rust type of a singular field of this kind (messages are optional, as in proto3).
    fn field_type(&self, repeated: bool) -> String {
        match (self, repeated) {
            (_, true) => format!("::std::vec::Vec<{}>", self.rust_type()),
            (Kind::Message(p), false) => format!("::std::option::Option<{p}>"),
            (_, false) => self.rust_type(),
        }
    }

    /// What a JSON value is read as, and how that becomes the field's Rust value.
    fn json_in(&self) -> (String, &'static str) {
        match self {
            Kind::String => ("::std::string::String".into(), ""),
            Kind::Bytes => ("json::BytesBuf".into(), ".0"),
            Kind::Int64 => ("json::Int64".into(), ".0"),
            Kind::Enum(p) | Kind::Message(p) => (p.clone(), ""),
        }
    }

    /// A serializable value made from `v`, a reference to a value of this kind.
    fn json_item(&self, v: &str) -> String {
        match self {
            Kind::String | Kind::Enum(_) => v.to_owned(),
            Kind::Bytes => format!("json::Bytes({v})"),
            Kind::Int64 => format!("json::Int64(*{v})"),
            Kind::Message(_) => format!("json::Json({v}, emit)"),
        }
    }

    /// A reference to a serializable value for the field `self.{field}`.
    fn json_ref(&self, field: &str) -> String {
        match self {
            Kind::String | Kind::Enum(_) => format!("&self.{field}"),
            _ => format!("&{}", self.json_item(&format!("&self.{field}"))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Code generation
// ---------------------------------------------------------------------------------------------

fn generate(schema: &Schema) -> Result<String, String> {
    let mut out =
        String::from("// @generated by build.rs from proto/; edit those files, not this one.\n\n");
    for (package, module) in PACKAGES {
        writeln!(out, "/// Protobuf package `{package}`.").unwrap();
        writeln!(
            out,
            "#[allow(non_camel_case_types, clippy::all, clippy::pedantic)]"
        )
        .unwrap();
        writeln!(out, "pub mod {module} {{").unwrap();
        writeln!(out, "    use super::json;").unwrap();
        for e in schema.enums.values().filter(|e| e.package == package) {
            generate_enum(e, &mut out);
        }
        for m in schema.messages.values().filter(|m| m.package == package) {
            generate_message(schema, m, &mut out)?;
        }
        writeln!(out, "}}\n").unwrap();
    }
    Ok(out)
}

fn generate_enum(e: &Enum, out: &mut String) {
    let full = format!("{}.{}", e.package, e.name);
    let name = &e.name;
    writeln!(out, "    /// Enum `{full}`.").unwrap();
    writeln!(
        out,
        "    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]"
    )
    .unwrap();
    writeln!(out, "    #[repr(i32)]").unwrap();
    writeln!(out, "    pub enum {name} {{").unwrap();
    for (i, (value, number)) in e.values.iter().enumerate() {
        if i == 0 {
            writeln!(out, "        #[default]").unwrap();
        }
        writeln!(out, "        {value} = {number},").unwrap();
    }
    writeln!(out, "    }}").unwrap();
    writeln!(out, "    impl json::Enum for {name} {{").unwrap();
    writeln!(out, "        const NAME: &'static str = \"{full}\";").unwrap();
    writeln!(out, "        fn as_str_name(self) -> &'static str {{").unwrap();
    writeln!(out, "            match self {{").unwrap();
    for (value, _) in &e.values {
        writeln!(out, "                Self::{value} => \"{value}\",").unwrap();
    }
    writeln!(out, "            }}\n        }}").unwrap();
    writeln!(
        out,
        "        fn from_str_name(name: &str) -> ::std::option::Option<Self> {{"
    )
    .unwrap();
    writeln!(out, "            match name {{").unwrap();
    for (value, _) in &e.values {
        writeln!(out, "                \"{value}\" => Some(Self::{value}),").unwrap();
    }
    writeln!(
        out,
        "                _ => None,\n            }}\n        }}"
    )
    .unwrap();
    writeln!(
        out,
        "        fn from_i32(number: i32) -> ::std::option::Option<Self> {{"
    )
    .unwrap();
    writeln!(out, "            match number {{").unwrap();
    for (value, number) in &e.values {
        writeln!(out, "                {number} => Some(Self::{value}),").unwrap();
    }
    writeln!(
        out,
        "                _ => None,\n            }}\n        }}"
    )
    .unwrap();
    writeln!(out, "    }}").unwrap();
    writeln!(
        out,
        "    impl ::serde::Serialize for {name} {{\n        fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {{\n            json::serialize_enum(*self, s)\n        }}\n    }}"
    )
    .unwrap();
    writeln!(
        out,
        "    impl<'de> ::serde::Deserialize<'de> for {name} {{\n        fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {{\n            json::deserialize_enum(d)\n        }}\n    }}\n"
    )
    .unwrap();
}

/// One field's parts, resolved.
struct FieldCode {
    proto_name: String,
    json_name: String,
    rust_name: String,
    /// Paths relative to the package module (where the impls are).
    kind: Kind,
    /// The Rust type relative to a oneof's module (where its enum is), for oneof members.
    variant_type: String,
    repeated: bool,
}

impl FieldCode {
    fn new(schema: &Schema, package: &str, f: &Field) -> Result<Self, String> {
        Ok(FieldCode {
            proto_name: f.name.clone(),
            json_name: json_name(&f.name),
            rust_name: rust_field_name(&f.name)?,
            kind: schema.kind(package, &f.type_name, 0)?,
            variant_type: schema.kind(package, &f.type_name, 1)?.rust_type(),
            repeated: f.repeated,
        })
    }

    /// The match-arm pattern of the JSON keys that name this field.
    fn keys(&self) -> String {
        if self.proto_name == self.json_name {
            format!("\"{}\"", self.json_name)
        } else {
            format!("\"{}\" | \"{}\"", self.json_name, self.proto_name)
        }
    }

    /// Reads the JSON value of this (non-oneof) field into `out`.
    fn read(&self) -> String {
        let (json_type, unwrap) = self.kind.json_in();
        let convert = if unwrap.is_empty() {
            String::new()
        } else {
            format!(".map(|v| v{unwrap})")
        };
        match (&self.kind, self.repeated) {
            (_, true) if unwrap.is_empty() => format!(
                "map.next_value::<::std::option::Option<::std::vec::Vec<{json_type}>>>()?.unwrap_or_default()"
            ),
            (_, true) => format!(
                "map.next_value::<::std::option::Option<::std::vec::Vec<{json_type}>>>()?.unwrap_or_default().into_iter(){convert}.collect()"
            ),
            (Kind::Message(_), false) => {
                format!("map.next_value::<::std::option::Option<{json_type}>>()?")
            }
            (_, false) => format!(
                "map.next_value::<::std::option::Option<{json_type}>>()?{convert}.unwrap_or_default()"
            ),
        }
    }

    /// Writes this (non-oneof) field.
    fn write(&self, out: &mut String) {
        let r = &self.rust_name;
        let j = &self.json_name;
        if self.repeated {
            let item = self.kind.json_item("v");
            writeln!(
                out,
                "            if emit || !self.{r}.is_empty() {{\n                m.serialize_entry(\"{j}\", &self.{r}.iter().map(|v| {item}).collect::<::std::vec::Vec<_>>())?;\n            }}"
            )
            .unwrap();
            return;
        }
        let unpopulated = match &self.kind {
            Kind::Message(_) => {
                writeln!(
                    out,
                    "            match &self.{r} {{\n                Some(v) => m.serialize_entry(\"{j}\", &json::Json(v, emit))?,\n                None if emit => m.serialize_entry(\"{j}\", &())?,\n                None => {{}}\n            }}"
                )
                .unwrap();
                return;
            }
            Kind::String | Kind::Bytes => format!("self.{r}.is_empty()"),
            Kind::Int64 => format!("self.{r} == 0"),
            Kind::Enum(_) => format!("self.{r} == ::std::default::Default::default()"),
        };
        writeln!(
            out,
            "            if emit || !({unpopulated}) {{\n                m.serialize_entry(\"{j}\", {})?;\n            }}",
            self.kind.json_ref(r)
        )
        .unwrap();
    }
}

/// A message member with its code parts: a field, or a oneof and its members.
enum MemberCode {
    Field(FieldCode),
    Oneof {
        /// The struct field and the enum in the message's module.
        field: String,
        enum_name: String,
        name: String,
        variants: Vec<FieldCode>,
    },
}

fn generate_message(schema: &Schema, m: &Message, out: &mut String) -> Result<(), String> {
    let full = format!("{}.{}", m.package, m.name);
    let name = &m.name;
    let module = snake_case(name);
    let mut members = Vec::new();
    for member in &m.members {
        members.push(match member {
            Member::Field(f) => MemberCode::Field(FieldCode::new(schema, &m.package, f)?),
            Member::Oneof { name, fields } => {
                let variants = fields
                    .iter()
                    .map(|f| FieldCode::new(schema, &m.package, f))
                    .collect::<Result<Vec<_>, _>>()?;
                if variants.iter().any(|v| v.repeated) {
                    return Err(format!("{full}: repeated fields cannot be in a oneof"));
                }
                MemberCode::Oneof {
                    field: rust_field_name(name)?,
                    enum_name: upper_camel(name),
                    name: name.clone(),
                    variants,
                }
            }
        });
    }
    // Every JSON key in declaration order: its bit in the duplicate check is its position.
    let keys: Vec<&FieldCode> = members
        .iter()
        .flat_map(|member| match member {
            MemberCode::Field(f) => std::slice::from_ref(f).iter(),
            MemberCode::Oneof { variants, .. } => variants.iter(),
        })
        .collect();
    if keys.len() > 64 {
        return Err(format!("{full}: more than 64 fields"));
    }

    // The struct, and the enums of its oneofs in a module named after it.
    writeln!(out, "    /// Message `{full}`.").unwrap();
    writeln!(out, "    #[derive(Clone, Debug, Default, PartialEq, Eq)]").unwrap();
    writeln!(out, "    pub struct {name} {{").unwrap();
    for member in &members {
        match member {
            MemberCode::Field(f) => writeln!(
                out,
                "        pub {}: {},",
                f.rust_name,
                f.kind.field_type(f.repeated)
            ),
            MemberCode::Oneof {
                field, enum_name, ..
            } => writeln!(
                out,
                "        pub {field}: ::std::option::Option<{module}::{enum_name}>,"
            ),
        }
        .unwrap();
    }
    writeln!(out, "    }}").unwrap();
    let oneofs: Vec<&MemberCode> = members
        .iter()
        .filter(|m| matches!(m, MemberCode::Oneof { .. }))
        .collect();
    if !oneofs.is_empty() {
        writeln!(out, "    /// The oneofs of `{full}`.").unwrap();
        writeln!(out, "    pub mod {module} {{").unwrap();
        for oneof in oneofs {
            if let MemberCode::Oneof {
                enum_name,
                variants,
                ..
            } = oneof
            {
                writeln!(out, "        #[derive(Clone, Debug, PartialEq, Eq)]").unwrap();
                writeln!(out, "        pub enum {enum_name} {{").unwrap();
                for v in variants {
                    writeln!(
                        out,
                        "            {}({}),",
                        upper_camel(&v.proto_name),
                        v.variant_type
                    )
                    .unwrap();
                }
                writeln!(out, "        }}").unwrap();
            }
        }
        writeln!(out, "    }}").unwrap();
    }

    // Serialization, in declaration order.
    writeln!(out, "    impl json::Message for {name} {{").unwrap();
    writeln!(
        out,
        "        fn write_fields<M: ::serde::ser::SerializeMap>(&self, m: &mut M, emit: bool) -> ::std::result::Result<(), M::Error> {{"
    )
    .unwrap();
    for member in &members {
        match member {
            MemberCode::Field(f) => f.write(out),
            MemberCode::Oneof {
                field,
                enum_name,
                variants,
                ..
            } => {
                writeln!(out, "            match &self.{field} {{").unwrap();
                for v in variants {
                    writeln!(
                        out,
                        "                Some({module}::{enum_name}::{}(v)) => m.serialize_entry(\"{}\", &{})?,",
                        upper_camel(&v.proto_name),
                        v.json_name,
                        v.kind.json_item("v")
                    )
                    .unwrap();
                }
                writeln!(out, "                None => {{}}\n            }}").unwrap();
            }
        }
    }
    writeln!(out, "            Ok(())\n        }}\n    }}").unwrap();
    writeln!(
        out,
        "    impl ::serde::Serialize for {name} {{\n        fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {{\n            ::serde::Serialize::serialize(&json::Json(self, false), s)\n        }}\n    }}"
    )
    .unwrap();

    // Deserialization.
    let all_keys: Vec<String> = keys
        .iter()
        .map(|f| format!("\"{}\"", f.json_name))
        .collect();
    writeln!(
        out,
        "    impl<'de> ::serde::Deserialize<'de> for {name} {{\n        fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {{"
    )
    .unwrap();
    writeln!(out, "            struct Visitor;").unwrap();
    writeln!(
        out,
        "            impl<'de> ::serde::de::Visitor<'de> for Visitor {{\n                type Value = {name};"
    )
    .unwrap();
    writeln!(
        out,
        "                fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{\n                    f.write_str(\"a {full} JSON object\")\n                }}"
    )
    .unwrap();
    writeln!(
        out,
        "                fn visit_map<A: ::serde::de::MapAccess<'de>>(self, mut map: A) -> ::std::result::Result<{name}, A::Error> {{"
    )
    .unwrap();
    writeln!(
        out,
        "                    const FIELDS: &[&str] = &[{}];",
        all_keys.join(", ")
    )
    .unwrap();
    writeln!(
        out,
        "                    let mut out = {name}::default();\n                    let mut seen = 0u64;"
    )
    .unwrap();
    writeln!(
        out,
        "                    while let Some(key) = map.next_key::<::std::string::String>()? {{\n                        match key.as_str() {{"
    )
    .unwrap();
    let mut bit = 0;
    for member in &members {
        match member {
            MemberCode::Field(f) => {
                writeln!(
                    out,
                    "                            {} => {{\n                                json::mark_seen::<A::Error>(&mut seen, {bit}, \"{}\")?;\n                                out.{} = {};\n                            }}",
                    f.keys(),
                    f.json_name,
                    f.rust_name,
                    f.read()
                )
                .unwrap();
                bit += 1;
            }
            MemberCode::Oneof {
                field,
                enum_name,
                name: oneof,
                variants,
            } => {
                for v in variants {
                    let (json_type, unwrap) = v.kind.json_in();
                    writeln!(
                        out,
                        "                            {} => {{\n                                json::mark_seen::<A::Error>(&mut seen, {bit}, \"{}\")?;\n                                if let Some(v) = map.next_value::<::std::option::Option<{json_type}>>()? {{\n                                    if out.{field}.is_some() {{\n                                        return Err(json::oneof_twice(\"{oneof}\"));\n                                    }}\n                                    out.{field} = Some({module}::{enum_name}::{}(v{unwrap}));\n                                }}\n                            }}",
                        v.keys(),
                        v.json_name,
                        upper_camel(&v.proto_name)
                    )
                    .unwrap();
                    bit += 1;
                }
            }
        }
    }
    writeln!(
        out,
        "                            other => return Err(::serde::de::Error::unknown_field(other, FIELDS)),\n                        }}\n                    }}\n                    Ok(out)\n                }}\n            }}\n            d.deserialize_map(Visitor)\n        }}\n    }}\n"
    )
    .unwrap();
    Ok(())
}
