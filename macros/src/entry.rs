//! `#[rtscope::main]`: parse the arguments and the function, expand into a call to
//! `<crate>::__private`. Nothing else happens here.

use crate::item::{TokenFn, crate_path, with_error};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::{Ident, Lit, LitStr};

const EXPECTED: &str = "expected `crate = \"...\"`, `service_name = \"...\"` or \
                        `export_interval_ms = <milliseconds>`";

/// The attribute's arguments.
#[derive(Default)]
struct Args {
    krate: Option<syn::Path>,
    service_name: Option<LitStr>,
    export_interval_ms: Option<u64>,
}

impl Args {
    fn parse(args: TokenStream) -> syn::Result<Args> {
        let mut out = Args::default();
        let parser = syn::meta::parser(|meta| {
            let name = meta.path.to_token_stream().to_string().replace(' ', "");
            let duplicate = || meta.error(format!("`{name}` is given twice"));
            match name.as_str() {
                "crate" => {
                    if out.krate.is_some() {
                        return Err(duplicate());
                    }
                    out.krate = Some(crate_path(&meta.value()?.parse()?)?);
                }
                "service_name" => {
                    if out.service_name.is_some() {
                        return Err(duplicate());
                    }
                    match literal(meta.value()?.parse()?) {
                        Ok(Lit::Str(s)) if !s.value().trim().is_empty() => {
                            out.service_name = Some(s)
                        }
                        Ok(Lit::Str(s)) => {
                            return Err(syn::Error::new(
                                s.span(),
                                "`service_name` must not be empty, e.g. \
                                 `service_name = \"checkout\"`",
                            ));
                        }
                        other => {
                            return Err(syn::Error::new_spanned(
                                other.map_or_else(|e| e, |l| l.into_token_stream()),
                                "`service_name` takes a string, e.g. `service_name = \"checkout\"`",
                            ));
                        }
                    }
                }
                "export_interval_ms" => {
                    if out.export_interval_ms.is_some() {
                        return Err(duplicate());
                    }
                    let value = literal(meta.value()?.parse()?);
                    let how = "`export_interval_ms` takes a whole number of milliseconds \
                               greater than 0, e.g. `export_interval_ms = 10000`";
                    let ms = match &value {
                        Ok(Lit::Int(int)) => int.base10_parse::<u64>().ok().filter(|ms| *ms > 0),
                        _ => None,
                    };
                    match ms {
                        Some(ms) => out.export_interval_ms = Some(ms),
                        None => {
                            let tokens = value.map_or_else(|e| e, |l| l.into_token_stream());
                            return Err(syn::Error::new_spanned(tokens, how));
                        }
                    }
                }
                _ => {
                    return Err(meta.error(format!(
                        "unknown `#[rtscope::main]` argument `{name}`; {EXPECTED}"
                    )));
                }
            }
            Ok(())
        });
        parser.parse2(args)?;
        Ok(out)
    }
}

/// The literal an argument's value is, or the value's tokens (for the error) when it is not one.
fn literal(value: syn::Expr) -> Result<Lit, TokenStream> {
    match value {
        syn::Expr::Lit(syn::ExprLit { lit, attrs }) if attrs.is_empty() => Ok(lit),
        other => Err(other.into_token_stream()),
    }
}

/// Entry point: the expansion, or the original item plus `compile_error!`.
pub(crate) fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse2::<TokenFn>(item.clone()) {
        Ok(func) => func,
        Err(e) => {
            let e = match syn::parse2::<syn::Item>(item.clone()) {
                // Some other item: say what the attribute is for.
                Ok(other) if !matches!(other, syn::Item::Fn(_)) => syn::Error::new(
                    Span::call_site(),
                    "`#[rtscope::main]` can only be applied to `fn main`",
                ),
                _ => e,
            };
            return with_error(item, e);
        }
    };
    if func.sig.ident != "main" {
        let e = syn::Error::new(
            func.sig.ident.span(),
            "`#[rtscope::main]` can only be applied to the `main` function; elsewhere, install \
             the agent with `rtscope::Agent::builder().install()` and keep the guard alive",
        );
        return with_error(item, e);
    }
    match Args::parse(args) {
        Ok(args) => expand(func, args),
        // Expand anyway, so that the only error is the one about the arguments.
        Err(e) => with_error(expand(func, Args::default()), e),
    }
}

fn expand(func: TokenFn, args: Args) -> TokenStream {
    let TokenFn {
        attrs,
        vis,
        mut sig,
        inner_attrs,
        body,
    } = func;
    let krate = args
        .krate
        .map_or_else(|| quote!(::rtscope), |path| path.into_token_stream());
    let mut options = quote!(#krate::__private::MainOptions::new());
    if let Some(name) = args.service_name {
        options.extend(quote!(.service_name(#name)));
    }
    if let Some(ms) = args.export_interval_ms {
        options.extend(quote!(.export_interval_ms(#ms)));
    }
    // Hygienic: user code cannot see or shadow these.
    let guard = Ident::new("__rtscope_guard", Span::mixed_site());
    let install = quote! {
        let #guard = #krate::__private::install_for_main(#options);
    };
    let body = match sig.asyncness.take() {
        // The guard is the first local, so it drops last, after everything the body made,
        // whether the body ends, returns early or unwinds.
        None => quote! {
            #install
            #body
        },
        Some(async_token) => {
            let future = Ident::new("__rtscope_body", Span::mixed_site());
            let run = quote_spanned! {async_token.span=>
                #krate::__private::async_main!(#future)
            };
            quote! {
                #install
                let #future = async { #body };
                #[allow(clippy::needless_return)]
                return #run;
            }
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
