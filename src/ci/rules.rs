//! GitLab CI `rules:if` expressions, evaluated as GitLab evaluates them: `$VAR` / `${VAR}`
//! (true when set and not empty), `"…"` and `'…'` strings, `null`, `/regex/flags`, `==`,
//! `!=`, `=~`, `!~`, `&&` (binding tighter than `||`), `||` and parentheses. An unset
//! variable equals `null`. A regex on the right may also come from a variable holding
//! `/…/`.

use regex::RegexBuilder;
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("CI expression `{expression}`: {detail}")]
pub struct ExpressionError {
    pub expression: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Var(String),
    Str(String),
    Regex(String, String),
    Null,
    Eq,
    Ne,
    Match,
    NoMatch,
    And,
    Or,
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '$' => {
                let braced = chars.get(i + 1) == Some(&'{');
                let start = if braced { i + 2 } else { i + 1 };
                let mut end = start;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_')
                {
                    end += 1;
                }
                if end == start {
                    return Err(format!("a `$` without a variable name at {i}"));
                }
                let name: String = chars[start..end].iter().collect();
                if braced {
                    if chars.get(end) != Some(&'}') {
                        return Err(format!("`${{{name}` is not closed"));
                    }
                    end += 1;
                }
                out.push(Token::Var(name));
                i = end;
            }
            '"' | '\'' => {
                let mut end = i + 1;
                while end < chars.len() && chars[end] != c {
                    end += 1;
                }
                if end == chars.len() {
                    return Err("a string is not closed".into());
                }
                out.push(Token::Str(chars[i + 1..end].iter().collect()));
                i = end + 1;
            }
            '/' => {
                let mut end = i + 1;
                while end < chars.len() && chars[end] != '/' {
                    if chars[end] == '\\' {
                        end += 1;
                    }
                    end += 1;
                }
                if end >= chars.len() {
                    return Err("a regular expression is not closed".into());
                }
                let pattern: String = chars[i + 1..end].iter().collect();
                let mut flags_end = end + 1;
                while flags_end < chars.len() && chars[flags_end].is_ascii_alphabetic() {
                    flags_end += 1;
                }
                out.push(Token::Regex(
                    pattern,
                    chars[end + 1..flags_end].iter().collect(),
                ));
                i = flags_end;
            }
            _ if two == "==" => {
                out.push(Token::Eq);
                i += 2;
            }
            _ if two == "!=" => {
                out.push(Token::Ne);
                i += 2;
            }
            _ if two == "=~" => {
                out.push(Token::Match);
                i += 2;
            }
            _ if two == "!~" => {
                out.push(Token::NoMatch);
                i += 2;
            }
            _ if two == "&&" => {
                out.push(Token::And);
                i += 2;
            }
            _ if two == "||" => {
                out.push(Token::Or);
                i += 2;
            }
            _ if chars[i..].iter().take(4).collect::<String>() == "null" => {
                out.push(Token::Null);
                i += 4;
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    Ok(out)
}

/// A value an operand stands for.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Text(Option<String>),
    Regex(String, String),
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    vars: &'a BTreeMap<String, String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut value = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            let right = self.and()?;
            value = value || right;
        }
        Ok(value)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut value = self.comparison()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            let right = self.comparison()?;
            value = value && right;
        }
        Ok(value)
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let token = self.peek().cloned().ok_or("an operand is missing")?;
        self.at += 1;
        Ok(match token {
            Token::Var(name) => Operand::Text(self.vars.get(&name).cloned()),
            Token::Str(s) => Operand::Text(Some(s)),
            Token::Null => Operand::Text(None),
            Token::Regex(p, f) => Operand::Regex(p, f),
            other => return Err(format!("unexpected {other:?}")),
        })
    }

    fn comparison(&mut self) -> Result<bool, String> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let value = self.or()?;
            if self.peek() != Some(&Token::Close) {
                return Err("a `(` is not closed".into());
            }
            self.at += 1;
            return Ok(value);
        }
        let left = self.operand()?;
        let op = match self.peek() {
            Some(t @ (Token::Eq | Token::Ne | Token::Match | Token::NoMatch)) => t.clone(),
            _ => {
                // A lone operand: a set, non-empty variable or string is true.
                return Ok(matches!(left, Operand::Text(Some(ref s)) if !s.is_empty()));
            }
        };
        self.at += 1;
        let right = self.operand()?;
        match op {
            Token::Eq => Ok(left == right),
            Token::Ne => Ok(left != right),
            Token::Match | Token::NoMatch => {
                let matched = matches(&left, &right)?;
                Ok(if op == Token::Match {
                    matched
                } else {
                    !matched
                })
            }
            _ => unreachable!("only comparison operators reach here"),
        }
    }
}

fn matches(left: &Operand, right: &Operand) -> Result<bool, String> {
    let Operand::Text(subject) = left else {
        return Err("a regular expression on the left of `=~`".into());
    };
    let (pattern, flags) = match right {
        Operand::Regex(p, f) => (p.clone(), f.clone()),
        // A variable holding `/…/flags`.
        Operand::Text(Some(text)) if text.starts_with('/') && text[1..].contains('/') => {
            let close = text.rfind('/').unwrap_or(0);
            (text[1..close].to_string(), text[close + 1..].to_string())
        }
        Operand::Text(_) => return Ok(false),
    };
    let Some(subject) = subject else {
        return Ok(false);
    };
    let regex = RegexBuilder::new(&pattern.replace("\\/", "/"))
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("bad regular expression `{pattern}`: {e}"))?;
    Ok(regex.is_match(subject))
}

/// Whether `expression` holds with these variables.
pub fn evaluate(
    expression: &str,
    vars: &BTreeMap<String, String>,
) -> Result<bool, ExpressionError> {
    let error = |detail: String| ExpressionError {
        expression: expression.to_string(),
        detail,
    };
    let tokens = tokens(expression).map_err(error)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        vars,
    };
    let value = parser.or().map_err(error)?;
    if parser.at != parser.tokens.len() {
        return Err(error("unexpected text after the expression".into()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_MERGE_REQUEST_LABELS", "dependencies,python,updatebot"),
            (
                "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
                "updatebot/pip/six-1.17.0",
            ),
            ("CI_DEFAULT_BRANCH", "main"),
            ("EMPTY", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn eval(e: &str) -> bool {
        evaluate(e, &vars()).unwrap()
    }

    #[test]
    fn comparisons_presence_and_null() {
        assert!(eval(r#"$CI_PIPELINE_SOURCE == "merge_request_event""#));
        assert!(eval(r#"${CI_PIPELINE_SOURCE} != 'push'"#));
        assert!(eval("$CI_DEFAULT_BRANCH"));
        assert!(!eval("$EMPTY"));
        assert!(!eval("$CI_COMMIT_BRANCH"));
        assert!(eval("$CI_COMMIT_BRANCH == null"));
        assert!(!eval("$CI_DEFAULT_BRANCH == null"));
        assert!(eval("$CI_DEFAULT_BRANCH == $CI_DEFAULT_BRANCH"));
    }

    #[test]
    fn regexes_and_precedence() {
        assert!(eval(r"$CI_MERGE_REQUEST_LABELS =~ /(^|,)updatebot(,|$)/"));
        assert!(eval(
            r"$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME =~ /^updatebot\//"
        ));
        assert!(eval(
            r"$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME =~ /^UPDATEBOT/i"
        ));
        assert!(!eval(r"$CI_COMMIT_BRANCH =~ /./"));
        assert!(eval(r"$CI_COMMIT_BRANCH !~ /./"));
        // && binds tighter than ||.
        assert!(eval(r#"$CI_DEFAULT_BRANCH == "main" || $X && $Y"#));
        assert!(!eval(r#"($CI_DEFAULT_BRANCH == "main" || $X) && $Y"#));
    }

    #[test]
    fn a_regex_can_come_from_a_variable() {
        let mut v = vars();
        v.insert("PATTERN".into(), "/^updatebot\\//".into());
        assert!(evaluate("$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME =~ $PATTERN", &v).unwrap());
    }

    #[test]
    fn broken_expressions_are_errors() {
        for bad in [
            "$",
            "(\"a\" == \"a\"",
            "\"a",
            "$A ==",
            "/x",
            "$A = 1",
            "\"a\" \"b\"",
        ] {
            assert!(evaluate(bad, &vars()).is_err(), "{bad}");
        }
    }
}
