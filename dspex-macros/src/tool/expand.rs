//! The code of `#[dspex::tool]`: the function as written, and beside it, with its
//! visibility, `{name}_tool() -> Tool`, which builds the tool with `Tool::new` over a
//! struct of the function's parameters (so their doc comments describe the arguments in
//! its JSON Schema).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::parse::ToolFn;

/// The function and its `{name}_tool()`.
pub fn tool(tool: &ToolFn) -> TokenStream {
    let item = &tool.item;
    let krate = &tool.krate;
    let p = quote!(#krate::__private);
    let serde_crate = format!("{}::__private::serde", quote!(#krate));
    let schemars_crate = format!("{}::__private::schemars", quote!(#krate));
    let ident = tool.ident();
    let name = crate::ast::unraw(ident);
    let description = &tool.description;
    let fields = tool.params.iter().map(|param| {
        let (docs, ident, ty) = (&param.docs, &param.ident, &param.ty);
        quote!(#(#docs)* #ident: #ty)
    });
    let args = tool.params.iter().map(|param| {
        let ident = &param.ident;
        quote!(args.#ident)
    });
    let call = if item.sig.asyncness.is_some() {
        quote!(#ident(#(#args),*).await)
    } else {
        quote!(#ident(#(#args),*))
    };
    // An error is told to the agent as its `Display`; any other output is the answer.
    let output = if tool.returns_result {
        quote!(match #call {
            #p::Ok(answer) => #p::Ok(answer),
            #p::Err(error) => #p::Err::<_, #p::String>(#p::ToString::to_string(&error)),
        })
    } else {
        call
    };
    let tool_fn = tool_fn_signature(tool);
    quote! {
        #item

        #tool_fn {
            #[derive(#p::serde::Deserialize, #p::schemars::JsonSchema)]
            // An argument the function does not take is a mistake of the agent's, not one to ignore.
            #[serde(crate = #serde_crate, deny_unknown_fields)]
            #[schemars(crate = #schemars_crate, rename = #name)]
            struct Arguments {
                #(#fields,)*
            }
            #krate::Tool::new(#name, #description, |args: Arguments| async move { #output })
        }
    }
}

/// What is emitted beside the errors: the function (if it parsed) and a `{name}_tool()`
/// that never runs, so that its callers report nothing more.
pub fn fallback(tool: &ToolFn) -> TokenStream {
    let item = &tool.item;
    let p = {
        let krate = &tool.krate;
        quote!(#krate::__private)
    };
    let tool_fn = tool_fn_signature(tool);
    quote! {
        #item

        #tool_fn {
            #p::unreachable_fallback()
        }
    }
}

fn tool_fn_signature(tool: &ToolFn) -> TokenStream {
    let vis = &tool.item.vis;
    let krate = &tool.krate;
    let ident = tool.ident();
    let tool_ident = format_ident!("{}_tool", crate::ast::unraw(ident));
    let doc = format!(
        " The [`Tool`]({}::Tool) of [`{}`]: `#[dspex::tool]` generated it.",
        quote!(#krate).to_string().replace(' ', ""),
        crate::ast::unraw(ident)
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis fn #tool_ident() -> #krate::Tool
    }
}
