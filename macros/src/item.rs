//! What both attributes parse: a function whose body is kept as tokens, the `crate = "..."`
//! argument, and the error path that emits the original item next to `compile_error!` (so IDEs
//! keep working).

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, LitStr, Signature, Visibility, braced};

/// A function whose body is kept as tokens: a syntax error inside it is rustc's to report.
pub(crate) struct TokenFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) body: TokenStream,
}

impl Parse for TokenFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body = content.parse()?;
        Ok(TokenFn {
            attrs,
            vis,
            sig,
            inner_attrs,
            body,
        })
    }
}

/// `tokens` followed by `error` as a `compile_error!`.
pub(crate) fn with_error(mut tokens: TokenStream, error: syn::Error) -> TokenStream {
    tokens.extend(error.into_compile_error());
    tokens
}

/// The path named by a `crate = "..."` argument.
pub(crate) fn crate_path(lit: &LitStr) -> syn::Result<syn::Path> {
    lit.parse::<syn::Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "`crate` must name the rtscope crate as a path, e.g. `crate = \"::rtscope\"`",
        )
    })
}
