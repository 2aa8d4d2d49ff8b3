//! Procedural macros of `wasync-guest`: `#[job]` and the implementation of
//! `export_jobs!`. Use them through `wasync_guest`, which re-exports them;
//! the code they generate names `::wasync_guest`.

#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Error, Expr, FnArg, Ident, ItemFn, LitByteStr, Pat, Path, Token, Type};

/// Marks a function as a wasync job function; see `wasync_guest`'s docs.
#[proc_macro_attribute]
pub fn job(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut function = syn::parse_macro_input!(item as ItemFn);
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(Error::new(
            TokenStream2::from(attr).span(),
            "#[job] takes no arguments",
        ));
    }
    let params = take_params(&mut function, &mut errors);
    check_signature(&function, &mut errors);
    if let Some(first) = errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        let error = first.to_compile_error();
        return quote!(#function #error).into();
    }
    let glue = job_glue(&function, &params);
    quote!(#function #glue).into()
}

/// One parameter of a job function.
struct Param {
    name: String,
    ty: Type,
    kind: ParamKind,
}

enum ParamKind {
    Required,
    /// `Option<T>`: may be omitted.
    Optional,
    /// `#[default(expr)]` (or `#[default]` for `Default::default()`).
    Default(Expr),
}

/// Reads the parameters, removing their `#[default]` attributes from the
/// function (they are ours, not the compiler's).
fn take_params(function: &mut ItemFn, errors: &mut Vec<Error>) -> Vec<Param> {
    let mut params = Vec::new();
    for input in &mut function.sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                errors.push(Error::new(
                    receiver.span(),
                    "a #[job] function cannot take `self`: use a free function",
                ));
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        let default = match take_default(&mut typed.attrs) {
            Ok(default) => default,
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let name = match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.unraw(),
            other => {
                errors.push(Error::new(
                    other.span(),
                    "a #[job] parameter must be a plain name: arguments are bound by name",
                ));
                continue;
            }
        };
        match &*typed.ty {
            Type::Reference(r) => errors.push(Error::new(
                r.span(),
                "a #[job] parameter must be an owned type (e.g. `String`, not `&str`)",
            )),
            Type::ImplTrait(t) => errors.push(Error::new(
                t.span(),
                "a #[job] parameter needs a concrete type to deserialize into",
            )),
            _ => {}
        }
        let kind = match default {
            Some(expr) => ParamKind::Default(expr),
            None if is_option(&typed.ty) => ParamKind::Optional,
            None => ParamKind::Required,
        };
        params.push(Param {
            name: name.to_string(),
            ty: (*typed.ty).clone(),
            kind,
        });
    }
    params
}

/// Removes `#[default(expr)]` / `#[default]` from `attrs` and returns the
/// default expression.
fn take_default(attrs: &mut Vec<Attribute>) -> syn::Result<Option<Expr>> {
    let Some(index) = attrs.iter().position(|a| a.path().is_ident("default")) else {
        return Ok(None);
    };
    let attr = attrs.remove(index);
    if let Some(second) = attrs.iter().find(|a| a.path().is_ident("default")) {
        return Err(Error::new(second.span(), "more than one #[default]"));
    }
    match &attr.meta {
        syn::Meta::Path(_) => Ok(Some(syn::parse_quote!(::core::default::Default::default()))),
        syn::Meta::List(_) => attr.parse_args::<Expr>().map(Some),
        syn::Meta::NameValue(nv) => Ok(Some(nv.value.clone())),
    }
}

/// `Option<T>`, `std::option::Option<T>`, ... (by the last path segment).
fn is_option(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
            s.ident == "Option" && matches!(s.arguments, syn::PathArguments::AngleBracketed(_))
        }),
        Type::Paren(p) => is_option(&p.elem),
        Type::Group(g) => is_option(&g.elem),
        _ => false,
    }
}

fn check_signature(function: &ItemFn, errors: &mut Vec<Error>) {
    let sig = &function.sig;
    let refuse = |span: Span, what: &str| Error::new(span, format!("a #[job] function {what}"));
    if let Some(a) = &sig.asyncness {
        errors.push(refuse(a.span(), "cannot be `async`"));
    }
    if let Some(u) = &sig.unsafety {
        errors.push(refuse(u.span(), "cannot be `unsafe`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(refuse(
            sig.generics.span(),
            "cannot be generic: the host calls it with JSON",
        ));
    }
    if let Some(v) = &sig.variadic {
        errors.push(refuse(v.span(), "cannot be variadic"));
    }
}

/// How many positional arguments a function takes: at least up to its last
/// required parameter (`Args::required` fails on a missing one), at most
/// all its parameters (`Args::bind` refuses a longer array). Optional
/// parameters and those with defaults before the last required one must
/// still be given positionally (as `null` for an `Option`).
fn arity(params: &[Param]) -> (usize, usize) {
    let min = params
        .iter()
        .rposition(|p| matches!(p.kind, ParamKind::Required))
        .map_or(0, |last| last + 1);
    (min, params.len())
}

/// The entry of a function in the `wasync-signatures` section:
/// `"name":{"min":M,"max":N}` (a member of the section's JSON object).
fn signature_entry(name: &str, params: &[Param]) -> String {
    let (min, max) = arity(params);
    // A Rust identifier needs no JSON escaping.
    format!("\"{name}\":{{\"min\":{min},\"max\":{max}}}")
}

/// The hidden `JobFn` constant `__wasync_job_<name>` beside the function,
/// and its `wasync-signatures` entry `__wasync_signature_<name>`, which
/// `export_jobs!` gathers.
fn job_glue(function: &ItemFn, params: &[Param]) -> TokenStream2 {
    let ident = &function.sig.ident;
    let name = ident.unraw().to_string();
    let constant = format_ident!("__wasync_job_{}", ident.unraw());
    let signature_constant = format_ident!("__wasync_signature_{}", ident.unraw());
    let signature = signature_entry(&name, params);
    let names = params.iter().map(|p| &p.name);
    let vars: Vec<Ident> = (0..params.len())
        .map(|i| format_ident!("__wasync_arg_{}", i))
        .collect();
    let bindings = params.iter().zip(&vars).enumerate().map(|(i, (p, var))| {
        let ty = &p.ty;
        let span = ty.span();
        match &p.kind {
            ParamKind::Required => quote_spanned! {span=>
                let #var: #ty = __wasync_args.required(#i)?;
            },
            ParamKind::Optional => quote_spanned! {span=>
                let #var: #ty = __wasync_args.optional(#i)?;
            },
            ParamKind::Default(expr) => quote_spanned! {span=>
                let #var: #ty = match __wasync_args.present(#i)? {
                    ::core::option::Option::Some(value) => value,
                    ::core::option::Option::None => #expr,
                };
            },
        }
    });
    let args_mut = if params.is_empty() {
        quote!()
    } else {
        quote!(mut)
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, dead_code)]
        pub(crate) const #signature_constant: &str = #signature;

        #[doc(hidden)]
        #[allow(non_upper_case_globals, dead_code)]
        pub(crate) const #constant: ::wasync_guest::JobFn = ::wasync_guest::JobFn::new(#name, {
            fn __wasync_call(
                __wasync_json: &str,
            ) -> ::core::result::Result<::wasync_guest::Outcome, ::wasync_guest::Error> {
                #[allow(unused_imports)]
                use ::wasync_guest::__private::outcome::{
                    ViaDisplay as _, ViaGuestError as _, ViaStdError as _, ViaValue as _,
                };
                let #args_mut __wasync_args =
                    ::wasync_guest::__private::Args::bind(#name, &[#(#names),*], __wasync_json)?;
                #(#bindings)*
                (&&&&::wasync_guest::__private::outcome::Wrap::new(#ident(#(#vars),*)))
                    .__wasync_outcome()
            }
            __wasync_call
        });
    }
}

/// `export_jobs_impl!($crate; path, path, ...)`: the body of
/// `wasync_guest::export_jobs!`.
#[doc(hidden)]
#[proc_macro]
pub fn export_jobs_impl(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as ExportInput);
    match export_jobs(input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

struct ExportInput {
    krate: TokenStream2,
    functions: Punctuated<Path, Token![,]>,
}

impl Parse for ExportInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `$crate` arrives as an opaque token: keep everything before `;`.
        let mut krate = TokenStream2::new();
        while !input.peek(Token![;]) {
            krate.extend([input.parse::<TokenTree>()?]);
        }
        input.parse::<Token![;]>()?;
        let functions = Punctuated::parse_terminated(input)?;
        Ok(ExportInput { krate, functions })
    }
}

fn export_jobs(input: ExportInput) -> syn::Result<TokenStream2> {
    let krate = &input.krate;
    let mut names: Vec<String> = Vec::new();
    let mut constants = Vec::new();
    let mut signatures = Vec::new();
    for path in &input.functions {
        let last = path
            .segments
            .last()
            .ok_or_else(|| Error::new(path.span(), "expected the path of a #[job] function"))?;
        let name = last.ident.unraw().to_string();
        if names.contains(&name) {
            return Err(Error::new(
                path.span(),
                format!("job function `{name}` is exported twice"),
            ));
        }
        names.push(name.clone());
        let mut constant = path.clone();
        let last = constant.segments.last_mut().expect("checked above");
        last.ident = format_ident!(
            "__wasync_job_{}",
            last.ident.unraw(),
            span = last.ident.span()
        );
        let mut signature = constant.clone();
        let last = signature.segments.last_mut().expect("checked above");
        last.ident = format_ident!("__wasync_signature_{}", name, span = last.ident.span());
        constants.push(constant);
        signatures.push(signature);
    }
    let section: String = names.iter().map(|n| format!("{n}\n")).collect();
    let section_len = section.len();
    let section = LitByteStr::new(section.as_bytes(), Span::call_site());
    let bindings = quote!(#krate::__private::bindings);
    // `{`, the entries separated by `,`, `}`.
    let mut signature_parts = vec![quote!("{")];
    for (i, signature) in signatures.iter().enumerate() {
        if i > 0 {
            signature_parts.push(quote!(","));
        }
        signature_parts.push(quote!(#signature));
    }
    signature_parts.push(quote!("}"));
    Ok(quote! {
        /// The job functions this crate exports, as registered by
        /// `wasync_guest::export_jobs!`: run them natively with
        /// `wasync_guest::testing`.
        pub fn jobs() -> &'static #krate::Jobs {
            static JOBS: #krate::Jobs = #krate::Jobs::new(&[#(#constants),*]);
            &JOBS
        }

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __WasyncJobs;

            impl #bindings::Guest for __WasyncJobs {
                fn run(
                    function: ::std::string::String,
                    args: ::std::string::String,
                ) -> ::core::result::Result<
                    #bindings::wasync::job::types::Outcome,
                    #bindings::wasync::job::types::JobError,
                > {
                    #krate::__private::run_export(jobs(), function, args)
                }
            }

            #bindings::export!(__WasyncJobs with_types_in #bindings);
        };

        /// The names of the job functions, each followed by `\n`, for tools
        /// that list a module's functions without running it.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        #[used]
        #[unsafe(link_section = "wasync-functions")]
        static __WASYNC_FUNCTIONS: [u8; #section_len] = *#section;

        /// How many positional arguments each job function takes, as the
        /// JSON object `{"name":{"min":M,"max":N},...}`, so the host
        /// refuses a put whose arguments cannot fit. Concatenated at
        /// compile time from the entries `#[job]` wrote.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            const PARTS: &[&str] = &[#(#signature_parts),*];
            const LEN: usize = {
                let (mut len, mut i) = (0, 0);
                while i < PARTS.len() {
                    len += PARTS[i].len();
                    i += 1;
                }
                len
            };
            #[used]
            #[unsafe(link_section = "wasync-signatures")]
            static __WASYNC_SIGNATURES: [u8; LEN] = {
                let mut out = [0u8; LEN];
                let (mut at, mut i) = (0, 0);
                while i < PARTS.len() {
                    let part = PARTS[i].as_bytes();
                    let mut j = 0;
                    while j < part.len() {
                        out[at] = part[j];
                        at += 1;
                        j += 1;
                    }
                    i += 1;
                }
                out
            };
        };
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_job(item: TokenStream2) -> Result<(ItemFn, Vec<Param>), Vec<String>> {
        let mut function: ItemFn = syn::parse2(item).unwrap();
        let mut errors = Vec::new();
        let params = take_params(&mut function, &mut errors);
        check_signature(&function, &mut errors);
        if errors.is_empty() {
            Ok((function, params))
        } else {
            Err(errors.iter().map(ToString::to_string).collect())
        }
    }

    #[test]
    fn parameters_are_classified() {
        let (function, params) = expand_job(quote! {
            fn f(a: i64, b: Option<String>, #[default(3)] c: u8, #[default] d: Vec<u8>,
                 mut r#in: std::option::Option<u8>) -> i64 { a }
        })
        .unwrap();
        let names: Vec<_> = params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "in"]);
        assert!(matches!(params[0].kind, ParamKind::Required));
        assert!(matches!(params[1].kind, ParamKind::Optional));
        assert!(matches!(params[2].kind, ParamKind::Default(_)));
        assert!(matches!(params[3].kind, ParamKind::Default(_)));
        assert!(matches!(params[4].kind, ParamKind::Optional));
        // `#[default]` is ours: it must not reach the compiler.
        let text = quote!(#function).to_string();
        assert!(!text.contains("default"), "{text}");
    }

    #[test]
    fn unsupported_signatures_are_refused() {
        let cases = [
            (
                quote!(
                    async fn f() {}
                ),
                "cannot be `async`",
            ),
            (
                quote!(
                    unsafe fn f() {}
                ),
                "cannot be `unsafe`",
            ),
            (
                quote!(
                    fn f<T>(x: T) {}
                ),
                "cannot be generic",
            ),
            (
                quote!(
                    fn f(&self) {}
                ),
                "cannot take `self`",
            ),
            (
                quote!(
                    fn f(x: &str) {}
                ),
                "must be an owned type",
            ),
            (
                quote!(
                    fn f(x: impl Into<u8>) {}
                ),
                "needs a concrete type",
            ),
            (
                quote!(
                    fn f((a, b): (u8, u8)) {}
                ),
                "must be a plain name",
            ),
            (
                quote!(
                    fn f(
                        #[default(1)]
                        #[default(2)]
                        x: u8,
                    ) {
                    }
                ),
                "more than one #[default]",
            ),
        ];
        for (item, expected) in cases {
            let errors = expand_job(item.clone()).err().unwrap_or_default();
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{item}: {errors:?}"
            );
        }
    }

    #[test]
    fn glue_calls_the_function_through_a_hidden_constant() {
        let (function, params) = expand_job(quote!(
            fn add(a: i64, b: i64) -> i64 {
                a + b
            }
        ))
        .unwrap();
        let glue = job_glue(&function, &params).to_string();
        assert!(glue.contains("const __wasync_job_add"), "{glue}");
        assert!(glue.contains("JobFn :: new (\"add\""), "{glue}");
        assert!(glue.contains("bind (\"add\" , & [\"a\" , \"b\"]"), "{glue}");
        assert!(
            glue.contains("add (__wasync_arg_0 , __wasync_arg_1)"),
            "{glue}"
        );
    }

    #[test]
    fn the_signature_gives_the_range_of_positional_arguments() {
        let cases = [
            (
                quote!(
                    fn f() {}
                ),
                (0, 0),
            ),
            (
                quote!(
                    fn f(a: i64, b: i64) {}
                ),
                (2, 2),
            ),
            // Optional and defaulted parameters after the last required one
            // may be left out; those before it must be given.
            (
                quote!(
                    fn f(a: i64, #[default(1)] by: i64, note: Option<String>) {}
                ),
                (1, 3),
            ),
            (
                quote!(
                    fn f(a: Option<i64>, b: i64) {}
                ),
                (2, 2),
            ),
            (
                quote!(
                    fn f(#[default] a: u8, b: Option<u8>) {}
                ),
                (0, 2),
            ),
        ];
        for (item, expected) in cases {
            let (_, params) = expand_job(item.clone()).unwrap();
            assert_eq!(arity(&params), expected, "{item}");
        }
        let (function, params) = expand_job(quote!(
            fn r#increase(counter: i64, #[default(1)] by: i64) -> i64 {
                counter + by
            }
        ))
        .unwrap();
        let entry = signature_entry("increase", &params);
        assert_eq!(entry, r#""increase":{"min":1,"max":2}"#);
        let glue = job_glue(&function, &params).to_string();
        assert!(
            glue.contains(r#"const __wasync_signature_increase : & str = "\"increase\":{\"min\":1,\"max\":2}""#),
            "{glue}"
        );
    }

    fn export(input: TokenStream2) -> syn::Result<String> {
        export_jobs(syn::parse2(input)?).map(|t| t.to_string())
    }

    #[test]
    fn export_lists_constants_and_the_section() {
        let out = export(quote!(crate; add, math::r#mul)).unwrap();
        assert!(
            out.contains("[__wasync_job_add , math :: __wasync_job_mul]"),
            "{out}"
        );
        assert!(out.contains("[u8 ; 8usize] = * b\"add\\nmul\\n\""), "{out}");
        assert!(out.contains("link_section = \"wasync-functions\""), "{out}");
        assert!(
            out.contains(
                "[\"{\" , __wasync_signature_add , \",\" , math :: __wasync_signature_mul , \"}\"]"
            ),
            "{out}"
        );
        assert!(
            out.contains("link_section = \"wasync-signatures\""),
            "{out}"
        );
        assert!(out.contains("pub fn jobs ()"), "{out}");
    }

    #[test]
    fn export_refuses_duplicates() {
        let err = export(quote!(crate; add, other::add)).unwrap_err();
        assert_eq!(err.to_string(), "job function `add` is exported twice");
    }
}
