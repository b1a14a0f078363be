//! How error occurrences group into issues, the rows of the Errors page.
//!
//! Two occurrences are the same issue when they have the same exception type and the same top
//! in-app frames (function and file, not line: lines move with every release). An error with no
//! usable frames falls back to its message with the parts that vary per occurrence (numbers, hex
//! ids, UUIDs, quoted values) replaced by placeholders, so "user 42 not found" and "user 7 not
//! found" are one issue. Frames are ordered innermost first (where the error was thrown).

use super::model::StackFrame;

/// In-app frames that make up a fingerprint.
const FINGERPRINT_FRAMES: usize = 5;

/// Whether a frame is the application's own code rather than a library's or the runtime's. A
/// frame that says so wins; otherwise well-known library locations are not in-app.
pub fn is_in_app(frame: &StackFrame) -> bool {
    if let Some(in_app) = frame.in_app {
        return in_app;
    }
    let Some(file) = frame.file.as_deref() else {
        return false;
    };
    const LIBRARY: [&str; 10] = [
        "node_modules/",
        "site-packages/",
        "dist-packages/",
        "/vendor/",
        "/usr/lib/",
        "<anonymous>",
        "node:internal",
        "/rustc/",
        ".cargo/registry/",
        "webpack/bootstrap",
    ];
    !LIBRARY.iter().any(|lib| file.contains(lib))
}

/// The message with what varies between occurrences replaced: UUIDs by `<uuid>`, hex ids and
/// hex numbers by `<hex>`, other numbers by `<n>`, and quoted strings by `"<s>"`.
pub fn normalise_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        let word_start = out
            .chars()
            .last()
            .is_none_or(|p| !p.is_ascii_alphanumeric() && p != '_');
        if word_start {
            if let Some(n) = uuid_len(rest) {
                out.push_str("<uuid>");
                rest = &rest[n..];
                continue;
            }
            if let Some(n) = hex_len(rest) {
                out.push_str("<hex>");
                rest = &rest[n..];
                continue;
            }
            if c.is_ascii_digit() {
                let n = rest
                    .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
                    .unwrap_or(rest.len());
                if rest[n..]
                    .chars()
                    .next()
                    .is_none_or(|ch| !ch.is_ascii_alphabetic())
                {
                    out.push_str("<n>");
                    rest = &rest[n..];
                    continue;
                }
            }
            if c == '"' || c == '\'' {
                if let Some(end) = rest[1..].find(c).filter(|end| *end <= 200) {
                    out.push(c);
                    out.push_str("<s>");
                    out.push(c);
                    rest = &rest[end + 2..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Length of a UUID (8-4-4-4-12 hex digits) at the start of `s`.
fn uuid_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 36 {
        return None;
    }
    let ok = b[..36].iter().enumerate().all(|(i, ch)| match i {
        8 | 13 | 18 | 23 => *ch == b'-',
        _ => ch.is_ascii_hexdigit(),
    });
    let ends = b.get(36).is_none_or(|ch| !ch.is_ascii_alphanumeric());
    (ok && ends).then_some(36)
}

/// Length of `0x…` or of a run of 8+ hex digits holding at least one digit (an id, a hash) at
/// the start of `s`, ending at a word boundary.
fn hex_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let (skip, min) = if b.starts_with(b"0x") || b.starts_with(b"0X") {
        (2, 1)
    } else {
        (0, 8)
    };
    let run = b[skip..]
        .iter()
        .take_while(|ch| ch.is_ascii_hexdigit())
        .count();
    let ends = b
        .get(skip + run)
        .is_none_or(|ch| !ch.is_ascii_alphanumeric() && *ch != b'_');
    let has_digit = skip == 2 || b[..run].iter().any(u8::is_ascii_digit);
    (run >= min && ends && has_digit).then_some(skip + run)
}

/// The issue an occurrence belongs to: 16 hex digits.
pub fn fingerprint(kind: &str, message: &str, frames: &[StackFrame]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    let in_app: Vec<&StackFrame> = frames
        .iter()
        .filter(|f| is_in_app(f) && (f.function.is_some() || f.file.is_some()))
        .take(FINGERPRINT_FRAMES)
        .collect();
    // Without in-app frames, the library frames still tell errors apart better than nothing.
    let chosen: Vec<&StackFrame> = if in_app.is_empty() {
        frames.iter().take(FINGERPRINT_FRAMES).collect()
    } else {
        in_app
    };
    if chosen.is_empty() {
        h.update(b"\0message\0");
        h.update(normalise_message(message).as_bytes());
    }
    for f in chosen {
        h.update(b"\0");
        h.update(f.function.as_deref().unwrap_or("?").as_bytes());
        h.update(b"@");
        h.update(strip_query(f.file.as_deref().unwrap_or("?")).as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// A script URL without its cache-busting query or fragment (`app.js?v=3`).
fn strip_query(file: &str) -> &str {
    file.split(['?', '#']).next().unwrap_or(file)
}

/// Where the error happened, as the Errors page shows it: the top in-app frame.
pub fn culprit(frames: &[StackFrame]) -> String {
    let Some(f) = frames
        .iter()
        .find(|f| is_in_app(f))
        .or_else(|| frames.first())
    else {
        return String::new();
    };
    match (&f.function, &f.file) {
        (Some(func), Some(file)) => format!("{func} ({})", strip_query(file)),
        (Some(func), None) => func.clone(),
        (None, Some(file)) => strip_query(file).to_string(),
        (None, None) => String::new(),
    }
}

/// Whether release `a` is newer than `b`: compared as versions when both are (`1.10.0` >
/// `1.9.2`, an optional leading `v`, pre-release suffixes ordered after the numbers), else
/// different counts as newer, since nothing better is known.
pub fn newer_release(a: &str, b: &str) -> bool {
    match (version(a), version(b)) {
        (Some(va), Some(vb)) => va > vb,
        _ => a != b,
    }
}

/// The numeric parts of a version and what follows them.
fn version(s: &str) -> Option<(Vec<u64>, String)> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let numeric_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let parts: Vec<u64> = s[..numeric_end]
        .split('.')
        .filter(|p| !p.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if parts.is_empty() {
        return None;
    }
    // A release with no suffix is newer than the same numbers with one (1.2.0 > 1.2.0-rc1);
    // "~" sorts after every other suffix character we expect.
    let suffix = match &s[numeric_end..] {
        "" => "~".to_string(),
        other => other.to_string(),
    };
    Some((parts, suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str, line: u32) -> StackFrame {
        StackFrame {
            function: Some(function.into()),
            file: Some(file.into()),
            line: Some(line),
            column: None,
            in_app: None,
        }
    }

    #[test]
    fn messages_lose_what_varies_per_occurrence() {
        let cases = [
            ("user 42 not found", "user <n> not found"),
            ("timeout after 3.5s", "timeout after 3.5s"),
            (
                "order 3f2a1b9c-0d4e-4f60-8a7b-1c2d3e4f5a6b failed",
                "order <uuid> failed",
            ),
            ("bad pointer 0xdeadBEEF here", "bad pointer <hex> here"),
            (
                "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
                "commit <hex>",
            ),
            ("key 'abc' missing", "key '<s>' missing"),
            (
                "Cannot read properties of undefined (reading \"x\")",
                "Cannot read properties of undefined (reading \"<s>\")",
            ),
            ("v2 api", "v2 api"),
            ("deadbeef", "deadbeef"),
            ("http2 error 502", "http2 error <n>"),
        ];
        for (input, want) in cases {
            assert_eq!(normalise_message(input), want, "{input}");
        }
    }

    #[test]
    fn line_numbers_and_library_frames_do_not_split_an_issue() {
        let a = [
            frame("addToCart", "https://shop.test/app.js?v=1", 10),
            frame("onClick", "https://shop.test/app.js?v=1", 40),
        ];
        let b = [
            frame(
                "dispatch",
                "https://shop.test/node_modules/react/index.js",
                900,
            ),
            frame("addToCart", "https://shop.test/app.js?v=2", 12),
            frame("onClick", "https://shop.test/app.js?v=2", 44),
        ];
        assert_eq!(
            fingerprint("TypeError", "x is undefined", &a),
            fingerprint("TypeError", "y is undefined", &b)
        );
        assert_ne!(
            fingerprint("TypeError", "x", &a),
            fingerprint("RangeError", "x", &a),
            "the type is part of the issue"
        );
        assert_eq!(culprit(&b), "addToCart (https://shop.test/app.js)");
    }

    #[test]
    fn errors_without_frames_group_by_normalised_message() {
        assert_eq!(
            fingerprint("NotFound", "user 42 not found", &[]),
            fingerprint("NotFound", "user 7 not found", &[])
        );
        assert_ne!(
            fingerprint("NotFound", "user 42 not found", &[]),
            fingerprint("NotFound", "order 42 not found", &[])
        );
    }

    #[test]
    fn frames_may_say_whether_they_are_in_app() {
        let mut lib = frame("helper", "src/util.py", 3);
        lib.in_app = Some(false);
        let app = frame("main", "src/main.py", 9);
        assert!(!is_in_app(&lib));
        assert_eq!(culprit(&[lib.clone(), app.clone()]), "main (src/main.py)");
        assert!(!is_in_app(&frame(
            "f",
            "/usr/lib/python3/dist-packages/x.py",
            1
        )));
    }

    #[test]
    fn releases_compare_as_versions() {
        assert!(newer_release("1.10.0", "1.9.2"));
        assert!(newer_release("v2.0", "1.99"));
        assert!(!newer_release("1.4.2", "1.4.2"));
        assert!(!newer_release("1.4.1", "1.4.2"));
        assert!(newer_release("1.2.0", "1.2.0-rc1"));
        assert!(
            newer_release("build-b", "build-a"),
            "unknown order: different is newer"
        );
    }
}
