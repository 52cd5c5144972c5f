//! What a data operation does next: a pure function of the operation, its Dataset, the
//! operation it runs after and its Job or CronJob (Fluid's `pkg/dataoperation` state machine:
//! Pending → Executing → Complete / Failed).

use fluid_plugin_api::types::{OperationKind, OperationPhase, OperationPolicy};

/// The target Dataset as the decision needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatasetView {
    /// `status.phase` is `Bound` (or `DataMigrating`, set by a running migration).
    pub bound: bool,
    /// The operations of this kind holding the Dataset (`status.operationRef[kind]`).
    pub holders: Vec<String>,
}

/// The Job (policy Once / OnEvent) as the decision needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobView {
    /// The Job has the condition `Complete`.
    pub complete: bool,
    /// The Job has the condition `Failed`: its message.
    pub failed: Option<String>,
}

/// What the decision reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The operation's kind.
    pub kind: OperationKind,
    /// The operation's name.
    pub name: String,
    /// `status.phase`.
    pub phase: OperationPhase,
    /// Being deleted.
    pub deleting: bool,
    /// Carries the controller's finalizer.
    pub has_finalizer: bool,
    /// `spec.policy` (`Once` for kinds without one).
    pub policy: OperationPolicy,
    /// What is wrong with the spec (field and reason), if anything.
    pub invalid: Option<String>,
    /// The target Dataset, `None` when it does not exist.
    pub dataset: Option<DatasetView>,
    /// The Dataset named by the operation.
    pub dataset_name: String,
    /// `spec.runAfter`: the operation's kind and name, and its phase (`None` when it does not
    /// exist).
    pub run_after: Option<(OperationKind, String, Option<OperationPhase>)>,
    /// `spec.runAfter.affinityStrategy` with a policy: the operation whose placement is
    /// followed (`dependOn`, else the `runAfter` one), as `run_after`.
    pub depend_on: Option<(OperationKind, String, Option<OperationPhase>)>,
    /// The operation's Job.
    pub job: Option<JobView>,
    /// Whether the operation's CronJob exists.
    pub cron_job: bool,
    /// `ttlSecondsAfterFinished` has passed since the operation ended.
    pub ttl_expired: bool,
}

impl Observed {
    fn holds_lock(&self) -> bool {
        self.dataset
            .as_ref()
            .is_some_and(|d| d.holders.contains(&self.name))
    }
}

/// Why an operation waits (`reason` of its Event; the message says for what).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// One word, for the Event.
    pub reason: &'static str,
    /// For humans.
    pub message: String,
}

/// The next step of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    Nothing,
    /// Add the finalizer (the lock on the Dataset must be released when it is deleted).
    AddFinalizer,
    /// Being deleted: delete its Job / CronJob, release its lock, remove the finalizer.
    Cleanup,
    /// Stay (or become) Pending.
    Wait(Wait),
    /// Take the Dataset's lock for this kind, then launch.
    LockAndLaunch,
    /// Launch without the lock (Cron operations hold no lock between runs).
    Launch,
    /// The Job or CronJob runs: phase Executing, schedule figures refreshed.
    Watch,
    /// The operation ended: Complete (`None`) or Failed (the reason and message); the
    /// Dataset's lock is released.
    Finish(Option<(&'static str, String)>),
    /// Ended, but still holding the Dataset's lock (a pass stopped between the two writes).
    ReleaseLock,
    /// `ttlSecondsAfterFinished` has passed: delete the operation.
    Expire,
}

/// Decides the next step.
pub fn next_step(o: &Observed) -> Step {
    if o.deleting {
        return if o.has_finalizer {
            Step::Cleanup
        } else {
            Step::Nothing
        };
    }
    if !o.has_finalizer {
        return Step::AddFinalizer;
    }
    if o.phase.is_final() {
        if o.holds_lock() {
            return Step::ReleaseLock;
        }
        return if o.ttl_expired {
            Step::Expire
        } else {
            Step::Nothing
        };
    }
    if let Some(problem) = &o.invalid {
        return Step::Finish(Some(("InvalidSpec", problem.clone())));
    }
    if let Some(job) = &o.job {
        if let Some(message) = &job.failed {
            return Step::Finish(Some(("JobFailed", message.clone())));
        }
        if job.complete {
            return Step::Finish(None);
        }
        return Step::Watch;
    }
    if o.cron_job {
        return Step::Watch;
    }
    let wait = |reason, message| Step::Wait(Wait { reason, message });
    let Some(dataset) = &o.dataset else {
        return wait(
            "DatasetNotFound",
            format!("the Dataset {} does not exist", o.dataset_name),
        );
    };
    if !dataset.bound {
        return wait(
            "DatasetNotBound",
            format!(
                "the Dataset {} is not bound to a runtime yet",
                o.dataset_name
            ),
        );
    }
    if let Some((kind, name, phase)) = &o.run_after {
        match phase {
            Some(OperationPhase::Complete) => {}
            None => {
                return wait(
                    "WaitingForRunAfter",
                    format!("waiting for {kind} {name}, which does not exist yet"),
                )
            }
            Some(p) => {
                return wait(
                    "WaitingForRunAfter",
                    format!(
                        "waiting for {kind} {name} to complete (it is {})",
                        state(*p)
                    ),
                );
            }
        }
    }
    // The placement followed is recorded when that operation completes (Fluid waits too).
    if let Some((kind, name, phase)) = &o.depend_on {
        match phase {
            Some(OperationPhase::Complete) => {}
            None => {
                return wait(
                    "WaitingForDependOn",
                    format!(
                        "the pod is to run where {kind} {name} ran \
                         (runAfter.affinityStrategy.dependOn), which does not exist yet"
                    ),
                )
            }
            Some(p) => {
                return wait(
                    "WaitingForDependOn",
                    format!(
                        "the pod is to run where {kind} {name} ran \
                         (runAfter.affinityStrategy.dependOn): waiting for it to complete \
                         (it is {})",
                        state(*p)
                    ),
                );
            }
        }
    }
    if o.policy == OperationPolicy::Cron {
        return Step::Launch;
    }
    if let Some(other) = dataset.holders.iter().find(|h| **h != o.name) {
        return wait(
            "DatasetBusy",
            format!(
                "{} {other} is running on the Dataset {}; one {} runs at a time",
                o.kind, o.dataset_name, o.kind
            ),
        );
    }
    Step::LockAndLaunch
}

fn state(p: OperationPhase) -> &'static str {
    match p {
        OperationPhase::None => "not started",
        OperationPhase::Pending => "Pending",
        OperationPhase::Executing => "Executing",
        OperationPhase::Complete => "Complete",
        OperationPhase::Failed => "Failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed() -> Observed {
        Observed {
            kind: OperationKind::DataLoad,
            name: "warm".into(),
            phase: OperationPhase::Pending,
            deleting: false,
            has_finalizer: true,
            policy: OperationPolicy::Once,
            invalid: None,
            dataset: Some(DatasetView {
                bound: true,
                holders: vec![],
            }),
            dataset_name: "demo".into(),
            run_after: None,
            depend_on: None,
            job: None,
            cron_job: false,
            ttl_expired: false,
        }
    }

    fn waits(o: &Observed) -> Wait {
        match next_step(o) {
            Step::Wait(w) => w,
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn a_new_operation_gets_the_finalizer_first() {
        let o = Observed {
            has_finalizer: false,
            phase: OperationPhase::None,
            ..observed()
        };
        assert_eq!(next_step(&o), Step::AddFinalizer);
    }

    #[test]
    fn a_bound_free_dataset_is_locked_and_the_job_launched() {
        assert_eq!(next_step(&observed()), Step::LockAndLaunch);
        let o = Observed {
            phase: OperationPhase::None,
            ..observed()
        };
        assert_eq!(next_step(&o), Step::LockAndLaunch);
        // Our own name already in the lock (the Job creation failed after the lock): launch.
        let mut o = observed();
        o.dataset.as_mut().unwrap().holders = vec!["warm".into()];
        assert_eq!(next_step(&o), Step::LockAndLaunch);
    }

    #[test]
    fn it_waits_for_the_dataset() {
        let o = Observed {
            dataset: None,
            ..observed()
        };
        let w = waits(&o);
        assert_eq!(w.reason, "DatasetNotFound");
        assert!(w.message.contains("demo"), "{}", w.message);
        let mut o = observed();
        o.dataset.as_mut().unwrap().bound = false;
        assert_eq!(waits(&o).reason, "DatasetNotBound");
    }

    #[test]
    fn a_second_operation_of_the_kind_waits_for_the_first() {
        let mut o = observed();
        o.dataset.as_mut().unwrap().holders = vec!["first".into()];
        let w = waits(&o);
        assert_eq!(w.reason, "DatasetBusy");
        assert!(w.message.contains("DataLoad first"), "{}", w.message);
    }

    #[test]
    fn run_after_is_waited_for_until_complete() {
        for (phase, word) in [
            (None, "does not exist"),
            (Some(OperationPhase::None), "not started"),
            (Some(OperationPhase::Executing), "Executing"),
            (Some(OperationPhase::Failed), "Failed"),
        ] {
            let o = Observed {
                run_after: Some((OperationKind::DataMigrate, "copy".into(), phase)),
                ..observed()
            };
            let w = waits(&o);
            assert_eq!(w.reason, "WaitingForRunAfter");
            assert!(
                w.message.contains("DataMigrate copy") && w.message.contains(word),
                "{}",
                w.message
            );
        }
        let o = Observed {
            run_after: Some((
                OperationKind::DataMigrate,
                "copy".into(),
                Some(OperationPhase::Complete),
            )),
            ..observed()
        };
        assert_eq!(next_step(&o), Step::LockAndLaunch);
    }

    #[test]
    fn the_operation_whose_placement_is_followed_must_have_completed() {
        for (phase, word) in [
            (None, "does not exist"),
            (Some(OperationPhase::Pending), "Pending"),
            (Some(OperationPhase::Failed), "Failed"),
        ] {
            let o = Observed {
                run_after: Some((
                    OperationKind::DataLoad,
                    "warm".into(),
                    Some(OperationPhase::Complete),
                )),
                depend_on: Some((OperationKind::DataProcess, "convert".into(), phase)),
                ..observed()
            };
            let w = waits(&o);
            assert_eq!(w.reason, "WaitingForDependOn");
            assert!(
                w.message.contains("DataProcess convert") && w.message.contains(word),
                "{}",
                w.message
            );
        }
        let o = Observed {
            depend_on: Some((
                OperationKind::DataProcess,
                "convert".into(),
                Some(OperationPhase::Complete),
            )),
            ..observed()
        };
        assert_eq!(next_step(&o), Step::LockAndLaunch);
        // runAfter is waited for first.
        let o = Observed {
            run_after: Some((OperationKind::DataLoad, "warm".into(), None)),
            depend_on: Some((OperationKind::DataLoad, "warm".into(), None)),
            ..observed()
        };
        assert_eq!(waits(&o).reason, "WaitingForRunAfter");
    }

    #[test]
    fn a_cron_operation_launches_without_the_lock_and_is_watched() {
        let mut o = Observed {
            policy: OperationPolicy::Cron,
            ..observed()
        };
        o.dataset.as_mut().unwrap().holders = vec!["other".into()];
        assert_eq!(next_step(&o), Step::Launch);
        o.cron_job = true;
        o.phase = OperationPhase::Executing;
        assert_eq!(next_step(&o), Step::Watch);
    }

    #[test]
    fn the_job_decides_the_end() {
        let mut o = Observed {
            phase: OperationPhase::Executing,
            job: Some(JobView::default()),
            ..observed()
        };
        assert_eq!(next_step(&o), Step::Watch);
        o.job = Some(JobView {
            complete: true,
            failed: None,
        });
        assert_eq!(next_step(&o), Step::Finish(None));
        o.job = Some(JobView {
            complete: false,
            failed: Some(
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into(),
            ),
        });
        assert_eq!(
            next_step(&o),
            Step::Finish(Some((
                "JobFailed",
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into()
            )))
        );
    }

    #[test]
    fn an_invalid_spec_fails_the_operation() {
        let o = Observed {
            invalid: Some("spec.schedule: policy Cron needs a schedule".into()),
            ..observed()
        };
        assert_eq!(
            next_step(&o),
            Step::Finish(Some((
                "InvalidSpec",
                "spec.schedule: policy Cron needs a schedule".into()
            )))
        );
    }

    #[test]
    fn an_ended_operation_releases_its_lock_then_expires() {
        let mut o = Observed {
            phase: OperationPhase::Complete,
            ..observed()
        };
        o.dataset.as_mut().unwrap().holders = vec!["warm".into()];
        assert_eq!(next_step(&o), Step::ReleaseLock);
        o.dataset.as_mut().unwrap().holders.clear();
        assert_eq!(next_step(&o), Step::Nothing);
        o.ttl_expired = true;
        assert_eq!(next_step(&o), Step::Expire);
        o.phase = OperationPhase::Failed;
        assert_eq!(next_step(&o), Step::Expire);
    }

    #[test]
    fn deletion_cleans_up_while_the_finalizer_is_there() {
        let o = Observed {
            deleting: true,
            job: Some(JobView::default()),
            ..observed()
        };
        assert_eq!(next_step(&o), Step::Cleanup);
        let o = Observed {
            deleting: true,
            has_finalizer: false,
            ..observed()
        };
        assert_eq!(next_step(&o), Step::Nothing);
    }
}
