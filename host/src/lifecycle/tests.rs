use super::*;

fn claim(name: &str, engine: &str) -> Claim {
    Claim {
        name: name.into(),
        namespace: "team".into(),
        engine: engine.into(),
    }
}

fn base() -> Observed {
    Observed {
        name: "demo".into(),
        namespace: "team".into(),
        engine: "juicefs".into(),
        runtime: RuntimeView {
            deleting: false,
            has_finalizer: true,
            adopted: true,
        },
        dataset: Some(DatasetView {
            deleting: false,
            claims: vec![claim("demo", "juicefs")],
            setup_done: true,
            initialized: true,
        }),
        volume: VolumeView {
            pv: Ownership::Ours,
            pvc: Ownership::Ours,
        },
        release: Ownership::Ours,
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
    o.dataset.as_mut().unwrap().claims = vec![claim("demo", "alluxio")];
    let refused = Step::Refuse {
        bound_to: "alluxio/demo".into(),
    };
    assert_eq!(next_step(&o), refused);
    // Even before our runtime took anything: no finalizer is added to a refused runtime.
    o.runtime = RuntimeView::default();
    assert_eq!(next_step(&o), refused);
}

#[test]
fn a_claim_of_the_same_name_in_another_namespace_is_not_ours() {
    let mut o = base();
    o.dataset.as_mut().unwrap().claims = vec![Claim {
        namespace: "other".into(),
        ..claim("demo", "juicefs")
    }];
    assert!(matches!(next_step(&o), Step::Refuse { .. }));
    // Fluid always writes the namespace; an entry without one is read as ours.
    o.dataset.as_mut().unwrap().claims = vec![Claim {
        namespace: String::new(),
        ..claim("demo", "juicefs")
    }];
    assert_eq!(next_step(&o), Step::Run { setup: false });
}

#[test]
fn the_finalizer_comes_before_the_claim_so_a_claim_never_outlives_the_runtime() {
    let mut o = base();
    o.runtime = RuntimeView::default();
    o.dataset = Some(DatasetView::default());
    o.volume = VolumeView::default();
    o.release = Ownership::Absent;
    assert_eq!(next_step(&o), Step::Adopt);
    // A finalizer without the adoption (written by an earlier version): adopted in one write.
    o.runtime.has_finalizer = true;
    assert_eq!(next_step(&o), Step::Adopt);
    o.runtime.adopted = true;
    // The Dataset controller has not taken the Dataset in (finalizer) yet: no claim races it.
    assert_eq!(next_step(&o), Step::WaitForDatasetInit);
    o.dataset.as_mut().unwrap().initialized = true;
    assert_eq!(next_step(&o), Step::Claim);
    o.dataset.as_mut().unwrap().claims = vec![claim("demo", "juicefs")];
    assert_eq!(next_step(&o), Step::Run { setup: true });
    o.dataset.as_mut().unwrap().setup_done = true;
    assert_eq!(next_step(&o), Step::Run { setup: false });
}

#[test]
fn deletion_removes_our_volume_then_tears_down() {
    let mut o = base();
    o.runtime.deleting = true;
    assert_eq!(next_step(&o), Step::DeleteVolume);
    o.volume.pvc = Ownership::Absent;
    assert_eq!(next_step(&o), Step::DeleteVolume);
    o.volume = VolumeView::default();
    assert_eq!(next_step(&o), Step::Teardown { uninstall: true });
    // The dataset going or gone does not stop the teardown.
    o.dataset = None;
    assert_eq!(next_step(&o), Step::Teardown { uninstall: true });
    o.runtime.has_finalizer = false;
    assert_eq!(next_step(&o), Step::Nothing);
}

#[test]
fn deletion_never_touches_what_is_not_ours() {
    let mut o = base();
    o.runtime.deleting = true;
    o.volume = VolumeView {
        pv: Ownership::Foreign("claimed by a/b-c".into()),
        pvc: Ownership::Absent,
    };
    o.release = Ownership::Foreign("a user's release".into());
    assert_eq!(next_step(&o), Step::Teardown { uninstall: false });
    o.release = Ownership::Absent;
    assert_eq!(next_step(&o), Step::Teardown { uninstall: false });
}

#[test]
fn only_claiming_steps_continue_within_one_pass() {
    assert!(Step::Claim.continues());
    assert!(Step::Adopt.continues());
    assert!(!Step::WaitForDatasetInit.continues());
    assert!(
        !Step::DeleteVolume.continues(),
        "volume deletion completes asynchronously"
    );
    assert!(!Step::WaitForDataset.continues());
    assert!(!Step::Run { setup: true }.continues());
}

fn release(ownership: Ownership, state: &str, age_secs: u64) -> ReleaseView {
    ReleaseView {
        ownership,
        state: ReleaseState::from_helm(state),
        age_secs,
    }
}

#[test]
fn a_missing_release_is_installed_and_a_deployed_one_kept() {
    assert_eq!(
        release_action(&release(Ownership::Absent, "", 0)),
        ReleaseAction::Install
    );
    assert_eq!(
        release_action(&release(Ownership::Ours, "deployed", 500)),
        ReleaseAction::Keep
    );
}

#[test]
fn someone_elses_release_is_refused_whatever_its_state() {
    for state in ["deployed", "failed", "pending-install"] {
        assert_eq!(
            release_action(&release(Ownership::Foreign("x".into()), state, 500)),
            ReleaseAction::Refuse("x".into())
        );
    }
}

#[test]
fn a_failed_release_of_ours_is_installed_again() {
    assert_eq!(
        release_action(&release(Ownership::Ours, "failed", 1)),
        ReleaseAction::Install
    );
}

#[test]
fn interrupted_operations_are_repaired_once_they_cannot_be_running() {
    assert_eq!(
        release_action(&release(Ownership::Ours, "pending-install", 10)),
        ReleaseAction::Wait(PENDING_GRACE_SECS - 10)
    );
    assert_eq!(
        release_action(&release(
            Ownership::Ours,
            "pending-install",
            PENDING_GRACE_SECS
        )),
        ReleaseAction::Repair {
            status: "pending-install".into(),
            how: Repair::Uninstall
        }
    );
    assert_eq!(
        release_action(&release(Ownership::Ours, "pending-upgrade", 3600)),
        ReleaseAction::Repair {
            status: "pending-upgrade".into(),
            how: Repair::Rollback
        }
    );
    assert_eq!(
        release_action(&release(Ownership::Ours, "uninstalling", 3600)),
        ReleaseAction::Repair {
            status: "uninstalling".into(),
            how: Repair::Uninstall
        }
    );
}
