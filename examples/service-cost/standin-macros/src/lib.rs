//! `#[rtscope::main(...)]` for the service built without rtscope: `#[tokio::main]` on the
//! same function (a multi-thread runtime, as rtscope's), its arguments ignored.

use proc_macro::TokenStream;

/// `#[tokio::main]` in place of `#[rtscope::main(...)]`.
#[proc_macro_attribute]
pub fn main(_args: TokenStream, item: TokenStream) -> TokenStream {
    let mut out: TokenStream = "#[::tokio::main]".parse().expect("an attribute");
    out.extend(item);
    out
}
