//! Every rule that maps TL names onto Rust names, in one place.
//!
//! 1. **Namespaces become modules** with the same (lowercase) name: `messages.sendMessage`
//!    lives in `functions::messages`, `messages.Messages` in `enums::messages`.
//! 2. **Constructors and functions become structs** named by [`type_name`]: split at `_`,
//!    capitalize the first letter of every part, keep the other letters:
//!    `inputPeerUser` -> `InputPeerUser`, `p_q_inner_data_dc` -> `PQInnerDataDc`,
//!    `messages.sendMessage` -> `functions::messages::SendMessage`.
//! 3. **Abstract (boxed) types become enums** named by the same rule: `InputPeer` ->
//!    `enums::InputPeer`, `Server_DH_Params` -> `enums::ServerDHParams`.
//! 4. **Enum variants** are the constructor's struct name without the type's name as prefix
//!    ([`variant_name`]): `inputPeerUser` in `InputPeer` -> `User`. The whole name is kept when
//!    stripping would leave nothing, not start a new word (an uppercase letter), or leave a reserved word (`inputPeerSelf` ->
//!    `InputPeerSelf`), or when two constructors of the type would get the same variant.
//! 5. **Fields** are snake_case ([`field_name`]); Rust keywords become raw identifiers
//!    (`type` -> `r#type`), and the four names that cannot be raw get a trailing `_`.
//! 6. **Built-in types** map to Rust types: `int` `i32`, `long` `i64`, `double` `f64`,
//!    `string` `String`, `bytes` `Vec<u8>`, `int128` `[u8; 16]`, `int256` `[u8; 32]`,
//!    `Bool` and `flags.N?true` `bool`, `Vector<T>` `Vec<T>`, an optional field `Option<T>`.

/// Rust's reserved words (strict and reserved-for-future-use, 2021 edition).
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Names that cannot be written as raw identifiers.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate"];

/// Whether `s` is a Rust keyword.
pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// Rule 2/3: the struct or enum name of a TL name (without namespace).
pub fn type_name(tl: &str) -> String {
    let mut out = String::with_capacity(tl.len());
    for part in tl.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// Rule 1: the module of a namespace.
pub fn module_name(namespace: &str) -> String {
    let m = namespace.to_ascii_lowercase();
    if is_keyword(&m) {
        format!("{m}_")
    } else {
        m
    }
}

/// Rule 4: the variant of constructor `ctor` (TL name, no namespace) in abstract type `ty`
/// (TL name, no namespace), before collision handling.
pub fn variant_name(ctor: &str, ty: &str) -> String {
    let full = type_name(ctor);
    let prefix = type_name(ty);
    match full.strip_prefix(&prefix) {
        Some(rest)
            if !rest.is_empty()
                && rest.starts_with(|c: char| c.is_ascii_uppercase())
                && !is_keyword(rest) =>
        {
            rest.to_string()
        }
        _ => full,
    }
}

/// Rule 4 with collisions: the variants of the constructors `ctors` of type `ty`.
pub fn variant_names(ctors: &[&str], ty: &str) -> Vec<String> {
    let short: Vec<String> = ctors.iter().map(|c| variant_name(c, ty)).collect();
    short
        .iter()
        .zip(ctors)
        .map(|(s, c)| {
            if short.iter().filter(|o| *o == s).count() > 1 {
                type_name(c)
            } else {
                s.clone()
            }
        })
        .collect()
}

/// Rule 5: the Rust field name of a TL parameter.
pub fn field_name(tl: &str) -> String {
    let mut out = String::with_capacity(tl.len() + 2);
    let mut prev_lower = false;
    for c in tl.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    if NOT_RAW.contains(&out.as_str()) {
        out.push('_');
        out
    } else if is_keyword(&out) {
        format!("r#{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule1_modules() {
        assert_eq!(module_name("messages"), "messages");
        assert_eq!(module_name("Storage"), "storage");
        assert_eq!(module_name("type"), "type_");
    }

    #[test]
    fn rule2_structs() {
        assert_eq!(type_name("inputPeerUser"), "InputPeerUser");
        assert_eq!(type_name("p_q_inner_data_dc"), "PQInnerDataDc");
        assert_eq!(type_name("sendMessage"), "SendMessage");
        assert_eq!(type_name("resPQ"), "ResPQ");
    }

    #[test]
    fn rule3_enums() {
        assert_eq!(type_name("InputPeer"), "InputPeer");
        assert_eq!(type_name("Server_DH_Params"), "ServerDHParams");
        assert_eq!(type_name("P_Q_inner_data"), "PQInnerData");
    }

    #[test]
    fn rule4_variants() {
        assert_eq!(variant_name("inputPeerUser", "InputPeer"), "User");
        assert_eq!(variant_name("inputPeerSelf", "InputPeer"), "InputPeerSelf");
        assert_eq!(variant_name("message", "Message"), "Message");
        assert_eq!(variant_name("messagesSlice", "Messages"), "Slice");
        assert_eq!(variant_name("boolTrue", "Bool"), "True");
        assert_eq!(
            variant_name("dh_gen_ok", "Set_client_DH_params_answer"),
            "DhGenOk"
        );
        assert_eq!(variant_name("inputMedia3d", "InputMedia"), "InputMedia3d");
        // Only whole words are stripped.
        assert_eq!(variant_name("big", "B"), "Big");
        // Collisions keep the full names.
        assert_eq!(
            variant_names(&["fooBar", "bar"], "Foo"),
            vec!["FooBar", "Bar"]
        );
        assert_eq!(
            variant_names(&["fooBar", "fooBaz"], "Foo"),
            vec!["Bar", "Baz"]
        );
    }

    #[test]
    fn rule5_fields() {
        assert_eq!(field_name("user_id"), "user_id");
        assert_eq!(field_name("type"), "r#type");
        assert_eq!(field_name("self"), "self_");
        assert_eq!(field_name("ipPort"), "ip_port");
        assert_eq!(field_name("final"), "r#final");
        assert_eq!(field_name("static"), "r#static");
    }
}
