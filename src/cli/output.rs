//! Everything glasskey writes on stdout goes through here, so that
//!
//! - a closed pipe (`glasskey ledger show | head`) ends the program quietly with
//!   success instead of a panic: the reader has what it wanted;
//! - `--json` output has one shape across commands: one JSON object per run, with a
//!   `"schema"` naming the command and its output version, snake_case keys, and a
//!   list result under `"items"` (docs/json.md is the contract);
//! - a command that fails under `--json` still leaves valid JSON on stdout (an
//!   error object), unless it already printed its result.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The command being run, as words ("ledger show"), set once by `cli::main`.
static COMMAND: OnceLock<String> = OnceLock::new();
/// Whether a JSON document was already written (an error then adds nothing).
static JSON_WRITTEN: AtomicBool = AtomicBool::new(false);

/// Remember which command runs, for the `"schema"` of its JSON output.
pub fn set_command(words: &str) {
    let _ = COMMAND.set(words.to_string());
}

/// The version of each command's JSON shape. Bump a command's number when a
/// field is removed or changes meaning; adding a field keeps the number.
fn schema_version(_command: &str) -> u32 {
    1
}

/// `glasskey-<command words joined by '-'>/<version>`, e.g. `glasskey-ledger-show/1`.
pub fn schema_for(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let name = if words.is_empty() {
        "glasskey".to_string()
    } else {
        format!("glasskey-{}", words.join("-"))
    };
    format!("{name}/{}", schema_version(command))
}

fn current_schema() -> String {
    schema_for(COMMAND.get().map_or("", String::as_str))
}

/// Write one line to stdout; a closed pipe ends the program with success.
pub fn write_line(args: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let result = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = result {
        stdout_failed(&e);
    }
}

/// Write text to stdout as is; a closed pipe ends the program with success.
pub fn write_text(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        stdout_failed(&e);
    }
}

/// stdout cannot be written. A reader that went away (`| head`) is not an error:
/// exit 0 at once, as `cat` and `ls` do. Anything else (disk full behind a
/// redirect) is a device failure: say so on stderr and exit 3.
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!(
        "error: cannot write the output: {e}\n  next: check where stdout goes (disk space, the file)"
    );
    std::process::exit(crate::error::ExitClass::DeviceOrNetwork.code());
}

/// Print `value` as the command's JSON document (see the module doc for the shape).
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let value = serde_json::to_value(value)
        .map_err(|e| Error::input(format!("could not encode JSON output: {e}"), ""))?;
    emit(envelope(&current_schema(), value))
}

/// Print a document that is a file format of its own (e.g. the emulator's state),
/// exactly as serialized: no schema added, keys untouched.
pub fn print_json_document<T: serde::Serialize>(value: &T) -> Result<()> {
    let value = serde_json::to_value(value)
        .map_err(|e| Error::input(format!("could not encode JSON output: {e}"), ""))?;
    emit(value)
}

fn emit(value: Value) -> Result<()> {
    let text = serde_json::to_string_pretty(&value)
        .map_err(|e| Error::input(format!("could not encode JSON output: {e}"), ""))?;
    JSON_WRITTEN.store(true, Ordering::SeqCst);
    write_line(format_args!("{text}"));
    Ok(())
}

/// An object gets `"schema"`; anything else (a list) goes under `"items"`.
fn envelope(schema: &str, value: Value) -> Value {
    let mut map = match value {
        Value::Object(map) => map,
        other => {
            let mut map = Map::new();
            map.insert("items".into(), other);
            map
        }
    };
    map.insert("schema".into(), Value::String(schema.to_string()));
    Value::Object(map)
}

/// Under `--json`, a failed command still leaves JSON on stdout: the error, its
/// next step and exit code — unless the command already printed its result
/// (e.g. a check that ran and failed), whose document then stands alone.
pub fn print_json_error(e: &Error) {
    if JSON_WRITTEN.load(Ordering::SeqCst) {
        return;
    }
    let doc = serde_json::json!({
        "schema": schema_for("error"),
        "command": COMMAND.get().cloned().unwrap_or_default(),
        "error": e.what,
        "next": e.next,
        "exit_code": e.exit_code(),
    });
    let _ = emit(doc);
}

/// Rename camelCase object keys to snake_case, recursively: Graph's objects,
/// shown in glasskey's output, follow glasskey's naming (`createdDateTime` →
/// `created_date_time`). Only for values whose keys are all field names.
pub fn snake_case_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (snake_case(&k), snake_case_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(snake_case_keys).collect()),
        other => other,
    }
}

fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Is this key in glasskey's naming? (lowercase words joined by `_`)
pub fn is_snake_case(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with('_')
}

/// `println!` for glasskey's stdout: a closed pipe ends the program quietly.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cli::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_go_under_items_and_objects_get_the_schema() {
        let v = envelope("glasskey-keys-list/1", serde_json::json!([1, 2]));
        assert_eq!(v["items"], serde_json::json!([1, 2]));
        assert_eq!(v["schema"], "glasskey-keys-list/1");
        let v = envelope("s/1", serde_json::json!({"a": 1}));
        assert_eq!(
            (v["a"].as_i64(), v["schema"].as_str()),
            (Some(1), Some("s/1"))
        );
    }

    #[test]
    fn schema_names_the_command_words() {
        assert_eq!(schema_for("ledger show"), "glasskey-ledger-show/1");
        assert_eq!(schema_for("kit init"), "glasskey-kit-init/1");
    }

    #[test]
    fn graph_names_become_snake_case() {
        let v = snake_case_keys(serde_json::json!({
            "createdDateTime": "x", "aaGuid": "y", "id": 1,
            "list": [{"displayName": "z"}]
        }));
        assert_eq!(v["created_date_time"], "x");
        assert_eq!(v["aa_guid"], "y");
        assert_eq!(v["list"][0]["display_name"], "z");
        assert!(is_snake_case("created_date_time") && !is_snake_case("aaGuid"));
    }
}
