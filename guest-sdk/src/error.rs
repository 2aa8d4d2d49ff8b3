//! [`Error`]: the error a job reports on purpose (the WIT `job-error`).

use std::any::type_name;
use std::fmt::{self, Debug, Display, Write as _};

/// An error a job reports on purpose: the WIT `job-error`.
///
/// The host records it as a failure of kind `guest-error` and keeps every
/// field. Return it from a job (`Result<T, wasync_guest::Error>`) when you
/// want to choose the fields yourself; any other error type is turned into
/// one automatically, either by `?` (every `std::error::Error` converts) or
/// by returning `Result<T, E>` from a `#[job]` function.
///
/// ```
/// use wasync_guest::Error;
///
/// let e = Error::permanent("invalid-input", "the order id is malformed")
///     .with_detail("order id: \"12-x\"");
/// assert!(e.permanent);
/// assert_eq!(e.to_string(), "invalid-input: the order id is malformed");
/// ```
///
/// `Error` deliberately does not implement `std::error::Error`, so that
/// `impl From<E: std::error::Error> for Error` can exist (as in `anyhow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The author's name for this kind of error, shown as the failure's
    /// `guest-kind` (a Rust type or variant name, `bad-arguments`, ...).
    pub kind: String,
    /// A one-line, human-readable message.
    pub message: String,
    /// Anything else that helps debugging: a cause chain, a `Debug` dump.
    pub detail: Option<String>,
    /// `true` when retrying cannot help: the job fails for good whatever
    /// its retry policy says.
    pub permanent: bool,
}

impl Error {
    /// Kind of the error for arguments that do not fit the job function's
    /// parameters (too many, unknown name, missing, wrong type, not JSON).
    pub const BAD_ARGUMENTS: &'static str = "bad-arguments";
    /// Kind of the error for a job function name the module does not have.
    pub const UNKNOWN_FUNCTION: &'static str = "unknown-function";
    /// Kind of the error for a `context` call the host refused (unknown
    /// job or module, size limits, ...).
    pub const CONTEXT: &'static str = "context";
    /// Kind of the error for a value that could not be turned into JSON or
    /// read back from it (a result, an annotation, a put argument).
    pub const JSON: &'static str = "json";
    /// Kind the native test runner gives a panic (the host reports panics
    /// itself, as a failure of kind `panic`).
    pub const PANIC: &'static str = "panic";

    /// An error of `kind` with `message`, retryable, without detail.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind: kind.into(),
            message: message.into(),
            detail: None,
            permanent: false,
        }
    }

    /// A permanent error ("do not retry"): the job fails for good whatever
    /// its retry policy says.
    pub fn permanent(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            permanent: true,
            ..Error::new(kind, message)
        }
    }

    /// The same error with `detail` (a cause chain, a dump, ...).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The same error, permanent or not.
    pub fn with_permanent(mut self, permanent: bool) -> Self {
        self.permanent = permanent;
        self
    }

    /// Builds an error from any `std::error::Error`: `kind` names its type
    /// (and its enum variant when `Debug` shows one, e.g.
    /// `LookupError::NotFound`), `message` is its `Display`, `detail` its
    /// `Debug` followed by its `source()` chain.
    pub fn from_std<E: std::error::Error + ?Sized>(error: &E) -> Self {
        let mut detail = format!("{error:?}");
        let mut source = error.source();
        if source.is_some() {
            detail.push_str("\n\nCaused by:");
        }
        let mut n = 0;
        while let Some(cause) = source {
            let _ = write!(detail, "\n    {n}: {cause}");
            n += 1;
            source = cause.source();
        }
        Error::new(kind_of(error), error.to_string()).with_detail(detail)
    }

    /// Builds an error from a value that is only `Display + Debug` (a
    /// `String`, a `Box<dyn Error>`, ...): `kind` names its type (`error`
    /// for plain strings), `message` is its `Display`, `detail` its `Debug`.
    pub fn from_display<E: Display + Debug + ?Sized>(error: &E) -> Self {
        let detail = format!("{error:?}");
        let message = error.to_string();
        let kind = if is_string_type::<E>() {
            "error".to_owned()
        } else {
            kind_of(error)
        };
        let err = Error::new(kind, message);
        // A string's Debug is just the message quoted: no extra information.
        if is_string_type::<E>() {
            err
        } else {
            err.with_detail(detail)
        }
    }

    pub(crate) fn bad_arguments(message: impl Into<String>) -> Self {
        Error::permanent(Error::BAD_ARGUMENTS, message)
    }

    pub(crate) fn json(message: impl Into<String>) -> Self {
        Error::new(Error::JSON, message)
    }

    pub(crate) fn context(call: &str, message: impl Display) -> Self {
        Error::new(Error::CONTEXT, format!("{call}: {message}"))
    }
}

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Error::from_std(&error)
    }
}

fn is_string_type<E: ?Sized>() -> bool {
    matches!(
        type_name::<E>(),
        "alloc::string::String" | "str" | "&str" | "alloc::borrow::Cow<'_, str>"
    )
}

/// A useful name for the kind of `error`: its type's short name, qualified
/// by its module when the type is just called `Error` (`io::Error`), plus
/// the enum variant when `Debug` starts with one (`LookupError::NotFound`).
/// Behind a `Box<dyn Error>` the type is unknown: the variant alone, or
/// `error`.
pub(crate) fn kind_of<E: Debug + ?Sized>(error: &E) -> String {
    let debug = format!("{error:?}");
    let variant = leading_variant(&debug);
    let name = strip_pointers(type_name::<E>());
    if name.starts_with("dyn ") {
        return variant.unwrap_or("error").to_owned();
    }
    let mut kind = short_type_name(name);
    if let Some(variant) = variant
        && !kind.ends_with(variant)
    {
        kind.push_str("::");
        kind.push_str(variant);
    }
    kind
}

/// `&alloc::boxed::Box<T>` → `T` (also `Arc`, `Rc`).
fn strip_pointers(mut name: &str) -> &str {
    loop {
        name = name.trim_start_matches('&');
        let inner = ["alloc::boxed::Box<", "alloc::sync::Arc<", "alloc::rc::Rc<"]
            .iter()
            .find_map(|p| name.strip_prefix(p))
            .and_then(|rest| rest.strip_suffix('>'));
        match inner {
            Some(inner) => name = inner,
            None => return name,
        }
    }
}

/// `my_crate::errors::LookupError<T>` → `LookupError`;
/// `std::io::error::Error` → `io::Error`.
fn short_type_name(full: &str) -> String {
    let base = full.split('<').next().unwrap_or(full);
    let segments: Vec<&str> = base.split("::").filter(|s| !s.is_empty()).collect();
    let Some(last) = segments.last() else {
        return full.to_owned();
    };
    if *last == "Error" {
        // `Error` alone says nothing: name the module it comes from.
        if let Some(module) = segments
            .iter()
            .rev()
            .skip(1)
            .find(|s| !s.eq_ignore_ascii_case("error"))
        {
            return format!("{module}::{last}");
        }
    }
    (*last).to_owned()
}

/// The variant name a derived `Debug` of an enum starts with: a CamelCase
/// identifier followed by nothing, `(` or ` {`.
fn leading_variant(debug: &str) -> Option<&str> {
    let end = debug
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    let (head, rest) = debug.split_at(end);
    let camel = head.starts_with(|c: char| c.is_ascii_uppercase());
    let shaped = rest.is_empty() || rest.starts_with('(') || rest.starts_with(" {");
    (camel && shaped).then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum LookupError {
        NotFound(String),
        Unavailable { retry_in: u32 },
        Broken,
    }

    impl Display for LookupError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                LookupError::NotFound(code) => write!(f, "no entry for {code}"),
                LookupError::Unavailable { retry_in } => write!(f, "retry in {retry_in}s"),
                LookupError::Broken => f.write_str("broken"),
            }
        }
    }

    impl std::error::Error for LookupError {}

    #[derive(Debug)]
    struct Outer {
        inner: LookupError,
    }

    impl Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("lookup failed")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.inner)
        }
    }

    #[test]
    fn enum_errors_are_named_by_type_and_variant() {
        let e = Error::from(LookupError::NotFound("x1".into()));
        assert_eq!(e.kind, "LookupError::NotFound");
        assert_eq!(e.message, "no entry for x1");
        assert_eq!(e.detail.as_deref(), Some("NotFound(\"x1\")"));
        assert!(!e.permanent);
        let e = Error::from(LookupError::Unavailable { retry_in: 3 });
        assert_eq!(e.kind, "LookupError::Unavailable");
        assert_eq!(Error::from(LookupError::Broken).kind, "LookupError::Broken");
    }

    #[test]
    fn struct_errors_keep_the_source_chain() {
        let e = Error::from(Outer {
            inner: LookupError::Broken,
        });
        assert_eq!(e.kind, "Outer");
        assert_eq!(e.message, "lookup failed");
        let detail = e.detail.unwrap();
        assert!(detail.starts_with("Outer { inner: Broken }"), "{detail}");
        assert!(detail.ends_with("Caused by:\n    0: broken"), "{detail}");
    }

    #[test]
    fn errors_called_error_are_qualified_by_module() {
        let parse = "x".parse::<i64>().unwrap_err();
        assert_eq!(Error::from(parse).kind, "ParseIntError");
        let io = std::io::Error::other("disk on fire");
        let e = Error::from(io);
        assert!(e.kind.starts_with("io::Error"), "{}", e.kind);
        assert_eq!(e.message, "disk on fire");
        let json = serde_json::from_str::<i64>("{").unwrap_err();
        assert!(Error::from(json).kind.starts_with("serde_json::Error"));
    }

    #[test]
    fn display_only_errors() {
        let e = Error::from_display(&String::from("it broke"));
        assert_eq!((e.kind.as_str(), e.message.as_str()), ("error", "it broke"));
        assert_eq!(e.detail, None);
        let boxed: Box<dyn std::error::Error> = Box::new(LookupError::Broken);
        let e = Error::from_display(&boxed);
        assert_eq!(e.message, "broken");
        assert_eq!(e.kind, "Broken");
        let boxed: Box<dyn std::error::Error> = "plain".into();
        assert_eq!(Error::from_display(&boxed).kind, "error");
    }

    #[test]
    fn short_names() {
        assert_eq!(short_type_name("a::b::Thing<c::D>"), "Thing");
        assert_eq!(short_type_name("std::io::error::Error"), "io::Error");
        assert_eq!(
            strip_pointers("&alloc::boxed::Box<alloc::sync::Arc<a::E>>"),
            "a::E"
        );
        assert_eq!(short_type_name("Error"), "Error");
        assert_eq!(leading_variant("lowercase words"), None);
        assert_eq!(leading_variant("Some words"), None);
        assert_eq!(leading_variant("Variant"), Some("Variant"));
    }

    #[test]
    fn constructors() {
        let e = Error::new("k", "m");
        assert!(!e.permanent);
        let e = e.with_permanent(true).with_detail("d");
        assert_eq!(e, Error::permanent("k", "m").with_detail("d"));
        assert!(Error::bad_arguments("x").permanent);
    }
}
