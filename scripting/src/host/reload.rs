//! Hot reload: saved files reloaded (debounced), removed ones unloaded and still watched,
//! and what stands in for a script that is not loaded.

use super::*;

pub(super) async fn reload_loop(
    host: Weak<HostInner>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
) {
    while let Some(first) = rx.recv().await {
        let mut paths = vec![first];
        let deadline = tokio::time::Instant::now() + DEBOUNCE;
        while let Ok(Some(p)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            paths.push(p);
        }
        paths.sort();
        paths.dedup();
        let Some(h) = host.upgrade() else { return };
        let mut scripts: Vec<Arc<Script>> = Vec::new();
        for p in &paths {
            for s in h.affected(p) {
                if !scripts.iter().any(|x| Arc::ptr_eq(x, &s)) {
                    scripts.push(s);
                }
            }
        }
        drop(h);
        for s in scripts {
            if !s.path.exists() {
                if s.removed.swap(true, Ordering::SeqCst) {
                    continue;
                }
                tracing::info!(script = %s.path.display(), "script removed; unloading (saving it again loads it)");
                s.stop();
                if let Some(h) = host.upgrade() {
                    h.unlist(&s);
                }
                // Handlers go with it: no version left to dispatch to. The script stays
                // watched, so a file put back in its place is loaded.
                *s.vm.write().expect("not poisoned") = Arc::new(Unloaded::removed(&s.path));
                continue;
            }
            if s.reload().await.is_ok() {
                if let Some(h) = host.upgrade() {
                    h.watch(&s);
                }
            }
        }
    }
}

/// What a removed script, or one that has not loaded yet, is: no handlers, no jobs, and
/// its file (so that saving it loads it).
pub(super) struct Unloaded {
    language: &'static str,
    file: PathBuf,
}

impl Unloaded {
    pub(super) fn removed(path: &Path) -> Unloaded {
        Unloaded {
            language: "removed",
            file: path.to_path_buf(),
        }
    }

    pub(super) fn failed(path: &Path) -> Unloaded {
        Unloaded {
            language: match path.extension().and_then(|e| e.to_str()) {
                Some("rhai") => "rhai",
                _ => "lua",
            },
            file: path.to_path_buf(),
        }
    }
}

impl Vm for Unloaded {
    fn language(&self) -> &'static str {
        self.language
    }
    fn handlers(&self) -> &[crate::vm::HandlerSpec] {
        &[]
    }
    fn jobs(&self) -> &[crate::vm::JobSpec] {
        &[]
    }
    fn files(&self) -> Vec<PathBuf> {
        vec![self.file.clone()]
    }
    fn run_handlers(
        self: Arc<Self>,
        _: Vec<(usize, bool)>,
        _: Arc<EventData>,
        _: Option<String>,
    ) -> BoxFuture<'static, Vec<crate::vm::Outcome>> {
        Box::pin(async { Vec::new() })
    }
    fn run_job(
        self: Arc<Self>,
        _: usize,
        _: JobRun,
    ) -> BoxFuture<'static, Result<(), ScriptError>> {
        Box::pin(async { Ok(()) })
    }
}
