//! Parses `exception.stacktrace` text into frames for the common runtimes, so OTLP exceptions
//! look like the errors posted to `/api/v1/ingest`. Recognised lines:
//!
//! - Python: `File "app.py", line 10, in handler`
//! - JavaScript (V8): `at handler (app.js:10:5)`, `at app.js:10:5`
//! - Java/JVM: `at com.shop.Cart.add(Cart.java:10)`, `at Foo.bar(Native Method)`
//!
//! Other lines (messages, `Caused by:`, `... 3 more`, other runtimes) are skipped; the caller
//! keeps the raw text, so nothing is lost when no line is recognised.

use serde::Serialize;

/// Frames kept per stacktrace.
const MAX_FRAMES: usize = 256;

/// One frame of a stacktrace, in the shape of the ingest API's `stacktrace` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackFrame {
    /// Function or method, empty when the line names none.
    pub function: String,
    /// File, module path or URL.
    pub file: String,
    /// 1-based line, when given.
    pub line: Option<u32>,
    /// 1-based column, when given.
    pub column: Option<u32>,
}

/// Frames recognised in `text`, in the order they appear (at most 256).
pub fn parse_stacktrace(text: &str) -> Vec<StackFrame> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            python_frame(line).or_else(|| at_frame(line))
        })
        .take(MAX_FRAMES)
        .collect()
}

/// `File "app.py", line 10, in handler`
fn python_frame(line: &str) -> Option<StackFrame> {
    let rest = line.strip_prefix("File \"")?;
    let (file, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(", line ")?;
    let (number, function) = match rest.split_once(", in ") {
        Some((number, function)) => (number, function.trim()),
        None => (rest, ""),
    };
    Some(StackFrame {
        function: function.to_owned(),
        file: file.to_owned(),
        line: Some(number.trim().parse().ok()?),
        column: None,
    })
}

/// V8 (`at fn (file:1:2)`, `at file:1:2`) and JVM (`at pkg.Class.method(File.java:10)`).
fn at_frame(line: &str) -> Option<StackFrame> {
    let rest = line.strip_prefix("at ")?.trim();
    if rest.is_empty() {
        return None;
    }
    if let Some(inner) = rest.strip_suffix(')') {
        // V8 puts a space before the parenthesis, the JVM does not.
        let (function, location) = match inner.rfind(" (") {
            Some(i) => (&inner[..i], &inner[i + 2..]),
            None => inner.split_once('(')?,
        };
        let (file, line, column) = split_location(location);
        return Some(StackFrame {
            function: function.trim().to_owned(),
            file: file.to_owned(),
            line,
            column,
        });
    }
    let (file, line, column) = split_location(rest);
    // A bare `at something` with no line number is prose, not a frame.
    line?;
    Some(StackFrame {
        function: String::new(),
        file: file.to_owned(),
        line,
        column,
    })
}

/// `file:line:column`, `file:line` or `file` (URLs with ports keep their colons).
fn split_location(location: &str) -> (&str, Option<u32>, Option<u32>) {
    let Some((head, last)) = location.rsplit_once(':') else {
        return (location, None, None);
    };
    let Ok(last) = last.parse::<u32>() else {
        return (location, None, None);
    };
    match head.rsplit_once(':') {
        Some((file, line)) => match line.parse::<u32>() {
            Ok(line) => (file, Some(line), Some(last)),
            Err(_) => (head, Some(last), None),
        },
        None => (head, Some(last), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str, line: Option<u32>, column: Option<u32>) -> StackFrame {
        StackFrame {
            function: function.into(),
            file: file.into(),
            line,
            column,
        }
    }

    #[test]
    fn python() {
        let text = "Traceback (most recent call last):\n  File \"/app/main.py\", line 10, in handler\n    do()\n  File \"lib.py\", line 3, in <module>\nValueError: boom";
        assert_eq!(
            parse_stacktrace(text),
            vec![
                frame("handler", "/app/main.py", Some(10), None),
                frame("<module>", "lib.py", Some(3), None)
            ]
        );
    }

    #[test]
    fn javascript() {
        let text = "TypeError: x is undefined\n    at addToCart (cart.js:10:5)\n    at http://shop:8080/app.js:20:7\n    at async Promise.all (index 0)";
        assert_eq!(
            parse_stacktrace(text),
            vec![
                frame("addToCart", "cart.js", Some(10), Some(5)),
                frame("", "http://shop:8080/app.js", Some(20), Some(7)),
                frame("async Promise.all", "index 0", None, None),
            ]
        );
    }

    #[test]
    fn java() {
        let text = "java.lang.IllegalStateException: empty\n\tat com.shop.Cart.add(Cart.java:42)\n\tat java.base/jdk.internal.Foo.bar(Native Method)\nCaused by: x\n\t... 3 more";
        assert_eq!(
            parse_stacktrace(text),
            vec![
                frame("com.shop.Cart.add", "Cart.java", Some(42), None),
                frame(
                    "java.base/jdk.internal.Foo.bar",
                    "Native Method",
                    None,
                    None
                ),
            ]
        );
    }

    #[test]
    fn unknown_formats_give_no_frames() {
        assert!(
            parse_stacktrace("goroutine 1 [running]:\nmain.main()\n\t/app/main.go:5 +0x1d")
                .is_empty()
        );
        assert!(parse_stacktrace("").is_empty());
        assert!(parse_stacktrace("at the end of the day").is_empty());
    }
}
