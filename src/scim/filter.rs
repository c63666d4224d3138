//! SCIM filters (RFC 7644 §3.4.2.2), the part provisioning clients send: `eq`, `ne`, `co`, `sw`,
//! `ew`, `pr`, joined by `and` / `or`, `not (...)` and parentheses, over the attributes Hangar
//! stores. Hand-written: the grammar is small and no maintained crate covers it with the error
//! messages we want. Operators and attribute names are case-insensitive; a value filter on a
//! multi-valued attribute (`emails[type eq "work"].value`) is read as the attribute itself
//! (Hangar keeps one email).
//!
//! The store turns a [`Filter`] into SQL (`store/scim.rs`); nothing here touches a database.

/// Which resource a filter is about (they have different attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

/// An attribute a filter may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    Id,
    UserName,
    ExternalId,
    DisplayName,
    /// `emails`, `emails.value`, `emails[type eq "work"].value`.
    Email,
    Active,
    /// `members`, `members.value` (a user's SCIM id).
    Member,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
}

/// A literal compared against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Text(String),
    Bool(bool),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Compare(Attr, Op, Literal),
    Present(Attr),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// The longest filter read.
const MAX_LEN: usize = 4096;
/// The deepest nesting of parentheses and `not`.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == '"' {
            let (s, next) = quoted(&chars, i)?;
            out.push(Token::Text(s));
            i = next;
        } else {
            let mut word = String::new();
            let mut depth = 0usize;
            while i < chars.len() {
                let c = chars[i];
                if depth == 0 && (c.is_whitespace() || c == '(' || c == ')') {
                    break;
                }
                match c {
                    '[' => depth += 1,
                    ']' => depth = depth.checked_sub(1).ok_or("an unmatched ']'")?,
                    '"' if depth > 0 => {
                        let (s, next) = quoted(&chars, i)?;
                        word.push('"');
                        word.push_str(&s);
                        word.push('"');
                        i = next;
                        continue;
                    }
                    '"' => return Err("a quote inside a word".into()),
                    _ => {}
                }
                word.push(c);
                i += 1;
            }
            if depth != 0 {
                return Err("an unclosed '['".into());
            }
            out.push(Token::Word(word));
        }
    }
    Ok(out)
}

/// The JSON string starting at `chars[start]` (a `"`), unescaped, and the index after it.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut i = start + 1;
    let mut raw = String::from('"');
    while i < chars.len() {
        let c = chars[i];
        raw.push(c);
        if c == '\\' {
            i += 1;
            if let Some(&n) = chars.get(i) {
                raw.push(n);
            }
        } else if c == '"' {
            let s: String = serde_json::from_str(&raw).map_err(|_| "a malformed string")?;
            return Ok((s, i + 1));
        }
        i += 1;
    }
    Err("an unterminated string".into())
}

fn attr(word: &str, resource: Resource) -> Result<Attr, String> {
    let lower = word.to_ascii_lowercase();
    let mut path = lower.as_str();
    for urn in [
        "urn:ietf:params:scim:schemas:core:2.0:user:",
        "urn:ietf:params:scim:schemas:core:2.0:group:",
    ] {
        path = path.strip_prefix(urn).unwrap_or(path);
    }
    // `emails[type eq "work"].value` -> `emails.value`
    let plain: String = match (path.find('['), path.rfind(']')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &path[..a], &path[b + 1..]),
        _ => path.to_string(),
    };
    let found = match (resource, plain.as_str()) {
        (_, "id") => Attr::Id,
        (_, "externalid") => Attr::ExternalId,
        (_, "displayname") => Attr::DisplayName,
        (Resource::User, "username") => Attr::UserName,
        (Resource::User, "emails" | "emails.value") => Attr::Email,
        (Resource::User, "active") => Attr::Active,
        (Resource::Group, "members" | "members.value") => Attr::Member,
        _ => return Err(format!("cannot filter on the attribute {word:?}")),
    };
    Ok(found)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    resource: Resource,
    depth: usize,
    _text: &'a str,
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.at += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek_word().as_deref() == Some("and") {
            self.at += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn nested(&mut self) -> Result<Filter, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("the filter is nested too deeply".into());
        }
        if self.tokens.get(self.at) != Some(&Token::Open) {
            return Err("expected '('".into());
        }
        self.at += 1;
        let inner = self.or()?;
        if self.tokens.get(self.at) != Some(&Token::Close) {
            return Err("expected ')'".into());
        }
        self.at += 1;
        self.depth -= 1;
        Ok(inner)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.tokens.get(self.at) == Some(&Token::Open) {
            return self.nested();
        }
        if self.peek_word().as_deref() == Some("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.nested()?)));
        }
        let Some(Token::Word(name)) = self.tokens.get(self.at).cloned() else {
            return Err("expected an attribute name".into());
        };
        let attr = attr(&name, self.resource)?;
        self.at += 1;
        let op = self
            .peek_word()
            .ok_or_else(|| format!("expected an operator after {name:?}"))?;
        self.at += 1;
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(attr)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            other => return Err(format!("the operator {other:?} is not supported")),
        };
        let value = match self.tokens.get(self.at).cloned() {
            Some(Token::Text(s)) => Literal::Text(s),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return Err(format!("expected a quoted value after {name:?}")),
        };
        self.at += 1;
        match (&attr, &value, op) {
            (Attr::Active, Literal::Bool(_), Op::Eq | Op::Ne) => {}
            (Attr::Active, _, _) => return Err("active compares only with eq/ne true/false".into()),
            (_, Literal::Bool(_), _) => return Err(format!("{name:?} compares with a string")),
            _ => {}
        }
        Ok(Filter::Compare(attr, op, value))
    }
}

/// Parses `text` as a filter over `resource`; the error says what is wrong.
pub fn parse(text: &str, resource: Resource) -> Result<Filter, String> {
    if text.len() > MAX_LEN {
        return Err(format!("the filter is longer than {MAX_LEN} characters"));
    }
    let mut p = Parser {
        tokens: tokens(text)?,
        at: 0,
        resource,
        depth: 0,
        _text: text,
    };
    if p.tokens.is_empty() {
        return Err("the filter is empty".into());
    }
    let filter = p.or()?;
    if p.at != p.tokens.len() {
        return Err("unexpected text after the filter".into());
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Literal {
        Literal::Text(s.into())
    }

    #[test]
    fn an_okta_existence_check_is_one_equality() {
        assert_eq!(
            parse(r#"userName eq "ada@example.com""#, Resource::User),
            Ok(Filter::Compare(
                Attr::UserName,
                Op::Eq,
                text("ada@example.com")
            ))
        );
    }

    #[test]
    fn operators_and_names_are_case_insensitive_and_urns_are_dropped() {
        let f = parse(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:USERNAME EQ "x" AND externalid Sw "a\"b""#,
            Resource::User,
        );
        assert_eq!(
            f,
            Ok(Filter::And(
                Box::new(Filter::Compare(Attr::UserName, Op::Eq, text("x"))),
                Box::new(Filter::Compare(Attr::ExternalId, Op::Sw, text("a\"b"))),
            ))
        );
    }

    #[test]
    fn an_entra_email_filter_reads_as_the_email() {
        assert_eq!(
            parse(r#"emails[type eq "work"].value eq "a@b.c""#, Resource::User),
            Ok(Filter::Compare(Attr::Email, Op::Eq, text("a@b.c")))
        );
    }

    #[test]
    fn or_binds_looser_than_and_and_parentheses_and_not_nest() {
        let f = parse(
            r#"displayName co "x" or not (active eq false and id pr)"#,
            Resource::User,
        )
        .expect("parses");
        let Filter::Or(_, right) = f else {
            panic!("or at the top: {f:?}")
        };
        assert!(matches!(*right, Filter::Not(_)));
    }

    #[test]
    fn group_members_can_be_filtered_but_not_user_names() {
        assert!(parse(r#"members.value eq "u1""#, Resource::Group).is_ok());
        assert!(parse(r#"userName eq "u1""#, Resource::Group).is_err());
    }

    #[test]
    fn broken_filters_say_what_is_wrong() {
        for (bad, says) in [
            ("", "empty"),
            ("userName", "operator"),
            (r#"userName gt "a""#, "not supported"),
            (r#"userName eq"#, "quoted value"),
            (r#"userName eq "a"#, "unterminated"),
            (r#"password eq "a""#, "cannot filter"),
            (r#"(userName eq "a""#, "')'"),
            (r#"userName eq "a" extra"#, "unexpected"),
            (r#"active eq "yes""#, "true/false"),
        ] {
            let e = parse(bad, Resource::User).expect_err(bad);
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep, Resource::User).is_err());
    }
}
