package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/validation"
)

// capabilitiesTTL: how long the cluster's version and API list (what charts see as
// `.Capabilities`) are trusted before being read again. A kind that appears later is also
// picked up at once when an object of it fails to map ("no matches for kind").
const capabilitiesTTL = 5 * time.Minute

// cluster is the one connection of the process: a REST config, and a generation of what is
// learnt from the API server (discovery, REST mapper, OpenAPI schemas, capabilities) shared by
// every request until it is invalidated.
type cluster struct {
	config *rest.Config
	loader clientcmd.ClientConfig
	// clientset: the release records (ConfigMaps); one HTTP transport for the process.
	clientset *kubernetes.Clientset
	logger    *slog.Logger

	mu  sync.Mutex
	gen *generation
}

// generation is what one round of discovery learnt; read-only once built, so requests in
// flight keep theirs when a new one replaces it.
type generation struct {
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.ResettableRESTMapper
	// factory keeps kubectl's OpenAPI schemas (validation) for its lifetime.
	factory cmdutil.Factory
	getter  *getter

	capsMu sync.Mutex
	caps   *common.Capabilities
	capsAt time.Time
}

func newCluster(logger *slog.Logger, userAgent string) (*cluster, error) {
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{})
	config, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster): %w", err)
	}
	config.UserAgent = userAgent
	// Like the controller's own client: no client-side rate limit (one process serves every
	// release now; the API server's priority and fairness does the limiting).
	config.QPS = -1
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &cluster{config: config, loader: loader, clientset: clientset, logger: logger}, nil
}

// current returns the live generation, building one when there is none.
func (c *cluster) current() (*generation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != nil {
		return c.gen, nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.config)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(dc)
	g := &generation{discovery: cached, mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached)}
	g.getter = &getter{cluster: c, gen: g}
	g.factory = &validatingFactory{Factory: cmdutil.NewFactory(g.getter), validators: map[string]validation.Schema{}}
	c.gen = g
	return g, nil
}

// invalidate drops the generation `stale` (if it is still the live one): the next request
// discovers again.
func (c *cluster) invalidate(stale *generation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == stale {
		c.gen = nil
	}
}

// capabilities: the cluster's version and API versions, read once per TTL.
func (g *generation) capabilities() (*common.Capabilities, error) {
	g.capsMu.Lock()
	defer g.capsMu.Unlock()
	if g.caps != nil && time.Since(g.capsAt) < capabilitiesTTL {
		return g.caps, nil
	}
	g.discovery.Invalidate()
	version, err := g.discovery.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("could not get server version from Kubernetes: %w", err)
	}
	apiVersions, err := action.GetVersionSet(g.discovery)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("could not get apiVersions from Kubernetes: %w", err)
	}
	g.caps = &common.Capabilities{
		APIVersions: apiVersions,
		KubeVersion: common.KubeVersion{
			Version: version.GitVersion,
			Major:   version.Major,
			Minor:   version.Minor,
		},
		HelmVersion: common.DefaultCapabilities.HelmVersion,
	}
	g.capsAt = time.Now()
	return g.caps, nil
}

// configuration is helm's action configuration for one request in `namespace`: the shared
// clients, releases kept in ConfigMaps (the controller's HELM_DRIVER).
func (c *cluster) configuration(g *generation, namespace string) (*action.Configuration, error) {
	caps, err := g.capabilities()
	if err != nil {
		return nil, err
	}
	kc := &kubeClient{Client: &kube.Client{Factory: g.factory, Namespace: namespace}}
	kc.SetLogger(c.logger.Handler())
	records := driver.NewConfigMaps(c.clientset.CoreV1().ConfigMaps(namespace))
	records.SetLogger(c.logger.Handler())
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(c.logger.Handler()))
	cfg.RESTClientGetter = g.getter
	cfg.KubeClient = kc
	cfg.Releases = storage.Init(records)
	cfg.Capabilities = caps
	return cfg, nil
}

// kubeClient is helm's client without the reachability probe (a GET /version before every
// action): the process talks to the API server all the time, and an unreachable one fails
// the action's first real request with the reason.
type kubeClient struct {
	*kube.Client
}

func (*kubeClient) IsReachable() error { return nil }

// getter hands helm and kubectl the generation's shared clients.
type getter struct {
	cluster *cluster
	gen     *generation
}

func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cluster.config), nil }

func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.gen.discovery, nil
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) { return g.gen.mapper, nil }

func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return g.cluster.loader }

// isNoMatch: an object's kind is unknown to the cached discovery (a CRD installed since).
func isNoMatch(err error) bool {
	if err == nil {
		return false
	}
	if meta.IsNoMatchError(err) {
		return true
	}
	// Helm and kubectl's builder aggregate and re-wrap errors as text.
	var agg interface{ Errors() []error }
	if errors.As(err, &agg) {
		for _, e := range agg.Errors() {
			if isNoMatch(e) {
				return true
			}
		}
	}
	return strings.Contains(err.Error(), "no matches for kind")
}

// validatingFactory is kubectl's factory keeping one validator per directive for the
// generation's lifetime. kubectl's own builds a new validator, with an empty cache of which
// kinds the server validates, on every call (every Build of a release's objects), and filling
// that cache parses the group's whole OpenAPI v3 document again: 59% of the engine's CPU in
// the 100-pair benchmark before this (docs/benchmarks.md). The cache is safe for concurrent
// use (kubectl's cachingVerifier locks).
type validatingFactory struct {
	cmdutil.Factory
	mu         sync.Mutex
	validators map[string]validation.Schema
}

func (f *validatingFactory) Validator(directive string) (validation.Schema, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.validators[directive]; ok {
		return v, nil
	}
	v, err := f.Factory.Validator(directive)
	if err != nil {
		return nil, err
	}
	f.validators[directive] = v
	return v, nil
}
