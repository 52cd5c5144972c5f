// Command fluid-cluster is a multi-call binary for fluid-rs tests: one build of Kubernetes
// v1.35 serves every control-plane component of the local test cluster started by
// tests/cluster/up. The component is chosen by the first argument (or by argv[0] when the
// binary is invoked through a link of that name):
//
//	fluid-cluster etcd --data-dir DIR --listen-client URL --listen-peer URL
//	fluid-cluster apiserver ...kube-apiserver flags...
//	fluid-cluster controller-manager ...kube-controller-manager flags...
//	fluid-cluster scheduler ...kube-scheduler flags...
//	fluid-cluster pki --dir DIR               (CA, serving cert, service-account key, token)
//	fluid-cluster wait-ready --kubeconfig F --timeout 120s
//	fluid-cluster nodes --kubeconfig F --count 3 --timeout 120s
//	fluid-cluster wait-node --kubeconfig F --name N --timeout 120s   (the real node Ready)
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var commands = map[string]func(args []string) int{
	"etcd": runEtcd,
	"apiserver": func(args []string) int {
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
	"controller-manager": func(args []string) int {
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
	"scheduler": func(args []string) int {
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
	"pki":        runPKI,
	"wait-ready": runWaitReady,
	"nodes":      runNodes,
	"wait-node":  runWaitNode,
}

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "kube-")
	args := os.Args[1:]
	if _, ok := commands[name]; !ok {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name = strings.TrimPrefix(args[0], "kube-")
		args = args[1:]
	}
	run, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "fluid-cluster: unknown command %q\n", name)
		usage()
		os.Exit(2)
	}
	// Cobra commands read os.Args for some diagnostics; make them look like the real binary.
	os.Args = append([]string{name}, args...)
	os.Exit(run(args))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: fluid-cluster etcd|apiserver|controller-manager|scheduler|pki|wait-ready|nodes|wait-node [flags]")
}
