// Command kwok is sigs.k8s.io/kwok's kwok controller (same code as sigs.k8s.io/kwok/cmd/kwok)
// plus one extra subcommand for fluid-rs tests:
//
//	kwok default-stages    print kwok's default "fast" node and pod stages (what kwokctl
//	                       writes into its kwok.yaml), to be passed back with --config
//
// It lives in its own Go module because kwok v0.8 needs k8s.io/* v0.36 while the control
// plane in ../ is pinned to v1.35.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeatwithlease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	"sigs.k8s.io/kwok/pkg/config"
	"sigs.k8s.io/kwok/pkg/kwok/cmd"
	"sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "default-stages" {
		docs := []string{
			nodefast.DefaultNodeInit,
			nodeheartbeatwithlease.DefaultNodeHeartbeatWithLease,
			podfast.DefaultPodReady,
			podfast.DefaultPodComplete,
			podfast.DefaultPodDelete,
		}
		for i, d := range docs {
			if i > 0 {
				fmt.Println("---")
			}
			fmt.Println(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d), "---")))
		}
		return
	}

	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}

	ctx := signals.SetupSignalContext()
	ctx, logger := log.InitFlags(ctx, flagset)

	ctx, err := config.InitFlags(ctx, flagset)
	if err != nil {
		_, _ = os.Stderr.Write([]byte(flagset.FlagUsages()))
		logger.Error("Init config flags", "err", err)
		os.Exit(1)
	}

	command := cmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flagset)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("Execute exit", "err", err)
		os.Exit(1)
	}
}
