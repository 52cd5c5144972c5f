package main

import (
	"encoding/json"
	"fmt"
)

// ProtocolVersion is the protocol spoken on stdin/stdout: one JSON object per line each way.
// The engine's first line is a hello naming it; then every request gets exactly one response
// with the request's id, in any order. A new field is an additive change of the same version;
// a changed meaning is a new version, which the controller refuses at start-up.
const ProtocolVersion = 1

// Ops the engine serves.
const (
	OpUpgrade   = "upgrade"
	OpTemplate  = "template"
	OpStatus    = "status"
	OpRollback  = "rollback"
	OpUninstall = "uninstall"
)

// Error kinds.
const (
	// KindBadRequest: the request cannot be served as sent (a controller bug).
	KindBadRequest = "badRequest"
	// KindFailed: helm failed; the message is helm's.
	KindFailed = "failed"
)

// Hello is the engine's first line.
type Hello struct {
	Hello HelloBody `json:"hello"`
}

// HelloBody names the engine.
type HelloBody struct {
	Protocol      int    `json:"protocol"`
	Helm          string `json:"helm"`
	MaxConcurrent int    `json:"maxConcurrent"`
	Pid           int    `json:"pid"`
}

// Request is one call. Values travel in the request and are never written to disk.
type Request struct {
	ID        uint64 `json:"id"`
	Op        string `json:"op"`
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Chart is the chart archive (.tgz), base64 in JSON; upgrade and template only.
	Chart []byte `json:"chart,omitempty"`
	// Values are the chart values, read as `helm --values` reads a file.
	Values json.RawMessage `json:"values,omitempty"`
	// Install: `upgrade --install` (else `upgrade` of an existing release).
	Install bool `json:"install,omitempty"`
	// Labels are put on the release records (`--labels`).
	Labels map[string]string `json:"labels,omitempty"`
}

// Response answers the request of the same id: Result, or Error.
type Response struct {
	ID     uint64     `json:"id"`
	Result *Result    `json:"result,omitempty"`
	Error  *ErrorBody `json:"error,omitempty"`
}

// Result of an op: Release for upgrade and status (nil when status finds none), Manifest for
// template, Uninstalled for uninstall, nothing for rollback.
type Result struct {
	Release     *ReleaseStatus `json:"release,omitempty"`
	Manifest    string         `json:"manifest,omitempty"`
	Uninstalled bool           `json:"uninstalled,omitempty"`
}

// ReleaseStatus is what the controller reads of a release.
type ReleaseStatus struct {
	Status   string `json:"status"`
	Revision int    `json:"revision"`
	Manifest string `json:"manifest,omitempty"`
}

// ErrorBody is a failed op.
type ErrorBody struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// validate checks what every op needs before any work.
func (r *Request) validate() error {
	switch r.Op {
	case OpUpgrade, OpTemplate:
		if len(r.Chart) == 0 {
			return fmt.Errorf("%s of %s needs a chart", r.Op, r.Release)
		}
	case OpStatus, OpRollback, OpUninstall:
	default:
		return fmt.Errorf("unknown op %q (this engine speaks protocol %d: %s, %s, %s, %s, %s)",
			r.Op, ProtocolVersion, OpUpgrade, OpTemplate, OpStatus, OpRollback, OpUninstall)
	}
	if r.Namespace == "" || r.Release == "" {
		return fmt.Errorf("%s needs a namespace and a release", r.Op)
	}
	return nil
}

func failed(id uint64, kind string, err error) Response {
	return Response{ID: id, Error: &ErrorBody{Kind: kind, Message: err.Error()}}
}
