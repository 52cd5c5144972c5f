package main

import (
	"bytes"
	"context"
	"fmt"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/resource"
)

// freshInstall is `helm install` of a release the controller knows has no record, in the
// fewest requests: the release record is created first (pending-install: the lock, and the
// mark of an interrupted install), then every object with a create, which fails if the object
// exists, then the record says deployed. Helm's install would first GET every object to refuse
// one that is not its own; a create refuses every existing object, so no object of another
// release (nor one left by this release's previous life) is ever taken over. The objects are
// created as helm's client-side apply does (field manager `helm`) and the release says so:
// the first upgrade moves them to server-side apply, as helm does for any such release.
//
// A chart with hooks or CRDs goes through helm's own install (`ok` false, nothing done).
func (e *engine) freshInstall(ctx context.Context, cfg *action.Configuration, r *Request, ch *chart.Chart, values map[string]interface{}) (result *Result, ok bool, err error) {
	if len(ch.CRDObjects()) > 0 {
		return nil, false, nil
	}
	// Rendered as `helm install` renders, with this cluster's version and API versions, on a
	// configuration of its own (a client-only install replaces its clients and storage).
	render := action.NewInstall(action.NewConfiguration(action.ConfigurationSetLogger(e.cluster.logger.Handler())))
	render.DryRunStrategy = action.DryRunClient
	render.ReleaseName = r.Release
	render.Namespace = r.Namespace
	render.Labels = r.Labels
	render.WaitStrategy = kube.HookOnlyStrategy
	render.KubeVersion = &cfg.Capabilities.KubeVersion
	render.APIVersions = cfg.Capabilities.APIVersions
	reli, err := render.RunWithContext(ctx, ch, values)
	if err != nil {
		return nil, true, fmt.Errorf("INSTALLATION FAILED: %w", err)
	}
	rel, err := v1(reli)
	if err != nil {
		return nil, true, err
	}
	if len(rel.Hooks) > 0 {
		return nil, false, nil
	}
	rel.ApplyMethod = string(release.ApplyMethodClientSideApply)
	rel.SetStatus(rcommon.StatusPendingInstall, "Initial install underway")
	resources, err := cfg.KubeClient.Build(bytes.NewBufferString(rel.Manifest), true)
	if err != nil {
		return nil, true, fmt.Errorf("INSTALLATION FAILED: unable to build kubernetes objects from release manifest: %w", err)
	}
	if err := resources.Visit(helmOwned(rel.Name, rel.Namespace)); err != nil {
		return nil, true, fmt.Errorf("INSTALLATION FAILED: %w", err)
	}
	if err := cfg.Releases.Create(rel); err != nil {
		return nil, true, fmt.Errorf("INSTALLATION FAILED: %w", err)
	}
	if _, err := cfg.KubeClient.Create(resources, kube.ClientCreateOptionServerSideApply(false, false)); err != nil {
		rel.SetStatus(rcommon.StatusFailed, fmt.Sprintf("Release %q failed: %s", rel.Name, err.Error()))
		_ = cfg.Releases.Update(rel) // the install's error is the one to report
		return nil, true, fmt.Errorf("INSTALLATION FAILED: %w", err)
	}
	rel.SetStatus(rcommon.StatusDeployed, "Install complete")
	if err := cfg.Releases.Update(rel); err != nil {
		return nil, true, fmt.Errorf("INSTALLATION FAILED: the objects were created but the release could not be recorded: %w", err)
	}
	result, err = released(rel, true)
	return result, true, err
}

// helmOwned marks an object as helm's install does: managed by Helm, of this release.
func helmOwned(name, namespace string) resource.VisitorFunc {
	return func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		a, err := meta.Accessor(info.Object)
		if err != nil {
			return err
		}
		labels := a.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels["app.kubernetes.io/managed-by"] = "Helm"
		a.SetLabels(labels)
		annotations := a.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations["meta.helm.sh/release-name"] = name
		annotations["meta.helm.sh/release-namespace"] = namespace
		a.SetAnnotations(annotations)
		return nil
	}
}
