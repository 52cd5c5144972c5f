// fluid-helm-engine: fluid-rs's resident chart engine. The controller starts it once and
// drives it over stdin/stdout (protocol.go) instead of starting one `helm` process per call:
// one Kubernetes client, discovery, REST mapper and OpenAPI schemas for the process lifetime,
// charts parsed once. Releases are ordinary Helm 4 releases kept in ConfigMaps, so `helm
// list`, `helm status` and `helm rollback` (HELM_DRIVER=configmap) work on them as before.
//
// It writes nothing to disk: values arrive in requests. It exits when its stdin closes (the
// controller stopped), after finishing the requests in flight.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"syscall"

	"helm.sh/helm/v4/pkg/kube"
)

// maxLine bounds one request (a chart and its values).
const maxLine = 64 << 20

func main() {
	concurrency := flag.Int("max-concurrent", 8, "requests served at once (others wait)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error (to stderr)")
	flag.Parse()
	if *concurrency < 1 {
		fmt.Fprintln(os.Stderr, "fluid-helm-engine: --max-concurrent must be at least 1")
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "fluid-helm-engine: --log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	// The protocol owns stdout; anything else that prints there (a library) goes to stderr.
	out, err := protocolOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fluid-helm-engine: %v\n", err)
		os.Exit(1)
	}

	// Objects are applied under helm's own field manager (the CLI's, named after its binary),
	// so a release made here and one upgraded or rolled back by `helm` (or by the controller's
	// per-call backend) share their fields instead of conflicting.
	kube.ManagedFieldsManager = "helm"

	// A CPU profile for benchmarks (docs/benchmarks.md): where an install's CPU goes.
	stopProfile := startProfile(os.Getenv("FLUID_HELM_ENGINE_CPU_PROFILE"))

	helm := helmVersion()
	c, err := newCluster(logger, "fluid-helm-engine (helm "+helm+")")
	if err != nil {
		fmt.Fprintf(os.Stderr, "fluid-helm-engine: %v\n", err)
		os.Exit(1)
	}
	s := &server{
		engine: &engine{cluster: c, charts: newCharts()},
		out:    bufio.NewWriter(out),
		slots:  make(chan struct{}, *concurrency),
		logger: logger,
	}
	s.write(Hello{Hello: HelloBody{
		Protocol: ProtocolVersion, Helm: helm, MaxConcurrent: *concurrency, Pid: os.Getpid(),
	}})

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		// Finish what was asked, take nothing new.
		s.drain()
		stopProfile()
		os.Exit(0)
	}()
	if err := s.serve(context.Background(), os.Stdin); err != nil {
		logger.Error("reading requests", "error", err)
		s.drain()
		stopProfile()
		os.Exit(1)
	}
	s.drain()
	stopProfile()
}

// startProfile writes a CPU profile to path (none when path is empty) until the returned
// function is called.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fluid-helm-engine: FLUID_HELM_ENGINE_CPU_PROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// protocolOutput moves stdout to a new descriptor for the protocol and points descriptor 1 at
// stderr.
func protocolOutput() (*os.File, error) {
	fd, err := syscall.Dup(1)
	if err != nil {
		return nil, fmt.Errorf("duplicating stdout: %w", err)
	}
	if err := syscall.Dup3(2, 1, 0); err != nil {
		return nil, fmt.Errorf("redirecting stdout to stderr: %w", err)
	}
	return os.NewFile(uintptr(fd), "protocol"), nil
}

// helmVersion is the version of the helm module built in.
func helmVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "helm.sh/helm/v4" {
				return m.Version
			}
		}
	}
	return "unknown"
}

type server struct {
	engine *engine
	slots  chan struct{}
	logger *slog.Logger

	mu  sync.Mutex
	out *bufio.Writer

	inflight sync.WaitGroup
}

// serve reads requests until `in` ends, each served on its own goroutine once a slot is free.
func (s *server) serve(ctx context.Context, in io.Reader) error {
	r := bufio.NewReaderSize(in, 1<<20)
	for {
		line, err := readLine(r)
		if len(line) > 0 {
			s.dispatch(ctx, line)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine reads one line of at most maxLine bytes; a longer one is read to its end and
// returned cut (it then fails to decode and is answered as a bad request).
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line) < maxLine {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

func (s *server) dispatch(ctx context.Context, line []byte) {
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		// Answer with the id if there is one, so the caller is not left waiting.
		var id struct {
			ID uint64 `json:"id"`
		}
		_ = json.Unmarshal(line, &id)
		s.write(failed(id.ID, KindBadRequest, fmt.Errorf("not a request of protocol %d: %w", ProtocolVersion, err)))
		return
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		s.slots <- struct{}{}
		defer func() { <-s.slots }()
		s.write(s.guarded(ctx, &req))
	}()
}

// guarded serves a request; a panic in helm fails that request, not the process.
func (s *server) guarded(ctx context.Context, req *Request) (resp Response) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("panic serving a request", "op", req.Op, "release", req.Release,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp = failed(req.ID, KindFailed, fmt.Errorf("the chart engine panicked during %s of %s: %v", req.Op, req.Release, p))
		}
	}()
	return s.engine.serve(ctx, req)
}

func (s *server) write(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		s.logger.Error("encoding a response", "error", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.out.Write(append(line, '\n'))
	_ = s.out.Flush()
}

func (s *server) drain() {
	s.inflight.Wait()
}
