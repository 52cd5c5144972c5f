// Command fluid-node is the real node of the local test cluster (tests/cluster/up with
// FLUID_RS_REAL_NODE=1): one build of Kubernetes v1.35 serves the node's components, chosen by
// the first argument:
//
//	fluid-node kubelet ...kubelet flags...        (k8s.io/kubernetes/cmd/kubelet)
//	fluid-node proxy ...kube-proxy flags...       (k8s.io/kubernetes/cmd/kube-proxy, iptables mode)
//	fluid-node cri-clean --endpoint unix:///...   (stop and remove every pod sandbox; used by down)
//
// It is a separate binary from fluid-cluster so that a cluster of fake nodes never pays for
// building the kubelet.
package main

import (
	"context"
	"fmt"
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var commands = map[string]func(args []string) int{
	"kubelet": func(args []string) int {
		cmd := kubelet.NewKubeletCommand(context.Background())
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
	"proxy": func(args []string) int {
		cmd := proxy.NewProxyCommand()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
	"cri-clean": runCRIClean,
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "fluid-node: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	args := os.Args[2:]
	// Cobra commands read os.Args for some diagnostics; make them look like the real binary.
	os.Args = append([]string{os.Args[1]}, args...)
	os.Exit(run(args))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: fluid-node kubelet|proxy|cri-clean [flags]")
}
