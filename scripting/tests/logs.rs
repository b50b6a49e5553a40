//! A script's error reaches the host's log once (not once as "script error" and again as
//! the script's own error line), in both languages.

use fleetgram_engine::updates::UpdateKind;
use fleetgram_scripting::Script;
use std::io::Write;
use std::sync::{Arc, Mutex};

mod support;
use support::{ctx, limits, message};

/// Everything the host logs, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_error_is_logged_once_in_both_languages() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .init();
    let dir = support::scratch("logs", "once");
    for (name, src) in [
        (
            "once.lua",
            "on(\"message\", function(m)\n  error(\"lua-bad-\" .. m.text)\nend)\n",
        ),
        (
            "once.rhai",
            "on(\"message\", |m| {\n    throw \"rhai-bad-\" + m.text;\n});\n",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, src).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let s = Script::start(&path, ctx(log.clone()), limits())
            .await
            .unwrap();
        s.dispatch(UpdateKind::NewMessage, &message("x1")).await;
        assert_eq!(s.status().errors, 1, "{name}");
        // The script's own sink has it too.
        let own = log.lock().unwrap().clone();
        assert_eq!(
            own.iter().filter(|l| l.contains("bad-x1")).count(),
            1,
            "{name}: {own:?}"
        );
    }
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for needle in ["lua-bad-x1", "rhai-bad-x1"] {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
        assert_eq!(lines.len(), 1, "{needle}: {lines:#?}");
        assert!(lines[0].contains("ERROR"), "{lines:?}");
    }
}
