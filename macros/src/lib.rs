//! Attribute macros for rtscope. Use them through the `rtscope` crate: `#[rtscope::main]` and
//! `#[rtscope::scope]`.
//!
//! This crate only parses and expands; what the expansion calls lives in `rtscope` itself.

mod entry;
mod item;
mod scope_attr;

use proc_macro::TokenStream;

/// Installs the rtscope agent for the whole of `main` and flushes it when `main` ends.
///
/// ```no_run
/// #[global_allocator]
/// static ALLOC: rtscope::Alloc = rtscope::Alloc::system();
///
/// #[rtscope::main(service_name = "checkout", export_interval_ms = 10000)]
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let n: u64 = "42".parse()?;
///     if n == 0 {
///         return Ok(()); // early returns flush too
///     }
///     Ok(())
/// }
/// ```
///
/// The expansion installs the agent as the first statement of `main`, keeping the
/// [`AgentGuard`] in a hidden local: it drops last, after everything the body created, whether
/// the body ends, `return`s, uses `?` or unwinds. `main` keeps its signature and return type.
/// If installing fails (an agent is already installed, say), one line is printed to stderr and
/// `main` runs without the agent: the attribute never stops the program.
///
/// # Arguments
///
/// | argument | meaning |
/// |---|---|
/// | `service_name = "checkout"` | [`AgentBuilder::with_service_name`]: wins over `OTEL_SERVICE_NAME` |
/// | `export_interval_ms = 10000` | [`AgentBuilder::with_export_interval`] in milliseconds, > 0: wins over `OTEL_METRIC_EXPORT_INTERVAL` |
/// | `crate = "path::to::rtscope"` | where rtscope is, when it is renamed or re-exported |
///
/// Everything else comes from the `OTEL_*` / `RTSCOPE_*` environment variables (see rtscope's
/// `docs/configuration.md`); for settings in code beyond these, call
/// `rtscope::Agent::builder()` yourself instead.
///
/// # `async fn main`
///
/// With rtscope's `tokio` feature, `async fn main` runs on a tokio multi-thread runtime with
/// all drivers enabled, as with `#[tokio::main]` (do not add `#[tokio::main]` as well, and
/// `tokio`'s `macros` feature is not needed). The agent is installed before the runtime starts
/// and flushed after it has shut down.
///
/// ```no_run
/// #[rtscope::main(service_name = "api")]
/// async fn main() -> std::io::Result<()> {
///     let answer = async { 42 }.await;
///     println!("{answer}");
///     Ok(())
/// }
/// ```
///
/// Without the feature, an `async fn main` is a compile error that says to enable it.
///
/// # Errors at compile time
///
/// An unknown or repeated argument, a bad value, an item that is not a function or a function
/// not named `main` is a compile error pointing at the culprit; the item is still emitted so
/// that the rest of the crate keeps compiling.
///
/// [`AgentGuard`]: https://docs.rs/rtscope/latest/rtscope/struct.AgentGuard.html
/// [`AgentBuilder::with_service_name`]: https://docs.rs/rtscope/latest/rtscope/struct.AgentBuilder.html#method.with_service_name
/// [`AgentBuilder::with_export_interval`]: https://docs.rs/rtscope/latest/rtscope/struct.AgentBuilder.html#method.with_export_interval
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::main(args.into(), item.into()).into()
}

/// Runs the whole function in an attribution scope: allocations sampled while it runs are
/// attributed to the scope's name (attribute `rust.scope`), as with `rtscope::scope("name", ||
/// ...)` around its body. Works on `fn` and `async fn`, methods included.
///
/// ```
/// #[rtscope::scope]
/// fn parse(input: &str) -> Vec<String> {
///     // Scope "parse" (the function's name) is in effect here.
///     assert_eq!(rtscope::scope::Scope::current().unwrap().name(), "parse");
///     input.split(',').map(String::from).collect()
/// }
///
/// #[rtscope::scope("load-user")]
/// async fn load(id: u32) -> Result<String, std::num::ParseIntError> {
///     let n: u32 = "7".parse()?;
///     Ok(format!("user {}", id + n))
/// }
///
/// assert_eq!(parse("a,b").len(), 2);
/// assert!(rtscope::scope::Scope::current().is_none());
/// # let _ = load(1);
/// ```
///
/// - A sync `fn` enters the scope on its first line and leaves it when it returns or unwinds.
/// - An `async fn` sets the scope around every poll of its body, so the attribution follows
///   it across `.await` points and from thread to thread, and stops while it is suspended.
///
/// # Arguments
///
/// | argument | meaning |
/// |---|---|
/// | `"name"` | the scope name (default: the function's name) |
/// | `crate = "path::to::rtscope"` | where rtscope is, when it is renamed or re-exported |
///
/// The name is interned once, the first time the function runs; after that, entering the
/// scope is two thread-local writes.
///
/// # Errors at compile time
///
/// A bad argument, an item that is not a function, a `const fn` or a function without a
/// body is a compile error pointing at the culprit; the item is still emitted.
#[proc_macro_attribute]
pub fn scope(args: TokenStream, item: TokenStream) -> TokenStream {
    scope_attr::scope(args.into(), item.into()).into()
}
