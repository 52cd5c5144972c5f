//! Procedural macros of `fluid-plugin-api`. Use them through that crate.

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, ImplItem, ItemImpl};

/// Marks an `impl Engine for YourEngine` block so the controller can list the hooks your
/// engine implements (`fluid-controller plugins inspect` shows them).
#[proc_macro_attribute]
pub fn hooks(args: TokenStream, input: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[hooks] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let mut item = parse_macro_input!(input as ItemImpl);
    let names: Vec<String> = item
        .items
        .iter()
        .filter_map(|i| match i {
            ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
            _ => None,
        })
        .collect();
    let constant: ImplItem = syn::parse_quote! {
        const IMPLEMENTED_HOOKS: &'static [&'static str] = &[#(#names),*];
    };
    item.items.push(constant);
    quote!(#item).into()
}

/// Emits the root-module static of a plugin library (what abi_stable's `#[export_root_module]`
/// emits, but with every path under the `fluid_plugin_api` crate, so plugin crates need no
/// direct abi_stable dependency). Used by `export_engine!`; not for direct use.
///
/// Input: `$crate, info_fn, crd_fn, chart_fn, new_engine_fn`.
#[doc(hidden)]
#[proc_macro]
pub fn __root_module_static(input: TokenStream) -> TokenStream {
    // Split on commas by hand: `$crate` arrives as a special token that syn's parsers reject.
    let mut args: Vec<proc_macro2::TokenStream> = vec![proc_macro2::TokenStream::new()];
    for tt in proc_macro2::TokenStream::from(input) {
        match &tt {
            proc_macro2::TokenTree::Punct(p) if p.as_char() == ',' => {
                args.push(proc_macro2::TokenStream::new())
            }
            _ => {
                if let Some(last) = args.last_mut() {
                    last.extend(std::iter::once(tt));
                }
            }
        }
    }
    args.retain(|a| !a.is_empty());
    let [krate, info, crd, chart, new_engine] =
        match <[proc_macro2::TokenStream; 5]>::try_from(args) {
            Ok(a) => a,
            Err(_) => {
                return syn::Error::new(
                    proc_macro2::Span::call_site(),
                    "expected: crate, info, crd, chart, new_engine",
                )
                .to_compile_error()
                .into()
            }
        };
    let export_name = syn::Ident::new(
        &abi_stable_shared::mangled_root_module_loader_name(),
        proc_macro2::Span::call_site(),
    );
    quote! {
        fn __fluid_plugin_root_module() -> #krate::abi::PluginModRef {
            #krate::export::root_module(#info, #crd, #chart, #new_engine)
        }

        #[no_mangle]
        pub static #export_name: #krate::__abi_stable::library::LibHeader = {
            extern "C" fn __fluid_plugin_erased_root_module(
            ) -> #krate::__abi_stable::library::RootModuleResult {
                #krate::__abi_stable::library::__call_root_module_loader(__fluid_plugin_root_module)
            }
            // Safety: the constructor returns the PluginModRef erased by abi_stable itself.
            unsafe {
                #krate::__abi_stable::library::LibHeader::from_constructor::<#krate::abi::PluginModRef>(
                    __fluid_plugin_erased_root_module,
                    #krate::__abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    }
    .into()
}
