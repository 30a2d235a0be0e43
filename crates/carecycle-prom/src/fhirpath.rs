//! A bounded FHIRPath evaluator over `serde_json` values: the subset of
//! FHIRPath (N1, <http://hl7.org/fhirpath/N1/>) that SDC questionnaires use in
//! `variable`, `calculatedExpression`, `enableWhenExpression`,
//! `initialExpression` and `answerExpression`, plus the FHIR and SDC
//! additions forms rely on (`extension()`, `ordinal()`/`weight()`).
//!
//! Written here rather than taken from a crate: the maintained Rust FHIRPath
//! crates either need a newer compiler than the project's, force exact
//! (older) serde versions on the whole workspace, or bring an HTTP server,
//! an async runtime and a generated model of all of FHIR into an engine that
//! does no I/O. Forms need a small, predictable subset, evaluated within hard
//! limits so a hostile form cannot make the app spin: expression length,
//! nesting depth, work per evaluation and collection size are all bounded,
//! and every failure is an error value, never a panic.
//!
//! Not supported (an error names them): regular expressions (`matches`,
//! `replaceMatches`), `resolve()`, `memberOf()`, `conformsTo()`, and the
//! clock (`now()`, `today()`, `timeOfDay()`), which the engine is never given.

use serde_json::Value;
use std::cell::Cell;
use std::fmt;

/// The longest expression accepted, in characters.
pub const MAX_EXPRESSION_LEN: usize = 10_000;
/// How deeply an expression may nest (parentheses, arguments, operators).
pub const MAX_DEPTH: usize = 64;
/// Units of work one evaluation may do (node visits, items produced).
pub const MAX_STEPS: usize = 200_000;
/// The largest collection an evaluation may build.
pub const MAX_COLLECTION: usize = 50_000;

/// Why an expression could not be read or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirPathError {
    #[error("syntax error at character {position}: {reason}")]
    Syntax { position: usize, reason: String },
    #[error("{0}() is not supported by CareCycle's FHIRPath engine")]
    Unsupported(String),
    #[error("unknown function {0}()")]
    UnknownFunction(String),
    #[error("%{0} is not defined here")]
    UnknownVariable(String),
    #[error("{0}")]
    Evaluation(String),
    #[error("the expression exceeds a limit: {0}")]
    Limit(String),
}

type Result<T> = std::result::Result<T, FhirPathError>;

fn eval_err<T>(msg: impl Into<String>) -> Result<T> {
    Err(FhirPathError::Evaluation(msg.into()))
}

// ---------------------------------------------------------------- values

/// An element of a resource, as navigation reached it.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub value: &'a Value,
    /// The FHIR type when navigation knows it (the `[x]` suffix of a choice
    /// element, e.g. `Coding` for `valueCoding`).
    pub type_name: Option<&'a str>,
    /// The linkId of the nearest questionnaire(-response) item around this
    /// element: how `ordinal()` finds the answer option an answer came from.
    pub link_id: Option<&'a str>,
}

impl<'a> Node<'a> {
    pub fn root(value: &'a Value) -> Node<'a> {
        Node {
            value,
            type_name: value.get("resourceType").and_then(Value::as_str),
            link_id: value.get("linkId").and_then(Value::as_str),
        }
    }
}

/// One item of a FHIRPath collection.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    Node(Node<'a>),
    Boolean(bool),
    Integer(i64),
    Decimal(f64),
    String(String),
    Date(String),
    DateTime(String),
    Time(String),
    Quantity(f64, String),
}

/// A FHIRPath collection (ordered, possibly empty).
pub type Collection<'a> = Vec<Item<'a>>;

impl<'a> Item<'a> {
    /// The item as a system value: a resource element holding a primitive
    /// becomes that primitive; complex elements stay nodes (a Quantity
    /// element becomes a quantity).
    pub fn primitive(&self) -> Item<'a> {
        let Item::Node(n) = self else {
            return self.clone();
        };
        match n.value {
            Value::Bool(b) => Item::Boolean(*b),
            Value::Number(num) => match num.as_i64() {
                Some(i) if !matches!(n.type_name, Some("decimal" | "Decimal")) => Item::Integer(i),
                _ => num.as_f64().map(Item::Decimal).unwrap_or(Item::Node(*n)),
            },
            Value::String(s) => match n.type_name {
                Some("date" | "Date") => Item::Date(s.clone()),
                Some("dateTime" | "DateTime" | "instant" | "Instant") => Item::DateTime(s.clone()),
                Some("time" | "Time") => Item::Time(s.clone()),
                _ => Item::String(s.clone()),
            },
            Value::Object(o) if n.type_name == Some("Quantity") => {
                match o.get("value").and_then(Value::as_f64) {
                    Some(v) => Item::Quantity(
                        v,
                        o.get("code")
                            .or_else(|| o.get("unit"))
                            .and_then(Value::as_str)
                            .unwrap_or("1")
                            .to_owned(),
                    ),
                    None => Item::Node(*n),
                }
            }
            _ => Item::Node(*n),
        }
    }

    fn as_number(&self) -> Option<f64> {
        match self.primitive() {
            Item::Integer(i) => Some(i as f64),
            Item::Decimal(d) => Some(d),
            _ => None,
        }
    }

    fn type_name(&self) -> &str {
        match self {
            Item::Node(n) => match (n.type_name, n.value) {
                (Some(t), _) => t,
                (None, Value::Bool(_)) => "boolean",
                (None, Value::Number(x)) if x.is_i64() => "integer",
                (None, Value::Number(_)) => "decimal",
                (None, Value::String(_)) => "string",
                _ => "Element",
            },
            Item::Boolean(_) => "Boolean",
            Item::Integer(_) => "Integer",
            Item::Decimal(_) => "Decimal",
            Item::String(_) => "String",
            Item::Date(_) => "Date",
            Item::DateTime(_) => "DateTime",
            Item::Time(_) => "Time",
            Item::Quantity(..) => "Quantity",
        }
    }
}

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.primitive() {
            Item::Boolean(b) => write!(f, "{b}"),
            Item::Integer(i) => write!(f, "{i}"),
            Item::Decimal(d) => write!(f, "{d}"),
            Item::String(s) | Item::Date(s) | Item::DateTime(s) | Item::Time(s) => f.write_str(&s),
            Item::Quantity(v, u) => write!(f, "{v} '{u}'"),
            Item::Node(n) => write!(f, "{}", n.value),
        }
    }
}

// ---------------------------------------------------------------- syntax

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// A backtick-delimited identifier: never a keyword.
    Delimited(String),
    Str(String),
    Int(i64),
    Dec(f64),
    Date(String),
    DateTime(String),
    Time(String),
    Var(String),
    Special(&'static str),
    Sym(&'static str),
}

const SYMBOLS: &[&str] = &[
    "!=", "!~", "<=", ">=", ".", "[", "]", "(", ")", "{", "}", ",", "+", "-", "*", "/", "&", "|",
    "=", "~", "<", ">",
];

fn syntax<T>(position: usize, reason: impl Into<String>) -> Result<T> {
    Err(FhirPathError::Syntax {
        position,
        reason: reason.into(),
    })
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // Comments (§3.1): `//` to the end of the line, `/* … */`.
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while chars.get(i).is_some_and(|&c| c != '\n') {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            if i >= chars.len() {
                return syntax(start, "unterminated comment");
            }
            i += 2;
            continue;
        }
        if c == '\'' || c == '`' {
            let (s, next) = quoted(&chars, i, c)?;
            i = next;
            out.push((
                start,
                if c == '\'' {
                    Token::Str(s)
                } else {
                    Token::Delimited(s)
                },
            ));
            continue;
        }
        if c.is_ascii_digit() {
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            let mut is_dec = false;
            if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                is_dec = true;
                i += 1;
                while chars.get(i).is_some_and(char::is_ascii_digit) {
                    i += 1;
                }
            }
            let s: String = chars[start..i].iter().collect();
            out.push((
                start,
                if is_dec {
                    Token::Dec(s.parse().or_else(|_| syntax(start, "not a number"))?)
                } else {
                    Token::Int(
                        s.parse()
                            .or_else(|_| syntax(start, "integer out of range"))?,
                    )
                },
            ));
            continue;
        }
        if c == '@' {
            i += 1;
            let body_start = i;
            while chars.get(i).is_some_and(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '+' | 'T' | 'Z')
            }) {
                i += 1;
            }
            let body: String = chars[body_start..i].iter().collect();
            let token = if let Some(t) = body.strip_prefix('T') {
                Token::Time(t.to_owned())
            } else if body.contains('T') {
                Token::DateTime(body.trim_end_matches('T').to_owned())
            } else if body.is_empty() {
                return syntax(start, "empty date literal");
            } else {
                Token::Date(body)
            };
            out.push((start, token));
            continue;
        }
        if c == '%' {
            i += 1;
            match chars.get(i) {
                Some(&q @ ('\'' | '`')) => {
                    let (s, next) = quoted(&chars, i, q)?;
                    i = next;
                    out.push((start, Token::Var(s)));
                }
                _ => {
                    let name = ident_at(&chars, &mut i);
                    if name.is_empty() {
                        return syntax(start, "a variable name must follow %");
                    }
                    out.push((start, Token::Var(name)));
                }
            }
            continue;
        }
        if c == '$' {
            i += 1;
            let name = ident_at(&chars, &mut i);
            let special = match name.as_str() {
                "this" => "this",
                "index" => "index",
                "total" => "total",
                _ => return syntax(start, format!("unknown ${name}")),
            };
            out.push((start, Token::Special(special)));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            out.push((start, Token::Ident(ident_at(&chars, &mut i))));
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(s) => {
                i += s.chars().count();
                out.push((start, Token::Sym(s)));
            }
            None => return syntax(start, format!("unexpected '{c}'")),
        }
    }
    Ok(out)
}

fn ident_at(chars: &[char], i: &mut usize) -> String {
    let start = *i;
    while chars
        .get(*i)
        .is_some_and(|c| c.is_alphanumeric() || *c == '_')
    {
        *i += 1;
    }
    chars[start..*i].iter().collect()
}

/// A quoted string or identifier starting at `i` (the quote), with escapes (§3.2.4).
fn quoted(chars: &[char], i: usize, quote: char) -> Result<(String, usize)> {
    let mut out = String::new();
    let mut j = i + 1;
    loop {
        match chars.get(j) {
            None => return syntax(i, "unterminated string"),
            Some(&c) if c == quote => return Ok((out, j + 1)),
            Some('\\') => {
                let e = chars.get(j + 1).copied();
                j += 2;
                match e {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('f') => out.push('\u{c}'),
                    Some('u') => {
                        let hex: String = chars.get(j..j + 4).unwrap_or_default().iter().collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or(FhirPathError::Syntax {
                                position: j,
                                reason: "bad \\u escape".into(),
                            })?;
                        out.push(code);
                        j += 4;
                    }
                    Some(other) => out.push(other),
                    None => return syntax(i, "unterminated string"),
                }
            }
            Some(&c) => {
                out.push(c);
                j += 1;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Empty,
    Literal(LiteralValue),
    This,
    Index,
    Total,
    Var(String),
    /// A name: navigation from the focus (or `$this` when there is none).
    Member(Option<Box<Expr>>, String),
    Call(Option<Box<Expr>>, String, Vec<Expr>),
    Indexer(Box<Expr>, Box<Expr>),
    Negate(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Is(Box<Expr>, String),
    As(Box<Expr>, String),
}

#[derive(Debug, Clone, PartialEq)]
enum LiteralValue {
    Boolean(bool),
    Integer(i64),
    Decimal(f64),
    String(String),
    Date(String),
    DateTime(String),
    Time(String),
    Quantity(f64, String),
}

/// A parsed FHIRPath expression, ready to evaluate many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    source: String,
    root: Expr,
}

const CALENDAR_UNITS: &[&str] = &[
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

/// Functions the evaluator knows; a name outside this list is refused when
/// the expression is read, so a form's mistake shows before anyone answers.
const FUNCTIONS: &[&str] = &[
    "empty",
    "exists",
    "all",
    "allTrue",
    "anyTrue",
    "allFalse",
    "anyFalse",
    "count",
    "distinct",
    "isDistinct",
    "where",
    "select",
    "repeat",
    "ofType",
    "single",
    "first",
    "last",
    "tail",
    "skip",
    "take",
    "intersect",
    "exclude",
    "union",
    "combine",
    "iif",
    "toBoolean",
    "toInteger",
    "toDecimal",
    "toString",
    "convertsToInteger",
    "convertsToDecimal",
    "convertsToBoolean",
    "indexOf",
    "substring",
    "startsWith",
    "endsWith",
    "contains",
    "upper",
    "lower",
    "replace",
    "length",
    "trim",
    "join",
    "split",
    "toChars",
    "abs",
    "ceiling",
    "floor",
    "round",
    "truncate",
    "sqrt",
    "exp",
    "ln",
    "log",
    "power",
    "children",
    "descendants",
    "trace",
    "not",
    "aggregate",
    "sum",
    "min",
    "max",
    "avg",
    "extension",
    "hasValue",
    "getValue",
    "ordinal",
    "weight",
    "is",
    "as",
    "subsetOf",
    "supersetOf",
];
const UNSUPPORTED: &[&str] = &[
    "matches",
    "replaceMatches",
    "resolve",
    "memberOf",
    "conformsTo",
    "now",
    "today",
    "timeOfDay",
    "htmlChecks",
    "encode",
    "decode",
    "escape",
    "unescape",
    "lowBoundary",
    "highBoundary",
    "precision",
    "elementDefinition",
    "slice",
    "checkModifiers",
    "subsumes",
    "subsumedBy",
    "comparable",
    "toQuantity",
    "toDate",
    "toDateTime",
    "toTime",
];

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    depth: usize,
    end: usize,
}

impl Expression {
    /// Reads an expression, or says where it is wrong.
    pub fn parse(text: &str) -> Result<Expression> {
        if text.chars().count() > MAX_EXPRESSION_LEN {
            return Err(FhirPathError::Limit(format!(
                "longer than {MAX_EXPRESSION_LEN} characters"
            )));
        }
        let mut p = Parser {
            tokens: tokenize(text)?,
            pos: 0,
            depth: 0,
            end: text.chars().count(),
        };
        if p.tokens.is_empty() {
            return syntax(0, "the expression is empty");
        }
        let root = p.expr(0)?;
        if let Some((at, t)) = p.tokens.get(p.pos) {
            return syntax(*at, format!("unexpected {t:?} after the expression"));
        }
        Ok(Expression {
            source: text.to_owned(),
            root,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates with `context` as `%context` and the initial focus.
    pub fn evaluate<'a>(
        &self,
        context: Node<'a>,
        env: &dyn Environment<'a>,
    ) -> Result<Collection<'a>> {
        let ev = Evaluator {
            env,
            steps: Cell::new(0),
        };
        let this = vec![Item::Node(context)];
        ev.eval(
            &self.root,
            &Frame {
                this: &this,
                index: None,
                total: None,
                depth: 0,
            },
        )
    }
}

fn binding_power(t: &Token) -> Option<(u8, BinOp)> {
    let (bp, op) = match t {
        Token::Sym("*") => (10, BinOp::Mul),
        Token::Sym("/") => (10, BinOp::Div),
        Token::Ident(s) if s == "div" => (10, BinOp::IntDiv),
        Token::Ident(s) if s == "mod" => (10, BinOp::Mod),
        Token::Sym("+") => (9, BinOp::Add),
        Token::Sym("-") => (9, BinOp::Sub),
        Token::Sym("&") => (9, BinOp::Concat),
        // 8: is / as, handled apart (a type follows).
        Token::Sym("|") => (7, BinOp::Union),
        Token::Sym("<") => (6, BinOp::Lt),
        Token::Sym(">") => (6, BinOp::Gt),
        Token::Sym("<=") => (6, BinOp::Le),
        Token::Sym(">=") => (6, BinOp::Ge),
        Token::Sym("=") => (5, BinOp::Eq),
        Token::Sym("!=") => (5, BinOp::Ne),
        Token::Sym("~") => (5, BinOp::Equiv),
        Token::Sym("!~") => (5, BinOp::NotEquiv),
        Token::Ident(s) if s == "in" => (4, BinOp::In),
        Token::Ident(s) if s == "contains" => (4, BinOp::Contains),
        Token::Ident(s) if s == "and" => (3, BinOp::And),
        Token::Ident(s) if s == "or" => (2, BinOp::Or),
        Token::Ident(s) if s == "xor" => (2, BinOp::Xor),
        Token::Ident(s) if s == "implies" => (1, BinOp::Implies),
        _ => return None,
    };
    Some((bp, op))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|(p, _)| *p)
            .unwrap_or(self.end)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn expect(&mut self, sym: &'static str) -> Result<()> {
        let at = self.at();
        match self.next() {
            Some(Token::Sym(s)) if s == sym => Ok(()),
            other => syntax(at, format!("expected '{sym}', found {other:?}")),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FhirPathError::Limit(format!(
                "nests deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }

    fn expr(&mut self, min_bp: u8) -> Result<Expr> {
        self.enter()?;
        let mut lhs = self.unary()?;
        while let Some(t) = self.peek() {
            if matches!(t, Token::Ident(s) if s == "is" || s == "as") {
                if 8 < min_bp {
                    break;
                }
                let is = matches!(t, Token::Ident(s) if s == "is");
                self.pos += 1;
                let ty = self.type_specifier()?;
                lhs = if is {
                    Expr::Is(Box::new(lhs), ty)
                } else {
                    Expr::As(Box::new(lhs), ty)
                };
                continue;
            }
            let Some((bp, op)) = binding_power(t) else {
                break;
            };
            if bp < min_bp {
                break;
            }
            self.pos += 1;
            let rhs = self.expr(bp + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn type_specifier(&mut self) -> Result<String> {
        let at = self.at();
        let mut name = match self.next() {
            Some(Token::Ident(s) | Token::Delimited(s)) => s,
            other => return syntax(at, format!("expected a type name, found {other:?}")),
        };
        // Qualified: System.Integer, FHIR.Coding.
        if self.peek() == Some(&Token::Sym(".")) {
            self.pos += 1;
            match self.next() {
                Some(Token::Ident(s) | Token::Delimited(s)) => name = s,
                other => return syntax(at, format!("expected a type name, found {other:?}")),
            }
        }
        Ok(name)
    }

    fn unary(&mut self) -> Result<Expr> {
        match self.peek() {
            Some(Token::Sym("-")) => {
                self.pos += 1;
                self.enter()?;
                let e = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Negate(Box::new(e)))
            }
            Some(Token::Sym("+")) => {
                self.pos += 1;
                self.unary()
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Expr> {
        let mut e = self.term()?;
        loop {
            match self.peek() {
                Some(Token::Sym(".")) => {
                    self.pos += 1;
                    let at = self.at();
                    let name = match self.next() {
                        Some(Token::Ident(s) | Token::Delimited(s)) => s,
                        other => {
                            return syntax(
                                at,
                                format!("expected a name after '.', found {other:?}"),
                            );
                        }
                    };
                    e = self.invocation(Some(e), name, at)?;
                }
                Some(Token::Sym("[")) => {
                    self.pos += 1;
                    let index = self.expr(0)?;
                    self.expect("]")?;
                    e = Expr::Indexer(Box::new(e), Box::new(index));
                }
                _ => return Ok(e),
            }
        }
    }

    fn invocation(&mut self, focus: Option<Expr>, name: String, at: usize) -> Result<Expr> {
        let focus = focus.map(Box::new);
        if self.peek() != Some(&Token::Sym("(")) {
            return Ok(Expr::Member(focus, name));
        }
        self.pos += 1;
        if UNSUPPORTED.contains(&name.as_str()) {
            return Err(FhirPathError::Unsupported(name));
        }
        if !FUNCTIONS.contains(&name.as_str()) {
            return Err(FhirPathError::UnknownFunction(name));
        }
        let mut args = Vec::new();
        if self.peek() == Some(&Token::Sym(")")) {
            self.pos += 1;
        } else {
            loop {
                // `is`/`as`/`ofType` take a type name, parsed as a member name.
                args.push(self.expr(0)?);
                match self.next() {
                    Some(Token::Sym(",")) => continue,
                    Some(Token::Sym(")")) => break,
                    other => {
                        return syntax(
                            at,
                            format!("expected ',' or ')' in {name}(), found {other:?}"),
                        );
                    }
                }
            }
        }
        Ok(Expr::Call(focus, name, args))
    }

    fn term(&mut self) -> Result<Expr> {
        let at = self.at();
        let Some(t) = self.next() else {
            return syntax(at, "the expression ends too early");
        };
        Ok(match t {
            Token::Int(i) => self.maybe_quantity(i as f64, LiteralValue::Integer(i)),
            Token::Dec(d) => self.maybe_quantity(d, LiteralValue::Decimal(d)),
            Token::Str(s) => Expr::Literal(LiteralValue::String(s)),
            Token::Date(s) => Expr::Literal(LiteralValue::Date(s)),
            Token::DateTime(s) => Expr::Literal(LiteralValue::DateTime(s)),
            Token::Time(s) => Expr::Literal(LiteralValue::Time(s)),
            Token::Var(v) => Expr::Var(v),
            Token::Special("this") => Expr::This,
            Token::Special("index") => Expr::Index,
            Token::Special(_) => Expr::Total,
            Token::Ident(s) if s == "true" => Expr::Literal(LiteralValue::Boolean(true)),
            Token::Ident(s) if s == "false" => Expr::Literal(LiteralValue::Boolean(false)),
            Token::Ident(s) | Token::Delimited(s) => self.invocation(None, s, at)?,
            Token::Sym("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                e
            }
            Token::Sym("{") => {
                self.expect("}")?;
                Expr::Empty
            }
            Token::Sym(s) => return syntax(at, format!("unexpected '{s}'")),
        })
    }

    /// `4 'kg'` or `3 days`: a quantity literal (§5.4 of the grammar).
    fn maybe_quantity(&mut self, value: f64, plain: LiteralValue) -> Expr {
        match self.peek() {
            Some(Token::Str(u)) => {
                let u = u.clone();
                self.pos += 1;
                Expr::Literal(LiteralValue::Quantity(value, u))
            }
            Some(Token::Ident(u)) if CALENDAR_UNITS.contains(&u.as_str()) => {
                let u = u.clone();
                self.pos += 1;
                Expr::Literal(LiteralValue::Quantity(value, u))
            }
            _ => Expr::Literal(plain),
        }
    }
}

// ---------------------------------------------------------------- evaluation

/// What an expression can see beyond its input: variables (`%resource`,
/// `%context`, SDC `variable`s…) and the weights of coded answers.
pub trait Environment<'a> {
    /// The value of `%name`, or None when it is not defined here.
    fn variable(&self, name: &str) -> Option<Result<Collection<'a>>>;
    /// The weight (`ordinalValue`/`itemWeight`) of an answer value given to
    /// the item `link_id`, from the form's answer options.
    fn weight(&self, link_id: Option<&str>, value: &Item<'a>) -> Option<f64>;
    /// Told when the expression reads the answers of the item `link_id`
    /// (None: it may read any, e.g. through `children()`), so a caller can
    /// tell which results a changed answer makes stale.
    fn touched(&self, _link_id: Option<&str>) {}
}

struct Frame<'f, 'a> {
    this: &'f [Item<'a>],
    index: Option<usize>,
    total: Option<&'f [Item<'a>]>,
    depth: usize,
}

struct Evaluator<'e, 'a> {
    env: &'e dyn Environment<'a>,
    steps: Cell<usize>,
}

fn single<'c, 'a>(c: &'c [Item<'a>], what: &str) -> Result<Option<&'c Item<'a>>> {
    match c {
        [] => Ok(None),
        [x] => Ok(Some(x)),
        _ => eval_err(format!("{what} expects one item, found {}", c.len())),
    }
}

/// Singleton evaluation of collections as a Boolean (§4.5).
fn truth(c: &[Item<'_>], what: &str) -> Result<Option<bool>> {
    Ok(single(c, what)?.map(|i| match i.primitive() {
        Item::Boolean(b) => b,
        _ => true,
    }))
}

fn boolean<'a>(b: Option<bool>) -> Collection<'a> {
    b.map(|b| vec![Item::Boolean(b)]).unwrap_or_default()
}

/// `=` on two single items (§6.1.1); None when the result is empty (dates of
/// different precision).
fn equal(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    // Text against text without copying it (linkId = 'x', the common case).
    if let (Some(x), Some(y)) = (plain_text(a), plain_text(b)) {
        return Some(x == y);
    }
    let (pa, pb) = (a.primitive(), b.primitive());
    match (&pa, &pb) {
        (Item::Node(x), Item::Node(y)) => Some(x.value == y.value),
        (Item::Boolean(x), Item::Boolean(y)) => Some(x == y),
        (Item::String(x), Item::String(y)) => Some(x == y),
        (Item::Quantity(x, u), Item::Quantity(y, v)) => Some(x == y && u == v),
        (Item::Date(x), Item::Date(y))
        | (Item::DateTime(x), Item::DateTime(y))
        | (Item::Time(x), Item::Time(y))
        | (Item::Date(x), Item::DateTime(y))
        | (Item::DateTime(x), Item::Date(y)) => {
            if x.len() == y.len() {
                Some(x == y)
            } else {
                None
            }
        }
        _ => match (pa.as_number(), pb.as_number()) {
            (Some(x), Some(y)) => Some(x == y),
            _ => Some(false),
        },
    }
}

/// The text of a string item or of a string element with no date or time type.
fn plain_text<'i>(i: &'i Item<'_>) -> Option<&'i str> {
    match i {
        Item::String(s) => Some(s),
        Item::Node(Node {
            value: Value::String(s),
            type_name: None | Some("string" | "String" | "code" | "Code" | "uri" | "Uri" | "id"),
            ..
        }) => Some(s),
        _ => None,
    }
}

/// `~` (§6.1.3): strings ignore case and collapse whitespace; numbers by value.
fn equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    match (a.primitive(), b.primitive()) {
        (Item::String(x), Item::String(y)) => norm(&x) == norm(&y),
        (Item::Date(x) | Item::DateTime(x), Item::Date(y) | Item::DateTime(y)) => x == y,
        (pa, pb) => equal(&pa, &pb).unwrap_or(false),
    }
}

fn compare(a: &Item<'_>, b: &Item<'_>) -> Result<Option<std::cmp::Ordering>> {
    let (pa, pb) = (a.primitive(), b.primitive());
    if let (Some(x), Some(y)) = (pa.as_number(), pb.as_number()) {
        return Ok(x.partial_cmp(&y));
    }
    match (&pa, &pb) {
        (Item::String(x), Item::String(y)) => Ok(Some(x.cmp(y))),
        (Item::Date(x) | Item::DateTime(x), Item::Date(y) | Item::DateTime(y))
        | (Item::Time(x), Item::Time(y)) => Ok((x.len() == y.len()).then(|| x.cmp(y))),
        // A date literal against a date held as text in the resource.
        (Item::String(x), Item::Date(y) | Item::DateTime(y))
        | (Item::Date(x) | Item::DateTime(x), Item::String(y)) => {
            Ok((x.len() == y.len()).then(|| x.cmp(y)))
        }
        (Item::Quantity(x, u), Item::Quantity(y, v)) if u == v => Ok(x.partial_cmp(y)),
        _ => eval_err(format!(
            "cannot compare {} with {}",
            pa.type_name(),
            pb.type_name()
        )),
    }
}

/// A decimal result. FHIRPath decimals are decimal, not binary: results are
/// kept to 15 significant digits, so that `0.1 + 0.2 = 0.3` and
/// `1.6 * 1.6 = 2.56` as the specification means them.
fn number<'a>(v: f64) -> Item<'a> {
    Item::Decimal(decimal(v))
}

fn decimal(v: f64) -> f64 {
    if v.fract() == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.14e}").parse().unwrap_or(v)
}

fn arithmetic<'a>(op: BinOp, a: &Item<'a>, b: &Item<'a>) -> Result<Option<Item<'a>>> {
    let (pa, pb) = (a.primitive(), b.primitive());
    match (&pa, &pb, op) {
        (Item::String(x), Item::String(y), BinOp::Add) => {
            return Ok(Some(Item::String(format!("{x}{y}"))));
        }
        (Item::Integer(x), Item::Integer(y), _) => {
            let (x, y) = (*x, *y);
            return Ok(match op {
                BinOp::Add => x.checked_add(y).map(Item::Integer),
                BinOp::Sub => x.checked_sub(y).map(Item::Integer),
                BinOp::Mul => x.checked_mul(y).map(Item::Integer),
                // `/` always gives a decimal; dividing by zero gives empty (§6.2.4).
                BinOp::Div => (y != 0).then(|| number(x as f64 / y as f64)),
                BinOp::IntDiv => x.checked_div(y).map(Item::Integer),
                BinOp::Mod => x.checked_rem(y).map(Item::Integer),
                _ => None,
            });
        }
        (Item::Quantity(x, u), Item::Quantity(y, v), BinOp::Add | BinOp::Sub) => {
            if u != v {
                return eval_err(format!("cannot add '{u}' and '{v}'"));
            }
            let r = if op == BinOp::Add { x + y } else { x - y };
            return Ok(Some(Item::Quantity(r, u.clone())));
        }
        (Item::Quantity(x, u), _, BinOp::Mul | BinOp::Div) if pb.as_number().is_some() => {
            let y = pb.as_number().unwrap_or(1.0);
            return Ok(match op {
                BinOp::Mul => Some(Item::Quantity(x * y, u.clone())),
                _ => (y != 0.0).then(|| Item::Quantity(x / y, u.clone())),
            });
        }
        _ => {}
    }
    let (Some(x), Some(y)) = (pa.as_number(), pb.as_number()) else {
        return eval_err(format!(
            "cannot do arithmetic on {} and {}",
            pa.type_name(),
            pb.type_name()
        ));
    };
    let r = match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div if y == 0.0 => return Ok(None),
        BinOp::Div => x / y,
        BinOp::IntDiv if y == 0.0 => return Ok(None),
        BinOp::IntDiv => return Ok(Some(Item::Integer((x / y).trunc() as i64))),
        BinOp::Mod if y == 0.0 => return Ok(None),
        BinOp::Mod => x % y,
        _ => return eval_err("not an arithmetic operator"),
    };
    Ok(r.is_finite().then(|| number(r)))
}

/// Whether an item is of a type named in `is`, `as` or `ofType` (§6.3):
/// System types and FHIR primitive and complex types, case as written.
fn is_type(item: &Item<'_>, name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    match item {
        Item::Node(n) => match n.type_name {
            // A choice suffix (`valueInteger`) names a FHIR primitive with a
            // capital; `integer` and `Integer` both name it.
            Some(t) => {
                t == name || (PRIMITIVES.contains(&lower.as_str()) && t.eq_ignore_ascii_case(name))
            }
            None => match (n.value, lower.as_str()) {
                (Value::Bool(_), "boolean") => true,
                (Value::Number(x), "integer") => x.is_i64(),
                (Value::Number(_), "decimal") => true,
                (Value::String(_), "string" | "code" | "uri" | "id" | "markdown") => true,
                _ => false,
            },
        },
        other => other.type_name().eq_ignore_ascii_case(name),
    }
}

const PRIMITIVES: &[&str] = &[
    "boolean",
    "integer",
    "decimal",
    "string",
    "date",
    "datetime",
    "time",
    "instant",
    "uri",
    "url",
    "canonical",
    "code",
    "id",
    "markdown",
    "oid",
    "uuid",
    "positiveint",
    "unsignedint",
    "base64binary",
];

fn literal<'a>(l: &LiteralValue) -> Item<'a> {
    match l {
        LiteralValue::Boolean(b) => Item::Boolean(*b),
        LiteralValue::Integer(i) => Item::Integer(*i),
        LiteralValue::Decimal(d) => Item::Decimal(*d),
        LiteralValue::String(s) => Item::String(s.clone()),
        LiteralValue::Date(s) => Item::Date(s.clone()),
        LiteralValue::DateTime(s) => Item::DateTime(s.clone()),
        LiteralValue::Time(s) => Item::Time(s.clone()),
        LiteralValue::Quantity(v, u) => Item::Quantity(*v, u.clone()),
    }
}

fn type_name_arg(e: &Expr) -> Result<String> {
    match e {
        Expr::Member(None, n) => Ok(n.clone()),
        Expr::Member(Some(ns), n) if matches!(**ns, Expr::Member(None, _)) => Ok(n.clone()),
        _ => eval_err("expected a type name"),
    }
}

impl<'e, 'a> Evaluator<'e, 'a> {
    fn tick(&self, n: usize) -> Result<()> {
        let s = self.steps.get().saturating_add(n.max(1));
        self.steps.set(s);
        if s > MAX_STEPS {
            return Err(FhirPathError::Limit(format!(
                "more than {MAX_STEPS} steps of work"
            )));
        }
        Ok(())
    }

    fn check_size(&self, c: &[Item<'a>]) -> Result<()> {
        if c.len() > MAX_COLLECTION {
            return Err(FhirPathError::Limit(format!(
                "a collection of more than {MAX_COLLECTION} items"
            )));
        }
        self.tick(c.len())
    }

    fn eval(&self, e: &Expr, f: &Frame<'_, 'a>) -> Result<Collection<'a>> {
        if f.depth > MAX_DEPTH * 4 {
            return Err(FhirPathError::Limit("evaluation nests too deeply".into()));
        }
        self.tick(1)?;
        let out = match e {
            Expr::Empty => Vec::new(),
            Expr::Literal(l) => vec![literal(l)],
            Expr::This => f.this.to_vec(),
            Expr::Index => f
                .index
                .map(|i| vec![Item::Integer(i as i64)])
                .unwrap_or_default(),
            Expr::Total => f.total.map(<[Item<'a>]>::to_vec).unwrap_or_default(),
            Expr::Var(name) => match self.env.variable(name) {
                Some(v) => v?,
                None => return Err(FhirPathError::UnknownVariable(name.clone())),
            },
            Expr::Member(None, name) => {
                // A leading type name selects the context resource (§4.1).
                let by_type: Collection<'a> = f
                    .this
                    .iter()
                    .filter(|i| matches!(i, Item::Node(n) if n.value.get("resourceType").and_then(Value::as_str) == Some(name.as_str())))
                    .cloned()
                    .collect();
                if by_type.is_empty() {
                    self.navigate(f.this, name)?
                } else {
                    by_type
                }
            }
            Expr::Member(Some(focus), name) => {
                let input = self.eval(focus, f)?;
                self.navigate(&input, name)?
            }
            Expr::Call(focus, name, args) => {
                let input = match focus {
                    Some(x) => self.eval(x, f)?,
                    None => f.this.to_vec(),
                };
                self.call(name, &input, args, f)?
            }
            Expr::Indexer(focus, index) => {
                let input = self.eval(focus, f)?;
                let i = self.eval(index, f)?;
                match single(&i, "an index")?.map(Item::primitive) {
                    Some(Item::Integer(i)) if i >= 0 => {
                        input.into_iter().nth(i as usize).into_iter().collect()
                    }
                    Some(_) => return eval_err("an index must be a non-negative integer"),
                    None => Vec::new(),
                }
            }
            Expr::Negate(x) => {
                let v = self.eval(x, f)?;
                match single(&v, "unary minus")?.map(Item::primitive) {
                    None => Vec::new(),
                    Some(Item::Integer(i)) => {
                        vec![Item::Integer(i.checked_neg().ok_or_else(|| {
                            FhirPathError::Evaluation("integer overflow".into())
                        })?)]
                    }
                    Some(Item::Decimal(d)) => vec![Item::Decimal(-d)],
                    Some(Item::Quantity(d, u)) => vec![Item::Quantity(-d, u)],
                    Some(other) => return eval_err(format!("cannot negate {}", other.type_name())),
                }
            }
            Expr::Is(x, ty) => {
                let v = self.eval(x, f)?;
                boolean(single(&v, "is")?.map(|i| is_type(i, ty)))
            }
            Expr::As(x, ty) => {
                let v = self.eval(x, f)?;
                single(&v, "as")?
                    .filter(|i| is_type(i, ty))
                    .cloned()
                    .into_iter()
                    .collect()
            }
            Expr::Binary(op, l, r) => self.binary(*op, l, r, f)?,
        };
        self.check_size(&out)?;
        Ok(out)
    }

    fn binary(&self, op: BinOp, l: &Expr, r: &Expr, f: &Frame<'_, 'a>) -> Result<Collection<'a>> {
        // Boolean operators are three-valued (§6.5) and evaluate both sides.
        if matches!(op, BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Implies) {
            let a = truth(&self.eval(l, f)?, "a logical operator")?;
            // `false and …`, `true or …`: the right side is not needed.
            match (op, a) {
                (BinOp::And, Some(false)) => return Ok(boolean(Some(false))),
                (BinOp::Or, Some(true)) => return Ok(boolean(Some(true))),
                (BinOp::Implies, Some(false)) => return Ok(boolean(Some(true))),
                _ => {}
            }
            let b = truth(&self.eval(r, f)?, "a logical operator")?;
            return Ok(boolean(match op {
                BinOp::And => match (a, b) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
                BinOp::Or => match (a, b) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                BinOp::Xor => match (a, b) {
                    (Some(x), Some(y)) => Some(x != y),
                    _ => None,
                },
                _ => match (a, b) {
                    (Some(true), x) => x,
                    (None, Some(true)) => Some(true),
                    _ => None,
                },
            }));
        }
        // `linkId = 'x'` on one element, the commonest test in forms: read the
        // field in place rather than building collections for it.
        if let (
            BinOp::Eq | BinOp::Ne,
            Expr::Member(None, name),
            Expr::Literal(LiteralValue::String(lit)),
            [
                Item::Node(Node {
                    value: Value::Object(obj),
                    ..
                }),
            ],
        ) = (op, l, r, f.this)
        {
            match obj.get(name.as_str()) {
                Some(Value::String(v)) => {
                    return Ok(boolean(Some((v == lit) == (op == BinOp::Eq))));
                }
                None => return Ok(Vec::new()),
                Some(_) => {}
            }
        }
        let a = self.eval(l, f)?;
        let b = self.eval(r, f)?;
        self.tick(a.len().saturating_mul(b.len().max(1)))?;
        Ok(match op {
            BinOp::Union => {
                let mut out: Collection<'a> = Vec::new();
                for i in a.into_iter().chain(b) {
                    if !out.iter().any(|o| equal(o, &i) == Some(true)) {
                        out.push(i);
                    }
                }
                out
            }
            BinOp::Concat => {
                let s = |c: &[Item<'a>]| -> Result<String> {
                    Ok(single(c, "&")?.map(|i| i.to_string()).unwrap_or_default())
                };
                vec![Item::String(format!("{}{}", s(&a)?, s(&b)?))]
            }
            BinOp::Eq | BinOp::Ne => {
                if a.is_empty() || b.is_empty() {
                    return Ok(Vec::new());
                }
                let eq = if a.len() != b.len() {
                    Some(false)
                } else {
                    let mut all = Some(true);
                    for (x, y) in a.iter().zip(&b) {
                        match equal(x, y) {
                            Some(true) => {}
                            Some(false) => {
                                all = Some(false);
                                break;
                            }
                            None => all = None,
                        }
                    }
                    all
                };
                boolean(if op == BinOp::Eq { eq } else { eq.map(|e| !e) })
            }
            BinOp::Equiv | BinOp::NotEquiv => {
                let eq = a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| equivalent(x, y)));
                boolean(Some(if op == BinOp::Equiv { eq } else { !eq }))
            }
            BinOp::In | BinOp::Contains => {
                let (item, list) = if op == BinOp::In { (&a, &b) } else { (&b, &a) };
                match single(item, "in/contains")? {
                    None => Vec::new(),
                    Some(x) => boolean(Some(list.iter().any(|y| equal(x, y) == Some(true)))),
                }
            }
            BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                let (Some(x), Some(y)) = (single(&a, "a comparison")?, single(&b, "a comparison")?)
                else {
                    return Ok(Vec::new());
                };
                use std::cmp::Ordering::*;
                boolean(compare(x, y)?.map(|o| match op {
                    BinOp::Lt => o == Less,
                    BinOp::Gt => o == Greater,
                    BinOp::Le => o != Greater,
                    _ => o != Less,
                }))
            }
            _ => {
                let (Some(x), Some(y)) = (single(&a, "arithmetic")?, single(&b, "arithmetic")?)
                else {
                    return Ok(Vec::new());
                };
                arithmetic(op, x, y)?.into_iter().collect()
            }
        })
    }

    /// Child elements named `name` (§4.1), flattening arrays; `value` also
    /// finds the choice element `valueCoding`, `valueInteger`…
    fn navigate(&self, input: &[Item<'a>], name: &str) -> Result<Collection<'a>> {
        let mut out = Vec::new();
        for item in input {
            let Item::Node(n) = item else { continue };
            let Value::Object(obj) = n.value else {
                continue;
            };
            self.tick(1)?;
            if name == "answer" {
                self.env.touched(n.link_id);
            }
            let (child, type_name) = match obj.get(name) {
                Some(v) => (v, None),
                None => match obj.iter().find(|(k, _)| {
                    k.strip_prefix(name)
                        .is_some_and(|rest| rest.chars().next().is_some_and(char::is_uppercase))
                }) {
                    Some((k, v)) => (v, k.get(name.len()..)),
                    None => continue,
                },
            };
            let mut push = |v: &'a Value| {
                if v.is_null() {
                    return;
                }
                out.push(Item::Node(Node {
                    value: v,
                    type_name: type_name.or_else(|| v.get("resourceType").and_then(Value::as_str)),
                    link_id: v.get("linkId").and_then(Value::as_str).or(n.link_id),
                }));
            };
            match child {
                Value::Array(list) => list.iter().for_each(&mut push),
                v => push(v),
            }
            self.check_size(&out)?;
        }
        Ok(out)
    }

    fn children(&self, input: &[Item<'a>]) -> Result<Collection<'a>> {
        self.env.touched(None);
        let mut out = Vec::new();
        for item in input {
            let Item::Node(n) = item else { continue };
            let Value::Object(obj) = n.value else {
                continue;
            };
            for (k, v) in obj {
                if k == "resourceType" {
                    continue;
                }
                let vals: &[Value] = match v {
                    Value::Array(a) => a,
                    other => std::slice::from_ref(other),
                };
                for v in vals {
                    out.push(Item::Node(Node {
                        value: v,
                        type_name: None,
                        link_id: v.get("linkId").and_then(Value::as_str).or(n.link_id),
                    }));
                }
            }
            self.check_size(&out)?;
        }
        Ok(out)
    }

    fn arg(&self, args: &[Expr], i: usize, f: &Frame<'_, 'a>) -> Result<Collection<'a>> {
        match args.get(i) {
            Some(e) => self.eval(e, f),
            None => eval_err("a function is missing an argument"),
        }
    }

    fn arity(name: &str, args: &[Expr], min: usize, max: usize) -> Result<()> {
        if args.len() < min || args.len() > max {
            return eval_err(format!(
                "{name}() takes {min}{} argument(s), {} given",
                if max > min {
                    format!("–{max}")
                } else {
                    String::new()
                },
                args.len()
            ));
        }
        Ok(())
    }

    /// Evaluates `e` once per input item, with `$this` and `$index` set.
    fn per_item(
        &self,
        input: &[Item<'a>],
        e: &Expr,
        f: &Frame<'_, 'a>,
        mut each: impl FnMut(usize, &Item<'a>, Collection<'a>) -> Result<bool>,
    ) -> Result<()> {
        for (i, item) in input.iter().enumerate() {
            let this = [item.clone()];
            let r = self.eval(
                e,
                &Frame {
                    this: &this,
                    index: Some(i),
                    total: f.total,
                    depth: f.depth + 1,
                },
            )?;
            if !each(i, item, r)? {
                break;
            }
        }
        Ok(())
    }

    fn string_arg(&self, args: &[Expr], i: usize, f: &Frame<'_, 'a>) -> Result<Option<String>> {
        let v = self.arg(args, i, f)?;
        Ok(single(&v, "a text argument")?.map(|x| x.to_string()))
    }

    fn int_arg(&self, args: &[Expr], i: usize, f: &Frame<'_, 'a>) -> Result<Option<i64>> {
        let v = self.arg(args, i, f)?;
        match single(&v, "a number argument")?.map(Item::primitive) {
            None => Ok(None),
            Some(Item::Integer(n)) => Ok(Some(n)),
            Some(other) => eval_err(format!("expected an integer, found {}", other.type_name())),
        }
    }

    fn call(
        &self,
        name: &str,
        input: &[Item<'a>],
        args: &[Expr],
        f: &Frame<'_, 'a>,
    ) -> Result<Collection<'a>> {
        let one = |what: &str| single(input, what).map(|o| o.map(Item::primitive));
        let text = |what: &str| -> Result<Option<String>> {
            Ok(match one(what)? {
                None => None,
                Some(Item::String(s)) => Some(s),
                Some(other) => {
                    return eval_err(format!("{what}() needs text, found {}", other.type_name()));
                }
            })
        };
        let numeric = |what: &str, op: fn(f64) -> f64| -> Result<Collection<'a>> {
            Ok(match one(what)? {
                None => Vec::new(),
                Some(Item::Integer(i))
                    if matches!(what, "abs" | "ceiling" | "floor" | "round" | "truncate") =>
                {
                    vec![Item::Integer(if what == "abs" {
                        i.checked_abs().unwrap_or(i64::MAX)
                    } else {
                        i
                    })]
                }
                Some(x) => match x.as_number() {
                    Some(n) => {
                        let r = op(n);
                        if !r.is_finite() {
                            Vec::new()
                        } else if matches!(what, "ceiling" | "floor" | "truncate") {
                            vec![Item::Integer(r as i64)]
                        } else {
                            vec![Item::Decimal(r)]
                        }
                    }
                    None => return eval_err(format!("{what}() needs a number")),
                },
            })
        };
        let b = |v: bool| vec![Item::Boolean(v)];
        // §5.5 `toX()` gives the converted value; `convertsToX()` whether it converts.
        let converted = |to: bool, v: Option<Item<'a>>| -> Collection<'a> {
            if to {
                v.into_iter().collect()
            } else if input.is_empty() {
                Vec::new()
            } else {
                b(v.is_some())
            }
        };
        Ok(match name {
            // §5.1 Existence
            "empty" => b(input.is_empty()),
            "exists" => {
                Self::arity(name, args, 0, 1)?;
                match args.first() {
                    None => b(!input.is_empty()),
                    Some(c) => {
                        let mut any = false;
                        self.per_item(input, c, f, |_, _, r| {
                            any = truth(&r, "exists()")? == Some(true);
                            Ok(!any)
                        })?;
                        b(any)
                    }
                }
            }
            "all" => {
                Self::arity(name, args, 1, 1)?;
                let mut all = true;
                self.per_item(input, &args[0], f, |_, _, r| {
                    all = truth(&r, "all()")? == Some(true);
                    Ok(all)
                })?;
                b(all)
            }
            "allTrue" | "anyTrue" | "allFalse" | "anyFalse" => {
                let want = name.ends_with("True");
                let vals: Vec<bool> = input
                    .iter()
                    .map(|i| matches!(i.primitive(), Item::Boolean(x) if x == want))
                    .collect();
                b(if name.starts_with("all") {
                    vals.iter().all(|x| *x)
                } else {
                    vals.iter().any(|x| *x)
                })
            }
            "count" => vec![Item::Integer(input.len() as i64)],
            "distinct" => {
                let mut out: Collection<'a> = Vec::new();
                self.tick(input.len().saturating_mul(input.len()))?;
                for i in input {
                    if !out.iter().any(|o| equal(o, i) == Some(true)) {
                        out.push(i.clone());
                    }
                }
                out
            }
            "isDistinct" => {
                self.tick(input.len().saturating_mul(input.len()))?;
                b(input
                    .iter()
                    .enumerate()
                    .all(|(k, x)| input[..k].iter().all(|y| equal(x, y) != Some(true))))
            }
            "subsetOf" | "supersetOf" => {
                let other = self.arg(args, 0, f)?;
                let (sub, sup) = if name == "subsetOf" {
                    (input, &other[..])
                } else {
                    (&other[..], input)
                };
                b(sub
                    .iter()
                    .all(|x| sup.iter().any(|y| equal(x, y) == Some(true))))
            }
            // §5.2 Filtering and projection
            "where" => {
                Self::arity(name, args, 1, 1)?;
                let mut out = Vec::new();
                self.per_item(input, &args[0], f, |_, item, r| {
                    if truth(&r, "where()")? == Some(true) {
                        out.push(item.clone());
                    }
                    Ok(true)
                })?;
                out
            }
            "select" => {
                Self::arity(name, args, 1, 1)?;
                let mut out = Vec::new();
                self.per_item(input, &args[0], f, |_, _, r| {
                    out.extend(r);
                    self.check_size(&out)?;
                    Ok(true)
                })?;
                out
            }
            "repeat" => {
                Self::arity(name, args, 1, 1)?;
                let mut out: Collection<'a> = Vec::new();
                let mut frontier = input.to_vec();
                while !frontier.is_empty() {
                    let mut next = Vec::new();
                    self.per_item(&frontier, &args[0], f, |_, _, r| {
                        next.extend(r);
                        Ok(true)
                    })?;
                    // Items already reached are not followed again, so a cycle ends.
                    next.retain(|n| !out.iter().any(|o| same_node(o, n)));
                    out.extend(next.iter().cloned());
                    self.check_size(&out)?;
                    frontier = next;
                }
                out
            }
            "ofType" => {
                Self::arity(name, args, 1, 1)?;
                let ty = type_name_arg(&args[0])?;
                input.iter().filter(|i| is_type(i, &ty)).cloned().collect()
            }
            "is" | "as" => {
                Self::arity(name, args, 1, 1)?;
                let ty = type_name_arg(&args[0])?;
                match single(input, name)? {
                    None => Vec::new(),
                    Some(i) if name == "is" => b(is_type(i, &ty)),
                    Some(i) => [i]
                        .into_iter()
                        .filter(|i| is_type(i, &ty))
                        .cloned()
                        .collect(),
                }
            }
            // §5.3 Subsetting
            "single" => single(input, "single()")?.cloned().into_iter().collect(),
            "first" => input.first().cloned().into_iter().collect(),
            "last" => input.last().cloned().into_iter().collect(),
            "tail" => input.iter().skip(1).cloned().collect(),
            "skip" | "take" => {
                let n = self.int_arg(args, 0, f)?.unwrap_or(0).max(0) as usize;
                if name == "skip" {
                    input.iter().skip(n).cloned().collect()
                } else {
                    input.iter().take(n).cloned().collect()
                }
            }
            "intersect" | "exclude" => {
                let other = self.arg(args, 0, f)?;
                self.tick(input.len().saturating_mul(other.len()))?;
                let keep = name == "intersect";
                let mut out: Collection<'a> = Vec::new();
                for i in input {
                    let inside = other.iter().any(|o| equal(o, i) == Some(true));
                    if inside == keep && (!keep || !out.iter().any(|o| equal(o, i) == Some(true))) {
                        out.push(i.clone());
                    }
                }
                out
            }
            // §5.4 Combining
            "union" => {
                let other = self.arg(args, 0, f)?;
                let mut out: Collection<'a> = Vec::new();
                for i in input.iter().cloned().chain(other) {
                    if !out.iter().any(|o| equal(o, &i) == Some(true)) {
                        out.push(i);
                    }
                }
                out
            }
            "combine" => {
                let mut out = input.to_vec();
                out.extend(self.arg(args, 0, f)?);
                out
            }
            // §5.5 Conversion
            "iif" => {
                Self::arity(name, args, 2, 3)?;
                let c = truth(&self.arg(args, 0, f)?, "iif()")?;
                if c == Some(true) {
                    self.arg(args, 1, f)?
                } else if args.len() == 3 {
                    self.arg(args, 2, f)?
                } else {
                    Vec::new()
                }
            }
            "toInteger" | "convertsToInteger" => {
                let v = match one(name)? {
                    None => None,
                    Some(Item::Integer(i)) => Some(i),
                    Some(Item::Boolean(x)) => Some(i64::from(x)),
                    Some(Item::String(s)) => s.trim().parse().ok(),
                    Some(_) => None,
                };
                converted(name == "toInteger", v.map(Item::Integer))
            }
            "toDecimal" | "convertsToDecimal" => {
                let v = match one(name)? {
                    None => None,
                    Some(Item::Integer(i)) => Some(i as f64),
                    Some(Item::Decimal(d)) => Some(d),
                    Some(Item::Boolean(x)) => Some(if x { 1.0 } else { 0.0 }),
                    Some(Item::String(s)) => s.trim().parse().ok().filter(|d: &f64| d.is_finite()),
                    Some(_) => None,
                };
                converted(name == "toDecimal", v.map(Item::Decimal))
            }
            "toBoolean" | "convertsToBoolean" => {
                let v = match one(name)? {
                    None => None,
                    Some(Item::Boolean(x)) => Some(x),
                    Some(Item::Integer(1)) => Some(true),
                    Some(Item::Integer(0)) => Some(false),
                    Some(Item::String(s)) => match s.to_ascii_lowercase().as_str() {
                        "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
                        "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
                        _ => None,
                    },
                    Some(_) => None,
                };
                converted(name == "toBoolean", v.map(Item::Boolean))
            }
            "toString" => match single(input, name)? {
                None => Vec::new(),
                Some(Item::Node(n)) if n.value.is_object() || n.value.is_array() => {
                    match Item::Node(*n).primitive() {
                        q @ Item::Quantity(..) => vec![Item::String(q.to_string())],
                        _ => Vec::new(),
                    }
                }
                Some(i) => vec![Item::String(i.to_string())],
            },
            // §5.6 String manipulation (by characters, not bytes)
            "indexOf" => match (text(name)?, self.string_arg(args, 0, f)?) {
                (Some(s), Some(sub)) => vec![Item::Integer(
                    s.find(&sub)
                        .map(|byte| s[..byte].chars().count() as i64)
                        .unwrap_or(-1),
                )],
                _ => Vec::new(),
            },
            "substring" => {
                Self::arity(name, args, 1, 2)?;
                let Some(s) = text(name)? else {
                    return Ok(Vec::new());
                };
                let chars: Vec<char> = s.chars().collect();
                let Some(start) = self.int_arg(args, 0, f)? else {
                    return Ok(Vec::new());
                };
                if start < 0 || start as usize >= chars.len() {
                    return Ok(Vec::new());
                }
                let len = match args.get(1) {
                    Some(_) => self.int_arg(args, 1, f)?.unwrap_or(0).max(0) as usize,
                    None => chars.len(),
                };
                vec![Item::String(
                    chars.iter().skip(start as usize).take(len).collect(),
                )]
            }
            "startsWith" | "endsWith" | "contains" => {
                match (text(name)?, self.string_arg(args, 0, f)?) {
                    (Some(s), Some(x)) => b(match name {
                        "startsWith" => s.starts_with(&x),
                        "endsWith" => s.ends_with(&x),
                        _ => s.contains(&x),
                    }),
                    _ => Vec::new(),
                }
            }
            "upper" => text(name)?
                .map(|s| Item::String(s.to_uppercase()))
                .into_iter()
                .collect(),
            "lower" => text(name)?
                .map(|s| Item::String(s.to_lowercase()))
                .into_iter()
                .collect(),
            "trim" => text(name)?
                .map(|s| Item::String(s.trim().to_owned()))
                .into_iter()
                .collect(),
            "length" => text(name)?
                .map(|s| Item::Integer(s.chars().count() as i64))
                .into_iter()
                .collect(),
            "toChars" => text(name)?
                .map(|s| s.chars().map(|c| Item::String(c.to_string())).collect())
                .unwrap_or_default(),
            "replace" => {
                Self::arity(name, args, 2, 2)?;
                match (
                    text(name)?,
                    self.string_arg(args, 0, f)?,
                    self.string_arg(args, 1, f)?,
                ) {
                    (Some(s), Some(p), Some(r)) => {
                        let out = if p.is_empty() {
                            // §5.6.9: an empty pattern surrounds every character.
                            let mut o = r.clone();
                            for c in s.chars() {
                                o.push(c);
                                o.push_str(&r);
                            }
                            o
                        } else {
                            s.replace(&p, &r)
                        };
                        if out.len() > MAX_COLLECTION * 10 {
                            return Err(FhirPathError::Limit("text grew too long".into()));
                        }
                        vec![Item::String(out)]
                    }
                    _ => Vec::new(),
                }
            }
            "split" => match (text(name)?, self.string_arg(args, 0, f)?) {
                (Some(s), Some(sep)) if !sep.is_empty() => s
                    .split(sep.as_str())
                    .map(|p| Item::String(p.to_owned()))
                    .collect(),
                _ => Vec::new(),
            },
            "join" => {
                let sep = match args.first() {
                    Some(_) => self.string_arg(args, 0, f)?.unwrap_or_default(),
                    None => String::new(),
                };
                let parts: Vec<String> = input.iter().map(|i| i.to_string()).collect();
                vec![Item::String(parts.join(&sep))]
            }
            // §5.7 Math
            "abs" => numeric(name, f64::abs)?,
            "ceiling" => numeric(name, f64::ceil)?,
            "floor" => numeric(name, f64::floor)?,
            "truncate" => numeric(name, f64::trunc)?,
            "sqrt" => numeric(name, f64::sqrt)?,
            "exp" => numeric(name, f64::exp)?,
            "ln" => numeric(name, f64::ln)?,
            "round" => {
                let places = match args.first() {
                    Some(_) => self.int_arg(args, 0, f)?.unwrap_or(0).clamp(0, 15) as i32,
                    None => 0,
                };
                match one(name)? {
                    None => Vec::new(),
                    Some(Item::Integer(i)) => vec![Item::Integer(i)],
                    Some(x) => match x.as_number() {
                        // Half away from zero, as `f64::round` does.
                        Some(n) => {
                            let m = 10f64.powi(places);
                            vec![Item::Decimal(decimal(decimal(decimal(n) * m).round() / m))]
                        }
                        None => return eval_err("round() needs a number"),
                    },
                }
            }
            "log" | "power" => {
                let base = self.arg(args, 0, f)?;
                let (Some(x), Some(y)) = (one(name)?, single(&base, name)?) else {
                    return Ok(Vec::new());
                };
                let (Some(a), Some(e)) = (x.as_number(), y.as_number()) else {
                    return eval_err(format!("{name}() needs numbers"));
                };
                if name == "power" {
                    if let (Item::Integer(i), Item::Integer(p)) = (&x, &y.primitive())
                        && *p >= 0
                    {
                        return Ok(u32::try_from(*p)
                            .ok()
                            .and_then(|p| i.checked_pow(p))
                            .map(Item::Integer)
                            .into_iter()
                            .collect());
                    }
                    let r = a.powf(e);
                    if r.is_finite() {
                        vec![Item::Decimal(r)]
                    } else {
                        Vec::new()
                    }
                } else {
                    let r = a.ln() / e.ln();
                    if r.is_finite() {
                        vec![Item::Decimal(r)]
                    } else {
                        Vec::new()
                    }
                }
            }
            // §5.8 Tree navigation
            "children" => self.children(input)?,
            "descendants" => {
                let mut out = Vec::new();
                let mut frontier = self.children(input)?;
                while !frontier.is_empty() {
                    out.extend(frontier.iter().cloned());
                    self.check_size(&out)?;
                    frontier = self.children(&frontier)?;
                }
                out
            }
            // §5.9 Utility: trace() gives its input back (no logging: no PHI in logs).
            "trace" => input.to_vec(),
            "not" => boolean(truth(input, "not()")?.map(|x| !x)),
            // §7 Aggregates
            "aggregate" => {
                Self::arity(name, args, 1, 2)?;
                let mut total = match args.get(1) {
                    Some(_) => self.arg(args, 1, f)?,
                    None => Vec::new(),
                };
                for (i, item) in input.iter().enumerate() {
                    let this = [item.clone()];
                    total = self.eval(
                        &args[0],
                        &Frame {
                            this: &this,
                            index: Some(i),
                            total: Some(&total),
                            depth: f.depth + 1,
                        },
                    )?;
                }
                total
            }
            // FHIRPath 3.0 (STU) aggregates, used by SDC forms.
            "sum" => {
                let mut acc = Item::Integer(0);
                for i in input {
                    acc = match arithmetic(BinOp::Add, &acc, i)? {
                        Some(x) => x,
                        None => return eval_err("sum() overflowed"),
                    };
                }
                vec![acc]
            }
            "min" | "max" => {
                let mut best: Option<Item<'a>> = None;
                for i in input {
                    let replace = match &best {
                        None => true,
                        Some(x) => {
                            let o = compare(i, x)?;
                            if name == "min" {
                                o == Some(std::cmp::Ordering::Less)
                            } else {
                                o == Some(std::cmp::Ordering::Greater)
                            }
                        }
                    };
                    if replace {
                        best = Some(i.primitive());
                    }
                }
                best.into_iter().collect()
            }
            "avg" => {
                if input.is_empty() {
                    return Ok(Vec::new());
                }
                let mut sum = 0.0;
                for i in input {
                    sum += i
                        .as_number()
                        .ok_or_else(|| FhirPathError::Evaluation("avg() needs numbers".into()))?;
                }
                vec![Item::Decimal(sum / input.len() as f64)]
            }
            // FHIR additions (FHIR R4 §2.1.9.1)
            "extension" => {
                let url = self.string_arg(args, 0, f)?;
                let exts = self.navigate(input, "extension")?;
                exts.into_iter()
                    .filter(|e| matches!(e, Item::Node(n) if n.value.get("url").and_then(Value::as_str) == url.as_deref()))
                    .collect()
            }
            "hasValue" => b(matches!(
                single(input, name)?,
                Some(Item::Node(Node {
                    value: Value::Bool(_) | Value::Number(_) | Value::String(_),
                    ..
                })) | Some(
                    Item::Boolean(_) | Item::Integer(_) | Item::Decimal(_) | Item::String(_)
                )
            )),
            "getValue" => match single(input, name)? {
                Some(i) => match i.primitive() {
                    Item::Node(_) => Vec::new(),
                    p => vec![p],
                },
                None => Vec::new(),
            },
            // SDC: the weight of a coded answer (`ordinal()`, `weight()` in newer versions).
            "ordinal" | "weight" => input
                .iter()
                .filter_map(|i| {
                    let own = match i {
                        Item::Node(n) => own_weight(n.value),
                        _ => None,
                    };
                    let link = match i {
                        Item::Node(n) => n.link_id,
                        _ => None,
                    };
                    own.or_else(|| self.env.weight(link, i))
                })
                .map(Item::Decimal)
                .collect(),
            other => return Err(FhirPathError::UnknownFunction(other.to_owned())),
        })
    }
}

fn same_node(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (a, b) {
        (Item::Node(x), Item::Node(y)) => std::ptr::eq(x.value, y.value),
        _ => equal(a, b) == Some(true),
    }
}

/// A weight carried on the element itself (a Coding with an `itemWeight` or
/// `ordinalValue` extension).
pub(crate) fn own_weight(v: &Value) -> Option<f64> {
    v.get("extension")?.as_array()?.iter().find_map(|e| {
        let url = e.get("url")?.as_str()?;
        if url == crate::parse::EXT_ITEM_WEIGHT
            || url == crate::parse::EXT_ORDINAL_VALUE
            || url == crate::parse::EXT_CO_VALUE
        {
            e.get("valueDecimal")
                .or_else(|| e.get("valueInteger"))
                .and_then(Value::as_f64)
        } else {
            None
        }
    })
}

/// An environment with only fixed variables, and no weights: for tests and
/// simple uses.
#[derive(Debug, Default)]
pub struct Variables<'a> {
    pub values: Vec<(String, Collection<'a>)>,
}

impl<'a> Environment<'a> for Variables<'a> {
    fn variable(&self, name: &str) -> Option<Result<Collection<'a>>> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Ok(v.clone()))
    }

    fn weight(&self, _: Option<&str>, _: &Item<'a>) -> Option<f64> {
        None
    }
}
