package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"helm.sh/helm/v4/pkg/chart/loader"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// maxCharts bounds the cache: a controller has one chart per engine plugin, plus the charts
// plugins send with their own helm calls.
const maxCharts = 64

// charts keeps parsed charts by the SHA-256 of their archive. Rendering changes a chart
// (dependencies are enabled or dropped by the values, imported values rewrite its values), so
// each use gets its own copy of what rendering changes.
type charts struct {
	mu     sync.Mutex
	parsed map[[sha256.Size]byte]*chart.Chart
	order  [][sha256.Size]byte // oldest first
}

func newCharts() *charts {
	return &charts{parsed: map[[sha256.Size]byte]*chart.Chart{}}
}

// get returns a copy of the parsed chart of `archive`, parsing it on first use.
func (c *charts) get(archive []byte) (*chart.Chart, error) {
	key := sha256.Sum256(archive)
	c.mu.Lock()
	ch, ok := c.parsed[key]
	c.mu.Unlock()
	if !ok {
		loaded, err := loader.LoadArchive(bytes.NewReader(archive))
		if err != nil {
			return nil, err
		}
		v2, ok := loaded.(*chart.Chart)
		if !ok {
			return nil, errors.New("invalid chart apiVersion: only v1 and v2 charts can be installed")
		}
		if err := installable(v2); err != nil {
			return nil, err
		}
		ch = v2
		c.mu.Lock()
		if _, raced := c.parsed[key]; !raced {
			c.parsed[key] = ch
			c.order = append(c.order, key)
			if len(c.order) > maxCharts {
				delete(c.parsed, c.order[0])
				c.order = c.order[1:]
			}
		}
		c.mu.Unlock()
	}
	return cloneChart(ch), nil
}

func (c *charts) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.parsed)
}

// installable refuses library charts, as `helm install` does.
func installable(ch *chart.Chart) error {
	if ch.Metadata == nil {
		return errors.New("chart has no metadata")
	}
	switch ch.Metadata.Type {
	case "", "application":
		return nil
	}
	return fmt.Errorf("%s charts are not installable", ch.Metadata.Type)
}

// cloneChart copies what rendering changes: the metadata's dependencies (their Enabled flag and
// import values), the values, and the tree of subcharts. Files and templates are only read,
// so they are shared.
func cloneChart(c *chart.Chart) *chart.Chart {
	cp := *c
	if c.Metadata != nil {
		m := *c.Metadata
		m.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
		for i, d := range c.Metadata.Dependencies {
			dc := *d
			m.Dependencies[i] = &dc
		}
		cp.Metadata = &m
	}
	if c.Values != nil {
		cp.Values = copyValue(c.Values).(map[string]interface{})
	}
	subs := c.Dependencies()
	copies := make([]*chart.Chart, len(subs))
	for i, s := range subs {
		copies[i] = cloneChart(s)
	}
	cp.SetDependencies(copies...)
	return &cp
}

// copyValue deep-copies a value parsed from YAML (maps, lists, scalars).
func copyValue(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			m[k] = copyValue(x)
		}
		return m
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, x := range t {
			l[i] = copyValue(x)
		}
		return l
	default:
		return v
	}
}
