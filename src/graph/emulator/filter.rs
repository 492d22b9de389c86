//! A small OData `$filter` evaluator for the collections the emulator serves
//! (role assignments and schedules, sign-ins). Grammar, per the OData v4 URL
//! conventions Graph follows (docs: `concepts/filter-query-parameter.md`):
//! `or` binds looser than `and`, parentheses group, and a comparison is
//! `<property> <eq|ne|gt|ge|lt|le> <literal>` where a literal is a quoted
//! string (`''` escapes a quote) or a bare token (a date-time, number, bool).
//! Property names outside the route's allowed list are refused, as Graph
//! refuses filters a collection does not support.

use serde_json::Value;

use crate::graph::types::parse_time;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Cmp {
        field: String,
        op: String,
        value: String,
    },
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::Open);
            i += 1;
        } else if c == ')' {
            out.push(Tok::Close);
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string literal in $filter".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else {
            let start = i;
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], '(' | ')' | '\'')
            {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }
    fn or_expr(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and_expr()?];
        while self.peek_word("or") {
            self.pos += 1;
            parts.push(self.and_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }
    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.primary()?];
        while self.peek_word("and") {
            self.pos += 1;
            parts.push(self.primary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }
    fn primary(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let e = self.or_expr()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err("missing ')' in $filter".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Word(field)) => {
                let op = match self.toks.get(self.pos + 1) {
                    Some(Tok::Word(op))
                        if ["eq", "ne", "gt", "ge", "lt", "le"]
                            .contains(&op.to_ascii_lowercase().as_str()) =>
                    {
                        op.to_ascii_lowercase()
                    }
                    _ => return Err(format!("unsupported $filter clause at '{field}'")),
                };
                let value = match self.toks.get(self.pos + 2) {
                    Some(Tok::Str(s)) | Some(Tok::Word(s)) => s.clone(),
                    _ => return Err(format!("no value after '{field} {op}'")),
                };
                self.pos += 3;
                Ok(Expr::Cmp { field, op, value })
            }
            _ => Err("malformed $filter".into()),
        }
    }
}

/// Parse `text`, allowing only `fields`.
pub fn parse(text: &str, fields: &[&str]) -> Result<Option<Expr>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        toks: tokenize(text)?,
        pos: 0,
    };
    let e = p.or_expr()?;
    if p.pos != p.toks.len() {
        return Err("unexpected text after the $filter expression".into());
    }
    check_fields(&e, fields)?;
    Ok(Some(e))
}

fn check_fields(e: &Expr, fields: &[&str]) -> Result<(), String> {
    match e {
        Expr::Or(v) | Expr::And(v) => v.iter().try_for_each(|x| check_fields(x, fields)),
        Expr::Cmp { field, .. } => {
            if fields.iter().any(|f| f.eq_ignore_ascii_case(field)) {
                Ok(())
            } else {
                Err(format!("Filtering on '{field}' is not supported."))
            }
        }
    }
}

/// Does `item` satisfy `e`? Strings compare case-insensitively; date-times by instant.
pub fn matches(e: &Expr, item: &Value) -> bool {
    match e {
        Expr::Or(v) => v.iter().any(|x| matches(x, item)),
        Expr::And(v) => v.iter().all(|x| matches(x, item)),
        Expr::Cmp { field, op, value } => {
            let Some(have) = item.get(field.as_str()).and_then(Value::as_str) else {
                return false;
            };
            let ord = match (parse_time(have), parse_time(value)) {
                (Some(a), Some(b)) if have.contains('T') => a.cmp(&b),
                _ => have.to_ascii_lowercase().cmp(&value.to_ascii_lowercase()),
            };
            use std::cmp::Ordering::*;
            match op.as_str() {
                "eq" => ord == Equal,
                "ne" => ord != Equal,
                "gt" => ord == Greater,
                "ge" => ord != Less,
                "lt" => ord == Less,
                _ => ord != Greater,
            }
        }
    }
}

/// Filter `list` by `text` over `fields`.
pub fn apply(list: &[Value], text: &str, fields: &[&str]) -> Result<Vec<Value>, String> {
    Ok(match parse(text, fields)? {
        None => list.to_vec(),
        Some(e) => list.iter().filter(|v| matches(&e, v)).cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const F: &[&str] = &["principalId", "roleDefinitionId", "createdDateTime"];

    #[test]
    fn or_binds_looser_than_and() {
        let list = vec![
            json!({"principalId": "u1", "roleDefinitionId": "r1"}),
            json!({"principalId": "u2", "roleDefinitionId": "r2"}),
            json!({"principalId": "g1", "roleDefinitionId": "r1"}),
        ];
        let r = apply(&list, "principalId eq 'u1' or principalId eq 'g1'", F).unwrap();
        assert_eq!(r.len(), 2);
        let r = apply(
            &list,
            "roleDefinitionId eq 'r1' and principalId eq 'U2' or principalId eq 'u2'",
            F,
        )
        .unwrap();
        assert_eq!(r, vec![list[1].clone()], "(a and b) or c");
        let r = apply(
            &list,
            "roleDefinitionId eq 'r1' and (principalId eq 'u2' or principalId eq 'g1')",
            F,
        )
        .unwrap();
        assert_eq!(r, vec![list[2].clone()]);
        assert!(apply(&list, "displayName eq 'x'", F).is_err());
        assert!(apply(&list, "startswith(principalId,'u')", F).is_err());
        assert!(apply(&list, "principalId eq 'unterminated", F).is_err());
        assert_eq!(
            apply(&list, "principalId eq 'o''brien'", F).unwrap().len(),
            0
        );
        assert_eq!(apply(&list, "", F).unwrap().len(), 3);
    }

    #[test]
    fn date_times_compare_as_instants() {
        let list = vec![
            json!({"createdDateTime": "2026-01-01T10:00:00.123Z"}),
            json!({"createdDateTime": "2026-01-03T10:00:00Z"}),
        ];
        let r = apply(&list, "createdDateTime ge 2026-01-02T00:00:00Z", F).unwrap();
        assert_eq!(r, vec![list[1].clone()]);
    }
}
