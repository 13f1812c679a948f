// Command pause is the sandbox ("infra") container of the real-node lab's Pods: it holds the
// Pod's namespaces open and does nothing else. No registry is reachable here, so the usual
// registry.k8s.io/pause image cannot be pulled; tools/build-node-binaries.sh builds this one.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	// As PID 1 of a Pod that shares its PID namespace, orphans are re-parented here:
	// reap them so they do not stay zombies.
	orphans := make(chan os.Signal, 1)
	signal.Notify(orphans, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-orphans:
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
