//! What to do next for a runtime: pure functions of what the controller observed. The runtime
//! controller observes (from watch caches), asks [`next_step`], does the step, and asks again.
//!
//! The order follows Fluid's runtime controller, with the guards that keep a runtime from
//! touching what is not its own:
//! - deletion: our volume first (once no pod uses it), then the engine (only a release this
//!   runtime installed), then the Dataset's claim (only our entry), then the finalizer;
//! - creation: wait for a Dataset of the same name, refuse one bound to another runtime, take
//!   the finalizer *before* claiming (a claim must never outlive the runtime) with the
//!   ownerReference and label in the same write, claim once the Dataset controller has given
//!   the Dataset its phase (so the two controllers' first writes do not race), and run
//!   validate → setup → volume → bind → sync.

/// Who an object of the runtime's conventional name belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Ownership {
    /// There is no such object.
    #[default]
    Absent,
    /// It is this runtime's (or this Dataset's) own.
    Ours,
    /// It exists and belongs to someone else: never touched. The text says whose.
    Foreign(String),
}

impl Ownership {
    /// Whether it is ours.
    pub fn is_ours(&self) -> bool {
        matches!(self, Ownership::Ours)
    }
}

/// The runtime as the lifecycle sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeView {
    /// Being deleted.
    pub deleting: bool,
    /// Carries the controller's finalizer.
    pub has_finalizer: bool,
    /// Has an ownerReference to the Dataset (by uid) and the dataset-id label.
    pub adopted: bool,
}

/// One entry of the Dataset's `status.runtimes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    /// The runtime's name.
    pub name: String,
    /// The runtime's namespace (empty when the writer left it out).
    pub namespace: String,
    /// The engine (`type`), e.g. `juicefs`.
    pub engine: String,
}

/// The Dataset of the same name, as the lifecycle sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatasetView {
    /// Being deleted.
    pub deleting: bool,
    /// The runtimes in `status.runtimes`.
    pub claims: Vec<Claim>,
    /// Has a `Ready` condition (Fluid's "setup done"), whatever its status.
    pub setup_done: bool,
    /// The Dataset controller has taken it in (its finalizer), or it has a phase: it may be
    /// claimed (the claim writes `NotBound` when there is no phase yet).
    pub initialized: bool,
}

/// The runtime's volume: the PV `<namespace>-<name>` and the PVC `<name>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeView {
    /// The PersistentVolume.
    pub pv: Ownership,
    /// The PersistentVolumeClaim.
    pub pvc: Ownership,
}

/// Everything [`next_step`] decides from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The runtime's name.
    pub name: String,
    /// The runtime's namespace.
    pub namespace: String,
    /// The engine type written in `status.runtimes` (the plugin's name, unique per host).
    pub engine: String,
    /// The runtime.
    pub runtime: RuntimeView,
    /// The Dataset of the same name, if any.
    pub dataset: Option<DatasetView>,
    /// The volume.
    pub volume: VolumeView,
    /// The Helm release of the runtime's name.
    pub release: Ownership,
}

/// The next thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing left: the runtime is gone or going without our finalizer.
    Nothing,
    /// Deletion: delete our PVC and PV (waits while a pod uses the claim).
    DeleteVolume,
    /// Deletion: shut the engine down (when the release is ours), release our claim on the
    /// Dataset, remove the finalizer.
    Teardown {
        /// Whether there is a release of ours to uninstall.
        uninstall: bool,
    },
    /// No Dataset of the same name (or it is going away): say so and wait for one.
    WaitForDataset,
    /// The Dataset is bound to another runtime: refuse, with a condition naming it.
    Refuse {
        /// `type/name` of the runtime the Dataset is bound to.
        bound_to: String,
    },
    /// Adopt the runtime in one write: the controller's finalizer (before anything that must
    /// be undone), an ownerReference to the Dataset and the dataset-id label.
    Adopt,
    /// The Dataset has no phase yet: its controller's first writes are on the way, and a
    /// claim written now would conflict with them. Nothing is written; its change wakes us.
    WaitForDatasetInit,
    /// Claim the Dataset: this runtime in `status.runtimes`.
    Claim,
    /// Validate, set up if the Dataset is not set up yet, create the volume if missing, sync.
    Run {
        /// Run Fluid's Setup sequence.
        setup: bool,
    },
}

impl Step {
    /// Whether the step changes the runtime or Dataset such that the decision must be made
    /// again right away (the alternative being: the step ends this pass).
    pub fn continues(&self) -> bool {
        matches!(self, Step::Claim | Step::Adopt)
    }
}

impl Observed {
    fn is_us(&self, c: &Claim) -> bool {
        c.name == self.name
            && c.engine == self.engine
            && (c.namespace.is_empty() || c.namespace == self.namespace)
    }

    /// Whether the Dataset's `status.runtimes` holds this runtime.
    pub fn claimed(&self) -> bool {
        self.dataset
            .as_ref()
            .is_some_and(|d| d.claims.iter().any(|c| self.is_us(c)))
    }
}

/// Decides the next step.
pub fn next_step(o: &Observed) -> Step {
    if o.runtime.deleting {
        if !o.runtime.has_finalizer {
            return Step::Nothing;
        }
        if o.volume.pv.is_ours() || o.volume.pvc.is_ours() {
            return Step::DeleteVolume;
        }
        return Step::Teardown {
            uninstall: o.release.is_ours(),
        };
    }
    let Some(dataset) = o.dataset.as_ref().filter(|d| !d.deleting) else {
        return Step::WaitForDataset;
    };
    if let Some(other) = dataset.claims.iter().find(|c| !o.is_us(c)) {
        return Step::Refuse {
            bound_to: format!("{}/{}", other.engine, other.name),
        };
    }
    if !o.runtime.has_finalizer || !o.runtime.adopted {
        return Step::Adopt;
    }
    if !o.claimed() {
        if !dataset.initialized {
            return Step::WaitForDatasetInit;
        }
        return Step::Claim;
    }
    Step::Run {
        setup: !dataset.setup_done,
    }
}

/// The state of a Helm release, from its newest record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseState {
    /// Installed or upgraded successfully.
    Deployed,
    /// The last install or upgrade failed.
    Failed,
    /// An operation started and did not finish (`pending-install`, `pending-upgrade`,
    /// `pending-rollback`): its helm process is gone when no operation of ours is running.
    Pending(String),
    /// Anything else helm writes (`superseded` as newest, `uninstalling`, `unknown`).
    Other(String),
}

impl ReleaseState {
    /// Reads helm's status word.
    pub fn from_helm(status: &str) -> ReleaseState {
        match status {
            "deployed" => ReleaseState::Deployed,
            "failed" => ReleaseState::Failed,
            s if s.starts_with("pending-") => ReleaseState::Pending(s.to_owned()),
            s => ReleaseState::Other(s.to_owned()),
        }
    }
}

/// How a release an interrupted operation left behind is made usable again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// Nothing was ever deployed, or an uninstall was interrupted: uninstall, then install.
    Uninstall,
    /// An upgrade or rollback was interrupted: roll back to the last revision, then upgrade.
    Rollback,
}

/// What setup does with the release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseAction {
    /// None exists, or the last install or upgrade failed: `helm upgrade --install` (helm
    /// replaces a failed revision itself).
    Install,
    /// Ours and deployed; upgrade only if the recorded values differ (or are missing).
    Keep,
    /// An operation started this many seconds ago and may still be running (a helm process
    /// of a controller that was replaced): look again later.
    Wait(u64),
    /// Ours, but an interrupted operation left it pending: repair, then install.
    Repair {
        /// Helm's status, for the message.
        status: String,
        /// How.
        how: Repair,
    },
    /// Someone else's release of the same name: refuse, never touch it.
    Refuse(String),
}

/// How long a pending operation is given before it is taken as interrupted: installs and
/// upgrades are not waited on (no `--wait`), so a live one finishes within seconds.
pub const PENDING_GRACE_SECS: u64 = 60;

/// A release as setup sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseView {
    /// Who it belongs to.
    pub ownership: Ownership,
    /// Its newest record's state (meaningless when absent).
    pub state: ReleaseState,
    /// Seconds since its newest record was written.
    pub age_secs: u64,
}

/// Decides what to do with the release before the engine can be used.
pub fn release_action(r: &ReleaseView) -> ReleaseAction {
    match &r.ownership {
        Ownership::Absent => ReleaseAction::Install,
        Ownership::Foreign(whose) => ReleaseAction::Refuse(whose.clone()),
        Ownership::Ours => match &r.state {
            ReleaseState::Deployed => ReleaseAction::Keep,
            ReleaseState::Failed => ReleaseAction::Install,
            ReleaseState::Pending(_) if r.age_secs < PENDING_GRACE_SECS => {
                ReleaseAction::Wait(PENDING_GRACE_SECS - r.age_secs)
            }
            ReleaseState::Pending(s) => ReleaseAction::Repair {
                status: s.clone(),
                how: if s == "pending-install" {
                    Repair::Uninstall
                } else {
                    Repair::Rollback
                },
            },
            ReleaseState::Other(s) if s == "uninstalling" => ReleaseAction::Repair {
                status: s.clone(),
                how: Repair::Uninstall,
            },
            ReleaseState::Other(_) => ReleaseAction::Install,
        },
    }
}

#[cfg(test)]
mod tests;
