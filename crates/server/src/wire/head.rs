//! One request head read as Python's `http.server` (under Werkzeug)
//! reads it, and written out again the way hyper reads it the same way.
//!
//! What Python forgives and hyper refuses, and how it is handed to hyper:
//!
//! - The request line is split on any run of Python's white space, and
//!   the version read as two numbers (`HTTP/1.2` is an HTTP/1.x,
//!   `HTTP/01.0` is 1.0): written back with single spaces and
//!   `HTTP/1.0` or `HTTP/1.1`.
//! - `GET /exchanges`, with no version, is HTTP/0.9 (the first request
//!   of a connection only: its answer is the body alone, see `wire`).
//! - The target is taken byte for byte, each byte a Latin-1 character:
//!   a quote, `<`, `>`, a back-tick, a control character or a byte of
//!   0x80 or more, which hyper's URI parser refuses, is percent-encoded
//!   (a Latin-1 byte as the UTF-8 of its character, as Werkzeug reads
//!   it), and a target with no leading slash gets one (`GET exchanges`,
//!   `GET %2Fexchanges`). An absolute-form target with no path at all
//!   (`http://localhost:8080`) gets a `?`, which the router reads as the
//!   empty path Werkzeug redirects to `/`.
//! - A header line without a colon ends Python's headers: it and every
//!   line after it are dropped. If a body's length was among them,
//!   `Connection: close` is added (the original closes after every
//!   answer), so that body is never read as the next request.
//! - An HTTP/0.9 request keeps only the header lines hyper reads: it has
//!   no body and its connection closes, and hyper's bare refusal would
//!   reach the client as an empty answer.
//!
//! A line Python refuses gets Python's own error page
//! ([`Reading::Refused`]), on the first request of a connection. Later
//! requests of a kept-alive connection (which the original never reads:
//! it closes after each answer) are made readable by hyper the same way,
//! and what Python would refuse is left to hyper's `400`.

use std::fmt::Write;

/// What to hand hyper for one head.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// The head as it came: hyper reads it as Python does.
    AsItCame,
    /// These bytes instead, and how the answer must look.
    Rewritten { head: Vec<u8>, answer: Answer },
    /// Python refuses the request with this answer, and closes.
    Refused(Vec<u8>),
}

/// What the answer to a request looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Status line, headers and body.
    Whole,
    /// The body alone: an HTTP/0.9 answer.
    BodyOnly,
}

/// Reads a whole head (request line, header lines, blank line), the
/// first of a connection or a later one.
pub(crate) fn read(head: &[u8], first: bool) -> Reading {
    let line_end = head
        .iter()
        .position(|&byte| byte == b'\n')
        .map_or(head.len(), |at| at + 1);
    let (line, fields) = head.split_at(line_end);
    let (mut rewritten, answer) = match read_line(line, first) {
        Line::InHypersForm => (None, Answer::Whole),
        Line::Reread(line, answer) => (Some(line), answer),
        Line::Refused(page) => return Reading::Refused(page),
        Line::LeftToHyper => return Reading::AsItCame,
    };
    if answer == Answer::BodyOnly {
        // Python reads no body for an HTTP/0.9 request and closes after
        // its answer, so nothing can be smuggled in its head: keep the
        // header lines hyper reads and drop the others, or hyper's bare
        // refusal would reach the client as an empty body, silence.
        let head = rewritten.get_or_insert_with(|| line.to_vec());
        let kept = fields_before_a_non_header(fields).unwrap_or(fields.len());
        for field in fields[..kept].split_inclusive(|&byte| byte == b'\n') {
            if hyper_reads_field(field) {
                head.extend_from_slice(field);
            }
        }
        head.extend_from_slice(b"\r\n");
    } else if let Some(kept) = fields_before_a_non_header(fields) {
        let head = rewritten.get_or_insert_with(|| line.to_vec());
        head.extend_from_slice(&fields[..kept]);
        if names_a_body(&fields[kept..]) {
            // A body's length among the lines dropped: the body must never
            // be read as the next request, so the connection closes after
            // the answer, as the original's always does.
            head.extend_from_slice(b"Connection: close\r\n");
        }
        head.extend_from_slice(b"\r\n");
    } else if let Some(head) = &mut rewritten {
        head.extend_from_slice(fields);
    }
    match rewritten {
        Some(head) => Reading::Rewritten { head, answer },
        None => Reading::AsItCame,
    }
}

/// Whether hyper takes the header line `field` as it is, and it says
/// nothing of a body: `name: value`, the name a token, no NUL.
fn hyper_reads_field(field: &[u8]) -> bool {
    let Some(colon) = field.iter().position(|&byte| byte == b':') else {
        return false;
    };
    let name = &field[..colon];
    !name.is_empty()
        && name.iter().all(|&byte| is_token(byte))
        && !field.contains(&0)
        && !names_a_body(name)
}

/// Whether any of the header `lines` names a body's length.
fn names_a_body(lines: &[u8]) -> bool {
    lines.split_inclusive(|&byte| byte == b'\n').any(|line| {
        let name = line.split(|&byte| byte == b':').next().unwrap_or_default();
        let name = name.trim_ascii();
        name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
    })
}

/// Whether Werkzeug answers `head` with `100 Continue` first: its first
/// `Expect` header (among those Python reads) says `100-continue`, in any
/// case, white space around it, whatever the method or version.
pub(crate) fn expects_continue(head: &[u8]) -> bool {
    let mut lines = head.split_inclusive(|&byte| byte == b'\n');
    lines.next();
    for line in lines {
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            return false;
        };
        if line[..colon].eq_ignore_ascii_case(b"expect") {
            return line[colon + 1..]
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue");
        }
    }
    false
}

/// A whole head at the start of the bytes, in hyper's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InHypersForm {
    /// Its length, blank line included.
    pub(crate) length: usize,
    /// A header line starts as `Content-Length` or `Transfer-Encoding`
    /// could: a body may follow.
    pub(crate) may_have_body: bool,
}

/// The whole head at the start of `bytes`, when hyper reads it as Python
/// does, so it can be handed on untouched: a request line
/// `METHOD /target HTTP/1.x` with nothing to encode, and a colon on
/// every header line. `None` while the head has not ended, or when it
/// must be read as Python reads it first. The quick test for every
/// request but a connection's first, in one pass.
pub(crate) fn in_hypers_form(bytes: &[u8]) -> Option<InHypersForm> {
    let mut line = request_line_in_hypers_form(bytes)?;
    let mut may_have_body = false;
    loop {
        let length = match bytes.get(line..)? {
            [b'\r', b'\n', ..] => line + 2,
            [b'\n', ..] => line + 1,
            [first, ..] => {
                may_have_body |= matches!(first, b'c' | b'C' | b't' | b'T');
                let line_end = line + memchr::memchr(b'\n', &bytes[line..])?;
                memchr::memchr(b':', &bytes[line..line_end])?;
                line = line_end + 1;
                continue;
            }
            [] => return None,
        };
        return Some(InHypersForm {
            length,
            may_have_body,
        });
    }
}

fn is_blank(line: &[u8]) -> bool {
    matches!(line, b"\n" | b"\r\n")
}

/// Where the header lines `fields` stop being headers to Python: the
/// length of those before the first line with no colon (a line starting
/// with white space continues a header, which hyper refuses on purpose);
/// `None` when every line is a header.
fn fields_before_a_non_header(fields: &[u8]) -> Option<usize> {
    let mut at = 0;
    for line in fields.split_inclusive(|&byte| byte == b'\n') {
        if is_blank(line) {
            return None;
        }
        let continues = matches!(line.first(), Some(b' ' | b'\t'));
        if !continues && !line.contains(&b':') {
            return Some(at);
        }
        at += line.len();
    }
    None
}

/// The length of the request line at the start of `bytes`, its line end
/// included, when hyper reads it as Python does: `METHOD /target
/// HTTP/1.x`, single spaces, nothing in the target to encode.
fn request_line_in_hypers_form(bytes: &[u8]) -> Option<usize> {
    let method = bytes.iter().position(|&byte| !TOKEN[usize::from(byte)])?;
    if method == 0 || bytes[method] != b' ' || bytes.get(method + 1) != Some(&b'/') {
        return None;
    }
    let mut at = method + 1;
    let mut in_query = false;
    loop {
        let byte = *bytes.get(at)?;
        match byte {
            b' ' => break,
            b'?' if !in_query => in_query = true,
            _ if in_query && QUERY[usize::from(byte)] => {}
            _ if !in_query && PATH[usize::from(byte)] => {}
            _ => return None,
        }
        at += 1;
    }
    if !matches!(bytes.get(at + 1..at + 9)?, b"HTTP/1.1" | b"HTTP/1.0") {
        return None;
    }
    match bytes.get(at + 9..)? {
        [b'\r', b'\n', ..] => Some(at + 11),
        [b'\n', ..] => Some(at + 10),
        _ => None,
    }
}

/// A request line as Python reads it.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    InHypersForm,
    Reread(Vec<u8>, Answer),
    Refused(Vec<u8>),
    LeftToHyper,
}

/// The request line `line` as Python's `http.server` reads it
/// (`parse_request`), written as hyper reads it the same way.
fn read_line(line: &[u8], first: bool) -> Line {
    if request_line_in_hypers_form(line) == Some(line.len()) {
        return Line::InHypersForm;
    }
    // Python decodes the line as Latin-1, strips `\r` and `\n` from its
    // end and splits the rest on white space.
    let text = trim_end_newlines(line);
    let words: Vec<&[u8]> = text
        .split(|&byte| is_python_space(byte))
        .filter(|word| !word.is_empty())
        .collect();
    let refuse = |page: Vec<u8>| {
        if first {
            Line::Refused(page)
        } else {
            Line::LeftToHyper
        }
    };
    // Until the version is read, Python's errors are HTTP/0.9 answers:
    // the page alone.
    let mut version = "HTTP/1.0";
    if words.len() >= 3 {
        let spelled = words[words.len() - 1];
        let Some((major, minor)) = version_number(spelled) else {
            let message = format!("Bad request version ({})", python_repr(spelled));
            return refuse(error_page(400, &message, BAD_SYNTAX, false));
        };
        if major >= 2 {
            let number = latin1(&spelled[b"HTTP/".len()..]);
            let message = format!("Invalid HTTP version ({number})");
            return refuse(error_page(505, &message, "Cannot fulfill request", false));
        }
        if (major, minor) >= (1, 1) {
            version = "HTTP/1.1";
        }
        if words.len() > 3 {
            // The version was read: this page has Python's head.
            let message = format!("Bad request syntax ({})", python_repr(text));
            return refuse(error_page(400, &message, BAD_SYNTAX, true));
        }
    }
    let (method, target, answer) = match words[..] {
        [method, target, b"HTTP/0.9"] => (method, target, Answer::BodyOnly),
        [method, target, _] => (method, target, Answer::Whole),
        [b"GET", target] if first => (&b"GET"[..], target, Answer::BodyOnly),
        [method, _] => {
            let message = format!("Bad HTTP/0.9 request type ({})", python_repr(method));
            return refuse(error_page(400, &message, BAD_SYNTAX, false));
        }
        _ => {
            let message = format!("Bad request syntax ({})", python_repr(text));
            return refuse(error_page(400, &message, BAD_SYNTAX, false));
        }
    };
    if answer == Answer::BodyOnly && !first {
        return Line::LeftToHyper;
    }
    if !method.iter().all(|&byte| is_token(byte)) {
        return Line::LeftToHyper;
    }
    let mut reread = Vec::with_capacity(line.len() + 16);
    reread.extend_from_slice(method);
    reread.push(b' ');
    reread.extend_from_slice(&hyper_target(target));
    reread.push(b' ');
    reread.extend_from_slice(version.as_bytes());
    reread.extend_from_slice(b"\r\n");
    Line::Reread(reread, answer)
}

/// Python's `rstrip('\r\n')`: every `\r` and `\n` off the end.
fn trim_end_newlines(mut text: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = text {
        text = rest;
    }
    text
}

const BAD_SYNTAX: &str = "Bad request syntax or unsupported method";

/// What `str.split()` splits on, for a line decoded as Latin-1.
fn is_python_space(byte: u8) -> bool {
    matches!(byte, b'\t'..=b'\r' | 0x1c..=0x20 | 0x85 | 0xa0)
}

/// `HTTP/x.y` as Python reads it: two runs of at most ten ASCII digits.
fn version_number(version: &[u8]) -> Option<(u64, u64)> {
    let number = |digits: &[u8]| {
        let ok = (1..=10).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit);
        ok.then(|| std::str::from_utf8(digits).ok()?.parse().ok())?
    };
    let mut parts = version.strip_prefix(b"HTTP/")?.split(|&byte| byte == b'.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(major), Some(minor), None) => Some((number(major)?, number(minor)?)),
        _ => None,
    }
}

/// An HTTP token character (a method's).
fn is_token(byte: u8) -> bool {
    TOKEN[usize::from(byte)]
}

/// A table of each byte's answer to a test, built at compile time.
macro_rules! byte_table {
    (|$byte:ident| $test:expr) => {{
        let mut table = [false; 256];
        let mut at = 0;
        while at < 256 {
            let $byte = at as u8;
            table[at] = $test;
            at += 1;
        }
        table
    }};
}

/// An HTTP token's characters.
const TOKEN: [bool; 256] = byte_table!(|byte| byte.is_ascii_alphanumeric()
    || matches!(
        byte,
        b'!' | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
    ));

/// Bytes hyper's URI parser (the `http` crate) takes in a path as they
/// are.
const PATH: [bool; 256] = byte_table!(|byte| matches!(
    byte,
    0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E | b'"' | b'{' | b'}'
));

/// Bytes it takes in a query as they are (`?` included).
const QUERY: [bool; 256] =
    byte_table!(|byte| matches!(byte, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E));

/// A request target as hyper takes it, naming what Werkzeug reads in
/// `target` (see the module's documentation). A fragment is dropped, as
/// both drop it.
fn hyper_target(target: &[u8]) -> Vec<u8> {
    if target == b"*" {
        return target.to_vec();
    }
    let target = target
        .split(|&byte| byte == b'#')
        .next()
        .unwrap_or_default();
    let mut written = Vec::with_capacity(target.len() + 8);
    let rest = if target.first() == Some(&b'/') {
        target
    } else if let Some(authority_end) = absolute_form(target) {
        written.extend_from_slice(&target[..authority_end]);
        let rest = &target[authority_end..];
        if rest.is_empty() {
            // No path at all: Werkzeug redirects it to `/`.
            written.push(b'?');
        }
        rest
    } else {
        written.push(b'/');
        target
    };
    let mut in_query = false;
    for &byte in rest {
        in_query |= byte == b'?';
        let ok = if in_query {
            QUERY[usize::from(byte)]
        } else {
            PATH[usize::from(byte)] || byte == b'?'
        };
        if ok {
            written.push(byte);
        } else {
            // Each byte is a Latin-1 character; written as its UTF-8.
            let mut utf8 = [0; 2];
            for &unit in char::from(byte).encode_utf8(&mut utf8).as_bytes() {
                write!(Percent(&mut written), "%{unit:02X}").expect("writing to a Vec");
            }
        }
    }
    written
}

/// `fmt::Write` into a byte vector.
struct Percent<'a>(&'a mut Vec<u8>);

impl Write for Percent<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// Where the authority of an absolute-form target (`http://host:port...`)
/// ends; `None` for any other target.
fn absolute_form(target: &[u8]) -> Option<usize> {
    let colon = target.iter().position(|&byte| byte == b':')?;
    let scheme = &target[..colon];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || b"+-.".contains(&byte));
    if !scheme_ok || !target[colon..].starts_with(b"://") {
        return None;
    }
    let authority = colon + 3;
    let end = target[authority..]
        .iter()
        .position(|&byte| matches!(byte, b'/' | b'?' | b'#'))
        .map_or(target.len(), |at| authority + at);
    Some(end)
}

/// Each byte as the Latin-1 character it is to Python.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&byte| char::from(byte)).collect()
}

/// Python's `repr()` of `bytes` decoded as Latin-1.
fn python_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut repr = String::with_capacity(bytes.len() + 2);
    repr.push(quote);
    for &byte in bytes {
        match byte {
            b'\\' => repr.push_str("\\\\"),
            b'\t' => repr.push_str("\\t"),
            b'\n' => repr.push_str("\\n"),
            b'\r' => repr.push_str("\\r"),
            _ if char::from(byte) == quote => {
                repr.push('\\');
                repr.push(quote);
            }
            // Not printable to Python: controls, no-break space, soft hyphen.
            0..0x20 | 0x7f..=0xa0 | 0xad => {
                write!(repr, "\\x{byte:02x}").expect("writing to a String");
            }
            _ => repr.push(char::from(byte)),
        }
    }
    repr.push(quote);
    repr
}

/// Python's `send_error` page (`http.server`'s own, not Werkzeug's),
/// with its head when Python had read a version, the page alone when not
/// (an HTTP/0.9 answer). The status line's reason is the message, as
/// Python writes it.
pub(crate) fn error_page(code: u16, message: &str, explain: &str, with_head: bool) -> Vec<u8> {
    let page = format!(
        "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        \
<title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        \
<p>Error code: {code}</p>\n        <p>Message: {message}.</p>\n        \
<p>Error code explanation: {code} - {explain}.</p>\n    </body>\n</html>\n",
        message = escape(message),
        explain = escape(explain),
    );
    let mut answer = Vec::with_capacity(page.len() + 128);
    if with_head {
        answer.extend_from_slice(format!("HTTP/1.0 {code} ").as_bytes());
        // The reason phrase in Latin-1, as `http.server` encodes it.
        answer.extend(message.chars().map(|c| u8::try_from(c).unwrap_or(b'?')));
        answer.extend_from_slice(
            format!(
                "\r\nConnection: close\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                page.len()
            )
            .as_bytes(),
        );
    }
    answer.extend_from_slice(page.as_bytes());
    answer
}

/// Python's `html.escape(text, quote=False)`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reread(line: &[u8], first: bool) -> Option<(String, Answer)> {
        match read_line(line, first) {
            Line::Reread(line, answer) => Some((String::from_utf8(line).unwrap(), answer)),
            _ => None,
        }
    }

    #[test]
    fn a_line_is_reread_as_python_reads_it() {
        let whole = |line: &str| Some((line.to_owned(), Answer::Whole));
        let body_only = |line: &str| Some((line.to_owned(), Answer::BodyOnly));
        for (line, expected) in [
            (
                &b"GET /exchanges\r\n"[..],
                body_only("GET /exchanges HTTP/1.0\r\n"),
            ),
            (
                b"  GET \t /symbols \n",
                body_only("GET /symbols HTTP/1.0\r\n"),
            ),
            (b"GET /symbols", body_only("GET /symbols HTTP/1.0\r\n")),
            (b"POST / HTTP/0.9\r\n", body_only("POST / HTTP/1.0\r\n")),
            (b" GET /x  HTTP/1.0\r\n", whole("GET /x HTTP/1.0\r\n")),
            (b"GET\t/x\tHTTP/1.1\n", whole("GET /x HTTP/1.1\r\n")),
            (b"GET /x HTTP/1.0", whole("GET /x HTTP/1.0\r\n")),
            (b"GET /x HTTP/01.0\r\n", whole("GET /x HTTP/1.0\r\n")),
            (b"GET /x HTTP/0.8\r\n", whole("GET /x HTTP/1.0\r\n")),
            (b"GET /x HTTP/1.2\r\n", whole("GET /x HTTP/1.1\r\n")),
            (b"GET /x HTTP/1.1\r\r\n", whole("GET /x HTTP/1.1\r\n")),
            (
                b"GET exchanges HTTP/1.1\r\n",
                whole("GET /exchanges HTTP/1.1\r\n"),
            ),
        ] {
            assert_eq!(reread(line, true), expected, "{}", line.escape_ascii());
        }
        for in_hypers_form in [
            &b"GET /exchanges HTTP/1.1\r\n"[..],
            b"get /exchanges HTTP/1.0\r\n",
            b"GET /x?a=b&c HTTP/1.1\n",
        ] {
            assert_eq!(read_line(in_hypers_form, true), Line::InHypersForm);
            assert_eq!(read_line(in_hypers_form, false), Line::InHypersForm);
        }
        // A method hyper cannot read is hyper's to refuse.
        assert_eq!(read_line(b"G\"T /x HTTP/1.1\r\n", true), Line::LeftToHyper);
    }

    #[test]
    fn what_hyper_cannot_take_in_a_target_is_encoded_as_werkzeug_reads_it() {
        let line = |target: &[u8]| [b"GET ", target, b" HTTP/1.1\r\n"].concat();
        for (target, expected) in [
            (&b"/exchanges?q=\"x\""[..], "/exchanges?q=%22x%22"),
            (b"/a<b>`c", "/a%3Cb%3E%60c"),
            (b"/x?a=<b>", "/x?a=%3Cb%3E"),
            // Quotes and braces are fine in a path.
            (b"/\"{}\"?`", "/\"{}\"?`"),
            (b"/ex\x00changes", "/ex%00changes"),
            (b"/a\x7fb\x01", "/a%7Fb%01"),
            // Latin-1, also where the bytes are UTF-8 (Werkzeug 1.0 reads
            // `\xc3\xa4` as two characters).
            (
                b"/price/bitst\xe4mp/btc/2020-04-01",
                "/price/bitst%C3%A4mp/btc/2020-04-01",
            ),
            (b"/bitst\xc3\xa4mp", "/bitst%C3%83%C2%A4mp"),
            (b"/x?q=\xe4", "/x?q=%C3%A4"),
            (b"%2Fexchanges", "/%2Fexchanges"),
            (b"price//a/b/c", "/price//a/b/c"),
            (b"/x#frag<", "/x"),
            (b"http://localhost:8080", "http://localhost:8080?"),
            (b"http://localhost:8080?x=1", "http://localhost:8080?x=1"),
            (b"http://a.example/p<", "http://a.example/p%3C"),
            (b"*", "*"),
        ] {
            let handed_on = match read_line(&line(target), false) {
                Line::InHypersForm => line(target),
                Line::Reread(handed_on, Answer::Whole) => handed_on,
                other => panic!("{} was {other:?}", target.escape_ascii()),
            };
            assert_eq!(
                handed_on.escape_ascii().to_string(),
                line(expected.as_bytes()).escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn a_line_python_refuses_gets_its_page_on_a_first_request_only() {
        let refused = |line: &[u8]| match read_line(line, true) {
            Line::Refused(page) => String::from_utf8_lossy(&page).into_owned(),
            other => panic!("{} was {other:?}", line.escape_ascii()),
        };
        let message = |page: &str| {
            page.split("Message: ")
                .nth(1)
                .unwrap()
                .split(".</p>")
                .next()
                .unwrap()
                .to_owned()
        };
        let version = refused(b"GET / HTTP/2.0\r\n");
        assert!(version.starts_with("<!DOCTYPE HTML>"), "{version}");
        assert_eq!(message(&version), "Invalid HTTP version (2.0)");
        assert!(version.contains("Error code: 505"));
        for (line, expected) in [
            (&b"PRI * HTTP/2.0\r\n"[..], "Invalid HTTP version (2.0)"),
            (b"GET /x HTTP/1.x\r\n", "Bad request version ('HTTP/1.x')"),
            (b"HEAD /x\r\n", "Bad HTTP/0.9 request type ('HEAD')"),
            (b"HELLO\r\n", "Bad request syntax ('HELLO')"),
        ] {
            assert_eq!(message(&refused(line)), expected);
        }
        // With a version read, the page has Python's head.
        let syntax = refused(b"GET /a b HTTP/1.0\r\n");
        assert!(
            syntax.starts_with(
                "HTTP/1.0 400 Bad request syntax ('GET /a b HTTP/1.0')\r\nConnection: close\r\n\
             Content-Type: text/html;charset=utf-8\r\nContent-Length: 372\r\n\r\n<!DOCTYPE HTML>"
            ),
            "{syntax}"
        );
        assert_eq!(
            message(&refused(b"GET <a\xa0b> HTTP/1.1\r\n")),
            "Bad request syntax ('GET &lt;a\\xa0b&gt; HTTP/1.1')"
        );
        for later in [&b"GET / HTTP/2.0\r\n"[..], b"HELLO\r\n", b"GET /x\r\n"] {
            assert_eq!(read_line(later, false), Line::LeftToHyper);
        }
    }

    #[test]
    fn an_expect_header_asks_for_100_continue_as_werkzeug_reads_it() {
        assert!(expects_continue(
            b"GET / HTTP/1.0\r\nexpect:  100-Continue \r\n\r\n"
        ));
        assert!(expects_continue(b"GET /\nA: b\nExpect: 100-continue\n\n"));
        assert!(!expects_continue(
            b"GET / HTTP/1.1\r\nExpect: 100-continue, x\r\n\r\n"
        ));
        // Only the first Expect counts, and none after a line without a colon.
        assert!(!expects_continue(
            b"GET / HTTP/1.1\r\nExpect: x\r\nExpect: 100-continue\r\n\r\n"
        ));
        assert!(!expects_continue(
            b"GET / HTTP/1.1\r\nno colon\r\nExpect: 100-continue\r\n\r\n"
        ));
    }

    proptest::proptest! {
        /// Whatever a client sends, reading it never panics, and a head
        /// hyper reads as it is stays as it is.
        #[test]
        fn any_bytes_are_read_without_a_panic(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"GET /x HTTP/1.1:\r\n\t?#%\xe4\x00".to_vec()),
                    proptest::num::u8::ANY,
                ],
                0..120,
            ),
            first: bool,
        ) {
            let _ = read(&bytes, first);
            if let Some(form) = in_hypers_form(&bytes) {
                proptest::prop_assert!(form.length <= bytes.len());
                if !first {
                    proptest::prop_assert_eq!(read(&bytes[..form.length], false), Reading::AsItCame);
                }
            }
            let mut framing = super::super::framing::Framing::after(&bytes);
            proptest::prop_assert!(framing.skip_body(&bytes) <= bytes.len());
        }
    }

    #[test]
    fn python_repr_quotes_as_python_does() {
        assert_eq!(python_repr(b"GET"), "'GET'");
        assert_eq!(python_repr(b"it's"), "\"it's\"");
        assert_eq!(python_repr(b"'\""), "'\\'\"'");
        assert_eq!(
            python_repr(b"a\\b\t\x01\xe9\xad"),
            "'a\\\\b\\t\\x01\u{e9}\\xad'"
        );
    }

    #[test]
    fn a_header_line_without_a_colon_ends_the_headers_as_python_reads_them() {
        let head = b"GET /exchanges HTTP/1.1\r\nHost: a\r\nHost localhost\r\nAccept: x\r\n\r\n";
        assert_eq!(
            read(head, false),
            Reading::Rewritten {
                head: b"GET /exchanges HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
                answer: Answer::Whole
            }
        );
        assert_eq!(
            read(b"GET /exchanges\nHost localhost\n\n", true),
            Reading::Rewritten {
                head: b"GET /exchanges HTTP/1.0\r\n\r\n".to_vec(),
                answer: Answer::BodyOnly
            }
        );
        // A body's length dropped: the connection closes after the answer.
        assert_eq!(
            read(
                b"POST /x HTTP/1.1\r\nno colon\r\ncontent-length : 5\r\n\r\n",
                false
            ),
            Reading::Rewritten {
                head: b"POST /x HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(),
                answer: Answer::Whole
            }
        );
        assert_eq!(in_hypers_form(head), None);
        // An HTTP/0.9 request keeps only the header lines hyper reads, so
        // its answer is never hyper's empty refusal.
        assert_eq!(
            read(
                b"GET /x\nHost : a\nX: a\0b\nA: 1\n b\nContent-Length: x\nB: 2\nno colon\nC: 3\n\n",
                true
            ),
            Reading::Rewritten {
                head: b"GET /x HTTP/1.0\r\nA: 1\nB: 2\n\r\n".to_vec(),
                answer: Answer::BodyOnly
            }
        );
        // A continuation line is hyper's to refuse (obs-fold, on purpose).
        let folded = b"GET /x HTTP/1.1\r\nA: b\r\n c\r\n\r\n";
        assert_eq!(read(folded, false), Reading::AsItCame);
        let quick =
            |head: &[u8]| in_hypers_form(head).map(|form| (form.length, form.may_have_body));
        assert_eq!(
            quick(b"GET /x HTTP/1.1\r\nA: b\r\n\r\nnext"),
            Some((25, false))
        );
        assert_eq!(quick(b"GET /x?y HTTP/1.0\nA: b\n\n"), Some((24, false)));
        assert_eq!(
            quick(b"POST / HTTP/1.1\r\ncontent-length: 1\r\n\r\nx"),
            Some((38, true))
        );
        assert_eq!(quick(b"GET / HTTP/1.1\r\n\r\n"), Some((18, false)));
        for not_yet_or_not_so in [
            &b"GET /x HTTP/1.1\r\nA: b\r\n"[..],
            b"GET /x HTTP/1.1\r\nA: b\r",
            b"GET /x HTTP/1.1",
            b"GET /x?<y> HTTP/1.1\r\n\r\n",
            b"GET /x#y HTTP/1.1\r\n\r\n",
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET  /x HTTP/1.1\r\n\r\n",
            b"GET /x HTTP/1.2\r\n\r\n",
            b"GET /x HTTP/1.1 \r\n\r\n",
            b"GET /x HTTP/1.1\r\nno colon\r\n\r\n",
            b" GET /x HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                quick(not_yet_or_not_so),
                None,
                "{}",
                not_yet_or_not_so.escape_ascii()
            );
        }
    }
}
