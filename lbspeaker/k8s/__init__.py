"""The Kubernetes shell: watches, status and Event writers. The only code importing `kubernetes`."""
