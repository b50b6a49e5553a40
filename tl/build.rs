//! Generates the typed TL API from `schema/*.tl`. A schema error fails the build with the
//! file, line and what was expected.
use std::io::Write;

fn main() {
    let files = ["schema/api.tl", "schema/mtproto.tl"];
    let mut texts = Vec::new();
    for f in files {
        println!("cargo:rerun-if-changed={f}");
        match std::fs::read_to_string(f) {
            Ok(t) => texts.push((f, t)),
            Err(e) => fail(&format!("{f}: cannot read the schema: {e}")),
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    let refs: Vec<(&str, &str)> = texts.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let defs = fleetgram_tl_gen::parse_schema(&refs).unwrap_or_else(|e| fail(&e.to_string()));
    let out =
        std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"))
            .join("generated.rs");
    let file =
        std::fs::File::create(&out).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
    let mut w = std::io::BufWriter::new(file);
    let config = fleetgram_tl_gen::codegen::Config::default();
    if let Err(e) = fleetgram_tl_gen::codegen::generate(&defs, &config, &mut w) {
        fail(&e.to_string());
    }
    if let Err(e) = w.flush() {
        fail(&format!("{}: {e}", out.display()));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: TL schema: {msg}");
    std::process::exit(1)
}
