package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	criclient "k8s.io/cri-client/pkg"
)

// runCRIClean stops and removes every pod sandbox of the container runtime at --endpoint, through
// the CRI as the kubelet would: the runtime kills the containers, tears the pod network down
// through CNI (veth, IP lease) and unmounts the containers' root filesystems. tests/cluster/down
// runs it after stopping the kubelet, so that nothing the node started outlives it.
func runCRIClean(args []string) int {
	fs := flag.NewFlagSet("cri-clean", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "CRI endpoint, unix:///path/to/containerd.sock (required)")
	timeout := fs.Duration("timeout", time.Minute, "time limit of the whole clean-up")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "cri-clean: --endpoint is required")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rt, err := criclient.NewRemoteRuntimeService(*endpoint, 10*time.Second, nil, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-clean: connecting to %s: %v\n", *endpoint, err)
		return 1
	}
	sandboxes, err := rt.ListPodSandbox(ctx, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-clean: listing pod sandboxes: %v\n", err)
		return 1
	}
	failed := 0
	for _, sb := range sandboxes {
		name := sb.GetMetadata().GetNamespace() + "/" + sb.GetMetadata().GetName()
		if err := rt.StopPodSandbox(ctx, sb.GetId()); err != nil {
			fmt.Fprintf(os.Stderr, "cri-clean: stopping pod %s: %v\n", name, err)
			failed++
			continue
		}
		if err := rt.RemovePodSandbox(ctx, sb.GetId()); err != nil {
			fmt.Fprintf(os.Stderr, "cri-clean: removing pod %s: %v\n", name, err)
			failed++
			continue
		}
		fmt.Fprintf(os.Stderr, "cri-clean: removed pod %s\n", name)
	}
	if failed > 0 {
		return 1
	}
	return 0
}
