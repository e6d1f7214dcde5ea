//! `#[rtscope::scope]`: parse the arguments and the function, expand into a scope entered for
//! the whole body through `<crate>::__private`. Nothing else happens here.

use crate::item::{TokenFn, crate_path, with_error};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, ReturnType, Token};

const EXPECTED: &str = "expected a scope name as a string literal, e.g. \
                        `#[rtscope::scope(\"load-user\")]`, and/or `crate = \"...\"`";

/// The attribute's arguments: `("name")`, `(crate = "...")`, `("name", crate = "...")`.
#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    krate: Option<syn::Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut out = Args::default();
        while !input.is_empty() {
            if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                if out.name.is_some() {
                    return Err(syn::Error::new(lit.span(), "the scope name is given twice"));
                }
                if lit.value().trim().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the scope name must not be empty, e.g. `#[rtscope::scope(\"load-user\")]`",
                    ));
                }
                out.name = Some(lit);
            } else if input.peek(Token![crate]) {
                let key: Token![crate] = input.parse()?;
                if out.krate.is_some() {
                    return Err(syn::Error::new(key.span, "`crate` is given twice"));
                }
                input.parse::<Token![=]>()?;
                out.krate = Some(crate_path(&input.parse()?)?);
            } else {
                return Err(input.error(EXPECTED));
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(out)
    }
}

/// Entry point: the expansion, or the original item plus `compile_error!`.
pub(crate) fn scope(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse2::<TokenFn>(item.clone()) {
        Ok(func) => func,
        Err(e) => {
            let bodiless = syn::parse2::<syn::TraitItemFn>(item.clone())
                .ok()
                .filter(|f| f.default.is_none());
            let e = match syn::parse2::<syn::Item>(item.clone()) {
                _ if bodiless.is_some() => syn::Error::new(
                    bodiless.map_or_else(Span::call_site, |f| f.sig.ident.span()),
                    "`#[rtscope::scope]` needs a function with a body; put it on the \
                     implementations",
                ),
                Ok(other) if !matches!(other, syn::Item::Fn(_)) => syn::Error::new(
                    Span::call_site(),
                    "`#[rtscope::scope]` can only be applied to functions; for a block use \
                     `rtscope::scope(\"name\", || ...)`, for a future `.in_scope(\"name\")`",
                ),
                _ => e,
            };
            return with_error(item, e);
        }
    };
    if let Some(c) = func.sig.constness {
        let e = syn::Error::new(
            c.span,
            "`#[rtscope::scope]` cannot be applied to a `const fn`: entering a scope is not const",
        );
        return with_error(item, e);
    }
    match syn::parse2::<Args>(args) {
        Ok(args) => expand(func, args),
        Err(e) => with_error(expand(func, Args::default()), e),
    }
}

/// Whether `tokens` mention `impl Trait` (which cannot be written as a type argument).
fn has_impl_trait(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == "impl",
        proc_macro2::TokenTree::Group(g) => has_impl_trait(g.stream()),
        _ => false,
    })
}

fn expand(func: TokenFn, args: Args) -> TokenStream {
    let TokenFn {
        attrs,
        vis,
        sig,
        inner_attrs,
        body,
    } = func;
    let krate = args
        .krate
        .map_or_else(|| quote!(::rtscope), |path| path.into_token_stream());
    let name = args
        .name
        .unwrap_or_else(|| LitStr::new(&sig.ident.to_string(), sig.ident.span()));
    // Hygienic: user code cannot see or shadow these.
    let id = Ident::new("__RTSCOPE_SCOPE", Span::mixed_site());
    let scope = quote! {
        {
            static #id: #krate::__private::LazyScope = #krate::__private::LazyScope::new(#name);
            &#id
        }
    };
    let body = if sig.asyncness.is_some() {
        // The scope is set around every poll of the body, on whichever thread polls it.
        // Naming the output type lets `?` inside the body infer its error type.
        let output = match &sig.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) if has_impl_trait(ty.to_token_stream()) => quote!(_),
            ReturnType::Type(_, ty) => ty.to_token_stream(),
        };
        quote! {
            #krate::__private::scoped::<#output, _>(#scope, async move { #body }).await
        }
    } else {
        let guard = Ident::new("__rtscope_scope_guard", Span::mixed_site());
        quote! {
            let #guard = #krate::__private::LazyScope::get(#scope).enter();
            #body
        }
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #body
        }
    }
}
