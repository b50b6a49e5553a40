//! Schedules (`cron`, `every`): when each runs next, the loop that runs it, its status.

use super::*;

/// What the operator view shows of a schedule.
#[derive(Debug, Clone)]
pub struct ScheduleStatus {
    /// The account.
    pub account: String,
    /// The script file.
    pub file: String,
    /// The schedule's key (what `run now` names).
    pub key: String,
    /// `cron EXPR (ZONE)` or `every Ns`.
    pub timing: String,
    /// Unix time of the last run.
    pub last_run: Option<i64>,
    /// Unix time of the next run.
    pub next_run: i64,
}

impl Script {
    /// The schedules of the current version: what, when it last ran and when it runs next.
    pub fn schedules(&self) -> Vec<ScheduleStatus> {
        let vm = self.vm();
        let space = self.sched_space();
        let now = Utc::now();
        vm.jobs()
            .iter()
            .map(|spec| {
                let last = last_run(&*self.ctx.account.store, &space, &spec.key);
                ScheduleStatus {
                    account: self.ctx.account.name.clone(),
                    file: self.path.display().to_string(),
                    key: spec.key.clone(),
                    timing: match &spec.timing {
                        Timing::Cron { expr, tz, .. } => format!("cron {expr} ({tz})"),
                        Timing::Every(d) => format!("every {}s", d.as_secs()),
                    },
                    last_run: last.map(|t| t.timestamp()),
                    next_run: next_due(&spec.timing, last, now).timestamp(),
                }
            })
            .collect()
    }

    /// Runs schedule `key` now, once (its regular runs stay as they are).
    ///
    /// # Errors
    /// No such schedule; the job's own error.
    pub async fn run_job_now(&self, key: &str) -> Result<(), String> {
        let vm = self.vm();
        let index = vm
            .jobs()
            .iter()
            .position(|j| j.key == key)
            .ok_or_else(|| format!("{} has no schedule {key:?}", self.path.display()))?;
        let run = JobRun::new(&format!(
            "{}/{}/manual/{}",
            self.sched_space(),
            key,
            Utc::now().timestamp_millis()
        ));
        let r = vm.run_job(index, run).await;
        self.stats.jobs_run.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = &r {
            self.record_error(e);
        }
        r.map_err(|e| e.to_string())
    }

    pub(super) fn start_jobs(self: &Arc<Self>) {
        let vm = self.vm();
        let generation = self.generation();
        for i in 0..vm.jobs().len() {
            tokio::spawn(job_loop(Arc::downgrade(self), vm.clone(), i, generation));
        }
    }

    fn sched_space(&self) -> String {
        format!("sched/{}/{}", self.ctx.account.name, self.ctx.script)
    }
}

/// When a job runs next: `(time, whether it is a missed run being made up)`.
/// When schedule `key` last ran, from the ledger in `space` (milliseconds as text).
fn last_run(
    store: &dyn fleetgram_engine::store::SessionStore,
    space: &str,
    key: &str,
) -> Option<DateTime<Utc>> {
    let text = String::from_utf8(store.kv_get(space, key).ok()??).ok()?;
    Utc.timestamp_millis_opt(text.parse().ok()?).single()
}

fn next_due(timing: &Timing, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    match timing {
        Timing::Every(d) => {
            let d = chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::seconds(60));
            match last {
                Some(l) if l + d > now => l + d,
                // Missed or never run: once now, then every `d`.
                Some(_) => now,
                None => now + d,
            }
        }
        Timing::Cron { schedule, tz, .. } => {
            let upcoming = |after: DateTime<Utc>| {
                schedule
                    .after(&after.with_timezone(tz))
                    .next()
                    .map(|t| t.with_timezone(&Utc))
            };
            let Some(last) = last else {
                return upcoming(now).unwrap_or(now + chrono::Duration::days(366));
            };
            // The latest occurrence after the last run that is already due, if any.
            let mut missed = None;
            let mut t = last;
            for _ in 0..10_000 {
                match upcoming(t) {
                    Some(n) if n <= now => {
                        missed = Some(n);
                        t = n;
                    }
                    _ => break,
                }
            }
            match missed {
                Some(m) if now - m <= chrono::Duration::from_std(GRACE).expect("fits") => m,
                Some(m) => {
                    tracing::warn!(missed = %m, "a scheduled run was missed by more than the grace window; skipping to the next");
                    upcoming(now).unwrap_or(now + chrono::Duration::days(366))
                }
                None => upcoming(last).unwrap_or(now + chrono::Duration::days(366)),
            }
        }
    }
}

async fn job_loop(script: Weak<Script>, vm: Arc<dyn Vm>, index: usize, generation: u64) {
    let spec = vm.jobs()[index].clone();
    // The last run made here, in case the store could not record it (a full or read-only
    // disk): the schedule goes by it instead of running again at once.
    let mut ran: Option<DateTime<Utc>> = None;
    let mut failures = 0u32;
    loop {
        let Some(s) = script.upgrade() else { return };
        if s.generation() != generation || s.stopped.load(Ordering::SeqCst) {
            return;
        }
        let space = s.sched_space();
        let store = s.ctx.account.store.clone();
        let stored = last_run(&*store, &space, &spec.key);
        let last = stored.max(ran);
        let due = next_due(&spec.timing, last, Utc::now());
        let mut wake = s.wake.subscribe();
        drop(s);
        let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.changed() => continue,
        }
        let Some(s) = script.upgrade() else { return };
        if s.generation() != generation || s.stopped.load(Ordering::SeqCst) {
            return;
        }
        let run = JobRun::new(&format!(
            "{}/{}/{}",
            space,
            spec.key,
            due.timestamp_millis()
        ));
        // A bug in the host's own code while running the job is reported like a script
        // error; the schedule goes on.
        let r = fleetgram_engine::unwind::catch_panic(vm.clone().run_job(index, run))
            .await
            .unwrap_or_else(|panic| {
                Err(ScriptError::new(
                    s.path.display().to_string(),
                    None,
                    format!("internal error (please report): {panic}"),
                ))
            });
        s.stats.jobs_run.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = r {
            s.record_error(&e);
        }
        // Committed after the run: a crash before this re-runs the same due time, whose
        // sends carry the same random_ids (no duplicate posts).
        ran = Some(due);
        match store.kv_set(
            &space,
            &spec.key,
            Some(due.timestamp_millis().to_string().as_bytes()),
        ) {
            Ok(()) => failures = 0,
            Err(e) => {
                // Back off (2 s, 4 s, ... 64 s) so a failing store is reported, not hammered.
                failures += 1;
                let backoff = Duration::from_secs(1 << failures.min(6));
                s.record_error(&ScriptError::new(
                    s.path.display().to_string(),
                    None,
                    format!(
                        "cannot record the run of schedule {:?} in the store ({e}); next try in {}s",
                        spec.key,
                        backoff.as_secs()
                    ),
                ));
                let mut wake = s.wake.subscribe();
                drop(s);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = wake.changed() => {}
                }
            }
        }
    }
}
