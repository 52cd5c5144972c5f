package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	ci "helm.sh/helm/v4/pkg/chart"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	"helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// timeout of one Kubernetes operation inside an action (helm's --timeout default); with no
// --wait it only bounds hooks.
const timeout = 300 * time.Second

// maxHistory: release records kept per release (helm's HELM_MAX_HISTORY default).
const maxHistory = 10

// engine serves requests.
type engine struct {
	cluster *cluster
	charts  *charts
}

// serve runs one request. A request whose objects name a kind the cached discovery does not
// know is run once more after discovering again: that error comes before anything is applied.
func (e *engine) serve(ctx context.Context, r *Request) Response {
	if err := r.validate(); err != nil {
		return failed(r.ID, KindBadRequest, err)
	}
	if r.Op == OpTemplate {
		result, err := e.template(r)
		return e.result(r, result, err)
	}
	for attempt := 0; ; attempt++ {
		g, err := e.cluster.current()
		if err != nil {
			return failed(r.ID, KindFailed, err)
		}
		result, err := e.run(ctx, g, r)
		if isNoMatch(err) {
			e.cluster.invalidate(g)
			if attempt == 0 {
				continue
			}
		}
		return e.result(r, result, err)
	}
}

func (e *engine) result(r *Request, result *Result, err error) Response {
	if err != nil {
		return failed(r.ID, KindFailed, err)
	}
	return Response{ID: r.ID, Result: result}
}

func (e *engine) run(ctx context.Context, g *generation, r *Request) (*Result, error) {
	cfg, err := e.cluster.configuration(g, r.Namespace)
	if err != nil {
		return nil, err
	}
	switch r.Op {
	case OpUpgrade:
		return e.upgrade(ctx, cfg, r)
	case OpStatus:
		return status(cfg, r)
	case OpRollback:
		return rollback(cfg, r)
	case OpUninstall:
		return uninstall(cfg, r)
	}
	return nil, fmt.Errorf("unknown op %q", r.Op)
}

// inputs: the request's chart (a copy of the cached parse) and values, read as
// `helm --values -` reads them.
func (e *engine) inputs(r *Request) (*chart.Chart, map[string]interface{}, error) {
	ch, err := e.charts.get(r.Chart)
	if err != nil {
		return nil, nil, err
	}
	values := map[string]interface{}{}
	if len(r.Values) > 0 {
		values, err = loader.LoadValues(bytes.NewReader(r.Values))
		if err != nil {
			return nil, nil, fmt.Errorf("failed to parse values: %w", err)
		}
	}
	ac, err := ci.NewAccessor(ch)
	if err != nil {
		return nil, nil, err
	}
	if req := ac.MetaDependencies(); len(req) > 0 {
		if err := action.CheckDependencies(ch, req); err != nil {
			return nil, nil, fmt.Errorf("an error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: %w", err)
		}
	}
	return ch, values, nil
}

// upgrade is `helm upgrade [--install] RELEASE CHART --namespace NS --values - --labels L
// --force-conflicts`: server-side apply (on install; on upgrade as the release was made),
// conflicts forced, no --wait, 10 records kept.
func (e *engine) upgrade(ctx context.Context, cfg *action.Configuration, r *Request) (*Result, error) {
	ch, values, err := e.inputs(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if r.Install {
		history := action.NewHistory(cfg)
		history.Max = 1
		versions, err := history.Run(r.Release)
		if errors.Is(err, driver.ErrReleaseNotFound) || isUninstalled(versions) {
			install := action.NewInstall(cfg)
			install.ReleaseName = r.Release
			install.Namespace = r.Namespace
			install.Labels = r.Labels
			install.ForceConflicts = true
			install.ServerSideApply = true
			install.WaitStrategy = kube.HookOnlyStrategy
			install.Timeout = timeout
			install.Replace = isUninstalled(versions)
			rel, err := install.RunWithContext(ctx, ch, values)
			if err != nil {
				return nil, fmt.Errorf("INSTALLATION FAILED: %w", err)
			}
			return released(rel, true)
		} else if err != nil {
			return nil, err
		}
	}
	upgrade := action.NewUpgrade(cfg)
	upgrade.Install = r.Install
	upgrade.Namespace = r.Namespace
	upgrade.Labels = r.Labels
	upgrade.ForceConflicts = true
	upgrade.ServerSideApply = "auto"
	upgrade.WaitStrategy = kube.HookOnlyStrategy
	upgrade.Timeout = timeout
	upgrade.MaxHistory = maxHistory
	rel, err := upgrade.RunWithContext(ctx, r.Release, ch, values)
	if err != nil {
		return nil, fmt.Errorf("UPGRADE FAILED: %w", err)
	}
	return released(rel, true)
}

// template is `helm template RELEASE CHART --namespace NS --values - --include-crds
// --skip-tests`: rendered locally with helm's default capabilities, hooks included.
func (e *engine) template(r *Request) (*Result, error) {
	ch, values, err := e.inputs(r)
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(action.NewConfiguration(action.ConfigurationSetLogger(e.cluster.logger.Handler())))
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = r.Release
	install.Namespace = r.Namespace
	install.Replace = true
	install.IncludeCRDs = true
	install.WaitStrategy = kube.HookOnlyStrategy
	reli, err := install.Run(ch, values)
	if err != nil {
		return nil, err
	}
	rel, err := v1(reli)
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	fmt.Fprintln(&out, strings.TrimSpace(rel.Manifest))
	for _, h := range rel.Hooks {
		if isTestHook(h) {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return &Result{Manifest: out.String()}, nil
}

// status is `helm status RELEASE`; no release is a result, not an error.
func status(cfg *action.Configuration, r *Request) (*Result, error) {
	reli, err := action.NewStatus(cfg).Run(r.Release)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return &Result{}, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := released(reli, false)
	return s, err
}

// rollback is `helm rollback RELEASE` (to the previous revision).
func rollback(cfg *action.Configuration, r *Request) (*Result, error) {
	rb := action.NewRollback(cfg)
	rb.WaitStrategy = kube.HookOnlyStrategy
	rb.Timeout = timeout
	rb.MaxHistory = maxHistory
	if err := rb.Run(r.Release); err != nil {
		return nil, err
	}
	return &Result{}, nil
}

// uninstall is `helm uninstall RELEASE --wait=false`; no release is `uninstalled: false`.
func uninstall(cfg *action.Configuration, r *Request) (*Result, error) {
	u := action.NewUninstall(cfg)
	u.WaitStrategy = kube.HookOnlyStrategy
	u.DeletionPropagation = "background"
	u.Timeout = timeout
	if _, err := u.Run(r.Release); err != nil {
		if errors.Is(err, driver.ErrReleaseNotFound) {
			return &Result{Uninstalled: false}, nil
		}
		return nil, err
	}
	return &Result{Uninstalled: true}, nil
}

func v1(reli ri.Releaser) (*release.Release, error) {
	switch r := reli.(type) {
	case *release.Release:
		return r, nil
	case release.Release:
		return &r, nil
	}
	return nil, fmt.Errorf("unsupported release type %T", reli)
}

func released(reli ri.Releaser, withManifest bool) (*Result, error) {
	rel, err := v1(reli)
	if err != nil {
		return nil, err
	}
	s := &ReleaseStatus{Revision: rel.Version}
	if rel.Info != nil {
		s.Status = rel.Info.Status.String()
	}
	if withManifest {
		s.Manifest = rel.Manifest
	}
	return &Result{Release: s}, nil
}

func isUninstalled(versions []ri.Releaser) bool {
	if len(versions) == 0 {
		return false
	}
	rel, err := v1(versions[len(versions)-1])
	return err == nil && rel.Info != nil && rel.Info.Status == common.StatusUninstalled
}

func isTestHook(h *release.Hook) bool {
	return slices.Contains(h.Events, release.HookTest)
}
