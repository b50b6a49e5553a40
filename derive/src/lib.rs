//! `#[derive(FsmState)]`: a conversation state enum the dispatcher can keep and match.
//!
//! ```ignore
//! #[derive(FsmState, Debug, PartialEq)]
//! enum SignUp {
//!     AskName,
//!     AskAge { name: String },
//!     Confirm(String, u32),
//! }
//! // e.fsm().set_state(&SignUp::AskAge { name })?;  let s: Option<SignUp> = e.fsm().state()?;
//! // d.on(kind, F::in_state(SignUp::AskName) & ..., handler)
//! ```
//!
//! Each variant is stored as its name and its fields as JSON (named fields as an object,
//! tuple fields as an array), so the fields must be `serde` types.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, Data, DeriveInput, Fields};

/// Implements `fleetgram_engine::dispatch::FsmState` for an enum.
#[proc_macro_derive(FsmState)]
pub fn derive_fsm_state(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let name = &input.ident;
    let Data::Enum(data) = &input.data else {
        return syn::Error::new_spanned(&input.ident, "FsmState can be derived for enums only")
            .to_compile_error()
            .into();
    };
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let krate = quote!(::fleetgram_engine::dispatch);
    let json = quote!(#krate::__private::serde_json);
    let mut names = Vec::new();
    let mut name_arms = Vec::new();
    let mut data_arms = Vec::new();
    let mut from_arms = Vec::new();
    for v in &data.variants {
        let vi = &v.ident;
        let vname = vi.to_string();
        names.push(vname.clone());
        match &v.fields {
            Fields::Unit => {
                name_arms.push(quote!(Self::#vi => #vname));
                data_arms.push(quote!(Self::#vi => #json::Value::Null));
                from_arms.push(quote!(#vname => Some(Self::#vi)));
            }
            Fields::Named(f) => {
                let idents: Vec<_> = f
                    .named
                    .iter()
                    .map(|x| x.ident.clone().expect("named"))
                    .collect();
                let keys: Vec<String> = idents.iter().map(ToString::to_string).collect();
                name_arms.push(quote!(Self::#vi { .. } => #vname));
                data_arms.push(quote! {
                    Self::#vi { #(#idents),* } => {
                        let mut m = #json::Map::new();
                        #( m.insert(#keys.to_string(), #json::to_value(#idents).unwrap_or(#json::Value::Null)); )*
                        #json::Value::Object(m)
                    }
                });
                from_arms.push(quote! {
                    #vname => Some(Self::#vi {
                        #( #idents: #json::from_value(data.get(#keys)?.clone()).ok()?, )*
                    })
                });
            }
            Fields::Unnamed(f) => {
                let idents: Vec<_> = (0..f.unnamed.len())
                    .map(|i| format_ident!("f{i}"))
                    .collect();
                let idx: Vec<usize> = (0..f.unnamed.len()).collect();
                name_arms.push(quote!(Self::#vi(..) => #vname));
                data_arms.push(quote! {
                    Self::#vi( #(#idents),* ) => #json::Value::Array(vec![
                        #( #json::to_value(#idents).unwrap_or(#json::Value::Null) ),*
                    ])
                });
                from_arms.push(quote! {
                    #vname => Some(Self::#vi(
                        #( #json::from_value(data.get(#idx)?.clone()).ok()? ),*
                    ))
                });
            }
        }
    }
    quote! {
        impl #impl_generics #krate::FsmState for #name #ty_generics #where_clause {
            fn state_name(&self) -> &'static str {
                match self { #(#name_arms,)* }
            }
            fn state_names() -> &'static [&'static str] {
                &[#(#names),*]
            }
            fn state_data(&self) -> #json::Value {
                match self { #(#data_arms,)* }
            }
            fn from_state(name: &str, data: &#json::Value) -> Option<Self> {
                match name {
                    #(#from_arms,)*
                    _ => None,
                }
            }
        }
    }
    .into()
}
