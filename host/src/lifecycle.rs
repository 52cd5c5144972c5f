//! What to do next for a runtime: a pure function of what the controller observed. The
//! runtime controller observes, asks [`next_step`], does the step, and asks again.
//!
//! The order follows Fluid's runtime controller: on deletion, the volume goes first, then the
//! engine, then the Dataset is released and the finalizer removed; otherwise the runtime waits
//! for a Dataset of the same name, refuses one bound to another runtime, claims it, takes its
//! finalizer, and then runs validate → setup (until the Dataset is set up) → volume → sync.

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

/// The Dataset of the same name, as the lifecycle sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatasetView {
    /// Being deleted.
    pub deleting: bool,
    /// The runtimes in `status.runtimes`, as `(name, type)`.
    pub bound: Vec<(String, String)>,
    /// Has a `Ready` condition (Fluid's "setup done"), whatever its status.
    pub setup_done: bool,
}

/// The runtime's volume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VolumeView {
    /// The PersistentVolume `<namespace>-<name>` exists.
    pub pv: bool,
    /// The PersistentVolumeClaim `<name>` exists.
    pub pvc: bool,
}

/// Everything [`next_step`] decides from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The runtime's name.
    pub name: String,
    /// The engine type written in `status.runtimes` (the plugin's name).
    pub engine: String,
    /// The runtime.
    pub runtime: RuntimeView,
    /// The Dataset of the same name, if any.
    pub dataset: Option<DatasetView>,
    /// The volume.
    pub volume: VolumeView,
}

/// The next thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing left: the runtime is gone or going without our finalizer.
    Nothing,
    /// Deletion: delete the PVC and PV (waits while a pod uses the claim).
    DeleteVolume,
    /// Deletion: shut the engine down, release the Dataset, remove the finalizer.
    Teardown,
    /// No Dataset of the same name (or it is going away): say so and wait for one.
    WaitForDataset,
    /// The Dataset is bound to another runtime: refuse, with a condition naming it.
    Refuse {
        /// `type/name` of the runtime the Dataset is bound to.
        bound_to: String,
    },
    /// Claim the Dataset: ownerReference, dataset-id label, entry in `status.runtimes`.
    Adopt,
    /// Add the controller's finalizer.
    AddFinalizer,
    /// Validate, set up if the Dataset is not set up yet, create the volume if missing, sync.
    Run {
        /// Run Fluid's Setup sequence.
        setup: bool,
        /// Create the PV and PVC.
        create_volume: bool,
    },
}

impl Step {
    /// Whether the step changes the runtime or Dataset such that the decision must be made
    /// again right away (the alternative being: the step ends this reconcile).
    pub fn continues(&self) -> bool {
        matches!(self, Step::Adopt | Step::AddFinalizer)
    }
}

/// Decides the next step.
pub fn next_step(o: &Observed) -> Step {
    if o.runtime.deleting {
        if !o.runtime.has_finalizer {
            return Step::Nothing;
        }
        if o.volume.pv || o.volume.pvc {
            return Step::DeleteVolume;
        }
        return Step::Teardown;
    }
    let Some(dataset) = o.dataset.as_ref().filter(|d| !d.deleting) else {
        return Step::WaitForDataset;
    };
    if let Some((name, kind)) = dataset
        .bound
        .iter()
        .find(|(name, kind)| *name != o.name || *kind != o.engine)
    {
        return Step::Refuse {
            bound_to: format!("{kind}/{name}"),
        };
    }
    let claimed = dataset
        .bound
        .iter()
        .any(|(n, k)| *n == o.name && *k == o.engine);
    if !o.runtime.adopted || !claimed {
        return Step::Adopt;
    }
    if !o.runtime.has_finalizer {
        return Step::AddFinalizer;
    }
    Step::Run {
        setup: !dataset.setup_done,
        create_volume: !(o.volume.pv && o.volume.pvc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Observed {
        Observed {
            name: "demo".into(),
            engine: "juicefs".into(),
            runtime: RuntimeView {
                deleting: false,
                has_finalizer: true,
                adopted: true,
            },
            dataset: Some(DatasetView {
                deleting: false,
                bound: vec![("demo".into(), "juicefs".into())],
                setup_done: true,
            }),
            volume: VolumeView {
                pv: true,
                pvc: true,
            },
        }
    }

    #[test]
    fn a_new_runtime_waits_for_its_dataset() {
        let o = Observed {
            dataset: None,
            ..base()
        };
        assert_eq!(next_step(&o), Step::WaitForDataset);
        let mut o = base();
        o.dataset.as_mut().unwrap().deleting = true;
        assert_eq!(next_step(&o), Step::WaitForDataset);
    }

    #[test]
    fn a_dataset_bound_elsewhere_is_refused_naming_the_other_runtime() {
        let mut o = base();
        o.dataset.as_mut().unwrap().bound = vec![("demo".into(), "alluxio".into())];
        assert_eq!(
            next_step(&o),
            Step::Refuse {
                bound_to: "alluxio/demo".into()
            }
        );
        // Even before our runtime took anything.
        o.runtime = RuntimeView::default();
        assert_eq!(
            next_step(&o),
            Step::Refuse {
                bound_to: "alluxio/demo".into()
            }
        );
    }

    #[test]
    fn binding_goes_claim_then_finalizer_then_setup() {
        let mut o = base();
        o.runtime = RuntimeView::default();
        o.dataset = Some(DatasetView::default());
        o.volume = VolumeView::default();
        assert_eq!(next_step(&o), Step::Adopt);
        o.runtime.adopted = true;
        o.dataset.as_mut().unwrap().bound = vec![("demo".into(), "juicefs".into())];
        assert_eq!(next_step(&o), Step::AddFinalizer);
        o.runtime.has_finalizer = true;
        assert_eq!(
            next_step(&o),
            Step::Run {
                setup: true,
                create_volume: true
            }
        );
        o.dataset.as_mut().unwrap().setup_done = true;
        assert_eq!(
            next_step(&o),
            Step::Run {
                setup: false,
                create_volume: true
            }
        );
        o.volume = VolumeView {
            pv: true,
            pvc: false,
        };
        assert_eq!(
            next_step(&o),
            Step::Run {
                setup: false,
                create_volume: true
            }
        );
        o.volume.pvc = true;
        assert_eq!(
            next_step(&o),
            Step::Run {
                setup: false,
                create_volume: false
            }
        );
    }

    #[test]
    fn a_claimed_dataset_without_the_owner_reference_is_adopted_again() {
        let mut o = base();
        o.runtime.adopted = false;
        assert_eq!(next_step(&o), Step::Adopt);
    }

    #[test]
    fn deletion_removes_the_volume_then_tears_down() {
        let mut o = base();
        o.runtime.deleting = true;
        assert_eq!(next_step(&o), Step::DeleteVolume);
        o.volume = VolumeView {
            pv: true,
            pvc: false,
        };
        assert_eq!(next_step(&o), Step::DeleteVolume);
        o.volume = VolumeView::default();
        assert_eq!(next_step(&o), Step::Teardown);
        // The dataset going or gone does not stop the teardown.
        o.dataset = None;
        assert_eq!(next_step(&o), Step::Teardown);
        o.runtime.has_finalizer = false;
        assert_eq!(next_step(&o), Step::Nothing);
    }

    #[test]
    fn only_claiming_steps_continue_within_one_reconcile() {
        assert!(Step::Adopt.continues());
        assert!(
            !Step::DeleteVolume.continues(),
            "volume deletion completes asynchronously"
        );
        assert!(Step::AddFinalizer.continues());
        assert!(!Step::WaitForDataset.continues());
        assert!(!Step::Run {
            setup: true,
            create_volume: true
        }
        .continues());
    }
}
